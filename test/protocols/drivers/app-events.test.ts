import { request as h1request } from 'node:http';
import type { App, InboundEvent } from 'rxgi';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { session } from '../../h2client.js';
import { closeServers, start, until } from '../../helpers.js';

afterEach(closeServers);

/**
 * An app that answers each request's head, sends one chunk, then closes the stream itself with
 * code 5, and records the `close` events it is told about (SPEC.md §9.1, §9.3).
 */
function closingApp(closes: InboundEvent[]): App {
  return (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
        if (event.type !== 'request') return;
        if (event.websocket) {
          out.next({ type: 'close', stream: event.stream, code: 1000, reason: 'no' });
          return;
        }
        out.next({ type: 'response', stream: event.stream, status: 200, headers: [] });
        out.next({ type: 'data', stream: event.stream, chunk: new Uint8Array([1]), end: false });
        out.next({ type: 'close', stream: event.stream, code: 5, reason: 'app gave up' });
      }),
    );
}

describe("the app's own close (SPEC.md §9.1, §9.3)", () => {
  it('HTTP/2: the stream is reset with the code the app sent, and the app is told that code', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const client = await session(server.url);
    const stream = client.request({ ':path': '/' });
    stream.resume();
    stream.on('error', () => {}); // node reports the reset as an error too
    const rst = await new Promise<number>((resolve) =>
      stream.on('close', () => resolve(stream.rstCode)),
    );
    expect(rst).toBe(5);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 5, reason: 'app gave up' }]);
    client.close();
  });

  it('HTTP/1.1: the exchange is aborted, and the app is told the code it sent', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const aborted = await new Promise<boolean>((resolve) => {
      const req = h1request(server.url, (res) => {
        res.on('aborted', () => resolve(true));
        res.on('end', () => resolve(false));
        res.resume();
      });
      req.on('error', () => resolve(true));
      req.end();
    });
    expect(aborted).toBe(true);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 5, reason: 'app gave up' }]);
  });

  it('a close before ws-accept denies the handshake with 403, and the app is told code 2', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(closingApp(closes));
    const status = await new Promise<number>((resolve) => {
      const ws = new WebSocket(server.url.replace('http', 'ws'));
      ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      ws.on('error', () => resolve(-1));
    });
    expect(status).toBe(403);
    await until(() => closes.length === 1);
    expect(closes).toEqual([{ type: 'close', stream: 1, code: 2, reason: 'handshake denied' }]);
  });
});

/** Answers every request after sending `extra` on its stream first. */
function sending(extra: Record<string, unknown>, closes: InboundEvent[]): App {
  return (events) =>
    new Observable((out) =>
      events.subscribe((event) => {
        if (event.type === 'close') closes.push(event);
        if (event.type !== 'request') return;
        out.next({ ...extra, stream: event.stream } as never);
        out.next({
          type: 'response',
          stream: event.stream,
          status: 200,
          headers: [],
          body: 'ok',
          end: true,
        });
      }),
    );
}

describe('event types on an open stream (SPEC.md §5.2)', () => {
  it('drops an x- extension event the driver does not know, and serves the stream', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(sending({ type: 'x-trace', id: 7 }, closes));
    const response = await fetch(server.url);
    expect([response.status, await response.text()]).toEqual([200, 'ok']);
    expect(closes).toEqual([]);
  });

  it('fails the stream on an unknown type: 500, and the app is told code 2 with the reason', async () => {
    const closes: InboundEvent[] = [];
    const server = await start(sending({ type: 'bogus' }, closes));
    const response = await fetch(server.url);
    expect(response.status).toBe(500);
    await until(() => closes.length === 1);
    expect(closes[0]).toMatchObject({ type: 'close', stream: 1, code: 2 });
    expect((closes[0] as { reason: string }).reason).toContain('unknown event type "bogus"');
  });
});
