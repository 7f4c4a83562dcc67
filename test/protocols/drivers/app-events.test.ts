import { request as h1request } from 'node:http';
import type { App, ConnectionInfo, InboundEvent } from 'rxgi';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { session } from '../../h2client.js';
import { closeServers, raw, start, statusOf, until } from '../../helpers.js';

afterEach(closeServers);

/**
 * An app that answers each request's head, sends one chunk, then closes the stream itself with
 * code 5, and records the `close` events it is told about (SPEC.md §8.1, §8.3).
 */
function closingApp(closes: InboundEvent[]): App {
  return (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
        if (event.type !== 'request') return;
        if (event.websocket) {
          out.next({ type: 'close', stream: event.stream, code: 1000, reason: 'no' });
          return;
        }
        out.next({ type: 'response', stream: event.stream, status: 200, headers: [], end: false });
        out.next({ type: 'data', stream: event.stream, chunk: new Uint8Array([1]), end: false });
        out.next({ type: 'close', stream: event.stream, code: 5, reason: 'app gave up' });
      }),
    );
}

describe("the app's own close (SPEC.md §8.1, §8.3)", () => {
  it('HTTP/2: the stream is reset with the code the app sent, and the app is told that code', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const client = await session(server.url);
    const stream = client.request({ ':path': '/' });
    stream.resume();
    stream.on('error', () => {}); // node reports the reset as an error too
    const rst = await new Promise<number>((resolve) =>
      stream.on('close', () => resolve(stream.rstCode)),
    );
    expect(rst).toBe(5);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 5, reason: 'app gave up' }]);
    client.close();
  });

  it('HTTP/1.1: the exchange is aborted, and the app is told the code it sent', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const aborted = await new Promise<boolean>((resolve) => {
      const req = h1request(server.url, (res) => {
        res.on('aborted', () => resolve(true));
        res.on('end', () => resolve(false));
        res.resume();
      });
      req.on('error', () => resolve(true));
      req.end();
    });
    expect(aborted).toBe(true);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 5, reason: 'app gave up' }]);
  });

  it('a close before ws-accept denies the handshake with 403, and the app is told code 2', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.url.replace('http', 'ws'));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(403);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 2, reason: 'handshake denied' }]);
  });
});

/** Answers every request after sending `extra` on its stream first. */
function sending(extra: Record<string, unknown>, closes: InboundEvent[]): App {
  return (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
        if (event.type !== 'request') return;
        out.next({ ...extra, stream: event.stream } as never);
        out.next({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: [],
          body: 'ok',
          end: true,
        });
      }),
    );
}

describe('event types on an open stream (SPEC.md §4.1)', () => {
  it('drops an x- extension event the driver does not know, and serves the stream', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(sending({ type: 'x-trace', id: 7 }, closes));
    const response = await fetch(server.url);
    expect([response.status, await response.text()]).toEqual([200, 'ok']);
    expect(closes).toEqual([]);
  });

  it('fails the stream on an unknown type: 500, and the app is told code 2 with the reason', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(sending({ type: 'bogus' }, closes));
    const response = await fetch(server.url);
    expect(response.status).toBe(500);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ type: 'close', stream: 1, code: 2 });
    expect((closes[0] as { reason: string }).reason).toContain('unknown event type "bogus"');
  });
});

describe('CONNECT (SPEC.md §3.2, spec/http1.md, spec/http2.md §1)', () => {
  /** A tunnel that answers 200 and echoes what the client sends through it. */
  const tunnel: App = (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type === 'request') {
          seen.push(event);
          out.next({ type: 'window', stream: event.stream, bytes: 65_536 });
          out.next({
            type: 'response',
            stream: event.stream,
            status: 200,
            headers: [],
            end: false,
          });
        } else if (event.type === 'data') {
          out.next({ type: 'data', stream: event.stream, chunk: event.chunk, end: event.end });
        }
      }),
    );
  let seen: InboundEvent[] = [];

  it('HTTP/2: a CONNECT is a stream with the authority as target and an empty path', async () => {
    seen = [];
    const server = await start(tunnel);
    const client = await session(server.url);
    const stream = client.request(
      { ':method': 'CONNECT', ':authority': 'example.com:443' },
      { endStream: false },
    );
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    const status = await new Promise((resolve) =>
      stream.once('response', (h) => resolve(h[':status'])),
    );
    stream.end('through the tunnel');
    await new Promise((resolve) => stream.once('end', resolve));
    expect(status).toBe(200);
    expect(Buffer.concat(chunks).toString()).toBe('through the tunnel');
    expect(seen[0]).toMatchObject({
      method: 'CONNECT',
      target: 'example.com:443',
      path: '',
      query: '',
      end: false,
    });
    client.close();
  });

  it('HTTP/1.1: a CONNECT is answered 501 and the connection closed; the app is not called', async () => {
    seen = [];
    const server = await start(tunnel);
    const answer = await raw(
      server.port,
      'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n',
    );
    expect(statusOf(answer)).toBe(501);
    expect(answer).toContain('CONNECT tunnels are not served over HTTP/1.1');
    expect(seen).toEqual([]);
  });
});

describe('ConnectionInfo (SPEC.md §4)', () => {
  it('is plain data with every field set, address included, on HTTP/1.1 and HTTP/2', async () => {
    const infos: ConnectionInfo[] = [];
    const server = await start((events, info) => {
      infos.push(structuredClone(info));
      return sending({ type: 'x-none' }, [])(events, info);
    });
    await (await fetch(server.url)).text();
    const client = await session(server.url);
    await new Promise((resolve) => client.request({ ':path': '/' }).on('end', resolve).resume());
    client.close();
    expect(infos.map((info) => info.protocol)).toEqual(['http/1.1', 'h2']);
    for (const info of infos) {
      expect(Object.keys(info).sort()).toEqual([
        'address',
        'client',
        'id',
        'protocol',
        'secure',
        'server',
      ]);
      expect(info.address).toBe(`${info.address.split('/')[0]}/${info.id}`);
      expect(info.address.split('/')[0]).not.toBe('');
      expect(info.client?.[0]).toBe('127.0.0.1');
    }
  });
});

describe('response status (SPEC.md §4.1)', () => {
  /** Answers each request with the status its path names. */
  const statusApp: App = (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type !== 'request') return;
        const status = Number(event.path.slice(1));
        out.next({ type: 'response', stream: event.stream, status, headers: [], end: true });
      }),
    );

  it('an integer 200–599 goes out as it is; anything else fails the stream with 500, on both protocols', async () => {
    const server = await start(statusApp);
    const client = await session(server.url);
    const h2status = (path: string) =>
      new Promise((resolve) => {
        const stream = client.request({ ':path': path });
        stream.once('response', (h) => resolve(h[':status']));
        stream.resume();
      });
    const cases = {
      '/200': 200,
      '/599': 599,
      '/700': 500,
      '/101': 500,
      '/199': 500,
      '/200.5': 500,
    };
    for (const [path, expected] of Object.entries(cases)) {
      expect([path, (await fetch(server.url + path)).status]).toEqual([path, expected]);
      expect([path, await h2status(path)]).toEqual([path, expected]);
    }
    client.close();
  });
});

describe('early hints (SPEC.md §3.3)', () => {
  /** Sends hints with the fields the path names, then answers (a WebSocket is accepted). */
  const hinting: App = (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type !== 'request') return;
        const headers =
          event.path === '/nolink'
            ? ['x-hint', 'a']
            : ['link', '</a.css>; rel=preload', 'x-hint', 'a'];
        out.next({ type: 'early-hints', stream: event.stream, headers });
        if (event.websocket)
          out.next({ type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] });
        else
          out.next({ type: 'response', stream: event.stream, status: 204, headers: [], end: true });
      }),
    );

  it('a 103 goes out with all its fields when one is a link, on both protocols; without a link, none', async () => {
    const server = await start(hinting);
    for (const path of ['/link', '/nolink']) {
      const h1 = await raw(
        server.port,
        `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
      );
      const client = await session(server.url);
      const hints = await new Promise<unknown[]>((resolve) => {
        const seen: unknown[] = [];
        const stream = client.request({ ':path': path });
        stream.on('headers', (h) => seen.push(Object.fromEntries(Object.entries(h))));
        stream.once('response', () => resolve(seen));
        stream.resume();
      });
      client.close();
      if (path === '/link') {
        expect(h1).toMatch(/^HTTP\/1\.1 103 Early Hints\r\n/);
        expect(h1.toLowerCase()).toContain('x-hint: a\r\n');
        expect(hints).toEqual([{ ':status': 103, link: '</a.css>; rel=preload', 'x-hint': 'a' }]);
      } else {
        expect(h1).toMatch(/^HTTP\/1\.1 204 /);
        expect(hints).toEqual([]);
      }
    }
  });

  it('hints on a WebSocket handshake are dropped over HTTP/1.1 and HTTP/2 alike', async () => {
    const server = await start(hinting);
    const h1 = await raw(
      server.port,
      'GET /ws HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n' +
        'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    expect(h1).toMatch(/^HTTP\/1\.1 101 /);
    const client = await session(server.url);
    const hints = await new Promise<unknown[]>((resolve) => {
      const seen: unknown[] = [];
      const stream = client.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':path': '/ws',
          'sec-websocket-version': '13',
        },
        { endStream: false },
      );
      stream.on('headers', (h) => seen.push(Object.fromEntries(Object.entries(h))));
      stream.once('response', (h) => resolve([...seen, h[':status']]));
    });
    client.destroy();
    expect(hints).toEqual([200]);
  });
});
