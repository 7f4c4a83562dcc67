/**
 * Remote workers, server side: `remoteApp(bus)` is an app that runs each connection's real app
 * in a worker process elsewhere on the bus (`worker.ts`). Events are plain data, so the whole
 * event stream of a connection crosses: inbound events go to the worker, the outbound events it
 * sends back come out here, and the real `Connection` of the driver applies every rule of the
 * spec to them. Flow control needs nothing extra: `window` events cross both ways, so a body is
 * read only as the worker's app grants credit, and output flows only as the client reads.
 */
import { randomBytes } from 'node:crypto';
import { type App, type ConnectionInfo, type SessionOutput, sessionApp } from '../../core/app.js';
import { type Bus, Throttled } from '../../core/bus.js';
import { chunkLength } from '../../core/connection.js';
import { ERR, RxgiError } from '../../core/errors.js';
import {
  H2_CODE,
  type InboundEvent,
  type OutboundEvent,
  type RequestEvent,
  WS_CODE,
} from '../../core/events.js';
import { logger } from '../../core/log.js';
import { errorBody } from '../../core/status.js';
import {
  decodeFrame,
  encodeEventFrame,
  encodeFrame,
  FRAME_KIND,
  type Frame,
  FrameDrops,
  guarded,
  MAX_FRAME_SIZE,
  type RemoteExchange,
  RemoteExchanges,
} from './frame.js';

/** Options of `remoteApp`; `prefix`, `heartbeat` and `maxFrameSize` must match the workers'. */
export interface RemoteOptions {
  /** Subject prefix: `<prefix>.workers`, `<prefix>.worker.<id>`, `<prefix>.server.<id>`. Default `rxgi`. */
  prefix?: string;
  /** Milliseconds between pings to each worker serving connections here. Default 1,000. */
  heartbeat?: number;
  /** Milliseconds a worker may stay unheard before it counts as dead. Default 3,000. */
  workerTimeout?: number;
  /** Largest frame sent or accepted, in bytes. Default 32 MiB. */
  maxFrameSize?: number;
}

/** What a remote app counts. */
export interface RemoteStats {
  /** Requests answered 503 because no worker was alive. */
  refused: number;
  /** Connections failed because their worker died, left, or frames were lost. */
  lost: number;
  /** Request body and WebSocket message bytes sent to workers. */
  bytesToWorkers: number;
  /** Response body and WebSocket message bytes received from workers. */
  bytesFromWorkers: number;
  /** Frames dropped on arrival, by reason (`unknown`: for a connection no longer here). */
  dropped: FrameDrops['counts'];
}

/** The app to pass to `serve`, with the state of the workers behind it. */
export interface RemoteApp extends App {
  /** This server's id on the bus. */
  readonly id: string;
  /** Workers heard from within `workerTimeout` (draining ones included). */
  readonly workers: number;
  readonly stats: RemoteStats;
  /** Stop: leave the bus; connections still served fail as if their worker died. */
  close(): void;
}

/** A worker as this server knows it. */
interface WorkerEntry {
  readonly id: string;
  readonly subject: string;
  /** Open connections, as it last announced (all servers). */
  load: number;
  accepting: boolean;
  lastSeen: number;
  /** This server's connections on it. */
  readonly forwards: Set<Forward>;
}

/** Worker ids declared dead and remembered, so a worker that was only slow is told to reset. */
const DEAD_REMEMBERED = 1_000;

const TEXT = ['content-type', 'text/plain; charset=utf-8'];

/**
 * An app that forwards every connection to a live worker on `bus` (see `runWorker`). A
 * connection picks the least-loaded worker at its first request and keeps it; with no worker
 * alive, a request is answered 503. When a worker dies or leaves, the open streams of its
 * connections fail as SPEC.md §8 says: 502 before the head, an abort after it, 1011 on a
 * WebSocket.
 *
 * @example
 * const bus = await redisBus('redis://127.0.0.1:6379');
 * const app = remoteApp(bus);
 * const server = await serve(app, { port: 8000 });
 */
export function remoteApp(bus: Bus, options: RemoteOptions = {}): RemoteApp {
  const server = new RemoteServer(bus, options);
  const app: App = sessionApp((out, info) => {
    const forward = new Forward(server, info, out);
    return { receive: (event) => forward.inbound(event), teardown: () => forward.end() };
  });
  return Object.defineProperties(app, {
    id: { value: server.id },
    workers: { get: () => server.workers.size },
    stats: { value: server.stats },
    close: { value: () => server.close() },
  }) as RemoteApp;
}

class RemoteServer {
  readonly id = randomBytes(6).toString('hex');
  readonly workers = new Map<string, WorkerEntry>();
  readonly forwards = new Map<string, Forward>();
  readonly drops = new FrameDrops('remote');
  readonly stats: RemoteStats = {
    refused: 0,
    lost: 0,
    bytesToWorkers: 0,
    bytesFromWorkers: 0,
    dropped: this.drops.counts,
  };
  readonly maxFrameSize: number;
  private readonly prefix: string;
  private readonly timeout: number;
  private readonly dead = new Set<string>();
  private readonly unavailable = new Throttled('remote: no worker is alive; answered 503');
  private readonly unsubscribe: (() => void)[];
  private readonly timers: NodeJS.Timeout[];
  private turn = 0;
  private serial = 0;

  constructor(
    readonly bus: Bus,
    options: RemoteOptions,
  ) {
    this.prefix = options.prefix ?? 'rxgi';
    this.timeout = options.workerTimeout ?? 3_000;
    this.maxFrameSize = options.maxFrameSize ?? MAX_FRAME_SIZE;
    const heartbeat = options.heartbeat ?? 1_000;
    const workers = `${this.prefix}.workers`;
    const mine = `${this.prefix}.server.${this.id}`;
    this.unsubscribe = [
      bus.subscribe(workers, (bytes) => this.announced(bytes, workers)),
      bus.subscribe(mine, (bytes) => this.received(bytes, mine)),
    ];
    // Once both subscriptions reach the broker, ask the workers to announce themselves now:
    // otherwise a server that just started answers 503 until their next heartbeat.
    bus.flush().then(
      () => bus.publish(`${this.prefix}.discover`, encodeFrame(FRAME_KIND.DISCOVER, this.id)),
      () => {},
    );
    this.timers = [
      setInterval(guarded, heartbeat, 'remote: ping', () => this.ping()),
      setInterval(
        guarded,
        Math.max(25, Math.min(heartbeat, this.timeout / 4)),
        'remote: sweep',
        () => this.sweep(),
      ),
    ];
    for (const timer of this.timers) timer.unref();
  }

  /** A new connection key, unique on the bus. */
  key(): string {
    return `${this.id}.${++this.serial}`;
  }

  /** The accepting worker with the least load (estimated), ties in turn; null if none. */
  pick(): WorkerEntry | null {
    const list = [...this.workers.values()].filter((worker) => worker.accepting);
    let best = -1;
    let least = Number.POSITIVE_INFINITY;
    for (let i = 0; i < list.length; i++) {
      const at = (this.turn + i) % list.length;
      // Announcements lag: what this server placed since counts at once.
      const load = Math.max(list[at].load, list[at].forwards.size);
      if (load < least) {
        least = load;
        best = at;
      }
    }
    if (best < 0) return null;
    this.turn = best + 1;
    return list[best];
  }

  /** No worker for a request: answer it 503 right here. */
  refuse(out: SessionOutput, request: RequestEvent): void {
    this.stats.refused++;
    this.unavailable.note({ stream: request.stream, target: request.target });
    out.next(errorResponse(request.stream, 503));
  }

  close(): void {
    for (const unsubscribe of this.unsubscribe) unsubscribe();
    for (const timer of this.timers) clearInterval(timer);
    for (const worker of [...this.workers.values()]) {
      this.workers.delete(worker.id);
      for (const forward of [...worker.forwards]) forward.lost('the remote app closed', true);
    }
  }

  private announced(bytes: Uint8Array, subject: string): void {
    const frame = decodeFrame(bytes, this.maxFrameSize);
    if (typeof frame === 'string') {
      this.drops.note(frame, subject);
      return;
    }
    if (frame.kind === FRAME_KIND.BYE) {
      const worker = this.workers.get(frame.key);
      if (worker !== undefined) this.lose(worker, 'left');
      return;
    }
    if (frame.kind !== FRAME_KIND.HELLO) {
      this.drops.note('malformed', subject);
      return;
    }
    let worker = this.workers.get(frame.key);
    if (worker === undefined) {
      worker = {
        id: frame.key,
        subject: `${this.prefix}.worker.${frame.key}`,
        load: 0,
        accepting: true,
        lastSeen: 0,
        forwards: new Set(),
      };
      this.workers.set(worker.id, worker);
      if (this.dead.delete(worker.id)) {
        // It was only slow: its connections from here are gone, so it must drop them. Sent
        // before any new OPEN, and the bus keeps order.
        this.bus.publish(worker.subject, encodeFrame(FRAME_KIND.RESET, this.id));
      }
      logger().info('remote: worker joined', { worker: worker.id });
    }
    worker.load = frame.load;
    worker.accepting = frame.accepting;
    worker.lastSeen = Date.now();
  }

  private received(bytes: Uint8Array, subject: string): void {
    const frame = decodeFrame(bytes, this.maxFrameSize);
    if (typeof frame === 'string') {
      this.drops.note(frame, subject);
      return;
    }
    switch (frame.kind) {
      case FRAME_KIND.EVENT:
      case FRAME_KIND.COMPLETE:
      case FRAME_KIND.ERROR:
      case FRAME_KIND.END: {
        const forward = this.forwards.get(frame.key);
        if (forward === undefined) this.drops.counts.unknown++;
        else forward.fromWorker(frame);
        return;
      }
      default:
        this.drops.note('malformed', subject);
    }
  }

  /** Tell each worker with connections here that this server lives (see `serverTimeout`). */
  private ping(): void {
    for (const worker of this.workers.values()) {
      if (worker.forwards.size > 0)
        this.bus.publish(worker.subject, encodeFrame(FRAME_KIND.PING, this.id));
    }
  }

  private sweep(): void {
    const now = Date.now();
    for (const worker of [...this.workers.values()]) {
      if (now - worker.lastSeen > this.timeout) this.lose(worker, 'timed out');
    }
  }

  private lose(worker: WorkerEntry, why: 'left' | 'timed out'): void {
    this.workers.delete(worker.id);
    if (why === 'timed out') {
      this.dead.add(worker.id);
      if (this.dead.size > DEAD_REMEMBERED) this.dead.delete(this.dead.values().next().value!);
    }
    const forwards = [...worker.forwards];
    const fields = { worker: worker.id, connections: forwards.length };
    if (forwards.length > 0)
      logger().warn(`remote: worker ${why}; failing its connections`, fields);
    else logger().info(`remote: worker ${why}`, fields);
    for (const forward of forwards) forward.lost(`the worker ${why}`, false);
  }
}

/** One connection of the server, forwarded to its worker. */
class Forward {
  private worker: WorkerEntry | null = null;
  private done = false;
  private key = '';
  /** Frames sent to the worker, and the seq expected next from it. */
  private sent = 0;
  private expected = 0;
  private readonly exchanges = new RemoteExchanges();

  constructor(
    private readonly server: RemoteServer,
    private readonly info: ConnectionInfo,
    private readonly out: SessionOutput,
  ) {}

  inbound(event: InboundEvent): void {
    if (this.done) return;
    let worker = this.worker;
    if (worker === null) {
      // Unbound connections have nothing to forward until a request picks a worker.
      if (event.type !== 'request') return;
      worker = this.server.pick();
      if (worker === null) {
        this.server.refuse(this.out, event);
        return;
      }
      this.bind(worker);
    }
    let frame: Uint8Array | null;
    try {
      frame = encodeEventFrame(this.key, this.sent, event);
    } catch {
      frame = null;
    }
    if (frame === null || frame.byteLength > this.server.maxFrameSize) {
      logger().error('remote: an event is too large for the bus; failing its stream', {
        connection: this.info.id,
        stream: event.stream,
        type: event.type,
      });
      const exchange = this.exchanges.get(event.stream);
      if (exchange !== undefined) this.out.next(failure(exchange, 'too large'));
      return;
    }
    this.sent++;
    this.exchanges.inbound(event);
    if (event.type === 'data') this.server.stats.bytesToWorkers += event.chunk.byteLength;
    else if (event.type === 'ws-message')
      this.server.stats.bytesToWorkers += chunkLength(event.data);
    this.server.bus.publish(worker.subject, frame);
  }

  fromWorker(frame: Frame): void {
    if (this.done || this.worker === null) return;
    this.worker.lastSeen = Date.now();
    if (frame.seq !== this.expected) {
      logger().warn('remote: frames from the worker were lost; failing the connection', {
        connection: this.info.id,
        worker: this.worker.id,
      });
      this.lost('frames were lost on the bus', true);
      return;
    }
    this.expected++;
    switch (frame.kind) {
      case FRAME_KIND.EVENT: {
        const event = frame.event as OutboundEvent;
        this.exchanges.outbound(event);
        if (event.type === 'data' || event.type === 'ws-message') {
          const chunk = event.type === 'data' ? event.chunk : event.data;
          this.server.stats.bytesFromWorkers += chunkLength(chunk);
        } else if (event.type === 'response' && event.body !== undefined) {
          this.server.stats.bytesFromWorkers += chunkLength(event.body);
        }
        this.out.next(event);
        return;
      }
      case FRAME_KIND.COMPLETE:
        this.detach();
        this.out.complete();
        return;
      case FRAME_KIND.ERROR:
        this.detach();
        this.out.error(new RxgiError(ERR.APP_ERROR, `the remote app failed: ${frame.message}`));
        return;
      case FRAME_KIND.END:
        this.lost('the worker dropped the connection', false);
        return;
    }
  }

  /** The connection ended here: tell the worker. Idempotent. */
  end(): void {
    if (this.done) return;
    const worker = this.worker;
    if (worker !== null) {
      this.server.bus.publish(worker.subject, encodeFrame(FRAME_KIND.END, this.key, this.sent++));
    }
    this.detach();
  }

  /**
   * The worker is gone (or unusable): each open stream fails as a server-side failure does, and
   * the connection closes once idle, as when an app completes.
   */
  lost(reason: string, tellWorker: boolean): void {
    if (this.done) return;
    if (tellWorker) this.end();
    this.detach();
    this.server.stats.lost++;
    // Each failure closes its stream in the Connection, which re-enters `inbound`: ignored now.
    for (const exchange of this.exchanges.values()) {
      this.out.next(failure(exchange, reason));
    }
    this.out.complete();
  }

  private bind(worker: WorkerEntry): void {
    this.worker = worker;
    this.key = this.server.key();
    worker.forwards.add(this);
    this.server.forwards.set(this.key, this);
    const open = { server: this.server.id, info: this.info };
    this.server.bus.publish(
      worker.subject,
      encodeFrame(FRAME_KIND.OPEN, this.key, this.sent++, open),
    );
  }

  private detach(): void {
    this.done = true;
    this.worker?.forwards.delete(this);
    this.server.forwards.delete(this.key);
  }
}

/** The event that fails an open stream whose worker is gone (SPEC.md §8). */
function failure(exchange: RemoteExchange, reason: string): OutboundEvent {
  const stream = exchange.id;
  if (exchange.ws) return { type: 'close', stream, code: WS_CODE.INTERNAL_ERROR, reason };
  if (!exchange.head) return errorResponse(stream, 502);
  return { type: 'close', stream, code: H2_CODE.INTERNAL_ERROR, reason };
}

function errorResponse(stream: number, status: number): OutboundEvent {
  const body = errorBody(status);
  return { type: 'response', stream, status, headers: TEXT, body, end: true };
}
