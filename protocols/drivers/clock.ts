/**
 * The time limits of every phase of a connection (spec/server.md §2) run on one clock per server:
 * a periodic tick that sweeps the open sockets, connections and streams, rather than a timer
 * per request. A request pays nothing for it; what the sweep reads (bytes received, bytes still
 * buffered) the drivers count anyway.
 */
import { performance } from 'node:perf_hooks';
import { ERR } from '../../core/errors.js';
import { logger } from '../../core/log.js';

/** The time limits the drivers apply, in `serve` option names (spec/server.md §2). 0 turns one off. */
export interface TimeLimits {
  /** Milliseconds a connection has, from its first byte, to send a request head. */
  headersTimeout: number;
  /** Milliseconds a body (or a WebSocket message) may go without a byte while the app reads. */
  bodyTimeout: number;
  /** Least average bytes per second of a body, once its clock has run `bodyTimeout` ms. */
  minBodyRate: number;
  /** Milliseconds output may wait for the client to read with nothing leaving the buffer. */
  sendTimeout: number;
}

/** One sweep of the clock: `now` on `performance.now()`, `elapsed` since the tick before. */
export type Sweep = (now: number, elapsed: number, limits: TimeLimits) => void;

/** The longest and shortest tick periods. */
const MAX_PERIOD = 1_000;
const MIN_PERIOD = 25;

/**
 * A server's clock: ticks every quarter of its shortest limit, at most once a second, and runs
 * every sweep registered with {@link Clock.onTick}. A limit of `L` ms thus cuts after `L` to
 * `L` + one period (never before: a phase's time starts at the first tick that sees it).
 */
export class Clock {
  readonly period: number;
  private now = performance.now();
  private readonly sweeps: Sweep[] = [];
  private readonly timer: NodeJS.Timeout;

  constructor(readonly limits: TimeLimits) {
    const { headersTimeout, bodyTimeout, sendTimeout } = limits;
    let shortest = MAX_PERIOD * 4;
    for (const limit of [headersTimeout, bodyTimeout, sendTimeout]) {
      if (limit > 0 && limit < shortest) shortest = limit;
    }
    this.period = Math.max(MIN_PERIOD, Math.floor(shortest / 4));
    this.timer = setInterval(() => this.tick(), this.period).unref();
  }

  /** Run `sweep` at every tick, until {@link Clock.stop}. */
  onTick(sweep: Sweep): void {
    this.sweeps.push(sweep);
  }

  /**
   * Run `tick` on each of `connections` at every tick; what throws for one connection tears it
   * down alone (`Connection.fault`).
   */
  onEachTick<C extends { fault(error: unknown): void }>(
    connections: Iterable<C>,
    tick: (connection: C, now: number, elapsed: number, limits: TimeLimits) => void,
  ): void {
    this.onTick((now, elapsed, limits) => {
      for (const connection of connections) {
        try {
          tick(connection, now, elapsed, limits);
        } catch (error) {
          connection.fault(error);
        }
      }
    });
  }

  /** Stop ticking (the server has closed). */
  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const now = performance.now();
    const elapsed = now - this.now;
    this.now = now;
    for (const sweep of this.sweeps) {
      // A timer's callback: a throw here would end the process. Sweeps guard each connection
      // themselves; this is the last net.
      try {
        sweep(now, elapsed, this.limits);
      } catch (error) {
        logger().error('internal error in the timeout sweep', { code: ERR.INTERNAL, error });
      }
    }
  }
}
