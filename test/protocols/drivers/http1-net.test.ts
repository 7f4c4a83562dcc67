// The HTTP/1.1 driver on node:net (protocols/drivers/http1-net.ts), serve's default: what it
// does where node:http did it for the other driver, against hostile clients above all. The
// shared HTTP/1.1 suites run on it too (and again on node:http: vitest.config.ts).

import { type AddressInfo, connect, createServer, type Socket } from 'node:net';
import type { InboundEvent } from 'rxgi';
import { handle, text, upgrade } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { closeServers, raw, rawTimed, sleep, start, statusOf, until } from '../../helpers.js';

afterEach(closeServers);

const hello = handle(() => text('hello'));

/** Open a raw connection; resolves once connected. */
function open(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => resolve(socket));
    socket.on('error', reject);
  });
}

/** Everything `socket` receives until it closes (or `idle` ms pass with nothing). */
function received(socket: Socket, idle = 2_000): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    let timer = setTimeout(() => resolve(text), idle);
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      text += chunk;
      clearTimeout(timer);
      timer = setTimeout(() => resolve(text), idle);
    });
    socket.on('close', () => {
      clearTimeout(timer);
      resolve(text);
    });
    socket.on('error', () => {});
  });
}

describe('HTTP/1.1 on node:net: heads', () => {
  it('refuses an HTTP/1.1 request without Host with 400; HTTP/1.0 needs none', async () => {
    const server = await start(hello);
    const missing = await raw(server.port, 'GET / HTTP/1.1\r\n\r\n');
    expect(statusOf(missing)).toBe(400);
    expect(missing).toContain('the request has no Host field');
    expect(missing).toMatch(/connection: close/i);
    expect(statusOf(await raw(server.port, 'GET / HTTP/1.0\r\n\r\n'))).toBe(200);
  });

  it('refuses a body whose transfer coding does not end in chunked (RFC 9112 §6.3), the app not called', async () => {
    const seen: InboundEvent[] = [];
    const server = await start((events) => {
      events.subscribe((event) => seen.push(event));
      return hello(events, undefined as never);
    });
    const answer = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc',
    );
    expect(statusOf(answer)).toBe(400);
    expect(answer).toContain('transfer coding other than chunked');
    expect(seen.filter((event) => event.type === 'request')).toEqual([]);
  });

  it('answers 431 to a head that outgrows maxHeaderSize before its end arrives', async () => {
    const server = await start(hello, { maxHeaderSize: 4_096 });
    const socket = await open(server.port);
    const answer = received(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\nX-Long: ');
    // A value that never ends: the answer comes while the client is still sending it.
    for (let i = 0; i < 8 && !socket.destroyed; i++) {
      socket.write('a'.repeat(1_024));
      await sleep(10);
    }
    const text = await answer;
    expect(statusOf(text)).toBe(431);
    expect(text).toContain('the request head is larger than 4096 bytes');
    socket.destroy();
  });

  it('answers 431 to fields past maxHeaderFields as they arrive', async () => {
    const server = await start(hello, { maxHeaderFields: 10 });
    const socket = await open(server.port);
    const answer = received(socket);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    for (let i = 0; i < 20 && !socket.destroyed; i++) socket.write(`x-${i}: ${i}\r\n`);
    const text = await answer;
    expect(statusOf(text)).toBe(431);
    expect(text).toContain('more than 10 header fields');
    socket.destroy();
  });

  it('answers garbage with 400 and goes on serving other connections', async () => {
    const server = await start(hello);
    const garbage = await raw(server.port, Buffer.from([0, 1, 2, 3, 255, 13, 10, 13, 10]));
    expect(statusOf(garbage)).toBe(400);
    const response = await fetch(server.url);
    expect(await response.text()).toBe('hello');
  });

  it('hands an HTTP/2 preface that arrives a byte at a time to HTTP/2', async () => {
    const server = await start(hello);
    // A relay that passes the client's first 24 bytes (the preface) on one at a time.
    const relay = createServer((client) => {
      const upstream = connect(server.port, '127.0.0.1');
      upstream.setNoDelay(true);
      upstream.pipe(client);
      let sent = 0;
      const queue: Buffer[] = [];
      let pumping = false;
      const pump = async () => {
        if (pumping) return;
        pumping = true;
        while (queue.length > 0) {
          const chunk = queue.shift() as Buffer;
          let at = 0;
          while (sent < 24 && at < chunk.length) {
            upstream.write(chunk.subarray(at, at + 1));
            sent++;
            at++;
            await sleep(2);
          }
          if (at < chunk.length) upstream.write(chunk.subarray(at));
        }
        pumping = false;
      };
      client.on('data', (chunk: Buffer) => {
        queue.push(chunk);
        void pump();
      });
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    const { port } = relay.address() as AddressInfo;
    const client = await session(`http://127.0.0.1:${port}`);
    try {
      const response = await exchange(client, { ':path': '/' });
      expect(response.body.toString()).toBe('hello');
    } finally {
      client.close();
      relay.close();
    }
  });
});

describe('HTTP/1.1 on node:net: one exchange at a time', () => {
  it('reads a pipelined request only once the response before it is complete', async () => {
    const order: string[] = [];
    const server = await start(
      handle(async (req) => {
        order.push(`request ${req.path}`);
        if (req.path === '/slow') await sleep(100);
        order.push(`answer ${req.path}`);
        return text(req.path);
      }),
    );
    const answer = await rawTimed(
      server.port,
      [
        'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
      ],
      1_000,
    );
    expect(order).toEqual(['request /slow', 'answer /slow', 'request /next', 'answer /next']);
    expect(answer.indexOf('/slow')).toBeLessThan(answer.indexOf('/next'));
  });

  it('holds no more than a read of pipelined requests while the app keeps the first unanswered', async () => {
    let requests = 0;
    const server = await start(
      handle(() => {
        requests++;
        return new Promise<never>(() => {});
      }),
    );
    const socket = await open(server.port);
    socket.on('error', () => {});
    const one = 'GET / HTTP/1.1\r\nHost: x\r\n\r\n';
    // 16 MiB of requests: the server stops reading (TCP pushes back), and reads one.
    const block = one.repeat(Math.ceil(65_536 / one.length));
    let written = 0;
    while (written < 16 * 1024 * 1024 && socket.write(block)) written += block.length;
    await sleep(300);
    expect(requests).toBe(1);
    expect(written).toBeLessThan(16 * 1024 * 1024);
    socket.destroy();
  });

  it('closes an idle keep-alive connection after keepAliveTimeout', async () => {
    const server = await start(hello, { keepAliveTimeout: 300, headersTimeout: 400 });
    const socket = await open(server.port);
    const answer = received(socket, 5_000);
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const started = Date.now();
    const text = await answer;
    expect(statusOf(text)).toBe(200);
    // The keep-alive time, and at most a tick of the clock more.
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('answers a head that takes longer than headersTimeout with 408, and closes a silent connection', async () => {
    const server = await start(hello, { headersTimeout: 300 });
    const slow = await open(server.port);
    const answer = received(slow, 5_000);
    slow.write('GET / HTTP/1.1\r\nHo');
    const silent = await open(server.port);
    const nothing = received(silent, 5_000);
    expect(statusOf(await answer)).toBe(408);
    expect(await nothing).toBe('');
    await until(() => server.connections === 0);
  });
});

describe('HTTP/1.1 on node:net: the wire', () => {
  it('fails a response with a field value it cannot write with 500, and keeps the connection', async () => {
    const server = await start(
      handle((req) =>
        req.path === '/bad'
          ? { status: 200, headers: ['x-bad', 'a\r\nset-cookie: evil'], body: 'no' }
          : text('fine'),
      ),
    );
    const answer = await raw(
      server.port,
      'GET /bad HTTP/1.1\r\nHost: x\r\n\r\nGET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n',
    );
    expect(statusOf(answer)).toBe(500);
    expect(answer).not.toContain('evil');
    expect(answer).toContain('fine');
  });

  it('hands the bytes sent with a WebSocket handshake to the session', async () => {
    const server = await start(handle(() => upgrade((messages) => messages)));
    const socket = await open(server.port);
    const answer = received(socket, 500);
    // A masked text frame "hi" (RFC 6455 §5.2) in the handshake's own packet, as a client may
    // send it once its head is out.
    const mask = [1, 2, 3, 4];
    const payload = Buffer.from('hi').map((byte, i) => byte ^ mask[i % 4]);
    const frame = Buffer.concat([Buffer.from([0x81, 0x80 | 2, ...mask]), payload]);
    const head =
      'GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
      'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n';
    socket.write(Buffer.concat([Buffer.from(head), frame]));
    const text = await answer;
    expect(text).toMatch(/^HTTP\/1.1 101 /);
    // The echo: an unmasked text frame "hi".
    expect(text.endsWith('\x81\x02hi')).toBe(true);
    socket.destroy();
  });
});
