/**
 * The bus on NATS (spec/actors.md): bus subjects are NATS subjects as they are and payloads pass as
 * bytes. The client, `@nats-io/transport-node`, is loaded on first use so only apps on NATS
 * install it. It reconnects forever and resubscribes by itself; publishes made while the broker
 * is away are held here, in an `OutageBuffer`, because the client resets its own outbound buffer
 * at every dial attempt, so what it buffers during an outage is mostly lost, and unbounded.
 */
import type { Msg, NatsConnection, Subscription } from '@nats-io/transport-node';
import {
  type Bus,
  busStats,
  OUTAGE_BUFFER,
  OutageBuffer,
  type OutageLimits,
  Throttled,
} from '../../core/bus.js';
import { logger } from '../../core/log.js';

/** Options of `natsBus`. */
export interface NatsBusOptions {
  /** Milliseconds the first connection may take before `natsBus` rejects; default 5000. */
  connectTimeout?: number;
  /** Milliseconds between reconnect attempts, which never stop; default 250. */
  reconnectWait?: number;
  /** Milliseconds `flush` and `close` wait for the broker before giving up; default 10000. */
  flushTimeout?: number;
  /** Bounds of what is held while the broker is away; default `OUTAGE_BUFFER`. */
  outageBuffer?: OutageLimits;
  /** Largest payload published; larger ones are dropped and counted. max_payload applies too. */
  maxPayload?: number;
  /** Client name in the server's monitoring; default `rxgi`. */
  name?: string;
}

const MISSING =
  'the NATS bus needs the @nats-io/transport-node package: npm install @nats-io/transport-node';

/** The current handler of a subject, replaced as a whole so stale unsubscribers can tell. */
interface Listener {
  handler: (payload: Uint8Array) => void;
}

interface Entry {
  listener: Listener;
  sub: Subscription;
}

/** Connect to the NATS server at `url` (`nats://host:port`); rejects naming `url` if it cannot. */
export function natsBus(url: string, options?: NatsBusOptions): Promise<NatsBus> {
  return NatsBus.connect(url, options);
}

/** A `Bus` on a NATS server; make one with `natsBus`. */
export class NatsBus implements Bus {
  readonly kind = 'nats';
  readonly stats = busStats(true);
  private readonly subs = new Map<string, Entry>();
  private readonly held: OutageBuffer;
  private readonly tooBig = new Throttled('nats bus: payload over max_payload; dropping');
  private readonly refused = new Throttled('nats bus: the client refused a publish; dropping');
  private readonly threw = new Throttled('nats bus: a subscriber threw; payload skipped');
  private readonly serverError = new Throttled('nats bus: the server reported an error');
  private readonly flushTimeout: number;
  private serverMax: number;
  private waiters: (() => void)[] = [];
  private closing: Promise<void> | null = null;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly url: string,
    private readonly options: NatsBusOptions,
  ) {
    this.held = new OutageBuffer(this.stats, options.outageBuffer ?? OUTAGE_BUFFER, 'nats bus');
    this.flushTimeout = options.flushTimeout ?? 10_000;
    // nc.info is undefined while disconnected, so the last known limit is kept for the checks.
    this.serverMax = nc.info?.max_payload ?? Number.POSITIVE_INFINITY;
    this.watch().catch((error) => logger().error('nats bus: status watch failed', { error }));
  }

  /** See `natsBus`. */
  static async connect(url: string, options: NatsBusOptions = {}): Promise<NatsBus> {
    let nats: typeof import('@nats-io/transport-node');
    try {
      nats = await import('@nats-io/transport-node');
    } catch (error) {
      throw new Error(MISSING, { cause: error });
    }
    const ms = options.connectTimeout ?? 5_000;
    const connecting = Promise.resolve().then(() =>
      nats.connect({
        servers: url,
        name: options.name ?? 'rxgi',
        maxReconnectAttempts: -1,
        reconnectTimeWait: options.reconnectWait ?? 250,
        reconnectJitter: 50,
        // A half-open connection swallows publishes until pings notice: the client's default
        // (two minutes, two pings) is far too long for a bus; this notices within ~15 s.
        pingInterval: 5_000,
        maxPingOut: 2,
        timeout: ms,
      }),
    );
    try {
      return new NatsBus(await deadline(connecting, ms, `no answer within ${ms} ms`), url, options);
    } catch (error) {
      // A connection that completes after the deadline must not linger.
      connecting.then((nc) => nc.close()).catch(() => {});
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`nats bus: cannot connect to ${url}: ${reason}`, { cause: error });
    }
  }

  publish(subject: string, payload: Uint8Array): void {
    if (this.closing !== null) {
      this.stats.dropped++;
      return;
    }
    const limit = Math.min(this.options.maxPayload ?? Number.POSITIVE_INFINITY, this.serverMax);
    if (payload.byteLength > limit) {
      this.stats.dropped++;
      this.tooBig.note({ subject, bytes: payload.byteLength, limit });
    } else if (this.stats.connected) {
      this.send(subject, payload);
    } else {
      this.held.hold(subject, payload);
    }
  }

  subscribe(subject: string, handler: (payload: Uint8Array) => void): () => void {
    if (this.closing !== null) return () => {};
    const listener: Listener = { handler };
    const current = this.subs.get(subject);
    if (current !== undefined) {
      // Swap the handler on the live NATS subscription: no gap, no duplicate.
      current.listener = listener;
    } else {
      const entry = { listener } as Entry;
      entry.sub = this.nc.subscribe(subject, {
        callback: (error, msg) => this.deliver(entry, error, msg),
      });
      this.subs.set(subject, entry);
    }
    return () => {
      const entry = this.subs.get(subject);
      if (entry?.listener !== listener) return;
      this.subs.delete(subject);
      entry.sub.unsubscribe();
    };
  }

  async flush(): Promise<void> {
    if (this.closing !== null) return this.closing;
    const message = `nats bus: flush timed out after ${this.flushTimeout} ms; is ${this.url} up?`;
    await deadline(this.flushed(), this.flushTimeout, message);
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  private async flushed(): Promise<void> {
    for (;;) {
      if (this.nc.isClosed()) throw new Error(`nats bus: the connection to ${this.url} is closed`);
      if (!this.stats.connected) await new Promise<void>((wake) => this.waiters.push(wake));
      try {
        // A PING after everything written so far: its PONG means the server has read it all.
        return await this.nc.flush();
      } catch {
        // The connection dropped before the PONG: try again once it is back.
      }
    }
  }

  private send(subject: string, payload: Uint8Array): void {
    try {
      this.nc.publish(subject, payload);
      this.stats.published++;
    } catch (error) {
      this.stats.dropped++;
      this.refused.note({ subject, error });
    }
  }

  private deliver(entry: Entry, error: Error | null, msg: Msg): void {
    if (error !== null) {
      logger().error('nats bus: subscription failed', { subject: entry.sub.getSubject(), error });
      return;
    }
    if (this.closing !== null) return;
    this.stats.received++;
    try {
      // A plain copy: the client's view is a Buffer over its whole read chunk, which a message
      // waiting in an inbox would keep alive, and which decodes into Buffers, not Uint8Arrays.
      entry.listener.handler(new Uint8Array(msg.data));
    } catch (thrown) {
      // Thrown into the client, it would end the connection's reader; the next payload counts.
      this.threw.note({ subject: msg.subject, error: thrown });
    }
  }

  /** Follow the client's status: the only place `connected` changes. */
  private async watch(): Promise<void> {
    for await (const status of this.nc.status()) {
      if (status.type === 'disconnect') this.lost();
      else if (status.type === 'reconnect') this.back();
      else if (status.type === 'error') this.serverError.note({ error: status.error });
    }
    // The status iterator ends when the connection is closed for good.
    this.stats.connected = false;
    this.wake();
    if (this.closing === null) logger().error('nats bus: connection closed', { url: this.url });
  }

  private lost(): void {
    if (!this.stats.connected) return;
    this.stats.connected = false;
    logger().warn('nats bus: connection lost; holding publishes until it is back', {
      url: this.url,
      limits: this.options.outageBuffer ?? OUTAGE_BUFFER,
    });
  }

  private back(): void {
    if (this.closing !== null) return;
    this.stats.reconnects++;
    this.serverMax = this.nc.info?.max_payload ?? this.serverMax;
    // The client wrote our SUBs on the new connection before reporting the reconnect, so these
    // follow them and reach our own subscribers; other processes' may not have resubscribed yet.
    const held = this.held.drain();
    for (const [subject, payload] of held) this.send(subject, payload);
    this.stats.connected = true;
    logger().info('nats bus: reconnected', { url: this.url, sent: held.length });
    this.wake();
  }

  private wake(): void {
    for (const wake of this.waiters.splice(0)) wake();
  }

  private async shutdown(): Promise<void> {
    // What is held cannot reach a broker that is away: count it as lost.
    this.stats.dropped += this.held.drain().length;
    this.subs.clear();
    if (this.stats.connected) {
      // Drain unsubscribes, sends what is queued and waits for the server to read it.
      await deadline(this.nc.drain(), this.flushTimeout, 'drain timed out').catch(() => {});
    }
    if (!this.nc.isClosed()) await this.nc.close();
    this.stats.connected = false;
    this.wake();
  }
}

/** `promise`, or a rejection with `message` after `ms`. */
function deadline<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}
