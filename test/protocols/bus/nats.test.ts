/**
 * The NATS bus against a real nats-server: bytes, order, handler replacement, an outage with
 * the broker killed and restarted, the outage bound, a failed first connection and a missing
 * client package.
 */
import { createServer, connect as netConnect, type Server, type Socket } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Bus } from '../../../core/bus.js';
import { type Logger, logger, setLogger } from '../../../core/log.js';
import { type NatsBusOptions, natsBus } from '../../../protocols/bus/nats.js';
import { type Broker, freePort, startNats } from '../../brokers.js';
import { until } from '../../helpers.js';

let broker: Broker;
const buses: Bus[] = [];
const cleanups: (() => unknown)[] = [];

beforeAll(async () => {
  broker = await startNats();
});
afterEach(async () => {
  await Promise.all(buses.splice(0).map((bus) => bus.close()));
  for (const cleanup of cleanups.splice(0)) await cleanup();
});
afterAll(async () => {
  await broker.stop();
});

async function open(url = broker.url, options?: NatsBusOptions) {
  const bus = await natsBus(url, options);
  buses.push(bus);
  return bus;
}

const bytes = (text: string) => new TextEncoder().encode(text);
const text = (payload: Uint8Array) => new TextDecoder().decode(payload);

/**
 * A TCP gate in front of the broker. While shut it cuts every connection at once, so the test
 * decides when the bus behind it reconnects: after the subscriber on the other bus is back.
 */
async function gate(port: number) {
  let shut = false;
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    if (shut) return client.destroy();
    const upstream = netConnect(port, '127.0.0.1');
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', end).on('close', () => {
        sockets.delete(socket);
        end();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port: own } = server.address() as { port: number };
  cleanups.push(() => {
    for (const socket of sockets) socket.destroy();
    return new Promise((resolve) => server.close(resolve));
  });
  return {
    url: `nats://127.0.0.1:${own}`,
    shut: () => {
      shut = true;
    },
    open: () => {
      shut = false;
    },
  };
}

/** Records of every warn and info line while `run` runs. */
async function capture(run: (lines: { level: string; msg: string }[]) => Promise<void>) {
  const lines: { level: string; msg: string }[] = [];
  const previous = logger();
  const record = (level: string) => (msg: string) => void lines.push({ level, msg });
  const captured: Logger = {
    error: record('error'),
    warn: record('warn'),
    info: record('info'),
    debug: () => {},
  };
  setLogger(captured);
  try {
    await run(lines);
  } finally {
    setLogger(previous);
  }
}

describe('natsBus', () => {
  it('carries every byte value exactly and keeps 1000 publishes in order', async () => {
    const a = await open();
    const b = await open();
    const got: Uint8Array[] = [];
    b.subscribe('rxgi.node.ab12cd34', (payload) => got.push(payload));
    await b.flush();

    const every = Uint8Array.from({ length: 256 }, (_, i) => i);
    a.publish('rxgi.node.ab12cd34', every);
    a.publish('rxgi.node.ab12cd34', new Uint8Array(0));
    for (let i = 0; i < 1000; i++) {
      // Varying lengths, so a framing mistake cannot hide behind same-sized payloads.
      const payload = new Uint8Array(4 + (i % 97)).fill(i % 256);
      new DataView(payload.buffer).setUint32(0, i);
      a.publish('rxgi.node.ab12cd34', payload);
    }
    await a.flush();
    await until(() => got.length === 1002);

    expect(got[0]).toBeInstanceOf(Uint8Array);
    expect([...got[0]]).toEqual([...every]);
    expect(got[1].byteLength).toBe(0);
    got.slice(2).forEach((payload, i) => {
      expect(payload.byteLength).toBe(4 + (i % 97));
      expect(new DataView(payload.buffer, payload.byteOffset).getUint32(0)).toBe(i);
      expect(payload[payload.byteLength - 1]).toBe(i % 256);
    });
    expect(a.kind).toBe('nats');
    expect(a.stats.published).toBe(1002);
    expect(b.stats.received).toBe(1002);
    expect(a.stats.dropped).toBe(0);
  });

  it('replaces handlers, ignores stale ones, stops on unsubscribe, survives throws', async () => {
    const a = await open();
    const b = await open();
    const first: string[] = [];
    const second: string[] = [];
    const probes: string[] = [];
    b.subscribe('rxgi.test.probe', (payload) => probes.push(text(payload)));
    // A probe sent after a payload arrives after it: both go from one connection to one.
    const settled = async (tag: string) => {
      a.publish('rxgi.test.probe', bytes(tag));
      await until(() => probes.includes(tag));
    };

    const offFirst = b.subscribe('rxgi.group.chat', (payload) => first.push(text(payload)));
    await b.flush();
    a.publish('rxgi.group.chat', bytes('one'));
    await settled('p1');

    const offSecond = b.subscribe('rxgi.group.chat', (payload) => {
      second.push(text(payload));
      if (text(payload) === 'boom') throw new Error('handler bug');
    });
    a.publish('rxgi.group.chat', bytes('two'));
    offFirst(); // no longer the current handler: no effect
    a.publish('rxgi.group.chat', bytes('boom'));
    a.publish('rxgi.group.chat', bytes('three'));
    await settled('p2');

    offSecond();
    await b.flush();
    a.publish('rxgi.group.chat', bytes('four'));
    await settled('p3');

    expect(first).toEqual(['one']);
    expect(second).toEqual(['two', 'boom', 'three']);
    expect(b.stats.connected).toBe(true);
  });

  it('drops oversized payloads and counts them instead of throwing', async () => {
    const a = await open(broker.url, { maxPayload: 1000 });
    const got: number[] = [];
    a.subscribe('rxgi.test.size', (payload) => got.push(payload.byteLength));
    await a.flush();
    a.publish('rxgi.test.size', new Uint8Array(1001));
    a.publish('rxgi.test.size', new Uint8Array(2 * 1024 * 1024)); // over the server's 1 MiB too
    a.publish('rxgi.test.size', new Uint8Array(1000));
    await a.flush();
    await until(() => got.length === 1);
    expect(got).toEqual([1000]);
    expect(a.stats.dropped).toBe(2);
    expect(a.stats.published).toBe(1);
  });

  it('holds publishes through a broker restart and delivers them in order', async () => {
    const door = await gate(broker.port);
    const a = await open(door.url); // the publisher, behind the gate
    const b = await open(broker.url, { flushTimeout: 300 });
    const atB: string[] = [];
    const atA: string[] = [];
    b.subscribe('rxgi.group.outage', (payload) => atB.push(text(payload)));
    a.subscribe('rxgi.group.outage', (payload) => atA.push(text(payload)));
    await Promise.all([a.flush(), b.flush()]);
    a.publish('rxgi.group.outage', bytes('before'));
    await until(() => atB.length === 1 && atA.length === 1);

    door.shut();
    await broker.kill();
    await until(() => !a.stats.connected && !b.stats.connected);
    for (let i = 0; i < 5; i++) a.publish('rxgi.group.outage', bytes(`during-${i}`));
    expect(a.stats.published).toBe(1);
    expect(a.stats.dropped).toBe(0);
    const flushed = a.flush(); // resolves once reconnected and drained
    await expect(b.flush()).rejects.toThrow(/flush timed out after 300 ms/);

    await broker.restart();
    await until(() => b.stats.connected, 10_000);
    // b's client resent its SUB before its flush PING, so the subscription is live after this.
    await b.flush();
    door.open();
    await flushed;
    expect(a.stats.connected).toBe(true);
    a.publish('rxgi.group.outage', bytes('after'));

    const expected = ['before', ...[0, 1, 2, 3, 4].map((i) => `during-${i}`), 'after'];
    await until(() => atB.length === expected.length && atA.length === expected.length);
    expect(atB).toEqual(expected);
    // a's own subscription was restored before a drained its buffer, with no help from the test.
    expect(atA).toEqual(expected);
    expect(a.stats.reconnects).toBe(1);
    expect(b.stats.reconnects).toBe(1);
    expect(a.stats.published).toBe(7);
  });

  it('drops past the outage bound, counts it and warns once', async () => {
    await capture(async (lines) => {
      const door = await gate(broker.port);
      const a = await open(door.url, { outageBuffer: { messages: 5, bytes: 1024 * 1024 } });
      const b = await open();
      const got: string[] = [];
      b.subscribe('rxgi.group.bound', (payload) => got.push(text(payload)));
      await b.flush();

      door.shut();
      await broker.kill();
      await until(() => !a.stats.connected && !b.stats.connected);
      for (let i = 0; i < 20; i++) a.publish('rxgi.group.bound', bytes(`m${i}`));
      expect(a.stats.dropped).toBe(15);

      await broker.restart();
      await until(() => b.stats.connected, 10_000);
      await b.flush();
      door.open();
      await a.flush();
      a.publish('rxgi.group.bound', bytes('after'));
      await until(() => got.includes('after'));

      expect(got).toEqual(['m0', 'm1', 'm2', 'm3', 'm4', 'after']);
      expect(a.stats.dropped).toBe(15);
      const warnings = lines.filter((line) => line.level === 'warn');
      expect(warnings.filter((line) => line.msg.includes('dropping'))).toHaveLength(1);
      // One "connection lost" per bus per outage, however many reconnect attempts it took.
      expect(warnings.filter((line) => line.msg.includes('connection lost'))).toHaveLength(2);
      expect(warnings).toHaveLength(3);
      expect(lines.filter((line) => line.msg.includes('reconnected'))).toHaveLength(2);
    });
  });

  it('rejects naming the url when nothing listens, or nothing answers, in time', async () => {
    const refused = `nats://127.0.0.1:${await freePort()}`;
    let started = Date.now();
    await expect(natsBus(refused, { connectTimeout: 1_000 })).rejects.toThrow(refused);
    expect(Date.now() - started).toBeLessThan(1_500);

    // A server that accepts TCP and never says INFO: only the timeout ends the wait.
    const silent = createServer(() => {});
    const held: Socket[] = [];
    silent.on('connection', (socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => {
      for (const socket of held) socket.destroy();
      return new Promise((resolve) => silent.close(resolve));
    });
    const url = `nats://127.0.0.1:${(silent.address() as { port: number }).port}`;
    started = Date.now();
    const failure = natsBus(url, { connectTimeout: 300 });
    await expect(failure).rejects.toThrow(`nats bus: cannot connect to ${url}`);
    expect(Date.now() - started).toBeLessThan(1_500);
  });

  it('closes idempotently; publishing after close never throws', async () => {
    const a = await open();
    await Promise.all([a.close(), a.close()]);
    await a.close();
    expect(a.stats.connected).toBe(false);
    expect(() => a.publish('rxgi.test.closed', bytes('late'))).not.toThrow();
    expect(a.stats.dropped).toBe(1);
  });

  it('says which package to install when the NATS client is missing', async () => {
    vi.resetModules();
    vi.doMock('@nats-io/transport-node', () => {
      throw new Error('Cannot find package');
    });
    cleanups.push(() => vi.doUnmock('@nats-io/transport-node'));
    const fresh = await import('../../../protocols/bus/nats.js');
    await expect(fresh.natsBus(broker.url)).rejects.toThrow(
      'the NATS bus needs the @nats-io/transport-node package: npm install @nats-io/transport-node',
    );
  });
});
