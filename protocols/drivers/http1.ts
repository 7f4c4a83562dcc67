import { IncomingMessage, type Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { logRefusal } from '../../core/access-log.js';
import type { App, ConnectionInfo } from '../../core/app.js';
import { chunkLength, DRIVER_FREE_BIT } from '../../core/connection.js';
import type {
  Capabilities,
  Chunk,
  DataOutEvent,
  EarlyHintsEvent,
  HeaderList,
  RequestEvent,
  ResponseEvent,
  TrailersOutEvent,
  WsAcceptEvent,
} from '../../core/events.js';
import {
  assertPairs,
  getHeader,
  hasField,
  lowerNames,
  withField,
  withoutField,
} from '../../core/headers.js';
import type { Hub } from '../../core/hub.js';
import { logger } from '../../core/log.js';
import { errorBody } from '../../core/status.js';
import { withBit } from '../../core/stream-state.js';
import { IndexedRoster } from '../../core/table.js';
import type { Clock, TimeLimits } from './clock.js';
import { type HeadLimits, parseHead } from './http1-head.js';
import { isPreface, releasePreface } from './http1-preface.js';
import { writeRawResponse, writeStatus } from './http1-response.js';
import { Http1Host, internFields, oneCloseListener } from './http1-upgrade.js';
import { endLingering, lingerAfterEnd } from './linger.js';
import { NodeStream, peerOf, socketInfo } from './node-connection.js';
import { type OutputClock, outputStalled } from './send-clock.js';
import { handshakeProblem, parseSubprotocols, type WebSocketDriver } from './websocket.js';

/** Options of the HTTP/1.1 driver (docs/server.md lists the defaults). */
export interface Http1Options extends HeadLimits {
  /** Largest request body; a larger one is answered 413. */
  maxBodySize: number;
  /** Unsent response bytes allowed per stream; past it the exchange is aborted. */
  writeBufferLimit: number;
  /** The WebSocket driver for upgrade requests, or null to refuse them. */
  websocket: WebSocketDriver | null;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
  /** One info line per exchange, its own answers included (docs/server.md). Default off. */
  accessLog?: boolean;
  /** Sets the request's `root` where a host mounted the app (SPEC.md §4.4). */
  mount?: (req: IncomingMessage, event: RequestEvent) => void;
  /** The clock of the body and send time limits (spec/server.md §2); none without it. */
  clock?: Clock;
  /**
   * @internal The driver's roster of its connections, on the options every connection of the
   * driver shares (`attachHttp1` sets it): a connection leaves it as it ends.
   */
  roster?: IndexedRoster<Http1Connection>;
  /**
   * @internal Where a cleartext connection that opened with the HTTP/2 preface goes (`serve`'s
   * one port): the socket, released by node:http, and the bytes it sent, preface included.
   * Without it, such a connection is answered 400 as node:http answers it.
   */
  preface?: (socket: Socket, bytes: Buffer) => void;
}

const kConnection = Symbol('rxgi.connection');
/** The bytes that came after an upgrade request's head, kept on it until the handshake is answered. */
const kHead = Symbol('rxgi.head');
type UpgradeRequest = IncomingMessage & { [kHead]?: Buffer };
const kStream = Symbol('rxgi.stream');

/**
 * node:http's request and response with the driver's field declared, for the servers the
 * driver is given (`serve` makes them with {@link HTTP1_MESSAGES}): setting the field then
 * changes no object's shape, where adding it to node's own took a map transition and a property
 * store of its own for each request and response, and showed node's code two shapes of each.
 */
class Http1Request extends IncomingMessage {
  [kStream]: Http1Stream | undefined = undefined;
}
class Http1Response<R extends IncomingMessage = IncomingMessage> extends ServerResponse<R> {
  [kStream]: Http1Stream | undefined = undefined;
}
/** `http.createServer` options: the request and response classes of the driver's servers. */
export const HTTP1_MESSAGES: {
  IncomingMessage: typeof IncomingMessage;
  ServerResponse: typeof ServerResponse;
} = { IncomingMessage: Http1Request, ServerResponse: Http1Response };

/** A socket of this driver carries its connection, null until its first request. */
type TaggedSocket = Socket & { [kConnection]?: Http1Connection | null };
type TaggedMessage = (IncomingMessage | ServerResponse) & { [kStream]?: Http1Stream };

const DRAINING = DRIVER_FREE_BIT;
const UPGRADED = DRIVER_FREE_BIT << 1;

/** One HTTP/1.1 exchange or WebSocket session. */
class Http1Stream extends NodeStream {
  constructor(
    id: number,
    caps: Capabilities,
    websocket: boolean,
    inEnded: boolean,
    readonly connection: Http1Connection,
    /**
     * Let go once a WebSocket session runs: what it holds is no use to the session. An upgrade
     * request carries the bytes after its head (`kHead`) until then.
     */
    public req: IncomingMessage | null,
    /** Null for an upgrade request: the connection's socket is written raw. */
    readonly res: ServerResponse | null,
  ) {
    super(id, caps, websocket, inEnded);
  }

  get host(): Http1Connection {
    return this.connection;
  }
}

/** An HTTP/1.1 connection: its requests in sequence, and any WebSocket it upgrades to. */
export class Http1Connection extends Http1Host<Http1Stream, Http1Options> implements OutputClock {
  private nextId = 1;
  // The socket's send clock (send-clock.ts): responses go out on it one at a time, and one
  // forgotten once complete may still wait there for a client that stopped reading.
  sendAt = 0;
  sendLow = 0;
  /** Set once the server is shutting down: responses close the connection. */
  get draining(): boolean {
    return (this.flags & DRAINING) !== 0;
  }
  set draining(on: boolean) {
    this.flags = withBit(this.flags, DRAINING, on);
  }
  /** The socket was handed to a WebSocket session. */
  get upgraded(): boolean {
    return (this.flags & UPGRADED) !== 0;
  }
  set upgraded(on: boolean) {
    this.flags = withBit(this.flags, UPGRADED, on);
  }
  /** Its place in the driver's roster (`Http1Options.roster`, see `IndexedRoster`). */
  rosterIndex = -1;

  constructor(
    info: ConnectionInfo,
    readonly socket: Socket,
    options: Http1Options,
  ) {
    super(info, options);
  }

  /** WebSocket upgrades are served (a getter: a field would cost every connection 8 bytes). */
  get websocketEnabled(): boolean {
    return this.options.websocket !== null;
  }

  /** A request from node:http. */
  request(req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const id = this.nextId++;
    const parsed = parseHead(req, this.info, this.websocketEnabled, id, this.options);
    const { event, refusal } = parsed;
    if (refusal !== null) {
      res.shouldKeepAlive = false;
      const body = `${refusal.reason}\n`;
      writeStatus(res, refusal.status, body);
      this.logRefused(req.method, req.url, refusal.status, body);
      return;
    }
    if (parsed.length > this.options.maxBodySize) {
      res.shouldKeepAlive = false;
      writeStatus(res, 413);
      this.logRefused(req.method, req.url, 413, errorBody(413));
      return;
    }
    this.options.mount?.(req, event);
    const stream = new Http1Stream(id, event.caps, false, event.end, this, req, res);
    stream.expectContinue = expectContinue;
    (req as TaggedMessage)[kStream] = stream;
    (res as TaggedMessage)[kStream] = stream;
    this.open(stream, event);
  }

  /** An upgrade request from node:http: a WebSocket handshake, or another upgrade. */
  upgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // node:http lets go of a socket it hands to 'upgrade', error listener included: a reset
    // while the app decides would otherwise be an uncaught exception. A client that leaves
    // (FIN) before the handshake is answered must not leave the socket half-open for good:
    // nothing watches an upgraded socket's timeouts any more. Both go once a session runs
    // (ws has its own), so that an idle session keeps one listener of each.
    socket.on('error', onUpgradeError);
    socket.on('end', onUpgradeEnd);
    if (this.options.websocket === null || req.headers.upgrade?.toLowerCase() !== 'websocket') {
      this.ignoreUpgrade(req, socket as Socket);
      return;
    }
    const id = this.nextId++;
    const { event, key, version, refusal } = parseHead(
      req,
      this.info,
      this.websocketEnabled,
      id,
      this.options,
    );
    if (refusal !== null) {
      this.refuseRaw(req, socket, refusal.status, ['content-type', 'text/plain'], refusal.reason);
      return;
    }
    const problem = handshakeProblem(event.method, key, version);
    if (problem !== null) {
      this.refuseRaw(req, socket, 400, ['sec-websocket-version', '13'], problem);
      return;
    }
    const origin = getHeader(event.headers, 'origin');
    const foreign = this.options.websocket.origins.refusal(origin, event.authority);
    if (foreign !== null) {
      this.refuseRaw(req, socket, 403, ['content-type', 'text/plain'], foreign);
      return;
    }
    event.websocket = true;
    event.subprotocols = parseSubprotocols(getHeader(event.headers, 'sec-websocket-protocol'));
    internFields(event.headers);
    (req as UpgradeRequest)[kHead] = head;
    const stream = new Http1Stream(id, event.caps, true, true, this, req, null);
    stream.offered = event.subprotocols;
    this.open(stream, event);
  }

  /**
   * RFC 9110 §7.8: a server may ignore an Upgrade it does not speak (curl --http2 asks for h2c
   * this way). node:http has already handed the socket over and ended the request stream, so
   * the request is served on a response made here and the connection closes after it. A body
   * can no longer be read: such a request is answered 400.
   */
  private ignoreUpgrade(req: IncomingMessage, socket: Socket): void {
    if (
      Number(req.headers['content-length'] ?? 0) > 0 ||
      req.headers['transfer-encoding'] !== undefined
    ) {
      const reason = `Upgrade to ${req.headers.upgrade} is not supported for a request with a body`;
      writeRawResponse(socket, 400, ['content-type', 'text/plain'], `${reason}\n`);
      this.logRefused(req.method, req.url, 400, `${reason}\n`);
      return;
    }
    const res = new ServerResponse(req);
    res.shouldKeepAlive = false;
    res.assignSocket(socket);
    res.once('finish', () => {
      res.detachSocket(socket);
      endLingering(socket);
    });
    this.request(req, res, false);
  }

  /** Refuse a WebSocket handshake on the raw socket with `status` and `reason`, and log it. */
  private refuseRaw(
    req: IncomingMessage,
    socket: Duplex,
    status: number,
    headers: string[],
    reason: string,
  ): void {
    const body = `${reason}\n`;
    writeRawResponse(socket, status, headers, body);
    this.logRefused(req.method, req.url, status, body, true);
  }

  /** @internal One tick of the time limits (spec/server.md §2). */
  sweep(now: number, elapsed: number, limits: TimeLimits): void {
    const socket = this.socket;
    if (!this.upgraded && outputStalled(this, socket.writableLength, now, limits.sendTimeout)) {
      const why = `the client read nothing for ${limits.sendTimeout} ms`;
      for (const stream of this.streamList()) this.timedOut(stream, why);
      socket.destroy();
      return;
    }
    this.sweepStreams(now, elapsed, limits);
  }

  override end(reason?: string): void {
    super.end(reason);
    this.options.roster?.delete(this);
  }

  // --- Wire side -----------------------------------------------------------------------------

  protected writeResponse(stream: Http1Stream, event: ResponseEvent): void {
    const res = stream.res;
    if (res === null) {
      // A denied WebSocket handshake: the response goes raw on the socket.
      writeRawResponse(this.socket, event.status, event.headers, event.body, event.end);
      return;
    }
    if (this.draining || this.appFinished) res.shouldKeepAlive = false;
    let headers = event.headers;
    const body = typeof event.body === 'string' ? latin1Safe(headers, event.body) : event.body;
    if (event.end) {
      if (!hasField(headers, 'content-length') && !hasField(headers, 'transfer-encoding')) {
        // The app's list is its own: copy before adding.
        const length =
          body !== undefined
            ? String(chunkLength(body))
            : event.status !== 204 && event.status !== 304 && stream.req?.method !== 'HEAD'
              ? '0'
              : null;
        if (length !== null) headers = withField(headers, 'content-length', length);
      }
      res.writeHead(event.status, headers);
      res.end(body);
      return;
    }
    // Trailers travel only with chunked encoding, which a content-length would rule out: where
    // the client takes them, the promised trailers win and the length goes (SPEC.md §6).
    if (event.trailers === true && stream.caps.trailers && hasField(headers, 'content-length')) {
      headers = withoutField(headers, 'content-length');
    }
    res.writeHead(event.status, headers);
    // node:http holds a head back until the first body write; a stream that starts empty
    // (server-sent events, a slow producer) must show its head to the client now.
    if (body !== undefined) this.write(stream, res, body);
    else res.flushHeaders();
  }

  protected writeData(stream: Http1Stream, event: DataOutEvent): void {
    const res = stream.res;
    if (res === null) {
      const socket = this.socket;
      if (chunkLength(event.chunk) > 0) socket.write(event.chunk);
      if (event.end) endLingering(socket as Socket);
      return;
    }
    if (chunkLength(event.chunk) > 0) this.write(stream, res, event.chunk);
    if (event.end) res.end();
  }

  private write(stream: Http1Stream, res: ServerResponse, chunk: Chunk): void {
    this.writeCounted(stream, res, chunk, onDrain);
  }

  protected writeTrailers(stream: Http1Stream, event: TrailersOutEvent): void {
    const res = stream.res!;
    assertPairs(event.headers);
    const pairs: [string, string][] = [];
    for (let i = 0; i < event.headers.length; i += 2) {
      pairs.push([event.headers[i], event.headers[i + 1]]);
    }
    res.addTrailers(pairs);
    res.end();
  }

  protected writeEarlyHints(stream: Http1Stream, event: EarlyHintsEvent): void {
    const hints: Record<string, string[]> = {};
    for (let i = 0; i < event.headers.length; i += 2) {
      const name = event.headers[i];
      hints[name] ??= [];
      hints[name].push(event.headers[i + 1]);
    }
    // node:http sends a 103 only when it carries a Link field.
    stream.res?.writeEarlyHints(hints);
  }

  protected writePush(): void {
    // Never called: HTTP/1.1 streams do not offer push, so pushes degrade (SPEC.md §6).
  }

  protected acceptWebSocket(stream: Http1Stream, event: WsAcceptEvent): void {
    const driver = this.options.websocket!;
    // From here the socket belongs to the session; its end is the connection's end.
    this.socket.removeListener('close', onSocketClose);
    this.upgraded = true;
    const socket = this.socket;
    // Off before ws puts its own on (at once, in `accept`): a listener list that once held
    // three keeps the room for nineteen.
    socket.removeListener('error', onUpgradeError);
    socket.removeListener('end', onUpgradeEnd);
    // ws ends the socket after the closing handshake: a client that then keeps its side open
    // has the bounded close of any socket the driver ends.
    lingerAfterEnd(socket);
    const req = stream.req as UpgradeRequest;
    const head = req[kHead]!;
    req[kHead] = undefined;
    stream.req = null;
    driver.accept(stream, req, socket, head, event);
    oneCloseListener(socket);
  }

  protected writeError(stream: Http1Stream, status: number): void {
    const res = stream.res;
    if (res === null) {
      writeRawResponse(
        this.socket,
        status,
        ['content-type', 'text/plain; charset=utf-8'],
        errorBody(status),
      );
      return;
    }
    if (res.headersSent) {
      res.destroy();
      return;
    }
    if (!stream.inEnded || this.draining || this.appFinished) res.shouldKeepAlive = false;
    writeStatus(res, status);
  }

  protected abort(stream: Http1Stream): void {
    // HTTP/1.1 has no way to end one exchange early but to close the connection.
    if (stream.res !== null) stream.res.destroy();
    else this.socket.destroy();
  }

  protected input(stream: Http1Stream): IncomingMessage {
    // Only HTTP exchanges read bodies, and they keep their request.
    return stream.req!;
  }

  protected pendingOutput(): number {
    // The socket's own send clock covers every response (see `sweep`).
    return 0;
  }

  protected listen(_stream: Http1Stream, req: IncomingMessage): void {
    req.on('data', onData);
    req.on('end', onEnd);
  }

  protected closeConnection(): void {
    if (!this.socket.destroyed) endLingering(this.socket);
  }

  protected override teardown(): void {
    this.socket.destroy();
  }

  protected override writeContinue(stream: Http1Stream): void {
    stream.res?.writeContinue();
  }

  /** @internal The body ended. */
  bodyEnd(stream: Http1Stream): void {
    const raw = stream.req!.rawTrailers;
    this.deliverEnd(stream, raw.length > 0 ? lowerNames(raw) : null);
  }
}

// Listeners shared by every request, so none is allocated per request. Each is a boundary
// (see Connection.fault): what throws in one connection stays in it.
function onData(this: TaggedMessage, chunk: Buffer): void {
  const stream = this[kStream];
  if (stream === undefined) return;
  try {
    stream.connection.bodyData(stream, chunk);
  } catch (error) {
    stream.connection.fault(error);
  }
}
function onEnd(this: TaggedMessage): void {
  const stream = this[kStream];
  if (stream === undefined) return;
  try {
    stream.connection.bodyEnd(stream);
  } catch (error) {
    stream.connection.fault(error);
  }
}
function onDrain(this: TaggedMessage): void {
  const stream = this[kStream];
  if (stream === undefined) return;
  try {
    stream.connection.drained(stream);
  } catch (error) {
    stream.connection.fault(error);
  }
}
function onUpgradeError(this: Socket, error: Error): void {
  logger().debug('upgrade socket failed', { error: error.message });
  this.destroy();
}
function onUpgradeEnd(this: TaggedSocket): void {
  if (this[kConnection]?.upgraded !== true) endLingering(this);
}

/**
 * Add a listener for an event other than `'data'` and `'readable'` with the `on` of the
 * socket's class. node:http puts a wrapper in its place on every socket it serves, which only
 * watches for those two events; a listener added through it cost ~600 instructions a connection
 * more (callgrind).
 */
type Listener = (...args: unknown[]) => void;

function addListenerUnwrapped(socket: Socket, event: string, listener: Listener): void {
  const own = Object.getPrototypeOf(socket) as { on: (this: Socket, ...args: unknown[]) => Socket };
  own.on.call(socket, event, listener);
}

function onSocketClose(this: TaggedSocket): void {
  const connection = this[kConnection];
  try {
    connection?.end();
  } catch (error) {
    connection?.fault(error);
  }
}

/** A connection of either HTTP/1.1 driver, as `serve` shuts it down. */
export interface Http1Served {
  /** Answers close the connection from now on. */
  draining: boolean;
  shutdown(deadline: number): void;
  goAway(code?: number, reason?: string): void;
}

/** An HTTP/1.1 driver serving a port: node:http's (`attachHttp1`) or rxgi's own (http1-net.ts). */
export interface Http1Driver {
  /** Its connections (node:http's driver: those that have carried at least one request). */
  readonly connections: Iterable<Http1Served>;
  /**
   * Close every connection of this driver that is idle now, among `sockets` (every socket of
   * the server: the others are left alone): sockets that never sent a request and keep-alive
   * connections between requests. Used while shutting down.
   */
  closeIdle(sockets: Iterable<Socket>): void;
}

/**
 * The HTTP/1.1 driver: runs `app` on every connection of a node:http or node:https server,
 * WebSocket upgrades included.
 */
export function attachHttp1(
  server: Server,
  app: App,
  options: Http1Options,
  secure = false,
): Http1Driver {
  const live = new IndexedRoster<Http1Connection>('rosterIndex');
  const shared: Http1Options = { ...options, roster: live };
  // node:http drops the fields past its count silently; one more than the limit lets the driver
  // see that a head had too many, and answer 431 (spec/http1.md).
  server.maxHeadersCount = options.maxHeaderFields + 1;

  const connectionOf = (socket: TaggedSocket): Http1Connection => {
    let connection = socket[kConnection];
    if (connection !== undefined && connection !== null) return connection;
    const info = socketInfo('h1', 'http/1.1', socket, secure);
    connection = new Http1Connection(info, socket, shared);
    socket[kConnection] = connection;
    // The connection leaves the roster when it ends (`end`), which its socket's close or its
    // WebSocket session's brings: no listener of its own.
    live.add(connection);
    addListenerUnwrapped(socket, 'close', onSocketClose);
    connection.start(app, options.hub);
    return connection;
  };

  const onRequest = (expectContinue: boolean) => (req: IncomingMessage, res: ServerResponse) => {
    const connection = connectionOf(req.socket as TaggedSocket);
    try {
      connection.request(req, res, expectContinue);
    } catch (error) {
      connection.fault(error);
    }
  };
  options.clock?.onEachTick(live, (connection, now, elapsed, limits) =>
    connection.sweep(now, elapsed, limits),
  );
  // The driver's own ends of a socket linger (`endLingering`): upgraded and refused-upgrade
  // sockets are node:http's no more, and are paused, so a client that left after our end went
  // unseen (linger.ts). Where node:http ends a socket, it destroys it as it finishes.
  server.on('connection', (socket: TaggedSocket) => {
    socket[kConnection] = null;
  });
  server.on('request', onRequest(false));
  server.on('checkContinue', onRequest(true));
  server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    const connection = connectionOf(req.socket as TaggedSocket);
    try {
      connection.upgrade(req, socket, head);
    } catch (error) {
      connection.fault(error);
    }
  });
  // Answers node:http gives before any connection of ours exists: logged from the socket.
  const refused = (socket: Duplex, method: string | undefined, target: string | undefined) =>
    options.accessLog === true
      ? (status: number, body: string) => {
          const client = peerOf(socket as Socket);
          logRefusal({ protocol: 'http/1.1', secure, client }, method, target, status, body);
        }
      : null;
  server.on('connect', (req: IncomingMessage, socket: Duplex) =>
    refuseConnect(socket, refused(socket, req.method, req.url)),
  );
  const preface = options.preface;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Duplex) => {
    if (preface !== undefined && isPreface(error)) {
      const bytes = releasePreface(socket as Socket, error);
      if (bytes !== null) {
        // No longer this driver's socket: shutdown's `closeIdle` leaves it to HTTP/2's driver,
        // which gives it its own bounded close.
        (socket as TaggedSocket)[kConnection] = undefined;
        preface(socket as Socket, bytes);
        return;
      }
    }
    clientError(error, socket, refused(socket, undefined, undefined));
  });
  return {
    connections: live,
    closeIdle(sockets) {
      for (const socket of sockets as Iterable<TaggedSocket>) {
        const connection = socket[kConnection];
        // Not this driver's socket.
        if (connection === undefined) continue;
        if (connection === null && socket.bytesRead === 0) socket.destroy();
        // end() flushes a response that was just written before it closes.
        else if (connection === null || (connection.openStreams === 0 && !connection.upgraded)) {
          endLingering(socket);
        }
      }
    },
  };
}

/** Field text outside ASCII: one character per byte (SPEC.md §3.1). */
const HIGH_BYTE = /[\x80-\xff]/;
/**
 * The last field value found all ASCII. Apps send the same constant values again and again (a
 * `content-type` above all): the same string passes with one comparison instead of the
 * pattern's ~350 instructions (callgrind).
 */
let asciiValue = '';

/**
 * The body to hand node:http with `headers`. node:http joins the head to a first string chunk
 * and writes both as UTF-8, which would send a field's `é` as two bytes, not one (SPEC.md §3.1): such a body goes as bytes, so the head keeps its own encoding.
 */
function latin1Safe(headers: HeaderList, body: string): string | Uint8Array {
  for (let i = 1; i < headers.length; i += 2) {
    const value = headers[i];
    if (value === asciiValue) continue;
    if (HIGH_BYTE.test(value)) return Buffer.from(body);
    asciiValue = value;
  }
  return body;
}

/**
 * A CONNECT (RFC 9110 §9.3.6) asks for a tunnel, which this driver does not offer (spec/http1.md): 501, then close. Behind a pipelined response still going out, the socket just closes.
 */
function refuseConnect(socket: Duplex, log: Refused): void {
  if ((socket as Socket & { _httpMessage?: unknown })._httpMessage) {
    socket.destroy();
    return;
  }
  const body = 'CONNECT tunnels are not served over HTTP/1.1; use HTTP/2\n';
  writeRawResponse(socket, 501, ['content-type', 'text/plain; charset=utf-8'], body);
  log?.(501, body);
}

/** Writes the access line of a driver's own answer; null when the access log is off. */
type Refused = ((status: number, body: string) => void) | null;

/** Answer a request node:http could not parse (SPEC.md §8): 431, 408 or 400, then close. */
function clientError(error: NodeJS.ErrnoException, socket: Duplex, log: Refused): void {
  logger().debug('bad request', { code: error.code, error: error.message });
  const inFlight = (socket as Socket & { _httpMessage?: unknown })._httpMessage;
  if (error.code === 'HPE_CLOSED_CONNECTION' && inFlight) {
    // Bytes after a request that closes the connection (Connection: close, HTTP/1.0): RFC 9112
    // §9.6 says to process no further request, not to cut the one in flight. They are dropped
    // and its response goes out whole; the connection closes after it.
    return;
  }
  // With a response begun, or bad bytes after a complete request, nothing can be said that
  // the client would not take as part of that exchange.
  if (!socket.writable || (inFlight && !bodyUnanswered(inFlight))) {
    socket.destroy();
    return;
  }
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT' && (socket as Socket).bytesRead === 0) {
    // A connection that sent nothing within the head time: closed with no answer, as a
    // connection that has not chosen its protocol yet (spec/server.md §2).
    socket.destroy();
    return;
  }
  const status =
    error.code === 'HPE_HEADER_OVERFLOW'
      ? 431
      : error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
        ? 408
        : 400;
  const body = errorBody(status);
  writeRawResponse(socket, status, ['content-type', 'text/plain; charset=utf-8'], body);
  // An exchange in flight logs its own line when it ends (aborted).
  if (!inFlight) log?.(status, body);
}

/**
 * The request in flight broke its own body (bad chunked framing, trailers over the limit):
 * its response has not begun and its body was not complete. It is answered like a malformed
 * head (spec/http1.md [h1-body-invalid]), and the connection closes; the app's stream gets
 * `close` 8 with it.
 */
function bodyUnanswered(inFlight: unknown): boolean {
  const res = inFlight as { headersSent?: boolean; req?: { complete?: boolean } };
  return res.headersSent === false && res.req?.complete === false;
}
