/**
 * The conformance fixture: one app written in raw events (no `handle`), so that it relies on
 * nothing but the contract of SPEC.md. A host under test serves it; the checks (checks.ts)
 * speak to that host over the wire and judge what comes back.
 */
import type { Subscriber } from 'rxjs';
import type { App, ConnectionInfo } from '../../core/app.js';
import type { InboundEvent, OutboundEvent, RequestEvent } from '../../core/events.js';
import { Observable } from '../../core/rx.js';

/** What the fixture learnt about streams that ended, by the `token` in their query. */
const seen = new Map<string, string>();
const SEEN_LIMIT = 1_000;

function remember(token: string, what: string): void {
  if (seen.size >= SEEN_LIMIT) seen.delete(seen.keys().next().value as string);
  seen.set(token, what);
}

const encoder = new TextEncoder();
const codes = (text: string) => [...text].map((c) => c.charCodeAt(0).toString(16)).join(' ');

/** Per-stream state of the fixture: what it granted and what arrived. */
interface Exchange {
  request: RequestEvent;
  granted: number;
  received: number;
  token: string | null;
  /** `/download`: output credit left, and body bytes still to send. */
  credit: number;
  owed: number;
}

/**
 * The fixture app. Routes by path (SPEC.md §3.2 fields are reported as JSON by `/info`):
 * `/info`, `/echo`, `/status/N`, `/fields`, `/hints`, `/nolink-hints`, `/unknown-event`, `/stream-zero`,
 * `/x-event`, `/abort?code=N`, `/fail-after-head`, `/trailers`, `/hold?token=T`,
 * `/seen?token=T`, `/download?bytes=N`, `/slow?ms=N`, `/connection-fields`, `/ws` (`/ws?close`: the app closes at once, granting no credit).
 */
export function conformanceFixture(): App {
  return (events, connection) =>
    new Observable<OutboundEvent>((out) => {
      const open = new Map<number, Exchange>();
      return events.subscribe({
        next: (event) => onEvent(event, open, out, connection),
        error: (error) => out.error(error),
        complete: () => out.complete(),
      });
    });
}

function onEvent(
  event: InboundEvent,
  open: Map<number, Exchange>,
  out: Subscriber<OutboundEvent>,
  connection: ConnectionInfo,
): void {
  if (event.type === 'request') {
    const mark = event.query.match(/(?:^|&)token=([^&]*)/);
    const exchange: Exchange = {
      request: event,
      granted: 0,
      received: 0,
      token: mark?.[1] ?? null,
      // The driver may announce a smaller initial credit (SPEC.md [initial-credit]).
      credit: event.window ?? INITIAL_WINDOW,
      owed: 0,
    };
    open.set(event.stream, exchange);
    route(exchange, out, connection);
    return;
  }
  const exchange = open.get(event.stream);
  if (exchange === undefined) return;
  switch (event.type) {
    case 'data':
      onData(exchange, event.chunk, event.end, out);
      return;
    case 'trailers':
      remember(
        `trailers-${exchange.token}`,
        event.headers.length === 0 ? 'empty' : event.headers.join(','),
      );
      if (exchange.request.path === '/echo')
        out.next({ type: 'data', stream: event.stream, chunk: '', end: true });
      else respond(out, event.stream, 200, `${exchange.received}`);
      return;
    case 'ws-message':
      out.next({ type: 'ws-message', stream: event.stream, data: event.data });
      return;
    case 'window':
      exchange.credit += event.bytes;
      download(exchange, out);
      return;
    case 'close':
      open.delete(event.stream);
      if (exchange.token !== null) remember(exchange.token, `close ${event.code}`);
      return;
  }
}

function onData(
  exchange: Exchange,
  chunk: Uint8Array,
  end: boolean,
  out: Subscriber<OutboundEvent>,
): void {
  const stream = exchange.request.stream;
  // A chunk may overshoot the credit, but none may come once it is spent (SPEC.md §5.1).
  const spent = exchange.received >= exchange.granted;
  exchange.received += chunk.byteLength;
  if (spent && chunk.byteLength > 0) {
    // The driver sent past the credit it was given: the check sees an abort.
    out.next({ type: 'close', stream, code: 2, reason: 'input past the window' });
    return;
  }
  if (exchange.request.path !== '/echo') {
    if (end) respond(out, stream, 200, `${exchange.received}`);
    return;
  }
  out.next({ type: 'data', stream, chunk, end });
  if (chunk.byteLength > 0) {
    exchange.granted += chunk.byteLength;
    out.next({ type: 'window', stream, bytes: chunk.byteLength });
  }
}

function respond(
  out: Subscriber<OutboundEvent>,
  stream: number,
  status: number,
  body: string,
  headers: string[] = ['content-type', 'text/plain'],
): void {
  out.next({ type: 'response', stream, status, headers, body, end: true });
}

const GRANT = 65_536;
/** The output credit of a new stream (SPEC.md §5.2), and `/download`'s chunk size. */
const INITIAL_WINDOW = 65_536;
const PIECE = new Uint8Array(16_384).fill(0x2e);

/** `/download`: send what is owed as far as the output credit goes, and no further. */
function download(exchange: Exchange, out: Subscriber<OutboundEvent>): void {
  const stream = exchange.request.stream;
  while (exchange.owed > 0 && exchange.credit > 0) {
    const chunk = exchange.owed >= PIECE.byteLength ? PIECE : PIECE.subarray(0, exchange.owed);
    exchange.owed -= chunk.byteLength;
    exchange.credit -= chunk.byteLength;
    out.next({ type: 'data', stream, chunk, end: exchange.owed === 0 });
  }
}

function route(
  exchange: Exchange,
  out: Subscriber<OutboundEvent>,
  connection: ConnectionInfo,
): void {
  const { request } = exchange;
  const stream = request.stream;
  if (request.method === 'CONNECT' && !request.websocket) {
    // A tunnel: its 2xx opens it, and what the app sends back is the request as it came.
    out.next({ type: 'response', stream, status: 200, headers: [], end: false });
    out.next({ type: 'data', stream, chunk: JSON.stringify(info(request)), end: true });
    return;
  }
  if (request.websocket) {
    // Hints on a handshake have nothing to preload: the host drops them (SPEC.md §3.3).
    if (request.query === 'hints')
      out.next({ type: 'early-hints', stream, headers: ['link', '</style.css>; rel=preload'] });
    out.next({
      type: 'ws-accept',
      stream,
      subprotocol: request.subprotocols[0] ?? null,
      headers: [],
    });
    // `?close`: the app closes at once and never grants credit (SPEC.md [ws-close]).
    if (request.query === 'close')
      out.next({ type: 'close', stream, code: 4001, reason: 'app closes' });
    else out.next({ type: 'window', stream, bytes: GRANT });
    return;
  }
  const path = request.path;
  if (path.startsWith('/status/')) {
    respond(out, stream, Number(path.slice(8)), 'status');
    return;
  }
  switch (path) {
    case '/info':
      respond(out, stream, 200, JSON.stringify({ ...info(request), connection }), [
        'content-type',
        'application/json',
      ]);
      return;
    case '/echo':
      out.next({
        type: 'response',
        stream,
        status: 200,
        headers: ['content-type', 'application/octet-stream'],
        end: request.end,
      });
      if (!request.end) {
        exchange.granted = GRANT;
        out.next({ type: 'window', stream, bytes: GRANT });
      }
      return;
    case '/count':
      if (request.end) respond(out, stream, 200, '0');
      else {
        exchange.granted = GRANT;
        out.next({ type: 'window', stream, bytes: GRANT });
      }
      return;
    case '/fields': {
      const value = request.headers[request.headers.indexOf('x-in') + 1] ?? '';
      respond(out, stream, 200, `${codes(value)} | ${codes(request.path)}`, ['x-out', '\u00e9']);
      return;
    }
    case '/hints':
    case '/nolink-hints': {
      const link = path === '/hints' ? ['link', '</style.css>; rel=preload; as=style'] : [];
      out.next({ type: 'early-hints', stream, headers: [...link, 'x-hint', '1'] });
      respond(out, stream, 200, 'hinted');
      return;
    }
    case '/unknown-event':
      out.next({ type: 'conformance-unknown', stream } as unknown as OutboundEvent);
      respond(out, stream, 200, 'not reached');
      return;
    case '/stream-zero':
      // Events no stream takes: on stream 0 (not close, window or an actor event), and for a
      // stream never opened. Each is dropped; the exchange goes on.
      out.next({ type: 'response', stream: 0, status: 200, headers: [], body: 'no', end: true });
      out.next({ type: 'data', stream: 0, chunk: 'no', end: true });
      out.next({ type: 'data', stream: 999_999, chunk: 'no', end: true });
      respond(out, stream, 200, 'ok');
      return;
    case '/x-event':
      out.next({ type: 'x-conformance', stream } as unknown as OutboundEvent);
      respond(out, stream, 200, 'ok');
      return;
    case '/abort': {
      const code = Number(new URLSearchParams(request.query).get('code') ?? 8);
      out.next({ type: 'response', stream, status: 200, headers: [], end: false });
      out.next({ type: 'data', stream, chunk: encoder.encode('partial'), end: false });
      out.next({ type: 'close', stream, code, reason: 'aborted by the fixture' });
      return;
    }
    case '/fail-after-head':
      // An event of an unknown type after the head fails the stream (SPEC.md §4.1).
      out.next({ type: 'response', stream, status: 200, headers: [], end: false });
      out.next({ type: 'data', stream, chunk: encoder.encode('partial'), end: false });
      out.next({ type: 'conformance-unknown', stream } as unknown as OutboundEvent);
      return;
    case '/slow': {
      const ms = Math.min(5_000, Number(new URLSearchParams(request.query).get('ms')) || 0);
      setTimeout(() => respond(out, stream, 200, 'slow done'), ms);
      return;
    }
    case '/connection-fields':
      // Connection-specific fields an HTTP/1.1 app may send: dropped on HTTP/2 (RFC 9113 §8.2.2).
      respond(out, stream, 200, 'ok', [
        'connection',
        'keep-alive',
        'keep-alive',
        'timeout=5',
        'proxy-connection',
        'keep-alive',
        'upgrade',
        'h2c',
        'x-kept',
        '1',
      ]);
      return;
    case '/trailers':
      out.next({ type: 'response', stream, status: 200, headers: [], trailers: true, end: false });
      out.next({ type: 'data', stream, chunk: 'body', end: false });
      out.next({ type: 'trailers', stream, headers: ['x-trailer', 'done'] });
      return;
    case '/hold':
      out.next({ type: 'response', stream, status: 200, headers: [], end: false });
      out.next({ type: 'data', stream, chunk: 'held', end: false });
      return;
    case '/download':
      // Only as much as the credit allows: a host that never returns credit stalls it.
      exchange.owed = Math.max(0, Number(new URLSearchParams(request.query).get('bytes')) || 0);
      out.next({
        type: 'response',
        stream,
        status: 200,
        headers: ['x-window', request.window === undefined ? 'none' : `${request.window}`],
        end: exchange.owed === 0,
      });
      download(exchange, out);
      return;
    case '/seen':
      respond(out, stream, 200, seen.get(exchange.token ?? '') ?? 'nothing');
      return;
    default:
      respond(out, stream, 404, 'no such fixture route');
  }
}

/** The request event as the checks compare it: plain data, without stream-specific fields. */
function info(request: RequestEvent): Record<string, unknown> {
  const { method, target, path, query, headers, http, scheme, authority, websocket, end, caps } =
    request;
  const { client, server } = request;
  return {
    client,
    server,
    method,
    target,
    path,
    query,
    headers,
    http,
    scheme,
    authority,
    websocket,
    end,
    caps,
    root: request.root ?? null,
  };
}
