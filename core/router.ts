/**
 * The per-stream skeleton of a session app (SPEC.md §4): one table of the connection's open
 * streams, one place where inbound events are routed to their stream, one teardown, and one way
 * to call user code so that what it throws fails its own stream alone. `handle`,
 * `fromNodeHandler` and `fromConnect` are built on it; each keeps only what is its own.
 */
import type { AppSession, SessionOutput } from './app.js';
import type {
  DroppedEvent,
  HeaderList,
  InboundEvent,
  MessageEvent,
  RequestEvent,
  ShutdownEvent,
  UndeliveredEvent,
} from './events.js';
import { StreamSlots } from './table.js';

/** An inbound event that belongs to one stream: every type but `request` and `shutdown`. */
export type StreamEvent = Exclude<InboundEvent, RequestEvent | ShutdownEvent>;

/** What a router keeps for each open stream: anything that knows its stream's id. */
export interface Route {
  readonly id: number;
}

/** What {@link HandlerRouter.call} returns when the user code threw (its route has failed). */
export const FAILED: unique symbol = Symbol('rxgi.failed');

/**
 * @internal One connection's session (a `sessionApp`'s `AppSession`) that keeps a route per
 * open stream. A `request` opens a route (`open`), `shutdown` is the connection's, and every
 * other event goes to the route of its stream (`route`), or to `unrouted` when the stream has
 * none (stream 0, the connection itself; a stream the router has let go). When the connection
 * ends, each route still open is cancelled. It is the table of its routes (`StreamSlots`).
 */
export abstract class StreamRouter<R extends Route> extends StreamSlots<R> implements AppSession {
  constructor(
    /** The app's output. */
    protected readonly out: SessionOutput,
  ) {
    super();
  }

  /** One inbound event from the driver. */
  receive(event: InboundEvent): void {
    if (event.type === 'request') {
      this.open(event);
      return;
    }
    if (event.type === 'shutdown') {
      this.shutdown(event);
      return;
    }
    const route = this.streamOf(event.stream);
    if (route === undefined) this.unrouted(event);
    else this.route(route, event);
  }

  /** The connection ended, or the app's output was unsubscribed; may be called twice. */
  teardown(): void {
    for (const route of this.streamList()) this.cancel(route);
  }

  /** A new stream: make its route (and put it in the table, if it is to get events). */
  protected abstract open(event: RequestEvent): void;

  /** An event for an open stream. */
  protected abstract route(route: R, event: StreamEvent): void;

  /** The connection ended while `route` was open. */
  protected abstract cancel(route: R): void;

  /** The server is shutting down (SPEC.md §7.2). */
  protected shutdown(_event: ShutdownEvent): void {}

  /** An event for a stream without a route: dropped unless a router wants it. */
  protected unrouted(_event: StreamEvent): void {}
}

/**
 * @internal A router whose streams each run user code (a handler, a Node request listener): a
 * `request` makes a route (`create`) and starts its user code (`start`), and the event of an
 * open stream goes to the hook of its type. User code is called guarded (`start`, then `call`):
 * a throw or a rejected promise is `fail` for that stream alone (SPEC.md §8). Types a router does
 * not know (SPEC.md §10) are dropped.
 */
export abstract class HandlerRouter<R extends Route> extends StreamRouter<R> {
  /** A new stream: its route is made and tabled, then its user code is started, guarded. */
  protected open(event: RequestEvent): void {
    const route = this.create(event);
    this.addStream(route);
    let result: unknown;
    try {
      result = this.start(route);
    } catch (error) {
      this.fail(route, error);
      return;
    }
    this.started(route, result);
  }

  /** The route of a new stream. */
  protected abstract create(event: RequestEvent): R;

  /** Call the user code that serves a new stream (a handler, a listener); a throw fails it. */
  protected abstract start(route: R): unknown;

  /** What `start` returned: by default a promise is watched, so a rejection fails the stream. */
  protected started(route: R, result: unknown): void {
    if (isPromise(result)) this.watch(route, result);
  }

  protected route(route: R, event: StreamEvent): void {
    switch (event.type) {
      case 'data':
        this.data(route, event.chunk, event.end);
        return;
      case 'trailers':
        this.trailers(route, event.headers);
        return;
      case 'ws-message':
        this.wsMessage(route, event.data);
        return;
      case 'message':
        this.message(route, event);
        return;
      case 'undelivered':
        this.undelivered(route, event);
        return;
      case 'dropped':
        this.dropped(route, event);
        return;
      case 'window':
        this.window(route, event.bytes);
        return;
      case 'close':
        this.close(route, event.code, event.reason);
        return;
    }
  }

  /**
   * Call user code on behalf of `route` with two arguments, after `start` (a WebSocket handler,
   * code run on a Node exchange's objects). A throw fails the route and gives {@link FAILED};
   * otherwise the code's result is returned, for the caller to use or to `watch`.
   */
  call<A, B>(route: R, code: (a: A, b: B) => unknown, a: A, b: B): unknown {
    try {
      return code(a, b);
    } catch (error) {
      this.fail(route, error);
      return FAILED;
    }
  }

  /** Wait for a promise user code returned: its value goes to `settled`, a rejection to `fail`. */
  protected watch(route: R, promise: PromiseLike<unknown>): void {
    promise.then(
      (value) => this.settled(route, value),
      (error: unknown) => this.fail(route, error),
    );
  }

  /** User code failed for `route`: answer or abort that stream alone (SPEC.md §8). */
  protected abstract fail(route: R, error: unknown): void;

  /** The stream closed (inbound `close`). */
  protected abstract close(route: R, code: number, reason: string): void;

  /** A promise given to `watch` resolved. */
  protected settled(_route: R, _value: unknown): void {}

  /** A chunk of the request body; `end` marks the last one. */
  protected data(_route: R, _chunk: Uint8Array, _end: boolean): void {}

  /** The request body ended with trailer fields. */
  protected trailers(_route: R, _headers: HeaderList): void {}

  /** A WebSocket message from the client. */
  protected wsMessage(_route: R, _data: Uint8Array | string): void {}

  /** A message for the stream's address or one of its groups (spec/actors.md). */
  protected message(_route: R, _event: MessageEvent): void {}

  /** A message the stream sent was not delivered. */
  protected undelivered(_route: R, _event: UndeliveredEvent): void {}

  /** Group messages for the stream were dropped: its inbox was full (spec/actors.md §4). */
  protected dropped(_route: R, _event: DroppedEvent): void {}

  /** Output credit for the stream (SPEC.md §5). */
  protected window(_route: R, _bytes: number): void {}
}

/** A thenable: user code returned a promise (or something that acts as one). */
export function isPromise<T>(value: unknown): value is PromiseLike<T> {
  return typeof (value as PromiseLike<T> | null)?.then === 'function';
}
