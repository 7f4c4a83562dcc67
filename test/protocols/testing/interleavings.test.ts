import {
  type App,
  handle,
  type InboundEvent,
  type OutboundEvent,
  selfSignedCertificate,
  upgrade,
} from 'rxgi';
import { connect, ev, expectMarbles, many } from 'rxgi/testing';
import { filter, interval, map, mergeMap, type Observable, of, take, tap } from 'rxjs';
import { afterAll, describe, expect, it } from 'vitest';
import echo from '../../../apps/echo.js';
import { closeServers, start } from '../../helpers.js';

afterAll(closeServers);

const tlsOptions = async () => ({ tls: await selfSignedCertificate() });

describe('interleavings', () => {
  it.each(['h2c', 'h2'])(
    'two uploads on one HTTP/2 connection at different read speeds: neither starves, the slow one is paced (%s)',
    async (name) => {
      const TOTAL = 1 << 20; // 1 MiB each
      const received: Record<string, number> = { fast: 0, slow: 0 };
      let slowAtFastEnd = -1;
      // /fast reads as it comes; /slow waits 20 ms per chunk it reads.
      const app = handle(async (req) => {
        const which = req.path === '/fast' ? 'fast' : 'slow';
        for await (const chunk of req.body) {
          received[which]! += chunk.byteLength;
          if (which === 'slow') await new Promise((resolve) => setTimeout(resolve, 20));
        }
        if (which === 'fast') slowAtFastEnd = received.slow!;
        return `${which} ${received[which]}`;
      });
      const server = await start(app, name === 'h2' ? await tlsOptions() : {});
      const conn = await connect(server.url);
      const fast = conn.request({ method: 'POST', target: '/fast' });
      const slow = conn.request({ method: 'POST', target: '/slow' });
      const chunk = new Uint8Array(16_384);
      const upload = async (stream: typeof fast) => {
        for (let sent = 0; sent < TOTAL; sent += chunk.byteLength) await stream.write(chunk);
        await stream.end();
      };
      // Each body is written by its own loop: the slow reader's backpressure holds its writer
      // only, and the fast one finishes while the slow one is still being paced.
      void upload(slow).catch(() => {});
      await upload(fast);
      expect((await fast.done).text).toBe(`fast ${TOTAL}`);
      // Paced by flow control, not buffered whole: the slow app had read less than half.
      expect(slowAtFastEnd).toBeGreaterThanOrEqual(0);
      expect(slowAtFastEnd).toBeLessThan(TOTAL / 2);
      await slow.reset();
      await conn.close();
    },
    30_000,
  );

  it.each(['memory', 'h2c', 'h2'])(
    'a WebSocket message racing a close: delivered, then the close (%s)',
    async (name) => {
      const seen: string[] = [];
      let closed: () => void = () => {};
      const done = new Promise<void>((resolve) => {
        closed = resolve;
      });
      const app: App = (events) =>
        events.pipe(
          tap((event) => {
            if (event.type === 'ws-message') seen.push(`message ${String(event.data)}`);
            if (event.type === 'close') {
              seen.push(`close ${event.code}`);
              closed();
            }
          }),
          mergeMap((event): OutboundEvent[] =>
            event.type === 'request'
              ? [ev.accept(event.stream), ev.window(event.stream, 65_536)]
              : [],
          ),
        );
      const conn =
        name === 'memory'
          ? await connect(app)
          : await connect((await start(app, name === 'h2' ? await tlsOptions() : {})).url);
      const ws = await conn.websocket('/');
      // Not awaited apart: the close goes right behind the message.
      await Promise.all([ws.send('last words'), ws.close(1000, 'bye')]);
      await done;
      expect(seen).toEqual(['message last words', 'close 1000']);
      await conn.close();
    },
  );

  it('a window arriving before the data it pays for is kept, and the stream never stalls', () => {
    // Sends one 32 KiB chunk every 10 frames while credit allows; the grant comes at frame 1,
    // long before the third chunk needs it.
    const CHUNK = 32_768;
    const paced: App = (events) => {
      let credit = 65_536;
      return events.pipe(
        mergeMap((event: InboundEvent): Observable<OutboundEvent> => {
          if (event.type === 'window') {
            credit += event.bytes;
            return of();
          }
          if (event.type !== 'request') return of();
          return interval(10).pipe(
            take(3),
            filter(() => credit >= CHUNK),
            map((i) => {
              credit -= CHUNK;
              return ev.data(event.stream, 'x'.repeat(CHUNK), i === 2);
            }),
          );
        }),
      );
    };
    expectMarbles(paced, {
      inbound: 'rw',
      outbound: '----------a---------a---------b',
      values: {
        r: ev.get(1),
        w: ev.window(1, CHUNK),
        a: ev.data(1, 'x'.repeat(CHUNK)),
        b: ev.end(1, 'x'.repeat(CHUNK)),
      },
    });
  });

  it('a window granted before the body arrives: the memory driver delivers each chunk at once', async () => {
    const seen: string[] = [];
    const app: App = (events) =>
      events.pipe(
        tap((event) =>
          seen.push(event.type === 'data' ? `data ${event.chunk.byteLength}` : event.type),
        ),
        mergeMap((event): OutboundEvent[] => {
          if (event.type === 'request') return [ev.window(event.stream, 1 << 20)];
          if (event.type === 'data' && event.end) return [ev.response(event.stream, 204)];
          return [];
        }),
      );
    const conn = await connect(app);
    const a = conn.request({ method: 'POST', target: '/' });
    await a.write('12345');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(seen).toEqual(['request', 'data 5']);
    await a.end();
    expect((await a.done).status).toBe(204);
    await conn.close();
  });
});

describe('a client that stops reading', () => {
  // Not HTTP/1.1: its one window is the TCP connection's, and loopback buffers take megabytes.
  it.each(['memory', 'h2c'])(
    'stalls a credit-respecting app at its window, and resume lets the rest through (%s)',
    async (name) => {
      const CHUNK = 65_536;
      let produced = 0;
      const app = handle(() => ({
        body: (async function* () {
          for (let i = 0; i < 32; i++) {
            produced += CHUNK;
            yield new Uint8Array(CHUNK).fill(i);
          }
        })(),
      }));
      const conn = name === 'memory' ? await connect(app) : await connect((await start(app)).url);
      const stream = conn.request({ target: '/' });
      await stream.pause();
      await new Promise((resolve) => setTimeout(resolve, 200));
      // Memory grants nothing while paused: the app stops at its first window (64 KiB) and the
      // chunk it pulled before waiting. Over the wire, socket and HTTP/2 buffers add some.
      const bound = name === 'memory' ? 2 * CHUNK : 8 * CHUNK;
      expect(produced).toBeLessThanOrEqual(bound);
      await stream.resume();
      const result = await stream.done;
      expect(result.body.byteLength).toBe(32 * CHUNK);
      expect(result.body[31 * CHUNK]).toBe(31);
      await conn.close();
    },
  );
});

describe('many', () => {
  it('opens 150 streams at once on one HTTP/2 connection and collects each answer', async () => {
    const server = await start(echo);
    const conn = await connect(server.url);
    const texts = await many(150, async (i) => {
      const stream = conn.request({
        method: 'POST',
        target: '/',
        headers: { 'content-type': 'text/plain' },
      });
      await stream.write(`stream ${i}`);
      await stream.end();
      return (await stream.done).text;
    });
    expect(texts).toEqual(Array.from({ length: 150 }, (_, i) => `stream ${i}`));
    await conn.close();
  });

  it('opens 50 WebSockets, at most 10 at a time, on the memory driver', async () => {
    let open = 0;
    let most = 0;
    const app = handle(() =>
      upgrade((messages) => {
        open += 1;
        most = Math.max(most, open);
        return messages.pipe(
          tap({ finalize: () => (open -= 1) }),
          mergeMap((m) => of(`echo ${String(m)}`)),
        );
      }),
    );
    const conn = await connect(app);
    const answers = await many(
      50,
      async (i) => {
        const ws = await conn.websocket('/');
        await ws.send(String(i));
        const answer = await ws.next();
        await ws.close();
        await ws.closed;
        return answer;
      },
      { concurrency: 10 },
    );
    expect(answers).toEqual(Array.from({ length: 50 }, (_, i) => `echo ${i}`));
    expect(most).toBeLessThanOrEqual(10);
    await conn.close();
  });

  it('rejects past its deadline, saying how many finished', async () => {
    await expect(
      many(3, (i) => (i === 0 ? Promise.resolve(i) : new Promise<number>(() => {})), {
        deadline: 50,
      }),
    ).rejects.toMatchObject({
      code: 'RXGI_ERR_SCRIPT',
      message: 'many: 1 of 3 tasks finished within the deadline of 50 ms',
    });
  });
});
