/**
 * The app side of conformance: `checkMiddleware` runs a middleware around a probe app in
 * process, feeds it inbound events as a driver would, and checks the rules SPEC.md sets for apps
 * and middleware, by id. No wire: what is judged is the middleware's own event handling.
 */
import type { Subscription } from 'rxjs';
import type { App, ConnectionInfo, Middleware } from '../../core/app.js';
import type { InboundEvent, OutboundEvent, RequestEvent } from '../../core/events.js';
import { Observable, Subject } from '../../core/rx.js';
import type { Report, Result } from './run.js';

/** One rule checked on the app side, as `checkMiddleware` reports it. */
export interface MiddlewareCheck {
  id: string;
  level: 'MUST' | 'SHOULD';
  title: string;
}

/** The app-side rules, by SPEC.md id, in the order `checkMiddleware` reports them. */
export const MIDDLEWARE_CHECKS: readonly MiddlewareCheck[] = [
  {
    id: 'app-ignore-unknown',
    level: 'MUST',
    title:
      'inbound events of an unknown type are ignored: the output goes on, the request is answered',
  },
  {
    id: 'mw-passthrough',
    level: 'MUST',
    title: 'events the middleware does not understand pass through unchanged, both ways',
  },
  {
    id: 'app-outbound-only',
    level: 'MUST',
    title: 'the output carries only outbound event types (or x- extensions) with a stream number',
  },
  { id: 'plain-data', level: 'MUST', title: 'every event the output carries is plain data' },
  {
    id: 'app-credit',
    level: 'SHOULD',
    title: 'body bytes sent on a stream stay within the output credit granted',
  },
  {
    id: 'app-after-close',
    level: 'SHOULD',
    title: 'nothing is sent for a stream after its close',
  },
  { id: 'app-answers', level: 'SHOULD', title: 'every request stream is answered' },
  {
    id: 'shutdown-app',
    level: 'SHOULD',
    title:
      'on shutdown, streams the app holds open end before the deadline, and new requests are answered',
  },
];

/** Options of `checkMiddleware`. */
export interface MiddlewareCheckOptions {
  /** The request target of the probe's requests, for a middleware that serves only some paths. Default `/`. */
  target?: string;
  /** Request header fields (lower-case names) of the probe's requests, e.g. credentials. */
  headers?: string[];
  /** Milliseconds each scene may take to be answered. Default 2,000. */
  timeout?: number;
}

/** The output credit of a new stream (SPEC.md §5.2) and the probe's streamed body. */
const INITIAL_WINDOW = 65_536;
const STREAMED = 4 * INITIAL_WINDOW;
const PIECE = 16_384;
const PROBE_QUERY = 'rxgi-probe=stream';
/** The probe holds such a request's response open until `shutdown`, as an event stream would. */
const HOLD_QUERY = 'rxgi-probe=hold';
const OUTBOUND = new Set([
  'response',
  'data',
  'trailers',
  'push',
  'early-hints',
  'ws-accept',
  'ws-message',
  'close',
  'window',
  'join',
  'leave',
  'send',
  'group-send',
]);

/** What one scene saw: the output's events in order, and the probe's input. */
interface Scene {
  out: OutboundEvent[];
  /** Index in `out` at which the driver side closed each stream. */
  closedAt: Map<number, number>;
  probeSaw: InboundEvent[];
  failed: unknown;
  completed: boolean;
}

/**
 * Check `middleware` against the app-side rules of SPEC.md: it wraps a probe app, and four
 * scenes run on fresh connections (unknown events both ways, a body streamed against credit, a
 * stream closed mid-body, a shutdown while a stream is held open). A middleware that answers requests itself (an auth check) is judged
 * on what it sends. Never throws: failures are results.
 *
 * @example
 * const report = await checkMiddleware(cors());
 * console.log(formatReport(report));
 */
export async function checkMiddleware(
  middleware: Middleware,
  options: MiddlewareCheckOptions = {},
): Promise<Report> {
  const target = options.target ?? '/';
  const timeout = options.timeout ?? 2_000;
  const fail = new Map<string, string>();
  const failOnce = (id: string, why: string) => {
    if (!fail.has(id)) fail.set(id, why);
  };

  // Scene 1: unknown events in, an extension event out, one plain request.
  const unknownIn: InboundEvent = {
    type: 'x-probe-in',
    stream: 0,
    n: 1,
  } as unknown as InboundEvent;
  const futureIn = { type: 'future-event', stream: 1, n: 2 } as unknown as InboundEvent;
  const first = await run(middleware, timeout, async (feed, _scene, answered) => {
    // A body is announced and never sent: the stream stays open for the unknown event.
    feed(request(1, target, options.headers, false));
    feed(unknownIn);
    feed(futureIn);
    await answered(1);
  });
  if (first.failed !== null || first.completed)
    failOnce(
      'app-ignore-unknown',
      `the output ${first.failed !== null ? `errored (${describe(first.failed)})` : 'completed'} after unknown inbound events`,
    );
  else if (!answers(first, 1))
    failOnce('app-ignore-unknown', `stream 1 was not answered within ${timeout} ms`);
  const sawUnknown = first.probeSaw.find((e) => e.type === ('x-probe-in' as string));
  if (sawUnknown === undefined || JSON.stringify(sawUnknown) !== JSON.stringify(unknownIn))
    failOnce('mw-passthrough', 'an x- event on stream 0 did not reach the app unchanged');
  if (first.probeSaw.some((e) => e.type === 'request' && e.stream === 1)) {
    const sawFuture = first.probeSaw.find((e) => e.type === ('future-event' as string));
    if (sawFuture === undefined || JSON.stringify(sawFuture) !== JSON.stringify(futureIn))
      failOnce(
        'mw-passthrough',
        'an event of an unknown type on stream 1 did not reach the app unchanged',
      );
    const outExt = first.out.find((e) => e.type === ('x-probe-out' as string));
    if (outExt === undefined || JSON.stringify(outExt) !== JSON.stringify(PROBE_OUT(1)))
      failOnce(
        'mw-passthrough',
        "the app's x- event on stream 1 did not reach the output unchanged",
      );
  }

  // Scene 2: a body streamed against credit, granted back as a slow client would.
  const streamTarget = `${target}${target.includes('?') ? '&' : '?'}${PROBE_QUERY}`;
  const second = await run(middleware, timeout, async (feed, scene, answered) => {
    feed(request(1, streamTarget, options.headers));
    let granted = INITIAL_WINDOW;
    let sent = 0;
    let seen = 0;
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline && !ended(scene, 1)) {
      for (; seen < scene.out.length; seen++) {
        const event = scene.out[seen];
        if (event.stream !== 1) continue;
        const bytes = bodyBytes(event);
        sent += bytes;
        if (sent > granted)
          failOnce('app-credit', `${sent} body bytes sent on stream 1 with ${granted} granted`);
      }
      // Grant what was sent, in one window, a turn later: as a driver's flushed buffer would.
      await new Promise((resolve) => setImmediate(resolve));
      if (sent + INITIAL_WINDOW > granted) {
        const bytes = sent + INITIAL_WINDOW - granted;
        granted += bytes;
        feed({ type: 'window', stream: 1, bytes });
      }
    }
    await answered(1);
  });
  if (!answers(second, 1))
    failOnce('app-answers', `a streamed request was not answered within ${timeout} ms`);

  // Scene 3: the client goes away mid-body.
  const third = await run(middleware, timeout, async (feed, scene) => {
    feed(request(1, streamTarget, options.headers));
    const deadline = Date.now() + timeout;
    while (Date.now() < deadline && !scene.out.some((e) => e.stream === 1 && e.type === 'data'))
      await new Promise((resolve) => setTimeout(resolve, 1));
    scene.closedAt.set(1, scene.out.length);
    feed({ type: 'close', stream: 1, code: 8, reason: 'client went away' });
    // Grant credit as a driver might have in flight, then watch for a while.
    feed({ type: 'window', stream: 1, bytes: INITIAL_WINDOW });
    await new Promise((resolve) => setTimeout(resolve, Math.min(200, timeout)));
  });
  const after = third.out
    .slice(third.closedAt.get(1) ?? third.out.length)
    .filter((e) => e.stream === 1);
  if (after.length > 0)
    failOnce(
      'app-after-close',
      `${after.length} event(s) sent on stream 1 after its close, first ${after[0].type}`,
    );

  // Scene 4: the host shuts down while the app holds a stream open; a request still comes.
  const holdTarget = `${target}${target.includes('?') ? '&' : '?'}${HOLD_QUERY}`;
  const deadline = Math.min(500, timeout);
  const fourth = await run(middleware, timeout, async (feed, scene) => {
    feed(request(1, holdTarget, options.headers));
    const opened = Date.now() + timeout;
    while (Date.now() < opened && !answers(scene, 1))
      await new Promise((resolve) => setTimeout(resolve, 1));
    feed({ type: 'shutdown', stream: 0, deadline });
    feed(request(3, target, options.headers));
    const end = Date.now() + deadline;
    while (Date.now() < end && !(ended(scene, 1) && answers(scene, 3)))
      await new Promise((resolve) => setTimeout(resolve, 1));
  });
  if (!ended(fourth, 1))
    failOnce(
      'shutdown-app',
      `a stream held open was not ended within the ${deadline} ms deadline of shutdown`,
    );
  else if (!answers(fourth, 3))
    failOnce(
      'shutdown-app',
      `a request that came after shutdown was not answered in ${deadline} ms`,
    );

  for (const scene of [first, second, third, fourth]) {
    for (const event of scene.out) {
      const type = String(event?.type);
      if (!(OUTBOUND.has(type) || type.startsWith('x-')) || !Number.isInteger(event.stream))
        failOnce(
          'app-outbound-only',
          `the output carried ${JSON.stringify(type)} on stream ${String(event?.stream)}`,
        );
      const problem = notPlain(event, 'event');
      if (problem !== null) failOnce('plain-data', `a ${type} event: ${problem}`);
    }
  }
  if (!answers(first, 1))
    failOnce('app-answers', `a plain request was not answered within ${timeout} ms`);

  const results: Result[] = MIDDLEWARE_CHECKS.map(({ id, level, title }) => {
    const why = fail.get(id);
    return { id, level, title, outcome: why === undefined ? 'pass' : 'fail', detail: why ?? '' };
  });
  return {
    url: `middleware ${middleware.name || '(anonymous)'}`,
    results,
    ok: results.every((r) => r.outcome !== 'fail' || r.level !== 'MUST'),
  };
}

type Feed = (event: InboundEvent) => void;
type Script = (
  feed: Feed,
  scene: Scene,
  answered: (stream: number) => Promise<void>,
) => Promise<void>;

/** Run one scene on a fresh connection of `middleware` around a fresh probe. */
async function run(middleware: Middleware, timeout: number, script: Script): Promise<Scene> {
  const scene: Scene = {
    out: [],
    closedAt: new Map(),
    probeSaw: [],
    failed: null,
    completed: false,
  };
  const input = new Subject<InboundEvent>();
  const info: ConnectionInfo = {
    id: 'probe-1',
    address: 'conformance/probe-1',
    protocol: 'memory',
    secure: false,
    client: null,
    server: null,
  };
  let output: Subscription | null = null;
  try {
    output = middleware(probeApp(scene.probeSaw))(input.asObservable(), info).subscribe({
      next: (event) => scene.out.push(event),
      error: (error) => (scene.failed = error ?? new Error('the output errored')),
      complete: () => (scene.completed = true),
    });
    const answered = async (stream: number) => {
      const deadline = Date.now() + timeout;
      while (Date.now() < deadline && !answers(scene, stream) && scene.failed === null)
        await new Promise((resolve) => setTimeout(resolve, 1));
    };
    await script((event) => input.next(event), scene, answered);
  } catch (error) {
    scene.failed = error;
  } finally {
    output?.unsubscribe();
    input.complete();
  }
  return scene;
}

const PROBE_OUT = (stream: number) => ({ type: 'x-probe-out', stream, n: 3 });

/**
 * The probe app: records what reaches it; answers a request with an extension event and 200
 * `probe`; when the target carries `rxgi-probe=stream`, streams 256 KiB strictly within
 * its output credit, stopping at the stream's close; when it carries `rxgi-probe=hold`, sends
 * a head and holds the body open until `shutdown`, when it ends it (SPEC.md §7.2).
 */
function probeApp(saw: InboundEvent[]): App {
  return (events) =>
    new Observable<OutboundEvent>((out) => {
      const credit = new Map<number, { credit: number; owed: number }>();
      const pump = (stream: number) => {
        const state = credit.get(stream);
        while (state !== undefined && state.owed > 0 && state.credit >= PIECE) {
          state.owed -= PIECE;
          state.credit -= PIECE;
          const end = state.owed === 0;
          if (end) credit.delete(stream);
          out.next({ type: 'data', stream, chunk: new Uint8Array(PIECE), end });
        }
      };
      const held = new Set<number>();
      return events.subscribe({
        next: (event) => {
          saw.push(event);
          if (event.type === 'shutdown') {
            for (const stream of held) out.next({ type: 'data', stream, chunk: '', end: true });
            held.clear();
          } else if (event.type === 'request') {
            if (event.query.split('&').includes(HOLD_QUERY)) {
              held.add(event.stream);
              out.next({
                type: 'response',
                stream: event.stream,
                status: 200,
                headers: [],
                end: false,
              });
              return;
            }
            if (!event.query.split('&').includes(PROBE_QUERY)) {
              out.next(PROBE_OUT(event.stream) as unknown as OutboundEvent);
              out.next({
                type: 'response',
                stream: event.stream,
                status: 200,
                headers: ['content-type', 'text/plain'],
                body: 'probe',
                end: true,
              });
              return;
            }
            credit.set(event.stream, { credit: INITIAL_WINDOW, owed: STREAMED });
            out.next({
              type: 'response',
              stream: event.stream,
              status: 200,
              headers: [],
              end: false,
            });
            pump(event.stream);
          } else if (event.type === 'window') {
            const state = credit.get(event.stream);
            if (state !== undefined) state.credit += event.bytes;
            pump(event.stream);
          } else if (event.type === 'close') {
            credit.delete(event.stream);
            held.delete(event.stream);
          }
        },
        error: (error) => out.error(error),
        complete: () => out.complete(),
      });
    });
}

function request(stream: number, target: string, headers: string[] = [], end = true): RequestEvent {
  const mark = target.indexOf('?');
  return {
    type: 'request',
    stream,
    method: 'GET',
    target,
    path: mark < 0 ? target : target.slice(0, mark),
    query: mark < 0 ? '' : target.slice(mark + 1),
    headers: ['host', 'probe', ...headers],
    http: '1.1',
    scheme: 'http',
    authority: 'probe',
    client: null,
    server: null,
    caps: { push: false, trailers: false, earlyHints: false, websocket: false },
    websocket: false,
    subprotocols: [],
    end,
  };
}

/** The stream got its answer: a response head, a WebSocket accept or a close. */
function answers(scene: Scene, stream: number): boolean {
  return scene.out.some(
    (e) =>
      e.stream === stream &&
      (e.type === 'response' || e.type === 'ws-accept' || e.type === 'close'),
  );
}

/** The stream's output ended: a complete response, the last chunk, trailers or a close. */
function ended(scene: Scene, stream: number): boolean {
  return scene.out.some(
    (e) =>
      e.stream === stream &&
      (e.type === 'close' ||
        e.type === 'trailers' ||
        ((e.type === 'response' || e.type === 'data') && e.end)),
  );
}

/** Body bytes an event spends of its stream's output credit (SPEC.md §5). */
function bodyBytes(event: OutboundEvent): number {
  const chunk =
    event.type === 'data'
      ? event.chunk
      : event.type === 'response'
        ? event.body
        : event.type === 'ws-message'
          ? event.data
          : undefined;
  if (chunk === undefined) return 0;
  return typeof chunk === 'string' ? Buffer.byteLength(chunk) : chunk.byteLength;
}

/** Why `value` is not plain data (SPEC.md §9), or null. */
function notPlain(value: unknown, at: string): string | null {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return null;
  if (typeof value === 'number') return null;
  if (value === undefined) return `${at} is undefined (omit the field instead)`;
  if (typeof value !== 'object') return `${at} is a ${typeof value}`;
  if (value instanceof Uint8Array) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const problem = notPlain(value[i], `${at}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null)
    return `${at} is an instance of ${proto?.constructor?.name ?? 'a class'}`;
  for (const [key, field] of Object.entries(value)) {
    const problem = notPlain(field, `${at}.${key}`);
    if (problem !== null) return problem;
  }
  return null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
