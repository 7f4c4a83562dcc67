/**
 * The embedded multi-process bus (spec/actors.md §7): the workers of a node:cluster talk to their
 * primary over IPC and the primary relays, so `rxgi serve --workers N` needs no broker. A worker
 * runs `clusterBus()`; the primary runs `clusterRelay()` before it forks.
 *
 * IPC `send` queues without limit when the other side does not read, so each side counts the
 * bytes it has handed to a channel and not yet seen written; past `limit` it drops (and counts)
 * instead of queueing. Each channel is ordered and the relay forwards synchronously, so payloads
 * stay in order per publisher.
 */
import cluster, { type Worker } from 'node:cluster';
import {
  type Bus,
  type BusRefusal,
  busStats,
  type PublishOptions,
  type RefusalHandler,
  Throttled,
} from '../../core/bus.js';
import { ERR } from '../../core/errors.js';
import { logger } from '../../core/log.js';

/** Bytes a channel may have queued and unwritten before publishes are dropped: 8 MiB. */
export const CLUSTER_BUS_LIMIT = 8 * 1024 * 1024;

/** What counts against the limit per payload besides its bytes (its subject and framing). */
const OVERHEAD = 64;

/** A batch is written at the end of the event-loop turn, or as soon as it holds this much. */
const BATCH_BYTES = 64 * 1024;

type Handler = (payload: Uint8Array) => void;

/**
 * One operation of the bus on IPC: `pub` (worker to primary, with whether to report `gone`)
 * and `msg` (primary to worker) carry a payload, `bounce` gives a publisher back a payload the
 * relay could not deliver, `ping` and `pong` make `flush`'s round trip, `close` drops all of a
 * worker's subscriptions.
 */
type Item =
  | [op: 'pub', subject: string, payload: Uint8Array, gone: 0 | 1]
  | [op: 'msg', subject: string, payload: Uint8Array]
  | [op: 'bounce', subject: string, payload: Uint8Array, reason: BusRefusal]
  | [op: 'sub' | 'unsub', subject: string]
  | [op: 'ping' | 'pong', id: number]
  | [op: 'close'];

/**
 * What crosses IPC: items batched per event-loop turn, because each IPC message costs a
 * serialization and a write (one per payload tops out near 10,000 payloads/s). The tag tells
 * them from the app's own messages and from the CLI's.
 */
interface Batch {
  rxgi: 'bus';
  items: Item[];
}

function isBatch(message: unknown): message is Batch {
  return (
    typeof message === 'object' &&
    message !== null &&
    (message as Batch).rxgi === 'bus' &&
    Array.isArray((message as Batch).items)
  );
}

type Send = (message: Batch, callback: (error: Error | null) => void) => unknown;

/** One direction of one IPC channel: ordered, batched, with its bytes in flight bounded. */
class Channel {
  private items: Item[] = [];
  /** Bytes of the batch being built. */
  private batch = 0;
  /** Bytes queued here or handed to IPC and not yet written to the pipe. */
  private bytes = 0;
  private scheduled = false;

  constructor(
    private readonly send: Send,
    private readonly limit: number,
  ) {}

  /** Queue a payload; false when `limit` bytes are already queued (the caller counts the drop). */
  offer(item: Item, size: number): boolean {
    const cost = size + OVERHEAD;
    if (this.bytes + cost > this.limit) return false;
    this.bytes += cost;
    this.push(item, cost);
    return true;
  }

  /** Queue a control item: tiny and never dropped, so it keeps its place among payloads. */
  control(item: Item): void {
    this.push(item, 0);
  }

  private push(item: Item, cost: number): void {
    this.items.push(item);
    this.batch += cost;
    if (this.batch >= BATCH_BYTES) this.write();
    else if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.write();
      });
    }
  }

  private write(): void {
    if (this.items.length === 0) return;
    const message: Batch = { rxgi: 'bus', items: this.items };
    const cost = this.batch;
    this.items = [];
    this.batch = 0;
    try {
      // The callback runs once the batch is written to the pipe, or with the error if it is not.
      this.send(message, () => {
        this.bytes -= cost;
      });
    } catch {
      this.bytes -= cost;
    }
  }
}

/** Options of `clusterBus` and `clusterRelay`. */
export interface ClusterBusOptions {
  /** Bytes queued per IPC channel before payloads are dropped; default `CLUSTER_BUS_LIMIT`. */
  limit?: number;
}

/**
 * The bus of a cluster worker: subscriptions and publishes go to the primary, which must run
 * `clusterRelay()`. Throws outside a worker process.
 */
export function clusterBus(options: ClusterBusOptions = {}): Bus {
  if (!cluster.isWorker || process.send === undefined) {
    throw new Error('the cluster bus runs in a node:cluster worker (rxgi serve --workers N)');
  }
  return new ClusterBus(
    new Channel(process.send.bind(process) as Send, options.limit ?? CLUSTER_BUS_LIMIT),
  );
}

/** A worker's end of the cluster bus: batches to the primary, payloads from it. */
class ClusterBus implements Bus {
  readonly kind = 'cluster';
  readonly stats = busStats(process.connected);
  private readonly handlers = new Map<string, Handler>();
  private readonly pongs = new Map<number, () => void>();
  private readonly full = new Throttled(
    'cluster bus: IPC to the primary backed up; dropping publishes',
  );
  private readonly malformed = new Throttled(
    'cluster bus: payload is not bytes; is serialization advanced?',
  );
  private readonly threw = new Throttled('cluster bus: a subscriber threw; payload skipped');
  private readonly refusals = new Set<RefusalHandler>();
  private pings = 0;
  private closed = false;
  private readonly onMessage = (message: unknown) => {
    if (!isBatch(message)) return;
    // A boundary: a throw in a 'message' listener would end the worker (spec/actors.md §5).
    try {
      for (const item of message.items) this.receive(item);
    } catch (error) {
      logger().error('cluster bus: internal error; batch skipped', { code: ERR.INTERNAL, error });
    }
  };
  private readonly onDisconnect = () => {
    // The primary is gone for good: nothing will ever be relayed again.
    this.stats.connected = false;
    for (const resolve of this.pongs.values()) resolve();
    this.pongs.clear();
  };

  constructor(private readonly channel: Channel) {
    process.on('message', this.onMessage);
    process.once('disconnect', this.onDisconnect);
  }

  publish(subject: string, payload: Uint8Array, options?: PublishOptions): void {
    if (this.closed || !process.connected) {
      this.stats.dropped++;
    } else if (
      this.channel.offer(
        ['pub', subject, payload, options?.gone === true ? 1 : 0],
        payload.byteLength,
      )
    ) {
      this.stats.published++;
    } else {
      this.stats.dropped++;
      this.full.note({ subject });
      // After the publish, never inside it (Bus.undelivered).
      if (this.refusals.size > 0) queueMicrotask(() => this.refused(subject, payload, 'full'));
    }
  }

  undelivered(handler: RefusalHandler): () => void {
    this.refusals.add(handler);
    return () => this.refusals.delete(handler);
  }

  private refused(subject: string, payload: Uint8Array, reason: BusRefusal): void {
    for (const handler of this.refusals) {
      try {
        handler(subject, payload, reason);
      } catch (error) {
        this.threw.note({ subject, error });
      }
    }
  }

  subscribe(subject: string, handler: Handler): () => void {
    if (this.closed) return () => {};
    if (!this.handlers.has(subject)) this.channel.control(['sub', subject]);
    this.handlers.set(subject, handler);
    return () => {
      if (this.handlers.get(subject) !== handler) return;
      this.handlers.delete(subject);
      if (!this.closed) this.channel.control(['unsub', subject]);
    };
  }

  flush(): Promise<void> {
    if (this.closed || !process.connected) return Promise.resolve();
    // In order with everything queued: the pong comes once the primary has handled it all.
    const id = ++this.pings;
    return new Promise<void>((resolve) => {
      this.pongs.set(id, resolve);
      this.channel.control(['ping', id]);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.channel.control(['close']);
    this.handlers.clear();
    process.off('message', this.onMessage);
    process.off('disconnect', this.onDisconnect);
    this.onDisconnect();
  }

  private receive(item: Item): void {
    if (item[0] === 'pong') {
      this.pongs.get(item[1])?.();
      this.pongs.delete(item[1]);
      return;
    }
    if (item[0] === 'bounce') {
      if (item[2] instanceof Uint8Array && (item[3] === 'full' || item[3] === 'gone')) {
        this.refused(item[1], item[2], item[3]);
      }
      return;
    }
    if (item[0] !== 'msg') return;
    const [, subject, payload] = item;
    const handler = this.handlers.get(subject);
    if (handler === undefined) return;
    if (!(payload instanceof Uint8Array)) {
      this.stats.dropped++;
      this.malformed.note({ subject });
      return;
    }
    this.stats.received++;
    try {
      handler(payload);
    } catch (error) {
      // Nothing on a bus may crash a process (spec/actors.md §5); the rest of the batch goes on.
      this.threw.note({ subject, error });
    }
  }
}

/** What the relay counts. */
export interface RelayStats {
  /** Payloads forwarded to a worker. */
  relayed: number;
  /** Payloads not forwarded because that worker's channel was backed up. */
  dropped: number;
  /** Payloads given back to their publisher as undelivered (`full` or `gone`). */
  bounced: number;
}

/** The primary's side of the cluster bus; see `clusterRelay`. */
export interface ClusterRelay {
  readonly stats: RelayStats;
  /** Stop relaying (the workers' buses stay open but hear nothing more). */
  close(): void;
}

/**
 * Relay the cluster bus in the primary: every publish goes to each worker subscribed to its
 * subject, the publisher included. A worker's subscriptions go when it exits, like a broker
 * connection's. Sets IPC serialization to `advanced` so payloads cross as bytes: call it
 * before forking.
 */
export function clusterRelay(options: ClusterBusOptions = {}): ClusterRelay {
  cluster.setupPrimary({ serialization: 'advanced' });
  return new Relay(options.limit ?? CLUSTER_BUS_LIMIT);
}

/** The primary's relay: who subscribed to what, and a channel to each worker. */
class Relay implements ClusterRelay {
  readonly stats: RelayStats = { relayed: 0, dropped: 0, bounced: 0 };
  private readonly subjects = new Map<string, Set<Worker>>();
  private readonly workers = new Map<Worker, { channel: Channel; subjects: Set<string> }>();
  private readonly full = new Throttled(
    'cluster bus: a worker is not reading its IPC; dropping for it',
  );
  private readonly onMessage = (worker: Worker, message: unknown) => {
    if (!isBatch(message)) return;
    // A boundary: a throw in the primary's 'message' listener would end it, and every worker.
    try {
      for (const item of message.items) this.relay(worker, item);
    } catch (error) {
      logger().error('cluster bus: internal error; batch skipped', { code: ERR.INTERNAL, error });
    }
  };
  private readonly forget = (worker: Worker) => {
    const found = this.workers.get(worker);
    if (found === undefined) return;
    for (const subject of found.subjects) this.unsubscribe(worker, subject);
    this.workers.delete(worker);
  };

  constructor(private readonly limit: number) {
    cluster.on('message', this.onMessage);
    cluster.on('exit', this.forget);
  }

  close(): void {
    cluster.off('message', this.onMessage);
    cluster.off('exit', this.forget);
    this.workers.clear();
    this.subjects.clear();
  }

  private entry(worker: Worker) {
    let found = this.workers.get(worker);
    if (found === undefined) {
      const send = worker.send.bind(worker) as Send;
      found = { channel: new Channel(send, this.limit), subjects: new Set() };
      this.workers.set(worker, found);
    }
    return found;
  }

  private unsubscribe(worker: Worker, subject: string): void {
    const members = this.subjects.get(subject);
    members?.delete(worker);
    if (members?.size === 0) this.subjects.delete(subject);
  }

  private relay(worker: Worker, item: Item): void {
    // What a worker said just before it died must not bring its entry back.
    if (worker.isDead()) return;
    switch (item[0]) {
      case 'sub':
        this.entry(worker).subjects.add(item[1]);
        this.subjects.set(item[1], (this.subjects.get(item[1]) ?? new Set()).add(worker));
        return;
      case 'unsub':
        this.entry(worker).subjects.delete(item[1]);
        this.unsubscribe(worker, item[1]);
        return;
      case 'close':
        this.forget(worker);
        return;
      case 'ping':
        // Behind every payload already queued for this worker.
        this.entry(worker).channel.control(['pong', item[1]]);
        return;
      case 'pub':
        this.publish(worker, item[1], item[2], item[3] === 1);
    }
  }

  private publish(publisher: Worker, subject: string, payload: unknown, gone: boolean): void {
    if (!(payload instanceof Uint8Array)) return;
    let live = 0;
    let full = false;
    for (const member of this.subjects.get(subject) ?? []) {
      // A worker whose channel is closed is about to exit, and its subscriptions with it.
      if (!member.isConnected()) continue;
      live++;
      if (this.entry(member).channel.offer(['msg', subject, payload], payload.byteLength)) {
        this.stats.relayed++;
      } else {
        this.stats.dropped++;
        full = true;
        this.full.note({ subject, pid: member.process.pid });
      }
    }
    if (full) this.bounce(publisher, subject, payload, 'full');
    else if (live === 0 && gone) this.bounce(publisher, subject, payload, 'gone');
  }

  /**
   * Give a payload back to its publisher, once however many workers missed it; within the
   * publisher's channel bound like any payload (past it the report is lost, not queued).
   */
  private bounce(publisher: Worker, subject: string, payload: Uint8Array, reason: BusRefusal) {
    if (!publisher.isConnected()) return;
    const item: Item = ['bounce', subject, payload, reason];
    if (this.entry(publisher).channel.offer(item, payload.byteLength)) this.stats.bounced++;
  }
}
