/**
 * HTTP/1.1 responses the driver writes itself: error answers on node's response, and complete
 * responses on a socket node:http no longer owns (an upgrade the app denied, a handshake that
 * is invalid, a request node:http could not parse).
 */
import type { ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { errorBody, statusText } from '../../core/status.js';
import { endLingering } from './linger.js';

/**
 * Write a complete HTTP/1.1 response straight to a socket that node:http no longer owns (an
 * upgrade request the app denied, or a handshake that is invalid), then end it (lingering, as
 * `endLingering` does).
 */
export function writeRawResponse(
  socket: Duplex,
  status: number,
  headers: string[],
  body: string | Uint8Array = '',
  end = true,
): void {
  if (socket.destroyed) return;
  const size = typeof body === 'string' ? Buffer.byteLength(body) : body.byteLength;
  let head = `HTTP/1.1 ${status} ${statusText(status)}\r\nconnection: close\r\n`;
  let length = false;
  for (let i = 0; i < headers.length; i += 2) {
    head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    if (headers[i].toLowerCase() === 'content-length') length = true;
  }
  if (end && !length) head += `content-length: ${size}\r\n`;
  // Field text is one character per byte (SPEC.md §3.1).
  socket.write(`${head}\r\n`, 'latin1');
  if (size > 0) socket.write(body);
  if (end) endLingering(socket as Socket);
}

/** A complete `text/plain` answer of `status` on node's response, with the status text as body. */
export function writeStatus(res: ServerResponse, status: number, body = errorBody(status)): void {
  res.writeHead(status, [
    'content-type',
    'text/plain; charset=utf-8',
    'content-length',
    String(Buffer.byteLength(body)),
  ]);
  res.end(body);
}
