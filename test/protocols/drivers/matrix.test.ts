/**
 * One behaviour matrix: the same app, served once in cleartext and once with TLS, must give the
 * same answers over HTTP/1.1, h2c, h2 over TLS and HTTP/1.1 over TLS, and its WebSocket must
 * behave the same over HTTP/1.1, HTTP/1.1 + TLS, h2c and h2 + TLS (RFC 8441).
 */
import { randomBytes } from 'node:crypto';
import {
  type ClientRequest,
  request as httpRequest,
  type IncomingHttpHeaders,
  type IncomingMessage,
} from 'node:http';
import type { IncomingHttpHeaders as H2Headers } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import type { TLSSocket } from 'node:tls';
import type { App, HttpRequest, RxgiServer, TlsFiles } from 'rxgi';
import { handle, json, selfSignedCertificate, status, text, upgrade } from 'rxgi';
import { connect } from 'rxgi/testing';
import { interval, map, take, takeWhile, tap } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { collect, h2WebSocket, session } from '../../h2client.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

const MAX_BODY = 1024 * 1024;
const LINK = '</app.js>; rel=preload';

// ---------------------------------------------------------------------------------------------
// The app: one handler for every protocol.

/** Close events of WebSocket sessions as the app received them, by the `id` of their URL. */
const wsCloses = new Map<string, { code: number; reason: string }>();
/** What the app learnt from each WebSocket handshake's request, by `id`. */
const wsRequests = new Map<string, ReturnType<typeof truth>>();

function truth(req: HttpRequest) {
  return { http: req.http, scheme: req.scheme, caps: req.caps, websocket: req.websocket };
}

/** 1 MiB in 64 KiB chunks, every byte set so that a lost or reordered chunk shows. */
const MEGABYTE = Buffer.alloc(MAX_BODY, 0);
for (let i = 0; i < MEGABYTE.length; i++) MEGABYTE[i] = (i * 31 + (i >> 16)) & 0xff;

async function* megabyte(): AsyncGenerator<Uint8Array> {
  for (let at = 0; at < MEGABYTE.length; at += 65_536) {
    yield MEGABYTE.subarray(at, at + 65_536);
  }
}

const handler = handle(async (req) => {
  if (req.websocket) {
    const id = req.searchParams.get('id') ?? '';
    wsRequests.set(id, truth(req));
    // Echo; on /ws-bye the app ends the session itself when it receives 'bye'.
    const bye = req.path === '/ws-bye';
    return upgrade((messages) => (bye ? messages.pipe(takeWhile((m) => m !== 'bye')) : messages), {
      subprotocol: req.subprotocols.includes('b') ? 'b' : null,
    });
  }
  switch (req.path) {
    case '/echo':
      return {
        headers: ['content-type', req.header('content-type') ?? 'application/octet-stream'],
        body: req.body,
      };
    case '/stream':
      return {
        headers: ['content-type', 'text/plain'],
        body: interval(10).pipe(
          take(5),
          map((i) => `chunk ${i};`),
        ),
      };
    case '/pulled':
      return { headers: ['content-type', 'application/octet-stream'], body: megabyte() };
    case '/page':
      req.push('/app.js');
      return text('page');
    case '/app.js':
      return { headers: ['content-type', 'text/javascript'], body: 'pushed();' };
    case '/trailers':
      return {
        // ?sized: with a content-length too, which HTTP/1.1 cannot send beside trailers.
        headers: [
          'content-type',
          'text/plain',
          ...(req.query === 'sized' ? ['content-length', '4'] : []),
        ],
        body: 'data',
        trailers: ['x-checksum', 'abc'],
      };
    case '/read-trailers': {
      const body = await req.text();
      return json({ body, trailers: req.body.trailers });
    }
    case '/hello':
      return { headers: ['content-type', 'text/plain', 'x-custom', 'yes'], body: 'hello world' };
    case '/boom':
      throw new Error('boom');
    case '/bad-field':
      return { headers: ['x-split', 'a\r\nset-cookie: injected=1'], body: 'never' };
    case '/odd-fields':
      return { headers: ['x-alone'], body: 'never' };
    case '/bad-trailers':
      return { body: 'data', trailers: req.query === 'odd' ? ['x-alone'] : ['x-t', 'a\nb'] };
    case '/truth':
      return json(truth(req));
    default:
      return status(404);
  }
});

/** The app, recording the WebSocket `close` events it receives (tagged by the URL's `id`). */
const app: App = (events, info) => {
  const tags = new Map<number, string>();
  return handler(
    events.pipe(
      tap((event) => {
        if (event.type === 'request' && event.websocket) {
          tags.set(event.stream, new URLSearchParams(event.query).get('id') ?? '');
        } else if (event.type === 'close' && tags.has(event.stream)) {
          wsCloses.set(tags.get(event.stream)!, { code: event.code, reason: event.reason });
        }
      }),
    ),
    info,
  );
};

// ---------------------------------------------------------------------------------------------
// The client: one call, any protocol.

type Protocol = 'http/1.1' | 'h2c' | 'h2' | 'http/1.1+tls';

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  /** Send `TE: trailers`. */
  te?: boolean;
  /** Request trailers (HTTP/1.1: chunked trailer section; HTTP/2: trailing HEADERS). */
  trailers?: Record<string, string>;
  /** Write the body but never end the request: for answers that come before the body does. */
  open?: boolean;
  /** HTTP/2 only: SETTINGS_ENABLE_PUSH of the client. Default true (node's default). */
  enablePush?: boolean;
}

interface Received {
  /** The HTTP version the exchange really used. */
  http: string;
  status: number;
  /** Lower-case names; repeated fields joined with `, `; no pseudo-headers. */
  headers: Record<string, string>;
  body: Buffer;
  trailers: Record<string, string> | null;
  /** 1xx responses before the final one. */
  informational: { status: number; link: string | undefined }[];
  /** HTTP/2 pushes received with the response. */
  pushed: { path: string; status: number; body: string }[];
}

function record(headers: IncomingHttpHeaders | H2Headers): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    out[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : String(value);
  }
  return out;
}

function send(protocol: Protocol, url: string, sent: Sent): Promise<Received> {
  const h2 = protocol === 'h2c' || protocol === 'h2';
  // rxgi/testing's scripted connection carries every exchange but those that need a client
  // setting it does not offer (push refused, pushed streams read) or a body left open.
  if (!sent.open && sent.enablePush === undefined && !(h2 && sent.path === '/page'))
    return sendScripted(h2, url, sent);
  return h2 ? sendH2(url, sent) : sendH1(protocol, url, sent);
}

/** One exchange on a connection of its own, scripted with `connect` (rxgi/testing). */
async function sendScripted(h2: boolean, url: string, sent: Sent): Promise<Received> {
  const conn = await connect(url, { protocol: h2 ? 'h2' : 'http/1.1' });
  try {
    const headers: Record<string, string> = { ...sent.headers };
    if (sent.te) headers.te = 'trailers';
    const hasBody = sent.body !== undefined || sent.trailers !== undefined;
    const stream = conn.request({
      method: sent.method ?? 'GET',
      target: sent.path,
      headers,
      end: !hasBody,
    });
    if (sent.body !== undefined) await stream.write(Buffer.from(sent.body));
    if (hasBody)
      await stream.end(
        sent.trailers === undefined ? undefined : Object.entries(sent.trailers).flat(),
      );
    const result = await stream.done;
    if (result.reset !== null) throw new Error(`the stream was reset with ${result.reset}`);
    return {
      http: conn.protocol === 'h2' ? '2' : '1.1',
      status: result.status,
      headers: fieldRecord(result.headers),
      body: Buffer.from(result.body),
      trailers: result.trailers === null ? null : fieldRecord(result.trailers),
      informational: result.informational.map((head) => ({
        status: head.status,
        link: fieldRecord(head.headers).link,
      })),
      pushed: [],
    };
  } finally {
    await conn.close();
  }
}

/** A field list as `record` makes node's objects: repeated names joined with `, `. */
function fieldRecord(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < list.length; i += 2) {
    const name = list[i]!.toLowerCase();
    if (name.startsWith(':')) continue;
    out[name] = name in out ? `${out[name]}, ${list[i + 1]}` : list[i + 1]!;
  }
  return out;
}

function sendH1(protocol: Protocol, url: string, sent: Sent): Promise<Received> {
  const secure = protocol === 'http/1.1+tls';
  const headers: Record<string, string> = { ...sent.headers };
  if (sent.te) headers.te = 'trailers';
  const body = sent.body === undefined ? undefined : Buffer.from(sent.body);
  const declared = Object.keys(headers).some((name) => name.toLowerCase() === 'content-length');
  // node:http sends trailers only with chunked framing, and would pick content-length for a
  // body given whole to end(): say which framing is meant.
  if (sent.trailers !== undefined) headers['transfer-encoding'] = 'chunked';
  else if (body !== undefined && !declared) headers['content-length'] = String(body.byteLength);
  const options = {
    method: sent.method ?? 'GET',
    headers,
    agent: false as const,
    rejectUnauthorized: false,
    ALPNProtocols: ['http/1.1'],
  };
  return new Promise((resolve, reject) => {
    const informational: Received['informational'] = [];
    let answered = false;
    const onResponse = (res: IncomingMessage) => {
      answered = true;
      if (secure) {
        const alpn = (res.socket as TLSSocket).alpnProtocol;
        if (alpn !== 'http/1.1') reject(new Error(`ALPN chose ${alpn}, not http/1.1`));
      }
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', reject);
      res.on('end', () => {
        if (sent.open) req.destroy();
        resolve({
          http: res.httpVersion,
          status: res.statusCode ?? 0,
          headers: record(res.headers),
          body: Buffer.concat(chunks),
          trailers: res.rawTrailers.length > 0 ? record(res.trailers) : null,
          informational,
          pushed: [],
        });
      });
    };
    const req: ClientRequest = secure
      ? httpsRequest(`${url}${sent.path}`, options, onResponse)
      : httpRequest(`${url}${sent.path}`, options, onResponse);
    req.on('information', (info) => {
      informational.push({ status: info.statusCode, link: record(info.headers).link });
    });
    req.on('error', (error) => {
      // An answer before the whole body was sent may cut the upload short: that is fine.
      if (!answered) reject(error);
    });
    if (sent.trailers !== undefined) req.addTrailers(sent.trailers);
    if (sent.open) {
      if (body !== undefined) req.write(body);
      req.flushHeaders();
    } else {
      req.end(body);
    }
  });
}

async function sendH2(url: string, sent: Sent): Promise<Received> {
  const client = await session(url, { settings: { enablePush: sent.enablePush ?? true } });
  const expected = url.startsWith('https:') ? 'h2' : 'h2c';
  try {
    if (client.alpnProtocol !== expected) {
      throw new Error(`the session speaks ${client.alpnProtocol}, not ${expected}`);
    }
    const pushes: Promise<Received['pushed'][number]>[] = [];
    client.on('stream', (stream, request) => {
      // A pushed response's head comes as 'push', not 'response'.
      let status = 0;
      stream.once('push', (head) => {
        status = Number(head[':status']);
      });
      pushes.push(
        collect(stream).then((r) => ({
          path: String(request[':path']),
          status,
          body: r.body.toString(),
        })),
      );
    });
    const hasBody = sent.body !== undefined || sent.open === true;
    const stream = client.request(
      {
        ':method': sent.method ?? 'GET',
        ':path': sent.path,
        ...sent.headers,
        ...(sent.te ? { te: 'trailers' } : {}),
      },
      { endStream: !hasBody, waitForTrailers: sent.trailers !== undefined },
    );
    if (sent.trailers !== undefined) {
      const trailers = sent.trailers;
      stream.once('wantTrailers', () => stream.sendTrailers(trailers));
    }
    if (sent.open) {
      if (sent.body !== undefined) stream.write(sent.body);
    } else if (hasBody) {
      stream.end(sent.body);
    }
    const response = await collect(stream);
    if (sent.open) stream.close();
    return {
      http: '2',
      status: response.status,
      headers: record(response.headers),
      body: response.body,
      trailers: response.trailers === null ? null : record(response.trailers),
      informational: response.informational.map((h) => ({
        status: Number(h[':status']),
        link: record(h).link,
      })),
      pushed: await Promise.all(pushes),
    };
  } finally {
    client.close();
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix.

let cleartext: RxgiServer;
let secure: RxgiServer;

beforeAll(async () => {
  const tls: TlsFiles = await selfSignedCertificate();
  [cleartext, secure] = await Promise.all([
    start(app, { maxBodySize: MAX_BODY }),
    start(app, { maxBodySize: MAX_BODY, tls }),
  ]);
});
afterAll(closeServers);

const PROTOCOLS: { name: string; protocol: Protocol; tls: boolean; h2: boolean }[] = [
  { name: 'http/1.1', protocol: 'http/1.1', tls: false, h2: false },
  { name: 'h2c', protocol: 'h2c', tls: false, h2: true },
  { name: 'h2 over TLS', protocol: 'h2', tls: true, h2: true },
  { name: 'http/1.1 over TLS', protocol: 'http/1.1+tls', tls: true, h2: false },
];

describe.each(PROTOCOLS)('$name', ({ protocol, tls, h2 }) => {
  const url = () => (tls ? secure.url : cleartext.url);
  const http = h2 ? '2' : '1.1';
  const call = (sent: Sent) => send(protocol, url(), sent);

  it('1. echoes a 300 KB body with its content-type', async () => {
    const body = randomBytes(300 * 1024);
    const response = await call({
      method: 'POST',
      path: '/echo',
      headers: { 'content-type': 'application/x-test' },
      body,
    });
    expect(response.http).toBe(http);
    expect(response.status).toBe(200);
    expect(response.headers['content-type']).toBe('application/x-test');
    expect(response.body.byteLength).toBe(body.byteLength);
    expect(response.body.equals(body)).toBe(true);
  });

  it('2. streams an Observable body in order', async () => {
    const response = await call({ path: '/stream' });
    expect(response.status).toBe(200);
    expect(response.body.toString()).toBe('chunk 0;chunk 1;chunk 2;chunk 3;chunk 4;');
  });

  it('3. delivers a pulled 1 MB body intact', async () => {
    const response = await call({ path: '/pulled' });
    expect(response.status).toBe(200);
    expect(response.body.byteLength).toBe(MEGABYTE.byteLength);
    expect(response.body.equals(MEGABYTE)).toBe(true);
  });

  if (h2) {
    it('4. pushes /app.js when the client allows push', async () => {
      const response = await call({ path: '/page' });
      expect(response.body.toString()).toBe('page');
      expect(response.pushed).toEqual([{ path: '/app.js', status: 200, body: 'pushed();' }]);
      // A real push is not also hinted (SPEC.md §6: the 103 and Link are its degradation).
      expect(response.informational).toEqual([]);
      expect(response.headers.link).toBeUndefined();
    });

    it('4. degrades push to a 103 and a Link header when the client disables push', async () => {
      const response = await call({ path: '/page', enablePush: false });
      expect(response.body.toString()).toBe('page');
      expect(response.pushed).toEqual([]);
      expect(response.informational).toEqual([{ status: 103, link: LINK }]);
      expect(response.headers.link).toBe(LINK);
    });
  } else {
    it('4. degrades push to a 103 and a Link header', async () => {
      const response = await call({ path: '/page' });
      expect(response.body.toString()).toBe('page');
      expect(response.informational).toEqual([{ status: 103, link: LINK }]);
      expect(response.headers.link).toBe(LINK);
    });
  }

  it('5. sends response trailers where they can arrive', async () => {
    const withTe = await call({ path: '/trailers', te: true });
    expect(withTe.body.toString()).toBe('data');
    expect(withTe.trailers).toEqual({ 'x-checksum': 'abc' });
    const without = await call({ path: '/trailers' });
    expect(without.body.toString()).toBe('data');
    // HTTP/2 always carries trailers; HTTP/1.1 only when the client said `TE: trailers`.
    expect(without.trailers).toEqual(h2 ? { 'x-checksum': 'abc' } : null);
    // A content-length beside promised trailers: the trailers win where they can arrive.
    const sized = await call({ path: '/trailers?sized', te: true });
    expect(sized.body.toString()).toBe('data');
    expect(sized.trailers).toEqual({ 'x-checksum': 'abc' });
    const sizedWithout = await call({ path: '/trailers?sized' });
    expect(sizedWithout.body.toString()).toBe('data');
    if (!h2) expect(sizedWithout.headers['content-length']).toBe('4');
  });

  it('6. delivers request trailers to the app', async () => {
    const response = await call({
      method: 'POST',
      path: '/read-trailers',
      body: 'abc',
      trailers: { 'x-sum': '6' },
    });
    expect(response.status).toBe(200);
    expect(JSON.parse(response.body.toString())).toEqual({ body: 'abc', trailers: ['x-sum', '6'] });
  });

  it('7. HEAD has the headers of GET and no body', async () => {
    const [get, head] = await Promise.all([
      call({ path: '/hello' }),
      call({ method: 'HEAD', path: '/hello' }),
    ]);
    expect(get.body.toString()).toBe('hello world');
    expect(head.status).toBe(200);
    expect(head.body.byteLength).toBe(0);
    const { date: _getDate, ...getHeaders } = get.headers;
    const { date: _headDate, ...headHeaders } = head.headers;
    expect(headHeaders).toEqual(getHeaders);
    expect(headHeaders['content-length']).toBe('11');
  });

  it('7. answers 404 for an unknown path', async () => {
    const response = await call({ path: '/nowhere' });
    expect([response.status, response.body.toString()]).toEqual([404, 'Not Found\n']);
  });

  it('7. answers 500 when the handler throws', async () => {
    const response = await call({ path: '/boom' });
    expect([response.status, response.body.toString()]).toEqual([500, 'Internal Server Error\n']);
  });

  it('7. answers 500 to a field node:http refuses (a CR LF in a value, a name alone)', async () => {
    for (const path of ['/bad-field', '/odd-fields']) {
      const response = await call({ path });
      expect([response.status, response.body.toString()]).toEqual([500, 'Internal Server Error\n']);
      expect(response.headers['set-cookie']).toBeUndefined();
    }
  });

  it('7. aborts a response whose trailers node:http would refuse', async () => {
    // After the head there is no status left to answer with: the response is cut short.
    await expect(call({ path: '/bad-trailers', te: true })).rejects.toThrow();
    await expect(call({ path: '/bad-trailers?odd', te: true })).rejects.toThrow();
  });

  it('7. answers 413 to a declared body over maxBodySize', async () => {
    const response = await call({
      method: 'POST',
      path: '/echo',
      headers: { 'content-length': String(MAX_BODY + 1) },
      body: Buffer.alloc(16 * 1024, 1),
      open: true,
    });
    expect([response.status, response.body.toString()]).toEqual([413, 'Content Too Large\n']);
  });

  it('8. the request event says the truth', async () => {
    const scheme = tls ? 'https' : 'http';
    const plain = await call({ path: '/truth' });
    const te = await call({ path: '/truth', te: true });
    const caps = h2
      ? { push: true, trailers: true, earlyHints: true, websocket: true }
      : { push: false, trailers: false, earlyHints: true, websocket: true };
    expect(JSON.parse(plain.body.toString())).toEqual({ http, scheme, caps, websocket: false });
    expect(JSON.parse(te.body.toString())).toEqual({
      http,
      scheme,
      caps: { ...caps, trailers: true },
      websocket: false,
    });
    if (h2) {
      const noPush = await call({ path: '/truth', enablePush: false });
      expect(JSON.parse(noPush.body.toString())).toEqual({
        http,
        scheme,
        caps: { ...caps, push: false },
        websocket: false,
      });
    }
  });
});

// ---------------------------------------------------------------------------------------------
// WebSocket: one echo app, four ways in.

const WEBSOCKETS: { name: string; tls: boolean; h2: boolean }[] = [
  { name: 'WebSocket over HTTP/1.1', tls: false, h2: false },
  { name: 'WebSocket over HTTP/1.1 + TLS', tls: true, h2: false },
  { name: 'WebSocket over h2c (RFC 8441)', tls: false, h2: true },
  { name: 'WebSocket over h2 + TLS (RFC 8441)', tls: true, h2: true },
];

let nextId = 0;

interface OpenWebSocket {
  ws: WebSocket;
  subprotocol: string | undefined;
  /** HTTP/2: the server reset the stream (RST_STREAM) instead of ending it. */
  reset: () => boolean;
  done: () => void;
}

/** Open a session offering ['a', 'b']; the socket, the negotiated subprotocol and a cleanup. */
async function openWebSocket(
  tls: boolean,
  h2: boolean,
  id: string,
  route = '/ws',
): Promise<OpenWebSocket> {
  const url = tls ? secure.url : cleartext.url;
  const path = `${route}?id=${id}`;
  if (h2) {
    const { client, stream, head, ws } = await h2WebSocket(url, path, ['a', 'b']);
    const expected = tls ? 'h2' : 'h2c';
    if (client.alpnProtocol !== expected) throw new Error(`session speaks ${client.alpnProtocol}`);
    // node:http2 emits 'aborted' when the peer resets a stream whose writable side is open.
    let reset = false;
    stream.once('aborted', () => {
      reset = true;
    });
    return {
      ws,
      subprotocol: head['sec-websocket-protocol'] as string | undefined,
      reset: () => reset,
      done: () => client.close(),
    };
  }
  const ws = new WebSocket(`${url.replace(/^http/, 'ws')}${path}`, ['a', 'b'], {
    rejectUnauthorized: false,
  });
  await new Promise((resolve, reject) => {
    ws.once('open', resolve);
    ws.once('error', reject);
  });
  return { ws, subprotocol: ws.protocol, reset: () => false, done: () => ws.terminate() };
}

describe.each(WEBSOCKETS)('$name', ({ tls, h2 }) => {
  it('9. echoes text as text and binary as binary, picks subprotocol b, reports close 1000', async () => {
    const id = `ws-${++nextId}`;
    const { ws, subprotocol, done } = await openWebSocket(tls, h2, id);
    try {
      expect(subprotocol).toBe('b');
      const replies: { data: string; binary: boolean }[] = [];
      const both = new Promise<void>((resolve) =>
        ws.on('message', (data: Buffer, binary: boolean) => {
          replies.push({ data: binary ? data.toString('hex') : data.toString(), binary });
          if (replies.length === 2) resolve();
        }),
      );
      ws.send('héllo');
      ws.send(Buffer.from([0, 1, 255]));
      await both;
      expect(replies).toEqual([
        { data: 'héllo', binary: false },
        { data: '0001ff', binary: true },
      ]);
      const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
      ws.close(1000, 'bye');
      expect(await closed).toBe(1000);
      await until(() => wsCloses.has(id), 2_000);
      expect(wsCloses.get(id)).toEqual({ code: 1000, reason: 'bye' });
    } finally {
      done();
    }
  });

  it('9. answers a ping with a pong (RFC 6455 §5.5.2)', async () => {
    const { ws, done } = await openWebSocket(tls, h2, `ws-${++nextId}`);
    try {
      const pong = new Promise<string>((resolve, reject) => {
        ws.once('pong', (data: Buffer) => resolve(data.toString()));
        setTimeout(() => reject(new Error('no pong within 500 ms')), 500);
      });
      ws.ping('are you there');
      expect(await pong).toBe('are you there');
    } finally {
      done();
    }
  });

  it("9. a close by the app waits for the client's close frame, then ends cleanly", async () => {
    const { ws, reset, done } = await openWebSocket(tls, h2, `ws-${++nextId}`, '/ws-bye');
    try {
      const errors: Error[] = [];
      ws.on('error', (error) => errors.push(error));
      const closed = new Promise<[number, string]>((resolve) =>
        ws.once('close', (code, reason) => resolve([code, reason.toString()])),
      );
      ws.send('bye');
      // A client that is slow to read: the server must wait for its close frame (ws waits 30 s).
      ws.pause();
      await sleep(50);
      ws.resume();
      expect(await closed).toEqual([1000, '']);
      expect(errors).toEqual([]);
      expect(reset()).toBe(false);
    } finally {
      done();
    }
  });

  it('8. the handshake request event says the truth', async () => {
    const id = `ws-${++nextId}`;
    const { ws, done } = await openWebSocket(tls, h2, id);
    ws.close(1000);
    done();
    expect(wsRequests.get(id)).toEqual({
      http: h2 ? '2' : '1.1',
      scheme: tls ? 'https' : 'http',
      caps: { push: false, trailers: h2, earlyHints: true, websocket: true },
      websocket: true,
    });
  });
});
