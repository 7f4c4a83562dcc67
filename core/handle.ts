import type { Observable, Subscription, TeardownLogic, Unsubscribable } from 'rxjs';
import { type App, type SessionOutput, sessionApp } from './app.js';
import { BodyReader, EMPTY_BYTES } from './body.js';
import { chunkLength } from './connection.js';
import { ERR, RxgiError } from './errors.js';
import {
  type Chunk,
  type DroppedEvent,
  GRANT_BATCH,
  H2_CODE,
  type HeaderList,
  INITIAL_WINDOW,
  type MessageEvent,
  type OutboundEvent,
  type RequestEvent,
  type UndeliveredEvent,
  WS_CODE,
} from './events.js';
import { headerList } from './headers.js';
import { logger } from './log.js';
import { Multicast } from './multicast.js';
import {
  type Body,
  type HeadersInit,
  type Reply,
  status,
  text,
  type WebSocketReply,
} from './reply.js';
import { type EventSink, HttpRequest } from './request.js';
import { FAILED, HandlerRouter, isPromise } from './router.js';
import { isObservable, UnsubscriptionError } from './rx.js';

/** What a handler may answer: a reply, a WebSocket acceptance, or a string (200 text). */
export type Answer = Reply | WebSocketReply | string;

/** A function that answers one exchange at a time. */
export type Handler = (
  request: HttpRequest,
) => Answer | null | undefined | Promise<Answer | null | undefined> | Observable<Answer>;

/** Consumed input is granted back once this much is owed (docs/handle.md, Flow control). */

/**
 * Turn a per-exchange handler into an app. Each request calls `handler` once; its answer becomes
 * the response. Errors become error responses (the error's status, or 500) without affecting
 * other exchanges; bodies are streamed with flow control in both directions.
 *
 * @example
 * export default handle((req) => text(`hello ${req.path}`));
 */
export function handle(handler: Handler): App {
  // The handler sits on the prototype of a router class of this app's own, not in a field of
  // every connection's router (8 bytes an idle WebSocket holds).
  class AppRouter extends HandleRouter {}
  Object.defineProperty(AppRouter.prototype, 'handler', { value: handler });
  return sessionApp((out, connection) => new AppRouter(out, connection.address));
}

/**
 * One exchange inside `handle`: the request its handler is given, and the state `handle` keeps
 * for it. One object, not two: this is made for every request.
 */
class HandleExchange extends HttpRequest {
  /** Output credit left (SPEC.md §5.2), from what the driver announced. */
  window = this.event.window ?? INITIAL_WINDOW;
  finished = false;
  headSent = false;
  subscription: Subscription | null = null;
  iterator: AsyncIterator<Chunk> | null = null;
  wakeup: (() => void) | null = null;
  /** Input credit withheld while the output is backed up (mail taken from the inbox). */
  owed = 0;
  /** The WebSocket session this handshake became, once accepted. */
  session: HandleSession | null = null;

  /** The key of the router's table. */
  get id(): number {
    return this.event.stream;
  }

  protected override held(): void {
    // The session's stream events reach the request from now on (see `HandleSession.request`).
    if (this.session !== null) this.session.request = this;
  }
}

/** What the router keeps per open stream: an exchange, or the WebSocket session it became. */
type HandleRoute = HandleExchange | HandleSession;

/** One connection's worth of `handle`: calls the handler per request and routes its events. */
abstract class HandleRouter extends HandlerRouter<HandleRoute> implements EventSink {
  /** The connection received `shutdown`. */
  stopped = false;
  /** The app's handler: on the prototype of the app's own subclass (`handle`). */
  declare protected readonly handler: Handler;

  constructor(
    out: SessionOutput,
    /** The connection's actor address. */
    readonly address: string,
  ) {
    super(out);
  }

  /** The sink requests write to: the app's output. */
  next(event: OutboundEvent): void {
    this.out.next(event);
  }

  protected override shutdown(): void {
    this.stopped = true;
    for (const route of this.streamList()) {
      if (route instanceof HandleExchange) route.stop();
      else route.request?.stop();
    }
  }

  protected override data(exchange: HandleRoute, chunk: Uint8Array, end: boolean): void {
    // A session reads messages, not a body.
    if (!(exchange instanceof HandleExchange)) return;
    exchange.body.push(chunk);
    if (end) exchange.body.end();
  }

  protected override trailers(exchange: HandleRoute, headers: HeaderList): void {
    if (!(exchange instanceof HandleExchange)) return;
    exchange.body.end(headers);
  }

  protected override wsMessage(route: HandleRoute, data: Uint8Array | string): void {
    if (route instanceof HandleExchange) return;
    route.deliver(data);
    this.consumed(route, chunkLength(data));
  }

  protected override message(route: HandleRoute, event: MessageEvent): void {
    // Unread mail is still granted back: it was delivered, and dropped by the app.
    requestOf(route)?.mail(event);
    this.consumed(route, event.size);
  }

  protected override undelivered(route: HandleRoute, event: UndeliveredEvent): void {
    requestOf(route)?.mail(event);
  }

  protected override dropped(route: HandleRoute, event: DroppedEvent): void {
    requestOf(route)?.mail(event);
  }

  protected cancel(exchange: HandleRoute): void {
    this.close(exchange, H2_CODE.CANCEL, 'closed');
  }

  protected create(event: RequestEvent): HandleExchange {
    return new HandleExchange(event, this);
  }

  protected start(exchange: HandleRoute): unknown {
    return this.handler(exchange as HandleExchange);
  }

  /** The handler's answer: an Observable's first value, a promise's value, or itself. */
  protected override started(route: HandleRoute, answer: unknown): void {
    const exchange = route as HandleExchange;
    if (isObservable(answer)) this.first(exchange, answer as Observable<Answer>);
    else if (isPromise(answer)) this.watch(exchange, answer);
    else this.answer(exchange, answer as Answer | null | undefined);
  }

  /** The handler's promise resolved. */
  protected override settled(exchange: HandleRoute, answer: unknown): void {
    this.answer(exchange as HandleExchange, answer as Answer | null | undefined);
  }

  /** The handler answered with an Observable: its first value is the answer. */
  private first(exchange: HandleExchange, answer: Observable<Answer>): void {
    let answered = false;
    exchange.subscription = answer.subscribe({
      next: (value) => {
        if (answered) return;
        answered = true;
        exchange.subscription?.unsubscribe();
        exchange.subscription = null;
        this.answer(exchange, value);
      },
      error: (error) => this.fail(exchange, error),
      complete: () => {
        if (!answered) this.answer(exchange, null);
      },
    });
    if (answered) exchange.subscription?.unsubscribe();
  }

  private answer(exchange: HandleExchange, answer: Answer | null | undefined): void {
    if (exchange.finished) return;
    if (answer === null || answer === undefined) {
      this.fail(exchange, new RxgiError(ERR.NO_RESPONSE, 'the handler returned no response'));
      return;
    }
    if (typeof answer === 'string') answer = text(answer);
    if ('websocket' in answer) {
      this.accept(exchange, answer);
      return;
    }
    const stream = exchange.stream;
    const headers = toHeaderList(answer.headers);
    const body = answer.body;
    const trailers = answer.trailers;
    const hasTrailers = trailers !== undefined;
    exchange.headSent = true;
    const status = answer.status ?? 200;
    // One literal of one shape per response: object spreads cost microseconds on this path.
    if (body === null || body === undefined || typeof body === 'string' || isBytes(body)) {
      const end = !hasTrailers;
      const chunk = body === null ? undefined : body;
      this.next({
        type: 'response',
        stream,
        status,
        headers,
        body: chunk,
        end,
        trailers: hasTrailers,
      });
      if (end) this.finish(exchange);
      else {
        if (chunk !== undefined) exchange.window -= chunkLength(chunk);
        void this.endBody(exchange, trailers);
      }
      return;
    }
    this.next({
      type: 'response',
      stream,
      status,
      headers,
      body: undefined,
      end: false,
      trailers: hasTrailers,
    });
    // The driver may have failed the stream while writing the head (a bad header, say).
    if (exchange.finished) discard(body);
    else if (body instanceof BodyReader) this.pipeBody(exchange, body, trailers);
    else if (isObservable(body)) this.pushBody(exchange, body, trailers);
    else if (isNodeReadable(body)) this.flowBody(exchange, body, trailers);
    else if (isWebStream(body)) void this.pullBody(exchange, readerOf(body), trailers);
    else void this.pullBody(exchange, body[Symbol.asyncIterator](), trailers);
  }

  private pushBody(
    exchange: HandleExchange,
    body: Observable<Chunk>,
    trailers: Reply['trailers'],
  ): void {
    exchange.subscription = body.subscribe({
      next: (chunk) => this.send(exchange, chunk),
      error: (error) => this.fail(exchange, error),
      complete: () => void this.endBody(exchange, trailers),
    });
  }

  /**
   * A request body sent on as it arrives (an echo, a proxy's upload): the reader pushes each
   * chunk in the driver's own call, no promise per chunk, and is paused while the exchange has
   * no output credit, so what is read stays within its window (`BodyReader.flow`).
   */
  private pipeBody(exchange: HandleExchange, body: BodyReader, trailers: Reply['trailers']): void {
    const resume = () => {
      if (!exchange.finished) body.resume();
    };
    exchange.iterator = standIn(() => body.stop());
    body.flow(
      {
        chunk: (chunk) => {
          this.send(exchange, chunk);
          if (exchange.window <= 0 && !exchange.finished) {
            body.pause();
            exchange.wakeup = resume;
          }
        },
        end: () => {
          exchange.iterator = null;
          void this.endBody(exchange, trailers);
        },
        // The body fails only when its stream closes: for this exchange's own body, in the
        // middle of `close`, which finishes the exchange right after (nothing to answer, nothing
        // to log); for another exchange's, this one is aborted. Either way, after the close.
        fail: (error) => queueMicrotask(() => this.fail(exchange, error)),
      },
      exchange.window,
    );
    if (exchange.window <= 0 && !exchange.finished) exchange.wakeup = resume;
  }

  /**
   * A node Readable body, read in flowing mode: each chunk is sent as the stream emits it (a
   * Buffer as the Uint8Array it is), and the stream is paused while the exchange has no output
   * credit. Its async iterator would `read()` whatever it has buffered as one concatenated copy.
   */
  private flowBody(
    exchange: HandleExchange,
    body: NodeReadable,
    trailers: Reply['trailers'],
  ): void {
    const resume = () => {
      if (!exchange.finished) body.resume();
    };
    const onData = (chunk: Chunk) => {
      this.send(exchange, chunk);
      if (exchange.window <= 0 && !exchange.finished) {
        body.pause();
        exchange.wakeup = resume;
      }
    };
    const onError = (error: unknown) => this.fail(exchange, error);
    const onEnd = () => {
      exchange.iterator = null;
      body.off('data', onData);
      void this.endBody(exchange, trailers);
    };
    exchange.iterator = standIn(() => {
      body.off('data', onData);
      body.destroy();
    });
    body.once('error', onError);
    body.once('end', onEnd);
    body.on('data', onData);
  }

  private async pullBody(
    exchange: HandleExchange,
    iterator: AsyncIterator<Chunk>,
    trailers: Reply['trailers'],
  ): Promise<void> {
    try {
      exchange.iterator = iterator;
      for (;;) {
        while (exchange.window <= 0 && !exchange.finished) {
          await new Promise<void>((resolve) => {
            exchange.wakeup = resolve;
          });
        }
        if (exchange.finished) return;
        const result = await iterator.next();
        if (exchange.finished) return;
        if (result.done) break;
        this.send(exchange, result.value);
      }
      exchange.iterator = null;
      await this.endBody(exchange, trailers);
    } catch (error) {
      this.fail(exchange, error);
    }
  }

  /** One chunk of the response body. */
  private send(exchange: HandleExchange, chunk: Chunk): void {
    if (exchange.finished || chunkLength(chunk) === 0) return;
    exchange.window -= chunkLength(chunk);
    this.next({ type: 'data', stream: exchange.stream, chunk, end: false });
  }

  private async endBody(exchange: HandleExchange, trailers: Reply['trailers']): Promise<void> {
    if (exchange.finished) return;
    if (trailers === undefined) {
      this.next({ type: 'data', stream: exchange.stream, chunk: EMPTY_BYTES, end: true });
    } else {
      try {
        const fields = await (typeof trailers === 'function' ? trailers() : trailers);
        if (exchange.finished) return;
        this.next({ type: 'trailers', stream: exchange.stream, headers: fields });
      } catch (error) {
        this.fail(exchange, error);
        return;
      }
    }
    this.finish(exchange);
  }

  private accept(exchange: HandleExchange, answer: WebSocketReply): void {
    const stream = exchange.stream;
    if (!exchange.websocket) {
      const reply = status(426);
      this.next({
        type: 'response',
        stream,
        status: 426,
        headers: ['upgrade', 'websocket', ...toHeaderList(reply.headers)],
        body: reply.body as string,
        end: true,
      });
      this.finish(exchange);
      return;
    }
    exchange.headSent = true;
    // From here the stream's route is the session, which holds the request only once the
    // request keeps state its events reach (an inbox, a signal): an idle session whose code
    // let go of the request holds neither it nor the request event (docs/internals.md).
    const session = new HandleSession(this, exchange);
    exchange.session = session;
    exchange.finished = true;
    if (exchange.holdsState) session.request = exchange;
    this.addStream(session);
    this.next({
      type: 'ws-accept',
      stream,
      subprotocol: answer.subprotocol,
      headers: answer.headers,
    });
    this.next({ type: 'window', stream, bytes: INITIAL_WINDOW });
    if (session.finished) return;
    const output = this.call(session, answer.websocket, session.observable, exchange);
    if (output === FAILED) return;
    (output as Observable<Chunk>).subscribe(session);
  }

  /** @internal A message of the session's output. */
  sendMessage(session: HandleSession, data: Chunk): void {
    if (session.finished) return;
    session.window -= chunkLength(data);
    this.next({ type: 'ws-message', stream: session.id, data });
  }

  /** @internal The session's output completed: the session closes with 1000. */
  endSession(session: HandleSession): void {
    if (session.finished) return;
    this.next({ type: 'close', stream: session.id, code: WS_CODE.NORMAL, reason: '' });
    this.finish(session);
  }

  /** Input the app took: granted back only while its output flows. */
  private consumed(exchange: HandleRoute, size: number): void {
    if (exchange.finished) return;
    // Input is granted back only while output flows: a client that does not read is not read.
    // Grants go out in batches (a quarter of the initial window): one `window` event per small
    // message would cost as much as the message.
    exchange.owed += size;
    if (exchange.window > 0 && exchange.owed >= GRANT_BATCH) {
      const owed = exchange.owed;
      exchange.owed = 0;
      this.next({ type: 'window', stream: exchange.id, bytes: owed });
    }
  }

  protected override window(exchange: HandleRoute, bytes: number): void {
    exchange.window += bytes;
    if (exchange.window <= 0) return;
    if (exchange instanceof HandleExchange) {
      const wakeup = exchange.wakeup;
      exchange.wakeup = null;
      wakeup?.();
    }
    if (exchange.owed > 0) {
      const owed = exchange.owed;
      exchange.owed = 0;
      this.next({ type: 'window', stream: exchange.id, bytes: owed });
    }
  }

  /** The driver closed the stream: stop all work for it. */
  protected close(route: HandleRoute, code: number, reason: string): void {
    if (route.finished) return;
    requestOf(route)?.abandon(code, reason);
    if (!(route instanceof HandleExchange)) route.end();
    this.finish(route);
  }

  /** A failure inside the exchange: answer with its status, or abort after the head. */
  fail(exchange: HandleRoute, error: unknown): void {
    if (exchange.finished) return;
    const rxgi = error instanceof RxgiError ? error : null;
    const code =
      exchange instanceof HandleExchange ? H2_CODE.INTERNAL_ERROR : WS_CODE.INTERNAL_ERROR;
    if (rxgi === null || rxgi.status >= 500) {
      logger().error('handler failed', { stream: exchange.id, error });
    }
    if (exchange instanceof HandleExchange && !exchange.headSent) {
      exchange.headSent = true;
      const reply = status(rxgi?.status ?? 500);
      this.next({
        type: 'response',
        stream: exchange.stream,
        status: reply.status as number,
        headers: toHeaderList(reply.headers),
        body: reply.body as string,
        end: true,
      });
    } else {
      this.next({ type: 'close', stream: exchange.id, code, reason: 'internal error' });
    }
    this.finish(exchange);
  }

  private finish(route: HandleRoute): void {
    if (route.finished) return;
    route.finished = true;
    this.dropStream(route.id);
    if (!(route instanceof HandleExchange)) {
      route.request?.finish();
      route.request = null;
      route.unsubscribe();
      return;
    }
    const exchange = route;
    exchange.finish();
    exchange.subscription?.unsubscribe();
    exchange.subscription = null;
    const iterator = exchange.iterator;
    exchange.iterator = null;
    if (iterator?.return) void Promise.resolve(iterator.return()).catch(() => {});
    const wakeup = exchange.wakeup;
    exchange.wakeup = null;
    wakeup?.();
  }
}

/** The bits of `HandleSession.flags`. */
const STOPPED = 1;
const CLOSED = 2;
const FINISHED = 4;

/**
 * A WebSocket session of `handle`, once its handshake is accepted: the stream's route, the
 * Observable of the client's messages (a `Multicast`, given to the session's code), and the
 * subscriber of the session's output. One object per session, where an observer literal would
 * cost rxjs's wrapper, its observer and three closures (about 370 bytes held for as long as the
 * session is open), and the exchange with its request event another 450.
 *
 * It is a subscriber by rxjs's own test (an observer that is also a subscription: `next`,
 * `error`, `complete`, `closed`, `add`, `remove`, `unsubscribe`), which rxjs uses as it is,
 * with a Subscriber's rules: nothing is heard after `error` or `complete`, each of which ends
 * in `unsubscribe`; `unsubscribe` runs what was added once, and what is added after it runs at
 * once. rxjs's `Subscriber` would keep six fields for it where this keeps two (`flags`, and
 * `finalizers`), for as long as the session is open. What its hooks throw reaches the
 * producer, as with any Subscriber; the router's own hooks do not throw.
 */
class HandleSession extends Multicast<Uint8Array | string> {
  /** STOPPED, CLOSED and FINISHED. */
  private flags = 0;
  /** What `unsubscribe` runs: one finalizer, a list of them, or none. */
  private finalizers: Finalizer | Finalizer[] | null = null;
  /** The stream id, the key of the router's table. */
  readonly id: number;
  /** Output credit left (SPEC.md §5). */
  window: number;
  /** Input credit withheld while the output is backed up. */
  owed: number;
  /**
   * The handshake's request, while it keeps state the stream's events reach (its inbox, its
   * signals); the request sets it when it first does (`HandleExchange.held`).
   */
  request: HandleExchange | null = null;

  constructor(
    private readonly router: HandleRouter,
    exchange: HandleExchange,
  ) {
    super();
    this.id = exchange.id;
    this.window = exchange.window;
    this.owed = exchange.owed;
  }

  /** The route is over (the router's). */
  get finished(): boolean {
    return (this.flags & FINISHED) !== 0;
  }
  set finished(on: boolean) {
    this.flags = on ? this.flags | FINISHED : this.flags & ~FINISHED;
  }

  /** Unsubscribed: what was added has run. */
  get closed(): boolean {
    return (this.flags & CLOSED) !== 0;
  }

  next(data: Chunk): void {
    if ((this.flags & STOPPED) === 0) this.router.sendMessage(this, data);
  }

  error(error: unknown): void {
    if ((this.flags & STOPPED) !== 0) return;
    this.flags |= STOPPED;
    try {
      this.router.fail(this, error);
    } finally {
      this.unsubscribe();
    }
  }

  complete(): void {
    if ((this.flags & STOPPED) !== 0) return;
    this.flags |= STOPPED;
    try {
      this.router.endSession(this);
    } finally {
      this.unsubscribe();
    }
  }

  add(finalizer: TeardownLogic): void {
    if (finalizer === null || finalizer === undefined || finalizer === this) return;
    if (this.closed) {
      runFinalizer(finalizer as Finalizer);
      return;
    }
    const current = this.finalizers;
    if (current === null) this.finalizers = finalizer as Finalizer;
    else if (Array.isArray(current)) current.push(finalizer as Finalizer);
    else this.finalizers = [current, finalizer as Finalizer];
  }

  remove(finalizer: TeardownLogic): void {
    const current = this.finalizers;
    if (current === finalizer) this.finalizers = null;
    else if (Array.isArray(current)) {
      const at = current.indexOf(finalizer as Finalizer);
      if (at >= 0) current.splice(at, 1);
    }
  }

  unsubscribe(): void {
    if (this.closed) return;
    this.flags |= STOPPED | CLOSED;
    const current = this.finalizers;
    this.finalizers = null;
    if (current === null) return;
    if (!Array.isArray(current)) {
      runFinalizer(current);
      return;
    }
    // As rxjs does: every finalizer runs, and what they threw is thrown together after.
    const errors: unknown[] = [];
    for (const finalizer of current) {
      try {
        runFinalizer(finalizer);
      } catch (error) {
        errors.push(error);
      }
    }
    if (errors.length > 0) throw new UnsubscriptionError(errors);
  }
}

/** What a subscriber's `add` keeps: a teardown function or a subscription. */
type Finalizer = Unsubscribable | (() => void);

function runFinalizer(finalizer: Finalizer): void {
  if (typeof finalizer === 'function') finalizer();
  else finalizer.unsubscribe();
}

/** The request a route's stream events reach, if it keeps any state they concern. */
function requestOf(route: HandleRoute): HandleExchange | null {
  return route instanceof HandleExchange ? route : route.request;
}

function toHeaderList(headers: HeadersInit | undefined): HeaderList {
  if (headers === undefined) return [];
  return Array.isArray(headers) ? headers : headerList(headers);
}

/** Let go of a body that will never be read: a Node stream is destroyed, a web stream cancelled. */
function discard(body: Body): void {
  const stream = body as { destroy?: () => void; cancel?: () => unknown } | null;
  if (typeof stream?.destroy === 'function') stream.destroy();
  else if (typeof stream?.cancel === 'function')
    void Promise.resolve(stream.cancel()).catch(() => {});
}

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/**
 * What stands for a pushed body (a piped request body, a flowing Readable) in `finish`, which
 * ends a body the exchange no longer wants: `stop` is its `return`.
 */
function standIn(stop: () => void): AsyncIterator<Chunk> {
  return {
    next: () => Promise.resolve(DONE),
    return: () => {
      stop();
      return Promise.resolve(DONE);
    },
  };
}

/** What `handle` uses of a node Readable (core does not import node:stream). */
interface NodeReadable {
  on(event: 'data', listener: (chunk: Chunk) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  once(event: 'error', listener: (error: unknown) => void): unknown;
  off(event: 'data', listener: (chunk: Chunk) => void): unknown;
  pause(): unknown;
  resume(): unknown;
  destroy(): unknown;
}

function isNodeReadable(body: object): body is NodeReadable {
  const b = body as Partial<Record<'on' | 'pause' | 'resume' | 'destroy' | 'read', unknown>>;
  return (
    typeof b.on === 'function' &&
    typeof b.pause === 'function' &&
    typeof b.resume === 'function' &&
    typeof b.destroy === 'function' &&
    typeof b.read === 'function'
  );
}

function isWebStream(body: object): body is ReadableStream<Chunk> {
  return typeof (body as { getReader?: unknown }).getReader === 'function';
}

/**
 * A web ReadableStream as an iterator over its default reader: `read()` results are iterator
 * results already, without the extra promise hops of the stream's own async iterator.
 */
function readerOf(body: ReadableStream<Chunk>): AsyncIterator<Chunk> {
  const reader = body.getReader();
  return {
    next: () => reader.read() as Promise<IteratorResult<Chunk>>,
    return: async () => {
      await reader.cancel();
      return DONE;
    },
  };
}

function isBytes(value: Body): value is Uint8Array {
  return value instanceof Uint8Array;
}
