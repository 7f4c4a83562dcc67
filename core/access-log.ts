/**
 * The access log (docs/server.md): one info line per exchange, written by the connection layer
 * when a driver is asked to (`serve({ accessLog: true })`), including the answers a driver gives
 * itself before the app sees a request. Nothing here runs, and nothing is allocated, when the
 * log is off: a connection checks one flag, a stream one field.
 */
import type { ConnectionInfo } from './app.js';
import { type Address, type Chunk, chunkLength, type RequestEvent } from './events.js';
import { logger } from './log.js';

/**
 * One access-log record: the fields of the info line, once per exchange (a WebSocket session
 * when it closes).
 */
export interface AccessRecord {
  /** The request method (`GET` for a WebSocket, RFC 8441 included); `-` when unreadable. */
  method: string;
  /** The request target; `-` when unreadable. */
  target: string;
  /** The status sent (101 for an accepted WebSocket over HTTP/1.1, 200 over HTTP/2); 0 when
   *  the exchange ended before any. */
  status: number;
  /** Body bytes (WebSocket message bytes) sent. */
  bytes: number;
  /** Milliseconds from the request to the end of the exchange; 0 for a driver's own answer. */
  duration: number;
  /** `h1`, `h1s` (HTTP/1.x over TLS), `h2c`, `h2`, `ws`, `wss` or `ws-over-h2`. */
  protocol: string;
  /** The client's address as `host:port`, or null. */
  client: string | null;
  /** The exchange was cut before its end: the close or reset code. */
  aborted?: number;
}

/** What the connection counts for one exchange while it is open; made only when the log is on. */
export class AccessEntry {
  readonly started = performance.now();
  status = 0;
  bytes = 0;
  /** The response ended: a close that follows is no abort. */
  complete = false;
  aborted: number | undefined = undefined;

  constructor(readonly request: RequestEvent) {}

  /** Body bytes went out. */
  sent(chunk: Chunk | undefined): void {
    if (chunk !== undefined) this.bytes += chunkLength(chunk);
  }

  /** The exchange is over: write its line. */
  log(): void {
    const { request } = this;
    const secure = request.scheme === 'https';
    write({
      method: request.method,
      target: request.target,
      status: this.status,
      bytes: this.bytes,
      duration: round(performance.now() - this.started),
      protocol: protocolOf(request.http === '2', secure, request.websocket),
      client: address(request.client),
      ...(this.aborted !== undefined ? { aborted: this.aborted } : {}),
    });
  }
}

/**
 * The line of an answer a driver gave itself, before any app saw the request (400, 403, 408,
 * 413, 417, 431, 501): `body` is what it sent.
 */
export function logRefusal(
  info: Pick<ConnectionInfo, 'protocol' | 'secure' | 'client'>,
  method: string | undefined,
  target: string | undefined,
  status: number,
  body: string,
  websocket = false,
): void {
  write({
    method: method || '-',
    target: target || '-',
    status,
    bytes: chunkLength(body),
    duration: 0,
    protocol: protocolOf(info.protocol === 'h2', info.secure, websocket),
    client: address(info.client),
  });
}

/** A connection opened (`duration` absent) or closed, at debug level. */
export function logConnection(info: ConnectionInfo, duration?: number): void {
  const fields = {
    connection: info.id,
    protocol: info.protocol,
    secure: info.secure,
    client: address(info.client),
  };
  if (duration === undefined) logger().debug('connection open', fields);
  else logger().debug('connection closed', { ...fields, duration: round(duration) });
}

function write(record: AccessRecord): void {
  const { method, target, status, bytes, duration, protocol, client, aborted } = record;
  const line = `${method} ${target} ${status || '-'} ${bytes} B ${duration} ms ${protocol}${client ? ` ${client}` : ''}${aborted !== undefined ? ` aborted ${aborted}` : ''}`;
  logger().info(line, record as unknown as Record<string, unknown>);
}

function protocolOf(h2: boolean, secure: boolean, websocket: boolean): string {
  if (websocket) return h2 ? 'ws-over-h2' : secure ? 'wss' : 'ws';
  if (h2) return secure ? 'h2' : 'h2c';
  return secure ? 'h1s' : 'h1';
}

function address(client: Address | null): string | null {
  if (client === null) return null;
  const [host, port] = client;
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

function round(ms: number): number {
  return Math.round(ms * 10) / 10;
}
