import { Observable, type Subscriber } from 'rxjs';
import type { Address, InboundEvent, OutboundEvent } from './events.js';

/** What an app may know of its connection; plain data, like the events. */
export interface ConnectionInfo {
  /** Unique within the process that runs the driver. */
  id: string;
  /**
   * The connection's actor address (SPEC.md §14.1), set when the app starts: stream `s` of the
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

/**
 * @internal An app that keeps one session object per connection: each inbound event goes to
 * `receive`, and the end of either side to `teardown`. `handle`, `fromNodeHandler` and
 * `remoteApp` are built this way.
 */
export function sessionApp(
  create: (out: Subscriber<OutboundEvent>, connection: ConnectionInfo) => AppSession,
): App {
  return (events, connection) =>
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
