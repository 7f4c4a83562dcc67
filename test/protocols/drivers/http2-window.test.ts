/**
 * How much a stalled HTTP/2 stream makes the app hold (SPEC.md [initial-credit], §5.4), over real
 * sockets with node:http2's client: a client whose stream window is 0 is announced a small
 * initial output credit, and `handle`'s body reader reads ahead only for a consumer that keeps
 * coming back.
 */

import { getDefaultHighWaterMark } from 'node:stream';
import {
  type App,
  handle,
  INITIAL_WINDOW,
  type InboundEvent,
  type OutboundEvent,
  type RequestEvent,
  text,
} from 'rxgi';
import { BODY_WINDOW, BODY_WINDOW_START, chunkLength } from 'rxgi/driver';
import { tap } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { collect, exchange, session } from '../../h2client.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

afterEach(closeServers);

/** What passed between the driver and `app` on the connection's streams. */
interface Seen {
  requests: RequestEvent[];
  /** Body bytes the driver delivered to the app. */
  delivered: number;
  /** Body bytes the app sent. */
  sent: number;
  /** Input credit the app granted, grant by grant. */
  grants: number[];
  /** The most input credit the app had outstanding at once (granted and not delivered). */
  ahead: number;
}

function watched(app: App): { app: App; seen: Seen } {
  const seen: Seen = { requests: [], delivered: 0, sent: 0, grants: [], ahead: 0 };
  const inbound = (event: InboundEvent) => {
    if (event.type === 'request') seen.requests.push(event);
    if (event.type === 'data') seen.delivered += event.chunk.byteLength;
  };
  const outbound = (event: OutboundEvent) => {
    if (event.type === 'data') seen.sent += chunkLength(event.chunk);
    if (event.type === 'window') {
      seen.grants.push(event.bytes);
      const granted = seen.grants.reduce((a, b) => a + b, 0);
      seen.ahead = Math.max(seen.ahead, granted - seen.delivered);
    }
  };
  return {
    app: (events, connection) => app(events.pipe(tap(inbound)), connection).pipe(tap(outbound)),
    seen,
  };
}

const echo = handle((req) => ({ status: 200, headers: [], body: req.body }));

describe('HTTP/2 windows of a stalled stream', () => {
  it("announces the stream's buffer as output credit to a client whose window is 0: a stalled echo holds one buffer each way, and completes once the window opens", async () => {
    const { app, seen } = watched(echo);
    const server = await start(app);
    const client = await session(server.url, { settings: { initialWindowSize: 0 } });
    const body = Buffer.alloc(256 * 1024, 9);
    const stream = client.request({ ':method': 'POST', ':path': '/' });
    stream.end(body);
    const answer = collect(stream);
    await until(() => seen.sent > 0);
    await sleep(200);
    // node's buffer takes one high-water mark before it is full (16 KiB on Node 20, 64 KiB
    // from Node 22, where 64 KiB needs no announcement); nothing can leave.
    const buffer = getDefaultHighWaterMark(false);
    const credit = buffer < INITIAL_WINDOW ? buffer : undefined;
    expect(seen.requests[0].window).toBe(credit);
    // Before (Node 20): 64 KiB of output credit spent and two 64 KiB body windows read (128 KiB).
    const held = (credit ?? INITIAL_WINDOW) + buffer;
    expect(seen.sent).toBeLessThanOrEqual(held);
    // The body reader reads ahead of the echo: 16 KiB when 16 KiB of credit stalls the echo at
    // once (counted in `held`), up to BODY_WINDOW when 128 KiB went out fast first.
    expect(seen.delivered).toBeLessThanOrEqual(held + (credit === undefined ? BODY_WINDOW : 0));
    client.settings({ initialWindowSize: 65_535 });
    const response = await answer;
    expect(response.status).toBe(200);
    expect(response.body.equals(body)).toBe(true);
    client.close();
  });

  it('announces nothing to a client with the default window: the app starts from INITIAL_WINDOW', async () => {
    const { app, seen } = watched(echo);
    const server = await start(app);
    const client = await session(server.url);
    expect((await exchange(client, { ':method': 'POST', ':path': '/' }, 'hi')).status).toBe(200);
    expect(seen.requests[0]).not.toHaveProperty('window');
    client.close();
  });

  it("widens the body reader's window for a consumer faster than the client, up to BODY_WINDOW", async () => {
    const { app, seen } = watched(
      handle(async (req) => {
        let size = 0;
        for await (const chunk of req.body) size += chunk.byteLength;
        return text(`${size}`);
      }),
    );
    const server = await start(app);
    const client = await session(server.url);
    const body = Buffer.alloc(1 << 20, 3);
    const response = await exchange(client, { ':method': 'POST', ':path': '/' }, body);
    expect(response.body.toString()).toBe(`${body.length}`);
    expect(seen.grants[0]).toBe(BODY_WINDOW_START);
    expect(seen.ahead).toBe(BODY_WINDOW);
    client.close();
  });
});
