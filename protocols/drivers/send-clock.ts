/**
 * The send clock (spec/server.md §2): how long output waits in a buffer while none of it leaves,
 * the mark of a client that stopped reading. Progress is the buffered length going below the
 * least it was since the wait began; an app that writes while the buffer is full (which the
 * credit of §5.2 tells it not to do) makes no progress.
 */

/** The state of one buffer's send clock. */
export interface OutputClock {
  /** When the wait began or last progressed; 0 while nothing waits. */
  sendAt: number;
  /** The least buffered length since `sendAt`. */
  sendLow: number;
}

/** One tick of a send clock, with `pending` bytes buffered: true when the client is cut. */
export function outputStalled(
  clock: OutputClock,
  pending: number,
  now: number,
  limit: number,
): boolean {
  if (pending === 0 || limit <= 0) {
    clock.sendAt = 0;
    return false;
  }
  if (clock.sendAt === 0 || pending < clock.sendLow) {
    clock.sendAt = now;
    clock.sendLow = pending;
    return false;
  }
  return now - clock.sendAt >= limit;
}
