/**
 * Connect-style middleware (`(req, res, next)`: Connect, Express's `app.use` functions,
 * `helmet`, `cors`, `morgan`, `serve-static`, hand-written ones) in front of an rxgi app.
 *
 * The middleware runs on the adoption shim's node objects (`fromNodeHandler`): a real
 * `IncomingMessage`/`ServerResponse` pair per exchange. A middleware that answers itself (a
 * 401, a static file) answers through the shim. One that calls `next()` hands the exchange
 * over to the inner rxgi app: the request event (and the body events, which the middleware
 * left unread) go to the inner app, which is called once per connection as usual, and the
 * headers the middleware set with `res.setHeader` are added to the inner app's response.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import {
  type App,
  type AppRun,
  type ConnectionInfo,
  type Middleware,
  runApp,
  type SessionOutput,
  sessionApp,
} from '../../../core/app.js';
import {
  H2_CODE,
  type HeaderList,
  type InboundEvent,
  type OutboundEvent,
  type RequestEvent,
  type ShutdownEvent,
} from '../../../core/events.js';
import { withoutField } from '../../../core/headers.js';
import { logger } from '../../../core/log.js';
import { type Route, type StreamEvent, StreamRouter } from '../../../core/router.js';
import { errorBody } from '../../../core/status.js';
import { type NodeListener, NodeRouter, requestEvent } from './from-node.js';
import { NodeShapes } from './node-objects.js';

/** A Connect/Express middleware function. `next(error)` fails the exchange. */
export type ConnectMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => unknown;

/**
 * Put Connect-style middleware in front of an rxgi app, as rxgi middleware.
 *
 * For every exchange the middleware runs on real node objects (see `fromNodeHandler`). If it
 * answers (ends `res`), the inner app never hears of the exchange. If it calls `next()`, the
 * inner app gets the request event, with `req.url` as the middleware left it and request
 * headers the middleware added or changed, then the body, which streams with the inner app's
 * own flow control. Headers set with `res.setHeader` before `next()` are added to the inner
 * app's response unless it sets the same field itself (`set-cookie` fields are all kept).
 * `next(error)` answers with the error's `status`/`statusCode` (4xx/5xx) or 500.
 *
 * Limits: a middleware that read any of the request body (a body parser) cannot hand the
 * exchange over (the bytes are gone): it is answered 500. The response status the middleware
 * set before `next()` is not carried; `res` hears `'close'` once the inner app's response ends.
 *
 * @example
 * const auth: ConnectMiddleware = (req, res, next) => {
 *   if (req.headers.authorization === 'Bearer secret') return next();
 *   res.statusCode = 401;
 *   res.end('unauthorized');
 * };
 * await serve(compose(fromConnect(auth), fromConnect(cors()))(app), { port: 8000 });
 */
export function fromConnect(middleware: ConnectMiddleware): Middleware {
  const shapes = new NodeShapes();
  return (inner) =>
    sessionApp((out, connection) => new ConnectRouter(middleware, inner, out, connection, shapes));
}

/** Per stream state of `fromConnect`, for a stream the middleware has seen. */
class ConnectRoute implements Route {
  /** Handed over to the inner app; its fields are the middleware's response headers. */
  passed: HeaderList | null = null;
  /** Body events that arrived while the middleware ran, kept for a hand-over. */
  held: InboundEvent[] | null = [];
  /** The shim's exchange has been told to let go (after a hand-over). */
  retired = false;
  /** No more inbound events will come for the stream but a `close`. */
  inputDone: boolean;

  constructor(
    readonly id: number,
    end: boolean,
  ) {
    this.inputDone = end;
  }
}

/**
 * One connection of `fromConnect`. Every stream meets the middleware first, on the shim's
 * router; one the middleware hands over (`next()`) is routed to the inner app from then on.
 * Both are run directly, with no Observable between them and the connection (the inner app
 * through its Observable only when `sessionApp` did not make it). The output is the two
 * outputs merged: it fails when either fails, and does not complete, as the middleware's side
 * has no end of its own.
 */
class ConnectRouter extends StreamRouter<ConnectRoute> {
  private readonly shim: NodeRouter;
  private readonly inner: AppRun;

  constructor(
    middleware: ConnectMiddleware,
    inner: App,
    out: SessionOutput,
    info: ConnectionInfo,
    shapes: NodeShapes,
  ) {
    super(out);
    this.shim = new NodeRouter(this.listener(middleware), new MiddlewareSide(this), shapes);
    this.inner = runApp(inner, new InnerSide(this), info);
  }

  override teardown(): void {
    this.shim.teardown();
    this.inner.teardown();
    super.teardown();
  }

  protected open(event: RequestEvent): void {
    this.addStream(new ConnectRoute(event.stream, event.end));
    this.shim.receive(event);
  }

  protected override shutdown(event: ShutdownEvent): void {
    this.shim.receive(event);
    this.inner.receive(event);
  }

  protected override unrouted(event: StreamEvent): void {
    this.shim.receive(event);
    // Stream 0 is the connection: both sides hear of it. Another stream without a route is
    // one the middleware answered, whose shim exchange may still wait for its close.
    if (event.stream === 0) this.inner.receive(event);
  }

  protected route(route: ConnectRoute, event: StreamEvent): void {
    if (isInputEnd(event)) route.inputDone = true;
    if (route.passed !== null) {
      this.inner.receive(event);
      if (event.type === 'close') {
        route.inputDone = true;
        this.retire(route);
      } else if (route.inputDone && route.retired) this.dropStream(route.id);
      return;
    }
    if (route.held !== null && event.type !== 'window') route.held.push(event);
    this.shim.receive(event);
    if (event.type === 'close') this.dropStream(route.id);
  }

  protected cancel(route: ConnectRoute): void {
    this.dropStream(route.id);
  }

  /** An event of the shim's (the middleware answering, or the shim's credit). */
  fromMiddleware(event: OutboundEvent): void {
    const route = this.streamOf(event.stream);
    if (route !== undefined) {
      if (route.passed !== null) return; // the shim's leftovers (credit) for a passed stream
      // The middleware answered: nothing is handed over, no body needs to be kept.
      if (event.type === 'response' || event.type === 'close') route.held = null;
      if (event.type === 'close' || isEnd(event)) this.dropStream(event.stream);
    }
    this.out.next(event);
  }

  /** An event of the inner app's: a passed stream's response gets the middleware's fields. */
  fromInner(event: OutboundEvent): void {
    const route = this.streamOf(event.stream);
    if (route === undefined || route.passed === null) {
      this.out.next(event);
      return;
    }
    if (event.type === 'response') {
      this.out.next({ ...event, headers: mergeFields(route.passed, event.headers) });
    } else this.out.next(event);
    if (event.type === 'close' || isEnd(event)) this.retire(route);
  }

  /** Either side's output failed: so does the connection's (SPEC.md §4). */
  failed(error: unknown): void {
    this.out.error(error);
  }

  /** The shim's request listener: the middleware, with a `next` that hands the stream over. */
  private listener(middleware: ConnectMiddleware): NodeListener {
    return (req, res) => {
      const event = requestEvent(req) as RequestEvent;
      let called = false;
      return middleware(req, res, (error?: unknown) => {
        if (called) return;
        called = true;
        if (error !== undefined && error !== null && error !== false) answerError(res, error);
        else this.handOver(event, req, res);
      });
    };
  }

  /** `next()`: the inner app gets the request as the middleware left it, and the held body. */
  private handOver(event: RequestEvent, req: IncomingMessage, res: ServerResponse): void {
    const route = this.streamOf(event.stream);
    if (route === undefined || route.passed !== null || res.headersSent || res.writableEnded) {
      return;
    }
    if (req.readableDidRead && !event.end) {
      answerError(res, new Error('the middleware read the request body, then called next()'));
      return;
    }
    route.passed = responseFields(res);
    const held = route.held ?? [];
    route.held = null;
    this.inner.receive(passedRequest(event, req));
    for (const body of held) this.inner.receive(body);
  }

  /** The inner app's response ended: the shim's exchange lets go of its node objects. */
  private retire(route: ConnectRoute): void {
    if (route.inputDone) this.dropStream(route.id);
    if (route.retired) return;
    route.retired = true;
    // The shim's exchange aborts its objects: `res` hears 'close' (on-finished, morgan).
    this.shim.receive({
      type: 'close',
      stream: route.id,
      code: H2_CODE.NO_ERROR,
      reason: 'handed over',
    });
  }
}

/** The shim's output, through the router. The shim never ends its output. */
class MiddlewareSide implements SessionOutput {
  constructor(private readonly router: ConnectRouter) {}

  next(event: OutboundEvent): void {
    this.router.fromMiddleware(event);
  }

  error(error: unknown): void {
    this.router.failed(error);
  }

  complete(): void {}
}

/** The inner app's output, through the router. Its completion ends nothing (see ConnectRouter). */
class InnerSide implements SessionOutput {
  constructor(private readonly router: ConnectRouter) {}

  next(event: OutboundEvent): void {
    this.router.fromInner(event);
  }

  error(error: unknown): void {
    this.router.failed(error);
  }

  complete(): void {}
}

/** The event ends the request body. */
function isInputEnd(event: InboundEvent): boolean {
  return (event.type === 'data' && event.end) || event.type === 'trailers';
}

/** The event ends the stream's output (a response with `end`, a last chunk, trailers). */
function isEnd(event: OutboundEvent): boolean {
  return (
    ((event.type === 'response' || event.type === 'data') && event.end === true) ||
    event.type === 'trailers'
  );
}

/** Answer `next(error)` as Connect's final handler does, without the stack. */
function answerError(res: ServerResponse, error: unknown): void {
  const fields = error as { status?: unknown; statusCode?: unknown } | null;
  const candidate = Number(fields?.status ?? fields?.statusCode);
  const status = candidate >= 400 && candidate < 600 ? candidate : 500;
  if (status >= 500) logger().error('connect middleware failed', { error });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  res.statusCode = status;
  res.setHeader('content-type', 'text/plain; charset=utf-8');
  res.end(errorBody(status));
}

/** The fields the middleware set on `res`, as a header list. */
function responseFields(res: ServerResponse): HeaderList {
  const list: HeaderList = [];
  const headers = res.getHeaders();
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const item of value) list.push(name, item);
    else list.push(name, String(value));
  }
  return list;
}

/** The middleware's fields first, each unless the inner app sets it too; cookies all kept. */
function mergeFields(outer: HeaderList, own: HeaderList): HeaderList {
  const names = new Set<string>();
  for (let i = 0; i < own.length; i += 2) names.add(own[i].toLowerCase());
  const list: HeaderList = [];
  for (let i = 0; i < outer.length; i += 2) {
    if (outer[i] === 'set-cookie' || !names.has(outer[i])) list.push(outer[i], outer[i + 1]);
  }
  return list.length === 0 ? own : [...list, ...own];
}

/** The request event for the inner app: `req.url` and request headers as the middleware left them. */
function passedRequest(event: RequestEvent, req: IncomingMessage): RequestEvent {
  const passed: RequestEvent = { ...event };
  const url = req.url;
  if (url !== undefined && url !== event.target && event.target !== '*') {
    const at = url.indexOf('?');
    passed.target = url;
    passed.path = at === -1 ? url : url.slice(0, at);
    passed.query = at === -1 ? '' : url.slice(at + 1);
  }
  // Fields the middleware added or changed on `req.headers`; the shim's own `host` (made from
  // `:authority` on HTTP/2) is not one of them.
  const original = new Map<string, string[]>();
  for (let i = 0; i < event.headers.length; i += 2) {
    const name = event.headers[i];
    const values = original.get(name) ?? [];
    values.push(event.headers[i + 1]);
    original.set(name, values);
  }
  let headers: HeaderList | null = null;
  for (const name of Object.keys(req.headers)) {
    if (name === 'host' && !original.has('host')) continue;
    const value = req.headers[name];
    if (value === undefined) continue;
    const values = Array.isArray(value) ? value : [value];
    const before = original.get(name);
    // node joins repeated fields with ', ' (set-cookie excepted): compare in that form.
    const same =
      before !== undefined &&
      (Array.isArray(value)
        ? before.join('\n') === value.join('\n')
        : before.join(name === 'cookie' ? '; ' : ', ') === value);
    if (same) continue;
    headers ??= [...event.headers];
    if (before !== undefined) headers = withoutField(headers, name);
    for (const item of values) headers.push(name, item);
  }
  if (headers !== null) passed.headers = headers;
  return passed;
}
