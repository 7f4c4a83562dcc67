/**
 * The adoption shim: a Node request listener `(req, res) => void` (Express, Connect, Koa's
 * `app.callback()`, plain handlers) runs as an rxgi app on every driver.
 *
 * `req` is a real `http.IncomingMessage` and `res` a real `http.ServerResponse`, each built on a
 * small per-exchange socket, because frameworks replace their prototypes
 * (`Object.setPrototypeOf(req, app.request)`, a chain that ends in node's own prototypes): methods
 * of a class of ours would be lost, node's are kept. What must differ from node is put on the
 * instances as own properties, which survive the swap: `req._read` pulls the body from rxgi, and
 * `res.writeHead`, `write`, `end`, `flushHeaders`, `addTrailers`, `writeEarlyHints`, … emit rxgi
 * events instead of serialising HTTP/1.1. Header bookkeeping (`setHeader` and the rest) stays
 * node's own code.
 */
import {
  type IncomingMessage,
  type OutgoingHttpHeader,
  type OutgoingHttpHeaders,
  type ServerResponse,
  validateHeaderName,
  validateHeaderValue,
} from 'node:http';
import { type App, type SessionOutput, sessionApp } from '../../../core/app.js';
import { BodyReader, EMPTY_BYTES } from '../../../core/body.js';
import { chunkLength } from '../../../core/connection.js';
import {
  type Chunk,
  H2_CODE,
  type HeaderList,
  INITIAL_WINDOW,
  type OutboundEvent,
  type RequestEvent,
  type ResponseEvent,
} from '../../../core/events.js';
import { logger } from '../../../core/log.js';
import { HandlerRouter } from '../../../core/router.js';
import {
  aborted,
  addHeaderLines,
  destroyedError,
  ExchangeSocket,
  hasTrailerField,
  kExchange,
  makeRequest,
  makeResponse,
  type NodeReq,
  type NodeRes,
  NodeShapes,
  nodeError,
  toBuffer,
  toChunk,
  validateChunk,
  type WriteCallback,
  writeError,
} from './node-objects.js';

/** A Node request listener: what `http.createServer` takes. A returned promise is watched. */
export type NodeListener = (req: IncomingMessage, res: ServerResponse) => unknown;

/**
 * Run a Node request listener as an rxgi app: an Express or Connect app, Koa's
 * `app.callback()`, or any `(req, res) => void`. It serves HTTP/1.1, HTTP/2 and the memory
 * driver alike. Bodies stream both ways with flow control: the request body is read from the
 * wire only as the listener reads it, and `res.write` returns false once the exchange's output
 * window is spent (`'drain'` follows when the client catches up).
 *
 * The listener sees HTTP/1.1-shaped objects on every protocol (`req.httpVersion` is `'1.1'` on
 * HTTP/2 too, with a `host` header made from `:authority`); `requestEvent(req)` gives the rxgi
 * request event with the real version. An exception or rejected promise from the listener
 * answers 500 (or aborts, after the head) that one exchange only. On node 20 and 22, properties
 * the listener adds to `req` and `res` (Express's `req.params`, `res.locals`, ...) are learned and
 * made up front on later objects, as `undefined` or the inherited value (docs/compatibility.md).
 *
 * @example
 * const app = express();
 * app.get('/hello/:name', (req, res) => res.json({ hello: req.params.name }));
 * await serve(fromNodeHandler(app), { port: 8000 });
 */
export function fromNodeHandler(listener: NodeListener): App {
  const shapes = new NodeShapes();
  return sessionApp((out) => new NodeRouter(listener, out, shapes));
}

/** The rxgi request event behind a request the shim made, or undefined for any other. */
export function requestEvent(req: IncomingMessage): RequestEvent | undefined {
  return (req as NodeReq)[kExchange]?.event;
}

// ---------------------------------------------------------------------------------------------

/**
 * @internal One connection's worth of the shim: calls the listener per request and routes each
 * stream's events to its exchange.
 */
export class NodeRouter extends HandlerRouter<NodeExchange> {
  constructor(
    private readonly listener: NodeListener,
    out: SessionOutput,
    /** What the listener adds to its objects, shared by all connections of one app. */
    readonly shapes: NodeShapes,
  ) {
    super(out);
  }

  /** An event of an exchange's, for the app's output. */
  emit(event: OutboundEvent): void {
    this.out.next(event);
  }

  /** The exchange awaits no more events: it leaves the table (a later event is dropped). */
  forget(exchange: NodeExchange): void {
    if (this.streamOf(exchange.id) === exchange) this.dropStream(exchange.id);
  }

  protected create(event: RequestEvent): NodeExchange {
    return new NodeExchange(event, this);
  }

  protected start(exchange: NodeExchange): unknown {
    return this.listener(exchange.req, exchange.res);
  }

  protected override started(exchange: NodeExchange, result: unknown): void {
    // node's parser completes a bodyless message just after the 'request' event, not before.
    if (exchange.event.end) exchange.req.complete = true;
    // Koa's callback and async handlers return promises; node would ignore a rejection (and
    // crash on it), here it fails the one exchange.
    super.started(exchange, result);
  }

  protected override data(exchange: NodeExchange, chunk: Uint8Array, end: boolean): void {
    exchange.bodyData(chunk, end);
  }

  protected override trailers(exchange: NodeExchange, headers: HeaderList): void {
    exchange.bodyEnd(headers);
  }

  protected override window(exchange: NodeExchange, bytes: number): void {
    exchange.credit(bytes);
  }

  protected close(exchange: NodeExchange, code: number): void {
    exchange.closed(code);
  }

  /** The connection is gone: the exchange is aborted. */
  protected cancel(exchange: NodeExchange): void {
    // One whose response was all handed over only waited for the rest of its body.
    exchange.closed(exchange.ended ? H2_CODE.NO_ERROR : H2_CODE.CANCEL);
  }

  protected fail(exchange: NodeExchange, error: unknown): void {
    exchange.fail(error);
  }
}

/** @internal The state of one exchange: its node objects, its output credit and its body reader. */
export class NodeExchange {
  readonly socket: ExchangeSocket;
  readonly req: NodeReq;
  readonly res: NodeRes;
  /** Output credit left (SPEC.md §5.2), from what the driver announced. */
  private window: number;
  /** The head `writeHead` built; it goes out with the first body bytes, `end` or a flush. */
  private head: HeaderList | null = null;
  private status = 200;
  private headEmitted = false;
  /** Trailer fields from `addTrailers`. */
  private trailerFields: HeaderList | null = null;
  /** `res.end` was called: the output has ended. */
  ended = false;
  /** The stream is gone before the output ended: the objects are torn down. */
  private gone = false;
  /** The request body has reached its end (or was discarded): no inbound event is awaited. */
  private inputDone: boolean;
  private needDrain = false;
  /** Write callbacks held until the output window opens again. */
  private waiting: WriteCallback[] = [];
  private finishEmitted = false;
  private reader: BodyReader | null = null;
  private iterator: AsyncIterator<Uint8Array> | null = null;
  private pulling = false;

  constructor(
    readonly event: RequestEvent,
    private readonly router: NodeRouter,
  ) {
    this.inputDone = event.end;
    this.window = event.window ?? INITIAL_WINDOW;
    this.socket = new ExchangeSocket(this, event);
    this.req = makeRequest(this, event, this.socket, router.shapes.request);
    this.res = makeResponse(this, this.req, this.socket, router.shapes.response);
    if (!event.end) this.reader = new BodyReader((bytes) => this.grant(bytes), false);
  }

  get id(): number {
    return this.event.stream;
  }

  // --- Input -----------------------------------------------------------------------------------

  bodyData(chunk: Uint8Array, end: boolean): void {
    this.reader?.push(chunk);
    if (end) this.bodyEnd(null);
  }

  bodyEnd(trailers: HeaderList | null): void {
    this.req.complete = true;
    this.inputDone = true;
    this.reader?.end(trailers);
    if (this.ended) this.router.forget(this);
  }

  private grant(bytes: number): void {
    if (!this.gone && !this.inputDone) {
      this.router.emit({ type: 'window', stream: this.id, bytes });
    }
  }

  /** `req._read`: pull one chunk from the body reader, as the consumer asks for one. */
  pull(): void {
    if (this.pulling) return;
    const reader = this.reader;
    if (reader === null) {
      this.req.push(null);
      return;
    }
    this.pulling = true;
    this.iterator ??= reader[Symbol.asyncIterator]();
    this.iterator.next().then(
      (result) => {
        this.pulling = false;
        const req = this.req;
        if (req.destroyed) return;
        this.guard(() => {
          if (result.done) {
            if (reader.trailers !== null) addHeaderLines(req, reader.trailers.slice());
            req.push(null);
          } else {
            // Readable calls _read again while its buffer is below its mark: no loop here.
            req.push(toBuffer(result.value));
          }
        });
      },
      () => {
        // The stream closed: `closed` tears the request down.
        this.pulling = false;
      },
    );
  }

  // --- Output ----------------------------------------------------------------------------------

  /** `writeHead` is done with node's header store: freeze the head (SPEC.md §3.3 `response`). */
  storeHead(res: NodeRes): void {
    const headers = res.getHeaders();
    const list: HeaderList = [];
    let text = `HTTP/1.1 ${res.statusCode} ${res.statusMessage}\r\n`;
    for (const name in headers) {
      const value = headers[name];
      if (value === undefined) continue;
      if (Array.isArray(value)) {
        for (const item of value) {
          list.push(name, item);
          text += `${name}: ${item}\r\n`;
        }
      } else {
        list.push(name, String(value));
        text += `${name}: ${value}\r\n`;
      }
    }
    // node's rule: a body whose length is known when the head is made (`res.end(body)` with no
    // earlier write) gets a content-length, unless the app removed it or framed the body itself.
    if (
      res._hasBody &&
      typeof res._contentLength === 'number' &&
      !res._removedContLen &&
      headers['content-length'] === undefined &&
      headers['transfer-encoding'] === undefined &&
      headers.trailer === undefined
    ) {
      list.push('content-length', String(res._contentLength));
      text += `content-length: ${res._contentLength}\r\n`;
    }
    this.status = res.statusCode;
    this.head = list;
    res._header = `${text}\r\n`;
  }

  write(
    res: NodeRes,
    chunk: unknown,
    encoding: BufferEncoding | undefined,
    callback: WriteCallback | undefined,
  ): boolean {
    validateChunk(chunk);
    if (res.finished) {
      writeError(res, nodeError(Error, 'ERR_STREAM_WRITE_AFTER_END', 'write after end'), callback);
      return false;
    }
    if (res.destroyed || this.gone) {
      if (callback) process.nextTick(callback, destroyedError('write'));
      return false;
    }
    if (!res._header) res._implicitHeader();
    if (!res._hasBody) {
      // HEAD, 204, 304: node ignores body writes, and so does the shim.
      if (callback) process.nextTick(callback);
      return true;
    }
    const data = toChunk(chunk as string | Uint8Array, encoding);
    const size = chunkLength(data);
    this.window -= size;
    // An empty write still sends the head, as it does in node.
    this.send(size === 0 ? undefined : data, false);
    if (this.gone) {
      if (callback) process.nextTick(callback, destroyedError('write'));
      return false;
    }
    if (this.window > 0) {
      if (callback) process.nextTick(callback);
      return true;
    }
    this.needDrain = true;
    if (callback) this.waiting.push(callback);
    return false;
  }

  end(res: NodeRes, chunk: unknown, encoding: BufferEncoding | undefined): void {
    let data: Chunk | undefined;
    if (chunk) data = toChunk(chunk as string | Uint8Array, encoding);
    if (!res._header) {
      res._contentLength = data === undefined ? 0 : chunkLength(data);
      res._implicitHeader();
    }
    res.finished = true;
    if (this.gone || res.destroyed) return;
    this.ended = true;
    if (!res._hasBody || (data !== undefined && chunkLength(data) === 0)) data = undefined;
    if (data !== undefined) this.window -= chunkLength(data);
    this.send(data, true);
    if (this.inputDone) this.router.forget(this);
    res.emit('prefinish');
    process.nextTick(finish, this);
  }

  flushHeaders(res: NodeRes): void {
    if (!res._header) res._implicitHeader();
    if (!this.headEmitted && !this.ended && !this.gone) this.send(undefined, false);
  }

  addTrailers(headers: OutgoingHttpHeaders | readonly [string, string][]): void {
    const list = this.trailerFields ?? [];
    const pairs = Array.isArray(headers) ? headers : Object.entries(headers);
    for (const [name, value] of pairs as [string, OutgoingHttpHeader | undefined][]) {
      validateHeaderName(name);
      validateHeaderValue(name, value as string);
      if (Array.isArray(value)) for (const item of value) list.push(name.toLowerCase(), item);
      else list.push(name.toLowerCase(), String(value));
    }
    this.trailerFields = list;
  }

  earlyHints(hints: Record<string, string | string[]>, callback?: () => void): void {
    // A 103 is only possible before the final head; node writes it raw, rxgi drops it after.
    if (!this.headEmitted && !this.gone) {
      const list: HeaderList = [];
      for (const name of Object.keys(hints)) {
        const value = hints[name];
        if (Array.isArray(value)) for (const item of value) list.push(name.toLowerCase(), item);
        else list.push(name.toLowerCase(), String(value));
      }
      this.router.emit({ type: 'early-hints', stream: this.id, headers: list });
    }
    if (callback) process.nextTick(callback);
  }

  /** Emit body bytes, the head first if it has not gone out, and the end when `end`. */
  private send(chunk: Chunk | undefined, end: boolean): void {
    const trailers = end && this.trailerFields !== null && this.trailerFields.length > 0;
    if (!this.headEmitted) {
      this.headEmitted = true;
      const event: ResponseEvent = {
        type: 'response',
        stream: this.id,
        status: this.status,
        headers: this.head ?? [],
        end: end && !trailers,
      };
      if (chunk !== undefined) event.body = chunk;
      if (trailers || hasTrailerField(this.head)) event.trailers = true;
      this.router.emit(event);
    } else if (chunk !== undefined || (end && !trailers)) {
      this.router.emit({
        type: 'data',
        stream: this.id,
        chunk: chunk ?? EMPTY_BYTES,
        end: end && !trailers,
      });
    }
    if (trailers && !this.gone) {
      this.router.emit({ type: 'trailers', stream: this.id, headers: this.trailerFields! });
    }
  }

  /** Output credit came back: release held write callbacks and `'drain'` a waiting writer. */
  credit(bytes: number): void {
    this.window += bytes;
    if (this.window <= 0 || this.gone) return;
    const callbacks = this.waiting;
    if (callbacks.length > 0) {
      this.waiting = [];
      process.nextTick(() => this.guard(() => callOut(callbacks)));
    }
    if (this.needDrain) {
      this.needDrain = false;
      // Never inside `write`: a pipe that hears 'drain' before write returned false stalls.
      process.nextTick(() => {
        if (!this.gone && !this.res.finished) this.guard(() => this.res.emit('drain'));
      });
    }
  }

  /** After `res.end`, as node does once the last bytes are handed to the socket. */
  finished(): void {
    if (this.finishEmitted || this.gone) return;
    this.finishEmitted = true;
    const { req, res, socket } = this;
    this.guard(() => {
      callOut(this.waiting.splice(0));
      // node's server does this in a 'finish' listener of its own that runs before the app's:
      // an unread body is dumped, the socket detached, and 'close' follows on the next tick.
      if (!req._consuming && !req._readableState.resumeScheduled) req._dump();
      if ((res.socket as unknown) === socket) res.detachSocket(socket as never);
      res.emit('finish');
    });
    this.router.shapes.learn(req, res);
    process.nextTick(() => {
      if (res._closed) return;
      res.destroyed = true;
      res._closed = true;
      this.guard(() => res.emit('close'));
    });
  }

  /**
   * `writableFinished`: in node, true once the last bytes are in the socket, which is right
   * after `end` unless the socket is backed up; here, unless the output window is spent.
   */
  get writableFinished(): boolean {
    return this.finishEmitted || (this.ended && !this.gone && this.window > 0);
  }

  get drainNeeded(): boolean {
    return this.needDrain && !this.ended && !this.gone;
  }

  /**
   * The stream closed (inbound `close`, or the connection ended). With code 0 after `res.end` it
   * only means the rest of the body was discarded (SPEC.md §4.1). Otherwise the client left or
   * the driver failed the stream: the request is aborted and the response closed, as node does
   * when its socket closes.
   */
  closed(code: number): void {
    if (this.gone) return;
    if (this.ended && code === H2_CODE.NO_ERROR) {
      this.router.forget(this);
      if (this.inputDone) return;
      this.inputDone = true;
      const req = this.req;
      // A listener still reading would take an early end for the whole body: it hears an abort.
      // One that never read sees what node's dump of an unread body shows: a complete request.
      if (req._consuming || req.readableFlowing === true) this.guard(() => req.destroy(aborted()));
      else {
        req.complete = true;
        this.reader?.end();
      }
      return;
    }
    this.gone = true;
    this.router.forget(this);
    const callbacks = this.waiting.splice(0);
    const error = aborted();
    this.reader?.fail(error);
    if (callbacks.length > 0) process.nextTick(callOut, callbacks, destroyedError('write'));
    const { req, socket } = this;
    // Order as in node: req 'aborted', res 'close' (by the socket's 'close'), req 'close'.
    this.guard(() => {
      if (!req.destroyed) req.destroy(error);
      if (!socket.destroyed) socket.destroy();
    });
  }

  /** The app destroyed the socket, the request or the response: abort the exchange. */
  destroyedByApp(): void {
    if (this.ended || this.gone) return;
    this.router.emit({
      type: 'close',
      stream: this.id,
      // Not CANCEL: HTTP/2 clients (node's among them) end a stream reset with CANCEL cleanly,
      // so a cut body would pass for a whole one. On HTTP/1.1 the connection is closed.
      code: H2_CODE.INTERNAL_ERROR,
      reason: 'destroyed by the request listener',
    });
    this.closed(H2_CODE.INTERNAL_ERROR);
  }

  /** The listener failed: 500 if no head went out, an abort otherwise (SPEC.md §8). */
  fail(error: unknown): void {
    logger().error('node request listener failed', { stream: this.id, error });
    if (this.ended || this.gone) return;
    this.router.emit({
      type: 'close',
      stream: this.id,
      code: H2_CODE.INTERNAL_ERROR,
      reason: 'the request listener failed',
    });
    this.closed(H2_CODE.INTERNAL_ERROR);
  }

  /** Run listener code on behalf of this exchange: what it throws fails only this exchange. */
  private guard(run: () => void): void {
    this.router.call(this, run, undefined, undefined);
  }
}

function finish(exchange: NodeExchange): void {
  exchange.finished();
}

function callOut(callbacks: WriteCallback[], error?: Error): void {
  for (const callback of callbacks) callback(error);
}
