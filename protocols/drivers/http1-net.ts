/**
 * The HTTP/1.1 driver on node:net: rxgi reads each connection itself, with llhttp (the parser of
 * node:http, undici's WebAssembly build: llhttp.ts), and writes its responses itself, without
 * node:http's request, response and stream objects (docs/internals.md, "node:http's own
 * share"). What it answers, and when, is what spec/http1.md says of every HTTP/1.1 driver;
 * `serve` runs it unless told `http1: 'node:http'` or llhttp cannot load.
 *
 * One exchange at a time: a request pipelined behind one still being answered waits, unread,
 * until that answer is complete (RFC 9112 §9.3.2 asks answers in order; reading no further
 * bounds what a client can make the server hold).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { logRefusal } from '../../core/access-log.js';
import type { App, ConnectionInfo } from '../../core/app.js';
import { chunkLength, DRIVER_FREE_BIT } from '../../core/connection.js';
import { ERR, RxgiError } from '../../core/errors.js';
import type {
  Chunk,
  DataOutEvent,
  EarlyHintsEvent,
  RequestEvent,
  ResponseEvent,
  TrailersOutEvent,
  WsAcceptEvent,
} from '../../core/events.js';
import { assertPairs, getHeader, hasToken, lowerNames, withoutField } from '../../core/headers.js';
import { logger } from '../../core/log.js';
import { errorBody, statusText } from '../../core/status.js';
import { withBit } from '../../core/stream-state.js';
import { IndexedRoster } from '../../core/table.js';
import type { TimeLimits } from './clock.js';
import type { Http1Driver, Http1Options } from './http1.js';
import { parseHead, type RawHead } from './http1-head.js';
import { writeRawResponse } from './http1-response.js';
import { Http1Host, internFields, oneCloseListener } from './http1-upgrade.js';
import { endLingering, lingerAfterEnd } from './linger.js';
import { FAIL, LLHTTP, PAUSE, type ParserHandler, RequestParser } from './llhttp.js';
import {
  type BodyInput,
  NODE_STREAM_FREE_BIT,
  NodeStream,
  peerOf,
  socketInfo,
} from './node-connection.js';
import { type OutputClock, outputStalled } from './send-clock.js';
import { handshakeProblem, parseSubprotocols } from './websocket.js';

/** Options of the driver on node:net: those of the HTTP/1.1 driver, and node:http's two times. */
export interface Http1NetOptions extends Omit<Http1Options, 'roster' | 'mount'> {
  /** @internal The driver's roster of its connections (`attachHttp1Net` sets it). */
  roster?: IndexedRoster<NetConnection>;
  /** Milliseconds an idle keep-alive connection stays open (0: no limit). */
  keepAliveTimeout: number;
  /** Milliseconds a client has to send a request head, from its first byte (0: no limit). */
  headersTimeout: number;
}

const kConnection = Symbol('rxgi.connection');
type NetSocket = Socket & { [kConnection]?: NetConnection };

// A stream's own bits.
/** Its body goes out in chunks (RFC 9112 §7.1). */
const CHUNKED = NODE_STREAM_FREE_BIT;
/** Its response has no body on the wire (HEAD, 204, 304): body bytes are counted and dropped. */
const NO_BODY = NODE_STREAM_FREE_BIT << 1;
/** Its response head is on the socket: an error can no longer be answered. */
const HEAD_WRITTEN = NODE_STREAM_FREE_BIT << 2;
/** The connection closes after its response. */
const CLOSE_AFTER = NODE_STREAM_FREE_BIT << 3;
/** Its response is complete on the socket. */
const ANSWERED = NODE_STREAM_FREE_BIT << 4;
/** It is a HEAD request. */
const HEAD_METHOD = NODE_STREAM_FREE_BIT << 5;
/** The client speaks HTTP/1.0: no chunked encoding, and the end of the body closes. */
const HTTP10 = NODE_STREAM_FREE_BIT << 6;
/** Its request has been read to its end (or dropped). */
const READ = NODE_STREAM_FREE_BIT << 7;

// The connection's own bits.
/** The server is shutting down: answers close the connection. */
const DRAINING = DRIVER_FREE_BIT;
/** The socket carries a WebSocket session. */
const UPGRADED = DRIVER_FREE_BIT << 1;
/** The parser stopped (`pending` holds what it has not read) until the exchange allows more. */
const PARSE_PAUSED = DRIVER_FREE_BIT << 2;
/** The request in flight asks to keep the connection open after its answer. */
const KEEP_ALIVE = DRIVER_FREE_BIT << 3;
/** The request body is read, but nobody wants it: its bytes are dropped. */
const DISCARDING = DRIVER_FREE_BIT << 4;
/** The last head callback was a field name (its value has not begun). */
const FIELD_OPEN = DRIVER_FREE_BIT << 5;
/** The app runs (after the first request). */
const STARTED = DRIVER_FREE_BIT << 6;
/** The body in flight waits for the app's credit. */
const BODY_WAITS = DRIVER_FREE_BIT << 7;
/** A head is being read (its first byte has come). */
const IN_HEAD = DRIVER_FREE_BIT << 8;
/** The request in flight asked for an upgrade. */
const UPGRADE = DRIVER_FREE_BIT << 9;
/** No more requests are read on this connection. */
const NO_MORE = DRIVER_FREE_BIT << 10;
/** The socket is corked until the next tick (`writeBody`). */
const CORKED = DRIVER_FREE_BIT << 11;

/** An HTTP/1.1 exchange or WebSocket session on a connection of this driver. */
class NetStream extends NodeStream {
  /** The bytes that came after an upgrade request's head, until its handshake is answered. */
  upgradeHead: Buffer | null = null;

  constructor(
    id: number,
    event: RequestEvent,
    readonly connection: NetConnection,
  ) {
    super(id, event.caps, event.websocket, event.end);
  }

  get host(): NetConnection {
    return this.connection;
  }

  has(bit: number): boolean {
    return (this.flags & bit) !== 0;
  }

  set(bit: number, on = true): void {
    this.flags = withBit(this.flags, bit, on);
  }
}

/**
 * The HTTP-date of now (RFC 9110 §5.6.7) for the `date` field, made at most once a second as
 * node:http makes it.
 */
let dateText = '';
let dateUntil = 0;
function httpDate(): string {
  const now = Date.now();
  if (now >= dateUntil) {
    dateText = new Date(now).toUTCString();
    dateUntil = now - (now % 1000) + 1000;
  }
  return dateText;
}

/** A field name: a token (RFC 9110 §5.1). */
const TOKEN = /^[\^_`a-zA-Z\-0-9!#$%&'*+.|~]+$/;
/** What a field value must not hold (RFC 9110 §5.5): controls but HTAB, and DEL; text is latin1. */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;
/** Values and names found valid last: apps send the same ones again and again. */
let validName = '';
let validValue = '';
/** Field text outside ASCII: such a head is written as latin1 bytes (SPEC.md §3.1). */
const HIGH_BYTE = /[\x80-\xff]/;

/** Check a field the app wrote; throws as node:http would, and the stream fails with 500. */
function checkField(name: string, value: string): void {
  if (name !== validName) {
    if (!TOKEN.test(name)) throw badField(`invalid field name ${JSON.stringify(name)}`);
    validName = name;
  }
  if (value !== validValue) {
    if (BAD_VALUE.test(value)) throw badField(`invalid character in the value of field ${name}`);
    validValue = value;
  }
}

function badField(message: string): RxgiError {
  return new RxgiError(ERR.INVALID_EVENT, message);
}

/** Bytes of the status line, `date`, `connection` and `keep-alive` for the head-size checks. */
const CONTINUE = Buffer.from('HTTP/1.1 100 Continue\r\n\r\n');
const LAST_CHUNK = '0\r\n\r\n';

/**
 * One connection: its parser, the exchange in flight, and the WebSocket session it may carry.
 * It is the parser's handler, and the `RawHead` `parseHead` reads.
 */
export class NetConnection
  extends Http1Host<NetStream, Http1NetOptions>
  implements ParserHandler, RawHead, OutputClock, BodyInput
{
  private nextId = 1;
  /** The parser; null once the socket is a WebSocket's or closed. */
  private parser: RequestParser | null;
  /** The exchange whose request or response is in flight. */
  private active: NetStream | null = null;
  /** What was read and not parsed while the parser stood still. */
  private pending: Buffer | null = null;
  // The head being read.
  url = '';
  rawHeaders: string[] = [];
  /** The trailer fields of the body being read, names and values in turn. */
  private trailers: string[] | null = null;
  private headSize = 0;
  /** Body bytes dropped since the exchange's response was complete. */
  private discarded = 0;
  // The connection's phase for its time limits: a count that moves at each change of phase,
  // the count the clock saw last, and when it saw it change.
  private phase = 0;
  private phaseSeen = -1;
  private phaseAt = 0;
  // The socket's send clock (send-clock.ts).
  sendAt = 0;
  sendLow = 0;
  /** Its place in the driver's roster. */
  rosterIndex = -1;

  constructor(
    info: ConnectionInfo,
    readonly socket: NetSocket,
    options: Http1NetOptions,
    private readonly app: App,
  ) {
    super(info, options);
    this.parser = new RequestParser(this);
  }

  private has(bit: number): boolean {
    return (this.flags & bit) !== 0;
  }

  private set(bit: number, on = true): void {
    this.flags = withBit(this.flags, bit, on);
  }

  /** Set once the server is shutting down: answers close the connection. */
  get draining(): boolean {
    return this.has(DRAINING);
  }
  set draining(on: boolean) {
    this.set(DRAINING, on);
  }

  /** The socket was handed to a WebSocket session. */
  get upgraded(): boolean {
    return this.has(UPGRADED);
  }

  /** No exchange is in flight (a head may be part way): the connection may close now. */
  get idle(): boolean {
    return this.active === null && !this.upgraded;
  }

  // --- RawHead -------------------------------------------------------------------------------

  get method(): string {
    return (this.parser as RequestParser).method;
  }

  get httpVersionMajor(): number {
    return (this.parser as RequestParser).versionMajor;
  }

  get httpVersion(): string {
    const parser = this.parser as RequestParser;
    return `${parser.versionMajor}.${parser.versionMinor}`;
  }

  // --- Reading -------------------------------------------------------------------------------

  /** Bytes from the socket. */
  read(data: Buffer): void {
    if (this.has(NO_MORE) || this.parser === null) return;
    if (this.has(PARSE_PAUSED)) {
      // Only as the socket pauses: what it had read already.
      this.pending = this.pending === null ? data : Buffer.concat([this.pending, data]);
      return;
    }
    this.parse(data);
  }

  private parse(data: Buffer): void {
    const parser = this.parser as RequestParser;
    const code = parser.execute(data);
    // Stopped by the driver (an answer of its own, the last request): nothing more is read.
    if (code === LLHTTP.OK || this.has(NO_MORE)) return;
    const rest = data.subarray(parser.stoppedAt);
    switch (code) {
      case LLHTTP.PAUSED:
        this.set(PARSE_PAUSED);
        this.pending = rest.byteLength > 0 ? rest : null;
        this.socket.pause();
        return;
      case LLHTTP.PAUSED_UPGRADE:
        this.upgradeParsed(rest);
        return;
      case LLHTTP.PAUSED_H2_UPGRADE:
        this.prefaceParsed(rest);
        return;
      case LLHTTP.CLOSED_CONNECTION:
        // Bytes after a request that closes the connection: RFC 9112 §9.6 has them dropped.
        this.stopReading();
        return;
      default:
        this.parseFailed(parser.error.code);
    }
  }

  /** Read no more requests on this connection (what it sends from now on is dropped). */
  private stopReading(): void {
    this.set(NO_MORE);
    this.set(PARSE_PAUSED);
    this.pending = null;
  }

  /** Go on reading after a pause: now, or on the next tick when a parser runs. */
  private resumeParse(): void {
    if (!this.has(PARSE_PAUSED) || this.has(NO_MORE) || this.parser === null) return;
    if (this.has(BODY_WAITS)) return;
    if (RequestParser.busy) {
      process.nextTick(resumeLater, this);
      return;
    }
    this.set(PARSE_PAUSED, false);
    this.parser.resume();
    const pending = this.pending;
    this.pending = null;
    if (pending !== null) this.parse(pending);
    // The body's end may still be due (a pause right after its last byte).
    else this.parse(EMPTY);
    if (!this.has(PARSE_PAUSED)) this.socket.resume();
  }

  /** @internal `resumeParse` after the parser that ran has returned. */
  resumeLater(): void {
    try {
      this.resumeParse();
    } catch (error) {
      this.fault(error);
    }
  }

  // --- ParserHandler -------------------------------------------------------------------------

  onMessageBegin(): number {
    // What the last head held has been read into its request event by now.
    this.url = '';
    this.rawHeaders = [];
    this.trailers = null;
    this.headSize = 0;
    this.flags = (this.flags & ~(FIELD_OPEN | UPGRADE | DISCARDING)) | IN_HEAD;
    this.phase++;
    // A request pipelined behind one still in flight waits, unread, until its turn.
    return this.active !== null ? PAUSE : 0;
  }

  onUrl(text: string): number {
    this.url += text;
    return this.grow(text.length);
  }

  onHeaderField(text: string): number {
    if (!this.has(IN_HEAD)) this.trailers ??= [];
    const list = this.has(IN_HEAD) ? this.rawHeaders : (this.trailers as string[]);
    if (this.has(FIELD_OPEN)) list[list.length - 2] += text;
    else {
      list.push(text, '');
      this.set(FIELD_OPEN);
      const most = this.options.maxHeaderFields;
      if (list.length > (most + 1) * 2) {
        return this.tooLarge(`the request has more than ${most} header fields`);
      }
    }
    // `: ` and CRLF.
    return this.grow(text.length + 4);
  }

  onHeaderValue(text: string): number {
    const list = this.has(IN_HEAD) ? this.rawHeaders : (this.trailers as string[]);
    list[list.length - 1] += text;
    this.set(FIELD_OPEN, false);
    return this.grow(text.length);
  }

  /** Count head bytes; past the limit (with room for what parseHead counts), answer 431. */
  private grow(bytes: number): number {
    this.headSize += bytes;
    const most = this.options.maxHeaderSize;
    return this.headSize > most
      ? this.tooLarge(`the request head is larger than ${most} bytes`)
      : 0;
  }

  /** A head (or trailers) over the limits: 431, as `parseHead` answers it (spec/http1.md). */
  private tooLarge(reason: string): number {
    const stream = this.active;
    if (stream !== null && !this.has(IN_HEAD)) {
      // Trailers over the limit break the body in flight (spec/http1.md [h1-body-invalid]).
      this.bodyBroken(stream, 431);
    } else this.refuse(431, `${reason}\n`);
    return FAIL;
  }

  onHeadersComplete(upgrade: boolean, keepAlive: boolean): number {
    this.set(IN_HEAD, false);
    this.set(FIELD_OPEN, false);
    this.set(KEEP_ALIVE, keepAlive);
    this.set(UPGRADE, upgrade);
    // Trailers have a head's room of their own.
    this.headSize = 0;
    if (upgrade) {
      // llhttp stops after the head (PAUSED_UPGRADE): `upgradeParsed` serves it.
      return 0;
    }
    return this.request();
  }

  /** A complete head that is no upgrade: refuse it, or open its exchange. */
  private request(): number {
    if (!this.has(STARTED)) this.begin();
    const id = this.nextId++;
    const parsed = parseHead(this, this.info, this.options.websocket !== null, id, this.options);
    const { event, refusal } = parsed;
    if (refusal !== null) {
      this.refuse(refusal.status, `${refusal.reason}\n`, event.method, event.target);
      return FAIL;
    }
    if (parsed.length > this.options.maxBodySize) {
      this.refuse(413, errorBody(413), event.method, event.target);
      return FAIL;
    }
    const expect = parsed.expect;
    if (expect !== undefined && event.http === '1.1') {
      if (expect.toLowerCase() !== '100-continue') {
        this.refuse(417, errorBody(417), event.method, event.target);
        return FAIL;
      }
    }
    const stream = new NetStream(id, event, this);
    if (event.method === 'HEAD') stream.set(HEAD_METHOD);
    if (event.http === '1.0') stream.set(HTTP10);
    stream.expectContinue = expect !== undefined && event.http === '1.1';
    this.active = stream;
    this.phase++;
    this.open(stream, event);
    // A body waits for the app's credit (or is dropped once the answer is complete).
    if (!event.end && this.active === stream && !stream.reading && !this.has(DISCARDING)) {
      this.set(BODY_WAITS);
      return PAUSE;
    }
    return 0;
  }

  /** The first request: the connection gets its id and addresses, and the app starts. */
  private begin(): void {
    this.set(STARTED);
    const info = socketInfo('h1', 'http/1.1', this.socket, this.info.secure);
    this.info.id = info.id;
    this.info.client = info.client;
    this.info.server = info.server;
    this.start(this.app, this.options.hub);
  }

  onBody(chunk: Buffer): number {
    const stream = this.active;
    if (stream === null || this.has(DISCARDING) || stream.inEnded) {
      this.discarded += chunk.byteLength;
      if (this.discarded > this.options.maxBodySize) {
        // Not worth reading to keep the connection: it closes.
        this.stopReading();
        this.socket.destroy();
        return FAIL;
      }
      return 0;
    }
    this.bodyData(stream, chunk);
    return this.has(BODY_WAITS) ? PAUSE : 0;
  }

  onMessageComplete(): number {
    const stream = this.active;
    this.phase++;
    if (stream !== null && !stream.inEnded && !this.has(DISCARDING)) {
      const trailers = this.trailers;
      this.trailers = null;
      this.deliverEnd(
        stream,
        trailers !== null && trailers.length > 0 ? lowerNames(trailers) : null,
      );
    }
    this.set(DISCARDING, false);
    this.discarded = 0;
    if (this.has(UPGRADE)) return 0;
    if (stream !== null) {
      stream.set(READ);
      if (stream.has(ANSWERED)) this.exchangeDone(stream);
    }
    if (!this.has(KEEP_ALIVE)) {
      // The last request of this connection (`connection: close`, HTTP/1.0).
      this.set(NO_MORE);
      return PAUSE;
    }
    return 0;
  }

  // --- BodyInput (the reader of the body in flight) ------------------------------------------

  /** The app's credit is spent: read no further. */
  pause(): void {
    this.set(BODY_WAITS);
  }

  /** The app granted credit: read on. */
  resume(): void {
    this.set(BODY_WAITS, false);
    this.resumeParse();
  }

  protected input(_stream: NetStream): BodyInput {
    return this;
  }

  protected listen(_stream: NetStream, input: BodyInput): void {
    input.resume();
  }

  protected override discardInput(_stream: NetStream): void {
    this.set(DISCARDING);
    this.resume();
  }

  protected pendingOutput(): number {
    // The socket's own send clock covers every response (see `sweep`).
    return 0;
  }

  // --- Answers of the driver's own -----------------------------------------------------------

  /**
   * Answer a request the app never sees with `status` and close the connection (after a
   * response still going out).
   */
  private refuse(status: number, body: string, method?: string, target?: string): void {
    this.stopReading();
    this.set(IN_HEAD, false);
    if (this.active !== null) {
      // Bad bytes behind a request in flight: its answer goes out, and nothing else.
      this.set(KEEP_ALIVE, false);
      return;
    }
    if (this.socket.writableEnded) return;
    writeRawResponse(this.socket, status, TEXT_PLAIN, body);
    if (this.accessLog) {
      if (this.has(STARTED)) this.logRefused(method, target, status, body);
      else {
        // No request has given the connection its addresses yet.
        const client = peerOf(this.socket);
        logRefusal(
          { protocol: 'http/1.1', secure: this.info.secure, client },
          method,
          target,
          status,
          body,
        );
      }
    }
  }

  /** llhttp could not read what the client sent (SPEC.md §8): 400, then close. */
  private parseFailed(code: string): void {
    logger().debug('bad request', { code });
    const stream = this.active;
    if (stream !== null && !stream.inEnded) {
      // The body in flight broke its own framing (spec/http1.md [h1-body-invalid]).
      this.bodyBroken(stream, 400);
      return;
    }
    this.refuse(400, errorBody(400));
  }

  /**
   * The body in flight is broken (bad chunked framing, trailers over the limit): answered like
   * a bad head while its response has not begun, else cut; the app gets `close` 8 with it.
   */
  private bodyBroken(stream: NetStream, status: number): void {
    this.stopReading();
    this.set(KEEP_ALIVE, false);
    const code = status === 431 ? ERR.HEADERS_TOO_LARGE : ERR.BAD_BODY;
    const error = new RxgiError(code, 'the request body is malformed', status);
    // failStream answers before the head and aborts after it.
    this.failStream(stream, error, false, 8);
  }

  // --- Upgrades ------------------------------------------------------------------------------

  /** An upgrade request's head is read; `head` is what came after it. */
  private upgradeParsed(head: Buffer): void {
    this.stopReading();
    // What the client sends next waits in the socket for the session (or is never read).
    this.socket.pause();
    if (this.method === 'CONNECT') {
      // RFC 9110 §9.3.6 asks for a tunnel, which this driver does not offer (spec/http1.md).
      this.refuse(501, CONNECT_REFUSED, 'CONNECT', this.url);
      return;
    }
    const upgrade = getRawField(this.rawHeaders, 'upgrade');
    if (this.options.websocket === null || upgrade?.toLowerCase() !== 'websocket') {
      this.ignoreUpgrade(upgrade);
      return;
    }
    if (!this.has(STARTED)) this.begin();
    const id = this.nextId++;
    const { event, key, version, refusal } = parseHead(this, this.info, true, id, this.options);
    if (refusal !== null) {
      this.refuse(refusal.status, `${refusal.reason}\n`, event.method, event.target);
      return;
    }
    const problem = handshakeProblem(event.method, key, version);
    if (problem !== null) {
      this.refuseHandshake(event, 400, ['sec-websocket-version', '13'], problem);
      return;
    }
    const origin = getHeader(event.headers, 'origin');
    const foreign = this.options.websocket.origins.refusal(origin, event.authority);
    if (foreign !== null) {
      this.refuseHandshake(event, 403, ['content-type', 'text/plain'], foreign);
      return;
    }
    event.websocket = true;
    event.subprotocols = parseSubprotocols(getHeader(event.headers, 'sec-websocket-protocol'));
    internFields(event.headers);
    const stream = new NetStream(id, event, this);
    stream.upgradeHead = head;
    stream.offered = event.subprotocols;
    this.active = stream;
    this.phase++;
    this.open(stream, event);
  }

  private refuseHandshake(
    event: RequestEvent,
    status: number,
    headers: string[],
    reason: string,
  ): void {
    const body = `${reason}\n`;
    writeRawResponse(this.socket, status, headers, body);
    this.logRefused(event.method, event.target, status, body, true);
  }

  /**
   * RFC 9110 §7.8: a server may ignore an Upgrade it does not speak (curl --http2 asks for h2c
   * this way). The request is served, and the connection closes after it; one with a body is
   * answered 400, as the node:http driver answers it.
   */
  private ignoreUpgrade(upgrade: string | undefined): void {
    this.set(KEEP_ALIVE, false);
    this.set(UPGRADE, false);
    const length = getRawField(this.rawHeaders, 'content-length');
    if (
      (length !== undefined && Number(length) > 0) ||
      getRawField(this.rawHeaders, 'transfer-encoding') !== undefined
    ) {
      this.refuse(400, `Upgrade to ${upgrade} is not supported for a request with a body\n`);
      return;
    }
    this.request();
    this.active?.set(READ);
  }

  /** The connection opened with the HTTP/2 preface: it goes to node:http2, or is refused. */
  private prefaceParsed(rest: Buffer): void {
    const preface = this.options.preface;
    if (preface === undefined || this.has(STARTED)) {
      this.refuse(400, errorBody(400));
      return;
    }
    this.release();
    this.options.roster?.delete(this);
    const socket = this.socket;
    socket.pause();
    preface(socket, rest.byteLength === 0 ? PREFACE : Buffer.concat([PREFACE, rest]));
  }

  /** Let the socket go: the driver's listeners off, the parser freed. */
  private release(): void {
    const socket = this.socket;
    socket.removeListener('data', onData);
    socket.removeListener('end', onEnd);
    socket.removeListener('error', onError);
    socket.removeListener('close', onClose);
    socket.removeListener('drain', onDrain);
    socket[kConnection] = undefined;
    this.freeParser();
  }

  private freeParser(): void {
    this.parser?.free();
    this.parser = null;
    this.pending = null;
    this.rawHeaders = NO_FIELDS;
    this.url = '';
  }

  // --- The socket's own events ---------------------------------------------------------------

  /** The client ended its side. */
  clientEnded(): void {
    // A client that ends its side has gone (SPEC.md §8.3 [close-on-disconnect]), as node:http
    // takes it: its socket does not stay half open (the listener's default), node ends ours
    // once what was written has gone, and the exchanges in flight get `close` 8 as it closes.
    // What it sent and was not read yet is dropped.
    if (!this.upgraded) this.stopReading();
  }

  /** The socket closed. */
  closed(): void {
    this.freeParser();
    this.active = null;
    this.end();
  }

  override end(reason?: string): void {
    // A connection that never carried a request has no open line to close.
    if (!this.has(STARTED)) this.accessLog = false;
    super.end(reason);
    this.options.roster?.delete(this);
  }

  /** @internal One tick of the time limits (spec/server.md §2). */
  sweep(now: number, elapsed: number, limits: TimeLimits): void {
    const socket = this.socket;
    if (this.upgraded) {
      this.sweepStreams(now, elapsed, limits);
      return;
    }
    if (outputStalled(this, socket.writableLength, now, limits.sendTimeout)) {
      const why = `the client read nothing for ${limits.sendTimeout} ms`;
      for (const stream of this.streamList()) this.timedOut(stream, why);
      socket.destroy();
      return;
    }
    if (this.active === null) {
      // Waiting for a head: the head time once it has begun (or before the first), else the
      // keep-alive time.
      if (this.phase !== this.phaseSeen) {
        this.phaseSeen = this.phase;
        this.phaseAt = now;
        return;
      }
      const heading = this.has(IN_HEAD) || this.nextId === 1;
      const limit = heading ? limits.headersTimeout : this.options.keepAliveTimeout;
      if (limit <= 0 || now - this.phaseAt < limit) return;
      if (heading && socket.bytesRead > 0) this.refuse(408, errorBody(408));
      else socket.destroy();
      return;
    }
    this.sweepStreams(now, elapsed, limits);
  }

  // --- Writing -------------------------------------------------------------------------------

  protected writeResponse(stream: NetStream, event: ResponseEvent): void {
    if (stream.websocket) {
      // A denied WebSocket handshake: a complete answer, and the connection closes.
      const fields = event.headers;
      for (let i = 0; i < fields.length; i += 2) checkField(fields[i], fields[i + 1]);
      writeRawResponse(this.socket, event.status, fields, event.body ?? '', event.end);
      stream.set(HEAD_WRITTEN);
      return;
    }
    const status = event.status;
    const headers = event.headers;
    const body = event.body;
    let head = `HTTP/1.1 ${status} ${statusText(status)}\r\n`;
    let length = -1;
    let chunked = false;
    // A body the client waits to send (no 100 went out) may still come: the connection closes
    // rather than read it, as node:http closes it.
    let close =
      !this.has(KEEP_ALIVE) ||
      this.draining ||
      this.appFinished ||
      (stream.expectContinue && !stream.inEnded);
    let date = false;
    let latin1 = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i];
      const value = headers[i + 1];
      if (value === undefined) assertPairs(headers);
      checkField(name, value);
      if (!latin1 && value !== validAscii) {
        if (HIGH_BYTE.test(value)) latin1 = true;
        else validAscii = value;
      }
      switch (name.length) {
        case 4:
          if (name === 'date' || name.toLowerCase() === 'date') date = true;
          break;
        case 10:
          if (name === 'connection' || name.toLowerCase() === 'connection') {
            if (hasToken(value, 'close')) close = true;
            // The driver says what the connection does.
            continue;
          }
          if (name === 'keep-alive' || name.toLowerCase() === 'keep-alive') continue;
          break;
        case 14:
          if (name === 'content-length' || name.toLowerCase() === 'content-length') {
            length = Number(value);
          }
          break;
        case 17:
          if (name === 'transfer-encoding' || name.toLowerCase() === 'transfer-encoding') {
            // Only chunked is framing the driver writes; the app's own coding goes first.
            chunked = true;
            if (hasToken(value, 'chunked')) continue;
            head += `${name}: ${value}, chunked\r\n`;
            continue;
          }
          break;
      }
      head += `${name}: ${value}\r\n`;
    }
    const noBody =
      stream.has(HEAD_METHOD) ||
      status === 204 ||
      status === 304 ||
      (status >= 100 && status < 200);
    if (noBody) stream.set(NO_BODY);
    if (event.end) {
      if (length < 0 && !chunked) {
        const size = body !== undefined ? chunkLength(body) : noBody ? -1 : 0;
        if (size >= 0) head += `content-length: ${size}\r\n`;
      }
    } else if (length < 0 && !noBody) {
      // Trailers travel only with chunked encoding (SPEC.md §6), which HTTP/1.0 lacks: a body
      // of unknown length there ends with the connection.
      if (stream.has(HTTP10)) close = true;
      else chunked = true;
      if (chunked) head += 'Transfer-Encoding: chunked\r\n';
    } else if (
      length >= 0 &&
      event.trailers === true &&
      stream.caps.trailers &&
      !noBody &&
      !stream.has(HTTP10)
    ) {
      // The promised trailers win over the length (SPEC.md §6): the head goes again, chunked.
      this.writeResponse(stream, {
        ...event,
        headers: withoutField(headers, 'content-length'),
        end: false,
      });
      return;
    }
    if (chunked && !noBody) stream.set(CHUNKED);
    // After the length, as the node:http driver's heads have it (the app's fields, then
    // node's own).
    if (!date) head += `Date: ${httpDate()}\r\n`;
    if (close) {
      stream.set(CLOSE_AFTER);
      head += 'Connection: close\r\n\r\n';
    } else head += KEEP_ALIVE_FIELDS(this.options.keepAliveTimeout);
    stream.set(HEAD_WRITTEN);
    const socket = this.socket;
    if (event.end && chunked && !noBody) {
      // The app chose chunked encoding for a complete answer.
      socket.cork();
      socket.write(head, 'latin1');
      if (body !== undefined && chunkLength(body) > 0) this.writeBody(stream, body);
      socket.write(LAST_CHUNK);
      socket.uncork();
      this.answered(stream);
      return;
    }
    if (event.end) {
      if (body === undefined || noBody || chunkLength(body) === 0) socket.write(head, 'latin1');
      else if (typeof body === 'string' && !latin1) socket.write(head + body);
      else {
        socket.cork();
        socket.write(head, 'latin1');
        socket.write(body);
        socket.uncork();
      }
      this.answered(stream);
      return;
    }
    socket.write(head, 'latin1');
    if (body !== undefined && chunkLength(body) > 0) this.writeBody(stream, body);
  }

  protected writeData(stream: NetStream, event: DataOutEvent): void {
    if (stream.websocket) {
      // The body of a denied handshake's answer.
      const socket = this.socket;
      if (chunkLength(event.chunk) > 0) socket.write(event.chunk);
      if (event.end) endLingering(socket);
      return;
    }
    if (chunkLength(event.chunk) > 0) this.writeBody(stream, event.chunk);
    if (event.end) {
      if (stream.has(CHUNKED)) this.socket.write(LAST_CHUNK);
      this.answered(stream);
    }
  }

  /** Body bytes: framed when chunked, dropped where the response has no body. */
  private writeBody(stream: NetStream, chunk: Chunk): void {
    const size = chunkLength(chunk);
    if (stream.has(NO_BODY)) {
      this.flushed(stream, size);
      return;
    }
    const limit = this.options.writeBufferLimit;
    const socket = this.socket;
    if (socket.writableLength > limit) {
      const message = `the app wrote past the ${limit}-byte write buffer limit`;
      throw new RxgiError(ERR.WRITE_BUFFER_FULL, message);
    }
    // What a streamed body writes in one turn of the loop goes out in one system call, as
    // node:http's writes do: the socket is corked until the next tick.
    if (!this.has(CORKED)) {
      this.set(CORKED);
      socket.cork();
      process.nextTick(uncork, this);
    }
    let taken: boolean;
    if (stream.has(CHUNKED)) {
      socket.write(`${size.toString(16)}\r\n`);
      socket.write(chunk);
      taken = socket.write('\r\n');
    } else taken = socket.write(chunk);
    if (taken) {
      this.flushed(stream, size);
      return;
    }
    stream.pending += size;
    if (!stream.draining) {
      stream.draining = true;
      if (!stream.drainListener) {
        stream.drainListener = true;
        if (socket.listenerCount('drain') === 0) socket.on('drain', onDrain);
      }
    }
  }

  protected writeTrailers(stream: NetStream, event: TrailersOutEvent): void {
    assertPairs(event.headers);
    if (stream.has(CHUNKED)) {
      let last = '0\r\n';
      for (let i = 0; i < event.headers.length; i += 2) {
        checkField(event.headers[i], event.headers[i + 1]);
        last += `${event.headers[i]}: ${event.headers[i + 1]}\r\n`;
      }
      this.socket.write(`${last}\r\n`, 'latin1');
    }
    this.answered(stream);
  }

  protected writeEarlyHints(_stream: NetStream, event: EarlyHintsEvent): void {
    let head = 'HTTP/1.1 103 Early Hints\r\n';
    for (let i = 0; i < event.headers.length; i += 2) {
      checkField(event.headers[i], event.headers[i + 1]);
      head += `${event.headers[i]}: ${event.headers[i + 1]}\r\n`;
    }
    this.socket.write(`${head}\r\n`, 'latin1');
  }

  protected override writeContinue(stream: NetStream): void {
    if (!stream.has(HEAD_WRITTEN)) this.socket.write(CONTINUE);
  }

  protected writePush(): void {
    // Never called: HTTP/1.1 streams do not offer push, so pushes degrade (SPEC.md §6).
  }

  protected writeError(stream: NetStream, status: number): void {
    if (stream.has(HEAD_WRITTEN)) {
      this.socket.destroy();
      return;
    }
    stream.set(HEAD_WRITTEN);
    const body = errorBody(status);
    const close =
      stream.websocket ||
      !stream.inEnded ||
      !this.has(KEEP_ALIVE) ||
      this.draining ||
      this.appFinished ||
      this.has(NO_MORE);
    if (close) stream.set(CLOSE_AFTER);
    const head =
      `HTTP/1.1 ${status} ${statusText(status)}\r\n` +
      `content-type: text/plain; charset=utf-8\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
      `Date: ${httpDate()}\r\n` +
      (close ? 'Connection: close\r\n\r\n' : KEEP_ALIVE_FIELDS(this.options.keepAliveTimeout));
    this.socket.write(stream.has(HEAD_METHOD) ? head : head + body);
    this.answered(stream);
  }

  protected abort(_stream: NetStream): void {
    // HTTP/1.1 has no way to end one exchange early but to close the connection.
    this.socket.destroy();
  }

  /** The response is complete on the socket. */
  private answered(stream: NetStream): void {
    stream.set(ANSWERED);
    if (stream.has(CLOSE_AFTER) || this.has(NO_MORE)) {
      const clean = stream.inEnded && this.pending === null;
      this.stopReading();
      // A client whose request was read to its end has nothing more to send: the socket goes
      // once the answer is out, as node:http lets it go (a lingering socket, kept for a client
      // that may still be sending, cost ~500 bytes a connection more promoted to the old
      // generation). Otherwise a reset could discard the answer: it lingers.
      if (clean) this.socket.destroySoon();
      else endLingering(this.socket);
      return;
    }
    // The request may still be coming (the app answered before the body's end, or did not
    // read it): the next one waits for it.
    if (stream.has(READ)) this.exchangeDone(stream);
  }

  /** The exchange is over both ways: the connection waits for the next request. */
  private exchangeDone(stream: NetStream): void {
    if (this.active !== stream) return;
    this.active = null;
    this.phase++;
    // Not from inside the app's write: a pipelined request is read on the next tick.
    if (this.has(PARSE_PAUSED)) process.nextTick(resumeLater, this);
  }

  // --- WebSocket -----------------------------------------------------------------------------

  protected acceptWebSocket(stream: NetStream, event: WsAcceptEvent): void {
    const driver = this.options.websocket!;
    const socket = this.socket;
    this.set(UPGRADED);
    this.active = null;
    const head = stream.upgradeHead ?? EMPTY;
    stream.upgradeHead = null;
    const request = upgradeRequest(this);
    // From here the socket belongs to the session; its end is the connection's end.
    this.release();
    // ws ends the socket after the closing handshake: a client that then keeps its side open
    // has the bounded close of any socket the driver ends.
    lingerAfterEnd(socket);
    // Paused since the head (`upgradeParsed`). ws would not resume a socket paused on purpose;
    // its 'data' listener is on before this takes effect (on the next tick).
    socket.resume();
    // ws reads only these of node's request (its `handleUpgrade`).
    driver.accept(stream, request as unknown as IncomingMessage, socket, head, event);
    oneCloseListener(socket);
  }

  protected closeConnection(): void {
    if (this.socket.destroyed) return;
    if (this.active !== null && !this.active.has(ANSWERED)) {
      this.set(KEEP_ALIVE, false);
      return;
    }
    this.stopReading();
    endLingering(this.socket);
  }

  protected override teardown(): void {
    this.socket.destroy();
  }

  /** @internal The next tick after a body write: what was written goes out. */
  uncork(): void {
    this.set(CORKED, false);
    this.socket.uncork();
  }

  /** @internal The socket took what was waiting. */
  socketDrained(): void {
    const stream = this.active;
    if (stream !== null) this.drained(stream);
  }
}

const EMPTY = Buffer.alloc(0);
const TEXT_PLAIN = ['content-type', 'text/plain; charset=utf-8'];
const NO_FIELDS: string[] = [];
/** The HTTP/2 connection preface (RFC 9113 §3.4), which llhttp has read in full when it stops. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const CONNECT_REFUSED = 'CONNECT tunnels are not served over HTTP/1.1; use HTTP/2\n';
/** The last ASCII field value seen (`latin1` check). */
let validAscii = '';

let keepAliveFields = '';
let keepAliveFor = -1;
/** The end of a head that keeps the connection open, as node:http writes it. */
function KEEP_ALIVE_FIELDS(timeout: number): string {
  if (timeout !== keepAliveFor) {
    keepAliveFor = timeout;
    keepAliveFields =
      timeout > 0
        ? `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(timeout / 1000)}\r\n\r\n`
        : 'Connection: keep-alive\r\n\r\n';
  }
  return keepAliveFields;
}

/** A field of a raw head, by lower-case name. */
function getRawField(raw: string[], name: string): string | undefined {
  for (let i = 0; i < raw.length; i += 2) {
    if (raw[i].length === name.length && raw[i].toLowerCase() === name) return raw[i + 1];
  }
  return undefined;
}

/**
 * What `ws` reads of an upgrade request (`handleUpgrade`): its method, target and fields by
 * lower-case name, repeated ones joined as node:http joins them.
 */
function upgradeRequest(connection: NetConnection) {
  const headers: Record<string, string> = {};
  const raw = connection.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`;
  }
  return { method: 'GET', url: connection.url, headers };
}

// Listeners shared by every socket, so none is made per connection. Each is a boundary (see
// Connection.fault): what throws in one connection stays in it.
function onData(this: NetSocket, data: Buffer): void {
  const connection = this[kConnection];
  if (connection === undefined) return;
  try {
    connection.read(data);
  } catch (error) {
    connection.fault(error);
  }
}
function onEnd(this: NetSocket): void {
  const connection = this[kConnection];
  try {
    connection?.clientEnded();
  } catch (error) {
    connection?.fault(error);
  }
}
function onError(this: NetSocket, error: Error): void {
  logger().debug('connection failed', { error: error.message });
  this.destroy();
}
function onClose(this: NetSocket): void {
  const connection = this[kConnection];
  try {
    connection?.closed();
  } catch (error) {
    connection?.fault(error);
  }
}
function onDrain(this: NetSocket): void {
  const connection = this[kConnection];
  try {
    connection?.socketDrained();
  } catch (error) {
    connection?.fault(error);
  }
}
function resumeLater(connection: NetConnection): void {
  connection.resumeLater();
}
function uncork(connection: NetConnection): void {
  connection.uncork();
}

/** The HTTP/1.1 driver on node:net: call `accept` with each socket of the port. */
export interface Http1NetDriver extends Http1Driver {
  accept(socket: Socket): void;
}

/**
 * The HTTP/1.1 driver on node:net, for `serve`: runs `app` on every socket given to `accept`.
 * Call {@link parserModule} (llhttp.ts) first: without the parser there is no driver.
 */
export function attachHttp1Net(app: App, options: Http1NetOptions, secure = false): Http1NetDriver {
  const live = new IndexedRoster<NetConnection>('rosterIndex');
  const shared: Http1NetOptions = { ...options, roster: live };
  options.clock?.onEachTick(live, (connection, now, elapsed, limits) =>
    connection.sweep(now, elapsed, limits),
  );
  // Sockets that have not sent a request yet are the clock's too: a roster of their own would
  // cost each connection; they are found among the server's sockets on shutdown, and their head
  // time is kept by their connection, which joins `live` at once.
  return {
    connections: live,
    accept(socket: Socket) {
      const info: ConnectionInfo = {
        id: '',
        protocol: 'http/1.1',
        address: '',
        secure,
        client: null,
        server: null,
      };
      const connection = new NetConnection(info, socket as NetSocket, shared, app);
      (socket as NetSocket)[kConnection] = connection;
      socket.on('data', onData);
      socket.on('end', onEnd);
      socket.on('error', onError);
      socket.on('close', onClose);
      live.add(connection);
    },
    closeIdle(sockets) {
      for (const socket of sockets as Iterable<NetSocket>) {
        const connection = socket[kConnection];
        if (connection === undefined || !connection.idle) continue;
        if (socket.bytesRead === 0) socket.destroy();
        else endLingering(socket);
      }
    },
  };
}
