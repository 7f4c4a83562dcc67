import type { Observable } from 'rxjs';
import type { Chunk, HeaderList } from './events.js';
import type { HttpRequest } from './request.js';
import { statusText } from './status.js';

/** A response body: all at once, pulled (backpressured), or pushed (bounded by the driver). */
export type Body = string | Uint8Array | AsyncIterable<Chunk> | Observable<Chunk> | null;

/** Headers as a header list or a record (array values repeat the field). */
export type HeadersInit = HeaderList | Record<string, string | number | string[]>;

/** A response as a value, as `handle` handlers return it. */
export interface Reply {
  /** Defaults to 200. */
  status?: number;
  headers?: HeadersInit;
  body?: Body;
  /** Trailer fields sent after the body; a function or promise is awaited when the body ends. */
  trailers?: HeaderList | Promise<HeaderList> | (() => HeaderList | Promise<HeaderList>);
}

/** A WebSocket session: messages in, messages out. Completing the output closes with 1000. */
export type WebSocketHandler = (
  messages: Observable<Uint8Array | string>,
  request: HttpRequest,
) => Observable<Chunk>;

/** The answer that accepts a WebSocket handshake; made by `upgrade`. */
export interface WebSocketReply {
  websocket: WebSocketHandler;
  subprotocol: string | null;
  headers: HeaderList;
}

const TEXT = 'text/plain; charset=utf-8';

/** A text response. @example text('hello') */
export function text(body: string, status = 200): Reply {
  return { status, headers: ['content-type', TEXT], body };
}

/** A JSON response. @example json({ ok: true }) */
export function json(value: unknown, status = 200): Reply {
  return { status, headers: ['content-type', 'application/json'], body: JSON.stringify(value) };
}

/** An HTML response. @example html('<h1>hi</h1>') */
export function html(body: string, status = 200): Reply {
  return { status, headers: ['content-type', 'text/html; charset=utf-8'], body };
}

/** A redirect. @example redirect('/login') */
export function redirect(location: string, status = 302): Reply {
  return { status, headers: ['location', location], body: null };
}

/** A plain status response with the status text as body. @example status(404) */
export function status(code: number, message = statusText(code)): Reply {
  return text(`${message}\n`, code);
}

/**
 * Accept a WebSocket handshake and run `handler` on the session.
 * @example upgrade((messages) => messages) // echo
 */
export function upgrade(
  handler: WebSocketHandler,
  options: { subprotocol?: string | null; headers?: HeaderList } = {},
): WebSocketReply {
  return {
    websocket: handler,
    subprotocol: options.subprotocol ?? null,
    headers: options.headers ?? [],
  };
}
