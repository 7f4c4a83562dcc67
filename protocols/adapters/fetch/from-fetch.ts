/**
 * A fetch-style handler inside rxgi: `fromFetch` runs a WHATWG `(Request) => Response` handler
 * (Hono's `app.fetch`, itty-router, a Bun or Deno handler) as an rxgi app. Bodies stream both
 * ways with flow control: nothing is read from a body faster than the other side takes it.
 */

import type { App } from '../../../core/app.js';
import { concatBytes } from '../../../core/body.js';
import { ERR, RxgiError } from '../../../core/errors.js';
import { type HeaderList, INITIAL_WINDOW } from '../../../core/events.js';
import { type Handler, handle } from '../../../core/handle.js';
import { type Reply, status } from '../../../core/reply.js';
import type { HttpRequest } from '../../../core/request.js';

// ---------------------------------------------------------------------------------------------
// fromFetch: a fetch handler as an rxgi app

/** The second argument `fromFetch` passes to the handler (Hono exposes it as `c.env`). */
export interface FetchEnv {
  /** The rxgi request behind the `Request`: client address, caps, `shutdown` signal. */
  rxgi: HttpRequest;
}

/** A WHATWG fetch handler, such as Hono's `app.fetch`. */
export type FetchHandler = (request: Request, env: FetchEnv) => Response | Promise<Response>;

/** Options of `fromFetch`. */
export interface FromFetchOptions {
  /**
   * Answers WebSocket handshakes, which a fetch handler cannot accept: e.g.
   * `() => upgrade(echo)`. Without it a handshake is answered 426.
   */
  websocket?: Handler;
}

/** Methods the WHATWG `Request` constructor refuses. */
const FORBIDDEN_METHODS = new Set(['CONNECT', 'TRACE', 'TRACK']);
/** Statuses whose responses have no body (RFC 9110 §6.4.1); `Response` refuses one. */
/** Statuses whose responses never carry a body (RFC 9110 §6.4.1). */
export const NULL_BODY = new Set([101, 103, 204, 205, 304]);
/** A host name or address and an optional port: nothing that could move the path. */
const AUTHORITY = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~!$&'()*+,;=%]+)(?::\d{0,5})?$/;
const ABSOLUTE = /^https?:\/\//i;
/** Up to this many bytes of a body that is already there are sent with the head, sized. */
const INLINE_LIMIT = INITIAL_WINDOW;
const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };
const NOT_YET = Symbol('not yet');
type ReadResult = Awaited<ReturnType<ReadableStreamDefaultReader<unknown>['read']>>;

/**
 * Run a fetch-style handler as an rxgi app. Each exchange becomes a `Request` (absolute URL,
 * headers, `signal` aborted when the stream closes, body pulled from the wire only as the handler
 * reads it), and the `Response` becomes the answer (every `set-cookie` kept, body pulled only as
 * the client takes it). A handler that throws or rejects gets a 500. WebSocket handshakes are
 * answered 426 unless `options.websocket` takes them.
 *
 * @example
 * const hono = new Hono().get('/', (c) => c.text('hi'));
 * await serve(fromFetch(hono.fetch), { port: 8000 });
 */
export function fromFetch(handler: FetchHandler, options: FromFetchOptions = {}): App {
  const websocket = options.websocket;
  return handle((req) => {
    if (req.websocket) return websocket !== undefined ? websocket(req) : status(426);
    return exchange(handler, req);
  });
}

async function exchange(handler: FetchHandler, req: HttpRequest): Promise<Reply> {
  if (FORBIDDEN_METHODS.has(req.method.toUpperCase())) return status(501, 'Not Implemented');
  const response = await handler(toRequest(req), { rxgi: req });
  if (typeof response?.status !== 'number' || typeof response.headers !== 'object') {
    throw new TypeError('the fetch handler did not return a Response');
  }
  return toReply(response, req);
}

/** The WHATWG `Request` of an exchange. */
function toRequest(req: HttpRequest): Request {
  const list = req.headers;
  const headers = new Headers();
  let host = false;
  try {
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i];
      // HTTP/2 pseudo-header fields are not header fields; Headers refuses their names.
      if (name.charCodeAt(0) === 58 /* : */) continue;
      if (name === 'host') host = true;
      headers.append(name, list[i + 1]);
    }
    // HTTP/2 carries the host in :authority only; fetch code reads `host` on every protocol.
    if (!host && req.authority !== '') headers.append('host', req.authority);
    const method = req.method;
    // A Request cannot have a body on GET or HEAD; such a body is left unread (and discarded).
    const body = req.event.end || method === 'GET' || method === 'HEAD' ? null : bodyStream(req);
    return new Request(requestUrl(req), {
      method,
      headers,
      body,
      signal: req.signal,
      duplex: 'half',
    });
  } catch (error) {
    if (error instanceof RxgiError) throw error;
    throw new RxgiError(ERR.BAD_REQUEST, 'the request cannot be a fetch Request', 400, {
      cause: error,
    });
  }
}

function requestUrl(req: HttpRequest): string {
  const target = req.target;
  if (target.charCodeAt(0) === 47 /* / */) {
    const authority = req.authority;
    // A Host like `a.example/x?` would move the path: only a plain authority is accepted.
    if (authority !== '' && !AUTHORITY.test(authority)) throw badRequest('invalid host');
    // The URL parser reads `\` as `/` in the path: refuse rather than route a different path.
    const query = target.indexOf('?');
    if (target.lastIndexOf('\\', query < 0 ? target.length : query) >= 0) {
      throw badRequest('backslash in the request path');
    }
    return `${req.scheme}://${authority === '' ? 'localhost' : authority}${target}`;
  }
  // The absolute form (RFC 9112 §3.2.2) is already a URL. `*` and CONNECT authorities are not.
  if (ABSOLUTE.test(target)) return new URL(target).href;
  throw badRequest('the request target is not a path');
}

function badRequest(why: string): RxgiError {
  return new RxgiError(ERR.BAD_REQUEST, `bad request: ${why}`, 400);
}

/**
 * The request body as a ReadableStream that pulls from the body reader: the reader grants the
 * driver credit only when pulled, so the client is read no faster than the handler reads.
 */
function bodyStream(req: HttpRequest): ReadableStream<Uint8Array> {
  return req.body.stream();
}

/** The answer for a `Response`. */
async function toReply(response: Response, req: HttpRequest): Promise<Reply> {
  const status = response.status;
  const headers = headerListOf(response.headers);
  const source = response.body;
  if (source === null) return { status, headers, body: null };
  if (req.method === 'HEAD' || NULL_BODY.has(status)) {
    // No body goes out: do not leave the handler producing one.
    source.cancel().catch(() => {});
    return { status, headers, body: null };
  }
  // A body that is there already (a string, bytes, JSON) goes in the head with a
  // content-length, as node servers send it; anything slower streams. This reads at most one
  // window ahead, which the initial output credit allows anyway.
  const reader = source.getReader();
  const ready: Uint8Array[] = [];
  let size = 0;
  let pending: Promise<ReadResult> | null = null;
  try {
    while (size <= INLINE_LIMIT) {
      const read = reader.read();
      const result = await readyOrNot(read);
      if (result === NOT_YET) {
        pending = read;
        break;
      }
      if (result.done) return { status, headers, body: concatBytes(ready) };
      const chunk = bytesOf(result.value);
      ready.push(chunk);
      size += chunk.byteLength;
    }
  } catch (error) {
    reader.cancel(error).catch(() => {});
    throw error;
  }
  // The client may have gone while we waited: `handle` will drop this answer unread.
  if (req.signal.aborted) reader.cancel(req.signal.reason).catch(() => {});
  return { status, headers, body: streamed(reader, ready, pending) };
}

/** The result of `read` if it settles within this turn of the event loop. */
function readyOrNot<T>(read: Promise<T>): Promise<T | typeof NOT_YET> {
  let timer: ReturnType<typeof setImmediate> | undefined;
  const later = new Promise<typeof NOT_YET>((resolve) => {
    timer = setImmediate(resolve, NOT_YET);
  });
  return Promise.race([read, later]).finally(() => clearImmediate(timer));
}

/**
 * A response body as a pull-based AsyncIterable: `handle` calls `next()` only while the client
 * has credit, so the handler's stream is read no faster than the client reads. `return()`
 * (the client went away) cancels the stream at once, even while a read is pending.
 */
function streamed(
  reader: ReadableStreamDefaultReader<unknown>,
  ready: Uint8Array[],
  pending: Promise<ReadResult> | null,
): AsyncIterable<Uint8Array> {
  const iterator: AsyncIterator<Uint8Array> = {
    next: async () => {
      const chunk = ready.shift();
      if (chunk !== undefined) return { done: false, value: chunk };
      const read = pending ?? reader.read();
      pending = null;
      const result = await read;
      return result.done ? DONE : { done: false, value: bytesOf(result.value) };
    },
    return: async () => {
      ready.length = 0;
      await reader.cancel().catch(() => {});
      return DONE;
    },
  };
  return { [Symbol.asyncIterator]: () => iterator };
}

function bytesOf(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  throw new TypeError('a Response body chunk is not a Uint8Array');
}

/** Response headers as a header list, every `set-cookie` field kept apart. */
function headerListOf(headers: Headers): HeaderList {
  const list: HeaderList = [];
  let cookies = false;
  for (const [name, value] of headers) {
    if (name !== 'set-cookie') {
      list.push(name, value);
    } else if (!cookies) {
      cookies = true;
      // Joined with commas a set-cookie list cannot be split again (dates contain commas).
      const all = typeof headers.getSetCookie === 'function' ? headers.getSetCookie() : [value];
      for (const cookie of all) list.push('set-cookie', cookie);
    }
  }
  return list;
}
