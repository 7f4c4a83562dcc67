import { Observable } from 'rxjs';
import type { App, ConnectionInfo, Middleware } from './app.js';
import { chunkLength } from './connection.js';
import type { Address, Chunk, InboundEvent, OutboundEvent, RequestEvent } from './events.js';
import { logger } from './log.js';

/**
 * One access-log record (SPEC.md §11.1): what `accessLog` logs at info level, as the fields of
 * the line, once per exchange (a WebSocket session when it closes).
 */
export interface AccessRecord {
  method: string;
  target: string;
  /** The status the app answered with (101 for an accepted WebSocket over HTTP/1.1, 200 over
   *  HTTP/2); 0 when the exchange ended before any answer. */
  status: number;
  /** Body bytes (WebSocket message bytes) the app sent. */
  bytes: number;
  /** Milliseconds from the request to the app's last event on the stream, or to its close. */
  duration: number;
  /** `h1`, `h1s` (HTTP/1.x over TLS), `h2c`, `h2`, `ws`, `wss` or `ws-over-h2`. */
  protocol: string;
  /** The client's address as `host:port`, or null. */
  client: string | null;
  /** The peer closed the stream before the app finished: its close code. */
  aborted?: number;
}

interface Open {
  request: RequestEvent;
  started: number;
  status: number;
  bytes: number;
}

/**
 * Middleware that logs one line per exchange at info level (method, target, status, bytes,
 * duration, protocol, client) and the connection's open and close at debug level. It is applied
 * by the CLI (`--access-log`); an app that is not wrapped pays nothing for it.
 *
 * @example
 * serve(accessLog()(app));
 */
export function accessLog(): Middleware {
  return (app: App): App =>
    (events, connection) =>
      new Observable<OutboundEvent>((subscriber) => {
        const open = new Map<number, Open>();
        const opened = performance.now();
        logger().debug('connection open', connectionFields(connection));
        const input = new Observable<InboundEvent>((inner) =>
          events.subscribe({
            next(event) {
              inbound(open, event);
              inner.next(event);
            },
            error: (error) => inner.error(error),
            complete: () => inner.complete(),
          }),
        );
        const subscription = app(input, connection).subscribe({
          next(event) {
            outbound(open, event);
            subscriber.next(event);
          },
          error: (error) => subscriber.error(error),
          complete: () => subscriber.complete(),
        });
        return () => {
          subscription.unsubscribe();
          const duration = round(performance.now() - opened);
          logger().debug('connection closed', { ...connectionFields(connection), duration });
        };
      });
}

function inbound(open: Map<number, Open>, event: InboundEvent): void {
  if (event.type === 'request') {
    open.set(event.stream, { request: event, started: performance.now(), status: 0, bytes: 0 });
  } else if (event.type === 'close') {
    finish(open, event.stream, event.code);
  }
}

function outbound(open: Map<number, Open>, event: OutboundEvent): void {
  const entry = open.get(event.stream);
  if (entry === undefined) return;
  switch (event.type) {
    case 'response':
      entry.status = event.status;
      entry.bytes += size(event.body);
      if (event.end) finish(open, event.stream);
      return;
    case 'data':
      entry.bytes += size(event.chunk);
      if (event.end) finish(open, event.stream);
      return;
    case 'trailers':
      finish(open, event.stream);
      return;
    case 'ws-accept':
      entry.status = entry.request.http === '2' ? 200 : 101;
      return;
    case 'ws-message':
      entry.bytes += size(event.data);
      return;
    case 'close':
      finish(open, event.stream);
      return;
    default:
  }
}

function finish(open: Map<number, Open>, stream: number, aborted?: number): void {
  const entry = open.get(stream);
  if (entry === undefined) return;
  open.delete(stream);
  const { request } = entry;
  // A WebSocket session's own close (1000, 1001) is how it ends, not an abort.
  const cut = aborted !== undefined && !(request.websocket && entry.status !== 0);
  const record: AccessRecord = {
    method: request.method,
    target: request.target,
    status: entry.status,
    bytes: entry.bytes,
    duration: round(performance.now() - entry.started),
    protocol: protocolOf(request),
    client: address(request.client),
    ...(cut ? { aborted } : {}),
  };
  const line = `${record.method} ${record.target} ${record.status || '-'} ${record.bytes} B ${record.duration} ms ${record.protocol}${record.client ? ` ${record.client}` : ''}${cut ? ` aborted ${aborted}` : ''}`;
  logger().info(line, record as unknown as Record<string, unknown>);
}

function protocolOf(request: RequestEvent): string {
  const secure = request.scheme === 'https';
  if (request.websocket) return request.http === '2' ? 'ws-over-h2' : secure ? 'wss' : 'ws';
  if (request.http === '2') return secure ? 'h2' : 'h2c';
  return secure ? 'h1s' : 'h1';
}

function connectionFields(connection: ConnectionInfo): Record<string, unknown> {
  return {
    connection: connection.id,
    protocol: connection.protocol,
    secure: connection.secure,
    client: address(connection.client),
  };
}

function address(client: Address | null): string | null {
  if (client === null) return null;
  const [host, port] = client;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function size(chunk: Chunk | undefined): number {
  return chunk === undefined ? 0 : chunkLength(chunk);
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
