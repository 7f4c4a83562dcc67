import type { InboundEvent, OutboundEvent } from 'rxgi';
import { RxgiError } from 'rxgi';
import { chunkLength } from 'rxgi/driver';
import { decodeEvent, encodeEvent } from 'rxgi/events';
import { describe, expect, it } from 'vitest';

const bytes = new Uint8Array([0, 1, 2, 255]);
const caps = { push: false, trailers: true, earlyHints: true, websocket: true };

// Record<type, event> makes the compiler insist on a sample of every event type.
const inbound: { [K in InboundEvent['type']]: Extract<InboundEvent, { type: K }> } = {
  request: {
    type: 'request',
    stream: 1,
    method: 'POST',
    target: '/a?b=1',
    path: '/a',
    query: 'b=1',
    headers: ['host', 'x', 'cookie', 'a=1', 'cookie', 'b=2'],
    http: '1.1',
    scheme: 'https',
    authority: 'x',
    client: ['127.0.0.1', 40000],
    server: null,
    caps,
    websocket: true,
    subprotocols: ['chat'],
    end: false,
  },
  data: { type: 'data', stream: 1, chunk: bytes, end: false },
  trailers: { type: 'trailers', stream: 1, headers: ['x-sum', '1'] },
  'ws-message': { type: 'ws-message', stream: 3, data: 'text stays text' },
  close: { type: 'close', stream: 3, code: 1001, reason: 'going away' },
  window: { type: 'window', stream: 1, bytes: 65_536 },
  shutdown: { type: 'shutdown', stream: 0, deadline: 10_000 },
  message: {
    type: 'message',
    stream: 3,
    from: 'a1b2c3d4e5f6/h1-9/1',
    group: 'chat',
    data: { text: 'hi', raw: bytes, n: [1, 2.5, null, true] },
    size: 52,
  },
  undelivered: { type: 'undelivered', stream: 3, to: 'a1b2c3d4e5f6/h2-1/5', reason: 'full' },
  dropped: { type: 'dropped', stream: 3, count: 12 },
};

const outbound: { [K in OutboundEvent['type']]: Extract<OutboundEvent, { type: K }> } = {
  response: {
    type: 'response',
    stream: 1,
    status: 200,
    headers: ['a', 'b'],
    body: bytes,
    end: false,
    trailers: true,
  },
  data: { type: 'data', stream: 1, chunk: 'a string chunk', end: true },
  trailers: { type: 'trailers', stream: 1, headers: ['x-sum', '1'] },
  push: { type: 'push', stream: 1, path: '/app.js', headers: [] },
  'early-hints': { type: 'early-hints', stream: 1, headers: ['link', '</a>; rel=preload'] },
  'ws-accept': { type: 'ws-accept', stream: 3, subprotocol: null, headers: [] },
  'ws-message': { type: 'ws-message', stream: 3, data: bytes },
  close: { type: 'close', stream: 3, code: 1000, reason: '' },
  window: { type: 'window', stream: 1, bytes: 1 },
  join: { type: 'join', stream: 3, group: 'room:42', slow: 'close', maxDropped: 5 },
  leave: { type: 'leave', stream: 3, group: 'room:42' },
  send: { type: 'send', stream: 0, to: 'a1b2c3d4e5f6/h1-9/1', data: bytes },
  'group-send': { type: 'group-send', stream: 3, group: 'room:42', data: 'text stays text' },
};

describe('event codec', () => {
  const all = [...Object.values(inbound), ...Object.values(outbound)];

  it.each(all.map((event) => [`${event.type} (${event.stream})`, event]))(
    'round-trips %s through msgpack unchanged',
    (_name, event) => {
      const decoded = decodeEvent(encodeEvent(event));
      expect(decoded).toEqual(event);
      expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    },
  );

  it('keeps bytes as bytes and strings as strings', () => {
    const message = decodeEvent(encodeEvent(outbound['ws-message'])) as { data: unknown };
    expect(message.data).toBeInstanceOf(Uint8Array);
    const text = decodeEvent(encodeEvent(inbound['ws-message'])) as { data: unknown };
    expect(typeof text.data).toBe('string');
  });

  it('drops undefined optional fields rather than turning them into null', () => {
    const event: OutboundEvent = {
      type: 'response',
      stream: 1,
      status: 204,
      headers: [],
      end: true,
      body: undefined,
    };
    expect(decodeEvent(encodeEvent(event))).toEqual({
      type: 'response',
      stream: 1,
      status: 204,
      headers: [],
      end: true,
    });
  });

  it('refuses bytes that are not an event with RXGI_ERR_BAD_ENCODING', () => {
    for (const bad of [
      new Uint8Array([0xc1]),
      encodeEvent({ nope: 1 } as never),
      encodeEvent([1, 2] as never),
    ]) {
      try {
        decodeEvent(bad);
        expect.unreachable();
      } catch (error) {
        expect(error).toBeInstanceOf(RxgiError);
        expect((error as RxgiError).code).toBe('RXGI_ERR_BAD_ENCODING');
      }
    }
  });
});

describe('chunkLength', () => {
  it('counts UTF-8 bytes exactly as TextEncoder encodes them', () => {
    const samples = [
      '',
      'ascii',
      'héllo',
      '€uro',
      '😀 emoji',
      'a\ud800b',
      '\udc00',
      'z\ud83d',
      'mixed ☃ 😀 é',
    ];
    for (const sample of samples) {
      expect([sample, chunkLength(sample)]).toEqual([
        sample,
        new TextEncoder().encode(sample).byteLength,
      ]);
    }
    expect(chunkLength(new Uint8Array(7))).toBe(7);
  });
});
