import { readFileSync } from 'node:fs';
import { constants } from 'node:http2';
import { handle, text } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { type Child, cli, closeServers, sleep, start } from '../../helpers.js';

let child: Child | null = null;
afterEach(async () => {
  child?.kill('SIGKILL');
  child = null;
  await closeServers();
});

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

describe('HTTP/2 limits', () => {
  // 64 bytes a round trip: 10 MB take ~160,000 WINDOW_UPDATEs, 20-30 s on a 2-core machine.
  it('sends a complete 10 MB response to a client with a 64-byte window, with bounded memory', async () => {
    child = await cli('test/fixtures/big-download.ts');
    const pid = child.server;
    const client = await session(child.url, { settings: { initialWindowSize: 64 } });
    await exchange(client, { ':path': '/?mb=1' }); // warm up
    const base = rss(pid);
    let peak = base;
    const stream = client.request({ ':path': '/?mb=10' });
    let received = 0;
    stream.on('data', (chunk: Buffer) => {
      received += chunk.byteLength;
    });
    const done = new Promise((resolve) => stream.on('close', resolve));
    const sampler = setInterval(() => {
      peak = Math.max(peak, rss(pid));
    }, 20);
    try {
      await done;
    } finally {
      clearInterval(sampler);
      client.close();
    }
    expect(received).toBe(10 * 1024 * 1024);
    // The driver holds one 64 KiB window and node:http2's stream buffer per stream; a server
    // that buffered the response would grow by the whole 10 MB and more.
    expect(peak - base).toBeLessThan(8 * 1024 * 1024);
  }, 90_000);

  it('keeps serving other clients while one opens and cancels 10,000 streams (rapid reset)', async () => {
    const server = await start(handle(() => text('ok')));
    const attacker = await session(server.url);
    attacker.on('error', () => {});
    let opened = 0;
    for (let i = 0; i < 10_000 && !attacker.destroyed && !attacker.closed; i++) {
      const stream = attacker.request({ ':path': '/' });
      stream.on('error', () => {});
      stream.close(constants.NGHTTP2_CANCEL);
      opened++;
    }
    expect(opened).toBeGreaterThan(1_000);
    const other = await session(server.url);
    const started = Date.now();
    const response = await exchange(other, { ':path': '/' });
    expect([response.status, response.body.toString()]).toEqual([200, 'ok']);
    expect(Date.now() - started).toBeLessThan(2_000);
    other.close();
    attacker.destroy();
    await sleep(50);
  });

  it('advertises maxConcurrentStreams, and a client queues streams beyond it', async () => {
    const server = await start(
      handle(async () => {
        await sleep(200);
        return text('ok');
      }),
      { maxConcurrentStreams: 2 },
    );
    const client = await session(server.url);
    expect(client.remoteSettings.maxConcurrentStreams).toBe(2);
    const answers = await Promise.all([1, 2, 3].map(() => exchange(client, { ':path': '/' })));
    // node's client queues the third stream until a slot frees; all complete.
    expect(answers.map((a) => a.status)).toEqual([200, 200, 200]);
    client.close();
  });

  it('closes a session idle for idleTimeout, and not one with a stream open', async () => {
    const server = await start(
      handle(async (req) => {
        if (req.path === '/slow') await sleep(600);
        return text('ok');
      }),
      { idleTimeout: 200 },
    );
    const idle = await session(server.url);
    const busy = await session(server.url);
    const idleClosed = new Promise((resolve) => idle.once('close', resolve));
    const slow = exchange(busy, { ':path': '/slow' });
    const started = Date.now();
    await idleClosed;
    expect(Date.now() - started).toBeLessThan(500);
    expect((await slow).body.toString()).toBe('ok');
    busy.close();
  });
});
