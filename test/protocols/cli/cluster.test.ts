/**
 * `rxgi serve --workers N` with real processes: the built CLI forks real workers that share one
 * port, and real WebSocket clients on different workers chat through the embedded cluster bus,
 * a real redis-server and a real nats-server. Run `npm run build` first (the CLI runs from dist).
 */
import { execFile } from 'node:child_process';
import { get } from 'node:http';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Broker, startNats, startRedis } from '../../brokers.js';
import { alive, type Child, cli, until } from '../../helpers.js';

const run = promisify(execFile);
const APP = 'test/fixtures/cluster-chat.ts';

let child: Child | null = null;
const sockets: WebSocket[] = [];
afterEach(() => {
  for (const ws of sockets.splice(0)) ws.terminate();
  // node:cluster ends the workers of a primary that is gone.
  child?.kill('SIGKILL');
  child = null;
});

/** A chat client of the fixture, with the pid of the worker serving it and what it heard. */
interface Client {
  ws: WebSocket;
  pid: number;
  heard: { from: number; text: string }[];
  closed: Promise<number>;
}

function chat(url: string): Promise<Client> {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/chat`);
  sockets.push(ws);
  const heard: Client['heard'] = [];
  const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    // Listening before `open`: the fixture's first message may come with the handshake.
    ws.on('message', (data: Buffer) => {
      const message = JSON.parse(data.toString());
      if (typeof message.pid === 'number') resolve({ ws, pid: message.pid, heard, closed });
      else heard.push(message);
    });
    ws.once('error', reject);
  });
}

/** One client on each of two workers (round-robin spreads connections), not on `avoid`. */
async function spread(url: string, avoid: number[] = []): Promise<[Client, Client]> {
  const byPid = new Map<number, Client>();
  for (let i = 0; i < 12 && byPid.size < 2; i++) {
    const client = await chat(url);
    if (!avoid.includes(client.pid) && !byPid.has(client.pid)) byPid.set(client.pid, client);
  }
  expect(byPid.size).toBe(2);
  return [...byPid.values()] as [Client, Client];
}

/**
 * `from` says something until `to` hears it: a group subscription takes a round trip to reach
 * the primary or the broker, and what is published before it is not delivered (at most once).
 */
async function delivers(from: Client, to: Client): Promise<void> {
  const text = `hello from ${from.pid} ${Math.random()}`;
  const heard = () => to.heard.some((m) => m.text === text && m.from === from.pid);
  from.ws.send(text);
  const again = setInterval(() => from.ws.send(text), 200);
  try {
    await until(heard, 10_000);
  } finally {
    clearInterval(again);
  }
}

/** The pid of the worker answering `/pid` on a new connection. */
function pidOf(url: string): Promise<number> {
  return new Promise((resolve, reject) => {
    get(`${url}/pid`, { agent: false }, (response) => {
      let body = '';
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => resolve(Number(body)));
    }).on('error', reject);
  });
}

describe('the embedded cluster bus between real processes', () => {
  it('relays in order, includes the sender, bounds memory both ways, forgets the dead', async () => {
    const { stdout, stderr } = await run(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/cluster-bus.ts'],
      { env: { ...process.env, RXGI_LOG: 'warn' }, timeout: 30_000 },
    );
    const r = JSON.parse(stdout);
    // 1000 payloads from b arrive in order at a and at b itself.
    expect(r.order).toMatchObject({ published: 1000, dropped: 0, small: 1000, inOrder: true });
    expect(r.orderAtA).toEqual({ small: 1000, inOrder: true, big: 0, bytes: true });
    // 4 MiB published at once past b's 1 MiB bound: the excess is dropped, not queued.
    expect(r.flood.dropped).toBeGreaterThan(0);
    expect(r.flood.published + r.flood.dropped).toBe(32);
    expect(r.floodAtA).toMatchObject({ big: r.flood.published, bytes: true });
    // Each payload the worker's channel refused is reported to the publisher: `full`.
    expect(r.flood.full).toBe(r.flood.dropped);
    // a stuck in a loop: the relay holds 1 MiB for it and drops the rest; b is unaffected.
    expect(r.paced).toMatchObject({ published: 24, dropped: 0, big: 24 });
    expect(r.relayDropped).toBeGreaterThan(0);
    expect(r.pacedAtA.big + r.relayDropped).toBe(24);
    // What the relay could not give a: given back to b as `full`, as far as b's bound allows.
    expect(r.paced.full).toBeGreaterThan(0);
    expect(r.paced.full).toBe(r.relayBounced);
    // Nobody subscribed: `gone` when asked (three, and the hub's send), not otherwise; the
    // hub's send to an address of no process gets `undelivered` with reason gone.
    expect(r.gone).toMatchObject({ gone: 4, full: 0 });
    expect(r.gone.reports).toEqual([{ stream: 1, to: 'ffffffffffff/c/1', reason: 'gone' }]);
    expect(r.gone.hubBounced).toEqual({ full: 0, gone: 1 });
    // a killed: its subscription went with it; b's publishes reach b alone.
    expect(r.afterDeath).toMatchObject({ published: 1000, small: 1000, inOrder: true });
    expect(r.relayAfterDeath).toEqual({ relayed: 1000, dropped: 0, bounced: 0 });
    // A subject only the dead worker had: the publisher hears it is gone.
    expect(r.vanished).toMatchObject({ published: 1, gone: 1, full: 0 });
    // Each kind of drop is logged once, with its count, not once per payload.
    expect(stderr.match(/IPC to the primary backed up/g)).toHaveLength(1);
    expect(stderr.match(/a worker is not reading its IPC/g)).toHaveLength(1);
  });
});

describe('rxgi serve --workers 2', () => {
  it('shares one port; chat crosses workers on the embedded cluster bus (no broker)', async () => {
    child = await cli(APP, '--workers', '2');
    expect(child.stderr()).toMatch(
      /rxgi serving .* on http:\/\/127\.0\.0\.1:\d+ .* with 2 workers, hub the cluster bus/,
    );
    // Plain HTTP on new connections alternates between the two workers on the same port.
    const pids = new Set<number>();
    for (let i = 0; i < 6 && pids.size < 2; i++) pids.add(await pidOf(child.url));
    expect(pids.size).toBe(2);
    expect(pids.has(child.pid)).toBe(false);
    const [a, b] = await spread(child.url);
    await delivers(a, b);
    await delivers(b, a);
    // The publisher's own worker delivers to it too: the relay includes the sender.
    expect(a.heard.some((m) => m.from === a.pid)).toBe(true);
  });

  describe('on brokers', () => {
    let redis: Broker;
    let nats: Broker;
    beforeAll(async () => {
      [redis, nats] = await Promise.all([startRedis(), startNats()]);
    });
    afterAll(async () => {
      await Promise.all([redis?.stop(), nats?.stop()]);
    });

    it('chat crosses workers through --bus redis://', async () => {
      child = await cli(APP, '--workers', '2', '--bus', redis.url);
      const [a, b] = await spread(child.url);
      await delivers(a, b);
      await delivers(b, a);
    });

    it('chat crosses workers through --bus nats://', async () => {
      child = await cli(APP, '--workers', '2', '--bus', nats.url);
      const [a, b] = await spread(child.url);
      await delivers(a, b);
      await delivers(b, a);
    });

    it('honours --bus without --workers: one process, its hub on the broker', async () => {
      child = await cli(APP, '--bus', nats.url);
      expect(child.stderr()).toMatch(/with 1 process, hub nats:/);
      const a = await chat(child.url);
      const b = await chat(child.url);
      // The server is the one child the CLI supervises.
      expect(a.pid).toBe(child.server);
      expect(b.pid).toBe(child.server);
      expect(child.server).not.toBe(child.pid);
      await delivers(a, b);
    });
  });

  it('shuts down on SIGTERM: WebSockets on every worker get 1001, all processes exit 0', async () => {
    child = await cli(APP, '--workers', '2');
    const [a, b] = await spread(child.url);
    child.kill('SIGTERM');
    expect(await Promise.all([a.closed, b.closed])).toEqual([1001, 1001]);
    // The primary exits 0 only when every worker did.
    expect(await child.exited).toBe(0);
    expect(alive(a.pid) || alive(b.pid)).toBe(false);
    child = null;
  });

  it('replaces a worker killed with SIGKILL; the survivors keep serving and chatting', async () => {
    child = await cli(APP, '--workers', '2');
    const current = child;
    const [victim, survivor] = await spread(current.url);
    process.kill(victim.pid, 'SIGKILL');
    expect(await victim.closed).toBe(1006);
    const died = `server process ${victim.pid} died (killed by SIGKILL); starting another`;
    await until(() => current.stderr().includes(died), 10_000);
    const line = current
      .stderr()
      .split('\n')
      .find((l) => l.includes(died));
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', pid: victim.pid, signal: 'SIGKILL' });
    // New connections reach the survivor and, once it listens, the replacement.
    const seen = new Set<number>();
    const end = Date.now() + 15_000;
    while (![...seen].some((pid) => pid !== survivor.pid) && Date.now() < end) {
      // Connections handed to the dead worker as it died may fail: those are retried.
      const pid = await pidOf(current.url).catch(() => null);
      if (pid !== null) seen.add(pid);
    }
    const replacement = [...seen].find((pid) => pid !== survivor.pid);
    expect(replacement).toBeDefined();
    expect(seen.has(victim.pid)).toBe(false);
    const [c, d] = await spread(current.url, [victim.pid]);
    expect([c.pid, d.pid].sort()).toEqual([survivor.pid, replacement].sort());
    await delivers(c, d);
    await delivers(d, c);
  });

  it('refuses a bad --bus scheme or --workers value with status 2 and a message', async () => {
    const refuse = (...args: string[]) =>
      run(process.execPath, [
        'dist/protocols/cli/main.js',
        'serve',
        APP,
        '--port',
        '0',
        ...args,
      ]).then(
        () => ({ code: 0, stderr: '' }),
        (error: { code: number; stderr: string }) => error,
      );
    const [scheme, workers] = await Promise.all([
      refuse('--workers', '2', '--bus', 'amqp://127.0.0.1:5672'),
      refuse('--workers', 'two'),
    ]);
    expect(scheme.code).toBe(2);
    expect(scheme.stderr).toMatch(
      /unsupported bus URL scheme amqp:.*redis:\/\/, rediss:\/\/, nats:\/\//,
    );
    expect(workers.code).toBe(2);
    expect(workers.stderr).toMatch(/--workers must be a whole number of at least 1/);
  });

  it('exits 1 with the reason, once, when the workers cannot start the module', async () => {
    const result = await run(process.execPath, [
      'dist/protocols/cli/main.js',
      'serve',
      'test/fixtures/not-an-app.mjs',
      '--port',
      '0',
      '--workers',
      '2',
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 1 });
    const { stderr } = result as { stderr: string };
    expect(stderr.match(/must export an rxgi app/g)).toHaveLength(1);
  });
});
