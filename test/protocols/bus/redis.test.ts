/**
 * The Redis bridge of the bus against a real redis-server: bytes, order, handler replacement,
 * and a broker killed mid-stream (reconnect, resubscribe, outage buffer and its bound).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Logger, logger, setLogger } from '../../../core/log.js';
import { type RedisBus, type RedisBusOptions, redisBus } from '../../../protocols/bus/redis.js';
import { type Broker, freePort, startRedis } from '../../brokers.js';
import { until } from '../../helpers.js';

let redis: Broker;
const buses: RedisBus[] = [];

async function bus(options?: RedisBusOptions): Promise<RedisBus> {
  const opened = await redisBus(redis.url, options);
  buses.push(opened);
  return opened;
}

/** Collect what a subject receives. */
function collect(on: RedisBus, subject: string): Uint8Array[] {
  const got: Uint8Array[] = [];
  on.subscribe(subject, (payload) => got.push(payload));
  return got;
}

const text = (payloads: Uint8Array[]) => payloads.map((p) => new TextDecoder().decode(p));
const bytes = (s: string) => new TextEncoder().encode(s);

let down = false;

/** Kill the broker and wait until every bus has noticed. */
async function outage(...on: RedisBus[]): Promise<void> {
  down = true;
  await redis.kill();
  await until(() => on.every((b) => !b.stats.connected));
}

async function restart(): Promise<void> {
  await redis.restart();
  down = false;
}

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await Promise.all(buses.splice(0).map((b) => b.close()));
  if (down) await restart(); // a failed test must not take the broker from the next one
});

afterAll(async () => {
  await redis?.stop();
});

describe('redis bus', () => {
  it('carries bytes exactly and in order between two instances', async () => {
    const publisher = await bus();
    const subscriber = await bus();
    expect(publisher.kind).toBe('redis');
    expect(publisher.stats.connected).toBe(true);
    const got = collect(subscriber, 'bytes');
    await subscriber.flush();

    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    // A view into a larger buffer: only the viewed bytes travel.
    const view = new Uint8Array([9, 9, 0, 255, 13, 10, 9]).subarray(2, 6);
    const sent = [every, every.slice().reverse(), new Uint8Array(0), view];
    for (let i = 0; i < 1000; i++) sent.push(bytes(`#${i}`));
    for (const payload of sent) publisher.publish('bytes', payload);
    await publisher.flush();

    await until(() => got.length === sent.length);
    expect(got[0]).toEqual(every);
    expect(got[1]).toEqual(every.slice().reverse());
    expect(got[2]).toEqual(new Uint8Array(0));
    expect(got[3]).toEqual(new Uint8Array([0, 255, 13, 10]));
    expect(text(got.slice(4))).toEqual(Array.from({ length: 1000 }, (_, i) => `#${i}`));
    expect(got.every((p) => p.constructor === Uint8Array)).toBe(true);
    expect(publisher.stats.published).toBe(sent.length);
    expect(subscriber.stats.received).toBe(sent.length);
    expect(publisher.stats.dropped).toBe(0);

    await publisher.close();
    await publisher.close(); // idempotent
    publisher.publish('bytes', bytes('after close'));
    expect(publisher.stats.dropped).toBe(1);
    expect(publisher.stats.connected).toBe(false);
  });

  it('stops on unsubscribe and replaces the handler on a second subscribe', async () => {
    const publisher = await bus();
    const subscriber = await bus();
    const first: string[] = [];
    const second: string[] = [];
    const marks = collect(subscriber, 'mark');
    const offFirst = subscriber.subscribe('s', (p) => first.push(text([p])[0]));
    await subscriber.flush();

    // One publisher, one subscriber connection: a mark that arrived proves what came before it.
    let n = 0;
    const sendAndMark = async (subject: string, message: string) => {
      publisher.publish(subject, bytes(message));
      publisher.publish('mark', bytes(String(++n)));
      await until(() => marks.length === n);
    };

    await sendAndMark('s', 'one');
    const offSecond = subscriber.subscribe('s', (p) => second.push(text([p])[0]));
    await subscriber.flush();
    await sendAndMark('s', 'two');
    offFirst(); // stale: the second handler stays
    await subscriber.flush();
    await sendAndMark('s', 'three');
    offSecond();
    await subscriber.flush();
    await sendAndMark('s', 'four');

    expect(first).toEqual(['one']);
    expect(second).toEqual(['two', 'three']);
  });

  it('reconnects, resubscribes and sends what was held during an outage', async () => {
    const publisher = await bus();
    const other = await bus();
    const own = collect(publisher, 'held');
    const restored = collect(other, 'live');
    await Promise.all([publisher.flush(), other.flush()]);
    publisher.publish('live', bytes('before'));
    await until(() => restored.length === 1);

    await outage(publisher, other);
    const late = collect(other, 'late'); // subscribed while Redis is away
    for (let i = 0; i < 5; i++) publisher.publish('held', bytes(`held ${i}`));
    const flushed = publisher.flush(); // waits for the reconnect and the held publishes
    await restart();
    await flushed;

    await until(() => own.length === 5);
    expect(text(own)).toEqual(['held 0', 'held 1', 'held 2', 'held 3', 'held 4']);
    expect(publisher.stats.reconnects).toBeGreaterThan(0);
    expect(publisher.stats.dropped).toBe(0);

    await until(() => other.stats.connected);
    expect(other.stats.reconnects).toBeGreaterThan(0);
    publisher.publish('live', bytes('after'));
    publisher.publish('late', bytes('late'));
    await until(() => restored.length === 2 && late.length === 1);
    expect(text(restored)).toEqual(['before', 'after']);
    expect(text(late)).toEqual(['late']);
  });

  it('counts a publish lost in flight as dropped and never sends it again', async () => {
    const publisher = await bus();
    const subscriber = await bus();
    const got = collect(subscriber, 'flight');
    await subscriber.flush();
    // A paused server reads the PUBLISH but never answers it before it dies.
    const { Redis } = await import('ioredis');
    const admin = new Redis(redis.url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    admin.on('error', () => {});
    await admin.client('PAUSE', 10_000);
    publisher.publish('flight', bytes('lost'));
    await outage(publisher, subscriber);
    admin.disconnect();
    // The bus is down once either connection is; the publisher's own close may come just after.
    await until(() => publisher.stats.dropped === 1);
    expect(publisher.stats.published).toBe(0);

    await restart();
    await until(() => publisher.stats.connected && subscriber.stats.connected);
    publisher.publish('flight', bytes('next'));
    await until(() => got.length > 0);
    expect(text(got)).toEqual(['next']);
  });

  it('drops and counts what does not fit the outage buffer, with one warning', async () => {
    const lines: [level: string, message: string][] = [];
    const previous = logger();
    const capture = (level: string) => (message: string) => void lines.push([level, message]);
    const captured: Logger = {
      error: capture('error'),
      warn: capture('warn'),
      info: capture('info'),
      debug: capture('debug'),
    };
    setLogger(captured);
    try {
      const b = await bus({ outageBuffer: { messages: 5, bytes: 1024 * 1024 }, flushTimeout: 200 });
      const got = collect(b, 'bounded');
      await b.flush();

      await outage(b);
      await expect(b.flush()).rejects.toThrow(
        /flush timed out after 200 ms: redis:\/\/127\.0\.0\.1:\d+/,
      );
      for (let i = 0; i < 20; i++) b.publish('bounded', bytes(`m${i}`));
      expect(b.stats.dropped).toBe(15);
      await restart();

      await until(() => got.length === 5 && b.stats.connected);
      await b.flush();
      expect(text(got)).toEqual(['m0', 'm1', 'm2', 'm3', 'm4']);
      expect(b.stats.dropped).toBe(15);
      const warnings = lines.filter(([level]) => level === 'warn').map(([, m]) => m);
      expect(warnings.filter((m) => m.includes('outage buffer full'))).toHaveLength(1);
      expect(warnings.filter((m) => m.includes('connection lost'))).toHaveLength(1);
      expect(lines.some(([level, m]) => level === 'info' && m.includes('reconnected'))).toBe(true);
    } finally {
      setLogger(previous);
    }
  });

  it('rejects, naming the url, when nothing listens', async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const started = Date.now();
    await expect(redisBus(url, { connectTimeout: 300 })).rejects.toThrow(
      `redis bus: could not connect to ${url} within 300 ms`,
    );
    expect(Date.now() - started).toBeLessThan(2_000);
  });
});
