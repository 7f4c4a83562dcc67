import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import type WebSocket from 'ws';
import { clientWebSocketOn } from '../protocols/testing/script-http2.js';

/** A complete HTTP/2 response as node:http2's client saw it. */
export interface H2Response {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
  trailers: IncomingHttpHeaders | null;
  /** Informational (1xx) heads, in order. */
  informational: IncomingHttpHeaders[];
}

/** Open an HTTP/2 session (h2c for http:, h2 for https: with any certificate). */
export function session(
  url: string,
  settings: Parameters<typeof connect>[1] = {},
): Promise<ClientHttp2Session> {
  const client = connect(url, { rejectUnauthorized: false, ...settings });
  return new Promise((resolve, reject) => {
    client.once('remoteSettings', () => resolve(client));
    client.once('error', reject);
  });
}

/** Send one request on `client` and collect the whole response. */
export function exchange(
  client: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: string | Buffer,
  trailers?: OutgoingHttpHeaders,
): Promise<H2Response> {
  const stream = client.request(headers, {
    endStream: body === undefined,
    waitForTrailers: trailers !== undefined,
  });
  if (trailers !== undefined) stream.once('wantTrailers', () => stream.sendTrailers(trailers));
  if (body !== undefined) stream.end(body);
  return collect(stream);
}

/** Collect a response stream. */
export function collect(stream: ClientHttp2Stream): Promise<H2Response> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const informational: IncomingHttpHeaders[] = [];
    let head: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | null = null;
    stream.on('headers', (h) => informational.push(h));
    stream.on('response', (h) => {
      head = h;
    });
    stream.on('trailers', (h) => {
      trailers = h;
    });
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('end', () =>
      resolve({
        status: Number(head[':status']),
        headers: head,
        body: Buffer.concat(chunks),
        trailers,
        informational,
      }),
    );
    stream.on('error', reject);
  });
}

/** A WebSocket client session on an HTTP/2 stream (RFC 8441 extended CONNECT). */
export interface H2WebSocket {
  client: ClientHttp2Session;
  stream: ClientHttp2Stream;
  /** The response head of the CONNECT. */
  head: IncomingHttpHeaders;
  /** A client-side `ws` session running on the stream. */
  ws: WebSocket;
}

/**
 * Open a WebSocket over HTTP/2 (h2c for http:, h2 for https:) with an extended CONNECT on a new
 * session. Rejects when the server does not enable extended CONNECT or answers other than 200.
 */
export async function h2WebSocket(
  url: string,
  path: string,
  protocols: string[] = [],
): Promise<H2WebSocket> {
  return h2WebSocketOn(await session(url), url, path, protocols);
}

/** {@link h2WebSocket} on a session of the caller's (closed when the CONNECT is refused). */
export async function h2WebSocketOn(
  client: ClientHttp2Session,
  url: string,
  path: string,
  protocols: string[] = [],
): Promise<H2WebSocket> {
  if (client.remoteSettings.enableConnectProtocol !== true) {
    client.close();
    throw new Error('the server does not enable extended CONNECT (RFC 8441)');
  }
  const stream = client.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':path': path,
      ':scheme': new URL(url).protocol === 'https:' ? 'https' : 'http',
      'sec-websocket-version': '13',
      ...(protocols.length > 0 ? { 'sec-websocket-protocol': protocols.join(', ') } : {}),
    },
    { endStream: false },
  );
  const head = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  if (Number(head[':status']) !== 200) {
    client.close();
    throw new Error(`extended CONNECT answered ${head[':status']}`);
  }
  const ws = clientWebSocketOn(stream, 1 << 20);
  return { client, stream, head, ws };
}
