/**
 * Slow group members (spec/actors.md §4, issue 16 item 10): a member whose inbox is full loses
 * group messages; by default they are dropped and counted and the app is told with `dropped`
 * events, and a member that joined with `slow: 'close'` is closed (WebSocket 1008) once more
 * than `maxDropped` were dropped for it.
 */
import type { App, InboundEvent, OutboundEvent } from 'rxgi';
import { Hub } from 'rxgi/bus';
import { filter, mergeMap, tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { on } from '../actors.js';
import { closeServers, start, until, withLogs } from '../helpers.js';
import { closed, openWebSocket } from '../ws-client.js';

afterEach(closeServers);

const dropped = (events: InboundEvent[]) =>
  events.filter((event) => event.type === 'dropped').map((event) => event);

describe('slow group members', () => {
  it('tell the app with `dropped`: once after the first drops, once more when the inbox empties', async () => {
    const hub = new Hub({ inboxCapacity: 2 });
    const [member, sender] = on(hub, hub);
    member.out.next({ type: 'join', stream: 0, group: 'news' });
    for (let i = 0; i < 5; i++) {
      sender.out.next({ type: 'group-send', stream: 0, group: 'news', data: i });
    }
    await until(() => hub.stats.dropped.full === 3);
    await until(() => dropped(member.received).length === 1);
    expect(dropped(member.received)).toEqual([{ type: 'dropped', stream: 0, count: 3 }]);
    // Still full: more drops are counted, not told one by one.
    for (let i = 5; i < 45; i++) {
      sender.out.next({ type: 'group-send', stream: 0, group: 'news', data: i });
    }
    await until(() => hub.stats.dropped.full === 43);
    expect(dropped(member.received)).toHaveLength(1);
    // The inbox empties: the 40 since the first report are told, and counting starts again.
    member.out.next({ type: 'window', stream: 0, bytes: 1_000_000 });
    expect(member.received.slice(-3).map((e) => e.type)).toEqual(['message', 'message', 'dropped']);
    expect(dropped(member.received)[1]).toEqual({ type: 'dropped', stream: 0, count: 40 });
    sender.out.next({ type: 'group-send', stream: 0, group: 'news', data: 'after' });
    await until(() => member.messages().length === 3);
    expect(dropped(member.received)).toHaveLength(2);
  });

  it("close a member that joined with slow: 'close' past maxDropped, with 1008 and RXGI_ERR_SLOW_CONSUMER", async () => {
    await withLogs(async (lines) => {
      const hub = new Hub({ inboxCapacity: 2 });
      const closes: InboundEvent[] = [];
      // A member that never grants credit for messages: its inbox fills and stays full.
      const app: App = (events) =>
        events.pipe(
          tap((event) => event.type === 'close' && closes.push(event)),
          filter((event) => event.type === 'request'),
          mergeMap((event): OutboundEvent[] => [
            { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
            { type: 'join', stream: event.stream, group: 'room', slow: 'close', maxDropped: 1 },
          ]),
        );
      const server = await start(app, { hub });
      const ws = await openWebSocket(server.url);
      const done = closed(ws);
      await until(() => hub.members('room') === 1);
      for (let i = 0; i < 5; i++) hub.groupSend('elsewhere/1/1', 'room', i);
      expect(await done).toEqual({
        code: 1008,
        reason: 'slow consumer: 2 messages of group room dropped',
      });
      await until(() => closes.length === 1);
      expect(closes[0]).toMatchObject({ type: 'close', code: 1008 });
      expect(hub.members('room')).toBe(0);
      expect(lines).toContainEqual({
        level: 'warn',
        message: 'closing a slow group member',
        code: 'RXGI_ERR_SLOW_CONSUMER',
      });
    });
  });

  it("keeps a slow: 'close' member open while it drops no more than maxDropped", async () => {
    const hub = new Hub({ inboxCapacity: 1 });
    const [member] = on(hub);
    member.out.next({ type: 'join', stream: 0, group: 'g', slow: 'close', maxDropped: 3 });
    for (let i = 0; i < 4; i++) hub.groupSend('elsewhere/1/1', 'g', i);
    await until(() => hub.stats.dropped.full === 3);
    // Stream 0 is the connection itself: it is never closed, only told.
    await until(() => dropped(member.received).length === 1);
    expect(hub.members('g')).toBe(1);
  });

  it('refuses a join with an invalid slow or maxDropped (RXGI_ERR_INVALID_EVENT)', async () => {
    await withLogs((lines) => {
      const hub = new Hub();
      const [member] = on(hub);
      member.out.next({ type: 'join', stream: 0, group: 'g', slow: 'later' as never });
      member.out.next({ type: 'join', stream: 0, group: 'h', slow: 'close', maxDropped: -1 });
      member.out.next({ type: 'join', stream: 0, group: 'i', maxDropped: 2 });
      expect(hub.members('g') + hub.members('h') + hub.members('i')).toBe(0);
      expect(lines.map((line) => [line.level, line.message, line.code])).toEqual([
        ['error', 'invalid event on stream 0', 'RXGI_ERR_INVALID_EVENT'],
        ['error', 'invalid event on stream 0', 'RXGI_ERR_INVALID_EVENT'],
        ['error', 'invalid event on stream 0', 'RXGI_ERR_INVALID_EVENT'],
      ]);
    });
  });
});
