import { encode } from '@msgpack/msgpack';
import { handle, type Logger, setLogger, upgrade, type Value } from 'rxgi';
import { Hub, MemoryBus } from 'rxgi/bus';
import { memoryConnection } from 'rxgi/testing';
import { ignoreElements, map, merge, tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { probe } from '../actors.js';
import { until } from '../helpers.js';

/** A chat app: every WebSocket joins `room`, says what it hears there, and publishes its input. */
const chat = handle((req) =>
  upgrade((messages) => {
    req.join('room');
    return merge(
      messages.pipe(
        tap((text) => req.publish('room', text)),
        ignoreElements(),
      ),
      req.inbox.pipe(
        map((mail) =>
          mail.type === 'message'
            ? String(mail.data)
            : mail.type === 'undelivered'
              ? `undelivered ${mail.reason}`
              : `dropped ${mail.count}`,
        ),
      ),
    );
  }),
);

const lines: string[] = [];
const capture: Logger = {
  error: (m) => lines.push(m),
  warn: (m) => lines.push(m),
  info: () => {},
  debug: () => {},
};

afterEach(() => {
  lines.length = 0;
});

describe('actors on one hub', () => {
  it('fans a group message out to every member, the sender included', async () => {
    const hub = new Hub();
    const alice = await memoryConnection(chat, {}, hub).websocket('/chat');
    const bob = await memoryConnection(chat, {}, hub).websocket('/chat');
    await until(() => hub.members('room') === 2);
    alice.send('hello');
    expect(await bob.receive()).toBe('hello');
    expect(await alice.receive()).toBe('hello');
  });

  it('sends to one address; the receiver answers the sender by its `from`', async () => {
    const hub = new Hub();
    const a = probe();
    const b = probe();
    memoryConnection(a.app, {}, hub);
    memoryConnection(b.app, {}, hub);
    a.out.next({ type: 'window', stream: 0, bytes: 65_536 });
    b.out.next({ type: 'window', stream: 0, bytes: 65_536 });
    const data: Value = { text: 'ping', raw: new Uint8Array([0, 255]), list: [1, null, true] };
    a.out.next({ type: 'send', stream: 0, to: b.address, data });
    await until(() => b.messages().length === 1);
    const [message] = b.messages();
    expect(message).toMatchObject({ stream: 0, from: a.address, group: null, data });
    b.out.next({ type: 'send', stream: 0, to: a.address, data: 'pong' });
    await until(() => a.messages().length === 1);
    expect(a.messages()[0]).toMatchObject({ from: b.address, data: 'pong' });
  });

  it('holds messages without credit, refuses the one past capacity, then delivers in order', async () => {
    const hub = new Hub({ inboxCapacity: 10 });
    const sender = probe();
    const receiver = probe();
    memoryConnection(sender.app, {}, hub);
    memoryConnection(receiver.app, {}, hub);
    for (let i = 0; i < 11; i++) {
      sender.out.next({ type: 'send', stream: 0, to: receiver.address, data: i });
    }
    await until(() => sender.received.some((event) => event.type === 'undelivered'));
    expect(sender.received).toEqual([
      { type: 'undelivered', stream: 0, to: receiver.address, reason: 'full' },
    ]);
    expect(hub.stats.refused).toBe(1);
    expect(receiver.messages()).toEqual([]);
    receiver.out.next({ type: 'window', stream: 0, bytes: 1_000_000 });
    expect(receiver.messages().map((m) => m.data)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('bounds an inbox by bytes too; an empty one still takes one large message', async () => {
    const hub = new Hub({ inboxBytes: 4096 });
    const sender = probe();
    const receiver = probe();
    memoryConnection(sender.app, {}, hub);
    memoryConnection(receiver.app, {}, hub);
    const send = (data: string) =>
      sender.out.next({ type: 'send', stream: 0, to: receiver.address, data });
    send('x'.repeat(10_000)); // larger than the bound, into an empty inbox
    send('y');
    await until(() => sender.received.length === 1);
    receiver.out.next({ type: 'window', stream: 0, bytes: 1 });
    expect(receiver.messages().map((m) => String(m.data).length)).toEqual([10_000]);
    // Credit spent again: three envelopes of 1,000 characters fit in 4 KiB, a fourth does not.
    for (let i = 0; i < 5; i++) send(String(i).repeat(1000));
    await until(() => sender.received.length === 3);
    expect(sender.received.map((e) => e.type === 'undelivered' && e.reason)).toEqual([
      'full',
      'full',
      'full',
    ]);
    receiver.out.next({ type: 'window', stream: 0, bytes: 1_000_000 });
    expect(receiver.messages().map((m) => String(m.data)[0])).toEqual(['x', '0', '1', '2']);
  });

  it('drops group messages to a full inbox, counts them and logs one line', async () => {
    setLogger(capture);
    try {
      const hub = new Hub({ inboxCapacity: 2 });
      const member = probe();
      const sender = probe();
      memoryConnection(member.app, {}, hub);
      memoryConnection(sender.app, {}, hub);
      member.out.next({ type: 'join', stream: 0, group: 'news' });
      for (let i = 0; i < 50; i++) {
        sender.out.next({ type: 'group-send', stream: 0, group: 'news', data: i });
      }
      await until(() => hub.stats.dropped.full === 48);
      expect(sender.received).toEqual([]);
      expect(lines.filter((line) => line.includes('inbox is full'))).toHaveLength(1);
      member.out.next({ type: 'window', stream: 0, bytes: 1_000 });
      expect(member.messages().map((m) => [m.group, m.data])).toEqual([
        ['news', 0],
        ['news', 1],
      ]);
    } finally {
      setLogger((await import('rxgi')).jsonLogger);
    }
  });

  it('refuses what it cannot send with a reason: too large, not plain data, no such address', async () => {
    const hub = new Hub({ maxMessageSize: 1024 });
    const sender = probe();
    memoryConnection(sender.app, {}, hub);
    const send = (to: string, data: unknown) =>
      sender.out.next({ type: 'send', stream: 0, to, data: data as Value });
    send(sender.address, 'x'.repeat(2048));
    send(sender.address, new Map([[1, 2]]));
    send(sender.address, { f: () => 1 });
    send('not-an-address', 1);
    sender.out.next({ type: 'group-send', stream: 0, group: 'bad name!', data: 1 });
    await until(() => sender.received.length === 5);
    expect(sender.received.map((e) => e.type === 'undelivered' && [e.to, e.reason])).toEqual([
      [sender.address, 'too-large'],
      [sender.address, 'invalid'],
      [sender.address, 'invalid'],
      ['not-an-address', 'invalid'],
      ['bad name!', 'invalid'],
    ]);
  });

  it('fails a stream that joins a group with an invalid name, like any invalid event', async () => {
    const app = handle((req) => {
      req.join('no spaces allowed');
      return 'never';
    });
    const response = await memoryConnection(app).request({ target: '/' });
    expect(response.status).toBe(500);
  });

  it('ends memberships when their stream or connection closes', async () => {
    const hub = new Hub();
    const one = memoryConnection(chat, {}, hub);
    const socket = await one.websocket('/chat');
    const member = probe();
    const two = memoryConnection(member.app, {}, hub);
    member.out.next({ type: 'join', stream: 0, group: 'room' });
    await until(() => hub.members('room') === 2);
    socket.close(1000, 'bye');
    await socket.closed;
    expect(hub.members('room')).toBe(1);
    two.close();
    expect(hub.members('room')).toBe(0);
  });
});

describe('farewells', () => {
  it('sends a farewell when the stream closes, not when it leaves', async () => {
    const bus = new MemoryBus();
    const east = new Hub({ bus });
    const west = new Hub({ bus });
    const watcher = probe();
    memoryConnection(watcher.app, {}, west);
    watcher.out.next({ type: 'window', stream: 0, bytes: 65_536 });
    watcher.out.next({ type: 'join', stream: 0, group: 'lobby' });
    const leaver = probe();
    const closer = probe();
    memoryConnection(leaver.app, {}, east);
    const closing = memoryConnection(closer.app, {}, east);
    for (const p of [leaver, closer]) {
      p.out.next({ type: 'join', stream: 0, group: 'lobby', farewell: { bye: p.address } });
    }
    await until(() => east.members('lobby') === 2 && west.members('lobby') === 1);
    leaver.out.next({ type: 'leave', stream: 0, group: 'lobby' });
    closing.close();
    await until(() => watcher.messages().length === 1);
    await bus.flush();
    expect(watcher.messages()).toEqual([
      expect.objectContaining({
        from: closer.address,
        group: 'lobby',
        data: { bye: closer.address },
      }),
    ]);
    expect(east.members('lobby')).toBe(0);
  });
});

describe('actors across hubs', () => {
  it('crosses processes through a shared bus: group messages and direct sends', async () => {
    const bus = new MemoryBus();
    const east = new Hub({ bus });
    const west = new Hub({ bus });
    expect(east.node).not.toBe(west.node);
    const alice = await memoryConnection(chat, {}, east).websocket('/chat');
    const bob = await memoryConnection(chat, {}, west).websocket('/chat');
    await until(() => east.members('room') === 1 && west.members('room') === 1);
    bob.send('across');
    expect(await alice.receive()).toBe('across');
    expect(await bob.receive()).toBe('across');

    const a = probe();
    const b = probe();
    memoryConnection(a.app, {}, east);
    memoryConnection(b.app, {}, west);
    b.out.next({ type: 'window', stream: 0, bytes: 65_536 });
    a.out.next({ type: 'send', stream: 0, to: b.address, data: 'direct' });
    await until(() => b.messages().length === 1);
    expect(b.messages()[0]).toMatchObject({ from: a.address, data: 'direct' });
  });

  it('reports a full inbox in another process back to the sender', async () => {
    const bus = new MemoryBus();
    const east = new Hub({ bus, inboxCapacity: 1 });
    const west = new Hub({ bus, inboxCapacity: 1 });
    const a = probe();
    const b = probe();
    memoryConnection(a.app, {}, east);
    memoryConnection(b.app, {}, west);
    a.out.next({ type: 'send', stream: 0, to: b.address, data: 1 });
    a.out.next({ type: 'send', stream: 0, to: b.address, data: 2 });
    await until(() => a.received.length === 1);
    expect(a.received[0]).toEqual({
      type: 'undelivered',
      stream: 0,
      to: b.address,
      reason: 'full',
    });
  });

  it('drops malformed, wrong-version and oversized bus payloads with a line each, and goes on', async () => {
    setLogger(capture);
    try {
      const bus = new MemoryBus();
      const hub = new Hub({ bus, maxMessageSize: 4096 });
      const alice = await memoryConnection(chat, {}, hub).websocket('/chat');
      await until(() => hub.members('room') === 1);
      bus.publish('rxgi.group.room', new Uint8Array([0xc1, 0xff, 0x00]));
      bus.publish('rxgi.group.room', encode([99, 2, 'x/y/1', 'room', 'from the future']));
      bus.publish('rxgi.group.room', encode({ not: 'an envelope' }));
      bus.publish('rxgi.group.room', new Uint8Array(8192));
      bus.publish('rxgi.group.room', encode([1, 2, 'x/y/1', 'room', 'still here']));
      expect(await alice.receive()).toBe('still here');
      expect(hub.stats.dropped).toMatchObject({ malformed: 2, version: 1, tooLarge: 1 });
      expect(lines).toEqual([
        'bus message dropped: not an rxgi envelope',
        'bus message dropped: envelope of another version',
        'bus message dropped: larger than maxMessageSize',
      ]);
    } finally {
      setLogger((await import('rxgi')).jsonLogger);
    }
  });
});
