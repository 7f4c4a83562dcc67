import type { App, InboundEvent, Middleware, OutboundEvent } from 'rxgi';
import { checkMiddleware, formatReport, MIDDLEWARE_CHECKS } from 'rxgi/conformance';
import { fromConnect } from 'rxgi/node';
import { filter, map, mergeMap, Observable, of } from 'rxjs';
import { describe, expect, it } from 'vitest';

/** A middleware that changes the app's output events with `change`. */
const onOutput =
  (change: (event: OutboundEvent) => OutboundEvent[]): Middleware =>
  (app: App) =>
  (events, connection) =>
    app(events, connection).pipe(mergeMap((event) => of(...change(event))));

/** A middleware that changes the inbound events with `change`. */
const onInput =
  (change: (events: Observable<InboundEvent>) => Observable<InboundEvent>): Middleware =>
  (app: App) =>
  (events, connection) =>
    app(change(events), connection);

const failed = async (middleware: Middleware) =>
  (await checkMiddleware(middleware, { timeout: 500 })).results
    .filter((r) => r.outcome === 'fail')
    .map((r) => r.id);

describe('checkMiddleware: the app-side rules of SPEC.md', () => {
  it('passes the identity middleware and rxgi middleware on every rule', async () => {
    for (const middleware of [(app: App) => app, fromConnect((_req, _res, next) => next())]) {
      const report = await checkMiddleware(middleware);
      expect(formatReport(report)).not.toContain('FAIL');
      expect(report.results.map((r) => r.id)).toEqual(MIDDLEWARE_CHECKS.map((c) => c.id));
      expect(report.ok).toBe(true);
    }
  });

  it('names the rule each broken middleware breaks', async () => {
    const known = new Set(['request', 'data', 'trailers', 'close', 'window', 'shutdown']);
    expect(
      await failed(onInput((events) => events.pipe(filter((e) => known.has(e.type))))),
    ).toEqual(['mw-passthrough']);
    expect(
      await failed(
        onInput((events) =>
          events.pipe(
            map((e) => {
              if (!known.has(e.type) && e.stream !== 0) throw new Error(`unknown ${e.type}`);
              return e;
            }),
          ),
        ),
      ),
    ).toContain('app-ignore-unknown');
    expect(
      await failed(
        onOutput((e) => [
          e.type === 'response' ? { ...e, headers: [...e.headers], at: new Date() } : e,
        ]),
      ),
    ).toEqual(['plain-data']);
    expect(
      await failed(
        onOutput((e) => [e, { type: 'bogus', stream: e.stream } as unknown as OutboundEvent]),
      ),
    ).toEqual(['app-outbound-only']);
    expect(
      await failed(
        onOutput((e) =>
          e.type === 'response' && !e.end
            ? [e, { type: 'data', stream: e.stream, chunk: new Uint8Array(200_000), end: false }]
            : [e],
        ),
      ),
    ).toEqual(['app-credit']);
    expect(await failed(onOutput((e) => (e.type === 'response' ? [] : [e])))).toEqual(
      expect.arrayContaining(['app-answers']),
    );
    const lateWriter: Middleware = (app) => (events, connection) =>
      new Observable<OutboundEvent>((out) => {
        const inner = app(events, connection).subscribe(out);
        const late = events.subscribe((e) => {
          if (e.type === 'close')
            setTimeout(
              () => out.next({ type: 'data', stream: e.stream, chunk: 'late', end: true }),
              5,
            );
        });
        return () => {
          inner.unsubscribe();
          late.unsubscribe();
        };
      });
    expect(await failed(lateWriter)).toEqual(['app-after-close']);
  });
});
