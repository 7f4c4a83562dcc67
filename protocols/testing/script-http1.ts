import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import type { HeaderList } from '../../core/events.js';
import { hasField } from '../../core/headers.js';
import { scriptError } from './collector.js';
import { ResponseReader } from './http1-responses.js';
import { adoptWs } from './script-http2.js';
import type { ConnectOptions, Transport } from './transport.js';

/**
 * A script's connection over HTTP/1.1: one keep-alive connection, requests pipelined (each
 * head goes at once, responses are read back in request order, RFC 9112 §9.3). What HTTP/1.1
 * cannot say fails the step with `RXGI_ERR_SCRIPT`: a stream opened while another request's
 * body is still being sent (two bodies cannot interleave), and a reset (HTTP/1.1 has none:
 * close the connection instead). A body goes chunked, so that it can be sent step by step.
 */
export async function http1Transport(url: string, options: ConnectOptions): Promise<Transport> {
  const base = new URL(url);
  const tls = base.protocol === 'https:';
  const port = Number(base.port || (tls ? 443 : 80));
  const host = base.hostname.replace(/^\[|\]$/g, '');
  const tlsOptions = {
    rejectUnauthorized: options.ca !== undefined,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  };
  const socket: Socket = await new Promise((resolve, reject) => {
    const s = tls
      ? tlsConnect({ host, port, servername: host, ALPNProtocols: ['http/1.1'], ...tlsOptions })
      : netConnect(port, host);
    s.once(tls ? 'secureConnect' : 'connect', () => {
      s.off('error', reject);
      resolve(s);
    });
    s.once('error', reject);
  });
  const reader = new ResponseReader();
  const gone = (why: string) => (out: { fail(error: Error): void }) =>
    out.fail(scriptError(`the connection closed before the response was complete (${why})`));
  socket.on('data', (bytes: Buffer) => {
    try {
      reader.push(bytes);
    } catch (error) {
      socket.destroy();
      reader.closed(gone((error as Error).message));
    }
  });
  socket.on('close', () => reader.closed(gone('closed')));
  socket.on('error', () => {}); // 'close' follows
  const write = (data: string | Uint8Array) =>
    new Promise<void>((resolve, reject) => {
      if (socket.destroyed) reject(scriptError('the connection is closed'));
      else socket.write(data, (error) => (error ? reject(error) : resolve()));
    });
  let nextId = 1;
  /** The stream whose request body is still open, if any. */
  let sending: number | null = null;
  return {
    protocol: 'http/1.1',
    open(request, out, step) {
      if (sending !== null) {
        throw scriptError(
          `${step}: HTTP/1.1 cannot interleave two requests on one connection: the body of stream ${sending} is still open (end it first, or use HTTP/2)`,
        );
      }
      const id = nextId;
      nextId += 1;
      let head = `${request.method} ${request.target} HTTP/1.1\r\n`;
      if (!hasField(request.headers, 'host')) head += `host: ${base.host}\r\n`;
      for (let i = 0; i < request.headers.length; i += 2) {
        head += `${request.headers[i]}: ${request.headers[i + 1]}\r\n`;
      }
      if (!request.end) head += 'transfer-encoding: chunked\r\n';
      else if (request.method !== 'GET' && request.method !== 'HEAD')
        head += 'content-length: 0\r\n';
      reader.expect({ out, head: request.method === 'HEAD' });
      if (!request.end) sending = id;
      void write(`${head}\r\n`).catch((error: Error) => out.fail(error));
      const ended = (step: string) =>
        scriptError(`${step}: the request body of stream ${id} has ended`);
      return {
        id,
        write: async (chunk, step) => {
          if (sending !== id) throw ended(step);
          if (chunk.byteLength === 0) return;
          await write(`${chunk.byteLength.toString(16)}\r\n`);
          await write(chunk);
          await write('\r\n');
        },
        end: async (trailers: HeaderList | null, step) => {
          if (sending !== id) throw ended(step);
          sending = null;
          let tail = '0\r\n';
          for (let i = 0; trailers !== null && i < trailers.length; i += 2) {
            tail += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
          }
          await write(`${tail}\r\n`);
        },
        // HTTP/1.1 has one window, the connection's: pausing one stream pauses them all.
        read: (on) => (on ? socket.resume() : socket.pause()),
        reset: async (_code, step) => {
          throw scriptError(
            `${step}: HTTP/1.1 has no stream reset (RST_STREAM is HTTP/2's); close the connection instead`,
          );
        },
      };
    },
    async websocket(target, subprotocols, queue, step) {
      // An upgrade takes a connection over: the session gets one of its own.
      const address = new URL(target, base);
      address.protocol = tls ? 'wss:' : 'ws:';
      const ws = new WebSocket(address, subprotocols, tlsOptions);
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => {
          const status = res.statusCode ?? 0;
          ws.terminate();
          reject(
            Object.assign(scriptError(`${step}: the handshake was denied with ${status}`), {
              status,
            }),
          );
        });
        ws.once('error', reject);
      });
      return adoptWs({ ws, subprotocol: ws.protocol === '' ? null : ws.protocol }, queue);
    },
    close: () =>
      new Promise<void>((resolve) => {
        if (socket.destroyed) resolve();
        else socket.end(() => resolve());
        socket.once('close', () => resolve());
      }),
  };
}
