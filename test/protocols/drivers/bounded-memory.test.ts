import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { type Child, cli, sleep } from '../../helpers.js';

/**
 * 200 MB through a server whose other end is slow: the server must not buffer it. Each server
 * runs in its own process so its resident memory can be read from /proc. The driver's own bound
 * is about 200 KiB per stream (one 64 KiB window, one socket read, node's stream buffers); the
 * assertion allows 96 MiB of growth for V8's heap and garbage not yet collected. A server that
 * buffered would grow by the whole 200 MB.
 */
const TOTAL = 200 * 1024 * 1024;
const GROWTH_LIMIT = 96 * 1024 * 1024;

let child: Child | null = null;
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

function rss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) * 1024;
}

/** Sample the child's RSS until `work` settles; returns the peak growth over `base`. */
async function peakGrowth(pid: number, work: Promise<unknown>): Promise<number> {
  const base = rss(pid);
  let peak = base;
  let done = false;
  void work.finally(() => {
    done = true;
  });
  while (!done) {
    peak = Math.max(peak, rss(pid));
    await sleep(20);
  }
  await work;
  return peak - base;
}

async function warm(port: number, path: string): Promise<void> {
  await (
    await fetch(`http://127.0.0.1:${port}${path}`, { method: 'POST', body: 'x'.repeat(100_000) })
  ).text();
}

describe('bounded memory', () => {
  it('reads a 200 MB upload only as fast as a slow app consumes it', {
    timeout: 120_000,
  }, async () => {
    child = await cli('test/fixtures/slow-reader.ts', '--max-body-size', String(TOTAL));
    await warm(child.port, '/');
    const upload = new Promise<string>((resolve, reject) => {
      const socket = connect(child!.port, '127.0.0.1');
      let answer = '';
      socket.on('data', (chunk) => {
        answer += chunk.toString();
        if (/\r\n\r\n\d+$/.test(answer)) {
          socket.end();
          resolve(answer.slice(answer.lastIndexOf('\r\n') + 2));
        }
      });
      socket.on('error', reject);
      socket.write(`POST / HTTP/1.1\r\nHost: x\r\nContent-Length: ${TOTAL}\r\n\r\n`);
      const chunk = Buffer.alloc(65_536, 97);
      let sent = 0;
      const pump = () => {
        while (sent < TOTAL) {
          sent += chunk.byteLength;
          if (!socket.write(chunk)) {
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    const growth = await peakGrowth(child.server, upload);
    expect(await upload).toBe(String(TOTAL));
    expect(growth).toBeLessThan(GROWTH_LIMIT);
  });

  it('writes a 200 MB download only as fast as a slow client reads it', {
    timeout: 120_000,
  }, async () => {
    child = await cli('test/fixtures/big-download.ts');
    await (await fetch(`${child.url}/?mb=1`)).arrayBuffer();
    const download = new Promise<number>((resolve, reject) => {
      const socket = connect(child!.port, '127.0.0.1');
      let received = 0;
      socket.on('data', (chunk) => {
        received += chunk.byteLength;
        // A slow reader: a pause after every read.
        socket.pause();
        setTimeout(() => socket.resume(), 1);
        if (received >= TOTAL) {
          socket.destroy();
          resolve(received);
        }
      });
      socket.on('error', reject);
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    });
    const growth = await peakGrowth(child.server, download);
    expect(await download).toBeGreaterThanOrEqual(TOTAL);
    expect(growth).toBeLessThan(GROWTH_LIMIT);
  });
});
