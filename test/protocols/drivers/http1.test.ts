import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { App, InboundEvent, OutboundEvent, RequestEvent } from 'rxgi';
import { handle, jsonLogger, setLogger, text } from 'rxgi';
import { EMPTY, filter, map, Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import {
  closeServers,
  dechunk,
  raw,
  rawTimed,
  sleep,
  start,
  statusOf,
  until,
} from '../../helpers.js';

afterEach(closeServers);

const hello = handle(() => text('hello'));
/** Streams each request body back as it arrives: the head goes before the body is read. */
const echo = handle((req) => ({ status: 200, headers: [], body: req.body }));
const run = promisify(execFile);

/** A raw app that records every inbound event and answers each request with its stream id. */
function recorder(log: InboundEvent[]): App {
  return (events) =>
    events.pipe(
      filter((event) => {
        log.push(event);
        return event.type === 'request';
      }),
      map(
        (event): OutboundEvent => ({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: ['content-type', 'text/plain'],
          body: `stream ${event.stream}`,
          end: true,
        }),
      ),
    );
}

describe('HTTP/1.1 driver', () => {
  it('answers fetch with status, headers and a content-length', async () => {
    const server = await start(hello);
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toBe('text/plain; charset=utf-8');
    expect(response.headers.get('content-length')).toBe('5');
    expect(await response.text()).toBe('hello');
  });

  it('gives the app a complete request event', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recorder(log));
    await raw(
      server.port,
      'GET /a/b%20c?x=1&y=2 HTTP/1.1\r\nHost: example.test\r\nX-Two: 1\r\nX-Two: 2\r\nTE: trailers\r\n\r\n',
    );
    const request = log[0] as RequestEvent;
    expect(request).toMatchObject({
      type: 'request',
      stream: 1,
      method: 'GET',
      target: '/a/b%20c?x=1&y=2',
      path: '/a/b%20c',
      query: 'x=1&y=2',
      http: '1.1',
      scheme: 'http',
      authority: 'example.test',
      websocket: false,
      subprotocols: [],
      end: true,
      caps: { push: false, trailers: true, earlyHints: true, websocket: true },
    });
    expect(request.headers).toEqual([
      'host',
      'example.test',
      'x-two',
      '1',
      'x-two',
      '2',
      'te',
      'trailers',
    ]);
    expect(request.client?.[0]).toBe('127.0.0.1');
    expect(request.server?.[1]).toBe(server.port);
  });

  it('numbers keep-alive requests 1, 2, 3 on one connection and answers pipelined ones in order', async () => {
    // The first answer is slow: pipelined answers must still come back in request order.
    const app = handle(async (req) => {
      if (req.path === '/slow') await sleep(100);
      return text(`${req.path} on stream ${req.stream}`);
    });
    const server = await start(app);
    const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: x\r\n\r\n`;
    const response = await raw(server.port, get('/slow') + get('/fast') + get('/third'));
    const bodies = response
      .split('\r\n\r\n')
      .slice(1)
      .map((part) => part.split('HTTP/1.1')[0]);
    expect(bodies).toEqual(['/slow on stream 1', '/fast on stream 2', '/third on stream 3']);
  });

  it('streams a chunked upload through to a chunked response', async () => {
    const app = handle((req) => ({ headers: ['content-type', 'text/plain'], body: req.body }));
    const server = await start(app);
    const response = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      '5\r\nhello\r\n',
      '6\r\n world\r\n0\r\n\r\n',
    );
    expect(statusOf(response)).toBe(200);
    expect(response).toMatch(/transfer-encoding: chunked/i);
    expect(dechunk(response.slice(response.indexOf('\r\n\r\n') + 4))).toBe('hello world');
  });

  it('answers 400 or 505 to a head RFC 9112 refuses, without calling the app', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recorder(log));
    const refused = [
      ['GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', 400, 'more than one Host field'],
      ['GET / HTTP/1.1\r\nHost: a b\r\n\r\n', 400, 'the Host field is not valid'],
      // A user name in the authority is an error in HTTP (RFC 9110 §4.2.4).
      ['GET http://user@a/ HTTP/1.1\r\nHost: a\r\n\r\n', 400, "target's authority is not valid"],
      ['GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n', 400, 'the request target is not valid'],
      ['GET / HTTP/2.0\r\nHost: a\r\n\r\n', 505, 'HTTP/2.0 is not served'],
    ] as const;
    for (const [head, status, reason] of refused) {
      // A request after the refused one is not served: the connection closes.
      const response = await raw(server.port, `${head}GET /next HTTP/1.1\r\nHost: a\r\n\r\n`);
      expect([statusOf(response), response]).toEqual([status, expect.stringContaining(reason)]);
      expect(response).toMatch(/connection: close/i);
      expect(response.split('HTTP/1.1 ')).toHaveLength(2);
    }
    // The same for a WebSocket handshake, which node:http hands over as an upgrade.
    const handshake = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    expect([statusOf(handshake), handshake]).toEqual([
      400,
      expect.stringContaining('more than one'),
    ]);
    // node:http may parse the pipelined /next before the close, and its answer is never sent.
    expect(log.filter((event) => (event as RequestEvent).path !== '/next')).toEqual([]);
  });

  it('checks each Host value, whichever valid ones came before', async () => {
    // The driver remembers the last valid Host: a value that differs is checked again.
    const server = await start(handle((req) => text(req.authority)));
    const answers: string[] = [];
    for (const host of ['a.test', 'a.test', 'b.test:81', 'a.test b']) {
      answers.push(
        await raw(server.port, `GET / HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`),
      );
    }
    expect(answers.map(statusOf)).toEqual([200, 200, 200, 400]);
    expect(answers[2]).toMatch(/\r\n\r\nb\.test:81$/);
    expect(answers[3]).toContain('the Host field is not valid');
  });

  it('takes the authority and path from an absolute-form target (RFC 9112 §3.2.2)', async () => {
    const log: InboundEvent[] = [];
    const server = await start(recorder(log));
    const close = 'Host: other\r\nConnection: close\r\n\r\n';
    await raw(server.port, `GET http://example.test:8080/a/b?x=1 HTTP/1.1\r\n${close}`);
    await raw(server.port, `GET HTTP://EXAMPLE.TEST?y HTTP/1.1\r\n${close}`);
    expect(log.map((event) => (event as RequestEvent).authority)).toEqual([
      'example.test:8080',
      'EXAMPLE.TEST',
    ]);
    expect(log[0]).toMatchObject({ target: '/a/b?x=1', path: '/a/b', query: 'x=1' });
    expect(log[1]).toMatchObject({ target: '/?y', path: '/', query: 'y' });
  });

  it('answers HEAD with the headers of GET and no body', async () => {
    const server = await start(hello);
    const response = await raw(
      server.port,
      'HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n',
    );
    const [head, second] = response.split('HTTP/1.1 ').slice(1);
    expect(head).toMatch(/content-length: 5\r\n/);
    expect(head.endsWith('\r\n\r\n')).toBe(true);
    expect(second.endsWith('hello')).toBe(true);
  });

  it('sends 100 Continue only once the app starts reading the body', async () => {
    const reader = handle(async (req) => text(`got ${await req.text()}`));
    const server = await start(reader);
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n';
    const response = await raw(server.port, head);
    expect(response.startsWith('HTTP/1.1 100 Continue\r\n\r\n')).toBe(true);

    const ignorer = await start(handle(() => text('no thanks')));
    const refused = await raw(ignorer.port, head);
    expect(refused.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(refused).not.toContain('100 Continue');
    // The unread body may still come: the connection closes rather than parse it as a request.
    expect(refused).toMatch(/connection: close/i);
  });

  it('sends 100 Continue before a head that leaves the exchange open (a streaming echo)', async () => {
    // The echo's head goes before it reads the body, and a 100 cannot follow a final head.
    const server = await start(echo);
    const head = 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n';
    const response = await rawTimed(server.port, [head, 'abc'], 500);
    expect(response.startsWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n')).toBe(true);
    expect(response.split('100 Continue')).toHaveLength(2);
    expect(response).not.toMatch(/connection: close/i);
    expect(dechunk(response.slice(response.indexOf('\r\n\r\n', 30) + 4))).toBe('abc');
  });

  it('echoes a 3 MB upload to curl, which sends Expect: 100-continue for it', async () => {
    const server = await start(echo);
    const dir = await mkdtemp(join(tmpdir(), 'rxgi-expect-'));
    try {
      const upload = join(dir, 'upload.bin');
      const body = randomBytes(3_000_000);
      await writeFile(upload, body);
      const { stdout, stderr } = await run(
        'curl',
        [
          '-sSv',
          '--http1.1',
          '--data-binary',
          `@${upload}`,
          '-o',
          join(dir, 'out.bin'),
          server.url,
        ],
        { encoding: 'utf8' },
      );
      expect(stderr).toContain('Expect: 100-continue');
      expect(stderr).toContain('HTTP/1.1 100 Continue');
      expect(stderr).not.toContain('Done waiting for 100-continue');
      expect(stdout).toBe('');
      expect((await readFile(join(dir, 'out.bin'))).equals(body)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('delivers request trailers as a trailers event that ends the body', async () => {
    const log: InboundEvent[] = [];
    const app: App = (events) =>
      new Observable<OutboundEvent>((out) =>
        events.subscribe((event) => {
          log.push(event);
          if (event.type === 'request')
            out.next({ type: 'window', stream: event.stream, bytes: 1024 });
          if (event.type === 'trailers') {
            out.next({
              type: 'response',
              stream: event.stream,
              status: 204,
              headers: [],
              end: true,
            });
          }
        }),
      );
    const server = await start(app);
    await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Sum: 42\r\n\r\n',
    );
    const types = log.map((event) => event.type);
    expect(types).toEqual(['request', 'data', 'trailers']);
    expect(log[2]).toEqual({ type: 'trailers', stream: 1, headers: ['x-sum', '42'] });
  });

  it('sends response trailers when the request said TE: trailers, and drops them otherwise', async () => {
    const app = handle(() => ({ body: 'data', trailers: ['x-checksum', 'abc'] }));
    const server = await start(app);
    const withTe = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\nTE: trailers\r\n\r\n');
    expect(withTe).toMatch(/0\r\nx-checksum: abc\r\n\r\n$/);
    const without = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(without).not.toContain('x-checksum');
    expect(without).toMatch(/data/);
  });

  it('sends early hints as 103, and degrades a push to 103 plus a Link header', async () => {
    const app = handle((req) => {
      req.earlyHints(['link', '</style.css>; rel=preload; as=style']);
      req.push('/app.js');
      return text('page');
    });
    const server = await start(app);
    const response = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    const parts = response.split('HTTP/1.1 ').slice(1);
    expect(parts[0]).toMatch(/^103 Early Hints\r\nLink: <\/style.css>; rel=preload; as=style/i);
    expect(parts[1]).toMatch(/^103 Early Hints\r\nLink: <\/app.js>; rel=preload/i);
    expect(parts[2]).toMatch(/^200 OK\r\n[\s\S]*link: <\/app.js>; rel=preload/);
  });

  it('sends no 1xx to an HTTP/1.0 client; the push becomes a Link header', async () => {
    const app = handle((req) => {
      req.push('/app.js');
      return text('page');
    });
    const server = await start(app);
    const response = await raw(server.port, 'GET / HTTP/1.0\r\n\r\n');
    expect(response.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(response).toMatch(/link: <\/app.js>; rel=preload/);
  });
});

describe('HTTP/1.1 errors and bad input', () => {
  it('answers 500 without a stack trace when the handler throws, and keeps serving', async () => {
    const app = handle((req) => {
      if (req.path === '/boom') throw new Error('secret detail');
      return text('fine');
    });
    const server = await start(app);
    const response = await fetch(`${server.url}/boom`);
    expect(response.status).toBe(500);
    const body = await response.text();
    expect(body).toBe('Internal Server Error\n');
    expect(await (await fetch(`${server.url}/ok`)).text()).toBe('fine');
  });

  it('answers 500 when a raw app errors before the head, and closes only that connection', async () => {
    let calls = 0;
    const app: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        map((event): OutboundEvent => {
          if ((event as RequestEvent).path === '/boom') throw new Error('app broke');
          calls++;
          return {
            type: 'response',
            stream: event.stream,
            status: 200,
            headers: [],
            body: 'ok',
            end: true,
          };
        }),
      );
    const server = await start(app);
    const [broken, healthy] = await Promise.all([
      raw(server.port, 'GET /boom HTTP/1.1\r\nHost: x\r\n\r\n'),
      fetch(`${server.url}/ok`).then((r) => r.text()),
    ]);
    expect(statusOf(broken)).toBe(500);
    expect(broken).toMatch(/connection: close/i);
    expect(healthy).toBe('ok');
    expect(calls).toBe(1);
  });

  it('aborts the exchange (closes the connection) when the body fails after the head', async () => {
    const app = handle(() => ({
      body: new Observable<string>((out) => {
        out.next('partial');
        setTimeout(() => out.error(new Error('body broke')), 20);
      }),
    }));
    const server = await start(app);
    const response = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(response)).toBe(200);
    expect(response).toContain('partial');
    expect(response).not.toMatch(/\r\n0\r\n\r\n$/); // no terminating chunk: the client sees an abort
  });

  it('answers 500 when the app completes without a response', async () => {
    const silent: App = () => EMPTY;
    const server = await start(silent);
    const response = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(response)).toBe(500);
    const nothing = await start(handle(() => undefined));
    expect((await fetch(`${nothing.url}/`)).status).toBe(500);
  });

  it('answers 400 to a malformed request', async () => {
    const server = await start(hello);
    const response = await raw(server.port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(statusOf(response)).toBe(400);
  });

  it('answers 400 to a body that breaks its chunked framing before the answer began', async () => {
    const seen: string[] = [];
    const reader = handle(async (req) => {
      try {
        await req.text();
      } catch (error) {
        seen.push((error as { code?: string }).code ?? String(error));
        throw error;
      }
      return text('read');
    });
    const server = await start(reader);
    const broken = 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n';
    const response = await raw(server.port, broken);
    expect(statusOf(response)).toBe(400);
    expect(response).toMatch(/\r\nconnection: close\r\n/i);
    await until(() => seen.length === 1);
    expect(seen).toEqual(['RXGI_ERR_STREAM_CLOSED']);
    // An answer already under way cannot be followed by a 400: that connection just closes.
    const echoing = await start(echo);
    const cut = await raw(echoing.port, broken);
    expect(statusOf(cut)).toBe(200);
    expect(cut).not.toContain('400');
    // Bytes that break a request after a complete one are not that request's to answer.
    const slow = await start(
      handle(async () => {
        await sleep(100);
        return text('first');
      }),
    );
    const pipelined = await raw(
      slow.port,
      'GET / HTTP/1.1\r\nHost: x\r\n\r\nPOST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n',
    );
    expect(pipelined).not.toContain('400');
    // Every server still serves.
    for (const each of [server, echoing, slow]) {
      expect((await fetch(`${each.url}/`, { method: 'POST', body: 'ok' })).status).toBe(200);
    }
  });

  it('answers 431 to a request head over the limit', async () => {
    const server = await start(hello, { maxHeaderSize: 1024 });
    const response = await raw(
      server.port,
      `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2000)}\r\n\r\n`,
    );
    expect(statusOf(response)).toBe(431);
  });

  it('answers 413 to a declared body over the limit without calling the app', async () => {
    let called = false;
    const server = await start(
      handle(() => {
        called = true;
        return text('no');
      }),
      { maxBodySize: 100 },
    );
    const response = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 101\r\n\r\n',
    );
    expect(statusOf(response)).toBe(413);
    expect(called).toBe(false);
  });

  it('answers 413 to a chunked body that grows over the limit', async () => {
    const echo = handle((req) => ({ body: req.body }));
    const server = await start(echo, { maxBodySize: 100 });
    const response = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `96\r\n${'x'.repeat(150)}\r\n0\r\n\r\n`,
    );
    // The echo sent its head before the body grew too large, so the exchange is aborted;
    // a reader that buffers gets a 413 instead.
    expect(response === '' || statusOf(response) === 200 || statusOf(response) === 413).toBe(true);
    const buffered = await start(
      handle(async (req) => text(await req.text())),
      { maxBodySize: 100 },
    );
    const refused = await raw(
      buffered.port,
      'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `96\r\n${'x'.repeat(150)}\r\n0\r\n\r\n`,
    );
    expect(statusOf(refused)).toBe(413);
  });

  it('answers 413 when a body is read past the helper limit, and 400 for bad JSON', async () => {
    const app = handle(async (req) => text(JSON.stringify(await req.json(10))));
    const server = await start(app);
    const big = await fetch(`${server.url}/`, { method: 'POST', body: '"01234567890123"' });
    expect(big.status).toBe(413);
    const bad = await fetch(`${server.url}/`, { method: 'POST', body: '{nope' });
    expect(bad.status).toBe(400);
    const good = await fetch(`${server.url}/`, { method: 'POST', body: '[1]' });
    expect(await good.text()).toBe('[1]');
  });

  it('tells the app when the client goes away and tears its work down', async () => {
    let live = 0;
    const closes: InboundEvent[] = [];
    const ticks = new Observable<string>((out) => {
      live++;
      const timer = setInterval(() => out.next('tick\n'), 5);
      return () => {
        live--;
        clearInterval(timer);
      };
    });
    const inner = handle(() => ({ body: ticks }));
    const app: App = (events, info) => {
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
      });
      return inner(events, info);
    };
    const server = await start(app);
    const controller = new AbortController();
    const response = await fetch(`${server.url}/`, { signal: controller.signal });
    const reader = response.body!.getReader();
    await reader.read();
    expect(live).toBe(1);
    controller.abort();
    await until(() => live === 0);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ type: 'close', stream: 1, code: 8 });
    await until(() => server.connections === 0);
  });

  it('aborts a stream whose app ignores backpressure past the write buffer limit', async () => {
    const flood = handle(() => ({
      body: new Observable<Uint8Array>((out) => {
        const chunk = new Uint8Array(65_536);
        const timer = setInterval(() => {
          for (let i = 0; i < 16; i++) out.next(chunk);
        }, 1);
        return () => clearInterval(timer);
      }),
    }));
    const server = await start(flood, { writeBufferLimit: 1_048_576 });
    // A client that never reads: the socket fills, the driver's buffer passes its limit.
    const records: unknown[] = [];
    setLogger({ ...jsonLogger, error: (_message, fields) => records.push(fields?.code) });
    try {
      const socket = connect(server.port, '127.0.0.1');
      socket.on('error', () => {});
      const closed = new Promise((resolve) => socket.on('close', resolve));
      socket.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      socket.pause();
      await until(() => records.length > 0);
      expect(records).toEqual(['RXGI_ERR_WRITE_BUFFER_FULL']);
      // Once the client reads again it finds the connection closed.
      socket.resume();
      await closed;
    } finally {
      setLogger(jsonLogger);
    }
  });
});

describe('HTTP/1.1 upgrades other than WebSocket', () => {
  it('ignores Upgrade: h2c and serves the request (curl --http2 on http://)', async () => {
    const server = await start(hello);
    const response = await raw(
      server.port,
      'GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n',
    );
    expect(statusOf(response)).toBe(200);
    expect(response).toMatch(/connection: close/i);
    expect(response.endsWith('hello')).toBe(true);
  });

  it('answers 400 to an ignored upgrade that carries a body', async () => {
    const server = await start(hello);
    const response = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 2\r\n\r\nhi',
    );
    expect(statusOf(response)).toBe(400);
    expect(response).toContain('Upgrade to h2c is not supported for a request with a body');
  });
});

describe('HTTP/1.1 timeouts', () => {
  it('answers 408 to a request head that does not arrive within headersTimeout', async () => {
    const server = await start(hello, { headersTimeout: 300 });
    const started = Date.now();
    const response = await rawTimed(server.port, ['GET / HTTP/1.1\r\nHost: x\r\n'], 3_000);
    expect(statusOf(response)).toBe(408);
    expect(Date.now() - started).toBeLessThan(2_500);
  });

  it('closes a cleartext connection that sends nothing within headersTimeout', async () => {
    const server = await start(hello, { headersTimeout: 300 });
    const started = Date.now();
    expect(await rawTimed(server.port, [], 3_000)).toBe('');
    expect(Date.now() - started).toBeLessThan(2_500);
  });
});

describe('HTTP/1.1 heads the wire refuses', () => {
  it('answers 500 to a response with an invalid header name, and releases the body', async () => {
    let live = 0;
    const body = new Observable<string>((out) => {
      live++;
      out.next('never sent');
      return () => {
        live--;
      };
    });
    const server = await start(handle(() => ({ headers: ['bad name', 'x'], body })));
    const response = await raw(server.port, 'GET / HTTP/1.1\r\nHost: x\r\n\r\n');
    expect(statusOf(response)).toBe(500);
    expect(live).toBe(0);
  });
});

describe('HTTP/1.1 bytes after a request that closes the connection', () => {
  // RFC 9112 §9.6: no further request is processed, and the one in flight is not cut. node's
  // parser calls such bytes an error (HPE_CLOSED_CONNECTION); raw node then destroys the socket
  // mid-response, which cost an app that reads its body later the whole exchange.
  it('answers the request whole and drops what follows (Connection: close, HTTP/1.0)', async () => {
    const server = await start(echo);
    const close = await raw(
      server.port,
      'POST / HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello',
      'GET /next HTTP/1.1\r\nHost: x\r\n\r\nGARBAGE\r\n\r\n',
    );
    expect(statusOf(close)).toBe(200);
    const body = close.slice(close.indexOf('\r\n\r\n') + 4);
    expect(body).toBe('5\r\nhello\r\n0\r\n\r\n');
    expect(dechunk(body)).toBe('hello');
    const old = await raw(
      server.port,
      'POST / HTTP/1.0\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloMORE BYTES\r\n\r\n',
    );
    expect(statusOf(old)).toBe(200);
    expect(old.endsWith('\r\n\r\nhello')).toBe(true);
  });
});
