/**
 * The body clock (spec/server.md §2): how long a peer that owes bytes (a request body, the rest of a
 * WebSocket message) goes without sending any, and how fast it sends on average. It runs only
 * while the peer is at fault: while the app holds input credit and the body is not complete.
 * An app that does not read stops it, since a client that is not read cannot send.
 */
import type { TimeLimits } from './clock.js';

/** The state of one stream's body clock. */
export interface InputClock {
  /** When the input last progressed, or the clock (re)started; 0 while the clock is stopped. */
  inputAt: number;
  /** The progress count at `inputAt`. */
  inputSeen: number;
  /** Milliseconds the clock has run in all. */
  inputRun: number;
}

/**
 * One tick of a body clock. `running`: the peer owes bytes and the app would read them. `seen`:
 * a count that changes whenever input arrives (bytes received). With `rate`, `seen` is a byte
 * count and the average rate is checked too. Returns why the peer is cut, or null.
 */
export function inputTimedOut(
  clock: InputClock,
  running: boolean,
  seen: number,
  now: number,
  elapsed: number,
  limits: TimeLimits,
  rate: boolean,
): string | null {
  const limit = limits.bodyTimeout;
  if (!running || limit <= 0) {
    clock.inputAt = 0;
    return null;
  }
  if (clock.inputAt === 0) {
    // Started (or resumed) since the last tick: its time counts from now, never from before.
    clock.inputAt = now;
    clock.inputSeen = seen;
    return null;
  }
  clock.inputRun += elapsed;
  if (seen !== clock.inputSeen) {
    clock.inputAt = now;
    clock.inputSeen = seen;
  } else if (now - clock.inputAt >= limit) {
    return `the client sent nothing for ${limit} ms`;
  }
  const min = limits.minBodyRate;
  if (rate && min > 0 && clock.inputRun >= limit && seen * 1000 < min * clock.inputRun) {
    return `the client sent under ${min} bytes/s`;
  }
  return null;
}
