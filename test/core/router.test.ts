import type { InboundEvent, Middleware, RequestEvent } from 'rxgi';
import type { ShutdownEvent } from 'rxgi/events';
import { memoryConnection } from 'rxgi/testing';
import { takeWhile } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { type SessionOutput, sessionApp } from '../../core/app.js';
import { HandlerRouter, type StreamEvent } from '../../core/router.js';

// The router every session app shares (core/router.ts), run by a real connection (the memory
// driver): a test router that logs each hook and answers by target.

class Stream {
  body = '';
  constructor(
    readonly id: number,
    readonly target: string,
  ) {}
}

class LogRouter extends HandlerRouter<Stream> {
  constructor(
    out: SessionOutput,
    private readonly log: string[],
  ) {
    super(out);
  }

  protected create(event: RequestEvent): Stream {
    this.log.push(`open ${event.target}`);
    // Input credit starts at 0 (SPEC.md §5.1): a body comes only once granted.
    if (!event.end) this.out.next({ type: 'window', stream: event.stream, bytes: 65536 });
    return new Stream(event.stream, event.target);
  }

  protected start(stream: Stream): unknown {
    return user(stream, this);
  }

  protected override settled(stream: Stream, value: unknown): void {
    this.log.push(`settled ${stream.target} ${String(value)}`);
    this.answer(stream, 200, String(value));
  }

  protected override data(stream: Stream, chunk: Uint8Array, end: boolean): void {
    this.log.push(`data ${stream.target}`);
    stream.body += new TextDecoder().decode(chunk);
    if (end) this.answer(stream, 200, `got ${stream.body}`);
  }

  protected override unrouted(event: StreamEvent): void {
    // Output credit for answered streams comes and goes with the memory driver's flushing.
    if (event.type !== 'window') this.log.push(`unrouted ${event.type} ${event.stream}`);
  }

  protected override shutdown(event: ShutdownEvent): void {
    this.log.push(`shutdown ${event.stream}`);
  }

  protected close(stream: Stream, code: number): void {
    this.log.push(`close ${stream.target} ${code}`);
    this.dropStream(stream.id);
  }

  protected cancel(stream: Stream): void {
    this.log.push(`cancel ${stream.target}`);
    this.dropStream(stream.id);
  }

  protected fail(stream: Stream, error: unknown): void {
    this.log.push(`fail ${stream.target} ${(error as Error).message}`);
    this.answer(stream, 500, 'failed');
  }

  answer(stream: Stream, status: number, body: string): void {
    this.dropStream(stream.id);
    this.out.next({ type: 'response', stream: stream.id, status, headers: [], body, end: true });
  }
}

/** The user code a route runs: it throws, rejects, resolves, answers at once or waits. */
function user(stream: Stream, router: LogRouter): unknown {
  switch (stream.target) {
    case '/throw':
      throw new Error('thrown');
    case '/reject':
      return Promise.reject(new Error('rejected'));
    case '/resolve':
      return Promise.resolve('resolved');
    case '/now':
      router.answer(stream, 200, 'now');
      return undefined;
    default:
      return undefined; // '/body' answers when the body ends; '/hold' never does
  }
}

function logged(log: string[]) {
  return sessionApp((out) => new LogRouter(out, log));
}

describe('StreamRouter and HandlerRouter', () => {
  it('fails the stream whose user code threw or rejected, and that stream alone', async () => {
    const log: string[] = [];
    const connection = memoryConnection(logged(log));
    const [thrown, rejected, resolved, now] = await Promise.all(
      ['/throw', '/reject', '/resolve', '/now'].map((target) => connection.request({ target })),
    );
    expect([thrown.status, rejected.status, resolved.status, now.status]).toEqual([
      500, 500, 200, 200,
    ]);
    expect(resolved.text).toBe('resolved');
    expect(now.text).toBe('now');
    expect(log).toContain('fail /throw thrown');
    expect(log).toContain('fail /reject rejected');
    expect(log).toContain('settled /resolve resolved');
    expect(log.filter((entry) => entry.startsWith('fail'))).toHaveLength(2);
    connection.close();
  });

  it("routes each stream's body events to its own route", async () => {
    const connection = memoryConnection(logged([]));
    const [a, b, c] = await Promise.all([
      connection.request({ method: 'POST', target: '/body', body: 'first' }),
      connection.request({ method: 'POST', target: '/body', body: ['sec', 'ond'].map(bytes) }),
      connection.request({ method: 'POST', target: '/body', body: 'third' }),
    ]);
    expect([a.text, b.text, c.text]).toEqual(['got first', 'got second', 'got third']);
    connection.close();
  });

  it('gives shutdown to the router, and drops events of streams that have no route', async () => {
    const log: string[] = [];
    const connection = memoryConnection(logged(log));
    // '/now' answers before its body arrives and forgets its route: the body is dropped.
    const early = await connection.request({ method: 'POST', target: '/now', body: 'late' });
    expect(early.text).toBe('now');
    connection.shutdown(1000);
    // The close (code 0: answered before the body was read) finds no route: '/now' let go.
    expect(log.slice(0, 2)).toEqual(['open /now', 'unrouted close 1']);
    expect(log).toContain('shutdown 0');
    expect(log.filter((entry) => entry.startsWith('data'))).toEqual([]);
    connection.close();
  });

  it('tells the open routes of a connection that ends by close, and cancels none after it', async () => {
    const log: string[] = [];
    const connection = memoryConnection(logged(log));
    const held = [1, 2].map(() =>
      connection.request({ target: '/hold' }).catch((error: Error) => error),
    );
    expect((await connection.request({ target: '/now' })).status).toBe(200);
    connection.close();
    for (const outcome of await Promise.all(held)) expect(outcome).toBeInstanceOf(Error);
    // The connection tells each open stream it closed (code 8), then the session ends: a route
    // the close left open would be cancelled; here every close forgot its route.
    expect(log.filter((entry) => !entry.startsWith('open'))).toEqual([
      'close /hold 8',
      'close /hold 8',
    ]);
  });

  it('cancels every route still open when its events end first', async () => {
    const log: string[] = [];
    // Middleware that ends the app's input at '/stop': the session is torn down with routes
    // open, and no `close` came for them.
    const stopping: Middleware = (app) => (events, info) =>
      app(events.pipe(takeWhile((event) => !isStop(event))), info);
    const connection = memoryConnection(stopping(logged(log)));
    const held = [1, 2].map(() =>
      connection.request({ target: '/hold' }).catch((error: Error) => error),
    );
    expect((await connection.request({ target: '/now' })).status).toBe(200);
    const stop = connection.request({ target: '/stop' }).catch((error: Error) => error);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(log.filter((entry) => !entry.startsWith('open'))).toEqual([
      'cancel /hold',
      'cancel /hold',
    ]);
    connection.close();
    await Promise.all([...held, stop]);
  });
});

function isStop(event: InboundEvent): boolean {
  return event.type === 'request' && event.target === '/stop';
}

function bytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
