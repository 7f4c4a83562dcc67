import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import WebSocket from 'ws';
import { scriptError } from './collector.js';
import { adoptWs } from './script-http2.js';
import type { ConnectOptions, Transport } from './transport.js';

/**
 * A script's connection over HTTP/1.1: exchanges go one after another on one keep-alive
 * connection. What HTTP/1.1 cannot say fails the step with `RXGI_ERR_SCRIPT`: a stream opened
 * while another request's body is still being sent (two bodies cannot interleave, RFC 9112
 * §9.3), and a reset (HTTP/1.1 has none: close the connection instead).
 */
export async function http1Transport(url: string, options: ConnectOptions): Promise<Transport> {
  const base = new URL(url);
  const tls = base.protocol === 'https:';
  const agentOptions = { keepAlive: true, maxSockets: 1 };
  const agent = tls
    ? new HttpsAgent({
        ...agentOptions,
        rejectUnauthorized: options.ca !== undefined,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      })
    : new HttpAgent(agentOptions);
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
      const headers: Record<string, string | string[]> = {};
      for (let i = 0; i < request.headers.length; i += 2) {
        const name = request.headers[i]!;
        const had = headers[name];
        const value = request.headers[i + 1]!;
        headers[name] = had === undefined ? value : [...(Array.isArray(had) ? had : [had]), value];
      }
      const req = (tls ? httpsRequest : httpRequest)(new URL(request.target, base), {
        method: request.method,
        agent,
        headers,
      });
      req.on('response', (res: IncomingMessage) => {
        const names: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) {
          names.push(res.rawHeaders[i]!.toLowerCase(), res.rawHeaders[i + 1]!);
        }
        out.onHead(res.statusCode ?? 0, names);
        res.on('data', (chunk: Buffer) =>
          out.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
        );
        res.on('end', () => {
          const trailers: string[] = [];
          for (let i = 0; i < res.rawTrailers.length; i += 2) {
            trailers.push(res.rawTrailers[i]!.toLowerCase(), res.rawTrailers[i + 1]!);
          }
          if (trailers.length > 0) out.onTrailers(trailers);
          out.onEnd();
        });
        res.on('aborted', () => out.onReset(8));
        res.on('error', () => out.onReset(8));
      });
      req.on('error', (error) => out.fail(error));
      if (request.end) req.end();
      else {
        sending = id;
        req.flushHeaders();
      }
      const ended = (step: string) =>
        scriptError(`${step}: the request body of stream ${id} has ended`);
      return {
        id,
        write: (chunk, step) =>
          new Promise<void>((resolve, reject) => {
            if (sending !== id) reject(ended(step));
            else req.write(chunk, (error) => (error ? reject(error) : resolve()));
          }),
        end: (trailers, step) =>
          new Promise<void>((resolve, reject) => {
            if (sending !== id) {
              reject(ended(step));
              return;
            }
            sending = null;
            if (trailers !== null) {
              const pairs: [string, string][] = [];
              for (let i = 0; i < trailers.length; i += 2)
                pairs.push([trailers[i]!, trailers[i + 1]!]);
              req.addTrailers(pairs);
            }
            req.end(() => resolve());
          }),
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
      const ws = new WebSocket(address, subprotocols, {
        rejectUnauthorized: options.ca !== undefined,
        ...(options.ca === undefined ? {} : { ca: options.ca }),
      });
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
    async close() {
      agent.destroy();
    },
  };
}
