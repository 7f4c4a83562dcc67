/**
 * The conformance checks: each tests one rule of SPEC.md, named by its id, against a host that
 * serves the fixture (fixture.ts), over the wire. A check throws a `Failure` saying what it saw.
 */
import { randomBytes } from 'node:crypto';
import type { ClientHttp2Session } from 'node:http2';
import { ALL_CAPABILITIES, type Capability } from './capabilities.js';
import {
  expectContinue,
  h1,
  h2,
  h2session,
  nextMessage,
  rawH1,
  type Seen,
  websocket,
} from './clients.js';

export { ALL_CAPABILITIES, type Capability };

/** A check failed: `message` says what was expected and what was seen. */
export class Failure extends Error {}

/** The host under test, as a check sees it. */
export interface Target {
  /** Base URL, `http://host:port` or `https://host:port`. */
  url: string;
  caps: ReadonlySet<Capability>;
  /** An HTTP/2 session to the host, opened on first use and shared by the checks. */
  h2(): Promise<ClientHttp2Session>;
}

/** One rule checked. */
export interface Check {
  /** The rule's id in SPEC.md, e.g. `status-final`. */
  id: string;
  level: 'MUST' | 'SHOULD';
  title: string;
  needs: Capability[];
  run(target: Target): Promise<void>;
}

function expect(condition: boolean, message: string): void {
  if (!condition) throw new Failure(message);
}

function same(actual: unknown, expected: unknown, what: string): void {
  const a = JSON.stringify(actual);
  const e = JSON.stringify(expected);
  expect(a === e, `${what}: expected ${e}, got ${a}`);
}

/** The exchanges a check makes on each protocol the host offers. */
async function overEach(
  target: Target,
  path: string,
  check: (seen: Seen, protocol: 'h1' | 'h2') => void,
  init: { method?: string; body?: Buffer | string } = {},
): Promise<void> {
  if (target.caps.has('h1')) check(await h1(target.url, { path, ...init }), 'h1');
  if (target.caps.has('h2')) {
    const headers = { ':method': init.method ?? 'GET', ':path': path };
    check(await h2(await target.h2(), headers, init.body), 'h2');
  }
}

const text = (seen: Seen) => seen.body.toString('latin1');

export const CHECKS: Check[] = [
  {
    id: 'request-fields',
    level: 'MUST',
    title:
      'a request event carries the method, target, path, query, lower-case field names, version and scheme as sent',
    needs: [],
    async run(target) {
      const scheme = new URL(target.url).protocol.slice(0, -1);
      const authority = new URL(target.url).host;
      const check = (seen: Seen, protocol: 'h1' | 'h2') => {
        same(seen.status, 200, `${protocol} status of /info`);
        const info = JSON.parse(seen.body.toString());
        same(
          [info.method, info.target, info.path, info.query],
          ['GET', '/info?a=1&b', '/info', 'a=1&b'],
          `${protocol} method, target, path, query`,
        );
        same(
          [info.http, info.scheme, info.authority],
          [protocol === 'h1' ? '1.1' : '2', scheme, authority],
          `${protocol} http, scheme, authority`,
        );
        const names: string[] = info.headers.filter((_: string, i: number) => i % 2 === 0);
        expect(
          names.includes('x-mixed-case'),
          `${protocol}: field X-Mixed-Case should arrive as x-mixed-case, names were ${names.join(', ')}`,
        );
        expect(
          names.every((name) => name === name.toLowerCase()),
          `${protocol}: every field name is lower case: ${names.join(', ')}`,
        );
      };
      if (target.caps.has('h1'))
        check(
          await h1(target.url, { path: '/info?a=1&b', headers: { 'X-Mixed-Case': 'yes' } }),
          'h1',
        );
      if (target.caps.has('h2'))
        check(await h2(await target.h2(), { ':path': '/info?a=1&b', 'x-mixed-case': 'yes' }), 'h2');
    },
  },
  {
    id: 'subscribe-first',
    level: 'MUST',
    title:
      'the first request on a new connection reaches an app that subscribes to its input lazily',
    needs: [],
    async run(target) {
      // The fixture subscribes to its input only when its output is subscribed: a host that
      // emitted first would lose the request, and this exchange would time out.
      if (target.caps.has('h1'))
        same((await h1(target.url, { path: '/info' })).status, 200, 'h1 first request');
      if (target.caps.has('h2')) {
        const fresh = await h2session(target.url);
        try {
          same((await h2(fresh, { ':path': '/info' })).status, 200, 'h2 first request');
        } finally {
          fresh.close();
        }
      }
    },
  },
  {
    id: 'connection-info',
    level: 'MUST',
    title: 'the app is called with every ConnectionInfo field set as the connection is',
    needs: [],
    async run(target) {
      const secure = new URL(target.url).protocol === 'https:';
      await overEach(target, '/info', (seen, protocol) => {
        const { connection, client, server } = JSON.parse(seen.body.toString());
        expect(
          typeof connection.id === 'string' && connection.id !== '',
          `${protocol}: id should be a non-empty string, was ${JSON.stringify(connection.id)}`,
        );
        expect(
          typeof connection.address === 'string' &&
            connection.address.endsWith(`/${connection.id}`) &&
            connection.address.length > connection.id.length + 1,
          `${protocol}: address should be <node>/${connection.id}, was ${JSON.stringify(connection.address)}`,
        );
        // An adapter may name its own protocol (a fetch host: 'fetch'), never the other wire's.
        const other = protocol === 'h1' ? 'h2' : 'http/1.1';
        expect(
          typeof connection.protocol === 'string' &&
            connection.protocol !== '' &&
            connection.protocol !== other,
          `${protocol}: protocol should name the connection's, was ${JSON.stringify(connection.protocol)}`,
        );
        same(connection.secure, secure, `${protocol} secure`);
        same([connection.client, connection.server], [client, server], `${protocol} addresses`);
      });
    },
  },
  {
    id: 'connect-target',
    level: 'MUST',
    title: 'an HTTP/2 CONNECT is a tunnel stream: target is the authority, path and query empty',
    needs: ['h2', 'tunnel'],
    async run(target) {
      const session = await target.h2();
      // A client that keeps its side of the tunnel open: the request's `end` is false.
      const seen = await h2(
        session,
        { ':method': 'CONNECT', ':authority': 'example.com:443' },
        'x',
      );
      same(seen.status, 200, 'the answer to a CONNECT the app accepts');
      const info = JSON.parse(seen.body.toString());
      same(
        [info.method, info.target, info.path, info.query, info.end],
        ['CONNECT', 'example.com:443', '', '', false],
        'method, target, path, query and end of the CONNECT request',
      );
    },
  },
  {
    id: 'field-text-in',
    level: 'MUST',
    title: 'each byte of a received field value or path is one character',
    needs: [],
    async run(target) {
      const utf8 = Buffer.from('\u00e9').toString('latin1'); // c3 a9 as two characters
      if (target.caps.has('h1')) {
        const seen = await h1(target.url, { path: '/fields', headers: { 'x-in': utf8 } });
        same(text(seen), 'c3 a9 | 2f 66 69 65 6c 64 73', 'h1 x-in and path character codes');
      }
      if (target.caps.has('h2')) {
        const seen = await h2(await target.h2(), { ':path': '/fields', 'x-in': utf8 });
        same(text(seen), 'c3 a9 | 2f 66 69 65 6c 64 73', 'h2 x-in and path character codes');
      }
    },
  },
  {
    id: 'field-text-out',
    level: 'MUST',
    title: 'each character of a sent field value is one byte',
    needs: [],
    async run(target) {
      await overEach(target, '/fields', (seen, protocol) => {
        const value = String(seen.headers['x-out'] ?? '');
        same(
          [...value].map((c) => c.charCodeAt(0)),
          [0xe9],
          `${protocol} bytes of x-out (the app sent "\\u00e9")`,
        );
      });
    },
  },
  {
    id: 'status-final',
    level: 'MUST',
    title: 'a response status outside 200–599 fails the stream (500); one inside goes out as it is',
    needs: [],
    async run(target) {
      for (const [status, expected] of [
        [299, 299],
        [599, 599],
        [700, 500],
        [101, 500],
        [199, 500],
      ]) {
        await overEach(target, `/status/${status}`, (seen, protocol) =>
          same(seen.status, expected, `${protocol} answer to a response with status ${status}`),
        );
      }
    },
  },
  {
    id: 'event-extension',
    level: 'MUST',
    title: 'an x- event the driver does not know is dropped, and the stream goes on',
    needs: [],
    async run(target) {
      await overEach(target, '/x-event', (seen, protocol) =>
        same([seen.status, text(seen)], [200, 'ok'], `${protocol} answer after an x- event`),
      );
    },
  },
  {
    id: 'event-unknown',
    level: 'MUST',
    title: 'an event of an unknown type fails its stream: 500 before the head',
    needs: [],
    async run(target) {
      await overEach(target, '/unknown-event', (seen, protocol) =>
        same(seen.status, 500, `${protocol} answer after an unknown event`),
      );
    },
  },
  {
    id: 'app-close-abort',
    level: 'MUST',
    title:
      "the app's close after the head aborts the exchange (HTTP/2: RST_STREAM with the app's code)",
    needs: [],
    async run(target) {
      await overEach(target, '/abort', (seen, protocol) => {
        expect(
          seen.aborted,
          `${protocol}: the response to /abort should end aborted, it ended complete`,
        );
        if (protocol === 'h2') same(seen.rstCode, 8, 'h2 RST_STREAM code');
      });
    },
  },
  {
    id: 'input-credit',
    level: 'MUST',
    title: 'a driver delivers no more body than the app granted, and the body arrives whole',
    needs: [],
    async run(target) {
      const body = randomBytes(1 << 20);
      await overEach(
        target,
        '/echo',
        (seen, protocol) => {
          expect(
            !seen.aborted,
            `${protocol}: the echo was aborted (the fixture aborts when input passes its window)`,
          );
          expect(
            seen.body.equals(body),
            `${protocol}: the echo of 1 MiB came back with ${seen.body.length} bytes${seen.body.length === body.length ? ', different' : ''}`,
          );
        },
        { method: 'POST', body },
      );
    },
  },
  {
    id: 'continue',
    level: 'MUST',
    title:
      'Expect: 100-continue gets a 100 once the app reads the body, and none when it answers without reading',
    needs: ['continue'],
    async run(target) {
      const over = async (to: string | ClientHttp2Session, protocol: string) => {
        const read = await expectContinue(to, '/echo', 'hello');
        same(
          [read.continued, read.status, read.body.toString()],
          [true, 200, 'hello'],
          `${protocol} 100, status and echo when the app grants credit`,
        );
        const unread = await expectContinue(to, '/status/200', 'never read');
        same(
          [unread.continued, unread.status],
          [false, 200],
          `${protocol} 100 and status when the app answers in full without credit`,
        );
      };
      if (target.caps.has('h1')) await over(target.url, 'h1');
      if (target.caps.has('h2')) await over(await target.h2(), 'h2');
    },
  },
  {
    id: 'output-credit',
    level: 'MUST',
    title:
      'output credit comes back with window events as the body leaves: an app that never sends past it is never stalled',
    needs: [],
    async run(target) {
      const bytes = 1 << 20;
      await overEach(target, `/download?bytes=${bytes}`, (seen, protocol) =>
        same(
          [seen.status, seen.body.length, seen.aborted],
          [200, bytes, false],
          `${protocol} status, length and completion of a body sent within credit`,
        ),
      );
    },
  },
  {
    id: 'trailers-out',
    level: 'MUST',
    title: 'trailers reach a client that takes them (HTTP/2, HTTP/1.1 with TE: trailers)',
    needs: ['trailers'],
    async run(target) {
      if (target.caps.has('h1')) {
        const seen = await h1(target.url, { path: '/trailers', headers: { te: 'trailers' } });
        same(
          [text(seen), seen.trailers['x-trailer']],
          ['body', 'done'],
          'h1 body and trailer with TE: trailers',
        );
      }
      if (target.caps.has('h2')) {
        const seen = await h2(await target.h2(), { ':path': '/trailers' });
        same([text(seen), seen.trailers['x-trailer']], ['body', 'done'], 'h2 body and trailer');
      }
    },
  },
  {
    id: 'trailers-degrade',
    level: 'MUST',
    title: 'without TE: trailers, HTTP/1.1 trailers are dropped and the body ends normally',
    needs: ['h1'],
    async run(target) {
      const seen = await h1(target.url, { path: '/trailers' });
      same(
        [seen.aborted, text(seen), seen.trailers['x-trailer'] ?? null],
        [false, 'body', null],
        'h1 without TE: aborted, body, trailer',
      );
    },
  },
  {
    id: 'trailers-in',
    level: 'MUST',
    title: 'a request body without trailer fields ends with data, never an empty trailers event',
    needs: [],
    async run(target) {
      const token = tokenOf('n');
      await askTrailers(target, `/count?token=${token}`);
      same(
        await seenTrailers(target, token),
        'nothing',
        'trailers event for a body without trailers',
      );
    },
  },
  {
    id: 'trailers-in-delivered',
    level: 'MUST',
    title: 'request trailers a client sends arrive as a trailers event',
    needs: ['request-trailers'],
    async run(target) {
      const token = tokenOf('t');
      await askTrailers(target, `/count?token=${token}`, { 'x-t': '1' });
      same(await seenTrailers(target, token), 'x-t,1', 'trailers event for a body with x-t: 1');
    },
  },
  {
    id: 'early-hints',
    level: 'MUST',
    title: 'early hints with a link go out as a 103; without a link they are dropped',
    needs: ['early-hints'],
    async run(target) {
      await overEach(target, '/hints', (seen, protocol) => {
        same(
          seen.informational.map((head) => head.status),
          [103],
          `${protocol} informational heads before the answer`,
        );
        expect(
          String(seen.informational[0].headers.link ?? '').includes('</style.css>'),
          `${protocol}: the 103 carries the link`,
        );
      });
      await overEach(target, '/nolink-hints', (seen, protocol) =>
        same(
          seen.informational.map((head) => head.status),
          [],
          `${protocol} informational heads for hints without a link`,
        ),
      );
    },
  },
  {
    id: 'close-on-disconnect',
    level: 'MUST',
    title: 'an app is told close with code 8 (CANCEL) for a stream whose client went away',
    needs: [],
    async run(target) {
      const token = tokenOf('d');
      if (target.caps.has('h1')) {
        await rawH1(target.url, `GET /hold?token=${token}h1 HTTP/1.1\r\nhost: x\r\n\r\n`, 200);
      }
      if (target.caps.has('h2')) {
        const session = await target.h2();
        const stream = session.request({ ':path': `/hold?token=${token}h2` });
        stream.on('error', () => {});
        await new Promise((resolve) => stream.once('data', resolve));
        stream.close(8);
      }
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const protocol of ['h1', 'h2'] as const) {
        if (!target.caps.has(protocol)) continue;
        const seen = await h1Or2(target, `/seen?token=${token}${protocol}`);
        same(
          text(seen),
          'close 8',
          `${protocol}: what the app was told about a stream whose client left`,
        );
      }
    },
  },
  {
    id: 'connect-h1',
    level: 'MUST',
    title: 'an HTTP/1.1 CONNECT to a host without tunnels is answered 501',
    needs: ['h1', 'tunnel-refusal'],
    async run(target) {
      const answer = (
        await rawH1(target.url, 'CONNECT example.com:443 HTTP/1.1\r\nhost: example.com:443\r\n\r\n')
      ).toString('latin1');
      expect(
        /^HTTP\/1\.1 501 /.test(answer),
        `expected a 501 answer, got ${JSON.stringify(answer.slice(0, 40))}`,
      );
    },
  },
  {
    id: 'ws-session',
    level: 'MUST',
    title:
      'a WebSocket handshake reaches the app; the offered subprotocol it picks is confirmed; text and binary messages keep their kind',
    needs: ['websocket'],
    async run(target) {
      const ws = await websocket(`${target.url.replace(/^http/, 'ws')}/ws`, ['first', 'second']);
      try {
        same(ws.protocol, 'first', 'the confirmed subprotocol');
        ws.send('text \u00e9');
        same(await nextMessage(ws), 'text \u00e9', 'the echo of a text message');
        ws.send(Buffer.from([0, 1, 255]));
        const echo = await nextMessage(ws);
        expect(
          Buffer.isBuffer(echo) && echo.equals(Buffer.from([0, 1, 255])),
          'the echo of a binary message is the same bytes, binary',
        );
      } finally {
        ws.close();
      }
    },
  },
  {
    id: 'hints-handshake',
    level: 'MUST',
    title: 'early hints on a WebSocket handshake are dropped, over HTTP/1.1 and HTTP/2',
    needs: ['early-hints', 'websocket'],
    async run(target) {
      const key = randomBytes(16).toString('base64');
      const head = (
        await rawH1(
          target.url,
          `GET /ws?hints HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`,
          300,
        )
      ).toString('latin1');
      expect(
        /^HTTP\/1\.1 101 /.test(head),
        `h1: the handshake's first answer should be 101, was ${JSON.stringify(head.slice(0, 40))}`,
      );
      if (!target.caps.has('h2') || !target.caps.has('websocket-h2')) return;
      const session = await target.h2();
      const stream = session.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':path': '/ws?hints',
          'sec-websocket-version': '13',
        },
        { endStream: false },
      );
      stream.on('error', () => {});
      const informational: number[] = [];
      stream.on('headers', (h) => informational.push(Number(h[':status'])));
      const status = await new Promise((resolve) =>
        stream.once('response', (h) => resolve(h[':status'])),
      );
      stream.close(8);
      same([informational, status], [[], 200], 'h2 heads before the 200 and the 200');
    },
  },
  {
    id: 'ws-h2',
    level: 'MUST',
    title:
      'an RFC 8441 extended CONNECT opens the same WebSocket session over HTTP/2 (200, not 101)',
    needs: ['h2', 'websocket-h2'],
    async run(target) {
      const session = await target.h2();
      expect(
        (session.remoteSettings as { enableConnectProtocol?: boolean }).enableConnectProtocol ===
          true,
        'the host should send SETTINGS_ENABLE_CONNECT_PROTOCOL = 1',
      );
      const stream = session.request(
        {
          ':method': 'CONNECT',
          ':protocol': 'websocket',
          ':path': '/ws',
          'sec-websocket-version': '13',
        },
        { endStream: false },
      );
      stream.on('error', () => {});
      const status = await new Promise((resolve) =>
        stream.once('response', (h) => resolve(h[':status'])),
      );
      stream.close(8);
      same(status, 200, 'the answer to an extended CONNECT');
    },
  },
];

const tokenOf = (prefix: string) =>
  `${prefix}${Date.now()}${Math.random().toString(36).slice(2, 8)}`;

/** A POST with a small body, and trailers if given, on HTTP/2 where offered. */
async function askTrailers(
  target: Target,
  path: string,
  trailers?: Record<string, string>,
): Promise<Seen> {
  if (target.caps.has('h2'))
    return h2(await target.h2(), { ':method': 'POST', ':path': path }, 'body', trailers);
  if (trailers === undefined) return h1(target.url, { method: 'POST', path, body: 'body' });
  return h1(target.url, { method: 'POST', path, body: 'body', trailers });
}

/** What the fixture remembers of the trailers of the stream with `token`. */
async function seenTrailers(target: Target, token: string): Promise<string> {
  return text(await h1Or2(target, `/seen?token=trailers-${token}`));
}

/** One exchange on whichever protocol the host offers, HTTP/2 first. */
async function h1Or2(target: Target, path: string): Promise<Seen> {
  if (target.caps.has('h2')) return h2(await target.h2(), { ':path': path });
  return h1(target.url, { path });
}
