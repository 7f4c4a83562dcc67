/**
 * The wire clients of the conformance checks: node's own HTTP/1.1, HTTP/2 and raw socket
 * clients and `ws`, each returning what it saw as plain data. Certificates are not verified:
 * the checks test a host's protocol, not its identity.
 */
import {
  request as httpRequest,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http';
import { type ClientHttp2Session, type ClientHttp2Stream, connect as h2connect } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';

/** A response as a client saw it. */
export interface Seen {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** Informational heads other than 100, in order, with their status. */
  informational: { status: number; headers: Record<string, unknown> }[];
  body: Buffer;
  trailers: Record<string, string | string[] | undefined>;
  /** The exchange ended early: HTTP/1.1 aborted, or the HTTP/2 stream's RST_STREAM code. */
  aborted: boolean;
  rstCode: number;
}

const TIMEOUT = 5_000;

/** One HTTP/1.1 exchange with node's client, on a fresh connection. */
export function h1(
  url: string,
  init: {
    method?: string;
    path: string;
    headers?: OutgoingHttpHeaders;
    body?: Buffer | string;
    trailers?: OutgoingHttpHeaders;
  },
): Promise<Seen> {
  const base = new URL(url);
  const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const informational: Seen['informational'] = [];
    const req = send(
      {
        host: base.hostname,
        port: base.port,
        method: init.method ?? 'GET',
        path: init.path,
        headers: init.headers,
        agent: false,
        rejectUnauthorized: false,
        timeout: TIMEOUT,
      },
      (res) => {
        const chunks: Buffer[] = [];
        let aborted = false;
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('aborted', () => (aborted = true));
        res.on('error', () => (aborted = true));
        res.on('close', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            informational,
            body: Buffer.concat(chunks),
            trailers: res.trailers,
            aborted: aborted || !res.complete,
            rstCode: 0,
          }),
        );
      },
    );
    req.on('information', (info) =>
      informational.push({ status: info.statusCode, headers: info.headers }),
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT} ms`)));
    req.on('error', (error: Error & { code?: string }) => {
      // A connection reset before any answer is an exchange that ended early: no head came.
      if (error.code !== 'ECONNRESET') return reject(error);
      resolve({
        status: 0,
        headers: {},
        informational,
        body: Buffer.alloc(0),
        trailers: {},
        aborted: true,
        rstCode: 0,
      });
    });
    if (init.trailers !== undefined) {
      req.setHeader('transfer-encoding', 'chunked');
      req.write(init.body ?? '');
      req.addTrailers(init.trailers);
      req.end();
    } else req.end(init.body);
  });
}

/** An HTTP/2 session: h2c with prior knowledge for http:, h2 by ALPN for https:. */
export function h2session(
  url: string,
  settings: { initialWindowSize?: number } = {},
): Promise<ClientHttp2Session> {
  const session = h2connect(url, { rejectUnauthorized: false, settings });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      session.destroy();
      reject(new Error(`no HTTP/2 SETTINGS within ${TIMEOUT} ms`));
    }, TIMEOUT);
    session.once('remoteSettings', () => {
      clearTimeout(timer);
      resolve(session);
    });
    session.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

/** One exchange on an HTTP/2 session. */
export function h2(
  session: ClientHttp2Session,
  headers: OutgoingHttpHeaders,
  body?: Buffer | string,
  trailers?: OutgoingHttpHeaders,
): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const stream = session.request(headers, {
      endStream: body === undefined,
      waitForTrailers: trailers !== undefined,
    });
    if (trailers !== undefined) stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    if (body !== undefined) stream.end(body);
    const informational: Seen['informational'] = [];
    const chunks: Buffer[] = [];
    let head: IncomingHttpHeaders = {};
    let tail: IncomingHttpHeaders = {};
    const timer = setTimeout(() => stream.close(8), TIMEOUT);
    stream.on('headers', (h) =>
      informational.push({ status: Number(h[':status']), headers: plain(h) }),
    );
    stream.on('response', (h) => (head = h));
    stream.on('trailers', (h) => (tail = h));
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.on('error', () => {});
    stream.on('close', () => {
      clearTimeout(timer);
      resolve(h2Seen(stream, head, chunks, informational, tail));
    });
    session.once('error', reject);
    stream.once('close', () => session.off('error', reject));
  });
}

/** What an HTTP/2 client saw of a stream that has closed. */
function h2Seen(
  stream: ClientHttp2Stream,
  head: IncomingHttpHeaders,
  chunks: Buffer[],
  informational: Seen['informational'],
  tail: IncomingHttpHeaders,
): Seen {
  return {
    status: Number(head[':status'] ?? 0),
    headers: plain(head),
    informational,
    body: Buffer.concat(chunks),
    trailers: plain(tail),
    aborted: stream.rstCode !== 0,
    rstCode: stream.rstCode,
  };
}

/**
 * A GET of `path` on a fresh HTTP/2 session whose stream window is 0, opened (to 65535, with
 * SETTINGS) 50 ms after the response head: by then the host has sent all the app's initial
 * credit let it, into its buffer, and the rest of the body comes only if credit comes back.
 */
export async function h2LateWindow(url: string, path: string): Promise<Seen> {
  const session = await h2session(url, { initialWindowSize: 0 });
  session.on('error', () => {});
  try {
    return await new Promise<Seen>((resolve) => {
      const stream = session.request({ ':path': path });
      const chunks: Buffer[] = [];
      let head: IncomingHttpHeaders = {};
      const timer = setTimeout(() => stream.close(8), TIMEOUT);
      stream.on('response', (h) => {
        head = h;
        setTimeout(() => session.settings({ initialWindowSize: 65_535 }), 50);
      });
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => {});
      stream.on('close', () => {
        clearTimeout(timer);
        resolve(h2Seen(stream, head, chunks, [], {}));
      });
    });
  } finally {
    session.close();
  }
}

/** What a client that asked for `100 Continue` saw: the body goes out only after a 100. */
export interface Continued {
  /** A 100 arrived (before the final head: a client sends the body only then). */
  continued: boolean;
  status: number;
  body: Buffer;
}

/**
 * A request with `Expect: 100-continue` whose body is sent only once a 100 arrives, with
 * node's HTTP/1.1 client on a fresh connection, or on an HTTP/2 session.
 */
export function expectContinue(
  to: string | ClientHttp2Session,
  path: string,
  body: Buffer | string,
): Promise<Continued> {
  return new Promise((resolve, reject) => {
    let continued = false;
    const chunks: Buffer[] = [];
    const finish = (status: number) => resolve({ continued, status, body: Buffer.concat(chunks) });
    if (typeof to !== 'string') {
      const stream = to.request(
        { ':method': 'POST', ':path': path, expect: '100-continue' },
        { endStream: false },
      );
      let status = 0;
      const timer = setTimeout(() => stream.close(8), TIMEOUT);
      stream.once('continue', () => {
        continued = true;
        stream.end(body);
      });
      stream.on('response', (head) => (status = Number(head[':status'])));
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('error', () => {});
      stream.on('close', () => {
        clearTimeout(timer);
        finish(status);
      });
      return;
    }
    const base = new URL(to);
    const send = base.protocol === 'https:' ? httpsRequest : httpRequest;
    const req = send({
      host: base.hostname,
      port: base.port,
      method: 'POST',
      path,
      headers: { expect: '100-continue', 'content-length': Buffer.byteLength(body) },
      agent: false,
      rejectUnauthorized: false,
      timeout: TIMEOUT,
    });
    req.once('continue', () => {
      continued = true;
      req.end(body);
    });
    req.once('response', (res) => {
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('close', () => {
        finish(res.statusCode ?? 0);
        if (!continued) req.destroy();
      });
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT} ms`)));
    req.on('error', reject);
    req.flushHeaders();
  });
}

/** Header fields without node's symbol keys. */
function plain(headers: IncomingHttpHeaders): Record<string, string | string[] | undefined> {
  return Object.fromEntries(Object.entries(headers));
}

/** Send raw bytes on a fresh connection (TLS with ALPN http/1.1 for https:) and collect the answer until the peer closes or goes quiet. */
export async function rawH1(url: string, bytes: Buffer | string, quiet = 1_000): Promise<Buffer> {
  return (await rawExchange(url, [bytes], { quiet })).answer;
}

/** What a raw exchange saw: the bytes, and whether the peer closed the connection. */
export interface RawSeen {
  answer: Buffer;
  closed: boolean;
  /** The ALPN protocol the TLS handshake chose, or false. */
  alpn: string | false;
}

/**
 * Send `parts` on a fresh connection, `every` ms apart (TLS for https:, offering `alpn`; raw
 * TCP with `plain`), and collect the answer until the peer closes or goes quiet for `quiet` ms
 * after its first byte, or `wait` ms in all.
 */
export function rawExchange(
  url: string,
  parts: (Buffer | string)[],
  options: {
    quiet?: number;
    every?: number;
    wait?: number;
    alpn?: string[];
    plain?: boolean;
    /** Read nothing for this many ms after sending. */
    pauseFor?: number;
  } = {},
): Promise<RawSeen> {
  const { quiet = 1_000, every = 0, wait = TIMEOUT, alpn, plain = false, pauseFor = 0 } = options;
  const base = new URL(url);
  const port = Number(base.port || (base.protocol === 'https:' ? 443 : 80));
  return new Promise((resolve, reject) => {
    let pending = [...parts];
    let trickle: NodeJS.Timeout | undefined;
    const send = () => {
      const part = pending.shift();
      if (part === undefined || socket.destroyed) return;
      socket.write(part);
      if (pending.length > 0) trickle = setTimeout(send, every);
      else if (pauseFor > 0) {
        socket.pause();
        trickle = setTimeout(() => socket.resume(), pauseFor);
      }
    };
    const tls = base.protocol === 'https:' && !plain;
    const socket = tls
      ? tlsConnect(
          { host: base.hostname, port, rejectUnauthorized: false, ALPNProtocols: alpn },
          send,
        )
      : netConnect(port, base.hostname, send);
    const chunks: Buffer[] = [];
    let closed = false;
    let timer = setTimeout(done, wait);
    function done() {
      clearTimeout(timer);
      clearTimeout(trickle);
      pending = [];
      const chosen = tls ? (socket as ReturnType<typeof tlsConnect>).alpnProtocol : false;
      socket.destroy();
      resolve({ answer: Buffer.concat(chunks), closed, alpn: chosen ?? false });
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      clearTimeout(timer);
      timer = setTimeout(done, quiet);
    });
    socket.on('end', () => {
      closed = true;
      done();
    });
    socket.on('close', () => {
      closed = true;
      done();
    });
    socket.on('error', (error) => {
      closed = true;
      if (chunks.length > 0) done();
      else if ((error as { code?: string }).code === 'ECONNRESET') done();
      else {
        clearTimeout(timer);
        clearTimeout(trickle);
        reject(error);
      }
    });
  });
}

/** A WebSocket to `url` (ws: or wss:), open. */
export function websocket(url: string, protocols: string[] = []): Promise<WebSocket> {
  const ws = new WebSocket(url, protocols, {
    rejectUnauthorized: false,
    handshakeTimeout: TIMEOUT,
  });
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) =>
      reject(new Error(`handshake answered ${res.statusCode}`)),
    );
  });
}

/** The next message on `ws`, as it came (text as string). */
export function nextMessage(ws: WebSocket): Promise<string | Buffer> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no message within ${TIMEOUT} ms`)), TIMEOUT);
    ws.once('message', (data: Buffer, binary: boolean) => {
      clearTimeout(timer);
      resolve(binary ? data : data.toString());
    });
  });
}

/** One HTTP/2 frame as a raw client saw it (RFC 9113 §4.1). */
export interface Frame {
  type: number;
  flags: number;
  stream: number;
  /** RST_STREAM and GOAWAY: the error code. */
  code?: number;
}

/**
 * A GET of `path` on a fresh HTTP/2 connection made of raw frames (h2c with prior knowledge,
 * or TLS with ALPN h2), returning every frame the server sent until stream 1 ended with
 * END_STREAM or RST_STREAM, or `wait` ms passed: what node's client hides, the order of
 * END_STREAM and RST_STREAM among them.
 */
export function rawH2(url: string, path: string, wait = TIMEOUT): Promise<Frame[]> {
  const base = new URL(url);
  const port = Number(base.port || (base.protocol === 'https:' ? 443 : 80));
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  // HPACK (RFC 7541): indexed :method GET (2), :scheme (6 http, 7 https), and literal values
  // without indexing for :path (4) and :authority (1).
  const literal = (index: number, value: string) =>
    Buffer.concat([Buffer.from([index, value.length]), Buffer.from(value, 'latin1')]);
  const block = Buffer.concat([
    Buffer.from([0x82, base.protocol === 'https:' ? 0x87 : 0x86]),
    literal(4, path),
    literal(1, base.host),
  ]);
  const hello = Buffer.concat([
    Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'),
    frame(4, 0, 0, Buffer.alloc(0)),
    frame(1, 0x5, 1, block),
  ]);
  return new Promise((resolve, reject) => {
    const socket =
      base.protocol === 'https:'
        ? tlsConnect(
            { host: base.hostname, port, rejectUnauthorized: false, ALPNProtocols: ['h2'] },
            () => socket.write(hello),
          )
        : netConnect(port, base.hostname, () => socket.write(hello));
    const frames: Frame[] = [];
    let buffer = Buffer.alloc(0);
    const timer = setTimeout(done, wait);
    function done() {
      clearTimeout(timer);
      socket.destroy();
      resolve(frames);
    }
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      while (buffer.length >= 9) {
        const length = buffer.readUIntBE(0, 3);
        if (buffer.length < 9 + length) break;
        const seen: Frame = {
          type: buffer[3],
          flags: buffer[4],
          stream: buffer.readUInt32BE(5) & 0x7fffffff,
        };
        if (seen.type === 3) seen.code = buffer.readUInt32BE(9);
        if (seen.type === 7) seen.code = buffer.readUInt32BE(17);
        buffer = buffer.subarray(9 + length);
        frames.push(seen);
        // SETTINGS from the server: acknowledge them (RFC 9113 §6.5.3).
        if (seen.type === 4 && (seen.flags & 1) === 0)
          socket.write(frame(4, 1, 0, Buffer.alloc(0)));
        const ends = seen.stream === 1 && (seen.type === 3 || (seen.flags & 1) === 1);
        if (ends && (seen.type === 3 || seen.type === 0 || seen.type === 1)) {
          // Wait a moment for a RST_STREAM that might follow an END_STREAM.
          setTimeout(done, 200);
        }
      }
    });
    socket.on('close', done);
    socket.on('error', (error) => {
      clearTimeout(timer);
      if (frames.length > 0) done();
      else reject(error);
    });
  });
}
