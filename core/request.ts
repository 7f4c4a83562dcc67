import type { Observable } from 'rxjs';
import { BodyReader, DEFAULT_BODY_LIMIT, readAll } from './body.js';
import { ERR, RxgiError } from './errors.js';
import {
  type Address,
  type Capabilities,
  type DroppedEvent,
  type HeaderList,
  INITIAL_WINDOW,
  type MessageEvent,
  type OutboundEvent,
  type RequestEvent,
  type UndeliveredEvent,
  type Value,
} from './events.js';
import { getHeader } from './headers.js';
import { Multicast } from './multicast.js';

/** Where a request sends the events it makes (pushes, hints, window grants, messages). */
export interface EventSink {
  next(event: OutboundEvent): void;
  /** True once the connection received `shutdown` (SPEC.md §7.2). */
  readonly stopped: boolean;
  /** The connection's actor address (`ConnectionInfo.address`). */
  readonly address: string;
}

/** What arrives in a request's inbox: messages, and reports of messages it could not send. */
export type Mail = MessageEvent | UndeliveredEvent | DroppedEvent;

/**
 * One exchange as a `handle` handler sees it: the request event's fields, the body as a pull
 * stream or read whole, and the few outbound actions that belong to a request.
 */
export class HttpRequest {
  private reader: BodyReader | null = null;
  private controller: AbortController | null = null;
  private stopping: AbortController | null = null;
  private mailbox: Multicast<Mail> | null = null;

  constructor(
    /** The request event this object reads from. */
    readonly event: RequestEvent,
    private readonly sink: EventSink,
  ) {}

  /** The body as a pull stream: input is read from the wire only as fast as this is iterated. */
  get body(): BodyReader {
    // Made on first use: most requests never read a body.
    if (this.reader === null) {
      this.reader = new BodyReader((bytes) => this.grant(bytes), this.event.end);
      this.held();
    }
    return this.reader;
  }

  get stream(): number {
    return this.event.stream;
  }
  get method(): string {
    return this.event.method;
  }
  get path(): string {
    return this.event.path;
  }
  get query(): string {
    return this.event.query;
  }
  /** The prefix the app is mounted under, or `''` (SPEC.md §3.2): `root + path` is the full path. */
  get root(): string {
    return this.event.root ?? '';
  }
  get target(): string {
    return this.event.target;
  }
  get headers(): HeaderList {
    return this.event.headers;
  }
  get http(): RequestEvent['http'] {
    return this.event.http;
  }
  get scheme(): RequestEvent['scheme'] {
    return this.event.scheme;
  }
  get authority(): string {
    return this.event.authority;
  }
  get client(): Address | null {
    return this.event.client;
  }
  get caps(): Capabilities {
    return this.event.caps;
  }
  /** True when this request is a WebSocket handshake (answer it with `upgrade`). */
  get websocket(): boolean {
    return this.event.websocket;
  }
  get subprotocols(): string[] {
    return this.event.subprotocols;
  }

  /** The query string parsed. */
  get searchParams(): URLSearchParams {
    return new URLSearchParams(this.event.query);
  }

  /** Aborted when the stream closes before the exchange completed (client left, reset). */
  get signal(): AbortSignal {
    if (this.controller === null) {
      this.controller = new AbortController();
      this.held();
    }
    return this.controller.signal;
  }

  /**
   * Aborted when the server starts shutting down: a body that never ends on its own (server-sent
   * events, long polls) should end then, so shutdown need not wait for its deadline.
   */
  get shutdown(): AbortSignal {
    if (this.stopping === null) {
      this.stopping = new AbortController();
      this.held();
      if (this.sink.stopped) this.stop();
    }
    return this.stopping.signal;
  }

  /** @internal The connection received `shutdown`. */
  stop(): void {
    this.stopping?.abort(new Error('the server is shutting down'));
  }

  /** The first value of a header, by lower-case name. */
  header(name: string): string | undefined {
    return getHeader(this.event.headers, name);
  }

  /** The whole body; fails with 413 past `limit` bytes (default 1 MiB). */
  bytes(limit = DEFAULT_BODY_LIMIT): Promise<Uint8Array> {
    return readAll(this.body, limit, this.header('content-length'));
  }

  /** The whole body as UTF-8 text; fails with 413 past `limit` bytes. */
  async text(limit = DEFAULT_BODY_LIMIT): Promise<string> {
    return new TextDecoder().decode(await this.bytes(limit));
  }

  /** The body parsed as JSON; fails with 400 when it is not JSON, 413 past `limit` bytes. */
  async json<T = unknown>(limit = DEFAULT_BODY_LIMIT): Promise<T> {
    const source = await this.text(limit);
    try {
      return JSON.parse(source) as T;
    } catch (error) {
      throw new RxgiError(ERR.BAD_BODY, 'the request body is not valid JSON', 400, {
        cause: error,
      });
    }
  }

  /** Push `path` to the client, or hint it where push is impossible (SPEC.md §6). */
  push(path: string, headers: HeaderList = []): void {
    this.sink.next({ type: 'push', stream: this.event.stream, path, headers });
  }

  /** Send a 103 Early Hints response before the reply (dropped where unsupported). */
  earlyHints(headers: HeaderList): void {
    this.sink.next({ type: 'early-hints', stream: this.event.stream, headers });
  }

  // Actors (spec/actors.md) --------------------------------------------------------------------

  /** This exchange's actor address: send to it from anywhere on the bus. */
  get address(): string {
    return `${this.sink.address}/${this.event.stream}`;
  }

  /**
   * Join `group` until `leave`, or until the exchange ends; then `farewell`, if given, is sent
   * to the group on this exchange's behalf. `slow` says what happens when the group's messages
   * find the inbox full: `drop` (default; `dropped` reports arrive in `inbox`) or `close` the
   * exchange once more than `maxDropped` (default 0) were dropped (spec/actors.md §4).
   * `forward` (a WebSocket only) has the server send the group's string and byte messages
   * straight to the client as text and binary messages, without `inbox`: a broadcast then costs
   * no trip through the app per member; `slow` applies once the session's unsent output passes
   * the hub's `inboxBytes`.
   *
   * @example req.join('chat', { kind: 'bye' }, { slow: 'close', maxDropped: 10 });
   * @example req.join('ticker', undefined, { forward: true });
   */
  join(
    group: string,
    farewell?: Value,
    options?: { slow?: 'drop' | 'close'; maxDropped?: number; forward?: boolean },
  ): void {
    this.sink.next({ type: 'join', stream: this.event.stream, group, farewell, ...options });
  }

  /** Leave `group`. */
  leave(group: string): void {
    this.sink.next({ type: 'leave', stream: this.event.stream, group });
  }

  /** Send `data` to one address, at most once; a refusal arrives in `inbox` as `undelivered`. */
  send(to: string, data: Value): void {
    this.sink.next({ type: 'send', stream: this.event.stream, to, data });
  }

  /** Send `data` to every member of `group`, in every process, this exchange included. */
  publish(group: string, data: Value): void {
    this.sink.next({ type: 'group-send', stream: this.event.stream, group, data });
  }

  /**
   * Messages for this exchange's address and its groups, `undelivered` reports, and `dropped`
   * reports of group messages its full inbox lost. Messages
   * are taken from the wire only as fast as the exchange's output flows (spec/actors.md §4).
   */
  get inbox(): Observable<Mail> {
    if (this.mailbox === null) {
      this.mailbox = new Multicast();
      this.held();
      // A WebSocket gets its credit when accepted; a plain exchange gets it here.
      if (!this.event.websocket) this.grant(INITIAL_WINDOW);
    }
    return this.mailbox;
  }

  /** @internal Mail from the driver; false when nobody reads the inbox. */
  mail(event: Mail): boolean {
    this.mailbox?.deliver(event);
    return this.mailbox !== null;
  }

  /** @internal The stream closed before the exchange completed. */
  abandon(code: number, reason: string): void {
    const error = new RxgiError(ERR.STREAM_CLOSED, `stream closed (${code}): ${reason}`);
    this.reader?.fail(error);
    this.controller?.abort(error);
    this.finish();
  }

  /** @internal The exchange is over: the inbox completes. */
  finish(): void {
    this.mailbox?.end();
  }

  /**
   * @internal True once the request keeps something that events of its stream reach (a body
   * reader, a signal, an inbox): until then those events have nothing to do here.
   */
  get holdsState(): boolean {
    return (
      this.reader !== null ||
      this.controller !== null ||
      this.stopping !== null ||
      this.mailbox !== null
    );
  }

  /** @internal Called as the request first keeps such state (see {@link holdsState}). */
  protected held(): void {}

  private grant(bytes: number): void {
    this.sink.next({ type: 'window', stream: this.event.stream, bytes });
  }
}
