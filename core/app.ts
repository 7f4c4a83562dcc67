import type { Subscription } from 'rxjs';
import type { Address, InboundEvent, OutboundEvent } from './events.js';
import { Multicast } from './multicast.js';
import { Observable } from './rx.js';

/** What an app may know of its connection; plain data, like the events. */
export interface ConnectionInfo {
  /** Unique within the process that runs the driver. */
  id: string;
  /**
   * The connection's actor address (spec/actors.md §1), set when the app starts: stream `s` of the
   * connection is `${address}/${s}`, and stream 0 is the connection itself.
   */
  address: string;
  /** The wire protocol: `http/1.1`, `h2`, `memory`, or a bus driver's name. */
  protocol: string;
  /** True when the connection is encrypted (TLS). */
  secure: boolean;
  client: Address | null;
  server: Address | null;
}

/**
 * An rxgi application: a function from a connection's inbound events to its outbound events.
 * It is called once per connection; the returned Observable is subscribed once and
 * unsubscribed when the connection ends.
 *
 * @example
 * const app: App = (events) => events.pipe(
 *   filter((e) => e.type === 'request'),
 *   map((e) => ({ type: 'response', stream: e.stream, status: 200,
 *                 headers: ['content-type', 'text/plain'], body: 'hi', end: true })),
 * );
 */
export type App = (
  events: Observable<InboundEvent>,
  connection: ConnectionInfo,
) => Observable<OutboundEvent>;

/** What `sessionApp` keeps per connection. */
export interface AppSession {
  /** One inbound event. */
  receive(event: InboundEvent): void;
  /** The connection ended, or the app's output was unsubscribed; may be called twice. */
  teardown(): void;
}

/** Where a session's output goes: `next` for each event, then `error` or `complete` at most once. */
export interface SessionOutput {
  next(event: OutboundEvent): void;
  error(error: unknown): void;
  complete(): void;
}

/** Makes the session of one connection. */
export type SessionFactory = (out: SessionOutput, connection: ConnectionInfo) => AppSession;

const SESSIONS = Symbol('rxgi.sessions');

/**
 * @internal An app that keeps one session object per connection: each inbound event goes to
 * `receive`, and the end of either side to `teardown`. `handle`, `fromNodeHandler`,
 * `fromConnect` (on the per-stream `StreamRouter` of `core/router.ts`) and `remoteApp` are built
 * this way. A connection may run the session itself (`SessionRun`), with no Observable in
 * between; middleware that wraps the app sees the Observable.
 */
export function sessionApp(create: SessionFactory): App {
  const app: App = (events, connection) =>
    new Observable<OutboundEvent>((out) => {
      const session = create(out, connection);
      const subscription = events.subscribe({
        next: (event) => session.receive(event),
        error: () => session.teardown(),
        complete: () => session.teardown(),
      });
      return () => {
        subscription.unsubscribe();
        session.teardown();
      };
    });
  return Object.assign(app, { [SESSIONS]: create });
}

/** @internal The session factory of an app `sessionApp` made, else undefined. */
export function sessionFactoryOf(app: App): SessionFactory | undefined {
  return (app as { [SESSIONS]?: SessionFactory })[SESSIONS];
}

/**
 * @internal A `sessionApp` session run against `out` directly, by the rules the Observable
 * path follows: nothing reaches `out` after its `error` or `complete`; inbound events stop, and
 * the session is torn down, once either side has ended (after `out` saw the end, so the events
 * a failing connection sends still reach the session).
 */
export class SessionRun implements SessionOutput, AppRun {
  private session: AppSession | null = null;
  /** `out` still takes events. */
  private live = true;
  /** The session was torn down (or will be, once made). */
  private ended = false;

  private constructor(private readonly out: SessionOutput) {}

  /** Run `app` on `out` directly when `sessionApp` made it; null otherwise. */
  static start(app: App, out: SessionOutput, connection: ConnectionInfo): SessionRun | null {
    const create = sessionFactoryOf(app);
    if (create === undefined) return null;
    const run = new SessionRun(out);
    const session = create(run, connection);
    run.session = session;
    if (run.ended) session.teardown();
    return run;
  }

  /** One inbound event, for the session. */
  receive(event: InboundEvent): void {
    if (!this.ended) this.session?.receive(event);
  }

  /** The connection is gone. */
  teardown(): void {
    if (this.ended) return;
    this.ended = true;
    this.live = false;
    this.session?.teardown();
  }

  next(event: OutboundEvent): void {
    if (this.live) this.out.next(event);
  }

  error(error: unknown): void {
    if (!this.live) return;
    this.live = false;
    this.out.error(error);
    this.teardown();
  }

  complete(): void {
    if (!this.live) return;
    this.live = false;
    this.out.complete();
    this.teardown();
  }
}

/** @internal An app running on an output: what its host tells it, and the end of the run. */
export interface AppRun {
  /** One inbound event, for the app. */
  receive(event: InboundEvent): void;
  /** The host is gone: the app hears no more, and its output is let go. */
  teardown(): void;
}

/**
 * @internal Run `app` on `out`: its session directly when `sessionApp` made it (`SessionRun`),
 * otherwise by calling it and subscribing, with one hot inbound stream for the whole run. What
 * the app throws when called is thrown here.
 */
export function runApp(app: App, out: SessionOutput, connection: ConnectionInfo): AppRun {
  return SessionRun.start(app, out, connection) ?? new ObservableRun(app, out, connection);
}

/** @internal An app that is not a `sessionApp`, run through its Observable. */
export class ObservableRun implements AppRun {
  private readonly events = new Multicast<InboundEvent>();
  private readonly subscription: Subscription;

  constructor(app: App, out: SessionOutput, connection: ConnectionInfo) {
    this.subscription = app(this.events.observable, connection).subscribe(out);
  }

  receive(event: InboundEvent): void {
    this.events.deliver(event);
  }

  teardown(): void {
    // As a connection ends: the inbound events complete, then the output is unsubscribed.
    this.events.end();
    this.subscription.unsubscribe();
  }
}

/** Middleware: a function from app to app. Compose with `compose` or plain calls. */
export type Middleware = (app: App) => App;

/**
 * Compose middleware right to left, as function composition does:
 * `compose(a, b)(app)` is `a(b(app))`, so `a` sees events first.
 */
export function compose(...middleware: Middleware[]): Middleware {
  return (app) => middleware.reduceRight((inner, wrap) => wrap(inner), app);
}
