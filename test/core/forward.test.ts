/**
 * Forwarding joins (spec/actors.md §4, [actor-forward]): a WebSocket member that joined with
 * `forward: true` gets the group's string and byte messages from the host itself, over HTTP/1.1
 * and HTTP/2 (RFC 8441), without `message` events, without the app's output credit, and
 * bounded by the hub's `inboxBytes` of unsent output like an inbox.
 */
import { type App, handle, type InboundEvent, type OutboundEvent, text, upgrade } from 'rxgi';
import { Hub } from 'rxgi/bus';
import { memoryConnection } from 'rxgi/testing';
import { filter, map, mergeMap, tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import { on } from '../actors.js';
import { h2WebSocket } from '../h2client.js';
import { closeServers, start, until, withLogs } from '../helpers.js';
import { openWebSocket } from '../ws-client.js';

afterEach(closeServers);

/** A `handle` app: joins `room` forwarding, and says `mail <data>` for what its inbox gets. */
function room(mailed: unknown[]) {
  return handle((req) =>
    upgrade(() => {
      req.join('room', undefined, { forward: true });
      return req.inbox.pipe(
        tap((mail) => mailed.push(mail.type === 'message' ? mail.data : mail.type)),
        map((mail) => `mail ${JSON.stringify(mail.type === 'message' ? mail.data : mail.type)}`),
      );
    }),
  );
}

/** The next `count` messages a client gets, each as text or as its bytes. */
function receive(ws: WebSocket, count: number): Promise<(string | number[])[]> {
  const got: (string | number[])[] = [];
  return new Promise((resolve) => {
    const on = (data: Buffer, binary: boolean) => {
      got.push(binary ? [...data] : data.toString());
      if (got.length === count) {
        ws.off('message', on);
        resolve(got);
      }
    };
    ws.on('message', on);
  });
}

describe('join with forward', () => {
  for (const protocol of ['HTTP/1.1', 'HTTP/2'] as const) {
    it(`sends the group's strings and bytes on the WebSocket itself (${protocol})`, async () => {
      const hub = new Hub();
      const mailed: unknown[] = [];
      const server = await start(room(mailed), { hub });
      const ws =
        protocol === 'HTTP/1.1'
          ? await openWebSocket(`${server.url}/`)
          : (await h2WebSocket(server.url, '/')).ws;
      await until(() => hub.members('room') === 1);
      const got = receive(ws, 3);
      hub.groupSend('elsewhere/1/1', 'room', 'hello');
      hub.groupSend('elsewhere/1/1', 'room', new Uint8Array([1, 2, 3]));
      // Neither a string nor bytes: the app gets it, as without forward.
      hub.groupSend('elsewhere/1/1', 'room', { n: 42 });
      expect(await got).toEqual(['hello', [1, 2, 3], 'mail {"n":42}']);
      expect(mailed).toEqual([{ n: 42 }]);
      expect(hub.stats.delivered).toBe(3);
      ws.close();
    });
  }

  it("takes none of the app's output credit: no window comes back for forwarded bytes", async () => {
    const hub = new Hub();
    const events: InboundEvent[] = [];
    const app: App = (inbound) =>
      inbound.pipe(
        tap((event) => events.push(event)),
        filter((event) => event.type === 'request'),
        mergeMap((event): OutboundEvent[] => [
          { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
          { type: 'join', stream: event.stream, group: 'feed', forward: true },
        ]),
      );
    const server = await start(app, { hub });
    const ws = await openWebSocket(server.url);
    await until(() => hub.members('feed') === 1);
    const got = receive(ws, 64);
    const chunk = 'x'.repeat(4096);
    for (let i = 0; i < 64; i++) hub.groupSend('elsewhere/1/1', 'feed', chunk);
    expect((await got).every((text) => text === chunk)).toBe(true);
    // 256 KiB went out; the app sent nothing, so it is owed nothing.
    expect(events.filter((event) => event.type === 'window' || event.type === 'message')).toEqual(
      [],
    );
    ws.close();
  });

  it("drops for a client that does not read past inboxBytes unsent, and closes a slow: 'close' one with 1008", async () => {
    await withLogs(async (lines) => {
      const hub = new Hub({ inboxBytes: 64 * 1024 });
      const closes: InboundEvent[] = [];
      const dropped: InboundEvent[] = [];
      const app: App = (inbound) =>
        inbound.pipe(
          tap((event) => {
            if (event.type === 'close') closes.push(event);
            if (event.type === 'dropped') dropped.push(event);
          }),
          filter((event) => event.type === 'request'),
          mergeMap((event): OutboundEvent[] => [
            { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
            // Credit enough for every message: an inbox would never fill, only unsent output.
            { type: 'window', stream: event.stream, bytes: 1 << 30 },
            event.target === '/close'
              ? { type: 'join', stream: event.stream, group: 'g', forward: true, slow: 'close' }
              : { type: 'join', stream: event.stream, group: 'g', forward: true },
          ]),
        );
      const server = await start(app, { hub });
      const keeper = await openWebSocket(`${server.url}/keep`);
      const quitter = await openWebSocket(`${server.url}/close`);
      // Neither client reads: the kernel's buffers fill, then the server's.
      for (const ws of [keeper, quitter])
        (ws as unknown as { _socket: { pause(): void } })._socket.pause();
      await until(() => hub.members('g') === 2);
      const chunk = new Uint8Array(32 * 1024);
      for (let i = 0; i < 1000 && closes.length === 0; i++) {
        hub.groupSend('elsewhere/1/1', 'g', chunk);
        if (i % 50 === 49) await new Promise((resolve) => setTimeout(resolve, 5));
      }
      // 32 MB were offered to each: the keeper holds at most inboxBytes and a message unsent.
      await until(() => closes.length === 1);
      expect(closes[0]).toMatchObject({ type: 'close', code: 1008 });
      expect(hub.members('g')).toBe(1);
      await until(() => dropped.length === 1);
      expect(hub.stats.dropped.full).toBeGreaterThan(0);
      expect(lines.map((line) => line.message)).toContain('closing a slow group member');
      // The keeper reads again and catches up: the next message goes out, the drops since the
      // first report are told, and counting restarts.
      const caughtUp = new Promise((resolve) =>
        keeper.on('message', (data: Buffer) => data.toString() === 'after' && resolve(true)),
      );
      (keeper as unknown as { _socket: { resume(): void } })._socket.resume();
      const drops = hub.stats.dropped.full;
      await until(() => {
        hub.groupSend('elsewhere/1/1', 'g', 'after');
        return dropped.length === 2;
      });
      expect(await caughtUp).toBe(true);
      const [first, second] = dropped as { count: number }[];
      expect(first.count + second.count).toBeLessThanOrEqual(hub.stats.dropped.full);
      expect(second.count).toBeGreaterThan(0);
      expect(hub.stats.dropped.full).toBeGreaterThanOrEqual(drops);
      keeper.terminate();
      quitter.terminate();
    });
  });

  it('is ended by a join without forward, then messages reach the inbox; leave ends the membership', async () => {
    const hub = new Hub();
    const connection = memoryConnection(
      (inbound) =>
        inbound.pipe(
          mergeMap((event): OutboundEvent[] => {
            if (event.type === 'request') {
              return [
                { type: 'ws-accept', stream: event.stream, subprotocol: null, headers: [] },
                { type: 'window', stream: event.stream, bytes: 1 << 20 },
                { type: 'join', stream: event.stream, group: 'g', forward: true },
              ];
            }
            if (event.type === 'message') {
              return [{ type: 'ws-message', stream: event.stream, data: `mail:${event.data}` }];
            }
            if (event.type === 'ws-message') {
              return event.data === 'leave'
                ? [{ type: 'leave', stream: event.stream, group: 'g' }]
                : [{ type: 'join', stream: event.stream, group: 'g' }];
            }
            return [];
          }),
        ),
      {},
      hub,
    );
    const ws = await connection.websocket('/');
    await until(() => hub.members('g') === 1);
    hub.groupSend('elsewhere/1/1', 'g', 'forwarded');
    expect(await ws.receive()).toBe('forwarded');
    ws.send('join again without forward');
    hub.groupSend('elsewhere/1/1', 'g', 'mailed');
    expect(await ws.receive()).toBe('mail:mailed');
    ws.send('leave');
    await until(() => hub.members('g') === 0);
    connection.close();
  });

  it('refuses forward on stream 0 and on a plain exchange (RXGI_ERR_INVALID_EVENT)', async () => {
    await withLogs(async (lines) => {
      const hub = new Hub();
      const [member] = on(hub);
      member.out.next({ type: 'join', stream: 0, group: 'g', forward: true });
      member.out.next({ type: 'join', stream: 0, group: 'h', forward: 'yes' as never });
      expect(hub.members('g') + hub.members('h')).toBe(0);
      const errors = () => lines.filter((line) => line.level === 'error');
      expect(errors().map((line) => [line.message, line.code])).toEqual([
        ['invalid event on stream 0', 'RXGI_ERR_INVALID_EVENT'],
        ['invalid event on stream 0', 'RXGI_ERR_INVALID_EVENT'],
      ]);
      const server = await start(
        handle((req) => {
          req.join('g', undefined, { forward: true });
          return text('never');
        }),
        { hub },
      );
      const response = await fetch(server.url);
      expect(response.status).toBe(500);
      expect(hub.members('g')).toBe(0);
    });
  });
});
