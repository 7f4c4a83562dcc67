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
  h2LateWindow,
  h2session,
  nextMessage,
  rawExchange,
  rawH1,
  rawH2,
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
  /** The check speaks to a TLS port: skipped for an http: URL. */
  https?: boolean;
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
    id: 'stream-zero',
    level: 'MUST',
    title: 'events on stream 0 that concern no connection, and for streams not open, are dropped',
    needs: [],
    async run(target) {
      await overEach(target, '/stream-zero', (seen, protocol) => {
        same(seen.status, 200, `${protocol} status after events on stream 0 and on no stream`);
        same(seen.body.toString(), 'ok', `${protocol} body`);
      });
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
    id: 'initial-credit',
    level: 'MUST',
    title:
      'an announced initial output credit is a positive integer, and an app that starts from it is never stalled (HTTP/2: a client whose window is 0 opens it after the head)',
    needs: [],
    async run(target) {
      const bytes = 1 << 18;
      const judge = (seen: Seen, protocol: string) => {
        const announced = seen.headers['x-window'];
        expect(
          announced === 'none' || /^[1-9][0-9]*$/.test(String(announced)),
          `${protocol}: the request's window should be absent or a positive integer, the app saw ${announced}`,
        );
        same(
          [seen.status, seen.body.length, seen.aborted],
          [200, bytes, false],
          `${protocol} status, length and completion of a body sent within credit from the announced window`,
        );
      };
      const path = `/download?bytes=${bytes}`;
      if (target.caps.has('h1')) judge(await h1(target.url, { path }), 'h1');
      if (target.caps.has('h2')) judge(await h2LateWindow(target.url, path), 'h2 (window 0)');
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
    id: 'close-own-code',
    level: 'MUST',
    title: "after the app's own close on an HTTP stream, the app is told close with its code",
    needs: [],
    async run(target) {
      const token = tokenOf('o');
      for (const protocol of ['h1', 'h2'] as const) {
        if (!target.caps.has(protocol)) continue;
        const path = `/abort?code=13&token=${token}${protocol}`;
        if (protocol === 'h2') await h2(await target.h2(), { ':path': path }).catch(() => {});
        else await h1(target.url, { path }).catch(() => {});
      }
      await new Promise((resolve) => setTimeout(resolve, 200));
      for (const protocol of ['h1', 'h2'] as const) {
        if (!target.caps.has(protocol)) continue;
        const seen = await h1Or2(target, `/seen?token=${token}${protocol}`);
        same(text(seen), 'close 13', `${protocol}: what the app was told after its own close 13`);
      }
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
  // spec/http1.md
  {
    id: 'h1-head-invalid',
    level: 'MUST',
    title:
      'an HTTP/1.1 head with two Host fields, or an absolute-form target with userinfo, is answered 400 and the connection closed',
    needs: ['h1'],
    async run(target) {
      for (const [what, head] of [
        ['two Host fields', 'GET /info HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n'],
        ['userinfo in the target', 'GET http://user@a/info HTTP/1.1\r\nhost: a\r\n\r\n'],
      ]) {
        answeredAndClosed(await rawExchange(target.url, [head]), 400, what);
      }
    },
  },
  {
    id: 'h1-body-invalid',
    level: 'MUST',
    title:
      'an HTTP/1.1 body with broken chunked framing is answered 400 before its response began, the connection closed; the app told close 8',
    needs: ['h1'],
    async run(target) {
      const token = tokenOf('f');
      const head = `POST /count?token=${token} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n`;
      answeredAndClosed(
        await rawExchange(target.url, [`${head}3\r\nabc\r\nzz\r\n`]),
        400,
        'a chunk size that is not hexadecimal',
      );
      same(
        text(await h1(target.url, { path: `/seen?token=${token}` })),
        'close 8',
        'what the app was told',
      );
    },
  },
  {
    id: 'h1-head-limit',
    level: 'MUST',
    title:
      'an HTTP/1.1 head over the head limit or the field limit is answered 431 and the connection closed',
    needs: ['h1', 'limits'],
    async run(target) {
      const fields = Array.from({ length: 101 }, (_, i) => `x-f${i}: ${i}\r\n`).join('');
      for (const [what, head] of [
        ['a 20 KiB field', `GET /info HTTP/1.1\r\nhost: x\r\nx-big: ${'a'.repeat(20_480)}\r\n\r\n`],
        ['102 fields', `GET /info HTTP/1.1\r\nhost: x\r\n${fields}\r\n`],
      ]) {
        answeredAndClosed(await rawExchange(target.url, [head]), 431, what);
      }
    },
  },
  {
    id: 'h1-body-limit',
    level: 'MUST',
    title: 'an HTTP/1.1 Content-Length over the body limit is answered 413',
    needs: ['h1', 'limits'],
    async run(target) {
      const seen = await rawExchange(target.url, [
        `POST /count HTTP/1.1\r\nhost: x\r\ncontent-length: ${2 ** 40}\r\n\r\nabc`,
      ]);
      const answer = seen.answer.toString('latin1');
      expect(
        /^HTTP\/1\.1 413 /.test(answer),
        `expected 413, got ${JSON.stringify(answer.slice(0, 40))}`,
      );
    },
  },
  {
    id: 'h1-absolute-form',
    level: 'MUST',
    title:
      "an absolute-form target is accepted: authority is the target's, target, path and query its origin form",
    needs: ['h1'],
    async run(target) {
      const seen = await rawExchange(target.url, [
        'GET http://example.com:8080/info?a=1 HTTP/1.1\r\nhost: example.com:8080\r\nconnection: close\r\n\r\n',
      ]);
      const answer = seen.answer.toString('latin1');
      expect(
        /^HTTP\/1\.1 200 /.test(answer),
        `expected 200, got ${JSON.stringify(answer.slice(0, 40))}`,
      );
      const json = answer.slice(answer.indexOf('{'), answer.lastIndexOf('}') + 1);
      const info = JSON.parse(json);
      same(
        [info.authority, info.target, info.path, info.query],
        ['example.com:8080', '/info?a=1', '/info', 'a=1'],
        'authority, target, path and query',
      );
    },
  },
  {
    id: 'h1-pipelining',
    level: 'MUST',
    title: 'pipelined HTTP/1.1 responses are written in request order',
    needs: ['h1'],
    async run(target) {
      const seen = await rawExchange(target.url, [
        'GET /slow?ms=300 HTTP/1.1\r\nhost: x\r\n\r\nGET /status/299 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
      ]);
      const answer = seen.answer.toString('latin1');
      const slow = answer.indexOf('slow done');
      const fast = answer.indexOf('HTTP/1.1 299');
      expect(
        slow >= 0 && fast > slow,
        `expected the slow answer before the fast one, got ${JSON.stringify(answer.slice(0, 200))}`,
      );
    },
  },
  {
    id: 'h1-framing',
    level: 'MUST',
    title:
      'an HTTP/1.1 response sent whole carries content-length; one streamed without a length is chunked',
    needs: ['h1'],
    async run(target) {
      const whole = (
        await rawExchange(target.url, [
          'GET /status/200 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
        ])
      ).answer.toString('latin1');
      const head = whole.slice(0, whole.indexOf('\r\n\r\n')).toLowerCase();
      expect(
        /\r\ncontent-length: 6\r?(\n|$)/.test(`${head}\r\n`) && !head.includes('transfer-encoding'),
        `a response sent whole ("status"): expected content-length: 6, head was ${JSON.stringify(head)}`,
      );
      const streamed = (
        await rawExchange(target.url, [
          'GET /trailers HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n',
        ])
      ).answer.toString('latin1');
      const split = streamed.indexOf('\r\n\r\n');
      const streamedHead = streamed.slice(0, split).toLowerCase();
      expect(
        streamedHead.includes('transfer-encoding: chunked') &&
          streamed.slice(split + 4) === '4\r\nbody\r\n0\r\n\r\n',
        `a streamed response: expected a chunked "body" with no trailer, got ${JSON.stringify(streamed)}`,
      );
    },
  },
  // spec/http2.md
  {
    id: 'h2-body-limit',
    level: 'MUST',
    title: 'an HTTP/2 content-length over the body limit is answered 413 on its stream',
    needs: ['h2', 'limits'],
    async run(target) {
      const session = await target.h2();
      const stream = session.request(
        { ':method': 'POST', ':path': '/count', 'content-length': String(2 ** 40) },
        { endStream: false },
      );
      stream.on('error', () => {});
      const status = await new Promise((resolve) => {
        stream.once('response', (h) => resolve(h[':status']));
        stream.once('close', () => resolve(0));
      });
      stream.close(8);
      same(status, 413, 'the answer to a content-length of 1 TiB');
      same((await h2(session, { ':path': '/status/299' })).status, 299, 'the next stream');
    },
  },
  {
    id: 'h2-connection-fields',
    level: 'MUST',
    title: 'connection-specific fields from the app are dropped on HTTP/2, the rest sent',
    needs: ['h2'],
    async run(target) {
      const seen = await h2(await target.h2(), { ':path': '/connection-fields' });
      const names = Object.keys(seen.headers);
      same(
        [seen.status, text(seen), seen.headers['x-kept']],
        [200, 'ok', '1'],
        'status, body and x-kept',
      );
      const left = names.filter((name) =>
        ['connection', 'keep-alive', 'proxy-connection', 'upgrade', 'transfer-encoding'].includes(
          name,
        ),
      );
      same(left, [], 'connection-specific fields that reached the client');
    },
  },
  {
    id: 'h2-reset',
    level: 'MUST',
    title:
      "an HTTP/2 stream failing after its head is reset with INTERNAL_ERROR, the app's close with the app's code",
    needs: ['h2'],
    async run(target) {
      const session = await target.h2();
      const failed = await h2(session, { ':path': '/fail-after-head' });
      same(failed.rstCode, 2, 'RST_STREAM code of a stream that failed after its head');
      const closed = await h2(session, { ':path': '/abort?code=13' });
      same(closed.rstCode, 13, "RST_STREAM code after the app's close with code 13");
    },
  },
  {
    id: 'h2-abort-bare-rst',
    level: 'MUST',
    title: 'an aborted HTTP/2 response ends with a bare RST_STREAM, never END_STREAM',
    needs: ['h2'],
    async run(target) {
      const frames = (await rawH2(target.url, '/abort')).filter((f) => f.stream === 1);
      // DATA (0) or HEADERS (1) with END_STREAM (flag 0x1) on the aborted stream.
      const ended = frames.some((f) => (f.type === 0 || f.type === 1) && (f.flags & 1) === 1);
      const reset = frames.find((f) => f.type === 3);
      same(
        [ended, reset?.code ?? null],
        [false, 8],
        'END_STREAM seen, and the RST_STREAM code, on an aborted response',
      );
    },
  },
  // spec/websocket.md
  {
    id: 'ws-message-limit',
    level: 'MUST',
    title: 'a WebSocket message over the message limit closes the session with 1009',
    needs: ['websocket', 'limits'],
    async run(target) {
      const ws = await websocket(`${target.url.replace(/^http/, 'ws')}/ws`);
      ws.on('error', () => {});
      const code = closeCode(ws);
      ws.send(Buffer.alloc(16 * 1024 * 1024 + 1));
      same(await code, 1009, 'close code after a message of 16 MiB + 1');
    },
  },
  {
    id: 'ws-utf8',
    level: 'MUST',
    title:
      'invalid UTF-8 in a text message closes the session with 1007, at the first bad fragment',
    needs: ['websocket'],
    async run(target) {
      const ws = await websocket(`${target.url.replace(/^http/, 'ws')}/ws`);
      ws.on('error', () => {});
      const code = closeCode(ws);
      // The first fragment of a text message, never finished: the close must not wait for the rest.
      ws.send(Buffer.from([0x41, 0xff, 0x41]), { binary: false, fin: false });
      same(await code, 1007, 'close code after a fragment with invalid UTF-8');
    },
  },
  {
    id: 'ws-ping',
    level: 'MUST',
    title: 'a WebSocket ping is answered with a pong carrying its payload',
    needs: ['websocket'],
    async run(target) {
      const ws = await websocket(`${target.url.replace(/^http/, 'ws')}/ws`);
      try {
        const pong = new Promise<string>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Failure('no pong within 5 s')), 5_000);
          ws.once('pong', (data: Buffer) => {
            clearTimeout(timer);
            resolve(data.toString());
          });
        });
        ws.ping('conformance');
        same(await pong, 'conformance', 'the pong payload');
      } finally {
        ws.close();
      }
    },
  },
  {
    id: 'ws-close',
    level: 'MUST',
    title: 'a WebSocket close frame is answered with a close frame carrying the same code',
    needs: ['websocket'],
    async run(target) {
      const ws = await websocket(`${target.url.replace(/^http/, 'ws')}/ws`);
      ws.on('error', () => {});
      const code = closeCode(ws);
      ws.close(4000, 'bye');
      same(await code, 4000, "the code of the host's close frame");
    },
  },
  {
    id: 'ws-close-own',
    level: 'MUST',
    title:
      "a host's own WebSocket close ends the session as soon as the peer answers, though the app granted no credit",
    needs: ['websocket'],
    async run(target) {
      const key = randomBytes(16).toString('base64');
      const head = `GET /ws?close HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`;
      // The head in two writes (no first read to lean on), then the client's answering close
      // (1000, masked); a host that reads nothing without credit would wait its 30 s.
      const close = Buffer.from([0x88, 0x82, 1, 2, 3, 4, 0x03 ^ 1, 0xe8 ^ 2]);
      const seen = await rawExchange(target.url, [head.slice(0, 24), head.slice(24), close], {
        every: 300,
        quiet: 5_000,
        wait: 5_000,
      });
      const answer = seen.answer;
      const frames = answer.subarray(answer.indexOf('\r\n\r\n') + 4);
      expect(
        /^HTTP\/1\.1 101 /.test(answer.toString('latin1')) && frames[0] === 0x88,
        `expected 101 and a close frame, got ${JSON.stringify(answer.toString('latin1').slice(0, 40))}`,
      );
      same(
        frames.length >= 4 ? frames.readUInt16BE(2) : 0,
        4001,
        "the code of the host's close frame",
      );
      expect(
        seen.closed,
        "the host did not end the connection within 5 s of the peer's close frame",
      );
    },
  },
  // spec/server.md
  {
    id: 'tls-alpn',
    level: 'MUST',
    title: 'a TLS port offers ALPN h2 and http/1.1, and serves HTTP/1.1 without ALPN',
    needs: ['h1', 'h2'],
    https: true,
    async run(target) {
      const get = 'GET /status/299 HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n';
      const h2offer = await rawExchange(target.url, [], { alpn: ['h2', 'http/1.1'], wait: 300 });
      same(h2offer.alpn, 'h2', 'ALPN chosen from h2, http/1.1');
      for (const alpn of [['http/1.1'], undefined]) {
        const seen = await rawExchange(target.url, [get], { alpn });
        const answer = seen.answer.toString('latin1');
        expect(
          /^HTTP\/1\.1 299 /.test(answer),
          `ALPN ${alpn?.join(',') ?? 'none'}: expected an HTTP/1.1 answer, got ${JSON.stringify(answer.slice(0, 40))}`,
        );
      }
    },
  },
  {
    id: 'tls-cleartext-400',
    level: 'MUST',
    title: 'a cleartext request to the TLS port is answered 400 in cleartext and closed',
    needs: [],
    https: true,
    async run(target) {
      const seen = await rawExchange(target.url, ['GET /info HTTP/1.1\r\nhost: x\r\n\r\n'], {
        plain: true,
      });
      const answer = seen.answer.toString('latin1');
      expect(
        /^HTTP\/1\.1 400 /.test(answer) && /\r\nconnection: close\r\n/i.test(answer) && seen.closed,
        `expected 400 with connection: close, then the connection closed, got ${JSON.stringify(answer.slice(0, 80))}${seen.closed ? '' : ', connection open'}`,
      );
    },
  },
  {
    id: 'timeout-head',
    level: 'MUST',
    title: 'an HTTP/1.1 head still trickling in after the head time is answered 408 and closed',
    needs: ['h1', 'timeouts'],
    async run(target) {
      const parts = ['GET /info HTTP/1.1\r\nhost: x\r\n'];
      for (let i = 0; i < 60; i++) parts.push(`x-drip-${i}: ${i}\r\n`);
      const seen = await rawExchange(target.url, parts, { every: 200, wait: 12_000, quiet: 500 });
      const answer = seen.answer.toString('latin1');
      expect(
        /^HTTP\/1\.1 408 /.test(answer) && seen.closed,
        `expected 408 and the connection closed, got ${JSON.stringify(answer.slice(0, 40))}${seen.closed ? '' : ', connection open'}`,
      );
    },
  },
  {
    id: 'timeout-body',
    level: 'MUST',
    title:
      'a request body stalled past the body time: HTTP/1.1 408 before the head, HTTP/2 RST_STREAM CANCEL; the app told close 8',
    needs: ['timeouts'],
    async run(target) {
      const token = tokenOf('b');
      if (target.caps.has('h1')) {
        const seen = await rawExchange(
          target.url,
          [`POST /count?token=${token}h1 HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\nabcde`],
          { wait: 12_000, quiet: 500 },
        );
        const answer = seen.answer.toString('latin1');
        expect(
          /^HTTP\/1\.1 408 /.test(answer) && seen.closed,
          `h1: expected 408 and the connection closed, got ${JSON.stringify(answer.slice(0, 40))}${seen.closed ? '' : ', connection open'}`,
        );
      }
      if (target.caps.has('h2')) {
        const session = await target.h2();
        const stream = session.request(
          { ':method': 'POST', ':path': `/count?token=${token}h2` },
          { endStream: false },
        );
        stream.on('error', () => {});
        stream.write('abcde');
        const code = await resetCode(stream, 12_000);
        same(code, 8, 'h2: RST_STREAM code of a stalled body (-1: none in 12 s)');
      }
      for (const protocol of ['h1', 'h2'] as const) {
        if (!target.caps.has(protocol)) continue;
        const told = text(await h1Or2(target, `/seen?token=${token}${protocol}`));
        same(told, 'close 8', `${protocol}: what the app was told`);
      }
    },
  },
  {
    id: 'timeout-send',
    level: 'MUST',
    title:
      'output a client reads none of for the send time: HTTP/1.1 connection closed, HTTP/2 RST_STREAM CANCEL; the app told close 8',
    needs: ['timeouts'],
    async run(target) {
      const token = tokenOf('s');
      const bytes = 64 * 1024 * 1024;
      if (target.caps.has('h1')) {
        // Read nothing for 5 s, then read what is left: the host must have closed before the end.
        const seen = await rawExchange(
          target.url,
          [`GET /download?bytes=${bytes}&token=${token}h1 HTTP/1.1\r\nhost: x\r\n\r\n`],
          { wait: 14_000, quiet: 2_000, pauseFor: 5_000 },
        );
        expect(
          seen.closed && seen.answer.length < bytes,
          `h1: expected the connection closed before the 64 MiB were sent, got ${seen.answer.length} bytes${seen.closed ? '' : ', connection open'}`,
        );
      }
      if (target.caps.has('h2')) {
        const session = await target.h2();
        const stream = session.request({ ':path': `/download?bytes=${bytes}&token=${token}h2` });
        stream.on('error', () => {});
        stream.once('response', () => stream.pause());
        const code = await resetCode(stream, 12_000);
        same(
          code,
          8,
          'h2: RST_STREAM code of a response the client does not read (-1: none in 12 s)',
        );
      }
      for (const protocol of ['h1', 'h2'] as const) {
        if (!target.caps.has(protocol)) continue;
        const told = text(await h1Or2(target, `/seen?token=${token}${protocol}`));
        same(told, 'close 8', `${protocol}: what the app was told`);
      }
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
/** Expect a raw HTTP/1.1 exchange answered with `status` and its connection closed after. */
function answeredAndClosed(
  seen: { answer: Buffer; closed: boolean },
  status: number,
  what: string,
): void {
  const answer = seen.answer.toString('latin1');
  expect(
    answer.startsWith(`HTTP/1.1 ${status} `) && seen.closed,
    `${what}: expected ${status} and the connection closed, got ${JSON.stringify(answer.slice(0, 40))}${seen.closed ? '' : ', connection open'}`,
  );
}

/** The RST_STREAM code `stream` ends with, or -1 (and the stream cancelled) after `ms`. */
function resetCode(stream: import('node:http2').ClientHttp2Stream, ms: number): Promise<number> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      stream.close(8);
      resolve(-1);
    }, ms);
    stream.once('close', () => {
      clearTimeout(timer);
      resolve(stream.rstCode);
    });
  });
}

async function h1Or2(target: Target, path: string): Promise<Seen> {
  if (target.caps.has('h2')) return h2(await target.h2(), { ':path': path });
  return h1(target.url, { path });
}

/** The code of the close frame `ws` gets, or of its closing (1006 without one). */
function closeCode(ws: import('ws').WebSocket): Promise<number> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Failure('the session did not close within 5 s')),
      5_000,
    );
    ws.once('close', (code: number) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
}
