import type { Observable } from 'rxjs';

/** What a server tells a lifespan handler: it is starting, or shutting down. */
export type LifespanEvent = { type: 'startup' } | { type: 'shutdown' };

/** What a lifespan handler answers. */
export type LifespanReply =
  | { type: 'startup-complete' }
  | { type: 'startup-failed'; message: string }
  | { type: 'shutdown-complete' };

/**
 * Optional process-wide setup and teardown, run once per server process (SPEC.md §7). The
 * server listens only after `startup-complete`; `startup-failed` makes `serve` reject. After
 * `shutdown` it waits for `shutdown-complete` (or the output to complete) up to its deadline.
 *
 * @example
 * export const lifespan: Lifespan = (events) => events.pipe(
 *   concatMap(async (e) => e.type === 'startup'
 *     ? (await db.connect(), { type: 'startup-complete' })
 *     : (await db.close(), { type: 'shutdown-complete' })));
 */
export type Lifespan = (events: Observable<LifespanEvent>) => Observable<LifespanReply>;
