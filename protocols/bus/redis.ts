/**
 * The Redis bridge of the bus (spec/actors.md): subjects are channel names, payloads go through
 * PUBLISH/SUBSCRIBE as raw bytes. ioredis is loaded on first use, so apps that never use Redis
 * need not install it.
 */
import type { Redis } from 'ioredis';
import { type Bus, busStats, OutageBuffer, type OutageLimits } from '../../core/bus.js';
import { ERR } from '../../core/errors.js';
import { logger } from '../../core/log.js';

/** Options of `redisBus`. */
export interface RedisBusOptions {
  /** Reject when the first connection is not up within this many ms. Default 5,000. */
  connectTimeout?: number;
  /** `flush()` rejects when Redis stays unreachable this many ms. Default 5,000. */
  flushTimeout?: number;
  /** Bound on publishes held while Redis is unreachable. Default `OUTAGE_BUFFER`. */
  outageBuffer?: OutageLimits;
}

/** One of the bridge's two connections. */
interface Link {
  readonly name: 'publisher' | 'subscriber';
  readonly client: Redis;
  /** Ready, and for the subscriber every current subject subscribed again. */
  up: boolean;
  /** Bumped on every close, so work begun on an older connection can tell it is stale. */
  epoch: number;
}

const noop = () => {};

/** Reconnect forever: 50 ms doubling to 2 s. */
const backoff = (attempt: number) => Math.min(50 * 2 ** (attempt - 1), 2_000);

/** The url for messages, without its password. */
function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return url;
  }
}

let open: (Client: typeof Redis, url: string, options: RedisBusOptions) => Promise<RedisBus>;

/**
 * Connect a bus to Redis at `url` (`redis://` or `rediss://`). Resolves once both connections
 * (publisher and subscriber: Redis reserves a subscribed connection for pub/sub) are up.
 */
export async function redisBus(url: string, options: RedisBusOptions = {}): Promise<RedisBus> {
  let Client: typeof Redis;
  try {
    ({ Redis: Client } = await import('ioredis'));
  } catch (cause) {
    throw new Error('the Redis bus needs the ioredis package: npm install ioredis', { cause });
  }
  return open(Client, url, options);
}

/**
 * A `Bus` on Redis pub/sub; create it with `redisBus`. `stats.connected` is true while both
 * connections are up; publishes made otherwise wait in an `OutageBuffer` and go out, in order,
 * once the subscriber has resubscribed, so this process's own subscribers see them too.
 */
export class RedisBus implements Bus {
  readonly kind = 'redis';
  readonly stats = busStats(false);
  private readonly handlers = new Map<string, (payload: Uint8Array) => void>();
  private readonly outage: OutageBuffer;
  private readonly pub: Link;
  private readonly sub: Link;
  private readonly waiters = new Set<(error?: Error) => void>();
  private readonly where: string;
  private downSince = 0;
  private lastError: Error | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;

  static {
    // The constructor stays private so the declarations never name ioredis types.
    open = async (Client, url, options) => {
      const bus = new RedisBus(Client, url, options);
      const ms = options.connectTimeout ?? 5_000;
      try {
        await bus.whenConnected(ms, (error) => {
          const reason = error ? `: ${error.message}` : '';
          return `redis bus: could not connect to ${bus.where} within ${ms} ms${reason}`;
        });
      } catch (error) {
        await bus.close();
        throw error;
      }
      return bus;
    };
  }

  private constructor(
    Client: typeof Redis,
    url: string,
    private readonly options: RedisBusOptions,
  ) {
    this.where = redact(url);
    this.outage = new OutageBuffer(this.stats, options.outageBuffer, 'redis bus');
    const link = (name: Link['name']): Link => {
      const client = new Client(url, {
        connectTimeout: options.connectTimeout ?? 5_000,
        retryStrategy: backoff,
        // Publishes wait in the bounded OutageBuffer, never in ioredis's unbounded queue.
        enableOfflineQueue: false,
        // At most once: a command in flight when the socket drops is not sent again (maybe
        // twice) but fails, and is counted. Without maxRetriesPerRequest 0 its promise would
        // never settle: ioredis just forgets unresent commands.
        autoResendUnfulfilledCommands: false,
        maxRetriesPerRequest: 0,
        // `ready` subscribes the current handlers instead: ioredis restores the set it had when
        // the socket closed, so it would lose subscribes and revive unsubscribes made meanwhile.
        autoResubscribe: false,
      });
      const it: Link = { name, client, up: false, epoch: 0 };
      client.on('error', (error: Error) => {
        this.lastError = error;
        logger().debug('redis bus: connection error', { url: this.where, connection: name, error });
      });
      // Boundaries: a throw in ioredis's events would break its connection handling, and a
      // rejection nobody catches ends the process; a bus logs and recovers (spec/actors.md §5).
      client.on('ready', () => {
        this.ready(it).catch((error) => internal('ready', error));
      });
      client.on('close', () => {
        try {
          this.lost(it);
        } catch (error) {
          internal('close', error);
        }
      });
      return it;
    };
    this.pub = link('publisher');
    this.sub = link('subscriber');
    this.sub.client.on('messageBuffer', (channel: Buffer, message: Buffer) => {
      const subject = channel.toString();
      const handler = this.handlers.get(subject);
      if (handler === undefined) return;
      this.stats.received++;
      try {
        // A copy: the parser's view would pin the socket chunk or shared pool it was cut from.
        handler(new Uint8Array(message));
      } catch (error) {
        // A throw here would unwind through ioredis's parser and break the connection.
        logger().error('redis bus: a subscriber threw', { subject, error });
      }
    });
  }

  publish(subject: string, payload: Uint8Array): void {
    if (this.closed) this.stats.dropped++;
    else if (!this.stats.connected || this.pub.client.status !== 'ready') {
      this.outage.hold(subject, payload);
    } else this.send(subject, payload);
  }

  subscribe(subject: string, handler: (payload: Uint8Array) => void): () => void {
    const known = this.handlers.has(subject);
    this.handlers.set(subject, handler);
    // Failures are fine: the next `ready` subscribes every current subject.
    if (!known && this.sub.client.status === 'ready') {
      this.sub.client.subscribe(subject).catch(noop);
    }
    return () => {
      if (this.handlers.get(subject) !== handler) return;
      this.handlers.delete(subject);
      if (this.sub.client.status === 'ready') this.sub.client.unsubscribe(subject).catch(noop);
    };
  }

  async flush(): Promise<void> {
    if (this.closed) return;
    const ms = this.options.flushTimeout ?? 5_000;
    const timedOut = () => new Error(`redis bus: flush timed out after ${ms} ms: ${this.where}`);
    const deadline = Date.now() + ms;
    await this.whenConnected(ms, () => timedOut().message);
    // Replies come in order, so each PING answers after everything written before it.
    const pings = Promise.all([this.pub.client.ping(), this.sub.client.ping()]).catch((cause) => {
      throw new Error(`redis bus: flush failed: lost the connection to ${this.where}`, { cause });
    });
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      // A half-open socket may never answer nor close.
      timer = setTimeout(() => reject(timedOut()), deadline - Date.now());
    });
    await Promise.race([pings, late]).finally(() => clearTimeout(timer));
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  /** Resolve once both connections are up; reject after `ms` or on close. */
  private whenConnected(ms: number, message: (lastError?: Error) => string): Promise<void> {
    if (this.stats.connected) return Promise.resolve();
    if (this.closed) return Promise.reject(new Error('redis bus: closed'));
    return new Promise((resolve, reject) => {
      const waiter = (error?: Error) => {
        if (error === undefined && !this.stats.connected) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        if (error) reject(error);
        else resolve();
      };
      const timer = setTimeout(() => waiter(new Error(message(this.lastError))), ms);
      this.waiters.add(waiter);
    });
  }

  private send(subject: string, payload: Uint8Array): void {
    const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.pub.client.publish(subject, bytes).then(
      () => void this.stats.published++,
      () => void this.stats.dropped++,
    );
  }

  private async ready(link: Link): Promise<void> {
    const epoch = link.epoch;
    if (link === this.sub && this.handlers.size > 0) {
      // Await the replies: held publishes must not overtake the resubscribe on the other socket.
      const subjects = [...this.handlers.keys()];
      if (!(await link.client.subscribe(...subjects).then(() => true, noop))) return; // lost again
    }
    if (this.closed || epoch !== link.epoch || link.client.status !== 'ready') return;
    link.up = true;
    if (!this.pub.up || !this.sub.up) return;
    const held = this.outage.drain();
    for (const [subject, payload] of held) this.send(subject, payload);
    this.stats.connected = true;
    this.lastError = undefined;
    if (this.downSince > 0) {
      this.stats.reconnects++;
      const down = Date.now() - this.downSince;
      logger().info('redis bus: reconnected', { url: this.where, down, held: held.length });
      this.downSince = 0;
    }
    for (const waiter of this.waiters) waiter();
  }

  private lost(link: Link): void {
    link.epoch++;
    link.up = false;
    if (!this.stats.connected || this.closed) return;
    this.stats.connected = false;
    this.downSince = Date.now();
    logger().warn('redis bus: connection lost; holding publishes until it is back', {
      url: this.where,
      connection: link.name,
      error: this.lastError?.message,
    });
  }

  private async shutdown(): Promise<void> {
    this.closed = true;
    this.stats.connected = false;
    // Held payloads will never reach a broker now.
    this.stats.dropped += this.outage.drain().length;
    this.handlers.clear();
    for (const waiter of this.waiters) waiter(new Error('redis bus: closed'));
    const quit = async ({ client }: Link) => {
      // QUIT goes after every publish already written, and Redis answers them all first.
      if (client.status === 'ready') await client.quit().catch(noop);
      client.disconnect();
    };
    await Promise.all([quit(this.pub), quit(this.sub)]);
  }
}

function internal(what: string, error: unknown): void {
  try {
    logger().error(`redis bus: internal error on ${what}`, { code: ERR.INTERNAL, error });
  } catch {
    // The logger is what threw, maybe; the bus goes on regardless.
  }
}
