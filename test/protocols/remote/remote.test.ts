/**
 * Remote workers: `serve(remoteApp(bus))` in this process, apps in workers on the bus. Real
 * sockets and clients throughout; across processes through a real redis-server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { Readable } from 'node:stream';
import type { App, Logger } from 'rxgi';
import { handle, logger, setLogger, text, upgrade } from 'rxgi';
import { Hub, MemoryBus } from 'rxgi/bus';
import { map, tap } from 'rxjs';
import { Client, request } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import echo from '../../../apps/echo.js';
import { type RedisBus, redisBus } from '../../../protocols/bus/redis.js';
import {
  type RemoteApp,
  type RemoteOptions,
  remoteApp,
} from '../../../protocols/remote/forward.js';
import { encodeEventFrame } from '../../../protocols/remote/frame.js';
import {
  type RemoteWorker,
  runWorker,
  type WorkerOptions,
} from '../../../protocols/remote/worker.js';
import { type Broker, startRedis } from '../../brokers.js';
import { closeServers, runCli, sleep, start, until } from '../../helpers.js';
import { closed, nextMessage, openWebSocket } from '../../ws-client.js';

const FAST: RemoteOptions & WorkerOptions = { heartbeat: 250, workerTimeout: 1_000 };
const MiB = 1024 * 1024;

const apps: RemoteApp[] = [];
const workers: RemoteWorker[] = [];

function remote(bus: MemoryBus | RedisBus, options: RemoteOptions = {}): RemoteApp {
  const app = remoteApp(bus, { ...FAST, ...options });
  apps.push(app);
  return app;
}

async function worker(app: App, bus: MemoryBus | RedisBus, options: WorkerOptions = {}) {
  const running = await runWorker(app, bus, { ...FAST, ...options });
  workers.push(running);
  return running;
}

afterEach(async () => {
  await closeServers();
  await Promise.all(workers.splice(0).map((w) => w.close(0)));
  for (const app of apps.splice(0)) app.close();
});

/** GET `path` on a connection of its own; the answer's status and text. */
async function get(url: string, path = '/'): Promise<{ status: number; body: string }> {
  const client = new Client(url);
  try {
    const res = await client.request({ method: 'GET', path });
    return { status: res.statusCode, body: await res.body.text() };
  } finally {
    await client.close();
  }
}

/** The status a WebSocket handshake is refused with. */
function refusedHandshake(url: string): Promise<number> {
  const ws = new WebSocket(url.replace('http', 'ws'));
  return new Promise((resolve, reject) => {
    ws.on('error', () => {}); // the refusal also fails the client once the response is dropped
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
    ws.once('open', () => reject(new Error('the handshake was accepted')));
  });
}

describe('remote workers on a memory bus', () => {
  it('finds the workers already running when it starts, without waiting for a heartbeat', async () => {
    const bus = new MemoryBus();
    await worker(echo, bus, { heartbeat: 60_000 });
    const app = remote(bus, { heartbeat: 60_000, workerTimeout: 120_000 });
    await until(() => app.workers === 1, 1_000);
    const server = await start(app);
    expect(await get(server.url)).toMatchObject({ status: 200 });
  });

  it('echoes a POST body and WebSocket messages through a worker', async () => {
    const bus = new MemoryBus();
    const app = remote(bus);
    await worker(echo, bus);
    await until(() => app.workers === 1);
    const server = await start(app);

    const res = await fetch(`${server.url}/echo`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'hello remote',
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('text/plain');
    expect(await res.text()).toBe('hello remote');

    const big = new Uint8Array(3 * MiB).map((_, i) => (i * 7) % 251);
    const large = await fetch(server.url, { method: 'POST', body: big });
    // Buffer.equals: a deep toEqual of 3 MiB, element by element, takes half a minute.
    expect(Buffer.from(await large.arrayBuffer()).equals(big)).toBe(true);

    const ws = await openWebSocket(server.url);
    const first = nextMessage(ws);
    ws.send('ping');
    expect(await first).toEqual({ data: Buffer.from('ping'), binary: false });
    const second = nextMessage(ws);
    ws.send(Buffer.from([0, 1, 2, 255]));
    expect(await second).toEqual({ data: Buffer.from([0, 1, 2, 255]), binary: true });
    const done = closed(ws);
    ws.close(1000, 'bye');
    expect((await done).code).toBe(1000);
  });

  it("sends a forwarding member's group messages from the server: none reach the worker", async () => {
    const bus = new MemoryBus();
    const hub = new Hub({ bus });
    const app = remote(bus);
    const mailed: unknown[] = [];
    await worker(
      handle((req) =>
        upgrade(() => {
          req.join('feed', undefined, { forward: true });
          return req.inbox.pipe(
            tap((mail) => mailed.push(mail)),
            map(() => 'mail'),
          );
        }),
      ),
      bus,
    );
    await until(() => app.workers === 1);
    const server = await start(app, { hub });
    const ws = await openWebSocket(server.url);
    await until(() => hub.members('feed') === 1);
    const got: string[] = [];
    ws.on('message', (data: Buffer) => got.push(data.toString()));
    for (let i = 0; i < 20; i++) hub.groupSend('elsewhere/1/1', 'feed', `tick ${i}`);
    await until(() => got.length === 20);
    expect(got).toEqual(Array.from({ length: 20 }, (_, i) => `tick ${i}`));
    expect(mailed).toEqual([]);
    ws.close();
  });

  it('answers 503 without a worker, and drops malformed frames with one log line each', async () => {
    const lines: string[] = [];
    const previous = logger();
    const capture: Logger = {
      error: (m) => lines.push(m),
      warn: (m) => lines.push(m),
      info: () => {},
      debug: () => {},
    };
    setLogger(capture);
    try {
      const bus = new MemoryBus();
      const app = remote(bus);
      const server = await start(app);
      const res = await fetch(server.url);
      expect(res.status).toBe(503);
      expect(await res.text()).toBe('Service Unavailable\n');
      expect(await refusedHandshake(server.url)).toBe(503);
      expect(app.stats.refused).toBe(2);

      const running = await worker(echo, bus);
      await until(() => app.workers === 1);
      for (const subject of [`rxgi.server.${app.id}`, `rxgi.worker.${running.id}`]) {
        bus.publish(subject, new Uint8Array([0xc1, 0xff, 0x00])); // not msgpack
        bus.publish(subject, new Uint8Array([0x93, 0x01, 0x02, 0x03])); // [1, 2, 3]
        bus.publish(subject, new TextEncoder().encode('hello'));
      }
      bus.publish('rxgi.workers', new Uint8Array([0x95, 0x01, 0x01, 0xa1, 0x2e, 0x00, 0xc0]));
      await sleep(20);
      expect(app.stats.dropped.malformed).toBe(4);

      const echoed = await fetch(server.url, { method: 'POST', body: 'still here' });
      expect(await echoed.text()).toBe('still here');
      expect(lines.filter((l) => l === 'remote: dropped a malformed frame')).toHaveLength(1);
      expect(lines.filter((l) => l === 'worker: dropped a malformed frame')).toHaveLength(1);
      expect(lines.filter((l) => l.includes('no worker is alive'))).toHaveLength(1);
    } finally {
      setLogger(previous);
    }
  });

  it('fails a connection whose frames the bus lost, rather than leave a hole in it', async () => {
    const bus = new MemoryBus();
    const app = remote(bus);
    await worker(echo, bus);
    await until(() => app.workers === 1);
    const server = await start(app);
    const ws = await openWebSocket(server.url);
    const reply = nextMessage(ws);
    ws.send('a');
    expect((await reply).data.toString()).toBe('a');

    // A frame out of sequence: the ones before it never arrived.
    const wsClosed = closed(ws);
    const event = { type: 'ws-message', stream: 1, data: 'x' } as const;
    bus.publish(`rxgi.server.${app.id}`, encodeEventFrame(`${app.id}.1`, 99, event));
    expect((await wsClosed).code).toBe(1011);
    expect(app.stats.lost).toBe(1);
    expect((await fetch(server.url, { method: 'POST', body: 'on' })).status).toBe(200);
  });

  it('drains a closing worker: its exchange finishes, new connections go elsewhere', async () => {
    const bus = new MemoryBus();
    const app = remote(bus);
    const named = (name: string) =>
      handle(async (req) => {
        if (req.path === '/slow') await sleep(400);
        return text(name);
      });
    const a = await worker(named('a'), bus);
    await until(() => app.workers === 1);
    const server = await start(app);
    const slow = get(server.url, '/slow'); // the only worker: it goes to a
    await until(() => a.connections === 1);
    await worker(named('b'), bus);
    await until(() => app.workers === 2);

    const closing = a.close(5_000);
    await sleep(50); // a's leaving announcement is on its way
    expect((await get(server.url)).body).toBe('b');
    expect(await slow).toEqual({ status: 200, body: 'a' });
    await closing;
    await until(() => app.workers === 1);
    expect((await get(server.url)).body).toBe('b');
  });
});

describe('remote workers across processes on redis', () => {
  let redis: Broker;
  let bus: RedisBus;
  const children: { process: ChildProcess; pid: number; log: () => string }[] = [];

  /** Start `test/fixtures/remote-worker.ts` and wait until it is on the bus. */
  function child(): Promise<(typeof children)[number]> {
    const proc = spawn(
      process.execPath,
      ['--import', 'tsx', 'test/fixtures/remote-worker.ts', redis.url, '250'],
      {
        cwd: new URL('../../..', import.meta.url).pathname,
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { ...process.env, RXGI_LOG: 'warn' },
      },
    );
    let log = '';
    proc.stderr?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
    });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`worker did not start:\n${log}`)), 20_000);
      proc.stdout?.once('data', (chunk: Buffer) => {
        clearTimeout(timer);
        const started = { process: proc, pid: JSON.parse(chunk.toString()).pid, log: () => log };
        children.push(started);
        resolve(started);
      });
      proc.once('exit', (code) => reject(new Error(`worker exited with ${code}:\n${log}`)));
    });
  }

  beforeAll(async () => {
    redis = await startRedis();
    bus = await redisBus(redis.url);
  });

  afterAll(async () => {
    for (const { process: proc } of children) if (proc.exitCode === null) proc.kill('SIGKILL');
    await bus?.close();
    await redis?.stop();
  });

  it('serves HTTP and WebSocket from two worker processes, spreading connections', async () => {
    const app = remote(bus);
    const [one, two] = await Promise.all([child(), child()]);
    await until(() => app.workers === 2, 10_000);
    const server = await start(app);

    const answers = await Promise.all(Array.from({ length: 20 }, () => get(server.url)));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    const count = (pid: number) => answers.filter((a) => a.body === String(pid)).length;
    expect(count(one.pid) + count(two.pid)).toBe(20);
    expect(count(one.pid)).toBeGreaterThanOrEqual(5);
    expect(count(two.pid)).toBeGreaterThanOrEqual(5);

    const ws = await openWebSocket(server.url);
    const reply = nextMessage(ws);
    ws.send('hi');
    const got = (await reply).data.toString();
    expect([`${one.pid}:hi`, `${two.pid}:hi`]).toContain(got);
    ws.close();
  });

  it('fails the streams of a killed worker: 502 before the head, 1011 on a WebSocket', async () => {
    const app = remote(bus);
    await until(() => app.workers === 2, 10_000);
    const server = await start(app);

    // A WebSocket and an HTTP connection on the same worker: the victim.
    const ws = await openWebSocket(server.url);
    const first = nextMessage(ws);
    ws.send('who');
    const victim = Number((await first).data.toString().split(':')[0]);
    const victimChild = children.find((c) => c.pid === victim)!;
    // Least load first: connections held open elsewhere make the next ones go to the victim.
    let client: Client | null = null;
    const others: Client[] = [];
    for (let i = 0; i < 10 && client === null; i++) {
      const candidate = new Client(server.url);
      const res = await candidate.request({ method: 'GET', path: '/' });
      if ((await res.body.text()) === String(victim)) client = candidate;
      else others.push(candidate);
    }
    expect(client).not.toBeNull();
    const hanging = client!.request({ method: 'GET', path: '/hang' });
    const wsClosed = closed(ws);
    await sleep(100); // the request reached the worker

    const killed = Date.now();
    victimChild.process.kill('SIGKILL');
    const res = await hanging;
    const waited = Date.now() - killed;
    expect(res.statusCode).toBe(502);
    expect(await res.body.text()).toBe('Bad Gateway\n');
    expect((await wsClosed).code).toBe(1011);
    console.info(`killed worker: its streams failed ${waited} ms later (workerTimeout 1000 ms)`);
    expect(waited).toBeLessThan(1_000 + 2_000);
    expect(waited).toBeGreaterThan(500); // it was the timeout, not something else
    await until(() => app.workers === 1);
    expect(app.stats.lost).toBeGreaterThanOrEqual(2);
    await Promise.all([client!, ...others].map((c) => c.close().catch(() => {})));

    // The survivor serves on; once it leaves gracefully, the next request gets a 503.
    const survivor = children.find((c) => c.pid !== victim)!;
    expect((await get(server.url)).body).toBe(String(survivor.pid));
    survivor.process.kill('SIGTERM');
    await until(() => app.workers === 0, 5_000);
    expect((await get(server.url)).status).toBe(503);
  });

  it('holds back a slow worker: the server reads an upload and the worker writes a download only as credit allows', async () => {
    const workerBus = await redisBus(redis.url);
    const options = { prefix: 'bp' };
    const app = remote(bus, options);
    let consumed = 0;
    let produced = 0;
    let slow = true;
    const chunk = new Uint8Array(64 * 1024).fill(120);
    const slowApp = handle(async (req) => {
      if (req.method === 'POST') {
        let size = 0;
        for await (const data of req.body) {
          consumed += data.byteLength;
          size += data.byteLength;
          if (slow) await sleep(50 * (data.byteLength / chunk.byteLength));
        }
        return text(String(size));
      }
      async function* download() {
        for (let i = 0; i < 1024; i++) {
          produced += chunk.byteLength;
          yield chunk;
        }
      }
      return { body: download() };
    });
    try {
      await worker(slowApp, workerBus, options);
      await until(() => app.workers === 1);
      const server = await start(app);

      // Upload 32 MiB to a worker reading 64 KiB every 50 ms.
      const total = 32 * MiB;
      const upload = request(`${server.url}/up`, {
        method: 'POST',
        body: Readable.from(
          (function* () {
            for (let sent = 0; sent < total; sent += chunk.byteLength) yield chunk;
          })(),
        ),
      });
      let ahead = 0;
      const started = Date.now();
      while (Date.now() - started < 2_000) {
        ahead = Math.max(ahead, app.stats.bytesToWorkers - consumed);
        await sleep(20);
      }
      const forwarded = app.stats.bytesToWorkers;
      slow = false;
      const answer = await upload;
      expect(await answer.body.text()).toBe(String(total));
      console.info(
        `upload: in 2 s the server forwarded ${forwarded} bytes, at most ${ahead} ahead of the worker`,
      );
      expect(ahead).toBeLessThan(MiB);
      expect(forwarded).toBeLessThan(8 * MiB); // about what the worker read: nowhere near 32 MiB

      // Download 64 MiB to a client that does not read.
      const download = request(`${server.url}/down`);
      let inFlight = 0;
      const begun = Date.now();
      while (Date.now() - begun < 1_500) {
        inFlight = Math.max(inFlight, produced - app.stats.bytesFromWorkers);
        await sleep(10);
      }
      expect((await download).statusCode).toBe(200);
      const plateau = produced;
      await sleep(500);
      console.info(
        `download: the worker produced ${produced} bytes of 64 MiB (${plateau} 0.5 s earlier), at most ${inFlight} in flight on the bus`,
      );
      expect(produced).toBe(plateau); // held back: no credit, no output
      expect(produced).toBeLessThan(32 * MiB);
      expect(inFlight).toBeLessThan(MiB);
      (await download).body.destroy();
    } finally {
      await closeServers();
      await Promise.all(workers.splice(0).map((w) => w.close(0)));
      await workerBus.close();
    }
  });
});

describe('rxgi serve --remote and rxgi worker', () => {
  let redis: Broker;

  beforeAll(async () => {
    redis = await startRedis();
  });

  afterAll(async () => {
    await redis?.stop();
  });

  it('serves apps/echo.ts from a worker process; both stop on SIGTERM with status 0', async () => {
    const server = await runCli(['serve', '--remote', '--bus', redis.url, '--port', '0']);
    const worker = await runCli(['worker', 'apps/echo.ts', '--bus', redis.url], /rxgi worker \S+/);
    try {
      // The server learns of the worker from its first heartbeat; until then it answers 503.
      let answer = { status: 0, body: '' };
      for (let tries = 0; answer.status !== 200 && tries < 100; tries++) {
        if (tries > 0) await sleep(100);
        const response = await request(`${server.url}/`, { method: 'POST', body: 'over redis' });
        answer = { status: response.statusCode, body: await response.body.text() };
      }
      expect(answer).toEqual({ status: 200, body: 'over redis' });
      const ws = await openWebSocket(server.url);
      const reply = nextMessage(ws);
      ws.send('and a message');
      expect((await reply).data.toString()).toBe('and a message');
      ws.close();
      await closed(ws);
    } finally {
      worker.kill('SIGTERM');
      server.kill('SIGTERM');
    }
    expect(await worker.exited).toBe(0);
    expect(await server.exited).toBe(0);
  });

  it('refuses --remote without --bus, with a module, and worker without --bus (exit 2)', async () => {
    for (const argv of [
      ['serve', '--remote'],
      ['serve', 'apps/echo.ts', '--remote', '--bus', redis.url],
      ['worker', 'apps/echo.ts'],
    ]) {
      const child = spawn(process.execPath, ['dist/protocols/cli/main.js', ...argv], {
        cwd: new URL('../../..', import.meta.url).pathname,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      child.stderr.on('data', (chunk: Buffer) => {
        log += chunk.toString();
      });
      const code = await new Promise((resolve) => child.on('exit', resolve));
      expect(code).toBe(2);
      expect(log).toMatch(/needs --bus URL|takes no module/);
    }
  });
});
