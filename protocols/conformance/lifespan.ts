/**
 * The lifespan side of conformance: `checkLifespan` plays a host's part to a lifespan handler in
 * process (`startup`, then `shutdown`) and checks the replies SPEC.md §7.1 asks of it, by id.
 */
import type { Subscription } from 'rxjs';
import type { Lifespan, LifespanReply } from '../../core/lifespan.js';
import { Subject } from '../../core/rx.js';
import type { MiddlewareCheck } from './middleware.js';
import type { Report, Result } from './run.js';

/** The rules a lifespan handler keeps, by SPEC.md id, in the order `checkLifespan` reports them. */
export const LIFESPAN_CHECKS: readonly MiddlewareCheck[] = [
  {
    id: 'lifespan-app-startup',
    level: 'MUST',
    title: 'startup is answered once, with startup-complete or startup-failed, and nothing follows',
  },
  {
    id: 'lifespan-app-shutdown',
    level: 'SHOULD',
    title: 'shutdown is answered with shutdown-complete, or the output completes',
  },
];

/** Options of `checkLifespan`. */
export interface LifespanCheckOptions {
  /** Milliseconds the handler may take for each answer. Default 2,000. */
  timeout?: number;
  /** Milliseconds to watch for more replies after the startup answer. Default 50. */
  settle?: number;
}

/**
 * Check a lifespan handler against SPEC.md §7.1: `startup` is sent (a reply that came on
 * subscription answers it, as a host takes it), later replies are watched for a while, then
 * `shutdown` is sent. The handler runs for real: a startup that connects to a database does so.
 * Never throws: failures are results.
 *
 * @example
 * const report = await checkLifespan(lifespan);
 * console.log(formatReport(report));
 */
export async function checkLifespan(
  lifespan: Lifespan,
  options: LifespanCheckOptions = {},
): Promise<Report> {
  const timeout = options.timeout ?? 2_000;
  const settle = options.settle ?? 50;
  const fail = new Map<string, string>();
  const failOnce = (id: string, why: string) => {
    if (!fail.has(id)) fail.set(id, why);
  };
  const replies: LifespanReply[] = [];
  let ended: 'completed' | 'errored' | null = null;
  let error: unknown = null;
  const events = new Subject<{ type: 'startup' } | { type: 'shutdown' }>();
  let subscription: Subscription | null = null;
  const until = async (done: () => boolean, ms: number) => {
    const deadline = Date.now() + ms;
    while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, 1));
  };
  try {
    subscription = lifespan(events.asObservable()).subscribe({
      next: (reply) => replies.push(reply),
      error: (e) => {
        ended = 'errored';
        error = e;
      },
      complete: () => (ended = 'completed'),
    });
    if (replies.length === 0 && ended === null) events.next({ type: 'startup' });
    await until(() => replies.length > 0 || ended !== null, timeout);
    const first = replies[0];
    if (first === undefined) {
      failOnce(
        'lifespan-app-startup',
        ended === 'errored'
          ? `the output errored (${describe(error)}) instead of answering startup-failed`
          : ended === 'completed'
            ? 'the output completed without answering startup'
            : `startup was not answered within ${timeout} ms`,
      );
    } else if (first.type !== 'startup-complete' && first.type !== 'startup-failed') {
      failOnce('lifespan-app-startup', `startup was answered with ${JSON.stringify(first.type)}`);
    }
    await new Promise((r) => setTimeout(r, settle));
    if (replies.length > 1)
      failOnce(
        'lifespan-app-startup',
        `${replies.length} replies before shutdown: ${replies.map((r) => r.type).join(', ')}`,
      );
    const before = replies.length;
    if (ended === null) {
      events.next({ type: 'shutdown' });
      await until(() => replies.length > before || ended !== null, timeout);
    }
    const answer = replies[before];
    if (ended === 'errored' && answer === undefined)
      failOnce('lifespan-app-shutdown', `the output errored (${describe(error)})`);
    else if (answer === undefined && ended !== 'completed')
      failOnce('lifespan-app-shutdown', `shutdown was not answered within ${timeout} ms`);
    else if (answer !== undefined && answer.type !== 'shutdown-complete')
      failOnce(
        'lifespan-app-shutdown',
        `shutdown was answered with ${JSON.stringify(answer.type)}`,
      );
  } catch (thrown) {
    failOnce('lifespan-app-startup', `the handler threw: ${describe(thrown)}`);
  } finally {
    subscription?.unsubscribe();
    events.complete();
  }
  const results: Result[] = LIFESPAN_CHECKS.map(({ id, level, title }) => {
    const why = fail.get(id);
    return { id, level, title, outcome: why === undefined ? 'pass' : 'fail', detail: why ?? '' };
  });
  return {
    url: `lifespan ${lifespan.name || '(anonymous)'}`,
    results,
    ok: results.every((r) => r.outcome !== 'fail' || r.level !== 'MUST'),
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
