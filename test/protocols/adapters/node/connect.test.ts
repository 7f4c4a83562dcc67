import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders as H2Headers } from 'node:http2';
import express from 'express';
import Fastify, { type FastifyInstance } from 'fastify';
import type { App, OutboundEvent, RequestEvent } from 'rxgi';
import { compose, getHeader, handle, json, text } from 'rxgi';
import { memoryConnection } from 'rxgi/testing';
import { filter, map } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { SessionRun } from '../../../../core/app.js';
import {
  type ConnectMiddleware,
  fromConnect,
} from '../../../../protocols/adapters/node/connect.js';
import {
  fromNodeHandler,
  type NodeListener,
} from '../../../../protocols/adapters/node/from-node.js';
import { exchange, session } from '../../../h2client.js';
import { closeServers, start } from '../../../helpers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
  await closeServers();
});

// --- Middleware and the inner app -------------------------------------------------------------

const addHeader: ConnectMiddleware = (_req, res, next) => {
  res.setHeader('x-outer', 'yes');
  res.setHeader('x-shared', 'outer');
  res.appendHeader('set-cookie', 'outer=1');
  next();
};

const auth: ConnectMiddleware = (req, res, next) => {
  if (req.headers['x-key'] === 'secret') {
    req.headers['x-user'] = 'alice';
    next();
    return;
  }
  res.statusCode = 401;
  res.setHeader('content-type', 'text/plain');
  res.end('unauthorized');
};

const logged: string[] = [];
const bodyLogger: ConnectMiddleware = (req, _res, next) => {
  logged.push(`${req.method} ${req.url} ${req.headers['content-length'] ?? '-'}`);
  next();
};

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

const seen: RequestEvent[] = [];
const inner = handle(async (req) => {
  seen.push({ path: req.path, headers: req.headers } as RequestEvent);
  if (req.path === '/upload') {
    const body = await req.bytes(8 * 1024 * 1024);
    return json({ size: body.byteLength, sha: sha(body) });
  }
  return {
    status: 200,
    headers: [
      'content-type',
      'text/plain; charset=utf-8',
      'x-shared',
      'inner',
      'set-cookie',
      'inner=2',
    ],
    body: `inner ${req.path} user=${req.header('x-user') ?? '-'}`,
  };
});

const app = compose(fromConnect(bodyLogger), fromConnect(auth), fromConnect(addHeader))(inner);

function big(size: number): Buffer {
  const bytes = Buffer.alloc(size);
  for (let i = 0; i < size; i++) bytes[i] = i % 251;
  return bytes;
}

// --- fromConnect -------------------------------------------------------------------------------

describe('fromConnect', () => {
  it('runs hand-written middleware in front of the app over HTTP/1.1', async () => {
    const server = await start(app);
    const denied = await fetch(`${server.url}/a`);
    expect(denied.status).toBe(401);
    expect(await denied.text()).toBe('unauthorized');
    expect(denied.headers.get('x-outer')).toBeNull();

    seen.length = 0;
    const ok = await fetch(`${server.url}/a?q=1`, { headers: { 'x-key': 'secret' } });
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe('inner /a user=alice');
    expect(ok.headers.get('x-outer')).toBe('yes');
    expect(ok.headers.get('x-shared')).toBe('inner');
    expect(ok.headers.getSetCookie()).toEqual(['outer=1', 'inner=2']);
    expect(seen).toHaveLength(1);
  });

  it('streams a 2 MB POST through unread middleware to the app, HTTP/1.1 and h2c', async () => {
    const server = await start(app);
    const body = big(2 * 1024 * 1024);
    logged.length = 0;
    const response = await fetch(`${server.url}/upload`, {
      method: 'POST',
      headers: { 'x-key': 'secret', 'content-type': 'application/octet-stream' },
      body,
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ size: body.byteLength, sha: sha(body) });
    expect(logged).toEqual([`POST /upload ${body.byteLength}`]);

    const client = await session(server.url);
    cleanups.push(() => client.close());
    const h2 = await exchange(
      client,
      { ':method': 'POST', ':path': '/upload', 'x-key': 'secret' },
      body,
    );
    expect(h2.status).toBe(200);
    expect(JSON.parse(h2.body.toString())).toEqual({ size: body.byteLength, sha: sha(body) });
    expect(h2.headers['x-outer']).toBe('yes');

    const denied = await exchange(client, { ':method': 'POST', ':path': '/upload' }, body);
    expect(denied.status).toBe(401);
    // Many requests on one connection: the inner app is called once, streams are routed.
    const many = await Promise.all(
      Array.from({ length: 5 }, (_, i) =>
        exchange(client, { ':path': `/n${i}`, 'x-key': 'secret' }),
      ),
    );
    expect(many.map((r) => r.body.toString())).toEqual(
      Array.from({ length: 5 }, (_, i) => `inner /n${i} user=alice`),
    );
    expect(many[0].headers['set-cookie']).toEqual(['outer=1', 'inner=2']);
  });

  it('hands over a body that arrived while an async middleware ran', async () => {
    const slow: ConnectMiddleware = (_req, res, next) => {
      setTimeout(() => {
        res.setHeader('x-slow', 'done');
        next();
      }, 50);
    };
    const server = await start(fromConnect(slow)(inner));
    const body = big(2 * 1024 * 1024);
    const response = await fetch(`${server.url}/upload`, { method: 'POST', body });
    expect(response.headers.get('x-slow')).toBe('done');
    expect(await response.json()).toEqual({ size: body.byteLength, sha: sha(body) });
    const client = await session(server.url);
    cleanups.push(() => client.close());
    const h2 = await exchange(client, { ':method': 'POST', ':path': '/upload' }, body);
    expect(JSON.parse(h2.body.toString())).toEqual({ size: body.byteLength, sha: sha(body) });
  });

  it('carries next(error) and a middleware that reads the body as errors', async () => {
    const forbidden: ConnectMiddleware = (_req, _res, next) =>
      next(Object.assign(new Error('no'), { status: 403 }));
    const reader: ConnectMiddleware = (req, _res, next) => {
      req.once('data', () => next());
    };
    const one = await start(fromConnect(forbidden)(inner));
    const a = await fetch(`${one.url}/x`);
    expect(a.status).toBe(403);
    expect(await a.text()).toBe('Forbidden\n');
    const two = await start(fromConnect(reader)(inner));
    const b = await fetch(`${two.url}/upload`, { method: 'POST', body: 'abc' });
    expect(b.status).toBe(500);
  });

  it("runs Express 5's built-in middleware (static-like router, json) in front", async () => {
    const router = express();
    router.disable('x-powered-by');
    router.get('/static/hello.txt', (_req, res) => {
      res.type('text/plain').send('static file');
    });
    router.use((req, res, next) => {
      res.set('x-express', '1');
      if (req.path.startsWith('/private')) res.status(401).json({ error: 'no' });
      else next();
    });
    const mw: ConnectMiddleware = (req, res, next) =>
      router(req as express.Request, res as express.Response, next);
    const server = await start(fromConnect(mw)(inner));
    const s = await fetch(`${server.url}/static/hello.txt`);
    expect(await s.text()).toBe('static file');
    const p = await fetch(`${server.url}/private/x`);
    expect(p.status).toBe(401);
    expect(await p.json()).toEqual({ error: 'no' });
    const i = await fetch(`${server.url}/other`);
    expect(i.status).toBe(200);
    expect(i.headers.get('x-express')).toBe('1');
    expect(await i.text()).toBe('inner /other user=-');
  });
});

describe('fromConnect as a session app', () => {
  const info = {
    id: 'c1',
    address: 'test/c1',
    protocol: 'memory',
    secure: false,
    client: null,
    server: null,
  };
  const ignore = { next() {}, error() {}, complete() {} };

  it('is run directly by a connection, as handle is, with no Observable in between', () => {
    // SessionRun.start runs a sessionApp's session itself and gives null for any other app.
    expect(SessionRun.start(inner, ignore, info)).not.toBeNull();
    expect(SessionRun.start(fromConnect(auth)(inner), ignore, info)).not.toBeNull();
    expect(SessionRun.start(app, ignore, info)).not.toBeNull();
  });

  // An inner app that sessionApp did not make is called once and subscribed.
  const calls: string[] = [];
  const plain: App = (events, connection) => {
    calls.push(connection.id);
    return events.pipe(
      filter((event): event is RequestEvent => event.type === 'request'),
      map((event): OutboundEvent => {
        if (event.path === '/boom') throw new Error('the plain app failed');
        return {
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: ['content-type', 'text/plain'],
          body: `plain ${event.path} user=${getHeader(event.headers, 'x-user') ?? '-'}`,
          end: true,
        };
      }),
    );
  };

  it('hands over to a plain Observable app, called once per connection', async () => {
    calls.length = 0;
    const server = await start(compose(fromConnect(auth), fromConnect(addHeader))(plain));
    const denied = await fetch(`${server.url}/a`);
    expect(denied.status).toBe(401);
    const client = await session(server.url);
    cleanups.push(() => client.close());
    const many = await Promise.all(
      Array.from({ length: 4 }, (_, i) =>
        exchange(client, { ':path': `/p${i}`, 'x-key': 'secret' }),
      ),
    );
    expect(many.map((r) => r.body.toString())).toEqual(
      Array.from({ length: 4 }, (_, i) => `plain /p${i} user=alice`),
    );
    expect(many[0].headers['x-outer']).toBe('yes');
    // One connection each (the fetch and the h2c session), the plain app called once on each.
    expect(calls).toHaveLength(2);
  });

  it("fails the connection's open streams when the plain app's output errors", async () => {
    const connection = memoryConnection(fromConnect(addHeader)(plain));
    const ok = await connection.request({ target: '/fine' });
    expect(ok.text).toBe('plain /fine user=-');
    const failed = await connection.request({ target: '/boom' });
    // SPEC.md §4: the app's output errored, its streams fail with RXGI_ERR_APP_ERROR (500).
    expect(failed.status).toBe(500);
    connection.close();
  });
});

// --- Fastify contained ----------------------------------------------------------------------

async function fastifyApp(): Promise<FastifyInstance> {
  const fastify = Fastify();
  fastify.get('/users/:id', async (req) => ({ id: (req.params as { id: string }).id }));
  fastify.post('/echo', async (req) => ({ got: req.body }));
  fastify.get('/cookies', async (_req, reply) => {
    reply.header('set-cookie', ['a=1; Path=/', 'b=2; HttpOnly']);
    return 'two cookies';
  });
  fastify.get('/old', async (_req, reply) => reply.redirect('/new'));
  fastify.get('/boom', async () => {
    throw new Error('boom');
  });
  await fastify.ready();
  return fastify;
}

interface View {
  status: number;
  type: string | null;
  location: string | null;
  cookies: string[];
  body: string;
}

const cases: { name: string; method?: string; path: string; body?: string }[] = [
  { name: 'params', path: '/users/42' },
  { name: 'json body', method: 'POST', path: '/echo', body: '{"x":[1,2]}' },
  { name: 'cookies', path: '/cookies' },
  { name: 'redirect', path: '/old' },
  { name: '404', path: '/missing' },
  { name: 'error', path: '/boom' },
];

async function viaFetch(base: string, c: (typeof cases)[number]): Promise<View> {
  const response = await fetch(`${base}${c.path}`, {
    method: c.method ?? 'GET',
    redirect: 'manual',
    headers: c.body === undefined ? {} : { 'content-type': 'application/json' },
    body: c.body,
  });
  return {
    status: response.status,
    type: response.headers.get('content-type'),
    location: response.headers.get('location'),
    cookies: response.headers.getSetCookie(),
    body: await response.text(),
  };
}

function h2View(headers: H2Headers, status: number, body: Buffer): View {
  const cookies = headers['set-cookie'];
  return {
    status,
    type: (headers['content-type'] as string | undefined) ?? null,
    location: (headers.location as string | undefined) ?? null,
    cookies: cookies === undefined ? [] : cookies,
    body: body.toString(),
  };
}

describe('Fastify contained', () => {
  it('answers as natively listening Fastify does, over HTTP/1.1 and h2c', async () => {
    const native = await fastifyApp();
    await native.listen({ port: 0, host: '127.0.0.1' });
    cleanups.push(() => native.close());
    const address = native.server.address() as { port: number };
    const nativeBase = `http://127.0.0.1:${address.port}`;

    const contained = await fastifyApp();
    cleanups.push(() => contained.close());
    // Fastify 5's own request handler (`routing`, the server's 'request' listener), untyped.
    const { routing } = contained as unknown as { routing: NodeListener };
    const server = await start(fromNodeHandler((req, res) => routing(req, res)));
    const client = await session(server.url);
    cleanups.push(() => client.close());

    for (const c of cases) {
      const expected = await viaFetch(nativeBase, c);
      expect(await viaFetch(server.url, c), `${c.name} over HTTP/1.1`).toEqual(expected);
      const h2 = await exchange(
        client,
        {
          ':method': c.method ?? 'GET',
          ':path': c.path,
          ...(c.body === undefined ? {} : { 'content-type': 'application/json' }),
        },
        c.body,
      );
      expect(h2View(h2.headers, h2.status, h2.body), `${c.name} over h2c`).toEqual(expected);
    }
    const [params, body, cookies, redirect, missing, error] = await Promise.all(
      cases.map((c) => viaFetch(nativeBase, c)),
    );
    expect(params.body).toBe('{"id":"42"}');
    expect(body.body).toBe('{"got":{"x":[1,2]}}');
    expect(cookies.cookies).toEqual(['a=1; Path=/', 'b=2; HttpOnly']);
    expect([redirect.status, redirect.location]).toEqual([302, '/new']);
    expect(missing.status).toBe(404);
    expect(error.status).toBe(500);
  });
});

// A plain text app is enough to check that the middleware does not break a bare app.
it('fromConnect with a pass-through middleware leaves the app as it was', async () => {
  const server = await start(fromConnect((_req, _res, next) => next())(handle(() => text('hi'))));
  const response = await fetch(`${server.url}/`);
  expect(await response.text()).toBe('hi');
  expect(response.headers.get('content-length')).toBe('2');
});
