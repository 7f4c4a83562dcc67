import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';

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
