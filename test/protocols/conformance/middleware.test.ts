import type { App, InboundEvent, Lifespan, Middleware, OutboundEvent } from 'rxgi';
import {
  checkLifespan,
  checkMiddleware,
  formatReport,
  LIFESPAN_CHECKS,
  MIDDLEWARE_CHECKS,
} from 'rxgi/conformance';
import { fromConnect } from 'rxgi/node';
import { concatMap, EMPTY, filter, map, mergeMap, Observable, of, throwError } from 'rxjs';
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

  it('fails a middleware that keeps shutdown from the app: [shutdown-app]', async () => {
    const swallow = onInput((events) => events.pipe(filter((e) => e.type !== 'shutdown')));
    expect(await failed(swallow)).toEqual(['shutdown-app']);
  });
});

describe('checkLifespan: the replies SPEC.md §7.1 asks of a lifespan handler', () => {
  const outcome = async (lifespan: Lifespan) =>
    (await checkLifespan(lifespan, { timeout: 200 })).results.map((r) => `${r.id} ${r.outcome}`);
  const each: Lifespan = (events) =>
    events.pipe(
      concatMap(async (e) =>
        e.type === 'startup'
          ? ({ type: 'startup-complete' } as const)
          : ({ type: 'shutdown-complete' } as const),
      ),
    );

  it('passes a handler that answers each event, and one that answers on subscription', async () => {
    const report = await checkLifespan(each);
    expect(report.results.map((r) => r.id)).toEqual(LIFESPAN_CHECKS.map((c) => c.id));
    expect(formatReport(report)).not.toContain('FAIL');
    expect(await outcome(() => of({ type: 'startup-complete' }))).toEqual([
      'lifespan-app-startup pass',
      'lifespan-app-shutdown pass',
    ]);
  });

  it('names what a broken handler does wrong', async () => {
    // Issue 13 (a): two startup-complete replies.
    const twice: Lifespan = (events) =>
      events.pipe(
        concatMap((e) =>
          e.type === 'startup'
            ? of({ type: 'startup-complete' } as const, { type: 'startup-complete' } as const)
            : of({ type: 'shutdown-complete' } as const),
        ),
      );
    expect(await outcome(twice)).toEqual([
      'lifespan-app-startup fail',
      'lifespan-app-shutdown pass',
    ]);
    expect(await outcome(() => EMPTY)).toEqual([
      'lifespan-app-startup fail',
      'lifespan-app-shutdown pass',
    ]);
    expect(await outcome(() => throwError(() => new Error('no db')))).toEqual([
      'lifespan-app-startup fail',
      'lifespan-app-shutdown fail',
    ]);
    const silent: Lifespan = (events) =>
      events.pipe(
        filter((e) => e.type === 'startup'),
        map(() => ({ type: 'startup-complete' }) as const),
      );
    const report = await checkLifespan(silent, { timeout: 100 });
    expect(report.ok).toBe(true); // a SHOULD failed, no MUST
    expect(formatReport(report)).toMatch(
      /FAIL {2}\[lifespan-app-shutdown\] SHOULD: .*\n.*not answered within 100 ms/,
    );
  });
});
