import { connect } from 'node:http2';
import { get } from 'node:https';
import { handle, type ServeOptions, upgrade } from 'rxgi';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Logger, logger, setLogger } from '../../../core/log.js';
import { selfSignedCertificate, type TlsFiles } from '../../../protocols/server/tls.js';
import { exchange, h2WebSocket, session } from '../../h2client.js';
import { closeServers, raw, start, statusOf, until } from '../../helpers.js';
import { closed, nextMessage, openWebSocket } from '../../ws-client.js';

/**
 * The access log is the drivers' (docs/server.md): `serve({ accessLog: true })` logs one info
 * record per exchange for every protocol (h1, h1s, h2c, h2, ws, wss, ws-over-h2), the answers
 * a driver gives itself before any app sees the request included (400, 403, 413, 431, 501), and
 * connections at debug level. Off, nothing per exchange is logged.
 */
interface Line {
  level: string;
  msg: string;
  fields: Record<string, unknown>;
}
let lines: Line[] = [];
const previous = logger();
const capture = (level: string) => (msg: string, fields?: Record<string, unknown>) => {
  lines.push({ level, msg, fields: fields ?? {} });
  if (level === 'error') previous.error(msg, fields);
};
const captured: Logger = {
  error: capture('error'),
  warn: capture('warn'),
  info: capture('info'),
  debug: capture('debug'),
};

let tls: TlsFiles;
beforeAll(async () => {
  tls = await selfSignedCertificate();
});
beforeEach(() => {
  lines = [];
  setLogger(captured);
});
afterEach(async () => {
  await closeServers();
  setLogger(previous);
});
afterAll(() => setLogger(previous));

/** The access records so far (info lines carrying `bytes`). */
const records = () =>
  lines.filter((line) => line.level === 'info' && 'bytes' in line.fields).map((l) => l.fields);

async function recordsWhen(count: number): Promise<Record<string, unknown>[]> {
  await until(() => records().length >= count, 5_000);
  return records();
}

const app = handle(async (req) => {
  if (req.websocket) return upgrade((messages) => messages);
  const body = await req.text();
  return { status: req.path === '/missing' ? 404 : 200, body: `got ${body}` };
});

const serveLogged = (options: ServeOptions = {}) =>
  start(app, { accessLog: true, maxBodySize: 100, maxHeaderSize: 1024, ...options });

const CLIENT = expect.stringMatching(/^127\.0\.0\.1:\d+$/);
const TIME = expect.any(Number);

describe('serve({ accessLog: true })', () => {
  it('logs an HTTP/1.1 exchange, in cleartext (h1) and over TLS (h1s)', async () => {
    const plain = await serveLogged();
    const response = await fetch(`${plain.url}/missing?q=1`, { method: 'POST', body: 'abc' });
    expect(response.status).toBe(404);
    await response.text();
    const secure = await serveLogged({ tls });
    const h1s = await new Promise<number>((resolve, reject) => {
      get(`${secure.url}/s`, { rejectUnauthorized: false }, (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      }).on('error', reject);
    });
    expect(h1s).toBe(200);
    const [h1, tlsLine] = await recordsWhen(2);
    expect(h1).toEqual({
      method: 'POST',
      target: '/missing?q=1',
      status: 404,
      bytes: 7,
      duration: TIME,
      protocol: 'h1',
      client: CLIENT,
    });
    expect(tlsLine).toMatchObject({ method: 'GET', target: '/s', status: 200, protocol: 'h1s' });
    const line = lines.find((l) => l.fields === h1);
    expect(line?.msg).toMatch(/^POST \/missing\?q=1 404 7 B [\d.]+ ms h1 127\.0\.0\.1:\d+$/);
  });

  it('logs HTTP/2 exchanges in cleartext (h2c) and over TLS (h2)', async () => {
    const plain = await serveLogged();
    const secure = await serveLogged({ tls });
    for (const url of [plain.url, secure.url]) {
      const client = await session(url);
      const response = await exchange(client, { ':method': 'PUT', ':path': '/two' }, 'hello');
      expect(response.status).toBe(200);
      client.close();
    }
    const [h2c, h2] = await recordsWhen(2);
    expect(h2c).toEqual({
      method: 'PUT',
      target: '/two',
      status: 200,
      bytes: 9,
      duration: TIME,
      protocol: 'h2c',
      client: CLIENT,
    });
    expect(h2).toMatchObject({ method: 'PUT', status: 200, bytes: 9, protocol: 'h2' });
  });

  it('logs a WebSocket session when it closes: ws, wss and ws-over-h2, with message bytes', async () => {
    const plain = await serveLogged();
    const secure = await serveLogged({ tls });
    for (const url of [plain.url, secure.url]) {
      const ws = await openWebSocket(`${url}/chat`, [], { rejectUnauthorized: false });
      ws.send('hello');
      await nextMessage(ws);
      const done = closed(ws);
      ws.close(1000);
      await done;
    }
    const tunnel = await h2WebSocket(plain.url, '/tunnel');
    tunnel.ws.send('hi');
    await nextMessage(tunnel.ws);
    const done = closed(tunnel.ws);
    tunnel.ws.close(1000);
    await done;
    tunnel.client.close();
    const [ws, wss, h2] = await recordsWhen(3);
    expect(ws).toEqual({
      method: 'GET',
      target: '/chat',
      status: 101,
      bytes: 5,
      duration: TIME,
      protocol: 'ws',
      client: CLIENT,
    });
    expect(wss).toMatchObject({ target: '/chat', status: 101, bytes: 5, protocol: 'wss' });
    expect(h2).toMatchObject({ method: 'GET', target: '/tunnel', status: 200, bytes: 2 });
    expect(h2.protocol).toBe('ws-over-h2');
  });

  it("logs the driver's own answers: 400, 413, 431 and 501 over HTTP/1.1", async () => {
    const server = await serveLogged();
    const bad = await raw(server.port, 'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n');
    expect(statusOf(bad)).toBe(400);
    const large = await raw(
      server.port,
      'POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n',
    );
    expect(statusOf(large)).toBe(413);
    const huge = await raw(
      server.port,
      `GET / HTTP/1.1\r\nHost: a\r\nX: ${'y'.repeat(2048)}\r\n\r\n`,
    );
    expect(statusOf(huge)).toBe(431);
    const tunnel = await raw(server.port, 'CONNECT example.com:443 HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(statusOf(tunnel)).toBe(501);
    const [r400, r413, r431, r501] = await recordsWhen(4);
    expect(r400).toEqual({
      method: '-',
      target: '-',
      status: 400,
      bytes: expect.any(Number),
      duration: 0,
      protocol: 'h1',
      client: CLIENT,
    });
    expect(r413).toMatchObject({ method: 'POST', target: '/upload', status: 413, protocol: 'h1' });
    expect(r431).toMatchObject({ status: 431, protocol: 'h1', client: CLIENT });
    expect(r501).toMatchObject({ method: 'CONNECT', target: 'example.com:443', status: 501 });
    for (const record of [r413, r431, r501]) expect(record.bytes).toBeGreaterThan(0);
  });

  it("logs the driver's own answers over HTTP/2 and to a WebSocket from another site (403)", async () => {
    const server = await serveLogged();
    const client = await session(server.url);
    const large = await exchange(
      client,
      { ':method': 'POST', ':path': '/big', 'content-length': '1000' },
      'x'.repeat(1000),
    );
    expect(large.status).toBe(413);
    client.close();
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(`${server.url.replace('http', 'ws')}/x`, {
        origin: 'https://evil.example',
      });
      ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
    });
    expect(status).toBe(403);
    const [h2, foreign] = await recordsWhen(2);
    expect(h2).toMatchObject({ method: 'POST', target: '/big', status: 413, protocol: 'h2c' });
    expect(foreign).toMatchObject({ method: 'GET', target: '/x', status: 403, protocol: 'ws' });
  });

  it('logs a plain request to the TLS port: 400', async () => {
    const server = await serveLogged({ tls });
    const answer = await raw(server.port, 'GET / HTTP/1.1\r\nHost: a\r\n\r\n');
    expect(statusOf(answer)).toBe(400);
    const [record] = await recordsWhen(1);
    expect(record).toMatchObject({ status: 400, protocol: 'h1', client: CLIENT });
  });

  it('marks an exchange the client cut with its code', async () => {
    const server = await start(
      handle(() => new Promise<never>(() => {})),
      { accessLog: true },
    );
    const client = connect(server.url);
    const stream = client.request({ ':path': '/hang' });
    await until(() => lines.some((l) => l.msg === 'connection open'), 5_000);
    await new Promise((resolve) => setTimeout(resolve, 50));
    stream.close(0x8); // RST_STREAM CANCEL
    const [record] = await recordsWhen(1);
    client.close();
    expect(record).toMatchObject({ target: '/hang', status: 0, protocol: 'h2c', aborted: 8 });
    expect(lines.find((l) => l.fields === record)?.msg).toMatch(/ - 0 B .* aborted 8$/);
  });

  it('logs connection open and close at debug level', async () => {
    const server = await serveLogged();
    await (await fetch(server.url, { headers: { connection: 'close' } })).text();
    await until(() => lines.some((l) => l.msg === 'connection closed'), 5_000);
    const open = lines.find((l) => l.msg === 'connection open');
    const close = lines.find((l) => l.msg === 'connection closed');
    expect(open).toMatchObject({
      level: 'debug',
      fields: { protocol: 'http/1.1', secure: false, client: CLIENT },
    });
    expect(close).toMatchObject({ level: 'debug', fields: { duration: TIME } });
    expect(close?.fields.connection).toBe(open?.fields.connection);
  });

  it('logs nothing per exchange or connection when off (the default)', async () => {
    const server = await start(app, { maxBodySize: 100 });
    await (await fetch(server.url, { method: 'POST', body: 'x' })).text();
    await raw(server.port, 'POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1000\r\n\r\n');
    await raw(server.port, 'GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n');
    const ws = await openWebSocket(server.url);
    ws.close();
    await closed(ws);
    const ours = (l: Line) => 'bytes' in l.fields || l.msg.startsWith('connection ');
    expect(lines.filter(ours)).toEqual([]);
  });
});
