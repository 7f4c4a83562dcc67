import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * Suites that take seconds by nature: memory and GC measurements, several processes (cluster,
 * remote workers, the packed package), transfers paced by tiny windows and reset floods. They
 * run in `npm test` and CI as the `slow` project; `npm run test:fast` leaves them out.
 */
const SLOW = [
  'test/core/table.test.ts', // V8 GC behaviour over many old-generation collections
  'test/package.test.ts', // npm pack and install into fresh projects
  'test/package-types.test.ts', // the README's steps in fresh projects of each package type
  'test/apps/demo-browser.test.ts', // headless Chromium
  'test/protocols/drivers/websocket-origin-browser.test.ts', // headless Chromium
  'test/apps/demo.test.ts', // the demo across --workers and real brokers
  'test/protocols/cli/*.test.ts', // the real binary, a supervisor and its server per case
  'test/protocols/drivers/http2-close.test.ts', // sockets left to linger their second out
  'test/protocols/remote/remote.test.ts', // worker processes over brokers
  'test/protocols/drivers/bounded-memory.test.ts', // RSS under non-reading clients
  'test/protocols/drivers/http2-streams.test.ts', // promotion per request under h2load
  'test/protocols/drivers/http2-limits.test.ts', // 10 MB through a 64-byte window
  'test/protocols/drivers/http2-reset.test.ts', // reset floods against a CLI child
  'test/chaos.test.ts', // many hostile clients for 20 s, against in-process servers and CLIs
  'test/protocols/conformance/matrix.test.ts', // the conformance suite against seven hosts
  'test/**/*.slow.test.ts',
];

/**
 * The HTTP/1.1 suites again with serve on the node:http driver (`http1: 'node:http'`, which
 * test/helpers.ts `start` passes on): serve's default is rxgi's own driver on node:net. The
 * conformance suite reaches that driver through the matrix's node:http hosts (`toNodeListener`, on its `Http1Connection`).
 */
const NODE_HTTP = [
  'test/protocols/drivers/http1.test.ts',
  'test/protocols/drivers/header-limits.test.ts',
  'test/protocols/drivers/timeouts.test.ts',
  'test/protocols/drivers/field-text.test.ts',
  'test/protocols/drivers/access-log.test.ts',
  'test/protocols/drivers/app-events.test.ts',
  'test/protocols/drivers/websocket.test.ts',
  'test/protocols/drivers/linger.test.ts',
];

/** `rxgi` and its subpaths resolve to the sources of the faces package.json exports. */
function faces() {
  const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  return Object.entries(manifest.exports as Record<string, { default?: string }>)
    .filter(([, target]) => typeof target === 'object')
    .map(([subpath, target]) => ({
      find: new RegExp(`^rxgi${subpath.slice(1).replace('/', '\\/')}$`),
      replacement: fileURLToPath(
        new URL(
          `./${target.default!.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}`,
          import.meta.url,
        ),
      ),
    }));
}

export default defineConfig({
  resolve: { alias: faces() },
  test: {
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    env: { RXGI_LOG: process.env.RXGI_LOG ?? 'silent' },
    projects: [
      { extends: true, test: { name: 'fast', include: ['test/**/*.test.ts'], exclude: SLOW } },
      { extends: true, test: { name: 'slow', include: SLOW } },
      {
        extends: true,
        test: { name: 'node:http', include: NODE_HTTP, env: { RXGI_TEST_HTTP1: 'node:http' } },
      },
    ],
  },
});
