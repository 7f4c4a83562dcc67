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
import { type IncomingMessage, type ServerResponse, STATUS_CODES } from 'node:http';
import { merge, Observable, Subject } from 'rxjs';
import type { Middleware } from '../../../core/app.js';
import {
  H2_CODE,
  type HeaderList,
  type InboundEvent,
  type OutboundEvent,
  type RequestEvent,
} from '../../../core/events.js';
import { logger } from '../../../core/log.js';
import { fromNodeHandler, requestEvent } from './from-node.js';

/** A Connect/Express middleware function. `next(error)` fails the exchange. */
export type ConnectMiddleware = (
  req: IncomingMessage,
  res: ServerResponse,
  next: (error?: unknown) => void,
) => unknown;

/** Per stream state of `fromConnect`, for a stream the middleware has seen. */
interface Route {
  /** Handed over to the inner app; its fields are the middleware's response headers. */
  passed: HeaderList | null;
  /** Body events that arrived while the middleware ran, kept for a hand-over. */
  held: InboundEvent[] | null;
  /** The shim's exchange has been told to let go (after a hand-over). */
  retired: boolean;
  /** No more inbound events will come for the stream but a `close`. */
  inputDone: boolean;
}

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
  return (inner) => (events, connection) =>
    new Observable<OutboundEvent>((out) => {
      const routes = new Map<number, Route>();
      const toShim = new Subject<InboundEvent>();
      const toInner = new Subject<InboundEvent>();

      const retire = (stream: number, route: Route) => {
        if (route.inputDone) routes.delete(stream);
        if (route.retired) return;
        route.retired = true;
        // The shim's exchange aborts its objects: `res` hears 'close' (on-finished, morgan).
        toShim.next({ type: 'close', stream, code: H2_CODE.NO_ERROR, reason: 'handed over' });
      };

      const handOver = (event: RequestEvent, req: IncomingMessage, res: ServerResponse) => {
        const route = routes.get(event.stream);
        if (route === undefined || route.passed !== null || res.headersSent || res.writableEnded)
          return;
        if (req.readableDidRead && !event.end) {
          fail(res, new Error('the middleware read the request body, then called next()'));
          return;
        }
        route.passed = responseFields(res);
        const held = route.held ?? [];
        route.held = null;
        toInner.next(passedRequest(event, req));
        for (const body of held) toInner.next(body);
      };

      const shim = fromNodeHandler((req, res) => {
        const event = requestEvent(req) as RequestEvent;
        let called = false;
        return middleware(req, res, (error?: unknown) => {
          if (called) return;
          called = true;
          if (error !== undefined && error !== null && error !== false) fail(res, error);
          else handOver(event, req, res);
        });
      })(toShim, connection);

      const shimOut = new Observable<OutboundEvent>((sink) =>
        shim.subscribe({
          next: (event) => {
            const route = routes.get(event.stream);
            if (route === undefined) return sink.next(event);
            if (route.passed !== null) return; // the shim's leftovers (credit) for a passed stream
            // The middleware answered: nothing is handed over, no body needs to be kept.
            if (event.type === 'response' || event.type === 'close') route.held = null;
            if (event.type === 'close' || isEnd(event)) routes.delete(event.stream);
            sink.next(event);
          },
          error: (error) => sink.error(error),
          complete: () => sink.complete(),
        }),
      );

      const innerOut = new Observable<OutboundEvent>((sink) =>
        inner(toInner, connection).subscribe({
          next: (event) => {
            const route = routes.get(event.stream);
            if (event.type === 'response' && route?.passed) {
              sink.next({ ...event, headers: mergeFields(route.passed, event.headers) });
            } else sink.next(event);
            if (route?.passed && (event.type === 'close' || isEnd(event))) {
              retire(event.stream, route);
            }
          },
          error: (error) => sink.error(error),
          complete: () => sink.complete(),
        }),
      );

      const subscription = merge(shimOut, innerOut).subscribe(out);
      subscription.add(
        events.subscribe({
          next: (event) => {
            if (event.type === 'request') {
              routes.set(event.stream, {
                passed: null,
                held: [],
                retired: false,
                inputDone: event.end,
              });
              toShim.next(event);
              return;
            }
            const route = routes.get(event.stream);
            if (event.stream === 0) {
              toShim.next(event);
              toInner.next(event);
            } else if (route === undefined) {
              // A stream the middleware answered (the shim ignores the ones it forgot).
              toShim.next(event);
            } else if (route.passed !== null) {
              if (isInputEnd(event)) route.inputDone = true;
              toInner.next(event);
              if (event.type === 'close') {
                route.inputDone = true;
                retire(event.stream, route);
              } else if (route.inputDone && route.retired) routes.delete(event.stream);
            } else {
              if (isInputEnd(event)) route.inputDone = true;
              if (route.held !== null && event.type !== 'window') route.held.push(event);
              toShim.next(event);
              if (event.type === 'close') routes.delete(event.stream);
            }
          },
          error: (error) => {
            toShim.error(error);
            toInner.error(error);
          },
          complete: () => {
            toShim.complete();
            toInner.complete();
          },
        }),
      );
      return subscription;
    });
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
function fail(res: ServerResponse, error: unknown): void {
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
  res.end(`${STATUS_CODES[status] ?? 'Error'}\n`);
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

function withoutField(list: HeaderList, name: string): HeaderList {
  const kept: HeaderList = [];
  for (let i = 0; i < list.length; i += 2) if (list[i] !== name) kept.push(list[i], list[i + 1]);
  return kept;
}
