/**
 * Actors across two hubs on a real broker, Redis and NATS alike: data keeps its types, group
 * memberships survive a broker restart, and a malformed payload published by a stranger is
 * dropped with a line. (The bridges' own tests show the outage buffer.)
 */
import { encode } from '@msgpack/msgpack';
import { jsonLogger, type Logger, setLogger, type Value } from 'rxgi';
import { type Bus, Hub } from 'rxgi/bus';
import { memoryConnection } from 'rxgi/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { natsBus } from '../../../protocols/bus/nats.js';
import { redisBus } from '../../../protocols/bus/redis.js';
import { probe } from '../../actors.js';
import { type Broker, startNats, startRedis } from '../../brokers.js';
import { until } from '../../helpers.js';

/** A probe connected to `hub`, with credit for a megabyte of messages on stream 0. */
function actor(hub: Hub) {
  const made = probe();
  memoryConnection(made.app, {}, hub);
  made.out.next({ type: 'window', stream: 0, bytes: 1 << 20 });
  return made;
}

const cases: [string, () => Promise<Broker>, (url: string) => Promise<Bus>][] = [
  ['redis', startRedis, (url) => redisBus(url)],
  ['nats', startNats, (url) => natsBus(url)],
];

describe.each(cases)('hubs on %s', (_name, startBroker, openBus) => {
  let broker: Broker;
  const buses: Bus[] = [];
  const hubs: Hub[] = [];

  async function hub(): Promise<Hub> {
    const bus = await openBus(broker.url);
    buses.push(bus);
    const made = new Hub({ bus });
    hubs.push(made);
    return made;
  }

  beforeAll(async () => {
    broker = await startBroker();
  });

  afterAll(async () => {
    for (const made of hubs) made.close();
    await Promise.all(buses.map((bus) => bus.close()));
    await broker?.stop();
  });

  it('carries strings as strings and bytes as bytes, to an address and to a group', async () => {
    const east = await hub();
    const west = await hub();
    const a = actor(east);
    const b = actor(west);
    b.out.next({ type: 'join', stream: 0, group: 'types' });
    await west.bus.flush();
    const data: Value = {
      text: 'héllo',
      bytes: new Uint8Array([0, 1, 254, 255]),
      nested: [1, 2.5, null, false, { deep: new Uint8Array([7]) }],
    };
    a.out.next({ type: 'send', stream: 0, to: b.address, data });
    a.out.next({ type: 'group-send', stream: 0, group: 'types', data: 'just text' });
    await until(() => b.data().length === 2);
    expect(b.data()).toEqual([data, 'just text']);
    const [first] = b.data() as [{ bytes: Uint8Array; text: string }];
    expect(first.bytes).toBeInstanceOf(Uint8Array);
    expect(typeof first.text).toBe('string');
  });

  it('keeps group memberships across a broker restart', async () => {
    const east = await hub();
    const west = await hub();
    const sender = actor(east);
    const member = actor(west);
    member.out.next({ type: 'join', stream: 0, group: 'outage' });
    await west.bus.flush();
    sender.out.next({ type: 'group-send', stream: 0, group: 'outage', data: 'before' });
    await until(() => member.data().length === 1);

    await broker.kill();
    await until(() => !east.bus.stats.connected && !west.bus.stats.connected);
    // Held in the sender's outage buffer until the broker is back.
    sender.out.next({ type: 'group-send', stream: 0, group: 'outage', data: 'during' });
    await broker.restart();
    await until(() => east.bus.stats.connected && west.bus.stats.connected, 15_000);
    // The member's process may resubscribe after the sender flushed: 'during' is at most once,
    // so the test sends until the restored membership shows.
    await until(() => {
      sender.out.next({ type: 'group-send', stream: 0, group: 'outage', data: 'after' });
      return member.data().includes('after');
    }, 10_000);
    expect(member.data()[0]).toBe('before');
    expect(west.members('outage')).toBe(1);
    expect(east.bus.stats.reconnects + west.bus.stats.reconnects).toBeGreaterThanOrEqual(2);
  });

  it('drops a malformed payload from a stranger with a line, and goes on', async () => {
    const lines: string[] = [];
    const capture: Logger = { ...jsonLogger, warn: (m) => lines.push(m), info: () => {} };
    setLogger(capture);
    try {
      const east = await hub();
      const stranger = await openBus(broker.url);
      buses.push(stranger);
      const member = actor(east);
      member.out.next({ type: 'join', stream: 0, group: 'strange' });
      await east.bus.flush();
      stranger.publish('rxgi.group.strange', new Uint8Array([0xc1, 0x00]));
      stranger.publish('rxgi.group.strange', encode([2, 2, 'x/y/0', 'strange', 'v2']));
      stranger.publish('rxgi.group.strange', encode([1, 2, 'x/y/0', 'strange', 'fine']));
      await until(() => member.data().includes('fine'));
      expect(east.stats.dropped).toMatchObject({ malformed: 1, version: 1 });
      expect(lines).toContain('bus message dropped: not an rxgi envelope');
      expect(lines).toContain('bus message dropped: envelope of another version');
    } finally {
      setLogger(jsonLogger);
    }
  });
});
