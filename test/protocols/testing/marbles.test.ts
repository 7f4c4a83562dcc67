import { type App, handle, type OutboundEvent, upgrade } from 'rxgi';
import { ev, expectMarbles } from 'rxgi/testing';
import { delay, EMPTY, filter, map, mergeMap, type Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';
// The examples of docs/testing.md: a header middleware and a stream that respects its window.
import {
  headerMarbles,
  servedBy,
  streamer,
  windowMarbles,
} from '../../fixtures/testing-runners/examples.mjs';

describe('expectMarbles', () => {
  it('checks a middleware that adds a header, on raw-event and handle apps', () => {
    const raw: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        map((request) => ev.response(request.stream, 200, [], 'hi')),
      );
    expectMarbles(servedBy(raw), {
      inbound: 'r-s',
      outbound: 'a-b',
      values: {
        r: ev.get(1),
        s: ev.get(3),
        a: ev.response(1, 200, ['x-served-by', 'rxgi'], 'hi'),
        b: ev.response(3, 200, ['x-served-by', 'rxgi'], 'hi'),
      },
    });
    // A handle app that answers at once (docs/testing.md's example).
    headerMarbles();
  });

  it('runs timers in the app on virtual time', () => {
    const slow: App = (events) =>
      events.pipe(
        filter((event) => event.type === 'request'),
        mergeMap((request) => of(ev.response(request.stream, 200, [], 'late')).pipe(delay(30_000))),
      );
    expectMarbles(slow, {
      inbound: 'r',
      outbound: '30s a',
      values: { r: ev.get(1), a: ev.response(1, 200, [], 'late') },
    });
  });

  it('shows a credit-respecting stream stalling until its window event', () => {
    windowMarbles(streamer());
  });

  it('fails with a readable diff when the app sends past its window', () => {
    let error: (Error & { code?: string }) | undefined;
    try {
      windowMarbles(streamer(true));
    } catch (caught) {
      error = caught as Error;
    }
    expect(error?.code).toBe('RXGI_ERR_MARBLE_MISMATCH');
    expect(error?.message).toBe(
      [
        "the app's output differs from the expected marbles",
        '  expected: 0:(haa) 6:c',
        '  actual:   0:(haac)',
        'stream 1, event 4:',
        `  expected data {chunk: bytes "${'a'.repeat(20)}…" (32768 bytes), end: true} at frame 6`,
        `  actual   data {chunk: bytes "${'a'.repeat(20)}…" (32768 bytes), end: true} at frame 0`,
        '  frame: expected 6, actual 0',
      ].join('\n'),
    );
  });

  it('checks a WebSocket app that closes on a bad message', () => {
    const app = handle(() =>
      upgrade((messages) =>
        messages.pipe(
          mergeMap((message): Observable<string> => {
            if (message === 'bad') throw new Error('bad message');
            return of(`echo ${String(message)}`);
          }),
        ),
      ),
    );
    expectMarbles(app, {
      inbound: 'o---m-b',
      outbound: '(aw)e-c',
      values: {
        o: ev.websocket(1, '/chat'),
        m: ev.message(1, 'hi'),
        b: ev.message(1, 'bad'),
        a: ev.accept(1),
        w: ev.window(1, 65_536),
        e: ev.message(1, 'echo hi'),
        c: ev.close(1, 1011, 'internal error'),
      },
    });
  });

  it('checks an upload app when close arrives mid-body: no answer goes out', () => {
    // Answers with the body's length at its end; a close in the middle ends the exchange.
    const app: App = (events) =>
      events.pipe(
        mergeMap((event): Observable<OutboundEvent> => {
          if (event.type === 'request') return of(ev.window(event.stream, 65_536));
          if (event.type === 'data' && event.end)
            return of(ev.response(event.stream, 200, [], 'done'));
          return EMPTY;
        }),
      );
    expectMarbles(app, {
      inbound: 'r-d-x--',
      outbound: 'w------',
      values: {
        r: ev.post(1, '/up'),
        d: ev.data(1, 'part'),
        x: ev.close(1, 8, 'stream closed'),
        w: ev.window(1, 65_536),
      },
    });
  });
});
