import { execFile } from 'node:child_process';
import { constants } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { promisify } from 'node:util';
import type { App, InboundEvent, OutboundEvent, RequestEvent } from 'rxgi';
import { handle, text, upgrade } from 'rxgi';
import { connect } from 'rxgi/testing';
import { NEVER, Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, exchange, h2WebSocket, session } from '../../h2client.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

const run = promisify(execFile);
afterEach(closeServers);

/** Wraps an app to record the inbound events it receives. */
function recording(log: InboundEvent[], inner: App): App {
  return (events, info) => {
    events.subscribe((event) => log.push(event));
    return inner(events, info);
  };
}

const app = handle(async (req) => {
  if (req.websocket)
    return upgrade((messages) => messages, { subprotocol: req.subprotocols[0] ?? null });
  switch (req.path) {
    case '/slow':
      await sleep(100);
      return text('slow');
    case '/echo':
      return {
        headers: ['content-type', req.header('content-type') ?? 'application/octet-stream'],
        body: req.body,
      };
    case '/page':
      req.push('/app.js');
      return text('page');
    case '/app.js':
      return { headers: ['content-type', 'text/javascript'], body: 'pushed();' };
    case '/trailers':
      return { body: 'data', trailers: async () => ['x-checksum', 'abc'] };
    case '/hints':
      req.earlyHints(['link', '</style.css>; rel=preload; as=style']);
      return text('hinted');
    case '/boom':
      throw new Error('boom');
    case '/broken-body':
      return {
        body: new Observable<string>((out) => {
          out.next('partial');
          setTimeout(() => out.error(new Error('body broke')), 20);
        }),
      };
    case '/never':
      return { body: NEVER };
    case '/hop':
      return {
        headers: ['connection', 'keep-alive', 'transfer-encoding', 'chunked', 'x-kept', '1'],
        body: 'ok',
      };
    case '/length':
      return text(`read ${(await req.text()).length}`);
    case '/read-trailers': {
      await req.text();
      return text(JSON.stringify(req.body.trailers));
    }
    default:
      return text(`${req.method} ${req.path} over ${req.http}`);
  }
});

describe('HTTP/2 driver (h2c on the HTTP/1.1 port)', () => {
  it('serves h2c with prior knowledge and HTTP/1.1 on the same port', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const response = await exchange(client, { ':path': '/x' });
    expect([response.status, response.body.toString()]).toEqual([200, 'GET /x over 2']);
    client.close();
    expect(await (await fetch(`${server.url}/x`)).text()).toBe('GET /x over 1.1');
  });

  it('gives the app an HTTP/2 request event', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recording(log, app));
    const client = await session(server.url);
    await exchange(client, { ':path': '/a?b=1', 'x-two': ['1', '2'] });
    client.close();
    expect(log[0]).toMatchObject({
      type: 'request',
      stream: 1,
      method: 'GET',
      target: '/a?b=1',
      path: '/a',
      query: 'b=1',
      http: '2',
      scheme: 'http',
      authority: `127.0.0.1:${server.port}`,
      caps: { push: true, trailers: true, earlyHints: true, websocket: true },
      websocket: false,
      end: true,
    });
    const headers = (log[0] as RequestEvent).headers;
    expect(headers.filter((_, i) => i % 2 === 0 && headers[i] === 'x-two').length).toBe(2);
  });

  it('multiplexes concurrent streams of one connection into one event stream', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recording(log, app));
    // A scripted connection (rxgi/testing): three streams opened in this order on one session.
    const conn = await connect(server.url);
    const slow = conn.request({ target: '/slow' });
    const fast = conn.request({ target: '/fast' });
    const echo = conn.request({
      method: 'POST',
      target: '/echo',
      headers: { 'content-type': 'text/x' },
    });
    const order: string[] = [];
    void slow.done.then(() => order.push('slow'));
    void fast.done.then(() => order.push('fast'));
    await echo.write('body!');
    await echo.end();
    const results = await Promise.all([slow.done, fast.done, echo.done]);
    await conn.close();
    expect([slow.id, fast.id, echo.id]).toEqual([1, 3, 5]);
    expect(results.map((r) => [r.status, r.text, r.reset])).toEqual([
      [200, 'slow', null],
      [200, 'GET /fast over 2', null],
      [200, 'body!', null],
    ]);
    // The fast answer did not wait for the slow one (100 ms).
    expect(order).toEqual(['fast', 'slow']);
    const streams = log.filter((e) => e.type === 'request').map((e) => e.stream);
    expect(streams).toEqual([1, 3, 5]);
  });

  it('pushes where the client allows it; the pushed request is served by the same app', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recording(log, app));
    const client = await session(server.url);
    const pushed = new Promise<{ path: unknown; body: string }>((resolve) => {
      client.once('stream', (stream, headers) => {
        collect(stream).then((r) => resolve({ path: headers[':path'], body: r.body.toString() }));
      });
    });
    const page = await exchange(client, { ':path': '/page' });
    expect(page.body.toString()).toBe('page');
    expect(await pushed).toEqual({ path: '/app.js', body: 'pushed();' });
    client.close();
    const requests = log.filter((e) => e.type === 'request') as RequestEvent[];
    expect(requests.map((e) => [e.stream, e.path, e.caps.push])).toEqual([
      [1, '/page', true],
      [2, '/app.js', false],
    ]);
  });

  it('degrades push to 103 Early Hints and a Link header when the client disables push', async () => {
    const server = await start(app);
    const client = await session(server.url, { settings: { enablePush: false } });
    const page = await exchange(client, { ':path': '/page' });
    client.close();
    expect(page.body.toString()).toBe('page');
    expect(page.informational).toEqual([
      expect.objectContaining({ ':status': 103, link: '</app.js>; rel=preload' }),
    ]);
    expect(page.headers.link).toBe('</app.js>; rel=preload');
  });

  it('sends early hints as a 103 HEADERS frame', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const response = await exchange(client, { ':path': '/hints' });
    client.close();
    expect(response.informational[0]).toMatchObject({
      ':status': 103,
      link: '</style.css>; rel=preload; as=style',
    });
    expect(response.body.toString()).toBe('hinted');
  });

  it('sends response trailers and delivers request trailers', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const out = await exchange(client, { ':path': '/trailers' });
    expect(out.body.toString()).toBe('data');
    expect(out.trailers).toMatchObject({ 'x-checksum': 'abc' });
    const sent = await exchange(client, { ':path': '/read-trailers', ':method': 'POST' }, 'abc', {
      'x-sum': '6',
    });
    client.close();
    expect(JSON.parse(sent.body.toString())).toEqual(['x-sum', '6']);
  });

  it('drops connection-specific headers an HTTP/1.1-minded app sends (RFC 9113 §8.2.2)', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const response = await exchange(client, { ':path': '/hop' });
    client.close();
    expect(response.status).toBe(200);
    expect(response.headers['x-kept']).toBe('1');
    expect(response.headers.connection).toBeUndefined();
  });

  it('answers 500 on a failing stream while its siblings complete', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const [boom, slow] = await Promise.all([
      exchange(client, { ':path': '/boom' }),
      exchange(client, { ':path': '/slow' }),
    ]);
    expect([boom.status, boom.body.toString()]).toEqual([500, 'Internal Server Error\n']);
    expect(slow.body.toString()).toBe('slow');
    expect((await exchange(client, { ':path': '/after' })).status).toBe(200);
    client.close();
  });

  it('resets a stream with INTERNAL_ERROR when its body fails after the head; siblings go on', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const broken = client.request({ ':path': '/broken-body' });
    const code = new Promise<number>((resolve) =>
      broken.on('close', () => resolve(broken.rstCode ?? -1)),
    );
    broken.on('error', () => {});
    broken.resume();
    const slow = exchange(client, { ':path': '/slow' });
    expect(await code).toBe(constants.NGHTTP2_INTERNAL_ERROR);
    expect((await slow).body.toString()).toBe('slow');
    client.close();
  });

  it('turns a client RST_STREAM into close on that stream only, and tears its work down', async () => {
    let live = 0;
    const ticks = new Observable<string>((out) => {
      live++;
      const timer = setInterval(() => out.next('tick'), 5);
      return () => {
        live--;
        clearInterval(timer);
      };
    });
    const log: InboundEvent[] = [];
    const server = await start(
      recording(
        log,
        handle((req) => (req.path === '/ticks' ? { body: ticks } : text('sibling'))),
      ),
    );
    const client = await session(server.url);
    const stream = client.request({ ':path': '/ticks' });
    await new Promise((resolve) => stream.once('data', resolve));
    expect(live).toBe(1);
    stream.close(constants.NGHTTP2_CANCEL);
    await until(() => live === 0);
    expect(log.filter((e) => e.type === 'close')).toEqual([
      { type: 'close', stream: 1, code: 8, reason: 'stream closed' },
    ]);
    expect((await exchange(client, { ':path': '/x' })).body.toString()).toBe('sibling');
    client.close();
  });

  it('survives resets with error codes, on a stream being served and on one answered at once', async () => {
    // node:http2 turns a reset with an error code into an 'error' event on the stream, which
    // ends the process when nobody listens: every stream the driver touches has a listener.
    const big = 'x'.repeat(1_000_000);
    const server = await start(
      handle(async (req) => {
        if (req.path === '/big') return text(big); // complete at once, in flight for long
        await sleep(50);
        return text('late');
      }),
    );
    const client = await session(server.url, { settings: { initialWindowSize: 1024 } });
    const reset = (headers: Record<string, string>) =>
      new Promise<void>((resolve) => {
        const stream = client.request(headers);
        stream.on('error', () => {});
        stream.once('response', () => stream.close(constants.NGHTTP2_PROTOCOL_ERROR));
        if (headers[':path'] === '/late') stream.close(constants.NGHTTP2_PROTOCOL_ERROR);
        stream.once('close', () => resolve());
      });
    await reset({ ':path': '/late' });
    await reset({ ':path': '/big' });
    await sleep(100);
    const other = await session(server.url);
    const response = await exchange(other, { ':path': '/x' });
    expect(response.body.toString()).toBe('late');
    // The Date field node would add is there (the driver adds it itself, RFC 9110 §6.6.1).
    expect(new Date(String(response.headers.date)).getTime()).toBeGreaterThan(Date.now() - 5000);
    client.close();
    other.close();
  });

  it('answers 413 to a declared body over the limit', async () => {
    const server = await start(app, { maxBodySize: 10 });
    const client = await session(server.url);
    const response = await exchange(
      client,
      { ':path': '/echo', ':method': 'POST', 'content-length': '11' },
      'x'.repeat(11),
    );
    client.close();
    expect(response.status).toBe(413);
  });

  it('answers expect: 100-continue once the app reads or streams its answer, not otherwise', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const ask = (path: string) => {
      const stream = client.request(
        { ':path': path, ':method': 'POST', expect: '100-continue' },
        { endStream: false },
      );
      const continued = new Promise<boolean>((resolve) => {
        stream.once('continue', () => resolve(true));
        stream.once('response', () => resolve(false));
      });
      return { stream, continued };
    };
    // The echo sends its head first, then reads; /length reads first, then answers.
    for (const [path, answer] of [
      ['/echo', 'sent after the 100'],
      ['/length', 'read 18'],
    ]) {
      const { stream, continued } = ask(path);
      expect(await continued).toBe(true);
      stream.end('sent after the 100');
      const response = await collect(stream);
      expect(response.body.toString()).toBe(answer);
    }
    // A complete answer without reading: no 100, so the client need not send its body.
    const { stream, continued } = ask('/plain');
    expect(await continued).toBe(false);
    stream.close();
    client.close();

    // curl waits for the 100 when told to expect one (its timeout is 1 s): it gets it.
    const { stderr } = await run(
      'curl',
      [
        '-sv',
        '--http2-prior-knowledge',
        '-H',
        'expect: 100-continue',
        '-d',
        'hi',
        `${server.url}/echo`,
      ],
      { encoding: 'utf8' },
    );
    expect(stderr).toContain('< HTTP/2 100');
    expect(stderr).not.toContain('Done waiting for 100-continue');
  });

  it('asks a client to stop sending a body the app answered without reading (RST_STREAM NO_ERROR)', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const upload = async (size: number) => {
      const before = client.socket.bytesWritten;
      const stream = client.request({ ':path': '/plain', ':method': 'POST' });
      // Written with backpressure, as a real upload is, until it is all sent or the stream ends.
      const chunk = Buffer.alloc(16 * 1024);
      const write = async () => {
        for (let left = size; left > 0 && !stream.closed; left -= chunk.byteLength) {
          if (!stream.write(chunk)) {
            await new Promise((resolve) => {
              stream.once('drain', resolve);
              stream.once('close', resolve);
            });
          }
        }
        if (!stream.closed) stream.end();
      };
      const [response] = await Promise.all([collect(stream), write()]);
      await new Promise((resolve) =>
        stream.closed ? resolve(null) : stream.once('close', resolve),
      );
      return { response, code: stream.rstCode, sent: client.socket.bytesWritten - before };
    };
    // A large body is cut short once the answer is complete: the rest is never sent.
    const large = await upload(10 * 1024 * 1024);
    expect([large.response.status, large.response.body.toString()]).toEqual([
      200,
      'POST /plain over 2',
    ]);
    expect(large.code).toBe(constants.NGHTTP2_NO_ERROR);
    expect(large.sent).toBeLessThan(2 * 1024 * 1024);
    // A small one, likely sent before the answer, is read to its end: the exchange ends cleanly.
    const small = await upload(16 * 1024);
    expect(small.response.status).toBe(200);
    expect(small.sent).toBeGreaterThan(16 * 1024);
    client.close();
  });

  it('answers 400 with sec-websocket-version: 13 to a WebSocket of another version', async () => {
    const seen: string[] = [];
    const server = await start(
      handle((req) => {
        seen.push(req.path);
        return text('app');
      }),
    );
    const client = await session(server.url);
    const stream = client.request(
      {
        ':method': 'CONNECT',
        ':protocol': 'websocket',
        ':path': '/ws',
        ':scheme': 'http',
        'sec-websocket-version': '8',
      },
      { endStream: false },
    );
    const response = await collect(stream);
    client.close();
    expect(response.status).toBe(400);
    expect(response.headers['sec-websocket-version']).toBe('13');
    expect(seen).toEqual([]);
  });

  it('sends GOAWAY on graceful shutdown and lets in-flight streams finish', async () => {
    const server = await start(app);
    const client = await session(server.url);
    const goaway = new Promise((resolve) => client.once('goaway', resolve));
    const slow = exchange(client, { ':path': '/slow' });
    await sleep(20);
    const closing = server.close();
    await goaway;
    expect((await slow).body.toString()).toBe('slow');
    await closing;
  });

  it('answers curl --http2-prior-knowledge and nghttp', async () => {
    const server = await start(app);
    const { stdout } = await run('curl', [
      '-s',
      '--http2-prior-knowledge',
      '-w',
      ' %{http_version}',
      `${server.url}/curl`,
    ]);
    expect(stdout).toBe('GET /curl over 2 2');
    const nghttp = await run('nghttp', ['-v', `${server.url}/nghttp`]);
    expect(nghttp.stdout).toContain('GET /nghttp over 2');
    expect(nghttp.stdout).toContain('SETTINGS_ENABLE_CONNECT_PROTOCOL');
  });
});

describe('WebSocket over HTTP/2 (RFC 8441)', () => {
  it('opens with the same events as over HTTP/1.1 and echoes text and binary', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recording(log, app));
    const { client, head, ws } = await h2WebSocket(server.url, '/chat?room=1', ['chat.v1']);
    expect(head[':status']).toBe(200);
    expect(head['sec-websocket-protocol']).toBe('chat.v1');
    const replies: unknown[] = [];
    const done = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, binary: boolean) => {
        replies.push(binary ? [...data] : data.toString());
        if (replies.length === 2) resolve();
      }),
    );
    ws.send('héllo');
    ws.send(Buffer.from([1, 2]));
    await done;
    expect(replies).toEqual(['héllo', [1, 2]]);
    expect(log[0]).toMatchObject({
      type: 'request',
      stream: 1,
      method: 'GET',
      path: '/chat',
      query: 'room=1',
      http: '2',
      websocket: true,
      subprotocols: ['chat.v1'],
      end: true,
    });
    const closed = new Promise((resolve) => ws.once('close', resolve));
    ws.close(1000, 'bye');
    await closed;
    await until(() => log.some((e) => e.type === 'close'));
    expect(log.find((e) => e.type === 'close')).toEqual({
      type: 'close',
      stream: 1,
      code: 1000,
      reason: 'bye',
    });
    client.close();
  });

  it('closes WebSockets over HTTP/2 with 1001 on shutdown', async () => {
    const server = await start(app);
    const { client, ws } = await h2WebSocket(server.url, '/chat');
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    const closing = server.close();
    expect(await code).toBe(1001);
    client.close();
    await closing;
  });
});

describe('HTTP/2 details', () => {
  it("resets a stream with the code of the app's close event", async () => {
    const app: App = (events) =>
      new Observable<OutboundEvent>((out) =>
        events.subscribe((event) => {
          if (event.type !== 'request') return;
          out.next({
            type: 'response',
            stream: event.stream,
            status: 200,
            headers: [],
            end: false,
          });
          out.next({ type: 'data', stream: event.stream, chunk: 'x', end: false });
          setTimeout(
            () => out.next({ type: 'close', stream: event.stream, code: 8, reason: 'cancelled' }),
            10,
          );
        }),
      );
    const server = await start(app);
    const client = await session(server.url);
    const stream = client.request({ ':path': '/' });
    stream.on('error', () => {});
    stream.resume();
    const code = await new Promise((resolve) => stream.on('close', () => resolve(stream.rstCode)));
    expect(code).toBe(constants.NGHTTP2_CANCEL);
    client.close();
  });

  it("ignores a client's :scheme claim over cleartext", async () => {
    const log: InboundEvent[] = [];
    const server = await start(recording(log, app));
    const client = await session(server.url);
    await exchange(client, { ':path': '/', ':scheme': 'https' });
    client.close();
    expect((log[0] as RequestEvent).scheme).toBe('http');
  });

  it('shuts down at once when a connection has not chosen a protocol yet', async () => {
    const server = await start(app, { shutdownTimeout: 5_000 });
    const socket = netConnect(server.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('P'); // could still become either protocol
    await sleep(20);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(1_000);
    socket.destroy();
  });
});
