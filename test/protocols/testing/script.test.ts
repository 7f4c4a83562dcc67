import { type AddressInfo, createServer } from 'node:net';
import { type App, handle, selfSignedCertificate, text, upgrade } from 'rxgi';
import { connect, type StreamResult } from 'rxgi/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import echo from '../../../apps/echo.js';
import { interleave } from '../../fixtures/testing-runners/examples.mjs';
import { closeServers, start } from '../../helpers.js';

afterAll(closeServers);

const urls: Record<string, string> = {};
beforeAll(async () => {
  urls.h2c = (await start(echo)).url;
  urls.h2 = (await start(echo, { tls: await selfSignedCertificate() })).url;
});

/** What a stream's result must agree on across transports. */
function summary(result: StreamResult) {
  return result.reset === null
    ? { status: result.status, text: result.text, reset: null }
    : { reset: result.reset };
}

/** docs/testing.md's script: three uploads interleaved, the middle one reset, then close. */
const EXPECTED = ['200 a1,a2', 'reset 8', '200 c1,c2'];

describe('connect: one script, every transport', () => {
  it('runs on the memory driver', async () => {
    expect((await connect(echo)).protocol).toBe('memory');
    expect(await interleave()).toEqual(EXPECTED);
  });

  it.each(['h2c', 'h2'])('runs unchanged on serve over %s, with the same results', async (name) => {
    expect((await connect(urls[name]!)).protocol).toBe('h2');
    expect(await interleave(urls[name]!)).toEqual(EXPECTED);
  });

  it('is refused on HTTP/1.1 at the step that asks the impossible, named', async () => {
    await expect(interleave(urls.h2c!, { protocol: 'http/1.1' })).rejects.toMatchObject({
      code: 'RXGI_ERR_SCRIPT',
      message:
        'step 2 (open POST /up): HTTP/1.1 cannot interleave two requests on one connection: the body of stream 1 is still open (end it first, or use HTTP/2)',
    });
  });

  it('runs a sequential script on HTTP/1.1 keep-alive, and refuses a reset by name', async () => {
    const conn = await connect(urls.h2c!, { protocol: 'http/1.1' });
    const a = conn.request({
      method: 'POST',
      target: '/one',
      headers: { 'content-type': 'text/plain' },
    });
    await a.write('one');
    await a.end();
    const b = conn.request({
      method: 'POST',
      target: '/two',
      headers: { 'content-type': 'text/plain' },
    });
    await b.write('two');
    await expect(b.reset()).rejects.toThrow(
      "step 6 (reset stream 2): HTTP/1.1 has no stream reset (RST_STREAM is HTTP/2's); close the connection instead",
    );
    await b.end();
    expect([summary(await a.done), summary(await b.done)]).toEqual([
      { status: 200, text: 'one', reset: null },
      { status: 200, text: 'two', reset: null },
    ]);
    await conn.close();
  });

  it('pipelines HTTP/1.1 requests: every head goes before the first answer, answers in order', async () => {
    // A raw server that answers only once it has read three requests: a client that waited
    // for each answer before the next request would hang here.
    const server = createServer((socket) => {
      let seen = '';
      socket.on('data', (bytes) => {
        seen += bytes.toString('latin1');
        const heads = seen.split('\r\n\r\n').length - 1;
        if (heads < 3) return;
        const paths = [...seen.matchAll(/^GET (\S+) HTTP\/1\.1$/gm)].map((m) => m[1]);
        socket.write(
          paths
            .map((path, i) =>
              i === 1
                ? `HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nyou\r\n4\r\n got\r\n0\r\nx-t: 1\r\n\r\n`
                : `HTTP/1.1 200 OK\r\ncontent-length: ${path!.length}\r\n\r\n${path}`,
            )
            .join(''),
        );
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      const conn = await connect(`http://127.0.0.1:${port}`, { protocol: 'http/1.1' });
      const streams = ['/a', '/bb', '/ccc'].map((target) => conn.request({ target }));
      const results = await Promise.all(streams.map((s) => s.done));
      expect(results.map((r) => [r.status, r.text, r.trailers])).toEqual([
        [200, '/a', null],
        [200, 'you got', ['x-t', '1']],
        [200, '/ccc', null],
      ]);
      await conn.close();
    } finally {
      server.close();
    }
  });

  it.each(['memory', 'h2c', 'h2'])('streams a body as it comes and trailers (%s)', async (name) => {
    const app: App = handle(async (req) => ({
      body: (async function* () {
        yield 'got ';
        yield String((await req.text()).length);
      })(),
      trailers: ['x-done', 'yes'],
    }));
    const conn =
      name === 'memory'
        ? await connect(app)
        : await connect(
            (await start(app, name === 'h2' ? { tls: await selfSignedCertificate() } : {})).url,
          );
    const a = conn.request({ method: 'POST', target: '/' });
    const first = new Promise<string>((resolve) => {
      const sub = a.body.subscribe((chunk) => {
        resolve(new TextDecoder().decode(chunk));
        queueMicrotask(() => sub.unsubscribe());
      });
    });
    expect(await first).toBe('got ');
    await a.write('12345');
    await a.end(['x-sent', 'all']);
    const result = await a.done;
    expect([result.text, result.trailers]).toEqual(['got 5', ['x-done', 'yes']]);
    await conn.close();
  });
});

describe('connect: WebSocket', () => {
  const chat = handle(() => upgrade((messages) => messages));
  it.each(['memory', 'h2c', 'h2', 'http/1.1'])('echoes and closes (%s)', async (name) => {
    const conn =
      name === 'memory'
        ? await connect(chat)
        : await connect(
            name === 'h2' ? urls.h2! : urls.h2c!,
            name === 'http/1.1' ? { protocol: 'http/1.1' } : {},
          );
    const ws = await conn.websocket('/chat');
    await ws.send('hi');
    expect(await ws.next()).toBe('hi');
    await ws.send(new Uint8Array([1, 2, 3]));
    expect(await ws.next()).toEqual(new Uint8Array([1, 2, 3]));
    await ws.close(1000, 'bye');
    expect(await ws.closed).toEqual({ code: 1000, reason: 'bye' });
    await conn.close();
  });
});

describe('connect: informational heads', () => {
  /** Hints before the answer; an upload is read only after the 100 Continue would be due. */
  const hinted = handle(async (req) => {
    req.earlyHints(['link', '</style.css>; rel=preload; as=style']);
    return text(req.method === 'POST' ? await req.text() : 'hinted');
  });

  it('reports 103 Early Hints in order before the answer on every transport', async () => {
    const server = await start(hinted);
    for (const [target, options] of [
      [hinted, {}],
      [server.url, {}],
      [server.url, { protocol: 'http/1.1' as const }],
    ] as const) {
      const conn = await connect(target as string, options);
      const result = await conn.request({ target: '/' }).done;
      expect([conn.protocol, result.status, result.text]).toEqual([conn.protocol, 200, 'hinted']);
      expect(
        result.informational.map((head) => [head.status, ...head.headers.slice(0, 2)]),
        conn.protocol,
      ).toEqual([[103, 'link', '</style.css>; rel=preload; as=style']]);
      await conn.close();
    }
  });

  it('reports 100 Continue where the client asks for it, over HTTP/2 and HTTP/1.1', async () => {
    const server = await start(hinted);
    for (const protocol of ['h2', 'http/1.1'] as const) {
      const conn = await connect(server.url, { protocol });
      const stream = conn.request({
        method: 'POST',
        target: '/',
        headers: { expect: '100-continue' },
        end: false,
      });
      await stream.write('up');
      await stream.end();
      const result = await stream.done;
      expect(result.text, protocol).toBe('up');
      expect(
        result.informational.map((head) => head.status),
        protocol,
      ).toContain(100);
      await conn.close();
    }
  });
});
