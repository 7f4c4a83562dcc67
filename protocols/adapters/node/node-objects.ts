/**
 * The Node objects of the adoption shim (`fromNodeHandler`): a real `IncomingMessage` and a real
 * `ServerResponse` per exchange, on a small per-exchange socket, with what must differ from node
 * set as own properties (they survive frameworks' prototype swaps). Their output becomes calls on
 * the exchange in protocols/adapters/node/from-node.ts.
 */
import {
  IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  ServerResponse,
  STATUS_CODES,
} from 'node:http';
import { Duplex } from 'node:stream';
import type { Chunk, HeaderList, RequestEvent } from '../../../core/events.js';

/**
 * What the node objects call on their exchange (implemented in from-node.ts): declared here so
 * the objects need nothing from the module that makes them.
 */
export interface NodeExchange {
  readonly event: RequestEvent;
  readonly writableFinished: boolean;
  readonly drainNeeded: boolean;
  pull(): void;
  storeHead(res: NodeRes): void;
  write(
    res: NodeRes,
    chunk: unknown,
    encoding: BufferEncoding | undefined,
    callback: WriteCallback | undefined,
  ): boolean;
  end(res: NodeRes, chunk: unknown, encoding: BufferEncoding | undefined): void;
  flushHeaders(res: NodeRes): void;
  addTrailers(headers: OutgoingHttpHeaders | readonly [string, string][]): void;
  earlyHints(hints: Record<string, string | string[]>, callback?: () => void): void;
  destroyedByApp(): void;
}

// ---------------------------------------------------------------------------------------------
// Node internals the shim reads or sets. All are long-standing fields of node's own objects.

export const kExchange = Symbol('rxgi.exchange');

export type WriteCallback = (error?: Error | null) => void;

export interface NodeReq extends IncomingMessage {
  [kExchange]?: NodeExchange;
  _read(size: number): void;
  upgrade: boolean;
  _consuming: boolean;
  _dump(): void;
  _readableState: { resumeScheduled: boolean; readingMore: boolean };
  _addHeaderLines?(raw: string[], count: number): void;
}

export interface NodeRes extends ServerResponse {
  [kExchange]?: NodeExchange;
  _header: string | null;
  _hasBody: boolean;
  _contentLength: number | null;
  _removedContLen: boolean;
  _closed: boolean;
  _implicitHeader(): void;
  writeHeader: ServerResponse['writeHead'];
  finished: boolean;
  destroyed: boolean;
}

const INVALID_CHAR = /[^\t\x20-\x7e\x80-\xff]/;

// ---------------------------------------------------------------------------------------------
// Shapes

/**
 * Whether this V8 gives an object a hidden class of its own for each property added after its
 * prototype was swapped: V8 before 13 (node 20 and 22; seen on 11.3 and 12.4, not on 13.6).
 * Elsewhere the shapes are shared anyway, and making properties up front only costs time.
 */
export const SWAP_SPLITS_SHAPES = Number.parseInt(process.versions.v8, 10) < 13;

/** At most this many properties are learned for requests, and as many for responses. */
const MAX_LEARNED = 64;
/** Names looked at before learning stops: a listener that adds new names forever is not helped. */
const MAX_SEEN = 512;
/** Exchanges learned from first; after them, one in `RELEARN_EVERY`. */
const FIRST_LESSONS = 64;
const RELEARN_EVERY = 1024;

/**
 * The own properties a listener adds to its requests (or its responses), learned from finished
 * exchanges and made on each later object before the listener sees it.
 *
 * Frameworks swap the objects' prototypes (Express: `Object.setPrototypeOf(req, app.request)`).
 * In the V8 of node 20 and 22, each property added to an object after such a swap gives that
 * one object a hidden class of its own. Express adds about ten a request (`res.locals`,
 * `req.params`, node's own `res.statusCode`, ...), each a copy of a descriptor array of some
 * fifty entries, and every property access after them misses V8's inline caches: natively that
 * is most of Express's work a request (docs/internals.md). Made up front, in the same order, the
 * properties exist before the swap, and every object keeps the one hidden class.
 *
 * Only a property that cannot read differently for being made early is learned: an own,
 * enumerable, writable data property (what an assignment makes), whose name the listener's
 * prototype chain either lacks or resolves to the same writable data property as node's chain.
 * It is made with the value the object would otherwise inherit (`undefined` for most), so a
 * read before the listener's write sees what it saw before. What changes is only that the
 * name is an own property earlier (`Object.hasOwn`, `in`, `Object.keys`). Where the V8 shares
 * the shapes (`SWAP_SPLITS_SHAPES` false), nothing is learned.
 */
export class LearnedShape {
  private readonly keys: PropertyKey[] = [];
  /** The names of a new object, then every name seen since. */
  private seen: Set<PropertyKey> | null = null;
  private lessons = 0;

  /** @param base node's prototype of the objects (`IncomingMessage.prototype`, ...). */
  constructor(private readonly base: object) {}

  /** Make the learned properties on a new object, after its own set-up. */
  prepare(target: Record<PropertyKey, unknown>): void {
    if (!SWAP_SPLITS_SHAPES) return;
    if (this.seen === null) this.seen = new Set(Reflect.ownKeys(target));
    const keys = this.keys;
    for (let i = 0; i < keys.length; i++) target[keys[i]] = target[keys[i]];
  }

  /** Learn from an object its listener is done with. */
  learn(target: object): void {
    const lesson = this.lessons++;
    if (lesson >= FIRST_LESSONS && lesson % RELEARN_EVERY !== 0) return;
    const seen = this.seen;
    if (seen === null || seen.size >= MAX_SEEN) return;
    const prototype = Object.getPrototypeOf(target) as object | null;
    for (const key of Reflect.ownKeys(target)) {
      if (seen.has(key)) continue;
      seen.add(key);
      if (this.keys.length < MAX_LEARNED && this.learnable(target, prototype, key)) {
        this.keys.push(key);
      }
    }
  }

  private learnable(target: object, prototype: object | null, key: PropertyKey): boolean {
    const own = Object.getOwnPropertyDescriptor(target, key);
    if (own === undefined || !('value' in own) || !own.writable || !own.enumerable) return false;
    const holder = holderOf(prototype, key);
    if (holder !== holderOf(this.base, key)) return false;
    if (holder === null) return true;
    const inherited = Object.getOwnPropertyDescriptor(holder, key)!;
    return 'value' in inherited && inherited.writable === true;
  }
}

/** The object of a prototype chain that has `key` as its own property, or null. */
function holderOf(prototype: object | null, key: PropertyKey): object | null {
  for (let at = prototype; at !== null; at = Object.getPrototypeOf(at) as object | null) {
    if (Object.hasOwn(at, key)) return at;
  }
  return null;
}

/** What one listener adds to its requests and to its responses. */
export class NodeShapes {
  readonly request = new LearnedShape(IncomingMessage.prototype);
  readonly response = new LearnedShape(ServerResponse.prototype);

  /** Learn from an exchange's objects once the listener is done with them. */
  learn(req: NodeReq, res: NodeRes): void {
    this.request.learn(req);
    this.response.learn(res);
  }
}

// ---------------------------------------------------------------------------------------------
// The socket

/**
 * The socket `req.socket` and `res.socket` point at, one per exchange: addresses from the
 * request event, no-op tuning calls, and `destroy()` aborting the exchange. Nothing is ever
 * written to it; it is a Duplex because node's streams code (`finished`, `destroy`) wants one.
 */
export class ExchangeSocket extends Duplex {
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
  readonly remoteFamily: string | undefined;
  readonly localAddress: string | undefined;
  readonly localPort: number | undefined;
  /** Present and true on TLS, as on node's TLSSocket. */
  readonly encrypted?: true;
  _httpMessage: ServerResponse | null = null;

  constructor(
    private readonly exchange: NodeExchange,
    event: RequestEvent,
  ) {
    super();
    this.remoteAddress = event.client?.[0];
    this.remotePort = event.client?.[1];
    this.remoteFamily = family(event.client?.[0]);
    this.localAddress = event.server?.[0];
    this.localPort = event.server?.[1];
    if (event.scheme === 'https') this.encrypted = true;
  }

  address(): { address: string; port: number; family: string } | Record<string, never> {
    const server = this.exchange.event.server;
    return server === null
      ? {}
      : { address: server[0], port: server[1], family: family(server[0])! };
  }

  override _read(): void {}

  override _write(_chunk: unknown, _encoding: string, callback: () => void): void {
    callback();
  }

  override _destroy(_error: Error | null, callback: (error: Error | null) => void): void {
    this.exchange.destroyedByApp();
    // The error was the caller's; emitting it here would crash a socket nobody listens to.
    callback(null);
  }

  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  setKeepAlive(): this {
    return this;
  }
  ref(): this {
    return this;
  }
  unref(): this {
    return this;
  }
}

function family(address: string | undefined): string | undefined {
  if (address === undefined) return undefined;
  return address.includes(':') ? 'IPv6' : 'IPv4';
}

// ---------------------------------------------------------------------------------------------
// The request

export function makeRequest(
  exchange: NodeExchange,
  event: RequestEvent,
  socket: ExchangeSocket,
  shape: LearnedShape,
): NodeReq {
  const req = new IncomingMessage(socket as never) as NodeReq;
  req[kExchange] = exchange;
  // HTTP/1.1 on every protocol: these objects are HTTP/1.1's, and frameworks that see major 2
  // expect node's http2 compat objects (Koa reads `:authority`, Fastify `res.stream`).
  const http10 = event.http === '1.0';
  req.httpVersionMajor = 1;
  req.httpVersionMinor = http10 ? 0 : 1;
  req.httpVersion = http10 ? '1.0' : '1.1';
  req.method = event.method;
  req.url = event.target;
  req.upgrade = false;
  addHeaderLines(req, rawHeaders(event));
  req._read = readBody;
  shape.prepare(req as never);
  return req;
}

function readBody(this: NodeReq): void {
  // What node's own `_read` does first: mark the body as being consumed (finishing the response
  // then leaves it alone) and let Readable read ahead, which IncomingMessage holds back till now.
  if (!this._consuming) {
    this._readableState.readingMore = false;
    this._consuming = true;
  }
  const exchange = this[kExchange];
  if (exchange === undefined) this.push(null);
  else exchange.pull();
}

/**
 * The raw header list as an HTTP/1.1 server would have it: names are lower case (rxgi's), a
 * `host` comes from the authority where HTTP/2 has none, and a body of unknown length is
 * announced as chunked, so body parsers that look for framing (`type-is`) see it.
 */
function rawHeaders(event: RequestEvent): string[] {
  const headers = event.headers;
  let host = false;
  let framed = false;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i];
    if (name === 'host') host = true;
    else if (name === 'content-length' || name === 'transfer-encoding') framed = true;
  }
  if (host && (framed || event.end)) return headers.slice();
  const raw = host || event.authority === '' ? [] : ['host', event.authority];
  for (const item of headers) raw.push(item);
  if (!framed && !event.end) raw.push('transfer-encoding', 'chunked');
  return raw;
}

/**
 * Give node the raw fields as its HTTP parser does, headers before the body is complete and
 * trailers after: node's own lazy getters (`headers`, `headersDistinct`, `trailers`,
 * `trailersDistinct`) then fold them by node's rules (set-cookie a list, cookie joined with
 * '; ', repeats of single-valued fields dropped, the rest joined with ', ').
 */
export function addHeaderLines(req: NodeReq, raw: string[]): void {
  if (typeof req._addHeaderLines === 'function') {
    req._addHeaderLines(raw, raw.length);
    return;
  }
  // A node without the parser's hook: fold eagerly, with node's rules for the common fields.
  const folded: Record<string, string | string[]> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    const value = raw[i + 1];
    const seen = folded[name];
    if (name === 'set-cookie') folded[name] = [...((seen as string[]) ?? []), value];
    else if (seen === undefined) folded[name] = value;
    else folded[name] = `${seen}${name === 'cookie' ? '; ' : ', '}${value}`;
  }
  if (req.complete) {
    req.rawTrailers = raw;
    req.trailers = folded as NodeJS.Dict<string>;
  } else {
    req.rawHeaders = raw;
    req.headers = folded;
  }
}

// ---------------------------------------------------------------------------------------------
// The response

export function makeResponse(
  exchange: NodeExchange,
  req: NodeReq,
  socket: ExchangeSocket,
  shape: LearnedShape,
): NodeRes {
  const res = new ServerResponse(req) as unknown as NodeRes;
  res[kExchange] = exchange;
  // Own properties: they survive `Object.setPrototypeOf(res, app.response)`.
  res.writeHead = writeHead as NodeRes['writeHead'];
  res.writeHeader = writeHead as NodeRes['writeHeader'];
  res.write = write as NodeRes['write'];
  res.end = end as NodeRes['end'];
  res.flushHeaders = flushHeaders;
  res.addTrailers = addTrailers;
  res.writeContinue = writeContinue;
  res.writeProcessing = writeContinue;
  res.writeEarlyHints = writeEarlyHints;
  Object.defineProperty(res, 'writableFinished', writableFinishedDescriptor);
  Object.defineProperty(res, 'writableNeedDrain', writableNeedDrainDescriptor);
  shape.prepare(res as never);
  // Attached as node attaches its socket: the socket's 'close' closes the response, and
  // on-finished, Koa and Express find it where they look.
  res.assignSocket(socket as never);
  return res;
}

const writableFinishedDescriptor: PropertyDescriptor = {
  configurable: true,
  get(this: NodeRes) {
    return this[kExchange]?.writableFinished ?? false;
  },
};

const writableNeedDrainDescriptor: PropertyDescriptor = {
  configurable: true,
  get(this: NodeRes) {
    return this[kExchange]?.drainNeeded ?? false;
  },
};

type HeadersArgument = OutgoingHttpHeaders | OutgoingHttpHeader[] | undefined;

/** node's `writeHead(status[, message][, headers])`, with headers merged into node's store. */
function writeHead(
  this: NodeRes,
  statusCode: number,
  reason?: string | HeadersArgument,
  headers?: HeadersArgument,
): NodeRes {
  const exchange = this[kExchange];
  if (exchange === undefined) {
    return Reflect.apply(ServerResponse.prototype.writeHead, this, [statusCode, reason, headers]);
  }
  if (this._header) {
    throw nodeError(
      Error,
      'ERR_HTTP_HEADERS_SENT',
      'Cannot write headers after they are sent to the client',
    );
  }
  const code = statusCode | 0;
  if (code < 100 || code > 999) {
    throw nodeError(
      RangeError,
      'ERR_HTTP_INVALID_STATUS_CODE',
      `Invalid status code: ${statusCode}`,
    );
  }
  if (typeof reason === 'string') this.statusMessage = reason;
  else {
    this.statusMessage ||= STATUS_CODES[code] || 'unknown';
    headers ??= reason;
  }
  this.statusCode = code;
  if (Array.isArray(headers)) {
    // As node does: fields given here replace earlier ones but may repeat among themselves.
    const flat = Array.isArray(headers[0]) ? (headers as unknown as string[][]).flat() : headers;
    if (flat.length % 2 !== 0) {
      throw nodeError(TypeError, 'ERR_INVALID_ARG_VALUE', 'The argument headers is invalid');
    }
    for (let i = 0; i < flat.length; i += 2) this.removeHeader(String(flat[i]));
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i]) this.appendHeader(String(flat[i]), flat[i + 1] as string);
    }
  } else if (headers) {
    for (const name of Object.keys(headers)) {
      if (name) this.setHeader(name, headers[name] as OutgoingHttpHeader);
    }
  }
  if (INVALID_CHAR.test(this.statusMessage)) {
    throw nodeError(TypeError, 'ERR_INVALID_CHAR', 'Invalid character in statusMessage');
  }
  if (code === 204 || code === 304 || (code >= 100 && code <= 199)) this._hasBody = false;
  exchange.storeHead(this);
  return this;
}

function write(
  this: NodeRes,
  chunk: unknown,
  encoding?: BufferEncoding | WriteCallback,
  callback?: WriteCallback,
): boolean {
  const exchange = this[kExchange];
  if (typeof encoding === 'function') {
    callback = encoding;
    encoding = undefined;
  }
  if (exchange === undefined) {
    return ServerResponse.prototype.write.call(this, chunk, encoding as BufferEncoding, callback);
  }
  return exchange.write(this, chunk, encoding, callback);
}

function end(
  this: NodeRes,
  chunk?: unknown,
  encoding?: BufferEncoding | (() => void),
  callback?: () => void,
): NodeRes {
  const exchange = this[kExchange];
  if (typeof chunk === 'function') {
    callback = chunk as () => void;
    chunk = undefined;
  } else if (typeof encoding === 'function') {
    callback = encoding;
    encoding = undefined;
  }
  if (exchange === undefined) {
    return Reflect.apply(ServerResponse.prototype.end, this, [chunk, encoding, callback]);
  }
  if (chunk) {
    validateChunk(chunk);
    if (this.finished) {
      writeError(this, nodeError(Error, 'ERR_STREAM_WRITE_AFTER_END', 'write after end'), callback);
      return this;
    }
  } else if (this.finished) {
    if (callback) {
      if (!exchange.writableFinished) this.once('finish', callback);
      else {
        const error = nodeError(
          Error,
          'ERR_STREAM_ALREADY_FINISHED',
          'Cannot call end after a stream was finished',
        );
        (callback as WriteCallback)(error);
      }
    }
    return this;
  }
  if (callback) this.once('finish', callback);
  exchange.end(this, chunk, encoding as BufferEncoding | undefined);
  return this;
}

function flushHeaders(this: NodeRes): void {
  const exchange = this[kExchange];
  if (exchange === undefined) ServerResponse.prototype.flushHeaders.call(this);
  else exchange.flushHeaders(this);
}

function addTrailers(this: NodeRes, headers: OutgoingHttpHeaders | [string, string][]): void {
  const exchange = this[kExchange];
  if (exchange === undefined) ServerResponse.prototype.addTrailers.call(this, headers);
  else exchange.addTrailers(headers);
}

/** The driver answers `Expect: 100-continue` itself when the body is first read (SPEC.md §5.1). */
function writeContinue(this: NodeRes, callback?: () => void): void {
  if (typeof callback === 'function') process.nextTick(callback);
}

function writeEarlyHints(
  this: NodeRes,
  hints: Record<string, string | string[]>,
  callback?: () => void,
): void {
  const exchange = this[kExchange];
  if (exchange === undefined) ServerResponse.prototype.writeEarlyHints.call(this, hints, callback);
  else exchange.earlyHints(hints, callback);
}

// ---------------------------------------------------------------------------------------------
// Helpers

export function hasTrailerField(headers: HeaderList | null): boolean {
  if (headers === null) return false;
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'trailer') return true;
  return false;
}

export function validateChunk(chunk: unknown): void {
  if (chunk === null) {
    throw nodeError(TypeError, 'ERR_STREAM_NULL_VALUES', 'May not write null values to stream');
  }
  if (typeof chunk !== 'string' && !(chunk instanceof Uint8Array)) {
    throw nodeError(
      TypeError,
      'ERR_INVALID_ARG_TYPE',
      'The "chunk" argument must be of type string or an instance of Buffer or Uint8Array',
    );
  }
}

/** A string in UTF-8 goes as it is (rxgi sends strings as UTF-8); other encodings become bytes. */
export function toChunk(chunk: string | Uint8Array, encoding: BufferEncoding | undefined): Chunk {
  if (typeof chunk !== 'string') return chunk;
  if (encoding === undefined || encoding === null || encoding === 'utf8' || encoding === 'utf-8') {
    return chunk;
  }
  return Buffer.from(chunk, encoding);
}

export function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** node's reaction to a write after end: the callback hears it, and 'error' where listened. */
export function writeError(res: NodeRes, error: Error, callback: WriteCallback | undefined): void {
  process.nextTick(() => {
    callback?.(error);
    // node emits it unconditionally and so crashes a server nobody guarded; here only if heard.
    if (res.listenerCount('error') > 0) res.emit('error', error);
  });
}

export function nodeError<E extends Error>(
  Kind: new (message: string) => E,
  code: string,
  message: string,
): E & { code: string } {
  return Object.assign(new Kind(message), { code });
}

export function destroyedError(method: string): Error {
  return nodeError(
    Error,
    'ERR_STREAM_DESTROYED',
    `Cannot call ${method} after a stream was destroyed`,
  );
}

/** What node's request gets when its client goes away. */
export function aborted(): Error {
  return nodeError(Error, 'ECONNRESET', 'aborted');
}
