import { BodyReader, DEFAULT_BODY_LIMIT, readAll } from './body.js';
import { ERR, RxgiError } from './errors.js';
import type { Address, Capabilities, HeaderList, OutboundEvent, RequestEvent } from './events.js';
import { getHeader } from './headers.js';

/** Where a request sends the events it makes (pushes, hints, window grants). */
export interface EventSink {
  next(event: OutboundEvent): void;
  /** True once the connection received `shutdown` (SPEC.md §8.2). */
  readonly stopped: boolean;
}

/**
 * One exchange as a `handle` handler sees it: the request event's fields, the body as a pull
 * stream or read whole, and the few outbound actions that belong to a request.
 */
export class HttpRequest {
  private reader: BodyReader | null = null;
  private controller: AbortController | null = null;
  private stopping: AbortController | null = null;

  constructor(
    /** The request event this object reads from. */
    readonly event: RequestEvent,
    private readonly sink: EventSink,
  ) {}

  /** The body as a pull stream: input is read from the wire only as fast as this is iterated. */
  get body(): BodyReader {
    // Made on first use: most requests never read a body.
    this.reader ??= new BodyReader((bytes) => this.grant(bytes), this.event.end);
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
    this.controller ??= new AbortController();
    return this.controller.signal;
  }

  /**
   * Aborted when the server starts shutting down: a body that never ends on its own (server-sent
   * events, long polls) should end then, so shutdown need not wait for its deadline.
   */
  get shutdown(): AbortSignal {
    if (this.stopping === null) {
      this.stopping = new AbortController();
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

  /** Push `path` to the client, or hint it where push is impossible (SPEC.md §7). */
  push(path: string, headers: HeaderList = []): void {
    this.sink.next({ type: 'push', stream: this.event.stream, path, headers });
  }

  /** Send a 103 Early Hints response before the reply (dropped where unsupported). */
  earlyHints(headers: HeaderList): void {
    this.sink.next({ type: 'early-hints', stream: this.event.stream, headers });
  }

  /** @internal The stream closed before the exchange completed. */
  abandon(code: number, reason: string): void {
    const error = new RxgiError(ERR.STREAM_CLOSED, `stream closed (${code}): ${reason}`);
    this.reader?.fail(error);
    this.controller?.abort(error);
  }

  private grant(bytes: number): void {
    this.sink.next({ type: 'window', stream: this.event.stream, bytes });
  }
}
