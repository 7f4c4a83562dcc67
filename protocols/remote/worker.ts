/**
 * Remote workers, worker side: `runWorker(app, bus)` serves the connections that `remoteApp`
 * servers (`remote.ts`) forward over the bus. Each connection gets its own call of `app`, fed
 * from a Subject of the inbound events that arrive, and every outbound event goes back to the
 * server it came from. The worker announces itself and its load every `heartbeat` ms.
 */
import { randomBytes } from 'node:crypto';
import type { Subscription } from 'rxjs';
import type { App, ConnectionInfo } from '../../core/app.js';
import type { Bus } from '../../core/bus.js';
import {
  CONNECTION_STREAM,
  H2_CODE,
  type InboundEvent,
  type OutboundEvent,
  WS_CODE,
} from '../../core/events.js';
import { logger } from '../../core/log.js';
import { Subject } from '../../core/rx.js';
import {
  decodeFrame,
  encodeEventFrame,
  encodeFrame,
  FRAME_KIND,
  type Frame,
  FrameDrops,
  guarded,
  MAX_FRAME_SIZE,
  RemoteExchanges,
} from './frame.js';

/** Options of `runWorker`; `prefix`, `heartbeat` and `maxFrameSize` must match the servers'. */
export interface WorkerOptions {
  /** Subject prefix, as the servers use it. Default `rxgi`. */
  prefix?: string;
  /** This worker's id on the bus (letters, digits, `_`, `-`). Default 12 random hex digits. */
  id?: string;
  /** Milliseconds between announcements. Default 1,000. */
  heartbeat?: number;
  /** Milliseconds a server with connections here may stay unheard before they are dropped. Default 3,000. */
  serverTimeout?: number;
  /** Largest frame sent or accepted, in bytes. Default 32 MiB. */
  maxFrameSize?: number;
}

/** A running worker. */
export interface RemoteWorker {
  readonly id: string;
  /** Connections it serves now. */
  readonly connections: number;
  /**
   * Leave gracefully: announce it, so servers send no new connections; tell every app
   * `shutdown`; end each connection once it has no open exchange, and the rest after
   * `deadline` ms (default 10 s; their streams then fail on the server); then say goodbye.
   */
  close(deadline?: number): Promise<void>;
}

/**
 * Serve `app` for the `remoteApp` servers on `bus`. Resolves once the worker listens on the bus
 * and has announced itself.
 *
 * @example
 * const worker = await runWorker(app, await redisBus('redis://127.0.0.1:6379'));
 * process.once('SIGTERM', () => void worker.close());
 */
export async function runWorker(
  app: App,
  bus: Bus,
  options: WorkerOptions = {},
): Promise<RemoteWorker> {
  const worker = new Worker(app, bus, options);
  await worker.start();
  return {
    id: worker.id,
    get connections() {
      return worker.links.size;
    },
    close: (deadline = 10_000) => worker.close(deadline),
  };
}

/** A server this worker serves connections of. */
interface ServerEntry {
  lastSeen: number;
  readonly links: Set<Link>;
}

class Worker {
  readonly id: string;
  readonly links = new Map<string, Link>();
  readonly maxFrameSize: number;
  readonly drops = new FrameDrops('worker');
  draining = false;
  private readonly servers = new Map<string, ServerEntry>();
  private readonly prefix: string;
  private readonly subject: string;
  private readonly heartbeat: number;
  private readonly serverTimeout: number;
  private unsubscribe: (() => void) | null = null;
  private timers: NodeJS.Timeout[] = [];
  private closing: Promise<void> | null = null;
  private drained: (() => void) | null = null;

  constructor(
    private readonly app: App,
    readonly bus: Bus,
    options: WorkerOptions,
  ) {
    this.id = options.id ?? randomBytes(6).toString('hex');
    this.prefix = options.prefix ?? 'rxgi';
    this.subject = `${this.prefix}.worker.${this.id}`;
    this.heartbeat = options.heartbeat ?? 1_000;
    this.serverTimeout = options.serverTimeout ?? 3_000;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_SIZE;
  }

  async start(): Promise<void> {
    const discover = `${this.prefix}.discover`;
    const off = [
      this.bus.subscribe(this.subject, (bytes) => this.received(bytes)),
      this.bus.subscribe(discover, (bytes) => this.discovered(bytes, discover)),
    ];
    this.unsubscribe = () => {
      for (const unsubscribe of off) unsubscribe();
    };
    try {
      // Listening before anyone hears of this worker, so no OPEN is missed.
      await this.bus.flush();
    } catch (error) {
      this.unsubscribe();
      throw error;
    }
    this.announce();
    this.timers = [
      setInterval(guarded, this.heartbeat, 'worker: announce', () => this.announce()),
      setInterval(guarded, Math.max(25, this.serverTimeout / 4), 'worker: sweep', () =>
        this.sweep(),
      ),
    ];
    for (const timer of this.timers) timer.unref();
  }

  publish(server: string, frame: Uint8Array): void {
    this.bus.publish(`${this.prefix}.server.${server}`, frame);
  }

  /** A link ended: forget it. */
  forget(link: Link): void {
    this.links.delete(link.key);
    const server = this.servers.get(link.server);
    server?.links.delete(link);
    if (server?.links.size === 0) this.servers.delete(link.server);
    if (this.links.size === 0) this.drained?.();
  }

  /** While draining, a connection with no open exchange is ended at once. */
  idle(link: Link): void {
    if (this.draining && !link.ended && link.exchanges.size === 0) link.drop();
  }

  close(deadline: number): Promise<void> {
    this.closing ??= this.drain(deadline);
    return this.closing;
  }

  private async drain(deadline: number): Promise<void> {
    this.draining = true;
    this.announce();
    const links = [...this.links.values()];
    for (const link of links)
      link.inbound({ type: 'shutdown', stream: CONNECTION_STREAM, deadline });
    for (const link of links) this.idle(link);
    if (this.links.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await new Promise<void>((resolve) => {
        this.drained = resolve;
        timer = setTimeout(resolve, deadline);
      });
      clearTimeout(timer);
    }
    if (this.links.size > 0) {
      logger().warn('worker: shutdown deadline passed; dropping the remaining connections', {
        worker: this.id,
        connections: this.links.size,
      });
      for (const link of [...this.links.values()]) link.drop();
    }
    for (const timer of this.timers) clearInterval(timer);
    this.bus.publish(`${this.prefix}.workers`, encodeFrame(FRAME_KIND.BYE, this.id));
    this.unsubscribe?.();
    await this.bus.flush().catch(() => {});
  }

  private announce(): void {
    const hello = { load: this.links.size, accepting: !this.draining };
    this.bus.publish(`${this.prefix}.workers`, encodeFrame(FRAME_KIND.HELLO, this.id, 0, hello));
  }

  /** A server that just started asks who is there: answer at once, not at the next beat. */
  private discovered(bytes: Uint8Array, subject: string): void {
    const frame = decodeFrame(bytes, this.maxFrameSize);
    if (typeof frame !== 'string' && frame.kind === FRAME_KIND.DISCOVER) this.announce();
    else this.drops.note(typeof frame === 'string' ? frame : 'malformed', subject);
  }

  private received(bytes: Uint8Array): void {
    const frame = decodeFrame(bytes, this.maxFrameSize);
    if (typeof frame === 'string') {
      this.drops.note(frame, this.subject);
      return;
    }
    switch (frame.kind) {
      case FRAME_KIND.OPEN:
        this.open(frame.key, frame.server, frame.info);
        return;
      case FRAME_KIND.EVENT:
      case FRAME_KIND.END: {
        const link = this.links.get(frame.key);
        if (link === undefined) this.drops.counts.unknown++;
        else {
          this.seen(link.server);
          link.fromServer(frame);
        }
        return;
      }
      case FRAME_KIND.PING:
        this.seen(frame.key);
        return;
      case FRAME_KIND.RESET:
        for (const link of [...(this.servers.get(frame.key)?.links ?? [])]) link.end();
        return;
      default:
        this.drops.note('malformed', this.subject);
    }
  }

  private open(key: string, server: string, info: ConnectionInfo): void {
    // Late OPENs while draining (sent before the server heard of it) are still served.
    if (this.links.has(key)) return;
    const link = new Link(this, key, server);
    this.links.set(key, link);
    let entry = this.servers.get(server);
    if (entry === undefined) {
      entry = { lastSeen: 0, links: new Set() };
      this.servers.set(server, entry);
    }
    entry.links.add(link);
    entry.lastSeen = Date.now();
    link.start(this.app, info);
  }

  private seen(server: string): void {
    const entry = this.servers.get(server);
    if (entry !== undefined) entry.lastSeen = Date.now();
  }

  /** Drop the connections of servers unheard for `serverTimeout`: they died. */
  private sweep(): void {
    const now = Date.now();
    for (const [id, server] of [...this.servers]) {
      if (now - server.lastSeen <= this.serverTimeout) continue;
      logger().warn('worker: server unheard; dropping its connections', {
        worker: this.id,
        server: id,
        connections: server.links.size,
      });
      for (const link of [...server.links]) link.drop();
    }
  }
}

/** One remote connection: the app's run for it. */
class Link {
  ended = false;
  readonly exchanges = new RemoteExchanges();
  private readonly events = new Subject<InboundEvent>();
  private subscription: Subscription | null = null;
  /** Frames sent to the server, and the seq expected next from it (OPEN was 0). */
  private sent = 0;
  private expected = 1;

  constructor(
    private readonly worker: Worker,
    readonly key: string,
    readonly server: string,
  ) {}

  start(app: App, info: ConnectionInfo): void {
    try {
      const subscription = app(this.events.asObservable(), info).subscribe({
        next: (event) => this.outbound(event),
        error: (error) => this.failed(error),
        complete: () => this.finished(FRAME_KIND.COMPLETE),
      });
      if (this.ended) subscription.unsubscribe();
      else this.subscription = subscription;
    } catch (error) {
      this.failed(error);
    }
  }

  fromServer(frame: Frame): void {
    if (this.ended) return;
    if (frame.seq !== this.expected) {
      logger().warn('worker: frames from the server were lost; dropping the connection', {
        worker: this.worker.id,
        connection: this.key,
      });
      this.drop();
      return;
    }
    this.expected++;
    if (frame.kind === FRAME_KIND.END) this.end();
    else if (frame.kind === FRAME_KIND.EVENT) this.inbound(frame.event as InboundEvent);
  }

  inbound(event: InboundEvent): void {
    if (this.ended) return;
    this.exchanges.inbound(event);
    this.events.next(event);
    this.worker.idle(this);
  }

  /** Give up the connection: the server fails its open streams. */
  drop(): void {
    this.finished(FRAME_KIND.END);
  }

  /** Stop the app's run, telling nobody. */
  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.worker.forget(this);
    this.events.complete();
    this.subscription?.unsubscribe();
    this.subscription = null;
  }

  private outbound(event: OutboundEvent): void {
    if (this.ended) return;
    let frame = this.encode(event);
    if (frame === null) {
      logger().error('worker: an event could not cross the bus; failing its stream', {
        connection: this.key,
        stream: event.stream,
        type: event.type,
      });
      const exchange = this.exchanges.get(event.stream);
      if (exchange === undefined) return;
      const code = exchange.ws ? WS_CODE.INTERNAL_ERROR : H2_CODE.INTERNAL_ERROR;
      event = { type: 'close', stream: event.stream, code, reason: 'event too large' };
      frame = this.encode(event) as Uint8Array;
    }
    this.sent++;
    this.exchanges.outbound(event);
    this.worker.publish(this.server, frame);
    this.worker.idle(this);
  }

  /** The event's frame, or null when it is not plain data or over `maxFrameSize`. */
  private encode(event: OutboundEvent): Uint8Array | null {
    try {
      const frame = encodeEventFrame(this.key, this.sent, event);
      return frame.byteLength > this.worker.maxFrameSize ? null : frame;
    } catch {
      return null;
    }
  }

  private failed(error: unknown): void {
    if (this.ended) return;
    logger().error('worker: app failed', { connection: this.key, error });
    const message = error instanceof Error ? error.message : String(error);
    this.worker.publish(this.server, encodeFrame(FRAME_KIND.ERROR, this.key, this.sent++, message));
    this.end();
  }

  private finished(kind: typeof FRAME_KIND.COMPLETE | typeof FRAME_KIND.END): void {
    if (this.ended) return;
    this.worker.publish(this.server, encodeFrame(kind, this.key, this.sent++));
    this.end();
  }
}
