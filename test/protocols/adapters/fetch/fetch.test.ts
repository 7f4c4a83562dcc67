import { once } from 'node:events';
import { get, type Server } from 'node:http';
import type { IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { serve as honoServe } from '@hono/node-server';
import { Hono } from 'hono';
import { setCookie } from 'hono/cookie';
import { stream } from 'hono/streaming';
import type { RxgiServer } from 'rxgi';
import { handle, json, serve, text, upgrade } from 'rxgi';
import { inject, memoryConnection } from 'rxgi/testing';
import { Observable } from 'rxjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fromFetch } from '../../../../protocols/adapters/fetch/from-fetch.js';
import { toFetch } from '../../../../protocols/adapters/fetch/to-fetch.js';
import { exchange, session } from '../../../h2client.js';
import { raw, sleep, statusOf, until } from '../../../helpers.js';

const decoder = new TextDecoder();

/** A day from now, to the second (Hono refuses an Expires more than 400 days ahead). */
const expires = new Date(Math.floor(Date.now() / 1000) * 1000 + 86_400_000);

/** A representative Hono app: params, JSON, forms, cookies, redirect, streaming, errors. */
function honoApp(): Hono {
  const app = new Hono();
  app.get('/users/:id', (c) => c.json({ id: c.req.param('id'), q: c.req.queries('q') ?? [] }));
  app.post('/json', async (c) => {
    const body = await c.req.json<{ name: string; tags: string[] }>();
    return c.json({ hello: body.name, tags: body.tags.length }, 201);
  });
  app.post('/form', async (c) => c.json(await c.req.parseBody()));
  app.get('/cookies', (c) => {
    // An Expires date holds a comma: the list must not be joined and split again.
    setCookie(c, 'session', 'abc123', { path: '/', httpOnly: true, expires });
    setCookie(c, 'theme', 'dark', { maxAge: 3600, sameSite: 'Lax' });
    return c.text('cookies set');
  });
  app.get('/old', (c) => c.redirect('/new', 301));
  app.get('/stream', (c) => {
    c.header('content-type', 'text/plain; charset=utf-8');
    return stream(c, async (s) => {
      for (let i = 0; i < 5; i++) {
        await s.write(`chunk ${i}\n`);
        // The last chunk comes late, so a reader can tell a streamed body from a buffered one.
        await s.sleep(i === 3 ? 300 : 5);
      }
    });
  });
  app.get('/boom', () => {
    throw new Error('kaboom');
  });
  app.get('/whoami', (c) =>
    c.json({ host: c.req.header('host') !== undefined, path: new URL(c.req.url).pathname }),
  );
  app.onError((error, c) => c.text(`handled: ${error.message}`, 500));
  return app;
}

interface Probe {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}

const probes: Probe[] = [
  { method: 'GET', path: '/users/42?q=a&q=b' },
  {
    method: 'POST',
    path: '/json',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'rxgi', tags: ['a', 'b', 'c'] }),
  },
  {
    method: 'POST',
    path: '/form',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: 'a=1&b=two+words&c=%C3%A9t%C3%A9',
  },
  { method: 'GET', path: '/cookies' },
  { method: 'GET', path: '/old' },
  { method: 'GET', path: '/stream' },
  { method: 'GET', path: '/boom' },
  { method: 'GET', path: '/missing' },
  { method: 'GET', path: '/whoami' },
];

/** What must match between the native and the contained server. */
interface View {
  status: number;
  contentType: string | null;
  location: string | null;
  setCookie: string[];
  contentLength: string | null;
  body: string;
}

async function viaFetch(base: string, probe: Probe): Promise<View> {
  const response = await fetch(base + probe.path, {
    method: probe.method,
    headers: probe.headers,
    body: probe.body,
    redirect: 'manual',
  });
  return {
    status: response.status,
    contentType: response.headers.get('content-type'),
    location: response.headers.get('location'),
    setCookie: response.headers.getSetCookie(),
    contentLength: response.headers.get('content-length'),
    body: await response.text(),
  };
}

function one(headers: IncomingHttpHeaders, name: string): string | null {
  const value = headers[name];
  return value === undefined ? null : String(value);
}

/** A body-free response's length is a framing detail: compare it where the native one has it. */
function comparable(native: View, contained: View): View {
  return native.contentLength === null ? { ...contained, contentLength: null } : contained;
}

describe('fromFetch: a Hono app, native and contained', () => {
  let native: Server;
  let nativeBase: string;
  let contained: RxgiServer;

  beforeAll(async () => {
    const app = honoApp();
    native = honoServe({ fetch: app.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(native, 'listening');
    nativeBase = `http://127.0.0.1:${(native.address() as AddressInfo).port}`;
    contained = await serve(fromFetch(app.fetch), { port: 0, shutdownTimeout: 2_000 });
  });

  afterAll(async () => {
    native.closeAllConnections();
    await new Promise((resolve) => native.close(resolve));
    await contained.close();
  });

  it('answers the same over HTTP/1.1', async () => {
    for (const probe of probes) {
      const want = await viaFetch(nativeBase, probe);
      const got = await viaFetch(contained.url, probe);
      expect(comparable(want, got), `${probe.method} ${probe.path}`).toEqual(want);
    }
    const cookies = await viaFetch(contained.url, { method: 'GET', path: '/cookies' });
    expect(cookies.setCookie).toEqual([
      `session=abc123; Path=/; Expires=${expires.toUTCString()}; HttpOnly`,
      'theme=dark; Max-Age=3600; Path=/; SameSite=Lax',
    ]);
    const form = await viaFetch(contained.url, probes[2]);
    expect(JSON.parse(form.body)).toEqual({ a: '1', b: 'two words', c: 'été' });
  });

  it('answers the same over HTTP/2', async () => {
    const client = await session(contained.url);
    try {
      for (const probe of probes) {
        const want = await viaFetch(nativeBase, probe);
        const response = await exchange(
          client,
          { ':method': probe.method, ':path': probe.path, ...probe.headers },
          probe.body,
        );
        const cookies = response.headers['set-cookie'];
        const got: View = {
          status: response.status,
          contentType: one(response.headers, 'content-type'),
          location: one(response.headers, 'location'),
          setCookie: cookies === undefined ? [] : cookies,
          contentLength: one(response.headers, 'content-length'),
          body: response.body.toString(),
        };
        expect(comparable(want, got), `${probe.method} ${probe.path}`).toEqual(want);
      }
    } finally {
      client.close();
    }
  });

  it('streams a streaming response, head first', async () => {
    const response = await fetch(`${contained.url}/stream`);
    expect(response.headers.get('content-length')).toBeNull();
    const reader = response.body!.getReader();
    const first = await reader.read();
    // Chunks may coalesce on a busy machine; the late last one cannot be there yet.
    expect(decoder.decode(first.value)).toMatch(/^chunk 0\n(chunk [1-3]\n)*$/);
    await reader.cancel();
  });

  it('answers HEAD without a body', async () => {
    const response = await fetch(`${contained.url}/users/7`, { method: 'HEAD' });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('application/json');
    expect(await response.text()).toBe('');
  });
});

describe('fromFetch: behaviour', () => {
  it('builds the Request: absolute URL, headers, host, body', async () => {
    let seen: Record<string, unknown> = {};
    const app = fromFetch(async (req, env) => {
      seen = {
        url: req.url,
        method: req.method,
        cookie: req.headers.get('cookie'),
        host: req.headers.get('host'),
        body: await req.text(),
        stream: env.rxgi.stream,
      };
      return new Response('ok');
    });
    const response = await inject(app, {
      method: 'PUT',
      target: '/a%20b?x=1',
      headers: ['cookie', 'a=1', 'cookie', 'b=2', 'host', 'example.test:8080'],
      body: 'payload',
    });
    expect(response.status).toBe(200);
    expect(seen).toEqual({
      // The memory driver's authority is `memory`; its Host field is passed on as sent.
      url: 'http://memory/a%20b?x=1',
      method: 'PUT',
      cookie: 'a=1; b=2',
      host: 'example.test:8080',
      body: 'payload',
      stream: 1,
    });
  });

  it('refuses a Host or target that is not a URL, and methods fetch cannot carry', async () => {
    const app = fromFetch((req) => new Response(new URL(req.url).pathname));
    const connection = memoryConnection(app);
    const [backslash, star, trace, fine] = await Promise.all([
      connection.request({ target: '/a\\b' }),
      connection.request({ method: 'OPTIONS', target: '*' }),
      connection.request({ method: 'TRACE', target: '/' }),
      connection.request({ target: '/a/b?c\\d' }),
    ]);
    connection.close();
    expect([backslash.status, star.status, trace.status]).toEqual([400, 400, 501]);
    expect([fine.status, fine.text]).toEqual([200, '/a/b']);
    // A Host that would move the path (`http://evil.test/admin?/`) is refused.
    const server = await serve(app, { port: 0, shutdownTimeout: 2_000 });
    try {
      const answer = await raw(
        server.port,
        'GET /public HTTP/1.1\r\nHost: evil.test/admin?\r\nConnection: close\r\n\r\n',
      );
      expect(statusOf(answer)).toBe(400);
    } finally {
      await server.close();
    }
  });

  it('answers 500 when the handler throws, rejects or returns no Response', async () => {
    const thrown = fromFetch(() => {
      throw new Error('sync');
    });
    const rejected = fromFetch(() => Promise.reject(new Error('async')));
    const nothing = fromFetch(() => undefined as unknown as Response);
    for (const app of [thrown, rejected, nothing]) {
      const response = await inject(app);
      expect([response.status, response.text]).toEqual([500, 'Internal Server Error\n']);
    }
  });

  it('answers a WebSocket handshake 426, unless told how to accept it', async () => {
    const plain = memoryConnection(fromFetch(() => new Response('http only')));
    await expect(plain.websocket('/')).rejects.toMatchObject({ status: 426 });
    plain.close();
    const echo = memoryConnection(
      fromFetch(() => new Response('http'), { websocket: () => upgrade((messages) => messages) }),
    );
    const ws = await echo.websocket('/');
    ws.send('ping');
    expect(await ws.receive()).toBe('ping');
    ws.close();
    expect((await echo.request({ target: '/' })).text).toBe('http');
    echo.close();
  });

  it('keeps every set-cookie and sends a null body as no body', async () => {
    const app = fromFetch(() => {
      const headers = new Headers({ location: '/there' });
      headers.append('set-cookie', 'a=1; Expires=Tue, 01 Jan 2030 00:00:00 GMT');
      headers.append('set-cookie', 'b=2');
      return new Response(null, { status: 303, headers });
    });
    const response = await inject(app);
    expect(response.status).toBe(303);
    expect(response.headers).toEqual([
      'location',
      '/there',
      'set-cookie',
      'a=1; Expires=Tue, 01 Jan 2030 00:00:00 GMT',
      'set-cookie',
      'b=2',
    ]);
    expect(response.body.byteLength).toBe(0);
  });

  it('cancels the handler body and aborts its signal when the client goes away', async () => {
    let cancelled = false;
    let signal: AbortSignal | null = null;
    const server = await serve(
      fromFetch((req) => {
        signal = req.signal;
        return new Response(
          new ReadableStream<Uint8Array>({
            async pull(controller) {
              await sleep(5);
              controller.enqueue(new Uint8Array(1024));
            },
            cancel() {
              cancelled = true;
            },
          }),
        );
      }),
      { port: 0, shutdownTimeout: 2_000 },
    );
    try {
      // node:http's destroy closes the socket at once (undici's abort can leave it open a while).
      await new Promise<void>((resolve, reject) => {
        const req = get(`${server.url}/endless`, (res) => {
          res.once('data', () => {
            req.destroy();
            resolve();
          });
        });
        req.on('error', reject);
      });
      await until(() => cancelled && signal?.aborted === true);
    } finally {
      await server.close();
    }
  });
});

describe('toFetch', () => {
  const produced = { bytes: 0, returned: false };
  const subscriptions = { open: 0 };
  const tracked = new Observable<string>((out) => {
    subscriptions.open++;
    const timer = setInterval(() => out.next('x'), 5);
    return () => {
      subscriptions.open--;
      clearInterval(timer);
    };
  });
  const seen: string[] = [];
  const app = handle(async (req) => {
    seen.push(`${req.method} ${req.target} ${req.authority}`);
    switch (req.path) {
      case '/text':
        return text('hello from rxgi');
      case '/echo':
        return json(await req.json(4 * 1024 * 1024));
      case '/ticks':
        return {
          headers: ['content-type', 'text/plain'],
          body: new Observable<string>((out) => {
            let i = 0;
            const timer = setInterval(() => {
              out.next(`tick ${i}\n`);
              if (++i === 5) out.complete();
            }, 5);
            return () => clearInterval(timer);
          }),
        };
      case '/endless':
        return {
          body: (async function* endless() {
            try {
              for (;;) {
                produced.bytes += 16_384;
                yield new Uint8Array(16_384);
              }
            } finally {
              produced.returned = true;
            }
          })(),
        };
      case '/degraded':
        req.push('/app.css');
        return { body: 'body', trailers: ['x-checksum', 'abc'] };
      case '/slow-upload': {
        let size = 0;
        for await (const chunk of req.body) {
          size += chunk.byteLength;
          await sleep(1);
        }
        return text(String(size));
      }
      case '/wait':
        await new Promise((resolve) => req.signal.addEventListener('abort', resolve));
        seen.push(`aborted: ${(req.signal.reason as Error).message}`);
        return text('too late');
      case '/boom':
        throw new Error('boom');
      case '/broken':
        return {
          body: new Observable<string>((out) => {
            out.next('partial');
            setTimeout(() => out.error(new Error('body broke')), 10);
          }),
        };
      case '/flood':
        return {
          body: new Observable<Uint8Array>((out) => {
            for (let i = 0; i < 64; i++) out.next(new Uint8Array(65_536));
            out.complete();
          }),
        };
      case '/bad-head':
        return { headers: ['bad name', 'x'], body: tracked };
      default:
        return { status: 404, body: 'nope' };
    }
  });
  const handler = toFetch(app);

  it('answers text, with its length', async () => {
    const response = await handler(new Request('http://rx.test/text'));
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('content-length')).toBe('15');
    expect(await response.text()).toBe('hello from rxgi');
    expect(seen.at(-1)).toBe('GET /text rx.test');
    const head = await handler(new Request('http://rx.test/text', { method: 'HEAD' }));
    expect([head.status, head.headers.get('content-length'), head.body]).toEqual([200, '15', null]);
  });

  it('echoes a 1 MB JSON POST', async () => {
    const value = { items: Array.from({ length: 20_000 }, (_, i) => ({ i, name: `item-${i}` })) };
    const body = JSON.stringify(value);
    expect(body.length).toBeGreaterThan((1024 * 1024) / 2);
    const big = JSON.stringify({ ...value, pad: 'x'.repeat(1024 * 1024 - body.length) });
    expect(big.length).toBeGreaterThanOrEqual(1024 * 1024);
    const response = await handler(
      new Request('http://rx.test/echo', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: big,
      }),
    );
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual(JSON.parse(big));
  });

  it('resolves at the head and streams an Observable body', async () => {
    const response = await handler(new Request('http://rx.test/ticks'));
    expect(response.headers.get('content-type')).toBe('text/plain');
    const reader = response.body!.getReader();
    expect(decoder.decode((await reader.read()).value)).toBe('tick 0\n');
    let rest = '';
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      rest += decoder.decode(value);
    }
    expect(rest).toBe('tick 1\ntick 2\ntick 3\ntick 4\n');
  });

  it('answers a handler error with 500 and an unknown path as the app says', async () => {
    const failed = await handler(new Request('http://rx.test/boom'));
    expect([failed.status, await failed.text()]).toEqual([500, 'Internal Server Error\n']);
    const missing = await handler(new Request('http://rx.test/nowhere'));
    expect([missing.status, await missing.text()]).toEqual([404, 'nope']);
  });

  it('errors the body when the app aborts after the head', async () => {
    const response = await handler(new Request('http://rx.test/broken'));
    const reader = response.body!.getReader();
    expect(decoder.decode((await reader.read()).value)).toBe('partial');
    await expect(reader.read()).rejects.toThrow('aborted');
  });

  it('aborts an app that outruns the write buffer limit', async () => {
    const limited = toFetch(app, { writeBufferLimit: 256 * 1024 });
    const response = await limited(new Request('http://rx.test/flood'));
    expect(response.status).toBe(200);
    await expect(response.arrayBuffer()).rejects.toThrow();
  });

  it('answers 500 for a head fetch refuses, and stops the body', async () => {
    const response = await handler(new Request('http://rx.test/bad-head'));
    expect([response.status, await response.text()]).toEqual([500, 'Internal Server Error\n']);
    await sleep(20);
    expect(subscriptions.open).toBe(0);
  });

  it('degrades: a push becomes a link, trailers end the body', async () => {
    const response = await handler(new Request('http://rx.test/degraded'));
    expect(response.headers.get('link')).toBe('</app.css>; rel=preload');
    expect(await response.text()).toBe('body');
  });

  it('lets a slow consumer hold the app back, and cancelling stops it', async () => {
    const response = await handler(new Request('http://rx.test/endless'));
    const reader = response.body!.getReader();
    let consumed = 0;
    for (let i = 0; i < 50; i++) {
      consumed += (await reader.read()).value!.byteLength;
      await sleep(1);
      // The app has one window of credit beyond what was read, and a chunk of overshoot.
      expect(produced.bytes - consumed).toBeLessThanOrEqual(65_536 + 2 * 16_384);
    }
    await reader.cancel();
    await until(() => produced.returned);
  });

  it('reads the request body only as the app grants credit', async () => {
    const total = 4 * 1024 * 1024;
    let pulled = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(controller) {
          if (pulled >= total) {
            controller.close();
            return;
          }
          pulled += 16_384;
          controller.enqueue(new Uint8Array(16_384));
        },
      },
      { highWaterMark: 0 },
    );
    const answer = handler(
      new Request('http://rx.test/slow-upload', { method: 'POST', body, duplex: 'half' }),
    );
    await sleep(50);
    // The app reads a chunk a millisecond: 50 ms is far from 4 MB.
    expect(pulled).toBeLessThan(1024 * 1024);
    expect(await (await answer).text()).toBe(String(total));
  });

  it('closes the stream with code 8 when the request signal aborts', async () => {
    const controller = new AbortController();
    const answer = handler(new Request('http://rx.test/wait', { signal: controller.signal }));
    await sleep(10);
    controller.abort();
    await expect(answer).rejects.toThrow();
    await until(() => seen.at(-1)?.startsWith('aborted') === true);
    expect(seen.at(-1)).toContain('stream closed (8)');
  });

  it('mounts inside Hono, served by @hono/node-server', async () => {
    const outer = new Hono();
    outer.get('/', (c) => c.text('outer'));
    outer.mount('/rx', toFetch(app));
    const server = honoServe({ fetch: outer.fetch, port: 0, hostname: '127.0.0.1' }) as Server;
    await once(server, 'listening');
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      expect(await (await fetch(`${base}/`)).text()).toBe('outer');
      const hello = await fetch(`${base}/rx/text`);
      expect([hello.status, await hello.text()]).toEqual([200, 'hello from rxgi']);
      expect(seen.at(-1)).toBe(`GET /text 127.0.0.1:${(server.address() as AddressInfo).port}`);
      const payload = { hello: 'world', list: [1, 2, 3] };
      const echoed = await fetch(`${base}/rx/echo`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(payload),
      });
      expect(await echoed.json()).toEqual(payload);
      const ticks = await fetch(`${base}/rx/ticks`);
      expect(await ticks.text()).toBe('tick 0\ntick 1\ntick 2\ntick 3\ntick 4\n');
      const failed = await fetch(`${base}/rx/boom`);
      expect(failed.status).toBe(500);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('moves the prefix named by the root option from the path to root (SPEC.md §4.4)', async () => {
    const mounted = handle((req) => json({ root: req.root, path: req.path, target: req.target }));
    const outer = new Hono();
    // Hono passes the request as it came, prefix and all, when told not to replace it.
    outer.mount('/rx', toFetch(mounted, { root: '/rx/' }), { replaceRequest: false });
    const call = async (path: string) => (await outer.fetch(new Request(`http://h${path}`))).json();
    expect(await call('/rx/a/b?x=1')).toEqual({ root: '/rx', path: '/a/b', target: '/a/b?x=1' });
    expect(await call('/rx')).toEqual({ root: '/rx', path: '/', target: '/' });
    expect(await call('/rx?y')).toEqual({ root: '/rx', path: '/', target: '/?y' });
    // Without the option the app is told nothing: Hono's own mount removed the prefix.
    const plain = new Hono();
    plain.mount('/rx', toFetch(mounted));
    const seen = await (await plain.fetch(new Request('http://h/rx/a'))).json();
    expect(seen).toEqual({ root: '', path: '/a', target: '/a' });
    // A path that only starts with the prefix's letters is not under it.
    const direct = toFetch(mounted, { root: '/rx' });
    expect(await (await direct(new Request('http://h/rxa'))).json()).toEqual({
      root: '',
      path: '/rxa',
      target: '/rxa',
    });
  });
});
