import { once } from 'node:events';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import {
  createServer as createHttpsServer,
  type Server as HttpsServer,
  get as httpsGet,
} from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import type { App, ConnectionInfo, InboundEvent, OutboundEvent, RequestEvent } from 'rxgi';
import { handle, json, status, text, upgrade } from 'rxgi';
import { filter, map, NEVER, Observable } from 'rxjs';
import { Client } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import {
  type NodeHandlerOptions,
  type NodeUpgradeHandler,
  toNodeHandler,
  toNodeUpgradeHandler,
} from '../../../../protocols/adapters/node/to-node.js';
import { selfSignedCertificate } from '../../../../protocols/server/tls.js';
import { dechunk, raw, sleep, statusOf, until } from '../../../helpers.js';
import { closed, nextMessage, openWebSocket } from '../../../ws-client.js';

// --- Hosts ------------------------------------------------------------------------------------

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  await Promise.all(cleanups.splice(0).map((cleanup) => cleanup()));
});

/** Wait for a node:http server to listen on a free port; it is closed after the test. */
async function listening(server: Server | HttpsServer): Promise<{ port: number; url: string }> {
  // Express's listen() has bound already (binding an IP address is synchronous).
  if (!server.listening) {
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
  }
  cleanups.push(() => {
    server.closeAllConnections();
    return new Promise((resolve) => server.close(resolve));
  });
  const { port } = server.address() as AddressInfo;
  return { port, url: `http://127.0.0.1:${port}` };
}

function plain(listener: RequestListener) {
  return listening(createServer(listener));
}

/** A client on one keep-alive connection; closed after the test. */
function client(url: string): Client {
  const one = new Client(url);
  cleanups.push(() => one.close());
  return one;
}

// --- Apps -------------------------------------------------------------------------------------

const hello = handle((req) => text(`hello from ${req.path}`));

/** Records every inbound event and the connection of each app call, then runs `inner`. */
function watched(inner: App) {
  const log: InboundEvent[] = [];
  const infos: ConnectionInfo[] = [];
  const state = { subscriptions: 0 };
  const app: App = (events, info) => {
    infos.push(info);
    events.subscribe((event) => log.push(event));
    return new Observable<OutboundEvent>((out) => {
      state.subscriptions++;
      const subscription = inner(events, info).subscribe(out);
      return () => {
        state.subscriptions--;
        subscription.unsubscribe();
      };
    });
  };
  const requests = () => log.filter((event): event is RequestEvent => event.type === 'request');
  const closes = () => log.filter((event) => event.type === 'close');
  return { app, log, infos, state, requests, closes };
}

/** A deterministic body: byte i is i mod 251, so a lost or reordered chunk shows. */
function pattern(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  return bytes;
}

// --- node:http ------------------------------------------------------------------------------

describe('toNodeHandler on node:http', () => {
  it('answers a request with the request event of the HTTP/1.1 driver', async () => {
    const watch = watched(hello);
    const { url, port } = await plain(toNodeHandler(watch.app));
    const response = await fetch(`${url}/a/b?x=1`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-length')).toBe('15');
    expect(await response.text()).toBe('hello from /a/b');
    expect(watch.requests()[0]).toMatchObject({
      stream: 1,
      method: 'GET',
      target: '/a/b?x=1',
      path: '/a/b',
      query: 'x=1',
      http: '1.1',
      scheme: 'http',
      authority: `127.0.0.1:${port}`,
      websocket: false,
      caps: { websocket: false, earlyHints: true },
    });
    expect(watch.infos[0]).toMatchObject({
      protocol: 'http/1.1',
      secure: false,
      client: ['127.0.0.1', expect.any(Number)],
      server: ['127.0.0.1', port],
    });
    expect(watch.infos[0].id).toMatch(/^h1n-/);
  });

  it('streams a 5 MB echo with backpressure in both directions', async () => {
    const TOTAL = 5 * 1024 * 1024;
    const LIMIT = 256 * 1024;
    // Input: the driver feeds the app only the credit the app's reader grants, so what it has
    // received stays within a window (plus one socket read) of what the echo has consumed.
    let received = 0;
    let consumed = 0;
    let ahead = 0;
    async function* slowly(body: AsyncIterable<Uint8Array>) {
      for await (const chunk of body) {
        consumed += chunk.byteLength;
        await sleep(1);
        yield chunk;
      }
    }
    const echo = handle((req) => ({
      headers: ['content-type', 'application/octet-stream'],
      body: slowly(req.body),
    }));
    const app: App = (events, info) => {
      events.subscribe((event) => {
        if (event.type !== 'data') return;
        received += event.chunk.byteLength;
        ahead = Math.max(ahead, received - consumed);
      });
      return echo(events, info);
    };
    // Output: the echo is pulled only with output credit. If it were not, a client that stops
    // reading would grow the response buffer past this limit and the exchange would abort.
    const handler = toNodeHandler(app, { writeBufferLimit: LIMIT });
    let buffered = 0;
    const { port } = await plain((req, res) => {
      const timer = setInterval(() => {
        buffered = Math.max(buffered, res.writableLength);
      }, 2);
      res.once('close', () => clearInterval(timer));
      handler(req, res);
    });

    const body = pattern(TOTAL);
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const complete = new Promise<void>((resolve, reject) => {
      let tail = Buffer.alloc(0);
      socket.on('data', (chunk: Buffer) => {
        chunks.push(chunk);
        // The last chunk of a chunked body; it may arrive split across reads.
        tail = Buffer.concat([tail, chunk]).subarray(-7);
        if (tail.toString('latin1') === '\r\n0\r\n\r\n') resolve();
      });
      socket.on('error', reject);
    });
    // The client reads nothing at first: the response backs up into the server.
    socket.pause();
    socket.write(`POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: ${TOTAL}\r\n\r\n`);
    socket.write(body);
    await until(() => received > 0);
    let before = -1;
    while (received !== before) {
      before = received;
      await sleep(150);
    }
    socket.resume();
    await complete;
    socket.destroy();

    const response = Buffer.concat(chunks).toString('latin1');
    expect(statusOf(response)).toBe(200);
    const echoed = Buffer.from(dechunk(response.slice(response.indexOf('\r\n\r\n') + 4)), 'latin1');
    expect(echoed.byteLength).toBe(TOTAL);
    expect(echoed.equals(body)).toBe(true);
    expect(ahead).toBeLessThanOrEqual(2 * 65_536);
    expect(buffered).toBeLessThan(LIMIT);
  });

  it('makes keep-alive requests on one socket streams 1, 2 of one connection', async () => {
    const watch = watched(hello);
    const handler = toNodeHandler(watch.app);
    const { url } = await plain(handler);
    const one = client(url);
    for (const path of ['/first', '/second']) {
      const response = await one.request({ method: 'GET', path });
      expect(await response.body.text()).toBe(`hello from ${path}`);
    }
    expect(watch.infos).toHaveLength(1);
    expect(watch.requests().map((event) => [event.stream, event.path])).toEqual([
      [1, '/first'],
      [2, '/second'],
    ]);
    expect(handler.connections).toBe(1);
    // A second socket is a second connection with its own numbering.
    expect(await (await fetch(`${url}/other`, { headers: { connection: 'close' } })).text()).toBe(
      'hello from /other',
    );
    expect(watch.infos).toHaveLength(2);
    expect(watch.requests()[2].stream).toBe(1);
  });

  it('tells the app when the client goes away and tears everything down', async () => {
    let ticking = 0;
    const ticks = new Observable<string>((out) => {
      ticking++;
      const timer = setInterval(() => out.next('tick\n'), 5);
      return () => {
        ticking--;
        clearInterval(timer);
      };
    });
    const watch = watched(handle(() => ({ body: ticks })));
    const handler = toNodeHandler(watch.app);
    const { url } = await plain(handler);
    const controller = new AbortController();
    const response = await fetch(`${url}/`, { signal: controller.signal });
    await response.body!.getReader().read();
    expect(ticking).toBe(1);
    expect(watch.state.subscriptions).toBe(1);
    controller.abort();
    await until(() => ticking === 0 && watch.state.subscriptions === 0);
    expect(watch.closes()).toEqual([
      { type: 'close', stream: 1, code: 8, reason: 'connection closed' },
    ]);
    expect(handler.connections).toBe(0);
  });

  it('answers 500 itself when a handler throws, and keeps serving', async () => {
    const app = handle((req) => {
      if (req.path === '/boom') throw new Error('secret detail');
      return text('fine');
    });
    const { url } = await plain(toNodeHandler(app));
    const response = await fetch(`${url}/boom`);
    expect(response.status).toBe(500);
    expect(await response.text()).toBe('Internal Server Error\n');
    expect(await (await fetch(`${url}/ok`)).text()).toBe('fine');
  });

  it('answers 500 when a raw app errors, and closes only that socket', async () => {
    const app: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        map((): OutboundEvent => {
          throw new Error('app broke');
        }),
      );
    const { port } = await plain(toNodeHandler(app));
    const response = await raw(port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(response)).toBe(500);
    expect(response).toMatch(/connection: close/i);
  });

  it('answers 413 to a declared body over maxBodySize without calling the app', async () => {
    const watch = watched(hello);
    const { port } = await plain(toNodeHandler(watch.app, { maxBodySize: 100 }));
    const response = await raw(port, 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n');
    expect(statusOf(response)).toBe(413);
    expect(watch.requests()).toEqual([]);
  });

  it('sends 100 Continue only when the app reads, if the host routes checkContinue here', async () => {
    const reader = handle(async (req) => text(`got ${await req.text()}`));
    const ignorer = handle(() => text('no thanks'));
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n';

    const routed = createServer(toNodeHandler(reader));
    routed.on('checkContinue', toNodeHandler(reader));
    const read = await raw((await listening(routed)).port, head, 'abc');
    expect(read.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK')).toBe(true);
    expect(read.endsWith('got abc')).toBe(true);

    const refusing = createServer();
    refusing.on('checkContinue', toNodeHandler(ignorer));
    const refused = await raw((await listening(refusing)).port, head);
    expect(refused.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(refused).not.toContain('100 Continue');

    // Without a checkContinue listener node:http sends the 100 itself; there is no second one.
    const { port } = await plain(toNodeHandler(reader));
    const auto = await raw(port, head, 'abc');
    expect(auto.match(/100 Continue/g)).toHaveLength(1);
    expect(auto.endsWith('got abc')).toBe(true);
  });

  it('shuts down gracefully: the app gets shutdown, endless bodies end, the server closes', async () => {
    const app = handle((req) => ({
      body: new Observable<string>((out) => {
        out.next('start\n');
        const stop = () => {
          out.next('bye\n');
          out.complete();
        };
        if (req.shutdown.aborted) stop();
        else req.shutdown.addEventListener('abort', stop);
      }),
    }));
    const handler = toNodeHandler(app);
    const server = createServer(handler);
    const { url } = await listening(server);
    const response = await fetch(url);
    const reader = response.body!.getReader();
    await reader.read();
    handler.shutdown(1_000);
    let body = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      body += new TextDecoder().decode(value);
    }
    expect(body).toContain('bye');
    await new Promise((resolve) => server.close(resolve));
    await until(() => handler.connections === 0);
  });
});

// --- Express 5 --------------------------------------------------------------------------------

describe('toNodeHandler in Express 5', () => {
  async function expressHost(rx: App) {
    const host = express();
    host.get('/native', (_req, res) => {
      res.send('native express');
    });
    host.use('/rx', toNodeHandler(rx));
    host.get('/after', (_req, res) => {
      res.send('after the mount');
    });
    return listening(host.listen(0, '127.0.0.1'));
  }

  it('mounts at a path: the app sees the path without the mount and the mount as root (SPEC.md §4.4)', async () => {
    const watch = watched(
      handle((req) =>
        json({ root: req.root, path: req.path, query: req.query, target: req.target }),
      ),
    );
    const { url } = await expressHost(watch.app);
    const response = await fetch(`${url}/rx/a/b?x=1`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({
      root: '/rx',
      path: '/a/b',
      query: 'x=1',
      target: '/a/b?x=1',
    });
    expect(await (await fetch(`${url}/rx`)).json()).toMatchObject({ root: '/rx', path: '/' });
    expect(await (await fetch(`${url}/rx/`)).json()).toMatchObject({ root: '/rx', path: '/' });
    expect(await (await fetch(`${url}/native`)).text()).toBe('native express');
    expect(await (await fetch(`${url}/after`)).text()).toBe('after the mount');
    // Express's own 404 for paths outside the mount.
    expect((await fetch(`${url}/nowhere`)).status).toBe(404);
  });

  it('keeps one connection per socket across native and rxgi requests', async () => {
    const watch = watched(hello);
    const { url } = await expressHost(watch.app);
    const one = client(url);
    const bodies: string[] = [];
    for (const path of ['/native', '/rx/one', '/native', '/rx/two']) {
      bodies.push(await (await one.request({ method: 'GET', path })).body.text());
    }
    expect(bodies).toEqual([
      'native express',
      'hello from /one',
      'native express',
      'hello from /two',
    ]);
    expect(watch.infos).toHaveLength(1);
    expect(watch.requests().map((event) => event.stream)).toEqual([1, 2]);
  });

  it('streams a POST body through the mount', async () => {
    const echo = handle(async (req) => text(`${req.method} ${req.path}: ${await req.text()}`));
    const { url } = await expressHost(echo);
    const response = await fetch(`${url}/rx/echo`, { method: 'POST', body: 'x'.repeat(100_000) });
    expect(await response.text()).toBe(`POST /echo: ${'x'.repeat(100_000)}`);
  });

  it('answers 500 for rxgi errors itself: no Express error middleware is involved', async () => {
    const failing = handle((req) => {
      if (req.path === '/boom') throw new Error('secret detail');
      return status(404);
    });
    const { url } = await expressHost(failing);
    const boom = await fetch(`${url}/rx/boom`);
    expect(boom.status).toBe(500);
    expect(boom.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(await boom.text()).toBe('Internal Server Error\n');
    // An rxgi 404 is the app's answer, not Express's fall-through.
    const missing = await fetch(`${url}/rx/missing`);
    expect(missing.status).toBe(404);
    expect(await missing.text()).toBe('Not Found\n');
  });
});

// --- Fastify 5 --------------------------------------------------------------------------------

describe('toNodeHandler in Fastify 5', () => {
  async function fastifyHost(rx: App, options: NodeHandlerOptions = {}): Promise<string> {
    const fastify: FastifyInstance = Fastify();
    cleanups.push(() => fastify.close());
    fastify.get('/native', async () => ({ native: true }));
    const handler = toNodeHandler(rx, options);
    // onRequest runs before Fastify parses the body: the app reads it with its own flow
    // control, and Fastify's content-type parsers and body limit never see it.
    fastify.all(
      '/rx/*',
      {
        onRequest: (request, reply, done) => {
          reply.hijack();
          handler(request.raw, reply.raw);
          done();
        },
      },
      () => {},
    );
    return fastify.listen({ port: 0, host: '127.0.0.1' });
  }

  it('answers GET and POST from a hijacked route; native routes are untouched', async () => {
    const app = handle(async (req) =>
      req.method === 'POST'
        ? json({ path: req.path, type: req.header('content-type'), body: await req.json() })
        : text(`hello from ${req.path}`),
    );
    const url = await fastifyHost(app);
    expect(await (await fetch(`${url}/rx/hello`)).text()).toBe('hello from /rx/hello');
    const posted = await fetch(`${url}/rx/items`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ n: 1 }),
    });
    expect(posted.status).toBe(200);
    expect(await posted.json()).toEqual({
      path: '/rx/items',
      type: 'application/json',
      body: { n: 1 },
    });
    expect(await (await fetch(`${url}/native`)).json()).toEqual({ native: true });
  });

  it('moves the prefix named by the root option from the path to root (SPEC.md §4.4)', async () => {
    const app = handle((req) => json({ root: req.root, path: req.path, target: req.target }));
    const url = await fastifyHost(app, { root: '/rx/' });
    expect(await (await fetch(`${url}/rx/a?q=1`)).json()).toEqual({
      root: '/rx',
      path: '/a',
      target: '/a?q=1',
    });
    expect(await (await fetch(`${url}/rx/`)).json()).toEqual({
      root: '/rx',
      path: '/',
      target: '/',
    });
  });

  it('streams a 1 MB body of a type Fastify has no parser for', async () => {
    const echo = handle((req) => ({ body: req.body }));
    const url = await fastifyHost(echo);
    const body = pattern(1024 * 1024);
    const response = await fetch(`${url}/rx/echo`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-unknown' },
      body,
    });
    expect(Buffer.from(await response.arrayBuffer()).equals(body)).toBe(true);
  });
});

// --- WebSockets -------------------------------------------------------------------------------

const wsApp = handle((req) => {
  if (!req.websocket) return text(`http ${req.path}`);
  if (req.path !== '/ws') return status(404);
  return upgrade((messages) => messages, {
    subprotocol: req.subprotocols.includes('chat.v2') ? 'chat.v2' : null,
  });
});

function open(url: string, protocols?: string[], options?: WebSocket.ClientOptions) {
  return openWebSocket(url, protocols, options).then((ws) => {
    cleanups.push(() => ws.terminate());
    return ws;
  });
}

/** The status a handshake is refused with. */
function refusal(url: string): Promise<number | undefined> {
  const ws = new WebSocket(url.replace('http', 'ws'));
  ws.on('error', () => {});
  return new Promise((resolve) =>
    ws.once('unexpected-response', (_req, res) => resolve(res.statusCode)),
  );
}

const hosts: Record<string, (app: App) => Promise<{ url: string; upgrades: NodeUpgradeHandler }>> =
  {
    'node:http': async (app) => {
      const server = createServer((_req: IncomingMessage, res: ServerResponse) => {
        res.end('plain');
      });
      const upgrades = toNodeUpgradeHandler(app);
      server.on('upgrade', upgrades);
      cleanups.push(() => upgrades.shutdown(0));
      return { url: (await listening(server)).url, upgrades };
    },
    'Express 5': async (app) => {
      const host = express();
      host.use('/rx', toNodeHandler(app));
      const server = host.listen(0, '127.0.0.1');
      const upgrades = toNodeUpgradeHandler(app);
      server.on('upgrade', upgrades);
      cleanups.push(() => upgrades.shutdown(0));
      return { url: (await listening(server)).url, upgrades };
    },
  };

describe.each(Object.keys(hosts))('toNodeUpgradeHandler on %s', (name) => {
  const host = hosts[name];

  it('echoes text and binary with the negotiated subprotocol; the close code reaches the app', async () => {
    const watch = watched(wsApp);
    const { url } = await host(watch.app);
    const ws = await open(`${url}/ws`, ['chat.v1', 'chat.v2']);
    expect(ws.protocol).toBe('chat.v2');
    let reply = nextMessage(ws);
    ws.send('héllo');
    expect(await reply).toEqual({ data: Buffer.from('héllo'), binary: false });
    reply = nextMessage(ws);
    ws.send(Buffer.from([0, 1, 255]));
    expect(await reply).toEqual({ data: Buffer.from([0, 1, 255]), binary: true });
    ws.close(4001, 'leaving');
    await until(() => watch.closes().length === 1);
    expect(watch.closes()[0]).toEqual({ type: 'close', stream: 1, code: 4001, reason: 'leaving' });
    await until(() => watch.state.subscriptions === 0);
    expect(watch.requests()[0]).toMatchObject({
      path: '/ws',
      websocket: true,
      subprotocols: ['chat.v1', 'chat.v2'],
      caps: { websocket: true },
    });
  });

  it('lets the app deny an upgrade on another path with a 404', async () => {
    const { url } = await host(wsApp);
    expect(await refusal(`${url}/elsewhere`)).toBe(404);
  });

  it('closes sessions with 1001 on shutdown and refuses new upgrades with 503', async () => {
    const watch = watched(wsApp);
    const { url, upgrades } = await host(watch.app);
    const ws = await open(`${url}/ws`);
    expect(upgrades.connections).toBe(1);
    const done = closed(ws);
    upgrades.shutdown(1_000);
    expect(await done).toEqual({ code: 1001, reason: 'server shutting down' });
    await until(() => watch.closes().length === 1);
    expect(watch.log.some((event) => event.type === 'shutdown')).toBe(true);
    expect(watch.closes()[0]).toMatchObject({ code: 1001 });
    expect(await refusal(`${url}/ws`)).toBe(503);
    await until(() => upgrades.connections === 0);
  });
});

describe('toNodeUpgradeHandler options and HTTP beside it', () => {
  it('serves rxgi HTTP and WebSockets of one app on one Express server', async () => {
    const host = express();
    host.use('/rx', toNodeHandler(wsApp));
    const server = host.listen(0, '127.0.0.1');
    server.on('upgrade', toNodeUpgradeHandler(wsApp));
    const { url } = await listening(server);
    expect(await (await fetch(`${url}/rx/page`)).text()).toBe('http /page');
    const ws = await open(`${url}/ws`);
    const reply = nextMessage(ws);
    ws.send('both');
    expect((await reply).data.toString()).toBe('both');
    ws.close();
  });

  it('applies maxMessageSize (1009) and pingInterval (a silent peer is dropped)', async () => {
    const watch = watched(wsApp);
    const server = createServer();
    const upgrades = toNodeUpgradeHandler(watch.app, { maxMessageSize: 1024, pingInterval: 50 });
    server.on('upgrade', upgrades);
    cleanups.push(() => upgrades.shutdown(0));
    const { url } = await listening(server);
    const big = await open(`${url}/ws`);
    const bigClosed = closed(big);
    big.send('x'.repeat(1025));
    expect((await bigClosed).code).toBe(1009);
    await until(() => watch.closes().length === 1);
    expect(watch.closes()[0]).toMatchObject({ code: 1009 });

    const silent = await open(`${url}/ws`, undefined, { autoPong: false });
    expect((await closed(silent)).code).toBe(1006);
  });

  it('reports https and a secure connection on a node:https server', async () => {
    const watch = watched(wsApp);
    const server = createHttpsServer(await selfSignedCertificate(), toNodeHandler(watch.app));
    const upgrades = toNodeUpgradeHandler(watch.app);
    server.on('upgrade', upgrades);
    cleanups.push(() => upgrades.shutdown(0));
    const { port } = await listening(server);
    const url = `https://127.0.0.1:${port}`;
    const body = await new Promise<string>((resolve, reject) => {
      httpsGet(`${url}/page`, { rejectUnauthorized: false }, (res) => {
        let text = '';
        res.on('data', (chunk: Buffer) => {
          text += chunk;
        });
        res.on('end', () => resolve(text));
      }).on('error', reject);
    });
    expect(body).toBe('http /page');
    const ws = await open(`${url}/ws`, undefined, { rejectUnauthorized: false });
    ws.close();
    expect(watch.requests().map((event) => [event.scheme, event.websocket])).toEqual([
      ['https', false],
      ['https', true],
    ]);
    expect(watch.infos.map((info) => info.secure)).toEqual([true, true]);
  });

  it('serves an upgrade to another protocol (h2c) as a plain request', async () => {
    const server = createServer();
    server.on('upgrade', toNodeUpgradeHandler(wsApp));
    const { port } = await listening(server);
    const response = await raw(
      port,
      'GET /page HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    expect(statusOf(response)).toBe(200);
    expect(response.endsWith('http /page')).toBe(true);
  });

  // A half-open socket nobody watches, or an uncaught ECONNRESET on a socket node:http let go.
  it.each([
    ['closes (FIN)', (socket: Socket) => socket.destroy()],
    ['resets (RST)', (socket: Socket) => socket.resetAndDestroy()],
  ])('cleans up when a client %s before the app answers its handshake', async (_name, leave) => {
    const watch = watched(() => NEVER);
    const server = createServer();
    const upgrades = toNodeUpgradeHandler(watch.app);
    server.on('upgrade', upgrades);
    cleanups.push(() => upgrades.shutdown(0));
    const { port } = await listening(server);
    const socket = connect(port, '127.0.0.1');
    socket.write(
      'GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    await until(() => watch.requests().length === 1);
    leave(socket);
    await until(() => watch.state.subscriptions === 0);
    expect(watch.closes()).toEqual([
      { type: 'close', stream: 1, code: 8, reason: 'connection closed' },
    ]);
    expect(upgrades.connections).toBe(0);
  });
});
