/**
 * The message bus contract (spec/actors.md): subjects carrying opaque bytes, at most once. The hub
 * (`hub.ts`) builds addresses and groups on it; bridges in `protocols/` put it on Redis, NATS or
 * a cluster's primary. This file also holds the embedded default, `MemoryBus`, and the bounded
 * buffer every bridge uses while its broker is away.
 */
import { logger } from './log.js';

/** What a bus counts; read it for metrics. */
export interface BusStats {
  /** Payloads handed to the broker (or to local subscribers for the memory bus). */
  published: number;
  /** Payloads received from the broker and given to a handler. */
  received: number;
  /** Payloads dropped because the outage buffer was full (spec/actors.md §6). */
  dropped: number;
  /** Times the bridge reconnected to its broker. */
  reconnects: number;
  /** True while the bridge is connected to its broker (always true for the memory bus). */
  connected: boolean;
}

/** Fresh counters for a bus; `connected` as it starts. */
export function busStats(connected: boolean): BusStats {
  return { published: 0, received: 0, dropped: 0, reconnects: 0, connected };
}

/** Why a bus did not deliver a payload (spec/actors.md §5): a queue on the way was full, or no
 * process subscribes to its subject. */
export type BusRefusal = 'full' | 'gone';

/** How to publish one payload. */
export interface PublishOptions {
  /** Report `gone` when no process subscribes to the subject (buses that can know). */
  gone?: boolean;
}

/** Hears of payloads this process published that were not delivered. */
export type RefusalHandler = (subject: string, payload: Uint8Array, reason: BusRefusal) => void;

/**
 * A publish/subscribe bus of byte payloads on exact subjects. Delivery is at most once and in
 * order per publisher. Implementations never throw from `publish`: while the broker is away
 * they hold payloads in a bounded `OutageBuffer` and drop (and count) what does not fit.
 */
export interface Bus {
  /** A short name for logs and metrics: `memory`, `cluster`, `redis`, `nats`. */
  readonly kind: string;
  readonly stats: BusStats;
  /** Publish `payload` to every subscriber of `subject`, in any process. */
  publish(subject: string, payload: Uint8Array, options?: PublishOptions): void;
  /**
   * Hear of payloads this process published that the bus knows were not delivered: `full`
   * when a bounded queue on the way refused one, `gone` when `options.gone` asked and no
   * process subscribes to its subject. Reports come after the publish, never inside it, and
   * are at most once. Buses that cannot know (Redis and NATS pub/sub) do not have it. Returns
   * the function that stops the reports.
   */
  undelivered?(handler: RefusalHandler): () => void;
  /**
   * Call `handler` with every payload published on `subject` from now on, across reconnects,
   * until the returned function is called. One handler per subject: subscribing again replaces
   * it.
   */
  subscribe(subject: string, handler: (payload: Uint8Array) => void): () => void;
  /** Resolves once every publish and subscribe made so far has reached the broker. */
  flush(): Promise<void>;
  /** Disconnect; pending payloads are flushed first where the broker is reachable. */
  close(): Promise<void>;
}

/**
 * The embedded bus: one process, no broker. Payloads are delivered on a microtask, so a
 * publisher never re-enters its own subscribers, and in publish order. Unlike a bridge, which is
 * one client of a broker, one MemoryBus may serve several hubs (several servers in one process,
 * or tests standing in for processes): every subscription to a subject gets every payload.
 */
export class MemoryBus implements Bus {
  readonly kind = 'memory';
  readonly stats = busStats(true);
  private readonly handlers = new Map<string, Set<(payload: Uint8Array) => void>>();

  private readonly refusals = new Set<RefusalHandler>();

  publish(subject: string, payload: Uint8Array, options?: PublishOptions): void {
    this.stats.published++;
    queueMicrotask(() => {
      const handlers = this.handlers.get(subject);
      if (handlers === undefined) {
        if (options?.gone === true)
          for (const refused of this.refusals) refused(subject, payload, 'gone');
        return;
      }
      for (const handler of handlers) {
        this.stats.received++;
        handler(payload);
      }
    });
  }

  undelivered(handler: RefusalHandler): () => void {
    this.refusals.add(handler);
    return () => this.refusals.delete(handler);
  }

  subscribe(subject: string, handler: (payload: Uint8Array) => void): () => void {
    let handlers = this.handlers.get(subject);
    if (handlers === undefined) {
      handlers = new Set();
      this.handlers.set(subject, handlers);
    }
    handlers.add(handler);
    return () => {
      handlers.delete(handler);
      if (handlers.size === 0 && this.handlers.get(subject) === handlers) {
        this.handlers.delete(subject);
      }
    };
  }

  flush(): Promise<void> {
    return new Promise((resolve) => queueMicrotask(resolve));
  }

  async close(): Promise<void> {
    this.handlers.clear();
  }
}

/** Limits of an `OutageBuffer`; defaults in `OUTAGE_BUFFER`. */
export interface OutageLimits {
  /** Most payloads held. */
  messages: number;
  /** Most bytes held. */
  bytes: number;
}

/** Default outage buffer: 1,000 payloads or 1 MiB, whichever is reached first. */
export const OUTAGE_BUFFER: OutageLimits = { messages: 1_000, bytes: 1024 * 1024 };

/**
 * Payloads published while a bridge's broker is away, held in order up to a bound (spec/actors.md §6). Past the bound the newest payload is dropped, so what is held keeps its order, and the
 * drop is counted in `stats.dropped` and logged at most once per 10 s with the count.
 */
export class OutageBuffer {
  private items: [subject: string, payload: Uint8Array][] = [];
  private bytes = 0;
  private readonly warn: Throttled;

  constructor(
    private readonly stats: BusStats,
    private readonly limits: OutageLimits = OUTAGE_BUFFER,
    kind = 'bus',
  ) {
    this.warn = new Throttled(`${kind}: broker unreachable and outage buffer full; dropping`);
  }

  get size(): number {
    return this.items.length;
  }

  /** Hold a payload; false when it was dropped because the buffer is full. */
  hold(subject: string, payload: Uint8Array): boolean {
    if (
      this.items.length >= this.limits.messages ||
      this.bytes + payload.byteLength > this.limits.bytes
    ) {
      this.stats.dropped++;
      this.warn.note({ limit: this.limits });
      return false;
    }
    this.items.push([subject, payload]);
    this.bytes += payload.byteLength;
    return true;
  }

  /** Take everything held, oldest first, and empty the buffer. */
  drain(): [subject: string, payload: Uint8Array][] {
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    return items;
  }
}

/**
 * A warning that may happen often, logged at most once per `interval` ms with the number of
 * times it happened since the last line: drops are reported, never as a flood of lines.
 */
export class Throttled {
  private count = 0;
  private last = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly message: string,
    private readonly interval = 10_000,
  ) {}

  /** Count one occurrence; logs when the interval since the last line has passed. */
  note(fields?: Record<string, unknown>): void {
    this.count++;
    const now = Date.now();
    if (now - this.last < this.interval) return;
    this.last = now;
    const count = this.count;
    this.count = 0;
    logger().warn(this.message, { ...fields, count });
  }
}
