import { type ClientHttp2Session, type ClientHttp2Stream, connect as h2connect } from 'node:http2';
import { connect, type Socket } from 'node:net';
import type { App, InboundEvent, OutboundEvent } from 'rxgi';
import { EMPTY, mergeMap, type Observable, of } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { selfSignedCertificate } from '../../../protocols/server/tls.js';
import { exchange, h2WebSocket } from '../../h2client.js';
import { open, PREFACE, SETTINGS_ACK, settings } from '../../h2frames.js';
import { closeServers, sleep, start, until } from '../../helpers.js';
import { openWebSocket } from '../../ws-client.js';

/**
 * The time limits of spec/server.md §2, over real sockets with short limits. No tight timing: a
 * slow client is cut within its limit plus generous slack, and a client within its limits (or
 * one the app does not read) is not cut at all.
 */

afterEach(closeServers);

const SLACK = 2_000;

/** Resolves with the ms from now until `socket` closes. */
function closedAfter(socket: Socket): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => socket.once('close', () => resolve(Date.now() - started)));
}

/** Write `bytes` one at a time, every `every` ms, until they run out or the socket closes. */
async function drip(socket: Socket, bytes: Buffer | string, every: number): Promise<void> {
  const data = Buffer.from(bytes);
  for (let i = 0; i < data.byteLength && !socket.destroyed; i++) {
    socket.write(data.subarray(i, i + 1));
    await sleep(every);
  }
}

function tcp(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** The body of a GET of `/` on `client`, as text. */
async function get(client: ClientHttp2Session): Promise<string> {
  return (await exchange(client, { ':method': 'GET', ':path': '/' })).body.toString();
}

/** The RST_STREAM code `stream` closes with (-1: none). */
function resetCode(stream: ClientHttp2Stream): Promise<number> {
  return new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode ?? -1)));
}

interface Close {
  stream: number;
  code: number;
  reason: string;
}

/**
 * An app that reads every body (granting credit as it arrives) and answers `read N` at its
 * end; a request without a body gets `ok`. Every `close` it receives is kept in `closes`.
 */
function reader(closes: Close[]): App {
  const received = new Map<number, number>();
  return (events) =>
    events.pipe(
      mergeMap((event: InboundEvent): Observable<OutboundEvent> => {
        switch (event.type) {
          case 'request':
            if (event.end) return of(answer(event.stream, 'ok'));
            received.set(event.stream, 0);
            return of<OutboundEvent>({ type: 'window', stream: event.stream, bytes: 65_536 });
          case 'data': {
            const total = (received.get(event.stream) ?? 0) + event.chunk.byteLength;
            received.set(event.stream, total);
            if (event.end) return of(answer(event.stream, `read ${total}`));
            return of<OutboundEvent>({
              type: 'window',
              stream: event.stream,
              bytes: event.chunk.byteLength,
            });
          }
          case 'close':
            closes.push({ stream: event.stream, code: event.code, reason: event.reason });
            return EMPTY;
          default:
            return EMPTY;
        }
      }),
    );
}

function answer(stream: number, body: string): OutboundEvent {
  return { type: 'response', stream, status: 200, headers: [], body, end: true };
}

/** An app that accepts every WebSocket and grants it credit, keeping each `close` it gets. */
function wsReader(closes: Close[]): App {
  return (events) =>
    events.pipe(
      mergeMap((event: InboundEvent): OutboundEvent[] => {
        if (event.type === 'request')
          return [
            { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
            { type: 'window', stream: event.stream, bytes: 65_536 },
          ];
        if (event.type === 'close')
          closes.push({ stream: event.stream, code: event.code, reason: event.reason });
        return [];
      }),
    );
}

/** A masked WebSocket text frame announcing 100 bytes, of which 10 come. */
const PARTIAL_FRAME = Buffer.concat([
  Buffer.from([0x81, 0x80 | 100, 0, 0, 0, 0]),
  Buffer.alloc(10, 97),
]);

/** An app that streams 64 KiB pieces (messages with `websocket`) for as long as it is granted credit. */
function firehose(closes: Close[], websocket = false): App {
  const piece = Buffer.alloc(64 * 1024, 120);
  const more = (stream: number): OutboundEvent =>
    websocket
      ? { type: 'ws-message', stream, data: piece }
      : { type: 'data', stream, chunk: piece, end: false };
  return (events) =>
    events.pipe(
      mergeMap((event: InboundEvent): OutboundEvent[] => {
        const stream = event.stream;
        if (event.type === 'request')
          return [
            websocket
              ? { type: 'ws-accept', stream, subprotocol: null, headers: [] }
              : { type: 'response', stream, status: 200, headers: [], end: false },
            more(stream),
          ];
        if (event.type === 'window') return [more(stream)];
        if (event.type === 'close') closes.push({ stream, code: event.code, reason: event.reason });
        return [];
      }),
    );
}

describe('head clock: total time for a head, not silence', () => {
  it('cuts an HTTP/2 preface dripped a byte at a time within headersTimeout', async () => {
    const server = await start(reader([]), { headersTimeout: 1_000 });
    const socket = await tcp(server.port);
    const closed = closedAfter(socket);
    // 24 bytes at one per 200 ms would take 4.8 s: each byte came well within the limit. Until
    // it is whole, a preface is an HTTP/1.1 head to node:http, which checks once a second.
    void drip(socket, PREFACE, 200);
    expect(await closed).toBeLessThan(1_000 + 2 * SLACK);
  });

  it('cuts an HTTP/1.1 head dripped a byte at a time within headersTimeout', async () => {
    const server = await start(reader([]), { headersTimeout: 1_000 });
    const socket = await tcp(server.port);
    const closed = closedAfter(socket);
    // 100 bytes at one per 100 ms would take 10 s. node:http measures this head from its first
    // byte and checks once a second; its 408 and the close after it take a moment more.
    void drip(socket, `GET / HTTP/1.1\r\nhost: x\r\n${'x-a: b\r\n'.repeat(10)}\r\n`, 100);
    expect(await closed).toBeLessThan(1_000 + 2 * SLACK);
  });

  it('cuts a TLS handshake dripped a byte at a time within headersTimeout', async () => {
    const server = await start(reader([]), {
      headersTimeout: 1_000,
      tls: await selfSignedCertificate(),
    });
    const socket = await tcp(server.port);
    const closed = closedAfter(socket);
    // A handshake record announcing 128 bytes, which come one per 200 ms (26 s in all).
    const record = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x00, 0x80]), Buffer.alloc(128)]);
    void drip(socket, record, 200);
    expect(await closed).toBeLessThan(1_000 + SLACK);
  });

  it('cuts the next head of a keep-alive connection dripped after a first request', async () => {
    const server = await start(reader([]), { headersTimeout: 1_000 });
    const socket = await tcp(server.port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    await until(() => Buffer.concat(chunks).includes('ok'));
    const closed = closedAfter(socket);
    void drip(socket, `GET / HTTP/1.1\r\nhost: x\r\n${'x-a: b\r\n'.repeat(10)}\r\n`, 100);
    expect(await closed).toBeLessThan(1_000 + 2 * SLACK);
    expect(Buffer.concat(chunks).toString('latin1')).toContain('HTTP/1.1 408 ');
  });

  it('cuts an HTTP/2 session that sends its preface and no request head', async () => {
    const server = await start(reader([]), { headersTimeout: 1_000 });
    const socket = await open(server.port);
    const closed = closedAfter(socket);
    socket.on('data', () => {});
    socket.write(Buffer.concat([PREFACE, settings(), SETTINGS_ACK]));
    expect(await closed).toBeLessThan(1_000 + SLACK);
  });
});

describe('body clock', () => {
  it('answers 408 to an HTTP/1.1 POST whose body never comes, and tells the app', async () => {
    const closes: Close[] = [];
    const server = await start(reader(closes), { bodyTimeout: 1_000 });
    const socket = await tcp(server.port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = closedAfter(socket);
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n');
    expect(await closed).toBeLessThan(1_000 + SLACK);
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(closes).toEqual([{ stream: 1, code: 8, reason: expect.stringContaining('1000 ms') }]);
  });

  it('cuts a body that drips below minBodyRate, though no gap reaches bodyTimeout', async () => {
    const closes: Close[] = [];
    const server = await start(reader(closes), { bodyTimeout: 1_000, minBodyRate: 1_000 });
    const socket = await tcp(server.port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    const closed = closedAfter(socket);
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n');
    // 10 bytes every 100 ms: 100 bytes/s.
    void (async () => {
      while (!socket.destroyed) {
        socket.write('0123456789');
        await sleep(100);
      }
    })();
    expect(await closed).toBeLessThan(1_000 + SLACK);
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 408 /);
    expect(closes[0]).toMatchObject({ code: 8, reason: expect.stringContaining('bytes/s') });
  });

  it('does not cut a body that arrives within its rate, slow as it is', async () => {
    const server = await start(reader([]), { bodyTimeout: 600, minBodyRate: 100 });
    const socket = await tcp(server.port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    // 50 bytes every 100 ms (500 bytes/s) for 3 s, five times bodyTimeout.
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1500\r\n\r\n');
    for (let i = 0; i < 30; i++) {
      socket.write('x'.repeat(50));
      await sleep(100);
    }
    await until(() => Buffer.concat(chunks).includes('read 1500'));
    expect(socket.destroyed).toBe(false);
    socket.destroy();
  });

  it('does not cut a client whose body the app does not read (no credit)', async () => {
    const closes: Close[] = [];
    // Answers after 2 s without ever granting credit: the client cannot send, and is not to
    // blame for it.
    const lazy: App = (events) =>
      events.pipe(
        mergeMap(async (event) => {
          if (event.type === 'close')
            closes.push({ stream: event.stream, code: event.code, reason: event.reason });
          if (event.type !== 'request') return null;
          await sleep(2_000);
          return answer(event.stream, 'late');
        }),
        mergeMap((event) => (event === null ? EMPTY : of(event))),
      );
    const server = await start(lazy, { bodyTimeout: 500, minBodyRate: 1_000 });
    const socket = await tcp(server.port);
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.write('POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n');
    await until(() => Buffer.concat(chunks).includes('late'), 5_000);
    expect(Buffer.concat(chunks).toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    // The one close is the end of an exchange answered without reading its body (§5.1).
    expect(closes).toEqual([{ stream: 1, code: 0, reason: 'response complete' }]);
    socket.destroy();
  });

  it('resets a silent HTTP/2 stream with CANCEL while its sibling is served', async () => {
    const closes: Close[] = [];
    const server = await start(reader(closes), { bodyTimeout: 1_000 });
    const client = h2connect(server.url);
    try {
      const silent = client.request({ ':method': 'POST', ':path': '/' }, { endStream: false });
      silent.on('error', () => {});
      const started = Date.now();
      const reset = resetCode(silent);
      // A sibling opened while the silent stream waits, and one after it was reset.
      await sleep(300);
      expect(await get(client)).toBe('ok');
      expect(await reset).toBe(8);
      expect(Date.now() - started).toBeLessThan(1_000 + SLACK);
      expect(await get(client)).toBe('ok');
      expect(closes).toEqual([{ stream: 1, code: 8, reason: expect.stringContaining('1000 ms') }]);
    } finally {
      client.close();
    }
  });
});

describe('tunnels', () => {
  it('leaves an idle HTTP/2 CONNECT tunnel open past bodyTimeout', async () => {
    const closes: Close[] = [];
    const tunnel: App = (events) =>
      events.pipe(
        mergeMap((event: InboundEvent): OutboundEvent[] => {
          if (event.type === 'request')
            return [
              { type: 'window', stream: event.stream, bytes: 65_536 },
              { type: 'response', stream: event.stream, status: 200, headers: [], end: false },
            ];
          if (event.type === 'data')
            return [{ type: 'data', stream: event.stream, chunk: event.chunk, end: false }];
          if (event.type === 'close')
            closes.push({ stream: event.stream, code: event.code, reason: event.reason });
          return [];
        }),
      );
    const server = await start(tunnel, { bodyTimeout: 500 });
    const client = h2connect(server.url);
    try {
      const stream = client.request(
        { ':method': 'CONNECT', ':authority': 'example.com:443' },
        { endStream: false },
      );
      stream.on('error', () => {});
      await new Promise((resolve) => stream.once('response', resolve));
      await sleep(2_000);
      expect(stream.closed).toBe(false);
      const echo = new Promise<string>((resolve) =>
        stream.once('data', (chunk: Buffer) => resolve(chunk.toString())),
      );
      stream.write('still here');
      expect(await echo).toBe('still here');
      expect(closes).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});

describe('send clock', () => {
  it('aborts an HTTP/1.1 response its client stopped reading, and tells the app', async () => {
    const closes: Close[] = [];
    const server = await start(firehose(closes), { sendTimeout: 1_000 });
    const socket = await tcp(server.port);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    socket.pause();
    const started = Date.now();
    await until(() => closes.length > 0, 1_000 + 2 * SLACK);
    expect(Date.now() - started).toBeLessThan(1_000 + 2 * SLACK);
    expect(closes).toEqual([
      { stream: 1, code: 8, reason: expect.stringContaining('read nothing') },
    ]);
    await until(() => server.connections === 0);
    socket.destroy();
  });

  it('resets an HTTP/2 stream its client stopped reading with CANCEL; its sibling goes on', async () => {
    const closes: Close[] = [];
    const piece = Buffer.alloc(64 * 1024, 120);
    // Stream 1 is a firehose; any later stream is answered at once.
    const app: App = (events) =>
      events.pipe(
        mergeMap((event: InboundEvent): OutboundEvent[] => {
          if (event.type === 'request' && event.stream === 1)
            return [
              { type: 'response', stream: 1, status: 200, headers: [], end: false },
              { type: 'data', stream: 1, chunk: piece, end: false },
            ];
          if (event.type === 'request') return [answer(event.stream, 'ok')];
          if (event.type === 'window' && event.stream === 1)
            return [{ type: 'data', stream: 1, chunk: piece, end: false }];
          if (event.type === 'close')
            closes.push({ stream: event.stream, code: event.code, reason: event.reason });
          return [];
        }),
      );
    const server = await start(app, { sendTimeout: 1_000 });
    const client = h2connect(server.url);
    try {
      const stuck = client.request({ ':method': 'GET', ':path': '/' });
      stuck.on('error', () => {});
      // Never read: its window is never opened again, so its output waits on the server.
      stuck.pause();
      const reset = resetCode(stuck);
      const started = Date.now();
      expect(await reset).toBe(8);
      expect(Date.now() - started).toBeLessThan(1_000 + 2 * SLACK);
      expect(closes).toEqual([
        { stream: 1, code: 8, reason: expect.stringContaining('read nothing') },
      ]);
      expect(await get(client)).toBe('ok');
    } finally {
      client.close();
    }
  });

  it('closes an HTTP/1.1 connection whose client stopped reading a complete response', async () => {
    const big = Buffer.alloc(16 * 1024 * 1024, 120);
    const whole: App = (events) =>
      events.pipe(
        mergeMap((event) =>
          event.type === 'request'
            ? of({
                type: 'response',
                stream: event.stream,
                status: 200,
                headers: [],
                body: big,
                end: true,
              } as OutboundEvent)
            : EMPTY,
        ),
      );
    const server = await start(whole, { sendTimeout: 1_000 });
    const socket = await tcp(server.port);
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n\r\n');
    socket.pause();
    await sleep(200);
    expect(server.connections).toBe(1);
    await until(() => server.connections === 0, 1_000 + 2 * SLACK);
    socket.destroy();
  });

  it('resets an HTTP/2 stream with a complete response its client stopped reading', async () => {
    const big = Buffer.alloc(8 * 1024 * 1024, 120);
    const whole: App = (events) =>
      events.pipe(
        mergeMap((event) =>
          event.type === 'request'
            ? of(
                event.path === '/big'
                  ? ({
                      type: 'response',
                      stream: event.stream,
                      status: 200,
                      headers: [],
                      body: big,
                      end: true,
                    } as OutboundEvent)
                  : answer(event.stream, 'ok'),
              )
            : EMPTY,
        ),
      );
    const server = await start(whole, { sendTimeout: 1_000 });
    const client = h2connect(server.url);
    try {
      const stuck = client.request({ ':method': 'GET', ':path': '/big' });
      stuck.on('error', () => {});
      stuck.pause();
      const started = Date.now();
      const code = await resetCode(stuck);
      expect(code).toBe(8);
      expect(Date.now() - started).toBeLessThan(1_000 + 2 * SLACK);
      expect(await get(client)).toBe('ok');
    } finally {
      client.close();
    }
  });

  it('closes a WebSocket whose client stopped reading with 1008, and tells the app', async () => {
    const closes: Close[] = [];
    const server = await start(firehose(closes, true), { sendTimeout: 1_000 });
    const ws = await openWebSocket(server.url);
    (ws as unknown as { _socket: Socket })._socket.pause();
    await until(() => closes.length > 0, 1_000 + 2 * SLACK);
    expect(closes).toEqual([
      { stream: 1, code: 1008, reason: expect.stringContaining('read nothing') },
    ]);
    ws.terminate();
  });
});

describe('WebSocket body clock', () => {
  it('closes with 1008 a session whose peer goes silent in the middle of a message', async () => {
    const closes: Close[] = [];
    const server = await start(wsReader(closes), { bodyTimeout: 1_000 });
    const ws = await openWebSocket(server.url);
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    const started = Date.now();
    (ws as unknown as { _socket: Socket })._socket.write(PARTIAL_FRAME);
    expect(await code).toBe(1008);
    expect(Date.now() - started).toBeLessThan(1_000 + SLACK);
    expect(closes).toEqual([{ stream: 1, code: 1008, reason: expect.stringContaining('1000 ms') }]);
  });

  it('closes with 1008 a WebSocket over HTTP/2 whose peer goes silent mid-message', async () => {
    const closes: Close[] = [];
    const server = await start(wsReader(closes), { bodyTimeout: 1_000 });
    const { client, stream, ws } = await h2WebSocket(server.url, '/');
    try {
      const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
      const started = Date.now();
      stream.write(PARTIAL_FRAME);
      expect(await code).toBe(1008);
      expect(Date.now() - started).toBeLessThan(1_000 + SLACK);
      expect(closes).toEqual([
        { stream: 1, code: 1008, reason: expect.stringContaining('1000 ms') },
      ]);
    } finally {
      client.destroy();
    }
  });

  it('leaves an idle session between messages alone', async () => {
    const server = await start(wsReader([]), { bodyTimeout: 500 });
    const ws = await openWebSocket(server.url);
    ws.send('whole');
    await sleep(2_000);
    expect(ws.readyState).toBe(ws.OPEN);
    ws.close();
  });
});
