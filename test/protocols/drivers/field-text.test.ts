import { connect } from 'node:net';
import type { App } from 'rxgi';
import { inject } from 'rxgi/testing';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { closeServers, start } from '../../helpers.js';

afterEach(closeServers);

/** The char codes of a string, in hex. */
const codes = (text: string) => [...text].map((c) => c.charCodeAt(0).toString(16)).join(' ');

/** Answers with header `x-out: out` and, as body, the codes of the `x-in` value and the path. */
function fieldApp(out: string, body: 'string' | 'bytes' = 'string'): App {
  return (events) =>
    new Observable((subscriber) =>
      events.subscribe((event) => {
        if (event.type !== 'request') return;
        const value = event.headers[event.headers.indexOf('x-in') + 1] ?? '';
        const text = `${codes(value)} | ${codes(event.path)}`;
        subscriber.next({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: ['x-out', out],
          body: body === 'string' ? text : new TextEncoder().encode(text),
          end: true,
        });
      }),
    );
}

/** One HTTP/1.1 exchange over a raw socket: the response's bytes. */
function rawExchange(port: number, request: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('end', () => resolve(Buffer.concat(chunks)));
    socket.on('error', reject);
  });
}

const utf8E = Buffer.from('é'); // c3 a9

describe('field text is one character per byte (SPEC.md §3.1)', () => {
  for (const body of ['string', 'bytes'] as const) {
    it(`HTTP/1.1, ${body} body: c3 a9 in arrives as two characters; é out leaves as the byte e9`, async () => {
      const server = await start(fieldApp('é', body));
      const answer = await rawExchange(
        server.port,
        Buffer.concat([
          Buffer.from('GET /p HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-in: '),
          utf8E,
          Buffer.from('\r\n\r\n'),
        ]),
      );
      expect(answer.includes(Buffer.from('x-out: \xe9\r\n', 'latin1'))).toBe(true);
      expect(answer.toString('latin1')).toContain('c3 a9 | 2f 70');
    });
  }

  it('HTTP/2: the same mapping, for fields and the path', async () => {
    const server = await start(fieldApp('é'));
    const client = await session(server.url);
    const stream = client.request({ ':path': '/\xe9', 'x-in': utf8E.toString('latin1') });
    const head = await new Promise<Record<string, string>>((resolve) =>
      stream.once('response', (h) => resolve(h as Record<string, string>)),
    );
    let text = '';
    stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
    await new Promise((resolve) => stream.once('end', resolve));
    client.close();
    expect(codes(head['x-out'])).toBe('e9');
    expect(text).toBe('c3 a9 | 2f e9');
  });

  it('a value with a character above U+00FF fails the stream with 500, on both protocols', async () => {
    const server = await start(fieldApp('€'));
    expect((await fetch(server.url)).status).toBe(500);
    const client = await session(server.url);
    const stream = client.request({ ':path': '/' });
    const status = await new Promise((resolve) =>
      stream.once('response', (h) => resolve(h[':status'])),
    );
    stream.resume();
    client.close();
    expect(status).toBe(500);
  });

  it('HTTP/1.1: a target byte outside ASCII is refused with 400 (RFC 9112 §3.2)', async () => {
    const server = await start(fieldApp('ok'));
    const answer = await rawExchange(
      server.port,
      Buffer.concat([Buffer.from('GET /'), utf8E, Buffer.from(' HTTP/1.1\r\nhost: x\r\n\r\n')]),
    );
    expect(answer.toString('latin1')).toMatch(/^HTTP\/1\.1 400 /);
  });
});

/** Answers with the header list the request's `x-list` names, as `name=value` pairs joined by `;`. */
function listApp(): App {
  return (events) =>
    new Observable((subscriber) =>
      events.subscribe((event) => {
        if (event.type !== 'request') return;
        const list = decodeURIComponent(event.query)
          .split(';')
          .flatMap((pair) => pair.split('='));
        subscriber.next({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: list,
          body: 'ok',
          end: true,
        });
      }),
    );
}

describe('repeated fields (SPEC.md §8.2)', () => {
  const query = (pairs: string) => `/?${encodeURIComponent(pairs)}`;

  it('a repeated single-value field fails the stream with 500 alike on HTTP/1.1, HTTP/2 and in memory', async () => {
    const server = await start(listApp());
    const client = await session(server.url);
    try {
      for (const pairs of ['content-type=a/b;Content-Type=c/d', 'location=/a;x=1;location=/b']) {
        expect((await fetch(server.url + query(pairs))).status).toBe(500);
        expect((await exchange(client, { ':path': query(pairs) })).status).toBe(500);
        expect((await inject(listApp(), { target: query(pairs) })).status).toBe(500);
      }
    } finally {
      client.close();
    }
  });

  it('a repeated list field goes out on both protocols: as two lines on HTTP/1.1, joined where node:http2 will not repeat it', async () => {
    const server = await start(listApp());
    const h1 = await fetch(
      server.url + query('content-language=en;content-language=fr;vary=a;vary=b'),
    );
    expect(h1.status).toBe(200);
    expect(h1.headers.get('content-language')).toBe('en, fr');
    expect(h1.headers.get('vary')).toBe('a, b');
    const client = await session(server.url);
    try {
      const h2 = await exchange(client, {
        ':path': query('content-language=en;content-language=fr;vary=a;vary=b'),
      });
      expect(h2.status).toBe(200);
      expect(h2.headers['content-language']).toBe('en, fr');
      expect(h2.headers.vary).toBe('a, b');
    } finally {
      client.close();
    }
  });
});
