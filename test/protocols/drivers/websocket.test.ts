import { execFile } from 'node:child_process';
import { connect } from 'node:net';
import { promisify } from 'node:util';
import type { App, InboundEvent, OutboundEvent } from 'rxgi';
import { handle, status, text, upgrade } from 'rxgi';
import { filter, ignoreElements, map, merge, mergeMap, NEVER, Observable, tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { closeServers, raw, sleep, start, statusOf, until } from '../../helpers.js';
import { closed, nextMessage, openWebSocket as open, wsFrame } from '../../ws-client.js';

afterEach(closeServers);

const echo = handle((req) => (req.websocket ? upgrade((messages) => messages) : text('http')));

describe('WebSocket driver', () => {
  it('echoes text as text and binary as binary', async () => {
    const server = await start(echo);
    const ws = await open(server.url);
    let reply = nextMessage(ws);
    ws.send('héllo');
    expect(await reply).toEqual({ data: Buffer.from('héllo'), binary: false });
    reply = nextMessage(ws);
    ws.send(Buffer.from([0, 1, 255]));
    expect(await reply).toEqual({ data: Buffer.from([0, 1, 255]), binary: true });
    ws.close(1000, 'bye');
  });

  it('sends every length of frame head intact, text and binary, one write or through ws', async () => {
    // Up to 16 KiB a message goes out as one buffer the driver frames; past it, through ws.
    const server = await start(echo);
    const ws = await open(server.url);
    for (const size of [0, 1, 125, 126, 127, 1000, 16_384, 16_385, 65_535, 65_536, 70_000]) {
      const bytes = Buffer.alloc(size, size % 251);
      let reply = nextMessage(ws);
      ws.send(bytes);
      expect(await reply, `binary ${size}`).toEqual({ data: bytes, binary: true });
      // Two-byte characters: the frame's length is the UTF-8 length, not the string's.
      const words = 'é'.repeat(Math.floor(size / 2));
      reply = nextMessage(ws);
      ws.send(words);
      expect((await reply).data.toString('utf8'), `text ${size}`).toBe(words);
    }
    ws.close();
  });

  it('gives each member of a fan-out the same message, and the next one after it', async () => {
    const group = handle((req) =>
      upgrade((messages) => {
        req.join('all');
        return merge(
          req.inbox.pipe(map((mail) => String(mail.type === 'message' ? mail.data : '?'))),
          messages.pipe(
            tap((said) => req.publish('all', said)),
            ignoreElements(),
          ),
        );
      }),
    );
    const server = await start(group);
    const members = await Promise.all([1, 2, 3].map(() => open(server.url)));
    for (const said of ['one', 'one', 'two ✓', 'one']) {
      const replies = members.map((ws) => nextMessage(ws));
      members[0]!.send(said);
      for (const reply of await Promise.all(replies)) expect(reply.data.toString()).toBe(said);
    }
    for (const ws of members) ws.close();
  });

  it("answers every ping with a pong, past ws's cap of pending automatic pongs", async () => {
    // ws terminates a session once 60 automatic pongs are pending; each is counted back when
    // sent, by a callback the driver makes at the first ping (not per session, up front).
    const server = await start(echo);
    const ws = await open(server.url);
    for (let i = 0; i < 150; i++) {
      const pong = new Promise<Buffer>((resolve) => ws.once('pong', resolve));
      ws.ping(String(i));
      expect((await pong).toString()).toBe(String(i));
    }
    const reply = nextMessage(ws);
    ws.send('still here');
    expect((await reply).data.toString()).toBe('still here');
    ws.close();
  });

  it("counts an upgraded socket until it closes, and tells the app of its session's end, however it ends", async () => {
    // serve's roster and ws each listen for the socket's 'close' (one function calls both).
    const ends: number[] = [];
    const app = handle((req) =>
      upgrade(
        (messages) =>
          new Observable<string | Uint8Array>((out) => {
            const inner = messages.subscribe(out);
            return () => {
              ends.push(req.stream);
              inner.unsubscribe();
            };
          }),
      ),
    );
    const server = await start(app);
    const polite = await open(server.url);
    const abrupt = await open(server.url);
    const third = await open(server.url);
    expect(server.connections).toBe(3);
    const closing = closed(polite);
    polite.close(1000, 'bye');
    await closing;
    abrupt.terminate();
    await until(() => server.connections === 1 && ends.length === 2);
    third.close();
    await until(() => server.connections === 0 && ends.length === 3);
  });

  it('delivers a fragmented message as one ws-message', async () => {
    const server = await start(echo);
    const ws = await open(server.url);
    const reply = nextMessage(ws);
    ws.send('frag', { fin: false });
    ws.send('men', { fin: false });
    ws.send('ted', { fin: true });
    expect((await reply).data.toString()).toBe('fragmented');
    ws.close();
  });

  it('opens the session on the stream of its request, with the same events as HTTP', async () => {
    const log: InboundEvent[] = [];
    const app: App = (events) =>
      events.pipe(
        filter((event) => {
          log.push(event);
          return event.type === 'request' || event.type === 'ws-message';
        }),
        mergeMap((event): OutboundEvent[] =>
          event.type === 'request'
            ? [
                { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
                { type: 'window', stream: event.stream, bytes: 1 << 20 },
              ]
            : [{ type: 'close', stream: event.stream, code: 4000, reason: 'got it' }],
        ),
      );
    const server = await start(app);
    const ws = await open(`${server.url}/socket?room=1`);
    const done = closed(ws);
    ws.send('one');
    expect(await done).toEqual({ code: 4000, reason: 'got it' });
    expect(log[0]).toMatchObject({
      type: 'request',
      stream: 1,
      method: 'GET',
      path: '/socket',
      query: 'room=1',
      websocket: true,
      subprotocols: [],
      end: true,
    });
    expect(log[1]).toEqual({ type: 'ws-message', stream: 1, data: 'one' });
  });

  it('negotiates a subprotocol the client offered and adds the app headers', async () => {
    const app = handle((req) =>
      upgrade(() => NEVER, {
        subprotocol: req.subprotocols.includes('chat.v2') ? 'chat.v2' : null,
        headers: ['x-room', 'lobby'],
      }),
    );
    const server = await start(app);
    const ws = new WebSocket(server.url.replace('http', 'ws'), ['chat.v1', 'chat.v2']);
    const headers = new Promise<Record<string, unknown>>((resolve) =>
      ws.once('upgrade', (response) => resolve(response.headers)),
    );
    await new Promise((resolve) => ws.once('open', resolve));
    expect(ws.protocol).toBe('chat.v2');
    expect((await headers)['x-room']).toBe('lobby');
    ws.close();
  });

  it('lets the app deny a handshake with any HTTP response', async () => {
    const app = handle(() => ({
      status: 401,
      headers: ['www-authenticate', 'Bearer'],
      body: 'who are you?',
    }));
    const server = await start(app);
    const ws = new WebSocket(server.url.replace('http', 'ws'));
    const response = await new Promise<{ status?: number; body: string; auth: unknown }>(
      (resolve) =>
        ws.once('unexpected-response', (_req, res) => {
          let body = '';
          res.on('data', (chunk: Buffer) => {
            body += chunk;
          });
          res.on('end', () =>
            resolve({ status: res.statusCode, body, auth: res.headers['www-authenticate'] }),
          );
        }),
    );
    ws.on('error', () => {});
    expect(response).toEqual({ status: 401, body: 'who are you?', auth: 'Bearer' });
  });

  it('answers 403 when the app closes a handshake without accepting it', async () => {
    const app: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        map(
          (event): OutboundEvent => ({
            type: 'close',
            stream: event.stream,
            code: 1000,
            reason: '',
          }),
        ),
      );
    const server = await start(app);
    const response = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect(statusOf(response)).toBe(403);
  });

  it('answers 426 when a plain request reaches a WebSocket-only handler', async () => {
    const server = await start(handle(() => upgrade((m) => m)));
    const response = await fetch(server.url);
    expect(response.status).toBe(426);
    expect(response.headers.get('upgrade')).toBe('websocket');
  });

  it('answers 400 to an invalid handshake without calling the app', async () => {
    let called = false;
    const server = await start(
      handle(() => {
        called = true;
        return status(200);
      }),
    );
    const response = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: short\r\n\r\n',
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('Sec-WebSocket-Key');
    expect(called).toBe(false);
  });

  /** The echo app, recording the close events it receives. */
  function watchedEcho(closes: InboundEvent[]): App {
    return (events, info) => {
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
      });
      return echo(events, info);
    };
  }

  it('closes with 1009 when a message is over the limit, and tells the app', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(watchedEcho(closes), { maxMessageSize: 1024 });
    const ws = await open(server.url);
    const done = closed(ws);
    ws.send('x'.repeat(1025));
    expect((await done).code).toBe(1009);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ type: 'close', stream: 1, code: 1009 });
  });

  it('closes with 1007 on invalid UTF-8 in a text frame, and tells the app', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(watchedEcho(closes));
    const ws = await open(server.url);
    const done = closed(ws);
    ws.send(Buffer.from([0xc3, 0x28]), { binary: false });
    expect((await done).code).toBe(1007);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ type: 'close', stream: 1, code: 1007 });
  });

  it('closes with 1000 when the app completes the session, and 1011 when it fails', async () => {
    const app = handle((req) =>
      upgrade(() =>
        req.path === '/fail'
          ? new Observable<string>((out) => out.error(new Error('session broke')))
          : new Observable<string>((out) => {
              out.next('last words');
              out.complete();
            }),
      ),
    );
    const server = await start(app);
    const good = new WebSocket(server.url.replace('http', 'ws'));
    const goodMessage = nextMessage(good);
    const goodClose = closed(good);
    expect((await goodMessage).data.toString()).toBe('last words');
    expect((await goodClose).code).toBe(1000);
    const bad = new WebSocket(`${server.url.replace('http', 'ws')}/fail`);
    expect((await closed(bad)).code).toBe(1011);
  });

  it("closes with the app's code and reason, a reason over 123 bytes cut at a character", async () => {
    // 'é' is two bytes of UTF-8: 61 of them are 122 bytes, the 62nd would end at byte 124.
    const long = 'é'.repeat(100);
    const app: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        mergeMap((event): OutboundEvent[] => [
          { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
          {
            type: 'close',
            stream: event.stream,
            code: 4000,
            reason: event.path === '/long' ? long : 'short',
          },
        ]),
      );
    const server = await start(app);
    const short = await closed(new WebSocket(server.url.replace('http', 'ws')));
    expect([short.code, short.reason]).toEqual([4000, 'short']);
    const cut = await closed(new WebSocket(`${server.url.replace('http', 'ws')}/long`));
    expect([cut.code, cut.reason]).toEqual([4000, 'é'.repeat(61)]);
  });

  it("reads the client's answer to its own close with no credit granted; later messages go nowhere", async () => {
    // The app grants no input credit, so the session does not read messages; after its close
    // it still reads, for the client's close frame (spec/websocket.md [ws-close-own]).
    const seen: InboundEvent[] = [];
    const app: App = (events) =>
      events.pipe(
        tap((event) => seen.push(event)),
        filter((event) => event.type === 'request'),
        mergeMap((event): OutboundEvent[] => [
          { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
          { type: 'close', stream: event.stream, code: 4000, reason: 'bye' },
        ]),
      );
    const server = await start(app);
    const socket = connect(server.port, '127.0.0.1');
    let received = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
    });
    const ended = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    // The head in two reads: the second is node:http's own, as on any keep-alive connection.
    socket.write('GET / HTTP/1.1\r\nhost: x\r\n');
    await sleep(30);
    socket.write(
      'upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    // The server's close frame: unmasked, 4000 and "bye".
    const close = Buffer.from([0x88, 5, 0x0f, 0xa0, ...Buffer.from('bye')]);
    await until(() => received.includes(close));
    expect(received.toString('latin1')).toMatch(/^HTTP\/1.1 101 /);
    const started = Date.now();
    socket.write(
      Buffer.concat([wsFrame(1, Buffer.from('too late')), wsFrame(8, close.subarray(2))]),
    );
    await ended;
    // Well inside the 30 s the server waits for a close frame it cannot read.
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(seen.filter((event) => event.type !== 'request')).toEqual([]);
  });

  it('tells the app when the client closes, with its code and reason', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(watchedEcho(closes));
    const ws = await open(server.url);
    ws.close(4001, 'leaving');
    await until(() => closes.length === 1);
    expect(closes[0]).toEqual({ type: 'close', stream: 1, code: 4001, reason: 'leaving' });
  });

  it('drops a peer that stops answering pings', async () => {
    const server = await start(echo, { pingInterval: 50 });
    const ws = await open(server.url, undefined, { autoPong: false });
    expect((await closed(ws)).code).toBe(1006);
  });

  it('upgrades a keep-alive connection that served HTTP first, on its next stream', async () => {
    const streams: number[] = [];
    const app: App = (events, info) => {
      events.subscribe((event) => {
        if (event.type === 'request') streams.push(event.stream);
      });
      return echo(events, info);
    };
    const server = await start(app);
    const socket = connect(server.port, '127.0.0.1');
    let received = '';
    socket.on('data', (chunk) => {
      received += chunk.toString('latin1');
    });
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    await until(() => received.includes('http'));
    socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await until(() => received.includes('101 Switching Protocols'));
    expect(streams).toEqual([1, 2]);
    socket.destroy();
  });
});

// A server process of its own: this one has loaded ws for its clients. It serves from dist/, as
// the package does, and opens its WebSocket with raw bytes, so that no client loads ws there.
const LAZY_WS = `
const { handle, serve, text, upgrade } = await import(process.argv[1]);
const { createRequire } = await import('node:module');
const { connect } = await import('node:net');
const cache = createRequire(process.cwd() + '/').cache;
const loaded = () => Object.keys(cache).some((file) => file.includes('/node_modules/ws/'));
const app = handle((req) => (req.websocket ? upgrade((messages) => messages) : text('http')));
const server = await serve(app, { host: '127.0.0.1', port: 0, http1: process.env.RXGI_TEST_HTTP1 });
const atStart = loaded();
const body = await (await fetch('http://127.0.0.1:' + server.port + '/')).text();
const afterHttp = loaded();
const answer = await new Promise((resolve, reject) => {
  const socket = connect(server.port, '127.0.0.1');
  let text = '';
  socket.on('data', (chunk) => {
    text += chunk.toString('latin1');
    if (text.includes('\\r\\n\\r\\n')) { socket.destroy(); resolve(text.split('\\r\\n')[0]); }
  });
  socket.on('error', reject);
  socket.write('GET / HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
    'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n');
});
console.log(JSON.stringify({ atStart, body, afterHttp, answer, afterUpgrade: loaded() }));
await server.close();
`;

describe('loading ws', () => {
  it('waits for the first WebSocket handshake: a server that serves only HTTP never loads it', async () => {
    const dist = new URL('../../../dist/index.js', import.meta.url).href;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--input-type=module', '-e', LAZY_WS, dist],
      { timeout: 20_000 },
    );
    expect(JSON.parse(stdout.trim().split('\n').pop()!)).toEqual({
      atStart: false,
      body: 'http',
      afterHttp: false,
      answer: 'HTTP/1.1 101 Switching Protocols',
      afterUpgrade: true,
    });
  });
});
