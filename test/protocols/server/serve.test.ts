import http2 from 'node:http2';
import { connect } from 'node:net';
import type { App, InboundEvent, Lifespan, LifespanEvent } from 'rxgi';
import { handle, serve, text, upgrade } from 'rxgi';
import { concatMap, NEVER, Observable, of, throwError } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { headers, open, PREFACE, readFrames, request, settings, TYPE } from '../../h2frames.js';
import {
  alive,
  type Child,
  cli,
  closeServers,
  promotedAfterFullGc,
  sleep,
  start,
  until,
} from '../../helpers.js';

afterEach(closeServers);

const app = handle(async (req) => {
  if (req.websocket) return upgrade((messages) => messages);
  if (req.path === '/slow') {
    await sleep(300);
    return text('finished');
  }
  if (req.path === '/never') return { body: NEVER };
  return text('ok');
});

/** Wraps an app to record the shutdown events it receives. */
function watching(seen: InboundEvent[], inner: App): App {
  return (events, info) => {
    events.subscribe((event) => {
      if (event.type === 'shutdown') seen.push(event);
    });
    return inner(events, info);
  };
}

/** One GET over a client session, its body. */
function get(session: http2.ClientHttp2Session, path = '/'): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const stream = session.request({ ':path': path });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (chunk: string) => {
      body += chunk;
    });
    stream.on('end', () => resolve(body));
    stream.on('error', reject);
  });
}

describe('one cleartext port: h2c with prior knowledge, from node:http to node:http2', () => {
  it('takes a preface that comes in pieces, and the frames read with its last piece', async () => {
    const server = await start(app);
    const socket = await open(server.port);
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    // "P" could begin "PUT"; the cut inside "\r\n\r\n" leaves the head unfinished.
    const pieces = [
      PREFACE.subarray(0, 1),
      PREFACE.subarray(1, 17),
      Buffer.concat([PREFACE.subarray(17), settings(), headers(1, request('GET', '/'), true)]),
    ];
    for (const piece of pieces) {
      socket.write(piece);
      await sleep(30);
    }
    await until(() => readFrames(Buffer.concat(received)).some((f) => f.type === TYPE.DATA));
    const frames = readFrames(Buffer.concat(received));
    expect(frames[0].type).toBe(TYPE.SETTINGS);
    expect(frames.some((f) => f.type === TYPE.HEADERS && f.stream === 1)).toBe(true);
    expect(Buffer.concat(received).includes('ok')).toBe(true);
    expect(Buffer.concat(received).includes('HTTP/1.1')).toBe(false);
    socket.destroy();
  });

  it("leaves an h2c session to HTTP/2's limits once node:http gave it up", async () => {
    // node:http's head time (300 ms) would answer 408 on a socket it still watched, which
    // would break the session.
    const server = await start(app, { headersTimeout: 300 });
    const session = http2.connect(server.url);
    const failed: unknown[] = [];
    session.on('error', (error) => failed.push(error));
    expect(await get(session)).toBe('ok');
    await sleep(1_500);
    expect(await get(session)).toBe('ok');
    expect(session.closed || session.destroyed).toBe(false);
    expect(failed).toEqual([]);
    session.close();
  });

  it('answers HTTP/1.1 requests that begin like the preface', async () => {
    const server = await start(app);
    for (const head of [
      'PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n',
      'PRI / HTTP/1.1\r\nHost: x\r\n\r\n',
    ]) {
      const socket = await open(server.port);
      const received: Buffer[] = [];
      socket.on('data', (chunk: Buffer) => received.push(chunk));
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.end(head);
      await closed;
      expect(Buffer.concat(received).toString('latin1'), head).toMatch(
        /^HTTP\/1\.1 (200|400|405|501) /,
      );
    }
  });
});

describe('serve and graceful shutdown', () => {
  it('listens on a free port and reports its URL', async () => {
    const server = await start(app);
    expect(server.url).toBe(`http://127.0.0.1:${server.port}`);
    expect(await (await fetch(server.url)).text()).toBe('ok');
  });

  it("gives each request both ends' addresses, on a listener bound to one address or to all", async () => {
    const ends = handle((req) => text(JSON.stringify([req.client, req.event.server])));
    for (const host of ['127.0.0.1', '0.0.0.0']) {
      const server = await start(ends, { host });
      const url = `http://127.0.0.1:${server.port}/`;
      const [client, local] = JSON.parse(await (await fetch(url)).text());
      expect(client).toEqual(['127.0.0.1', expect.any(Number)]);
      expect(local, `HTTP/1.1 on ${host}`).toEqual(['127.0.0.1', server.port]);
      // h2c with prior knowledge: the same port, the other driver.
      const session = http2.connect(url);
      const body = await new Promise<string>((resolve, reject) => {
        const stream = session.request({ ':path': '/' });
        let text = '';
        stream.setEncoding('utf8');
        stream.on('data', (chunk: string) => {
          text += chunk;
        });
        stream.on('end', () => resolve(text));
        stream.on('error', reject);
      });
      session.close();
      expect(JSON.parse(body)[1], `h2c on ${host}`).toEqual(['127.0.0.1', server.port]);
    }
  });

  it('gives each connection its own client address, however many are open', async () => {
    const server = await start(handle((req) => text(JSON.stringify(req.client))));
    // Three connections open at once, each asking once: each answer names its own port.
    const ask = () =>
      new Promise<[unknown, number]>((resolve, reject) => {
        const socket = connect(server.port, '127.0.0.1');
        let port = 0;
        let answer = '';
        socket.setEncoding('latin1');
        socket.on('connect', () => {
          port = socket.localPort ?? 0;
          socket.write('GET / HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n');
        });
        socket.on('data', (chunk: string) => {
          answer += chunk;
        });
        socket.on('end', () => resolve([JSON.parse(answer.split('\r\n\r\n')[1]), port]));
        socket.on('error', reject);
      });
    const answers = await Promise.all([ask(), ask(), ask()]);
    for (const [client, port] of answers) expect(client).toEqual(['127.0.0.1', port]);
    expect(new Set(answers.map(([, port]) => port)).size).toBe(3);
  });

  it('rejects when the port is taken', async () => {
    const first = await start(app);
    await expect(serve(app, { port: first.port })).rejects.toThrow(/EADDRINUSE/);
  });

  it('stops accepting, tells connections, closes WebSockets with 1001 and lets exchanges finish', async () => {
    const shutdowns: InboundEvent[] = [];
    const server = await serve(watching(shutdowns, app), { port: 0, shutdownTimeout: 5_000 });
    const ws = new WebSocket(server.url.replace('http', 'ws'));
    await new Promise((resolve) => ws.once('open', resolve));
    const wsClosed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    const slow = fetch(`${server.url}/slow`).then((r) => r.text());
    await sleep(50);

    const closing = server.close();
    expect(await wsClosed).toBe(1001);
    await expect(fetch(server.url)).rejects.toThrow();
    expect(await slow).toBe('finished');
    await closing;
    expect(shutdowns.length).toBeGreaterThanOrEqual(2);
    expect(shutdowns[0]).toEqual({ type: 'shutdown', stream: 0, deadline: 5_000 });
  });

  it('cuts exchanges that outlive the deadline', async () => {
    const server = await serve(app, { port: 0, shutdownTimeout: 200 });
    const response = await fetch(`${server.url}/never`);
    const reader = response.body!.getReader();
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    await expect(reader.read()).rejects.toThrow();
  });

  it('closes idle keep-alive connections at once', async () => {
    const server = await serve(app, { port: 0, shutdownTimeout: 5_000 });
    await (await fetch(server.url)).text();
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('runs the lifespan: startup before listening, shutdown after the last connection', async () => {
    const order: string[] = [];
    const lifespan: Lifespan = (events) =>
      events.pipe(
        concatMap(async (event: LifespanEvent) => {
          order.push(event.type);
          await sleep(20);
          return event.type === 'startup'
            ? ({ type: 'startup-complete' } as const)
            : ({ type: 'shutdown-complete' } as const);
        }),
      );
    const server = await serve(app, { port: 0, lifespan });
    order.push('listening');
    await server.close();
    expect(order).toEqual(['startup', 'listening', 'shutdown']);
  });

  it('ignores a lifespan reply that nothing awaits: a second startup-complete does not answer shutdown', async () => {
    const order: string[] = [];
    const chatty: Lifespan = (events) =>
      events.pipe(
        concatMap(async (event: LifespanEvent) => {
          order.push(event.type);
          if (event.type === 'startup')
            return of({ type: 'startup-complete' } as const, { type: 'startup-complete' } as const);
          await sleep(100);
          order.push('shutdown-complete');
          return of({ type: 'shutdown-complete' } as const);
        }),
        concatMap((replies) => replies),
      );
    const eager: Lifespan = (events) =>
      new Observable((out) => {
        out.next({ type: 'startup-complete' });
        out.next({ type: 'startup-complete' });
        events.subscribe((event) => {
          order.push(`eager ${event.type}`);
          if (event.type === 'shutdown')
            setTimeout(() => out.next({ type: 'shutdown-complete' }), 100);
        });
      });
    for (const lifespan of [chatty, eager]) {
      const server = await serve(app, { port: 0, lifespan });
      await server.close();
    }
    expect(order).toEqual(['startup', 'shutdown', 'shutdown-complete', 'eager shutdown']);
  });

  it('rejects when the lifespan startup fails, without listening', async () => {
    const failed: Lifespan = () => of({ type: 'startup-failed', message: 'no database' } as const);
    await expect(serve(app, { port: 0, lifespan: failed })).rejects.toThrow(
      'lifespan startup failed: no database',
    );
    const broken: Lifespan = () => throwError(() => new Error('boom'));
    await expect(serve(app, { port: 0, lifespan: broken })).rejects.toThrow('boom');
  });

  it('rejects when the lifespan startup outlives startupTimeout, and ends its events', async () => {
    let ended = false;
    const silent: Lifespan = (events) =>
      new Observable(() => {
        events.subscribe({ complete: () => (ended = true) });
      });
    await expect(serve(app, { port: 0, lifespan: silent, startupTimeout: 200 })).rejects.toThrow(
      'lifespan startup timed out after 200 ms',
    );
    expect(ended).toBe(true);
  });

  it('keeps serving other connections while one app instance fails', async () => {
    let count = 0;
    const flaky: App = (events, info) => {
      count++;
      if (count === 1)
        return new Observable((out) => out.error(new Error('first connection broke')));
      return app(events, info);
    };
    const server = await start(flaky);
    const first = await fetch(server.url, { headers: { connection: 'close' } });
    expect(first.status).toBe(500);
    await until(() => server.connections === 0);
    expect(await (await fetch(server.url)).text()).toBe('ok');
  });
});

/**
 * Open a connection, send `bytes`, and reset it (a TCP RST) `after` ms later: the server is then
 * reading and gets ECONNRESET, as from a client that crashed or a middlebox that gave up.
 */
function resetAfter(port: number, bytes: string, after: number): Promise<void> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => {});
    socket.on('close', () => resolve());
    socket.on('connect', () => {
      if (bytes !== '') socket.write(bytes);
      setTimeout(() => socket.resetAndDestroy(), after);
    });
  });
}

describe('a connection per request after a full GC (the process, measured)', () => {
  // A roster of sockets kept in a Set is a regression this catches: the tables it outgrows stay
  // in the old generation with the sockets they held, and every socket with all it holds is
  // promoted. Per scavenge, not per request: a server that allocates more per request
  // scavenges more often, and each scavenge promotes whatever is alive and old enough then.
  // With the Set, node 20 promoted 1.4 MB a scavenge against bare node:http's 0.4 MB, and node
  // 22 380 KB against 1 KB (node 22 promotes almost nothing from a bare server); node 24
  // promotes about as much from a bare server, 1.3 MB, either way.
  // The other way round, a server that allocates less than node:http a request (rxgi's own
  // HTTP/1.1 driver, without node:http's objects) scavenges less often, and each scavenge
  // promotes what more requests left alive: 0.63-0.69 MB a scavenge against bare node:http's
  // 0.41-0.44 MB, but 640 bytes a request against its 500. A regression that promotes every
  // socket shows in both measures; a server is held to the fairer of the two for it.
  it('promotes about as much per scavenge, or per request, as bare node:http', async () => {
    const raw = await promotedAfterFullGc('raw-h1', 5_000, closingRequests);
    const rxgi = await promotedAfterFullGc('rxgi', 5_000, closingRequests);
    expect(raw.scavenges).toBeGreaterThanOrEqual(4);
    expect(rxgi.scavenges).toBeGreaterThanOrEqual(4);
    const ratio = Math.min(
      rxgi.perScavenge / (raw.perScavenge * 1.5 + 100_000),
      rxgi.perRequest / (raw.perRequest * 1.5 + 100),
    );
    expect(ratio).toBeLessThan(1);
  }, 60_000);
});

/**
 * 16,000 GETs with `Connection: close`, ten connections open at a time; each must get a 200.
 * Not `raw()` (test/helpers.ts): its idle timer per connection, and a request written without
 * ending the client's side, made a `Set` of sockets promote less in the server, and the check
 * less sure to fail with one (one run each: 842 KB a scavenge against a limit of 708 KB; with
 * this client 1.25 MB against 758 KB).
 */
async function closingRequests(port: number): Promise<number> {
  const requests = 16_000;
  let sent = 0;
  let ok = 0;
  const one = () =>
    new Promise<void>((resolve, reject) => {
      const socket = connect(port, '127.0.0.1');
      let head = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => {
        if (head.length < 12) head += chunk;
      });
      socket.on('error', reject);
      socket.on('close', () => {
        if (head.startsWith('HTTP/1.1 200')) ok++;
        resolve();
      });
      socket.end('GET / HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n');
    });
  const loop = async () => {
    while (sent < requests) {
      sent++;
      await one();
    }
  };
  await Promise.all(Array.from({ length: 10 }, loop));
  expect(ok).toBe(requests);
  return requests;
}

describe('the listener, against clients that reset before choosing a protocol', () => {
  let child: Child | null = null;
  afterEach(() => {
    child?.kill('SIGKILL');
    child = null;
  });

  // Each prefix stops short of what chooses the protocol: nothing yet, a letter that may begin
  // "PUT" or the HTTP/2 preface, most of that preface, part of a TLS ClientHello (which
  // opens with a handshake record, 0x16).
  const prefixes = ['', 'P', 'PRI * HTTP/2.0\r\n\r\nSM', '\x16\x03\x01\x00'];

  for (const secure of [false, true]) {
    it(`loses neither the process nor another connection${secure ? ' (TLS port)' : ''}`, async () => {
      child = await cli('apps/echo.ts', ...(secure ? ['--tls-self-signed'] : []));
      const { port, server } = child;
      const resets: Promise<void>[] = [];
      for (let round = 0; round < 25; round++) {
        for (const bytes of prefixes) {
          resets.push(resetAfter(port, bytes, 0), resetAfter(port, bytes, 2));
        }
      }
      await Promise.all(resets);
      await sleep(200);
      const log = child.stderr();
      expect(log).not.toMatch(/Unhandled 'error' event|died/);
      expect(alive(server)).toBe(true);
      // The same process still answers.
      const ok = await new Promise<string>((resolve, reject) => {
        const socket = connect(port, '127.0.0.1');
        let answer = '';
        socket.on('data', (chunk) => {
          answer += chunk.toString();
        });
        socket.on('end', () => resolve(answer));
        socket.on('error', reject);
        socket.write(
          secure
            ? 'GET / HTTP/1.1\r\nhost: x\r\n\r\n'
            : 'GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
        );
      });
      // The TLS port answers a cleartext request with its own 400; cleartext, the app's 200.
      expect(ok).toMatch(secure ? /^HTTP\/1.1 400 / : /^HTTP\/1.1 200 /);
    });
  }
});
