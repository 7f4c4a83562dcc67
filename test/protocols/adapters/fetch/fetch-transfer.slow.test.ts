import { once } from 'node:events';
import { createServer, get } from 'node:http';
import type { AddressInfo } from 'node:net';
import { serve } from 'rxgi';
import { fromFetch } from 'rxgi/fetch';
import { describe, expect, it } from 'vitest';
import { session } from '../../../h2client.js';

interface Counter {
  pulled: number;
  received: number;
  ahead: number;
}

/** Read `url` over HTTP/1.1 with a pause after every chunk; the most `pulled` ran ahead. */
function slowHttp1(url: string, counter: Counter): Promise<number> {
  counter.received = 0;
  counter.ahead = 0;
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      res.on('data', (data: Buffer) => {
        counter.received += data.byteLength;
        counter.ahead = Math.max(counter.ahead, counter.pulled - counter.received);
        res.pause();
        setTimeout(() => res.resume(), 1);
      });
      res.on('end', () => resolve(counter.ahead));
      res.on('error', reject);
    }).on('error', reject);
  });
}

/** The same over HTTP/2. */
async function slowHttp2(url: string, path: string, counter: Counter): Promise<number> {
  counter.received = 0;
  counter.ahead = 0;
  const client = await session(url);
  try {
    const stream = client.request({ ':path': path });
    stream.on('data', (data: Buffer) => {
      counter.received += data.byteLength;
      counter.ahead = Math.max(counter.ahead, counter.pulled - counter.received);
      stream.pause();
      setTimeout(() => stream.resume(), 1);
    });
    await once(stream, 'end');
    return counter.ahead;
  } finally {
    client.close();
  }
}

describe('fromFetch: large bodies', () => {
  it('pulls a 50 MB body only as fast as a slow client reads it', { timeout: 60_000 }, async () => {
    const total = 50 * 1024 * 1024;
    const chunk = new Uint8Array(65_536).fill(97);
    const counter = { pulled: 0, received: 0, ahead: 0 };
    const server = await serve(
      fromFetch(() => {
        counter.pulled = 0;
        return new Response(
          new ReadableStream<Uint8Array>({
            pull(controller) {
              if (counter.pulled >= total) {
                controller.close();
                return;
              }
              counter.pulled += chunk.byteLength;
              controller.enqueue(chunk);
            },
          }),
          { headers: { 'content-type': 'application/octet-stream' } },
        );
      }),
      { port: 0, shutdownTimeout: 2_000 },
    );
    // The kernel's socket buffers hold megabytes on loopback whatever the server does, and their
    // autotuning differs from one connection to the next: measure them with a plain node:http
    // server that honours backpressure, and allow 4 MB beyond (a fraction of the 50 MB body).
    const plain = createServer((_req, res) => {
      counter.pulled = 0;
      const pump = () => {
        while (counter.pulled < total) {
          counter.pulled += chunk.byteLength;
          if (!res.write(chunk)) {
            res.once('drain', pump);
            return;
          }
        }
        res.end();
      };
      pump();
    }).listen(0, '127.0.0.1');
    await once(plain, 'listening');
    try {
      const kernel = await slowHttp1(
        `http://127.0.0.1:${(plain.address() as AddressInfo).port}/`,
        counter,
      );
      const http1 = await slowHttp1(`${server.url}/big`, counter);
      expect(counter.received).toBe(total);
      expect(counter.pulled).toBe(total);
      expect(http1).toBeLessThan(kernel + 4 * 1024 * 1024);
      // HTTP/2 flow control keeps the kernel out of it: the bound is absolute there.
      const http2 = await slowHttp2(server.url, '/big', counter);
      expect(counter.received).toBe(total);
      expect(http2).toBeLessThan(2 * 1024 * 1024);
    } finally {
      plain.close();
      await server.close();
    }
  });
});
