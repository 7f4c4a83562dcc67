// `handle` bodies of every streaming kind over real sockets (HTTP/1.1 and h2c): response bodies
// as async iterables, Observables, node Readables and web ReadableStreams, request bodies read
// as the same; chunks pass through as the buffers they are, and a source is read no faster
// than the client takes the answer.
import http from 'node:http';
import { connect } from 'node:net';
import { Readable } from 'node:stream';
import type { App, OutboundEvent, Reply } from 'rxgi';
import { handle, logger, setLogger } from 'rxgi';
import { from, tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../h2client.js';
import { closeServers, start } from '../helpers.js';

afterEach(closeServers);

const MiB = 1 << 20;
const CHUNK = 65_536;

/** `count` distinct 64 KiB buffers, each filled with its index. */
function chunks(count: number): Buffer[] {
  return Array.from({ length: count }, (_, i) => Buffer.alloc(CHUNK, i % 251));
}

/** The app, with every outbound `data` chunk recorded (the chunks the driver was handed). */
function recording(app: App, sent: unknown[]): App {
  return (events, connection) =>
    app(events, connection).pipe(
      tap((event: OutboundEvent) => {
        if (event.type === 'data' && event.chunk.length > 0) sent.push(event.chunk);
      }),
    );
}

/** GET over HTTP/1.1; the whole body. */
function get(port: number, path: string): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      })
      .on('error', reject);
  });
}

/** POST `body` over HTTP/1.1; the whole response body. */
function post(port: number, path: string, body: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, path, method: 'POST', agent: false },
      (res) => {
        const parts: Buffer[] = [];
        res.on('data', (part: Buffer) => parts.push(part));
        res.on('end', () => resolve(Buffer.concat(parts)));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const KINDS: Record<string, (source: Buffer[]) => Reply['body']> = {
  'async iterable': (source) =>
    (async function* () {
      yield* source;
    })(),
  Observable: (source) => from(source),
  'node Readable': (source) => Readable.from(source, { objectMode: false }),
  'web ReadableStream': (source) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        for (const chunk of source) controller.enqueue(chunk);
        controller.close();
      },
    }),
};

describe('handle: response bodies of every streaming kind', () => {
  for (const [kind, make] of Object.entries(KINDS)) {
    it(`sends a ${kind} body whole over HTTP/1.1 and h2c, its buffers handed on as they are`, async () => {
      const source = chunks(16);
      const expected = Buffer.concat(source);
      const sent: unknown[] = [];
      const app = handle(() => ({ status: 200, body: make(source) }));
      const server = await start(recording(app, sent));
      expect((await get(server.port, '/')).equals(expected)).toBe(true);
      // No copy, no concatenation: every chunk the driver got is one of the source buffers.
      expect(sent.length).toBe(source.length);
      for (const chunk of sent) expect(source).toContain(chunk);
      sent.length = 0;
      const client = await session(`http://127.0.0.1:${server.port}`);
      try {
        const response = await exchange(client, { ':path': '/' });
        expect(response.status).toBe(200);
        expect(response.body.equals(expected)).toBe(true);
      } finally {
        client.close();
      }
      expect(sent.length).toBe(source.length);
      for (const chunk of sent) expect(source).toContain(chunk);
    });
  }

  it('reads a node Readable no faster than the client takes the answer, and destroys it when the client leaves', async () => {
    let produced = 0;
    let destroyed = false;
    const body = new Readable({
      highWaterMark: CHUNK,
      read() {
        produced += CHUNK;
        this.push(Buffer.alloc(CHUNK, 1));
      },
      destroy(error, callback) {
        destroyed = true;
        callback(error);
      },
    });
    const server = await start(handle(() => ({ status: 200, body })));
    // A client that sends its request and reads nothing.
    const socket = connect(server.port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    // What the kernel's socket buffers and node's hold, not the endless source: without the
    // pause, the app's writes pass the 4 MiB write buffer limit within the first turns.
    expect(produced).toBeGreaterThan(0);
    expect(produced).toBeLessThan(32 * MiB);
    const held = produced;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(produced).toBe(held);
    expect(body.isPaused()).toBe(true);
    socket.destroy();
    for (let i = 0; i < 50 && !destroyed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(destroyed).toBe(true);
  });

  it('cancels a web ReadableStream body when the client leaves', async () => {
    let cancelled = false;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        controller.enqueue(new Uint8Array(CHUNK));
      },
      cancel() {
        cancelled = true;
      },
    });
    const server = await start(handle(() => ({ status: 200, body })));
    const socket = connect(server.port, '127.0.0.1');
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 300));
    socket.destroy();
    for (let i = 0; i < 50 && !cancelled; i++) await new Promise((r) => setTimeout(r, 20));
    expect(cancelled).toBe(true);
  });

  it('aborts the exchange when a node Readable body fails', async () => {
    const body = new Readable({
      read() {
        this.destroy(new Error('disk gone'));
      },
    });
    const server = await start(handle(() => ({ status: 200, body })));
    // The head is out before the body is read: the exchange is aborted, the body cut short.
    await expect(get(server.port, '/')).rejects.toThrow();
  });
});

describe('handle: request bodies read as a stream of every kind', () => {
  const READERS: Record<
    string,
    (req: {
      body: AsyncIterable<Uint8Array> & { stream(): ReadableStream<Uint8Array> };
    }) => Reply['body']
  > = {
    'the body reader itself': (req) => req.body,
    'an Observable (rxjs from)': (req) => from(req.body),
    'a node Readable (Readable.from)': (req) => Readable.from(req.body, { objectMode: false }),
    'a web ReadableStream (body.stream())': (req) => req.body.stream(),
  };
  it('pipes the body reader itself: the chunks go out as they came, and a client that reads nothing is read at most one window ahead', async () => {
    const came = new Set<unknown>();
    const sent: unknown[] = [];
    let delivered = 0;
    let out = 0;
    const echo = handle((req) => ({ status: 200, body: req.body }));
    const app: App = (events, connection) =>
      echo(
        events.pipe(
          tap((event) => {
            if (event.type !== 'data') return;
            came.add(event.chunk);
            delivered += event.chunk.byteLength;
          }),
        ),
        connection,
      ).pipe(
        tap((event: OutboundEvent) => {
          if (event.type !== 'data' || event.chunk.length === 0) return;
          sent.push(event.chunk);
          out += (event.chunk as Uint8Array).byteLength;
        }),
      );
    const server = await start(app);
    const upload = Buffer.concat(chunks(256)); // 16 MiB: more than the kernel's buffers hold
    const socket = connect(server.port, '127.0.0.1');
    socket.write(
      `POST / HTTP/1.1\r\nHost: x\r\ncontent-length: ${upload.length}\r\nconnection: close\r\n\r\n`,
    );
    socket.write(upload);
    socket.pause();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(out).toBeGreaterThan(0);
    expect(out).toBeLessThan(upload.length);
    // Read ahead of what went out: at most the body window (BODY_WINDOW).
    expect(delivered - out).toBeLessThanOrEqual(65_536);
    const stalled = delivered;
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(delivered).toBe(stalled);
    const answer: Buffer[] = [];
    socket.on('data', (part: Buffer) => answer.push(part));
    const closed = new Promise((resolve) => socket.once('close', resolve));
    socket.resume();
    await closed;
    const whole = Buffer.concat(answer);
    const head = whole.indexOf('\r\n\r\n') + 4;
    expect(whole.subarray(0, 15).toString()).toBe('HTTP/1.1 200 OK');
    // Chunked: the body is the upload once the chunk framing is taken out.
    let body = whole.subarray(head);
    const parts: Buffer[] = [];
    for (;;) {
      const line = body.indexOf('\r\n');
      const size = Number.parseInt(body.subarray(0, line).toString(), 16);
      if (size === 0) break;
      parts.push(body.subarray(line + 2, line + 2 + size));
      body = body.subarray(line + 4 + size);
    }
    expect(Buffer.concat(parts).equals(upload)).toBe(true);
    expect(delivered).toBe(upload.length);
    for (const chunk of sent) expect(came.has(chunk)).toBe(true);
  });

  it('logs nothing when the client of an echo leaves mid-body, over HTTP/1.1 and h2c, and serves the next', async () => {
    const errors: string[] = [];
    const previous = logger();
    setLogger({ ...previous, error: (message) => errors.push(message) });
    try {
      const server = await start(handle((req) => ({ status: 200, body: req.body })));
      const socket = connect(server.port, '127.0.0.1');
      socket.write('POST / HTTP/1.1\r\nHost: x\r\ncontent-length: 1000000\r\n\r\n');
      socket.write(Buffer.alloc(CHUNK, 1));
      await new Promise((resolve) => socket.once('data', resolve));
      socket.destroy();
      const client = await session(`http://127.0.0.1:${server.port}`);
      const stream = client.request({ ':path': '/', ':method': 'POST' });
      stream.write(Buffer.alloc(CHUNK, 2));
      await new Promise((resolve) => stream.once('response', resolve));
      stream.close(8);
      await new Promise((resolve) => setTimeout(resolve, 200));
      const upload = Buffer.concat(chunks(4));
      const response = await exchange(client, { ':path': '/', ':method': 'POST' }, upload);
      expect(response.body.equals(upload)).toBe(true);
      client.close();
      expect((await post(server.port, '/', upload)).equals(upload)).toBe(true);
    } finally {
      setLogger(previous);
    }
    expect(errors).toEqual([]);
  });

  for (const [name, read] of Object.entries(READERS)) {
    it(`echoes 2 MiB read as ${name} over HTTP/1.1 and h2c`, async () => {
      const upload = Buffer.concat(chunks(32));
      const server = await start(handle((req) => ({ status: 200, body: read(req) })));
      expect((await post(server.port, '/', upload)).equals(upload)).toBe(true);
      const client = await session(`http://127.0.0.1:${server.port}`);
      try {
        const response = await exchange(client, { ':path': '/', ':method': 'POST' }, upload);
        expect(response.body.equals(upload)).toBe(true);
      } finally {
        client.close();
      }
    });
  }
});
