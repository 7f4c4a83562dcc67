import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { WebSocket, WebSocketServer } from 'ws';
import { chunkLength } from '../../core/connection.js';
import { ERR } from '../../core/errors.js';
import { WS_CODE, type WsAcceptEvent } from '../../core/events.js';
import { logger } from '../../core/log.js';
import { NO_PROTOCOLS, type StreamState } from '../../core/stream-state.js';
import { IndexedRoster } from '../../core/table.js';
import { assembleFragments, missingWsInternals } from './websocket-fragments.js';
import { plainSession, writeWhole } from './websocket-frame.js';
import { wsModule } from './ws-module.js';

/** A `ws` session's socket, written to directly when the session is plain (`plainSession`). */
interface PlainSocket {
  _socket: Duplex;
}

/** Bytes of the session's output not yet written: a plain session's sender holds none. */
function unsent(stream: WebSocketStream, ws: WebSocket): number {
  return stream.wsPlain ? (ws as unknown as PlainSocket)._socket.writableLength : ws.bufferedAmount;
}

/**
 * A message as one frame in one write, as `writeWhole` answers; null where `ws` must send it
 * (a large payload, or a session that is not plain: Bun's ws).
 */
function writeFrame(
  stream: WebSocketStream,
  ws: WebSocket,
  data: Uint8Array | string,
  size: number,
): boolean | null {
  return stream.wsPlain ? writeWhole((ws as unknown as PlainSocket)._socket, data, size) : null;
}

/** Said once per process: this runtime's ws cannot hold fragments by bytes. */
let warnedFragments = false;

/** A connection that carries WebSocket sessions on some of its streams. */
export interface WebSocketHost<S extends StreamState> {
  /** A message arrived; returns false when input should pause. */
  wsMessage(stream: S, data: Uint8Array | string, size: number): boolean;
  /** The session closed, with the peer's code and reason or 1006. */
  wsClosed(stream: S, code: number, reason: string): void;
  /** Bytes of a sent message left the buffer. */
  wsFlushed(stream: S, bytes: number): void;
  /** Something threw while serving the connection: it alone is torn down (`Connection.fault`). */
  fault(error: unknown): void;
}

/** Options of the WebSocket driver (docs/server.md lists the defaults). */
export interface WebSocketOptions {
  /** Largest message accepted; a larger one closes the session with 1009. */
  maxMessageSize: number;
  /** Unsent bytes allowed per session; past it the session closes with 1008. */
  writeBufferLimit: number;
  /** Milliseconds between pings; a peer that misses a pong is dropped. 0 turns pings off. */
  pingInterval: number;
  /**
   * Origins whose pages may open WebSockets besides the server's own (SPEC.md §4.2):
   * `https://app.example`, `https://*.example` (any subdomain), `null`, or `*` for any.
   * Default: none, only the server's own origin.
   */
  allowedOrigins?: readonly string[];
}

const kSubprotocol = Symbol('rxgi.subprotocol');
const kHeaders = Symbol('rxgi.headers');
const kSession = Symbol('rxgi.session');

type UpgradeRequest = IncomingMessage & { [kSubprotocol]?: string | null; [kHeaders]?: string[] };
const kRoster = Symbol('rxgi.roster');
const kPongSent = Symbol('rxgi.pongSent');

/** What ws's own callback does when an automatic pong has been sent: one fewer pending. */
function pongSent(ws: WebSocket): void {
  (ws as unknown as { _pendingAutoPongs: number })._pendingAutoPongs--;
}

/**
 * A session's WebSocket, with the stream it runs on once attached, and its driver's roster of
 * sessions: on the prototype of the driver's own `SessionSocket` class, so no session holds it.
 */
type TrackedSocket = WebSocket & {
  [kSession]?: WebSocketStream;
  [kRoster]?: IndexedRoster<WebSocketStream>;
};

/**
 * Why ws closed a session itself (a protocol error, RFC 6455 §7.4.1), until its 'close' comes:
 * rare, so kept here rather than in every session.
 */
const failures = new WeakMap<WebSocket, { code: number; reason: string }>();

/**
 * The WebSocket of every session: ws's own, whose events go straight to the listeners every
 * session shares, by `emit` on the prototype. Listeners put on each session with `on` would
 * cost its event table a dictionary entry each (about 100 bytes for the four, for as long as
 * the session is open). Events that come before the session is attached, and any other event,
 * take ws's usual way.
 *
 * ws also makes each session a callback for the pongs it sends on its own
 * (`_autoPongComplete`, a closure and its context: 96 bytes an idle session holds); here it is
 * made at the first ping, where the session first needs it (see `pongSent`).
 */
function makeSessionSocket() {
  return class SessionSocket extends wsModule().WebSocket {
    /** The callback of ws's automatic pongs (ws 8.18+: it counts those not yet sent). */
    get _autoPongComplete(): () => void {
      const self = this as WebSocket & { [kPongSent]?: () => void };
      self[kPongSent] ??= () => pongSent(self);
      return self[kPongSent];
    }
    /** ws's constructor gives it one made for this session: it is not kept. */
    set _autoPongComplete(_made: () => void) {}

    override emit(event: string | symbol, a?: unknown, b?: unknown): boolean {
      const self = this as TrackedSocket;
      // ws emits at most two arguments with any event.
      if (self[kSession] === undefined) return super.emit(event, a, b);
      switch (event) {
        case 'message':
          onMessage.call(self, a as Buffer, b as boolean);
          return true;
        case 'pong':
          onPong.call(self);
          return true;
        case 'error':
          onError.call(self, a as Error);
          return true;
        case 'close':
          onClose.call(self, a as number, b as Buffer);
          return true;
        default:
          return super.emit(event, a, b);
      }
    }
  };
}

type SessionSocketClass = ReturnType<typeof makeSessionSocket>;
/** The class, made at the first session (see `wsModule`). */
let SessionSocket: SessionSocketClass | null = null;

type ServerSession = new (address: null, protocols: undefined, options: object) => WebSocket;
type SetSocket = (
  socket: Duplex,
  head: Buffer,
  options: {
    maxPayload: number;
    maxFragments: number;
    skipUTF8Validation: boolean;
    allowSynchronousEvents: boolean;
  },
) => void;

/**
 * The state a WebSocket stream keeps on top of the common stream state. The stream is its
 * session's record: the listeners every session shares reach it from the WebSocket, and it is
 * the member of the driver's roster (a record of its own per session cost 96 bytes for as long
 * as the session is open).
 */
export interface WebSocketStream extends StreamState {
  ws: WebSocket | null;
  /** The connection the stream is on: it hears of the session's messages and its close. */
  readonly host: WebSocketHost<WebSocketStream>;
  /** Its place in the driver's roster of sessions (see `IndexedRoster`). */
  wsIndex: number;
  /** A pong came since the last ping. */
  wsAlive: boolean;
  /** Bytes of messages written while the socket's buffer was full, granted back on drain. */
  wsPending: number;
  /** The socket's `'drain'` listener is on, put there at the first write it buffered. */
  wsDrainListener: boolean;
  /** Its session's frames may be written straight to its socket (`plainSession`). */
  wsPlain: boolean;
}

/** The close code ws sends for each of its protocol errors (RFC 6455 §7.4.1). */
const ERROR_CLOSE_CODES: Record<string, number> = {
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: WS_CODE.TOO_BIG,
  WS_ERR_INVALID_UTF8: WS_CODE.INVALID_PAYLOAD,
};

const KEY = /^[+/0-9A-Za-z]{22}==$/;

/**
 * Why a WebSocket handshake is invalid (RFC 6455 §4.2.1), or null when it is valid. Checked
 * before the app sees the request, so apps only ever see handshakes they can accept.
 */
export function handshakeProblem(
  method: string,
  key: string | undefined,
  version: string | undefined,
) {
  if (method !== 'GET') return 'a WebSocket handshake must use GET';
  if (key === undefined || !KEY.test(key)) return 'missing or invalid Sec-WebSocket-Key';
  if (version !== '13' && version !== '8') return 'missing or invalid Sec-WebSocket-Version';
  return null;
}

/** Parse the offered subprotocols of a `sec-websocket-protocol` value. */
export function parseSubprotocols(value: string | undefined): string[] {
  // The shared empty list: a session keeps what it was offered for as long as it is open.
  if (value === undefined) return NO_PROTOCOLS;
  const list: string[] = [];
  for (const part of value.split(',')) {
    const name = part.trim();
    if (name !== '') list.push(name);
  }
  return list;
}

/**
 * Which browser pages may open WebSockets (SPEC.md §4.2): a handshake whose `Origin` is not the
 * server's own (its host is not the request's authority) and matches no allowed pattern is
 * refused with 403 before the app sees it, against cross-site WebSocket hijacking. A handshake
 * without `Origin` comes from no browser page and is not checked.
 */
export class OriginPolicy {
  private readonly any: boolean;
  private readonly exact: Set<string>;
  private readonly suffixes: [scheme: string, suffix: string][];

  constructor(patterns: readonly string[] = []) {
    this.any = patterns.includes('*');
    this.exact = new Set();
    this.suffixes = [];
    for (const pattern of patterns) {
      const wild = /^([a-z][a-z0-9+.-]*:\/\/)\*(\.[^/]+)$/i.exec(pattern);
      if (wild !== null) this.suffixes.push([wild[1].toLowerCase(), wild[2].toLowerCase()]);
      else this.exact.add(pattern.toLowerCase());
    }
  }

  /** Why a handshake from `origin` to `authority` is refused, or null when it may go on. */
  refusal(origin: string | undefined, authority: string): string | null {
    if (origin === undefined || this.any) return null;
    const value = origin.toLowerCase();
    if (this.exact.has(value)) return null;
    if (value !== 'null' && (sameHost(value, authority) || this.suffixMatch(value))) return null;
    return `WebSocket connections from origin ${origin} are not allowed`;
  }

  private suffixMatch(origin: string): boolean {
    for (const [scheme, suffix] of this.suffixes) {
      if (origin.startsWith(scheme) && origin.endsWith(suffix)) return true;
    }
    return false;
  }
}

/** True when the serialized `origin`'s host and port are the request's `authority`. */
function sameHost(origin: string, authority: string): boolean {
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return false;
  }
  const port = url.port !== '' ? url.port : url.protocol === 'https:' ? '443' : '80';
  const mark = authority.lastIndexOf(':');
  const bracket = authority.lastIndexOf(']');
  const hasPort = mark > bracket;
  const host = (hasPort ? authority.slice(0, mark) : authority).toLowerCase();
  const theirs = hasPort ? authority.slice(mark + 1) : port;
  return url.hostname === host && port === theirs;
}

/**
 * The WebSocket driver: completes handshakes the app accepted, with `ws` in noServer mode, and
 * moves messages between sessions and their connection's event stream.
 */
export class WebSocketDriver {
  /** ws's server and the class of this driver's sessions, made at the first session. */
  private made: { server: WebSocketServer; Socket: SessionSocketClass; byBytes: boolean } | null =
    null;
  private readonly timer: NodeJS.Timeout | null;
  /** Open sessions of every connection, for pings. */
  private readonly sessions = new IndexedRoster<WebSocketStream>('wsIndex');
  /** Which pages may open sessions. */
  readonly origins: OriginPolicy;

  constructor(readonly options: WebSocketOptions) {
    this.origins = new OriginPolicy(options.allowedOrigins);
    this.timer =
      options.pingInterval > 0 ? setInterval(() => this.ping(), options.pingInterval) : null;
    this.timer?.unref();
  }

  /**
   * ws's server in noServer mode, and the class of this driver's sessions: a `SessionSocket`
   * whose prototype holds `sessions` (`kRoster`). Made at the first session, when `ws` loads
   * (`wsModule`). `byBytes`: ws's receiver can be taken over, so fragments are held by bytes
   * (websocket-fragments.ts).
   */
  private started(): { server: WebSocketServer; Socket: SessionSocketClass; byBytes: boolean } {
    if (this.made !== null) return this.made;
    const missing = missingWsInternals();
    if (missing !== null && !warnedFragments) {
      warnedFragments = true;
      logger().warn(
        `this ws has no ${missing}: fragmented WebSocket messages keep its own limits, not maxMessageSize alone (spec/websocket.md)`,
      );
    }
    SessionSocket ??= makeSessionSocket();
    const Socket = class DriverSocket extends SessionSocket {};
    Object.defineProperty(Socket.prototype, kRoster, { value: this.sessions });
    const server = new (wsModule().WebSocketServer)({
      noServer: true,
      clientTracking: false,
      maxPayload: this.options.maxMessageSize,
      // Messages are limited by bytes, however split: websocket-fragments.ts holds the fragments.
      maxFragments: 0,
      perMessageDeflate: false,
      WebSocket: Socket,
      handleProtocols: (_offered, request) => (request as UpgradeRequest)[kSubprotocol] ?? false,
    });
    server.on('headers', (lines: string[], request: UpgradeRequest) => {
      const extra = request[kHeaders];
      if (extra === undefined) return;
      for (let i = 0; i < extra.length; i += 2) lines.push(`${extra[i]}: ${extra[i + 1]}`);
    });
    this.made = { server, Socket, byBytes: missing === null };
    return this.made;
  }

  /** Complete the handshake of `request` as the app's `ws-accept` says. */
  accept(
    stream: WebSocketStream,
    request: IncomingMessage,
    socket: Duplex,
    head: Buffer,
    event: WsAcceptEvent,
  ): void {
    const upgrade = request as UpgradeRequest;
    upgrade[kSubprotocol] = event.subprotocol;
    upgrade[kHeaders] = event.headers;
    this.started().server.handleUpgrade(request, socket, head, (ws) => this.attach(stream, ws));
  }

  /**
   * Run a session on a stream that already carries WebSocket frames: an HTTP/2 stream after an
   * extended CONNECT (RFC 8441 §5), which has no HTTP/1.1 handshake for `ws` to complete.
   */
  adopt(stream: WebSocketStream, duplex: Duplex): void {
    // `new WebSocket(null)` is ws's server-side session (ws's own server does the same).
    const ws = new (this.started().Socket as unknown as ServerSession)(null, undefined, {
      maxPayload: this.options.maxMessageSize,
      // What ws's own server passes: pongs answered, and a close handshake given 30 s
      // (without it ws cuts the stream about 1 ms after its close frame, RFC 6455 §7.1.1).
      autoPong: true,
      closeTimeout: 30_000,
    });
    // `setSocket` is how ws's own server starts a session on a socket it has upgraded.
    (ws as unknown as { setSocket: SetSocket }).setSocket(duplex, Buffer.alloc(0), {
      maxPayload: this.options.maxMessageSize,
      maxFragments: 0,
      skipUTF8Validation: false,
      allowSynchronousEvents: true,
    });
    this.attach(stream, ws);
  }

  /** Run a session on an open `ws` WebSocket. */
  attach(stream: WebSocketStream, ws: WebSocket): void {
    if (this.started().byBytes) assembleFragments(ws);
    shareNoExtensions(ws);
    stream.ws = ws;
    stream.wsAlive = true;
    stream.wsPlain = plainSession(ws);
    (ws as TrackedSocket)[kSession] = stream;
    this.sessions.add(stream);
    ws.binaryType = 'nodebuffer';
    // A SessionSocket hands its events to the shared listeners itself; another WebSocket gets
    // them as listeners.
    if (SessionSocket === null || !(ws instanceof SessionSocket)) {
      (ws as TrackedSocket)[kRoster] = this.sessions;
      ws.on('message', onMessage);
      ws.on('pong', onPong);
      ws.on('error', onError);
      ws.on('close', onClose);
    }
    if (stream.credit <= 0) ws.pause();
  }

  /** Send one message; closes the session with 1008 when the client does not keep up. */
  send(stream: WebSocketStream, data: Uint8Array | string) {
    const ws = stream.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return true;
    if (unsent(stream, ws) > this.options.writeBufferLimit) {
      logger().warn('websocket write buffer full; closing the session', { stream: stream.id });
      return false;
    }
    const size = chunkLength(data);
    const taken = writeFrame(stream, ws, data, size);
    // Credit as SPEC.md §5.2 counts it: a write the socket took without buffering is gone now,
    // one it buffered at the socket's next 'drain' (no callback per message).
    if (taken === true) stream.host.wsFlushed(stream, size);
    else if (taken === false) this.owe(stream, size);
    else {
      ws.send(data, { binary: typeof data !== 'string' }, (error) => {
        if (error !== undefined && error !== null) return;
        try {
          stream.host.wsFlushed(stream, size);
        } catch (failure) {
          stream.host.fault(failure);
        }
      });
    }
    return true;
  }

  /**
   * Send a group's message on the app's behalf (a `join` with `forward`): counted as nobody's
   * output, so no credit comes back for it. False, having sent nothing, while more than `limit`
   * bytes wait unsent; a session that is closing loses it, as it would lose its inbox.
   */
  forward(stream: WebSocketStream, data: Uint8Array | string, limit: number): boolean {
    const ws = stream.ws;
    if (ws === null || ws.readyState !== ws.OPEN) return true;
    if (unsent(stream, ws) > limit) return false;
    if (writeFrame(stream, ws, data, chunkLength(data)) === null) {
      ws.send(data, { binary: typeof data !== 'string' });
    }
    return true;
  }

  /** `size` bytes wait in the session's socket buffer: grant them back at its next 'drain'. */
  private owe(stream: WebSocketStream, size: number): void {
    stream.wsPending += size;
    if (stream.wsDrainListener || stream.ws === null) return;
    stream.wsDrainListener = true;
    const ws = stream.ws as unknown as { _socket: Duplex };
    ws._socket.on('drain', () => {
      const bytes = stream.wsPending;
      stream.wsPending = 0;
      if (bytes === 0 || stream.ws === null) return;
      try {
        stream.host.wsFlushed(stream, bytes);
      } catch (failure) {
        stream.host.fault(failure);
      }
    });
  }

  /** Close a session with a close frame; an invalid code becomes 1011, a long reason is cut. */
  close(stream: WebSocketStream, code: number, reason: string): void {
    const ws = stream.ws;
    if (ws === null) return;
    try {
      ws.close(code, fitReason(reason));
    } catch {
      ws.close(WS_CODE.INTERNAL_ERROR, 'invalid close code');
    }
    // The peer's close frame is read whatever credit the app left (spec/websocket.md
    // [ws-close-own]); the messages before it go nowhere (`onMessage`).
    ws.resume();
  }

  /** Stop pinging; open sessions are closed by their connections. */
  dispose(): void {
    if (this.timer !== null) clearInterval(this.timer);
  }

  private ping(): void {
    for (const session of this.sessions) {
      const ws = session.ws;
      if (ws === null) continue;
      // A timer's callback: a throw here would end the process and every session's pings. The
      // session is cut; its connection hears of it by the session's 'close'.
      try {
        if (!session.wsAlive) {
          ws.terminate();
          continue;
        }
        session.wsAlive = false;
        ws.ping();
      } catch (error) {
        logger().error('internal error; closing the WebSocket session', {
          code: ERR.INTERNAL,
          error,
        });
        ws.terminate();
      }
    }
  }
}

/** The extensions of every session that negotiated none: the driver offers none. */
const NO_EXTENSIONS = Object.freeze({});

/** What `shareNoExtensions` reads of ws's session (ws 8's `WebSocket`, `Receiver`, `Sender`). */
interface ExtensionTables {
  _extensions?: object;
  _receiver?: { _extensions?: object } | null;
  _sender?: { _extensions?: object } | null;
}

/**
 * ws gives each session an empty table of its negotiated extensions, shared by its receiver
 * and sender, which only read it once the handshake is done: 56 bytes an idle session holds.
 * With none negotiated they all read one frozen empty table instead. Where ws's fields are not
 * what they were, the session keeps its own.
 */
function shareNoExtensions(ws: WebSocket): void {
  const session = ws as unknown as ExtensionTables;
  const own = session._extensions;
  const receiver = session._receiver;
  const sender = session._sender;
  if (own === undefined || receiver == null || sender == null) return;
  if (receiver._extensions !== own || sender._extensions !== own) return;
  if (Object.keys(own).length > 0) return;
  session._extensions = NO_EXTENSIONS;
  receiver._extensions = NO_EXTENSIONS;
  sender._extensions = NO_EXTENSIONS;
}

// The listeners of every session, `this` its WebSocket (see `WebSocketStream`).
function onMessage(this: TrackedSocket, data: Buffer, isBinary: boolean): void {
  // A session the server closed reads on only for the peer's close frame.
  if (this.readyState !== this.OPEN) return;
  const stream = this[kSession]!;
  const host = stream.host;
  const message = isBinary ? data : data.toString('utf8');
  try {
    if (!host.wsMessage(stream, message, data.byteLength)) this.pause();
  } catch (error) {
    host.fault(error);
  }
}
function onPong(this: TrackedSocket): void {
  this[kSession]!.wsAlive = true;
}
function onError(this: TrackedSocket, error: Error & { code?: string }): void {
  // ws closes the session itself (1002, 1007, 1009) and stops reading, so the peer's close
  // frame is never seen: the app is told the code ws closed with.
  failures.set(this, { code: ERROR_CLOSE_CODES[error.code ?? ''] ?? 1002, reason: error.message });
  logger().debug('websocket protocol error', { stream: this[kSession]!.id, error: error.message });
}
function onClose(this: TrackedSocket, code: number, reason: Buffer): void {
  const stream = this[kSession]!;
  const host = stream.host;
  const failure = failures.get(this) ?? null;
  stream.ws = null;
  this[kRoster]!.delete(stream);
  try {
    if (failure !== null && code === WS_CODE.ABNORMAL)
      host.wsClosed(stream, failure.code, failure.reason);
    else host.wsClosed(stream, code, reason.toString('utf8'));
  } catch (error) {
    host.fault(error);
  }
}

/** What the body clock reads of ws's frame parser (ws 8's `Receiver`). */
interface ReceiverState {
  _bufferedBytes?: number;
  _fragmented?: number;
  _totalPayloadLength?: number;
  /** 0 waits for a frame; 1 to 4 are inside one (its length, mask or payload). */
  _state?: number;
}

/**
 * A count that changes as the bytes of a message arrive, or -1 while no message is under way
 * (between messages a silent peer is idle, not slow: pings watch it). It reads ws's parser,
 * whose fields are private: where they are not what they were, it says -1 and the clock rests.
 */
export function wsInputProgress(ws: WebSocket): number {
  const receiver = (ws as unknown as { _receiver?: ReceiverState | null })._receiver;
  if (receiver === null || receiver === undefined) return -1;
  const buffered = receiver._bufferedBytes;
  const message = receiver._totalPayloadLength;
  if (typeof buffered !== 'number' || typeof message !== 'number') return -1;
  const state = receiver._state ?? 0;
  const inFrame = state >= 1 && state <= 4;
  if (buffered === 0 && receiver._fragmented === 0 && !inFrame) return -1;
  return buffered + message;
}

/** A close frame's reason holds 123 bytes of UTF-8 (RFC 6455 §5.5): a longer one is cut there. */
function fitReason(reason: string): string {
  if (reason.length <= MAX_REASON / 3 || Buffer.byteLength(reason) <= MAX_REASON) return reason;
  // Cut at a character boundary: a partial character at the end is dropped with the rest.
  const bytes = Buffer.from(reason).subarray(0, MAX_REASON + 1);
  let end = MAX_REASON;
  while (end > 0 && (bytes[end] & 0xc0) === 0x80) end--;
  return bytes.subarray(0, end).toString();
}
const MAX_REASON = 123;
