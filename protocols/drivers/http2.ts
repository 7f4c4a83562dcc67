import {
  constants,
  type Http2Server,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { types } from 'node:util';
import type { App, ConnectionInfo } from '../../core/app.js';
import { chunkLength } from '../../core/connection.js';
import {
  type Capabilities,
  type Chunk,
  type DataOutEvent,
  type EarlyHintsEvent,
  type HeaderList,
  INITIAL_WINDOW,
  type PushEvent,
  type RequestEvent,
  type ResponseEvent,
  type TrailersOutEvent,
  type WsAcceptEvent,
  type WsMessageOutEvent,
} from '../../core/events.js';
import { assertPairs, getHeader, lowerNames } from '../../core/headers.js';
import type { Hub } from '../../core/hub.js';
import { logger } from '../../core/log.js';
import { errorBody } from '../../core/status.js';
import { NO_PROTOCOLS } from '../../core/stream-state.js';
import { IndexedRoster } from '../../core/table.js';
import type { Clock, TimeLimits } from './clock.js';
import { type HeldStream, keepProtocolErrors, SessionMemory } from './http2-guard.js';
import { unchainStreams } from './http2-streams.js';
import { lingerAfterEnd } from './linger.js';
import { NodeConnection, NodeStream, socketInfo } from './node-connection.js';
import { type OutputClock, outputStalled } from './send-clock.js';
import { parseSubprotocols, type WebSocketDriver } from './websocket.js';

/** Options of the HTTP/2 driver (docs/server.md lists the defaults). */
export interface Http2Options {
  maxBodySize: number;
  /** Most regular header fields in a request; more get 431. */
  maxHeaderFields: number;
  writeBufferLimit: number;
  /** Milliseconds a connection with no open stream stays open. */
  idleTimeout: number;
  /** MiB a session may hold in JS (and node:http2 in nghttp2); over it new streams are refused. */
  maxSessionMemory: number;
  websocket: WebSocketDriver;
  /** One info line per exchange, its own answers included (docs/server.md). Default off. */
  accessLog?: boolean;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
  /** The clock of the head, body and send time limits (spec/server.md §2); none without it. */
  clock?: Clock;
}

const CAPS_PUSH: Capabilities = { push: true, trailers: true, earlyHints: true, websocket: true };
const CAPS: Capabilities = { push: false, trailers: true, earlyHints: true, websocket: true };
const END_STREAM = constants.NGHTTP2_FLAG_END_STREAM;
const COLON = 0x3a;
/** The most pseudo-fields a request carries: `:method`, `:scheme`, `:path`, `:authority`, `:protocol`. */
export const H2_PSEUDO_FIELDS = 5;
/** `parseH2Head`'s answer to a WebSocket of a version other than 13: 400 and the version. */
const WS_VERSION_REFUSED = -1;
/** node's stream buffer allowance per stream at a sweep: the largest default high-water mark. */
const SWEEP_ALLOWANCE = 65_536;
/** RFC 9113 §6.9.2: a stream's flow-control window until SETTINGS say otherwise. */
const DEFAULT_WINDOW = 65_535;
/** Unread body bytes dropped after a complete response before the client is told to stop. */
const DISCARD_LIMIT = 64 * 1024;
// Options of `respond`, made once: node copies them.
const RESPOND_END = Object.freeze({ endStream: true });
const RESPOND_STREAMED = Object.freeze({ waitForTrailers: true });

// RFC 9113 §8.2.2: connection-specific fields must not appear in HTTP/2; apps written for
// HTTP/1.1 may still send them, so they are dropped rather than failing the stream.
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'transfer-encoding',
  'upgrade',
]);

/** One HTTP/2 stream: an exchange, a pushed response, or a WebSocket (RFC 8441). */
class H2Stream extends NodeStream implements HeldStream {
  /** The response carries no body (HEAD, 204, 304): body events are dropped. */
  bodiless = false;
  /** Body bytes the app was given and has not returned (SessionMemory). */
  held = 0;
  peak = 0;
  /** Request trailers, once they arrived. */
  trailers: HeaderList | null = null;

  constructor(
    id: number,
    caps: Capabilities,
    websocket: boolean,
    inEnded: boolean,
    readonly h2: ServerHttp2Stream,
    /** The request is a HEAD: its response has no body. */
    readonly head: boolean,
    /** The request's authority, which its pushes share. */
    readonly authority: string,
  ) {
    super(id, caps, websocket, inEnded);
  }

  /** The connection, which put itself on the node stream as it opened this one. */
  get host(): Http2Connection {
    return (this.h2 as OwnedStream)[kOwner]!;
  }
}

/** An HTTP/2 connection: all its concurrent streams multiplexed into one event stream. */
export class Http2Connection extends NodeConnection<H2Stream, Http2Options> {
  /** Its place in the driver's roster (see `IndexedRoster`). */
  rosterIndex = -1;
  /** What the session holds in JS, against `maxSessionMemory` (spec/http2.md §1). */
  private readonly memory: SessionMemory;
  protected override get resetOnTimeout(): boolean {
    return true;
  }
  /** When the session started, for its head clock. */
  private readonly startedAt = performance.now();
  /**
   * Streams complete on the app's side whose output still waits for the client: the app has
   * forgotten them, but their send clock runs on (spec/server.md §2). Made when first needed.
   */
  private tails: Tail[] | null = null;

  constructor(
    info: ConnectionInfo,
    readonly session: ServerHttp2Session,
    options: Http2Options,
    /** The session's socket (TLS or TCP), kept: node's session may lose hold of it. */
    private readonly socket: Socket,
  ) {
    super(info, options);
    this.memory = new SessionMemory(options.maxSessionMemory * 1024 * 1024);
  }

  /** Streams begun so far, and at the last idle sweep. */
  private begun = 0;
  private begunAtSweep = -1;
  /** A PING went out at the last sweep and has had no ACK. */
  private pinging = false;
  /** A PING that node cancels (it could not send it) counts as unanswered. */
  private readonly pong = (error: Error | null): void => {
    if (error === null) this.pinging = false;
  };

  /**
   * @internal The periodic sweep: close the session when it has been idle since the last one,
   * and destroy it when the PING sent at the last one is still unanswered. Every live client
   * answers a PING (RFC 9113 §6.7) whatever its streams do; one that does not is gone, or has
   * stopped reading, or node's session is dead: after a connection error node:http2 sends its
   * GOAWAY and stops reading (nghttp2 wants neither to read nor to write) but never closes the
   * socket, which RFC 9113 §5.4.1 requires, so the client's leaving goes unseen.
   */
  sweep(): void {
    if (this.session.destroyed) {
      // Destroyed a sweep ago or more, and node still holds the socket for a last write.
      cut(this.socket);
      return;
    }
    if (this.pinging) {
      logger().debug('http2 session did not answer a PING; destroying it', {
        connection: this.info.id,
      });
      // The socket goes too: node's session waits for its last write before it lets go of the
      // socket, and a write to a peer that is gone may never complete.
      this.session.destroy();
      cut(this.socket);
      return;
    }
    if (this.openStreams === 0 && this.begun === this.begunAtSweep) this.closeConnection();
    this.begunAtSweep = this.begun;
    const over = this.overMemory(SWEEP_ALLOWANCE);
    if (over && this.memory.overAtSweep) {
      // Over the limit for a whole sweep period: what it holds is not draining (a client that
      // does not read, say). GOAWAY ENHANCE_YOUR_CALM, and its streams end (RFC 9113 §5.4.1).
      logger().debug('http2 session over maxSessionMemory for a sweep period; closing it', {
        connection: this.info.id,
      });
      this.session.destroy(new Error('session memory'), constants.NGHTTP2_ENHANCE_YOUR_CALM);
      return;
    }
    this.memory.overAtSweep = over;
    if (this.session.destroyed) return;
    this.pinging = true;
    this.session.ping(this.pong);
  }

  /**
   * @internal One tick of the time limits (spec/server.md §2): a session that has opened no stream
   * within `headersTimeout` of its preface is destroyed, then each stream's clocks run.
   */
  tick(now: number, elapsed: number, limits: TimeLimits): void {
    const limit = limits.headersTimeout;
    if (this.begun === 0 && limit > 0 && now - this.startedAt >= limit) {
      logger().debug('http2 session sent no request head in time; destroying it', {
        connection: this.info.id,
      });
      this.session.destroy();
      cut(this.socket);
      return;
    }
    if (this.tails !== null) this.tails = sweepTails(this.tails, now, limits.sendTimeout);
    this.sweepStreams(now, elapsed, limits);
  }

  /**
   * @internal `h2` is ended: while more of its output waits than one flow-control window, which
   * only the client's WINDOW_UPDATEs can let out, its send clock runs. Less goes to the socket
   * whatever the client does with the stream (whose PINGs watch a client that reads nothing),
   * so a common response, whose body node is still writing here, costs nothing.
   */
  outputDone(h2: ServerHttp2Stream): void {
    const window = this.session.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW;
    if (h2.writableLength > window && this.options.clock !== undefined) {
      this.tails ??= [];
      this.tails.push({ h2, sendAt: 0, sendLow: 0 });
    }
  }

  /** A new stream from the client. */
  stream(h2: ServerHttp2Stream, fields: IncomingHttpHeaders, raw: string[], flags: number): void {
    this.begun++;
    // A client may reset a stream in the same packet as its HEADERS: node then tells of a stream
    // that is closed already (RST_STREAM with NO_ERROR, say, on a request with a body). Nobody
    // can receive its answer, so the app never sees it.
    if (gone(h2)) return;
    if (this.overMemory(h2.writableHighWaterMark)) {
      // Not processed, so safe for the client to retry (RFC 9113 §8.7); the app never sees it.
      h2.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const event = parseH2Head(raw, this.info, h2.id!, (flags & END_STREAM) !== 0, this.options);
    if (event === WS_VERSION_REFUSED) {
      respondStatus(h2, 400, { 'sec-websocket-version': '13' });
      this.refusedStream(fields, 400);
      return;
    }
    if (typeof event === 'number') {
      respondStatus(h2, event);
      this.refusedStream(fields, event);
      return;
    }
    if (event.websocket) {
      const origin = getHeader(event.headers, 'origin');
      if (this.options.websocket.origins.refusal(origin, event.authority) !== null) {
        respondStatus(h2, 403);
        this.refusedStream(fields, 403);
        return;
      }
    }
    // Push is offered only where the client allows it (SETTINGS_ENABLE_PUSH, RFC 9113 §6.5.2).
    if (this.session.remoteSettings.enablePush === true && !event.websocket) event.caps = CAPS_PUSH;
    const stream = new H2Stream(
      h2.id!,
      event.caps,
      event.websocket,
      event.end,
      h2,
      event.method === 'HEAD',
      event.authority,
    );
    stream.offered = event.subprotocols;
    (h2 as OwnedStream)[kOwner] = this;
    this.startCredit(event, h2);
    // A tunnel (RFC 9113 §8.5) carries another protocol, which may rest as long as it likes.
    stream.idleInput = event.method === 'CONNECT';
    if (!event.end && fields.expect?.toLowerCase() === '100-continue') stream.expectContinue = true;
    this.open(stream, event);
    this.track(stream);
  }

  /**
   * A client whose stream window is smaller than `INITIAL_WINDOW` less one buffer can take no
   * more than that window plus what node's buffer holds before it is full: the app starts with
   * that much credit (SPEC.md §5.2, spec/http2.md §2), not with output that would only wait.
   */
  private startCredit(event: RequestEvent, h2: ServerHttp2Stream): void {
    const window = this.session.remoteSettings.initialWindowSize ?? DEFAULT_WINDOW;
    const credit = window + h2.writableHighWaterMark;
    if (credit < INITIAL_WINDOW) event.window = credit;
  }

  /** The access line of a stream the driver refused (`respondStatus`) before the app saw it. */
  private refusedStream(fields: IncomingHttpHeaders, status: number): void {
    // RFC 8441 §4: an extended CONNECT is the WebSocket's GET, as the app would have seen it.
    const websocket = fields[':method'] === 'CONNECT' && fields[':protocol'] === 'websocket';
    const method = websocket ? 'GET' : fields[':method'];
    this.logRefused(method, fields[':path'], status, errorBody(status), websocket);
  }

  /**
   * Listen for what the peer does to a stream the app is still serving. A stream answered in
   * full during the app's first turn (most are) is done with, and needs no listener.
   */
  private track(stream: H2Stream): void {
    if (this.streamOf(stream.id) !== stream) return;
    const h2 = stream.h2;
    h2.on('close', onClose);
    if (!stream.inEnded) h2.on('trailers', onTrailers);
  }

  /** @internal The open stream a node stream carries, if it is still open. */
  find(h2: ServerHttp2Stream): H2Stream | undefined {
    const stream = this.streamOf(h2.id as number);
    return stream?.h2 === h2 ? stream : undefined;
  }

  /** Shutting down: WebSockets close with 1001 (or `code`), GOAWAY lets in-flight streams finish. */
  goAway(code = 1001, reason = 'server shutting down'): void {
    for (const stream of this.streamList()) {
      if (stream.wsOpen) this.serverClose(stream, code, reason);
    }
    if (!this.session.closed) this.session.close();
  }

  // --- Wire side -----------------------------------------------------------------------------

  protected writeResponse(stream: H2Stream, event: ResponseEvent): void {
    const h2 = stream.h2;
    if (gone(h2)) return;
    const headers = toH2Headers(event.status, event.headers);
    // node would add the Date field itself; added here, it costs less (see httpDate).
    if (headers.date === undefined) headers.date = httpDate();
    const body = event.body;
    stream.bodiless = stream.head || event.status === 204 || event.status === 304;
    if (event.end || stream.bodiless) {
      if (body !== undefined && headers['content-length'] === undefined) {
        headers['content-length'] = chunkLength(body);
      }
      if (body === undefined || stream.bodiless) {
        h2.respond(headers, RESPOND_END);
      } else {
        h2.respond(headers);
        h2.end(body);
        this.outputDone(h2);
      }
      return;
    }
    // A streamed body always ends through 'wantTrailers' (empty trailers go out as an empty
    // DATA frame with END_STREAM). That keeps END_STREAM back until the body really ends, so
    // an abort is a bare RST_STREAM that no client can take for a complete response.
    h2.respond(headers, RESPOND_STREAMED);
    if (body !== undefined) this.write(stream, body);
  }

  protected writeData(stream: H2Stream, event: DataOutEvent): void {
    const h2 = stream.h2;
    if (stream.bodiless || gone(h2)) return;
    if (chunkLength(event.chunk) > 0) this.write(stream, event.chunk);
    if (event.end) endStreamed(this, h2, null);
  }

  private write(stream: H2Stream, chunk: Chunk): void {
    const pending = stream.pending;
    this.writeCounted(stream, stream.h2, chunk, onDrain);
    if (stream.pending !== pending) this.memory.buffered(stream.pending - pending);
  }

  /** The session holds more in JS than `maxSessionMemory`; `allowance` is node's buffer per stream. */
  private overMemory(allowance: number): boolean {
    const memory = this.memory;
    return memory.near(this.streamCount, allowance) && memory.over(this.streamList());
  }

  override bodyData(stream: H2Stream, chunk: Buffer): void {
    this.memory.delivered(stream, chunk.byteLength);
    super.bodyData(stream, chunk);
  }

  override drained(stream: H2Stream): void {
    if (!stream.draining) return;
    this.memory.buffered(-stream.pending);
    super.drained(stream);
  }

  protected override granted(stream: H2Stream, bytes: number): void {
    this.memory.granted(stream, bytes);
  }

  protected override forget(stream: H2Stream): void {
    this.memory.release(stream);
    super.forget(stream);
  }

  protected writeTrailers(stream: H2Stream, event: TrailersOutEvent): void {
    const h2 = stream.h2;
    if (stream.bodiless || gone(h2)) return;
    const fields = toH2Headers(0, event.headers);
    delete fields[':status'];
    // node:http2 checks trailer names only when it sends them, in 'wantTrailers', where a throw
    // would end the process: they are checked here, as node:http checks them (SPEC.md §8.2).
    for (const name in fields) {
      if (!TOKEN.test(name)) {
        throw new TypeError(`Header name must be a valid HTTP token ["${name}"]`);
      }
      // What node:http2 refuses besides (RFC 9113 §8.2.2); the other such fields are dropped.
      if (name === 'http2-settings' || (name === 'te' && fields.te !== 'trailers')) {
        throw new TypeError(`HTTP/1 Connection specific headers are forbidden: "${name}"`);
      }
    }
    endStreamed(this, h2, fields);
  }

  protected writeEarlyHints(stream: H2Stream, event: EarlyHintsEvent): void {
    if (gone(stream.h2)) return;
    stream.h2.additionalHeaders(toH2Headers(103, event.headers));
  }

  protected writePush(stream: H2Stream, event: PushEvent): void {
    const h2 = stream.h2;
    if (gone(h2) || !h2.pushAllowed) {
      // The client turned push off after this stream began: degrade as if it never had it.
      this.degradePush(stream, event);
      return;
    }
    const request = toH2Headers(0, event.headers);
    delete request[':status'];
    request[':method'] = 'GET';
    request[':path'] = event.path;
    request[':scheme'] = this.info.secure ? 'https' : 'http';
    request[':authority'] = stream.authority;
    h2.pushStream(request, (error, pushed) => {
      if (error) {
        logger().debug('push failed', { path: event.path, error: error.message });
        return;
      }
      try {
        this.pushed(stream, pushed, event.path, event.headers);
      } catch (failure) {
        this.fault(failure);
      }
    });
  }

  /** A promised stream is open: its request enters the app like any other (SPEC.md §6). */
  private pushed(
    stream: H2Stream,
    pushed: ServerHttp2Stream,
    path: string,
    fields: HeaderList,
  ): void {
    pushed.on('error', onStreamError);
    if (gone(pushed)) return;
    const mark = path.indexOf('?');
    const promised = new H2Stream(pushed.id!, CAPS, false, true, pushed, false, stream.authority);
    (pushed as OwnedStream)[kOwner] = this;
    const event: RequestEvent = {
      type: 'request',
      stream: pushed.id!,
      method: 'GET',
      target: path,
      path: mark < 0 ? path : path.slice(0, mark),
      query: mark < 0 ? '' : path.slice(mark + 1),
      headers: lowerNames(fields),
      http: '2',
      scheme: this.info.secure ? 'https' : 'http',
      authority: stream.authority,
      client: this.info.client,
      server: this.info.server,
      caps: CAPS,
      websocket: false,
      subprotocols: NO_PROTOCOLS,
      end: true,
    };
    this.startCredit(event, pushed);
    this.open(promised, event);
    this.track(promised);
  }

  protected acceptWebSocket(stream: H2Stream, event: WsAcceptEvent): void {
    const headers = toH2Headers(200, event.headers);
    if (event.subprotocol !== null) headers['sec-websocket-protocol'] = event.subprotocol;
    // The client reset the stream while the app decided: nothing to open, and no session to
    // adopt it (ws would wait for a close that already happened).
    if (gone(stream.h2)) return;
    // RFC 8441 §5: a 2xx answer to the extended CONNECT opens the tunnel; no accept key.
    stream.h2.respond(headers);
    this.options.websocket.adopt(stream, stream.h2);
  }

  protected sendMessage(stream: H2Stream, event: WsMessageOutEvent): void {
    if (!this.options.websocket.send(stream, event.data)) {
      this.serverClose(stream, 1008, 'write buffer full');
    }
  }

  protected forwardMessage(stream: H2Stream, data: Uint8Array | string, limit: number): boolean {
    return this.options.websocket.forward(stream, data, limit);
  }

  protected closeWebSocket(stream: H2Stream, code: number, reason: string): void {
    this.options.websocket.close(stream, code, reason);
  }

  protected writeError(stream: H2Stream, status: number): void {
    const h2 = stream.h2;
    if (gone(h2)) return;
    if (h2.headersSent) {
      h2.close(constants.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    respondStatus(h2, status);
  }

  protected abort(stream: H2Stream, code: number): void {
    // HTTP/2 ends one exchange without touching its siblings (RFC 9113 §6.4).
    if (!gone(stream.h2)) stream.h2.close(code);
  }

  protected input(stream: H2Stream): ServerHttp2Stream {
    return stream.h2;
  }

  protected pendingOutput(stream: H2Stream): number {
    return gone(stream.h2) ? 0 : stream.h2.writableLength;
  }

  protected listen(_stream: H2Stream, h2: ServerHttp2Stream): void {
    h2.on('data', onData);
    h2.on('end', onEnd);
  }

  protected override writeContinue(stream: H2Stream): void {
    if (!gone(stream.h2)) stream.h2.additionalHeaders(CONTINUE);
  }

  protected override discardInput(stream: H2Stream): void {
    // The response is complete and nobody reads the rest of the body. A body about as large as
    // one window is likely on its way already: it is read and dropped, so the exchange ends
    // cleanly. Past that the client is asked to stop sending with RST_STREAM NO_ERROR (RFC 9113
    // §8.1), which node sends after the response's last frame.
    const h2 = stream.h2;
    h2.off('data', onData);
    let left = DISCARD_LIMIT;
    h2.on('data', (chunk: Buffer) => {
      left -= chunk.byteLength;
      if (left < 0 && !gone(h2)) h2.close(constants.NGHTTP2_NO_ERROR);
    });
    h2.resume();
  }

  protected closeConnection(): void {
    if (!this.session.closed) this.session.close();
  }

  protected override teardown(): void {
    // GOAWAY INTERNAL_ERROR (RFC 9113 §5.4.1), then the socket goes.
    if (this.session.destroyed) return;
    this.session.destroy(new Error('internal error'), constants.NGHTTP2_INTERNAL_ERROR);
  }

  /** @internal */
  bodyEnd(stream: H2Stream): void {
    // node ends the readable side of a stream the peer reset (RST_STREAM) too: that body was
    // cut short, not completed, and the app hears `close` instead (spec/http2.md §1).
    if (stream.h2.closed && stream.h2.rstCode !== constants.NGHTTP2_NO_ERROR) {
      this.closed(stream);
      return;
    }
    this.deliverEnd(stream, stream.trailers);
  }

  /** @internal */
  closed(stream: H2Stream): void {
    if (stream.ws !== null) return; // the session reports its own close
    this.peerClosed(stream, stream.h2.rstCode ?? constants.NGHTTP2_CANCEL, 'stream closed');
  }
}

/**
 * The listeners a connection puts on its node streams, made once per connection: each finds
 * its stream by id, so nothing is allocated per stream and node's objects are left as they are.
 */
// The listeners on a connection's node streams, shared by every stream of every connection:
// each finds its connection on the node stream (`kOwner`), rather than closures made per
// session (five of them, about 300 bytes an idle session kept). Each is a boundary (see
// Connection.fault): what throws in one stays in its connection.
const kOwner = Symbol('rxgi.owner');
type OwnedStream = ServerHttp2Stream & { [kOwner]?: Http2Connection };

/** Run `act` on the open stream `h2` carries, if any; what throws faults its connection. */
function withStream(
  h2: OwnedStream,
  act: (connection: Http2Connection, stream: H2Stream) => void,
): void {
  const connection = h2[kOwner];
  if (connection === undefined) return;
  try {
    const stream = connection.find(h2);
    if (stream !== undefined) act(connection, stream);
  } catch (error) {
    connection.fault(error);
  }
}
const bodyEnded = (connection: Http2Connection, stream: H2Stream) => connection.bodyEnd(stream);
const drained = (connection: Http2Connection, stream: H2Stream) => connection.drained(stream);
const closed = (connection: Http2Connection, stream: H2Stream) => connection.closed(stream);

// Per chunk: written out, with no closure for `withStream`.
function onData(this: OwnedStream, chunk: Buffer): void {
  const connection = this[kOwner];
  if (connection === undefined) return;
  try {
    const stream = connection.find(this);
    if (stream !== undefined) connection.bodyData(stream, chunk);
  } catch (error) {
    connection.fault(error);
  }
}
function onEnd(this: OwnedStream): void {
  withStream(this, bodyEnded);
}
function onTrailers(this: OwnedStream, _headers: unknown, _flags: number, raw: string[]): void {
  const stream = this[kOwner]?.find(this);
  if (stream !== undefined) stream.trailers = raw;
}
function onDrain(this: OwnedStream): void {
  withStream(this, drained);
}
function onClose(this: OwnedStream): void {
  withStream(this, closed);
}

/** The stream can take no more frames: the client reset it, or it ended and closed. */
function gone(h2: ServerHttp2Stream): boolean {
  return h2.closed || h2.destroyed;
}

function onStreamError(this: ServerHttp2Stream, error: Error): void {
  logger().debug('http2 stream error', { stream: this.id, error: error.message });
}

function sendNoTrailers(this: ServerHttp2Stream): void {
  if (!gone(this)) this.sendTrailers({});
}

/** End a streamed body (one that waits for trailers) with `fields`, or an empty section. */
function endStreamed(
  connection: Http2Connection,
  h2: ServerHttp2Stream,
  fields: OutgoingHttpHeaders | null,
): void {
  if (fields === null) h2.once('wantTrailers', sendNoTrailers);
  else
    h2.once('wantTrailers', () => {
      // A boundary: node calls this from its own event, where nothing else would catch.
      try {
        if (!gone(h2)) h2.sendTrailers(fields);
      } catch (error) {
        connection.fault(error);
      }
    });
  h2.end();
  connection.outputDone(h2);
}

/** A stream whose app side is over and whose output still waits: its send clock. */
interface Tail extends OutputClock {
  readonly h2: ServerHttp2Stream;
}

/**
 * One tick of the send clocks of `tails`: a stream whose client read none of its output for
 * `limit` ms is reset with CANCEL. Returns the streams still waiting, or null when none is.
 */
function sweepTails(tails: Tail[], now: number, limit: number): Tail[] | null {
  let kept = 0;
  for (const tail of tails) {
    const h2 = tail.h2;
    if (gone(h2) || h2.writableLength === 0) continue;
    if (outputStalled(tail, h2.writableLength, now, limit)) {
      logger().debug('client timed out', { stream: h2.id, why: 'read nothing' });
      h2.close(constants.NGHTTP2_CANCEL);
      continue;
    }
    tails[kept++] = tail;
  }
  tails.length = kept;
  return kept === 0 ? null : tails;
}

/** A field name (RFC 9110 §5.6.2 token), lower case as HTTP/2 wants (RFC 9113 §8.2.1). */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

/**
 * The request event of an HTTP/2 stream, from its raw header list (names are lower case on the
 * wire, RFC 9113 §8.2.1), or the status to refuse it with: 400 when a pseudo-header it needs is
 * missing or one comes after a regular field (RFC 9113 §8.3), 431 when it has more regular
 * fields than `maxHeaderFields`, 413 when its declared length is
 * past the body limit, `WS_VERSION_REFUSED` for a WebSocket of a version other than 13. An
 * extended CONNECT with `:protocol websocket` (RFC 8441 §4) becomes the same `request` a
 * WebSocket handshake over HTTP/1.1 makes: method GET, `websocket: true`.
 */
function parseH2Head(
  raw: string[],
  info: ConnectionInfo,
  id: number,
  end: boolean,
  options: Http2Options,
): RequestEvent | number {
  let method = '';
  let target = '';
  let authority = '';
  let protocol = '';
  // Pseudo-headers come first (nghttp2 resets a stream whose pseudo-headers do not).
  let i = 0;
  for (; i < raw.length && raw[i].charCodeAt(0) === COLON; i += 2) {
    const name = raw[i];
    const value = raw[i + 1];
    if (name === ':method') method = value;
    else if (name === ':path') target = value;
    else if (name === ':authority') authority = value;
    else if (name === ':protocol') protocol = value;
  }
  // node:http2 holds a few more than the limit (serve.ts), so that too many show here.
  if (raw.length - i > 2 * options.maxHeaderFields) return 431;
  const headers: HeaderList = raw.slice(i);
  let version: string | undefined;
  let offered: string | undefined;
  for (let j = 0; j < headers.length; j += 2) {
    const name = headers[j];
    if (name.charCodeAt(0) === COLON) return 400;
    if (name === 'content-length') {
      if (Number(headers[j + 1]) > options.maxBodySize) return 413;
    } else if (name === 'host') {
      if (authority === '') authority = headers[j + 1];
    } else if (name === 'sec-websocket-version') version = headers[j + 1];
    else if (name === 'sec-websocket-protocol') offered = headers[j + 1];
  }
  const websocket = method === 'CONNECT' && protocol === 'websocket';
  if (method === '' || (target === '' && method !== 'CONNECT')) return 400;
  if (websocket && version !== '13') return WS_VERSION_REFUSED;
  const mark = target.indexOf('?');
  return {
    type: 'request',
    stream: id,
    method: websocket ? 'GET' : method,
    // A plain CONNECT names an authority, not a path (RFC 9113 §8.5).
    target: method === 'CONNECT' && !websocket ? authority : target,
    path: mark < 0 ? target : target.slice(0, mark),
    query: mark < 0 ? '' : target.slice(mark + 1),
    headers,
    http: '2',
    // The connection says whether it is encrypted; a client's :scheme claim does not.
    scheme: info.secure ? 'https' : 'http',
    authority,
    client: info.client,
    server: info.server,
    caps: CAPS,
    websocket,
    subprotocols: websocket ? parseSubprotocols(offered) : NO_PROTOCOLS,
    end: websocket ? true : end,
  };
}

/** A 100 HEADERS frame (RFC 9113 §8.1). */
const CONTINUE = Object.freeze({ ':status': 100 });

/** What node:http refuses in a field value (RFC 9110 §5.5): controls other than tab, and DEL. */
const INVALID_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * Fields node:http2 refuses to repeat though they are lists or carry no single-value rule
 * (its `kSingleValueHeaders`, less the single-value fields `Connection` refuses for every
 * driver, SPEC.md §8.2): repeated, they are joined into one line, which RFC 9110 §5.3 makes
 * the same message, where HTTP/1.1 sends them as they were.
 */
const JOINED = new Set([
  'access-control-request-method',
  'authorization',
  'content-encoding',
  'content-language',
  'content-md5',
  'dnt',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'max-forwards',
  'proxy-authorization',
  'range',
  'referer',
  'tk',
  'upgrade-insecure-requests',
  'user-agent',
  'x-content-type-options',
]);

/** An HTTP/2 header object from a status and a header list; repeated names become arrays. */
function toH2Headers(status: number, list: HeaderList): OutgoingHttpHeaders {
  // node:http2 checks names but sends any value, and would drop a name without one; node:http
  // refuses both, and so does this driver (SPEC.md §8.2): the stream fails alike on both.
  assertPairs(list);
  const headers: OutgoingHttpHeaders = { ':status': status };
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i].toLowerCase();
    if (HOP_BY_HOP.has(name)) continue;
    const value = list[i + 1];
    if (typeof value === 'string' && INVALID_VALUE.test(value)) {
      throw new TypeError(`Invalid character in header content ["${name}"]`);
    }
    const seen = headers[name];
    if (seen === undefined) headers[name] = value;
    else if (JOINED.has(name)) headers[name] = `${seen}, ${value}`;
    else if (Array.isArray(seen)) seen.push(value);
    else headers[name] = [String(seen), value];
  }
  return headers;
}

let dateText: string | null = null;

/**
 * The Date field (RFC 9110 §6.6.1), made once a second as node makes its own; set here because
 * node:http2's own costs more (docs/internals.md, "The Date field on HTTP/2").
 */
function httpDate(): string {
  if (dateText === null) {
    const now = new Date();
    dateText = now.toUTCString();
    setTimeout(() => {
      dateText = null;
    }, 1000 - now.getMilliseconds()).unref();
  }
  return dateText;
}

function respondStatus(
  h2: ServerHttp2Stream,
  status: number,
  extra: OutgoingHttpHeaders = {},
): void {
  const body = errorBody(status);
  h2.respond({
    ':status': status,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': body.length,
    ...extra,
  });
  h2.end(body);
}

/** Destroy a session's socket, unless it is node's proxy of it, which refuses. */
function cut(socket: Socket): void {
  if (!socket.destroyed && !types.isProxy(socket)) socket.destroy();
}

const kConnection = Symbol('rxgi.connection');
type TaggedSession = ServerHttp2Session & { [kConnection]?: Http2Connection };

/** The HTTP/2 driver attached to a node:http2 server. */
export interface Http2Driver {
  /** The open connections. */
  readonly connections: IndexedRoster<Http2Connection>;
  /** Set by `drain`: a session that starts now gets GOAWAY at once. */
  readonly draining: boolean;
  /**
   * The server shuts down: new sessions get GOAWAY at once, and the sweep comes every second
   * at most, so that a dead session (one that misses a PING) does not hold shutdown.
   */
  drain(): void;
  /** Stop the sweep. */
  dispose(): void;
}

/** The longest sweep period while the server shuts down. */
const DRAIN_SWEEP = 1_000;

/**
 * The HTTP/2 driver: runs `app` on every session of a node:http2 server (which is fed sockets
 * by the listener: h2c by preface, h2 by ALPN).
 */
export function attachHttp2(server: Http2Server, app: App, options: Http2Options): Http2Driver {
  const live = new IndexedRoster<Http2Connection>('rosterIndex');
  // One 'close' listener for every session, made once: a closure per session, its `once`
  // wrapper and a roster entry cost an idle session some 300 bytes for as long as it is open.
  function closed(this: TaggedSession): void {
    const connection = this[kConnection];
    if (connection === undefined) return;
    this[kConnection] = undefined;
    live.delete(connection);
    try {
      connection.end();
    } catch (error) {
      connection.fault(error);
    }
  }
  const sweeper = sweepEvery(live, options.idleTimeout);
  options.clock?.onEachTick(live, (connection, now, elapsed, limits) =>
    connection.tick(now, elapsed, limits),
  );
  const driver: Http2Driver = {
    connections: live,
    draining: false,
    drain() {
      (this as { draining: boolean }).draining = true;
      sweeper.hurry();
    },
    dispose: () => sweeper.stop(),
  };
  // Streams are taken from the server, which node tells of every session's streams anyway: a
  // listener on each session would be a second one there, which costs every stream a copy of
  // the listener list. A session carries its connection until it closes.
  server.on('stream', onStream);
  // `session.socket` is a proxy that refuses `destroy`; the socket itself is taken as node's own
  // 'connection' listener receives it, which makes the session (and tells of it) at once.
  let arriving: Socket | null = null;
  server.prependListener('connection', (socket: Socket) => {
    arriving = socket;
  });
  server.on('session', (session: ServerHttp2Session) => {
    // The proxy is a fallback that cannot be destroyed: sweep then ends dead sessions alone.
    const socket = (arriving ?? session.socket) as Socket & { encrypted?: boolean };
    arriving = null;
    if (session.destroyed) return;
    unchainStreams(session);
    keepProtocolErrors(session);
    const connection = new Http2Connection(
      socketInfo('h2', 'h2', socket, socket.encrypted === true),
      session,
      options,
      socket,
    );
    (session as TaggedSession)[kConnection] = connection;
    // node ends the socket when the session is over, then waits for the client's FIN for good.
    lingerAfterEnd(socket);
    live.add(connection);
    session.on('error', onSessionError);
    session.on('close', closed);
    connection.start(app, options.hub);
    if (driver.draining) connection.goAway();
  });
  return driver;
}

/**
 * Idle sessions are found by a sweep, not by node's session timeout: that timer is re-armed on
 * every frame, a cost each request would pay. A session idle through one whole period (no
 * stream open, none started) is closed: after idleTimeout to 1.5 x idleTimeout. The sweep pings
 * every session too, and destroys one that did not answer the last PING. `hurry` makes it run
 * every second at most, while shutting down.
 */
function onSessionError(this: ServerHttp2Session, error: Error): void {
  logger().debug('http2 session error', { error: error.message });
}

function sweepEvery(live: Iterable<Http2Connection>, idleTimeout: number) {
  const sweepAll = () => {
    for (const connection of live) {
      try {
        connection.sweep();
      } catch (error) {
        connection.fault(error);
      }
    }
  };
  let timer = setInterval(sweepAll, idleTimeout / 2).unref();
  return {
    hurry() {
      clearInterval(timer);
      timer = setInterval(sweepAll, Math.min(idleTimeout / 2, DRAIN_SWEEP)).unref();
    },
    stop: () => clearInterval(timer),
  };
}

/** The server's one 'stream' listener: each stream goes to its session's connection. */
function onStream(
  stream: ServerHttp2Stream,
  fields: IncomingHttpHeaders,
  flags: number,
  raw: string[],
): void {
  // A stream error (a client's RST_STREAM with an error code among them) is only logged: it
  // closes that stream, and an 'error' event nobody listens to would end the process.
  stream.on('error', onStreamError);
  // node tells of a stream the client reset at once after it has torn the stream down, when
  // `stream.session` is gone already (RST_STREAM in the packet of its HEADERS).
  const connection = (stream.session as TaggedSession | undefined)?.[kConnection];
  if (connection === undefined) return;
  try {
    connection.stream(stream, fields, raw, flags);
  } catch (error) {
    connection.fault(error);
  }
}
