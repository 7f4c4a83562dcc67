import { type RxgiServer, selfSignedCertificate, serve } from 'rxgi';
import { Hub } from 'rxgi/bus';
import { afterAll, describe, expect, it } from 'vitest';
import demo from '../apps/demo.js';
import { type ChaosTarget, chaosSeed, runChaos } from './chaos.js';
import { type Child, cli, until } from './helpers.js';

/**
 * Issue 18, item 4: hostile clients at random (test/chaos.ts) against the demo served in this
 * process (so its hub and handles can be inspected) and the echo app served by `rxgi serve`
 * children, over h2c and TLS, while a well-behaved client is served throughout. The seed is
 * printed; `CHAOS_SEED=n` replays it, `CHAOS_SECONDS` sets how long the hostile clients run.
 * `npm run chaos -- --seconds N` is the long run (bench/chaos.ts).
 */
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 20);
const DEADLINE = 10_000;

/** Handles of the kinds a server leaves behind if it forgets something. */
const KINDS = ['Timeout', 'TCPSocketWrap', 'TCPServerWrap', 'TLSWrap'];
function handles(): Record<string, number> {
  const count: Record<string, number> = Object.fromEntries(KINDS.map((kind) => [kind, 0]));
  for (const kind of process.getActiveResourcesInfo()) if (kind in count) count[kind]++;
  return count;
}
const atMost = (now: Record<string, number>, before: Record<string, number>) =>
  KINDS.every((kind) => now[kind] <= before[kind]);

const children: Child[] = [];
afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
});

describe('chaos', () => {
  it(
    'hostile clients harm nobody, the good client is always served, nothing is left behind',
    async () => {
      const seed = chaosSeed();
      process.stderr.write(`chaos: seed ${seed} (replay: CHAOS_SEED=${seed})\n`);
      const tls = await selfSignedCertificate();
      const before = handles();
      const hub = new Hub();
      const servers: RxgiServer[] = await Promise.all([
        // A short idleTimeout makes the sweep that finds dead sessions (spec/http2.md §1) come often.
        serve(demo, { port: 0, hub, shutdownTimeout: DEADLINE, idleTimeout: 4_000 }),
        serve(demo, { port: 0, hub, shutdownTimeout: DEADLINE, idleTimeout: 4_000, tls }),
      ]);
      children.push(
        ...(await Promise.all([cli('apps/echo.ts'), cli('apps/echo.ts', '--tls-self-signed')])),
      );
      let died: string | null = null;
      for (const child of children) {
        child.exited.then((code) => {
          died ??= `rxgi serve exited with ${code}:\n${child.stderr()}`;
        });
      }
      const targets: ChaosTarget[] = [
        ...servers.map((server, i) => target(`demo ${i ? 'tls' : 'h2c'}`, server.url, 'demo')),
        ...children.map((child, i) => target(`echo ${i ? 'tls' : 'h2c'}`, child.url, 'echo')),
      ];
      const report = await runChaos({ targets, seed, milliseconds: SECONDS * 1_000, lanes: 12 });
      process.stderr.write(`chaos: ${JSON.stringify(report.actions)}, ${report.served} served\n`);

      for (const failure of report.failures.slice(0, 20))
        process.stderr.write(`chaos: ${failure}\n`);
      expect(died).toBeNull();
      expect(report.failures, `seed ${seed}`).toEqual([]);
      expect(report.served).toBeGreaterThan(0);
      // Every client has left: each closed connection lets go of its socket, address, groups.
      // A dead session is found by the sweep within idleTimeout (4 s here, spec/http2.md §1).
      await until(() => servers.every((server) => server.connections === 0), 10_000).catch(() => {
        expect(servers.map((server) => server.connections)).toEqual([0, 0]);
      });
      expect(hub.connections).toBe(0);
      expect(hub.members('chat')).toBe(0);
      // Shutdown is immediate: nothing is left for it to wait for.
      let started = Date.now();
      await Promise.all(servers.map((server) => server.close()));
      expect(Date.now() - started).toBeLessThan(1_000);
      // A client socket the server cut may take its linger second and a loaded machine's
      // scheduling to close: a leak stays past any wait, a slow close does not.
      await until(() => atMost(handles(), before), 6_000).catch(() => {
        expect(handles(), 'timers and sockets left behind').toEqual(before);
      });
      started = Date.now();
      for (const child of children) child.kill('SIGTERM');
      const codes = await Promise.all(children.map((child) => child.exited));
      expect(codes).toEqual([0, 0]);
      expect(Date.now() - started).toBeLessThan(DEADLINE / 2);
      for (const child of children) expect(child.stderr()).not.toContain('deadline passed');
    },
    SECONDS * 1_000 + 60_000,
  );
});

function target(name: string, url: string, app: 'demo' | 'echo'): ChaosTarget {
  return { name, url, port: Number(new URL(url).port), tls: url.startsWith('https'), app };
}
