import type {
  Capabilities,
  Chunk,
  CloseInEvent,
  CloseOutEvent,
  DataInEvent,
  DataOutEvent,
  HeaderList,
  RequestEvent,
  ResponseEvent,
  TrailersOutEvent,
  WindowInEvent,
  WindowOutEvent,
  WsAcceptEvent,
  WsMessageInEvent,
  WsMessageOutEvent,
} from '../../core/events.js';
import { headerList, lowerNames } from '../../core/headers.js';

const encoder = new TextEncoder();

/** The capabilities of memory streams (SPEC.md §6). */
export const MEMORY_CAPS: Capabilities = {
  push: false,
  trailers: true,
  earlyHints: true,
  websocket: true,
};

/** What `ev.request` accepts besides the stream id; every field has a default. */
export interface RequestEventInit {
  method?: string;
  /** Path and query; default `/`. */
  target?: string;
  headers?: HeaderList | Record<string, string>;
  /** True (the default for GET, HEAD and WebSocket handshakes) when no body follows. */
  end?: boolean;
  websocket?: boolean;
  subprotocols?: string[];
  http?: RequestEvent['http'];
}

/**
 * A terse builder of rxgi events for marble tests and scripts: each returns a plain event, the
 * same object a driver or an app would send. Inbound and outbound `data`, `close` and `window`
 * share a shape; the builder's result is used for both.
 *
 * @example
 * const values = { r: ev.post(1, '/up'), d: ev.data(1, 'hi'), w: ev.window(1, 65_536) };
 */
export const ev = {
  /** A `request` event as the memory driver makes it (`http: '1.1'`, authority `memory`). */
  request(stream: number, init: RequestEventInit = {}): RequestEvent {
    const target = init.target ?? '/';
    const mark = target.indexOf('?');
    const method = init.method ?? 'GET';
    const websocket = init.websocket ?? false;
    return {
      type: 'request',
      stream,
      method,
      target,
      path: mark < 0 ? target : target.slice(0, mark),
      query: mark < 0 ? '' : target.slice(mark + 1),
      // Names in lower case, as every wire driver delivers them (SPEC.md §3.1).
      headers: Array.isArray(init.headers)
        ? lowerNames(init.headers)
        : headerList(init.headers ?? {}),
      http: init.http ?? '1.1',
      scheme: 'http',
      authority: 'memory',
      client: null,
      server: null,
      caps: MEMORY_CAPS,
      websocket,
      subprotocols: init.subprotocols ?? [],
      end: init.end ?? (websocket || method === 'GET' || method === 'HEAD'),
    };
  },
  /** A GET with no body. */
  get(stream: number, target = '/', headers?: RequestEventInit['headers']): RequestEvent {
    return ev.request(stream, { target, headers });
  },
  /** A POST whose body follows in `data` events. */
  post(stream: number, target = '/', headers?: RequestEventInit['headers']): RequestEvent {
    return ev.request(stream, { method: 'POST', target, headers, end: false });
  },
  /** A WebSocket handshake. */
  websocket(stream: number, target = '/', subprotocols: string[] = []): RequestEvent {
    return ev.request(stream, { target, websocket: true, subprotocols });
  },
  /** A body chunk (a string is UTF-8). Compared by bytes: `'hi'` equals the bytes of `hi`. */
  data(stream: number, chunk: Chunk = '', end = false): DataInEvent & DataOutEvent {
    return {
      type: 'data',
      stream,
      chunk: typeof chunk === 'string' ? encoder.encode(chunk) : chunk,
      end,
    };
  },
  /** The end of a body: an empty `data` with `end: true`. */
  end(stream: number, chunk: Chunk = ''): DataInEvent & DataOutEvent {
    return ev.data(stream, chunk, true);
  },
  /** A `window` grant, either direction. */
  window(stream: number, bytes: number): WindowInEvent & WindowOutEvent {
    return { type: 'window', stream, bytes };
  },
  /** A `close`, either direction; `code` 0 and no reason by default. */
  close(stream: number, code = 0, reason = ''): CloseInEvent & CloseOutEvent {
    return { type: 'close', stream, code, reason };
  },
  /** A WebSocket message, either direction. */
  message(stream: number, data: string | Uint8Array): WsMessageInEvent & WsMessageOutEvent {
    return { type: 'ws-message', stream, data };
  },
  /** A response: complete unless `end` is false (then the body follows in `data` events). */
  response(
    stream: number,
    status = 200,
    headers: HeaderList = [],
    body?: Chunk,
    end = true,
  ): ResponseEvent {
    return body === undefined
      ? { type: 'response', stream, status, headers, end }
      : { type: 'response', stream, status, headers, body, end };
  },
  /** Trailers that end a response. */
  trailers(stream: number, headers: HeaderList): TrailersOutEvent {
    return { type: 'trailers', stream, headers };
  },
  /** Accept a WebSocket handshake. */
  accept(
    stream: number,
    subprotocol: string | null = null,
    headers: HeaderList = [],
  ): WsAcceptEvent {
    return { type: 'ws-accept', stream, subprotocol, headers };
  },
};
