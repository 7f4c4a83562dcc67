/**
 * The host's lifespan and shutdown, checked through the host's own start and stop: a host
 * author hands `checkHostLifecycle` a function that starts their host with a given app,
 * lifespan handler and shutdown timeout, and stops it. The check then plays an HTTP/1.1 client
 * and watches the app and the handler from inside (SPEC.md §7).
 */
import { request as httpRequest } from 'node:http';
import type { App } from '../../core/app.js';
import type { InboundEvent, OutboundEvent } from '../../core/events.js';
import type { Lifespan, LifespanEvent, LifespanReply } from '../../core/lifespan.js';
import { Observable, Subject } from '../../core/rx.js';
import type { MiddlewareCheck } from './middleware.js';
import type { Report, Result } from './run.js';

/** A host under test: started with an app, a lifespan handler and a shutdown timeout in ms. */
export type HostStarter = (
  app: App,
  lifespan: Lifespan,
  shutdownTimeout: number,
) => Promise<{ url: string; stop: () => Promise<void> }>;

/** The host-side rules of lifespan and shutdown, by id, in the order they are reported. */
export const HOST_LIFECYCLE_CHECKS: readonly MiddlewareCheck[] = [
  {
    id: 'lifespan-startup',
    level: 'MUST',
    title: 'startup is answered before the first connection; startup-failed stops the host',
  },
  {
    id: 'lifespan-reply',
    level: 'MUST',
    title: 'a second startup-complete is ignored: it does not answer shutdown',
  },
  {
    id: 'shutdown-event',
    level: 'MUST',
    title:
      'shutdown reaches stream 0 of each open connection with its deadline; work in flight ends',
  },
  {
    id: 'shutdown-deadline',
    level: 'MUST',
    title: 'at the deadline the host closes what is open and tells the app close 8',
  },
  {
    id: 'lifespan-shutdown',
    level: 'MUST',
    title: 'the lifespan gets shutdown after the connections closed, and its answer is awaited',
  },
];

/** The reason `checkHostLifecycle` gives its refused startup. */
const REFUSAL = 'conformance: startup refused on purpose';
/** The shutdown timeout the check runs the host with, and the slack it allows around it. */
const DEADLINE = 800;
const SLACK = 400;

/**
 * Check a host's lifespan and shutdown (SPEC.md §7): start it with a refusing lifespan (it must
 * not serve), then with a probe app and a lifespan that answers startup twice and shutdown late;
 * hold one request until `shutdown` comes and leave another unanswered, stop the host, and check
 * the order of what the app, the handler and the client saw. Never throws: failures are results.
 *
 * @example
 * const report = await checkHostLifecycle(async (app, lifespan, shutdownTimeout) => {
 *   const server = await serve(app, { port: 0, lifespan, shutdownTimeout });
 *   return { url: server.url, stop: () => server.close() };
 * });
 */
export async function checkHostLifecycle(start: HostStarter): Promise<Report> {
  const fail = new Map<string, string>();
  const failOnce = (id: string, why: string) => {
    if (!fail.has(id)) fail.set(id, why);
  };
  try {
    await refusedStartup(start, failOnce);
    await lifecycle(start, failOnce);
  } catch (thrown) {
    failOnce('lifespan-startup', `the host failed: ${describe(thrown)}`);
  }
  const results: Result[] = HOST_LIFECYCLE_CHECKS.map(({ id, level, title }) => {
    const why = fail.get(id);
    return { id, level, title, outcome: why === undefined ? 'pass' : 'fail', detail: why ?? '' };
  });
  return {
    url: 'host lifecycle',
    results,
    ok: results.every((r) => r.outcome !== 'fail' || r.level !== 'MUST'),
  };
}

type FailOnce = (id: string, why: string) => void;

async function refusedStartup(start: HostStarter, failOnce: FailOnce): Promise<void> {
  const refuse: Lifespan = () =>
    new Observable<LifespanReply>((out) => out.next({ type: 'startup-failed', message: REFUSAL }));
  let host: { url: string; stop: () => Promise<void> } | null = null;
  try {
    host = await start(() => new Observable<OutboundEvent>(), refuse, DEADLINE);
  } catch (error) {
    if (!describe(error).includes(REFUSAL))
      failOnce(
        'lifespan-startup',
        `startup-failed stopped the host without its message: ${describe(error)}`,
      );
    return;
  }
  failOnce('lifespan-startup', 'the host started although its lifespan answered startup-failed');
  await host.stop().catch(() => {});
}

/** What the probe app and the lifespan handler saw, with times from `performance.now()`. */
interface Seen {
  startupAnswered: number;
  connections: { opened: number; ended: number | null; shutdown: number[]; closes: number[] }[];
  requests: Set<string>;
  lifespanShutdown: number | null;
  shutdownAnswered: number | null;
}

async function lifecycle(start: HostStarter, failOnce: FailOnce): Promise<void> {
  const seen: Seen = {
    startupAnswered: 0,
    connections: [],
    requests: new Set(),
    lifespanShutdown: null,
    shutdownAnswered: null,
  };
  const lifespan: Lifespan = (events) =>
    new Observable<LifespanReply>((out) => {
      const timers: ReturnType<typeof setTimeout>[] = [];
      const sub = events.subscribe((event: LifespanEvent) => {
        if (event.type === 'startup') {
          timers.push(
            setTimeout(() => {
              seen.startupAnswered = performance.now();
              out.next({ type: 'startup-complete' });
              // The second answer: a host that keeps it would take it for shutdown's.
              out.next({ type: 'startup-complete' });
            }, 100),
          );
        } else {
          seen.lifespanShutdown = performance.now();
          timers.push(
            setTimeout(() => {
              seen.shutdownAnswered = performance.now();
              out.next({ type: 'shutdown-complete' });
            }, 300),
          );
        }
      });
      return () => {
        sub.unsubscribe();
        for (const timer of timers) clearTimeout(timer);
      };
    });
  const app: App = (events) => {
    const record = {
      opened: performance.now(),
      ended: null as number | null,
      shutdown: [] as number[],
      closes: [] as number[],
    };
    seen.connections.push(record);
    const out = new Subject<OutboundEvent>();
    const held: number[] = [];
    const answer = (stream: number, body: string) => {
      out.next({ type: 'response', stream, status: 200, headers: [], body, end: true });
    };
    events.subscribe({
      next: (event: InboundEvent) => {
        if (event.type === 'request') {
          seen.requests.add(event.path);
          if (event.path === '/hold') held.push(event.stream);
          else if (event.path !== '/never') answer(event.stream, 'ok');
        } else if (event.type === 'shutdown' && event.stream === 0) {
          record.shutdown.push(event.deadline);
          for (const stream of held.splice(0)) answer(stream, 'bye');
        } else if (event.type === 'close' && event.stream !== 0) record.closes.push(event.code);
      },
      complete: () => {
        record.ended = performance.now();
        out.complete();
      },
    });
    return out;
  };

  const host = await start(app, lifespan, DEADLINE);
  const first = await get(host.url, '/');
  if (first.status !== 200)
    failOnce('lifespan-startup', `a request after start got ${first.status}`);
  if (seen.startupAnswered === 0)
    failOnce('lifespan-startup', 'the host served before its lifespan answered startup');
  else if (seen.connections.some((c) => c.opened < seen.startupAnswered))
    failOnce('lifespan-startup', 'a connection reached the app before startup was answered');

  const hold = get(host.url, '/hold');
  const never = get(host.url, '/never');
  await waitFor(() => seen.requests.has('/hold') && seen.requests.has('/never'), 5_000);
  const stopping = performance.now();
  let stopped = 0;
  const stop = host.stop().then(() => {
    stopped = performance.now();
  });
  const held = await hold;
  const cut = await never;
  await stop;

  const told = seen.connections.filter((c) => c.shutdown.length > 0);
  if (told.length < 2)
    failOnce('shutdown-event', `${told.length} of the open connections got shutdown on stream 0`);
  for (const c of told) {
    if (c.shutdown.length > 1) failOnce('shutdown-event', 'a connection got shutdown twice');
    if (c.shutdown[0] !== DEADLINE)
      failOnce('shutdown-event', `deadline was ${c.shutdown[0]}, the shutdown timeout ${DEADLINE}`);
  }
  if (held.status !== 200 || held.body !== 'bye')
    failOnce(
      'shutdown-event',
      `the request in flight got ${held.status} ${held.error ?? held.body}`,
    );
  else if (!/close/i.test(held.connection ?? ''))
    failOnce('shutdown-event', 'an HTTP/1.1 response during shutdown lacked Connection: close');

  if (cut.status !== 0)
    failOnce(
      'shutdown-deadline',
      `the unanswered request got ${cut.status} instead of a closed connection`,
    );
  else if (cut.at - stopping < DEADLINE - 50)
    failOnce(
      'shutdown-deadline',
      `its connection closed ${Math.round(cut.at - stopping)} ms into a ${DEADLINE} ms deadline`,
    );
  else if (cut.at - stopping > DEADLINE + SLACK)
    failOnce(
      'shutdown-deadline',
      `its connection closed ${Math.round(cut.at - stopping)} ms after stop, past the ${DEADLINE} ms deadline`,
    );
  if (!seen.connections.some((c) => c.closes.includes(8)))
    failOnce(
      'shutdown-deadline',
      'the app was not told close 8 for the stream cut at the deadline',
    );

  const lastEnd = Math.max(...seen.connections.map((c) => c.ended ?? Number.POSITIVE_INFINITY));
  if (seen.lifespanShutdown === null)
    failOnce('lifespan-shutdown', 'the lifespan never got shutdown');
  else if (seen.lifespanShutdown < lastEnd)
    failOnce('lifespan-shutdown', 'the lifespan got shutdown before every connection had ended');
  if (seen.shutdownAnswered === null || stopped < seen.shutdownAnswered)
    failOnce(
      seen.lifespanShutdown === null ? 'lifespan-shutdown' : 'lifespan-reply',
      'the host finished stopping before the lifespan answered shutdown (a spare startup-complete answered it?)',
    );
}

interface Got {
  status: number;
  body: string;
  connection: string | undefined;
  error?: string;
  /** When the answer ended or the connection failed. */
  at: number;
}

/** One GET on a connection of its own; a failed connection is status 0. */
function get(url: string, path: string): Promise<Got> {
  return new Promise((resolve) => {
    const req = httpRequest(new URL(path, url), { agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        body += chunk;
      });
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          body,
          connection: res.headers.connection,
          at: performance.now(),
        }),
      );
      res.on('error', (error) =>
        resolve({
          status: 0,
          body,
          connection: undefined,
          error: error.message,
          at: performance.now(),
        }),
      );
    });
    req.on('error', (error) =>
      resolve({
        status: 0,
        body: '',
        connection: undefined,
        error: error.message,
        at: performance.now(),
      }),
    );
    req.end();
  });
}

async function waitFor(done: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, 5));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
