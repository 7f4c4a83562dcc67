/**
 * Property-based fuzzing of every decoder that reads bytes from outside the process (issue 16):
 * the event codec (SPEC.md §9), the bus envelope (spec/actors.md §5) and the remote-worker frame (spec/actors.md §8).
 * Whatever the bytes, a decoder gives plain data or a clear refusal (a stable code or reason),
 * never a crash, and msgpack extension types never come in as foreign objects.
 */
import { ExtData } from '@msgpack/msgpack';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MemoryBus } from '../../core/bus.js';
import { decodeEvent, encodeEvent } from '../../core/codec.js';
import { decodeEnvelope, ENVELOPE_KIND, encodeEnvelope } from '../../core/envelope.js';
import { ERR, RxgiError } from '../../core/errors.js';
import type { RxgiEvent, Value } from '../../core/events.js';
import { Hub } from '../../core/hub.js';
import {
  decodeFrame,
  encodeEventFrame,
  encodeFrame,
  FRAME_KIND,
  MAX_FRAME_SIZE,
} from '../../protocols/remote/frame.js';
import { damaged, foreignEncoder, isPlain, msgpackValue, plainValue } from '../plain.js';

const RUNS = { numRuns: 1_000 };

/** Messages a refusal of `decodeEvent` may carry, each with RXGI_ERR_BAD_ENCODING and 400. */
const EVENT_REFUSALS = [
  /^the bytes are not msgpack$/,
  /^the value is not an rxgi event$/,
  /^msgpack extension type -?\d+ is not plain data; events and messages carry none$/,
];

/** The outcome of decoding `bytes` as an event: the event, or the refusal's code and message. */
function tryEvent(bytes: Uint8Array): { event: RxgiEvent } | { refused: RxgiError } {
  try {
    return { event: decodeEvent(bytes) };
  } catch (error) {
    if (!(error instanceof RxgiError)) throw error;
    return { refused: error };
  }
}

function expectClearEventOutcome(bytes: Uint8Array): void {
  const outcome = tryEvent(bytes);
  if ('event' in outcome) {
    expect(typeof outcome.event.type).toBe('string');
    expect(Number.isInteger(outcome.event.stream)).toBe(true);
    expect(isPlain(outcome.event)).toBe(true);
    return;
  }
  expect(outcome.refused.code).toBe(ERR.BAD_ENCODING);
  expect(outcome.refused.status).toBe(400);
  expect(EVENT_REFUSALS.some((pattern) => pattern.test(outcome.refused.message))).toBe(true);
}

const eventBytes = fc
  .tuple(fc.string({ minLength: 1, maxLength: 12 }), fc.integer({ min: 0 }), msgpackValue)
  .map(([type, stream, data]) => foreignEncoder.encode({ type, stream, data }));

describe('fuzz: the event codec (decodeEvent)', () => {
  it('gives a plain event or RXGI_ERR_BAD_ENCODING for any bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 256 }), expectClearEventOutcome), RUNS);
  });

  it('does the same for damaged events and events holding extension types', () => {
    fc.assert(
      fc.property(fc.oneof(eventBytes, damaged(eventBytes)), expectClearEventOutcome),
      RUNS,
    );
  });

  it('refuses a timestamp or other extension type by its type, not as a Date or ExtData', () => {
    const date = foreignEncoder.encode({ type: 'data', stream: 1, at: new Date(0) });
    expect(() => decodeEvent(date)).toThrow(
      'msgpack extension type -1 is not plain data; events and messages carry none',
    );
    const ext = foreignEncoder.encode({
      type: 'data',
      stream: 1,
      x: new ExtData(7, Uint8Array.of(1)),
    });
    expect(() => decodeEvent(ext)).toThrow(expect.objectContaining({ code: ERR.BAD_ENCODING }));
  });

  it('round-trips plain events', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0 }), plainValue, (type, stream, data) => {
        const event = { type, stream, data } as unknown as RxgiEvent;
        expect(decodeEvent(encodeEvent(event))).toEqual(event);
      }),
      RUNS,
    );
  });
});

const envelopeBytes = fc
  .tuple(
    fc.constantFrom(1, 2, 3, 4, 0, -1),
    fc.oneof(fc.constant(1), fc.integer({ min: -2, max: 5 })),
    fc.oneof(fc.string(), fc.integer()),
    fc.oneof(fc.string(), fc.constant(null)),
    msgpackValue,
  )
  .map(([version, kind, from, to, data]) =>
    foreignEncoder.encode([version === 4 ? 1 : version, kind, from, to, data]),
  );

describe('fuzz: the bus envelope (decodeEnvelope)', () => {
  it('gives a plain envelope or a reason (malformed, version) for any bytes, never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 256 }), envelopeBytes, damaged(envelopeBytes)),
        (bytes) => {
          const envelope = decodeEnvelope(bytes);
          if (typeof envelope === 'string') {
            expect(['malformed', 'version']).toContain(envelope);
            return;
          }
          expect([1, 2, 3]).toContain(envelope.kind);
          expect(typeof envelope.from).toBe('string');
          expect(typeof envelope.to).toBe('string');
          expect(isPlain(envelope.data)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('refuses an envelope whose data holds an extension type as malformed', () => {
    const date = foreignEncoder.encode([1, ENVELOPE_KIND.SEND, 'a/1/1', 'b/1/1', new Date(0)]);
    expect(decodeEnvelope(date)).toBe('malformed');
    const ext = foreignEncoder.encode([1, 1, 'a', 'b', { x: new ExtData(5, Uint8Array.of(7)) }]);
    expect(decodeEnvelope(ext)).toBe('malformed');
  });

  it('round-trips plain data', () => {
    fc.assert(
      fc.property(plainValue, (data) => {
        const bytes = encodeEnvelope(ENVELOPE_KIND.GROUP, 'n/c/1', 'room', data as Value);
        expect(decodeEnvelope(bytes)).toEqual({ kind: 2, from: 'n/c/1', to: 'room', data });
      }),
      RUNS,
    );
  });

  it('a hub drops hostile bus payloads, counted, and still delivers the next message', async () => {
    const bus = new MemoryBus();
    const hub = new Hub({ bus });
    const got: Value[] = [];
    const mailbox = {
      deliver: (_s: number, _f: string, _g: string | null, data: Value) => {
        got.push(data);
        return 'ok' as const;
      },
      undelivered: () => {},
    };
    hub.join('room', `${hub.register('c', mailbox)}/1`, mailbox, 1);
    const samples = fc.sample(
      fc.oneof(fc.uint8Array({ maxLength: 128 }), damaged(envelopeBytes)),
      300,
    );
    for (const bytes of samples) bus.publish('rxgi.group.room', bytes);
    await new Promise((resolve) => setTimeout(resolve, 10));
    const { malformed, version } = hub.stats.dropped;
    const refused = samples.filter((bytes) => typeof decodeEnvelope(bytes) === 'string');
    expect(malformed + version).toBe(refused.length);
    expect(got.every((data) => isPlain(data))).toBe(true);
    hub.groupSend('n/c/1', 'room', 'after');
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(got.at(-1)).toBe('after');
    hub.close();
  });
});

const frameBytes = fc
  .tuple(
    fc.constantFrom(1, 1, 1, 2),
    fc.integer({ min: 0, max: 11 }),
    fc.oneof(fc.constantFrom('w1', 'conn-1', 'srv_2'), fc.string()),
    fc.oneof(fc.nat(), fc.integer(), fc.double()),
    fc.oneof(
      msgpackValue,
      eventBytes,
      damaged(eventBytes),
      fc.record({ load: fc.oneof(fc.nat(), fc.string()), accepting: fc.boolean() }),
      fc.record({
        server: fc.constantFrom('s1', 'bad.id'),
        info: fc.record({
          id: fc.string(),
          address: fc.string(),
          protocol: fc.constantFrom('HTTP/1.1', 'HTTP/2'),
          secure: fc.boolean(),
          client: fc.constantFrom(null, ['127.0.0.1', 1]),
          server: fc.constantFrom(null, ['127.0.0.1', 2]),
        }),
      }),
    ),
  )
  .map(([version, kind, key, seq, payload]) =>
    foreignEncoder.encode([version, kind, key, seq, payload]),
  );

describe('fuzz: the remote-worker frame (decodeFrame)', () => {
  it('gives a frame of a known kind or a reason (malformed, version, tooLarge), never throws', () => {
    fc.assert(
      fc.property(
        fc.oneof(fc.uint8Array({ maxLength: 256 }), frameBytes, damaged(frameBytes)),
        (bytes) => {
          const frame = decodeFrame(bytes, MAX_FRAME_SIZE);
          if (typeof frame === 'string') {
            expect(['malformed', 'version']).toContain(frame);
            return;
          }
          expect(Object.values(FRAME_KIND)).toContain(frame.kind);
          expect(typeof frame.key).toBe('string');
          expect(Number.isSafeInteger(frame.seq) && frame.seq >= 0).toBe(true);
          expect(isPlain(frame)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('refuses a frame over maxFrameSize before decoding it', () => {
    expect(decodeFrame(new Uint8Array(101), 100)).toBe('tooLarge');
  });

  it('refuses an EVENT frame whose event holds an extension type as malformed', () => {
    const event = foreignEncoder.encode({ type: 'data', stream: 1, at: new Date(0) });
    expect(decodeFrame(encodeFrame(FRAME_KIND.EVENT, 'c1', 1, event), MAX_FRAME_SIZE)).toBe(
      'malformed',
    );
    const hello = encodeFrame(FRAME_KIND.HELLO, 'w1', 0, {
      load: 1,
      accepting: new ExtData(1, Uint8Array.of()),
    });
    expect(decodeFrame(hello, MAX_FRAME_SIZE)).toBe('malformed');
  });

  it('round-trips EVENT frames of plain events', () => {
    fc.assert(
      fc.property(fc.string(), fc.nat(), plainValue, (type, seq, data) => {
        const event = { type, stream: 1, data } as unknown as RxgiEvent;
        expect(decodeFrame(encodeEventFrame('c1', seq, event), MAX_FRAME_SIZE)).toEqual({
          kind: FRAME_KIND.EVENT,
          key: 'c1',
          seq,
          event,
        });
      }),
      RUNS,
    );
  });
});
