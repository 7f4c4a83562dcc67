/**
 * Every host rxgi offers, each serving the conformance fixture on a free port with the
 * capabilities it declares: the rows of the host matrix (docs/conformance-matrix.md).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { serve as honoServe } from '@hono/node-server';
import express from 'express';
import Fastify from 'fastify';
import type { App } from 'rxgi';
import { ALL_CAPABILITIES, type Capability, CONFORMANCE_TIMEOUTS } from 'rxgi/conformance';
import { toFetch } from 'rxgi/fetch';
import { toNodeHandler, toNodeUpgradeHandler } from 'rxgi/node';
import { serve } from '../../../protocols/server/serve.js';
import { selfSignedCertificate } from '../../../protocols/server/tls.js';
import { minimalHost } from './minimal-host.js';

/** A running host: its URL, what it declares, and how to stop it. */
export interface Host {
  url: string;
  caps: Capability[];
  close(): Promise<void>;
}

/**
 * Rules a host breaks though it declares what they need, each with the reason: a runtime's
 * own deviation rxgi cannot work around. The matrix shows them, and the test fails when one
 * starts passing (or another starts failing).
 */
export type Known = Record<string, string>;

export interface HostKind {
  name: string;
  /** One line on how the fixture is hosted. */
  how: string;
  start(app: App): Promise<Host>;
  known?: Known;
}

const root = fileURLToPath(new URL('../../..', import.meta.url));

/**
 * A host in another runtime (Bun, Deno: devDependencies that bring their binaries): `script`
 * (in test/fixtures, importing the built package) serves the fixture and prints its URL.
 */
async function runtimeHost(
  runtime: 'bun' | 'deno',
  script: string,
  caps: Capability[],
): Promise<Host> {
  const binary = join(root, 'node_modules', '.bin', runtime);
  const args = runtime === 'deno' ? ['run', '--allow-all', script] : [script];
  const child = spawn(binary, args, {
    cwd: root,
    env: { ...process.env, RXGI_LOG: 'silent', NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // A test run cut short (a timeout) must not leave the runtime serving.
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.off('exit', reap));
  // The runtime's own complaints (Bun prints the aborts the checks provoke): kept for a failed
  // start, not printed.
  let complaints = '';
  child.stderr.on('data', (chunk: Buffer) => {
    if (complaints.length < 4_000) complaints += chunk.toString();
  });
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`${runtime} ${script}: no URL in 20 s`)),
      20_000,
    );
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const found = /https?:\/\/[^\s]+/.exec(out);
      if (found) {
        clearTimeout(timer);
        resolve(found[0]);
      }
    });
    child.once('exit', (code) =>
      reject(new Error(`${runtime} ${script} exited (${code}): ${complaints}`)),
    );
  });
  return {
    url,
    caps,
    close: async () => {
      if (child.exitCode !== null) return;
      const exited = once(child, 'exit');
      child.kill('SIGKILL');
      await exited;
    },
  };
}

const listening = async (server: Server) => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
};

const closing = (server: Server) => () =>
  new Promise<void>((resolve) => {
    server.closeAllConnections();
    server.close(() => resolve());
  });

const ALL = [...ALL_CAPABILITIES];
const NODE_HTTP: Capability[] = [
  'h1',
  'trailers',
  'request-trailers',
  'early-hints',
  'websocket',
  'continue',
];

/**
 * A node:http server with `app`'s upgrades attached: HTTP/1.1 and WebSocket. `handler` also
 * takes the requests that expect a `100 Continue`, which node would otherwise answer at once.
 */
async function nodeHost(
  server: Server,
  app: App,
  handler: (req: IncomingMessage, res: ServerResponse) => void,
): Promise<Host> {
  const upgrades = toNodeUpgradeHandler(app);
  server.on('checkContinue', handler);
  server.on('upgrade', upgrades);
  const close = closing(server);
  return {
    url: await listening(server),
    caps: NODE_HTTP,
    close: async () => {
      upgrades.shutdown(0);
      await close();
    },
  };
}

export const HOSTS: HostKind[] = [
  {
    name: 'serve',
    how: '`serve(app)`: HTTP/1.1 and h2c on one port',
    async start(app) {
      const server = await serve(app, {
        port: 0,
        host: '127.0.0.1',
        shutdownTimeout: 1_000,
        ...CONFORMANCE_TIMEOUTS,
      });
      return { url: server.url, caps: ALL, close: () => server.close() };
    },
  },
  {
    name: 'serve (TLS)',
    how: '`serve(app, { tls })`: HTTP/1.1 and h2 by ALPN',
    async start(app) {
      const tls = await selfSignedCertificate(['127.0.0.1']);
      const server = await serve(app, {
        port: 0,
        host: '127.0.0.1',
        tls,
        shutdownTimeout: 1_000,
        ...CONFORMANCE_TIMEOUTS,
      });
      return { url: server.url, caps: ALL, close: () => server.close() };
    },
  },
  {
    name: 'node:http',
    how: '`http.createServer(toNodeHandler(app))`, the same handler for `checkContinue`, upgrades through `toNodeUpgradeHandler(app)`',
    start(app) {
      const handler = toNodeHandler(app);
      return nodeHost(createServer(handler), app, handler);
    },
  },
  {
    name: 'Express 5',
    how: '`expressApp.use(toNodeHandler(app))`, the Express app for `checkContinue`, upgrades through `toNodeUpgradeHandler(app)`',
    start(app) {
      const host = express();
      host.use(toNodeHandler(app));
      return nodeHost(createServer(host), app, host);
    },
  },
  {
    name: 'Fastify 5',
    how: 'a catch-all route whose `onRequest` hook hijacks the reply and calls `toNodeHandler(app)`',
    async start(app) {
      const fastify = Fastify();
      const handler = toNodeHandler(app);
      fastify.all(
        '/*',
        {
          onRequest: (request, reply, done) => {
            reply.hijack();
            handler(request.raw, reply.raw);
            done();
          },
        },
        () => {},
      );
      const url = await fastify.listen({ port: 0, host: '127.0.0.1' });
      return {
        url,
        caps: ['h1', 'trailers', 'request-trailers', 'early-hints'],
        close: () => fastify.close(),
      };
    },
  },
  {
    name: '@hono/node-server',
    how: '`serve({ fetch: toFetch(app) })`: a fetch host',
    async start(app) {
      const server = await new Promise<Server>((resolve) => {
        const made = honoServe({ fetch: toFetch(app), port: 0, hostname: '127.0.0.1' }, () =>
          resolve(made as Server),
        );
      });
      return {
        url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
        caps: ['h1'],
        close: closing(server),
      };
    },
    known: {
      'h1-head-invalid':
        'node:http serves a request with two Host fields, and a fetch handler sees them joined into one',
    },
  },
  {
    name: 'Bun: Bun.serve',
    how: '`Bun.serve({ fetch: toFetch(app) })` in Bun (test/fixtures/fetch-host.mjs)',
    start: () => runtimeHost('bun', 'test/fixtures/fetch-host.mjs', ['h1']),
    known: {
      'h1-head-invalid': 'Bun.serve serves a request with two Host fields',
      'h1-pipelining':
        'Bun.serve closes the connection, answering neither, when a pipelined request arrives while the first is still being answered',
      'h1-framing':
        'Bun.serve sends a short streamed body with content-length instead of chunked framing',
    },
  },
  {
    name: 'Deno: Deno.serve',
    how: '`Deno.serve(toFetch(app))` in Deno (test/fixtures/fetch-host.mjs)',
    start: () => runtimeHost('deno', 'test/fixtures/fetch-host.mjs', ['h1']),
    known: {
      'h1-head-invalid': 'Deno.serve serves an absolute-form target with userinfo',
      'h1-body-invalid':
        'Deno.serve closes the connection with no answer when a chunked body breaks before the response',
    },
  },
  {
    name: 'Bun: serve',
    how: "rxgi's `serve(app)` in Bun, HTTP/1.1 on rxgi's own driver over Bun's node:net (test/fixtures/serve-host.mjs); Bun's node:http2 server does not take h2c",
    start: () =>
      runtimeHost('bun', 'test/fixtures/serve-host.mjs', [
        'h1',
        'trailers',
        'request-trailers',
        'early-hints',
        'websocket',
        'tunnel-refusal',
        'continue',
        'limits',
        'timeouts',
      ]),
    known: {
      'ws-utf8':
        "Bun's own `ws` checks a fragmented text message only once it is whole: a first fragment with invalid UTF-8 does not close the session",
    },
  },
  {
    name: 'Deno: serve',
    how: "rxgi's `serve(app)` in Deno, on Deno's node:http and node:http2 (test/fixtures/serve-host.mjs)",
    start: () => runtimeHost('deno', 'test/fixtures/serve-host.mjs', ALL),
  },
  {
    name: 'minimal host (test)',
    how: 'an HTTP/1.1 host written from SPEC.md alone in test/protocols/conformance/minimal-host.ts',
    async start(app) {
      const { server, url } = await minimalHost(app);
      return {
        url,
        caps: [
          'h1',
          'trailers',
          'request-trailers',
          'early-hints',
          'tunnel-refusal',
          'continue',
          'limits',
        ],
        close: closing(server),
      };
    },
  },
];
