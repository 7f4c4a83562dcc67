import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { blast, headers, request, rstStream } from '../../h2frames.js';
import { type Child, cli } from '../../helpers.js';

/**
 * A client that resets a stream in the same packet as its HEADERS, before the server has
 * looked at it. Two such pairs killed `rxgi serve` outright: node tells of the stream after it
 * has torn it down (GET, CANCEL), or a closed stream reaches the app, whose answer throws twice
 * (POST with a body to come, NO_ERROR). Raw frames, since no polite client does this.
 */
const SEQUENCES = {
  'GET then RST_STREAM': (id: number, code: number) => [
    headers(id, request('GET', '/'), true),
    rstStream(id, code),
  ],
  'POST without END_STREAM then RST_STREAM': (id: number, code: number) => [
    headers(id, request('POST', '/', [['content-type', 'text/plain']]), false),
    rstStream(id, code),
  ],
};
const CODES = [0, 2, 8]; // NO_ERROR, INTERNAL_ERROR, CANCEL

const servers: Record<string, Child> = {};
beforeAll(async () => {
  [servers.h2c, servers.h2] = await Promise.all([
    cli('apps/echo.ts'),
    cli('apps/echo.ts', '--tls-self-signed'),
  ]);
}, 30_000);
afterAll(() => {
  for (const child of Object.values(servers)) child.kill('SIGKILL');
});

/** A fresh client is served, within a second, by the process that took the abuse. */
async function servesAFreshClient(child: Child): Promise<void> {
  const started = Date.now();
  const client = await session(child.url);
  try {
    const answer = await exchange(client, { ':method': 'POST', ':path': '/' }, 'still here');
    expect([answer.status, answer.body.toString()]).toEqual([200, 'still here']);
  } finally {
    client.close();
  }
  expect(Date.now() - started).toBeLessThan(1_000);
}

describe.each(['h2c', 'h2'])(
  'HTTP/2 streams reset in the packet of their HEADERS (%s)',
  (transport) => {
    const tls = transport === 'h2';
    for (const [name, sequence] of Object.entries(SEQUENCES)) {
      it.each(CODES)(
        `${name} (code %i), 20 connections, then a burst of 5,000 on one`,
        async (code) => {
          const child = servers[transport];
          for (let i = 0; i < 20; i++) {
            await blast(child.port, tls, sequence(1, code), 20);
            await servesAFreshClient(child);
          }
          const burst = [];
          for (let id = 1; id < 10_000; id += 2) burst.push(...sequence(id, code));
          await blast(child.port, tls, burst, 100);
          await servesAFreshClient(child);
          expect(child.stderr()).not.toMatch(/internal error|Uncaught|Unhandled|node:internal/);
        },
        60_000,
      );
    }
  },
);
