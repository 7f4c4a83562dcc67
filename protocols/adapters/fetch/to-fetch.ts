/**
 * An rxgi app as a fetch-style handler: `toFetch` offers an app as a WHATWG
 * `(Request) => Promise<Response>` handler (to mount in Hono, or serve from Bun or Deno).
 * Bodies stream both ways with flow control: nothing is read faster than the other side takes it.
 */

import type { App, ConnectionInfo } from '../../../core/app.js';
import { Connection, chunkLength } from '../../../core/connection.js';
import { ERR, RxgiError } from '../../../core/errors.js';
import {
  type Capabilities,
  type Chunk,
  type DataOutEvent,
  H2_CODE,
  type HeaderList,
  type RequestEvent,
  type ResponseEvent,
} from '../../../core/events.js';
import type { Hub } from '../../../core/hub.js';
import { mountPrefix, unmount } from '../../../core/mount.js';
import { errorBody } from '../../../core/status.js';
import { StreamState } from '../../../core/stream-state.js';
import { NULL_BODY } from './from-fetch.js';

/** Options of `toFetch`; the defaults are those of `serve` (docs/server.md). */
export interface ToFetchOptions {
  /** Largest request body; a larger one is answered 413. Default 64 MiB. */
  maxBodySize?: number;
  /**
   * Response bytes the consumer has not taken yet, per exchange, past which the exchange is
   * aborted (only pushed bodies get there: pulled ones wait for credit). Default 4 MiB.
   */
  writeBufferLimit?: number;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
  /**
   * The path prefix the host mounts the handler under, when it passes the request with the
   * prefix in its URL (Hono's `app.mount(prefix, handler, { replaceRequest: false })`): it is
   * removed from the request's `target` and `path` and becomes its `root` (SPEC.md §4.4).
   */
  root?: string;
}

const CAPS: Capabilities = { push: false, trailers: false, earlyHints: false, websocket: false };
/** Request body chunks are handed to the app in slices no larger than this. */
const SLICE = 65_536;
const DEFAULT_MAX_BODY = 64 * 1024 * 1024;
const DEFAULT_WRITE_BUFFER = 4 * 1024 * 1024;
const encoder = new TextEncoder();

/** The one exchange of a fetch call. */
class FetchStream extends StreamState {
  /** The `Response` promise of the call, until it settles. */
  settle: { resolve: (response: Response) => void; reject: (error: unknown) => void } | null = null;
  /** The request body, while it is being read. */
  input: ReadableStreamDefaultReader<Uint8Array> | null = null;
  /** Part of a request body chunk not yet handed to the app. */
  rest: Uint8Array | null = null;
  feeding = false;
  received = 0;
  /** Response chunks the consumer has not pulled yet. */
  queue: Uint8Array[] = [];
  queued = 0;
  outEnded = false;
  failure: Error | null = null;
  /** A pull waiting for the next chunk. */
  wake: (() => void) | null = null;
  unlisten: () => void = () => {};

  constructor(
    id: number,
    inEnded: boolean,
    readonly method: string,
  ) {
    super(id, CAPS, false, inEnded);
  }
}

/**
 * The connection of one fetch call. Fetch has no connection that outlives a call, and an app
 * whose output fails closes its connection (SPEC.md §4): one connection per call keeps a
 * failure to that call, and the connection ends with its exchange, so nothing lingers.
 */
class FetchConnection extends Connection<FetchStream> {
  constructor(
    info: ConnectionInfo,
    private readonly maxBodySize: number,
    private readonly writeBufferLimit: number,
    private readonly prefix: string,
  ) {
    super(info);
  }

  /** Run `request` through the app; resolves as soon as the app sends the response head. */
  exchange(request: Request, url: URL): Promise<Response> {
    const body = request.body;
    const stream = new FetchStream(1, body === null, request.method);
    const length = request.headers.get('content-length');
    if (length !== null && Number(length) > this.maxBodySize) {
      body?.cancel().catch(() => {});
      this.end();
      return Promise.resolve(errorResponse(413));
    }
    const signal = request.signal;
    if (signal.aborted) {
      this.end();
      return Promise.reject(signal.reason);
    }
    if (body !== null) stream.input = body.getReader();
    // A boundary: a throw in an EventTarget listener becomes an uncaught exception.
    const onAbort = () => {
      try {
        this.aborted(stream, signal.reason);
      } catch (error) {
        this.fault(error);
      }
    };
    signal.addEventListener('abort', onAbort, { once: true });
    stream.unlisten = () => signal.removeEventListener('abort', onAbort);
    const headers: HeaderList = [];
    for (const [name, value] of request.headers) headers.push(name, value);
    const target = url.pathname + url.search;
    return new Promise<Response>((resolve, reject) => {
      stream.settle = { resolve, reject };
      const event: RequestEvent = {
        type: 'request',
        stream: stream.id,
        method: request.method,
        target,
        path: url.pathname,
        query: url.search.slice(1),
        headers,
        http: '1.1',
        scheme: url.protocol === 'https:' ? 'https' : 'http',
        authority: url.host,
        client: null,
        server: null,
        caps: CAPS,
        websocket: false,
        subprotocols: [],
        end: stream.inEnded,
      };
      if (this.prefix !== '') unmount(event, this.prefix);
      this.open(stream, event);
    });
  }

  // --- Wire side -----------------------------------------------------------------------------

  protected writeResponse(stream: FetchStream, event: ResponseEvent): void {
    const bodiless = stream.method === 'HEAD' || NULL_BODY.has(event.status);
    let response: Response;
    try {
      response = this.toResponse(stream, event, bodiless);
    } catch (error) {
      // A status or field that fetch refuses: the caller gets a 500 now. The stream fails once
      // the app's `response` emission has returned: failing it from inside would let `handle`
      // start the body after the exchange had ended, and never stop it.
      this.respond(stream, errorResponse(500));
      stream.unlisten();
      const why = 'the response is not a valid fetch Response';
      const failure = new RxgiError(ERR.INVALID_EVENT, why, 500, { cause: error });
      queueMicrotask(() => this.failStream(stream, failure));
      this.endWhenIdle();
      return;
    }
    this.respond(stream, response);
    if (!event.end && !bodiless) return;
    stream.unlisten();
    if (!event.end) {
      // The head is all that goes out: stop the app producing a body nobody will get, once
      // its `response` emission has returned (see above).
      queueMicrotask(() => {
        this.peerClosed(stream, H2_CODE.NO_ERROR, 'response complete');
        this.discardInput(stream);
        this.endWhenIdle();
      });
    } else this.endWhenIdle();
  }

  private toResponse(stream: FetchStream, event: ResponseEvent, bodiless: boolean): Response {
    const headers = new Headers();
    const list = event.headers;
    for (let i = 0; i < list.length; i += 2) headers.append(list[i], list[i + 1]);
    const init = { status: event.status, headers };
    if (event.end || bodiless) {
      const chunk = event.body;
      // Sized like the HTTP drivers size a whole response, so the server need not chunk it.
      if (chunk !== undefined && !headers.has('content-length')) {
        headers.set('content-length', String(chunkLength(chunk)));
      }
      return new Response(bodiless || chunk === undefined ? null : bytes(chunk), init);
    }
    const body = new ReadableStream<Uint8Array>(
      {
        pull: (controller) => this.pull(stream, controller),
        cancel: () => this.cancelled(stream),
      },
      // Pulled only when the consumer reads: credit is granted back as it takes chunks.
      { highWaterMark: 0 },
    );
    const response = new Response(body, init);
    if (event.body !== undefined) this.enqueue(stream, event.body);
    return response;
  }

  protected writeData(stream: FetchStream, event: DataOutEvent): void {
    if (chunkLength(event.chunk) > 0) {
      if (stream.queued > this.writeBufferLimit) {
        const limit = this.writeBufferLimit;
        throw new RxgiError(
          ERR.WRITE_BUFFER_FULL,
          `the app wrote past the ${limit}-byte write buffer limit`,
        );
      }
      this.enqueue(stream, event.chunk);
    }
    if (event.end) {
      stream.outEnded = true;
      this.wake(stream);
      this.endWhenIdle();
    }
  }

  protected writeTrailers(): void {
    // Never called: caps.trailers is false, so trailers end the body as data does (SPEC.md §6).
  }

  protected writeEarlyHints(): void {
    // Never called: caps.earlyHints is false.
  }

  protected writePush(): void {
    // Never called: caps.push is false, so pushes degrade to a link header (SPEC.md §6).
  }

  protected acceptWebSocket(): void {
    // Never called: no request here is a WebSocket handshake.
  }

  protected sendMessage(): void {}

  protected forwardMessage(): boolean {
    return true; // never called: no stream here is a WebSocket
  }

  protected closeWebSocket(): void {}

  protected writeError(stream: FetchStream, status: number): void {
    this.respond(stream, errorResponse(status));
    stream.unlisten();
    this.discardInput(stream);
    this.endWhenIdle();
  }

  protected abort(stream: FetchStream): void {
    // Before the Response was handed over (defensive: `writeResponse` catches its own
    // failures) the caller still gets a 500; after it, the body errors.
    if (stream.settle !== null) this.respond(stream, errorResponse(500));
    else this.fail(stream, new Error('the exchange was aborted'));
    this.discardInput(stream);
    this.endWhenIdle();
  }

  protected resumeInput(stream: FetchStream): void {
    void this.feed(stream);
  }

  protected closeConnection(): void {
    this.end();
  }

  protected override discardInput(stream: FetchStream): void {
    const input = stream.input;
    stream.input = null;
    stream.rest = null;
    input?.cancel().catch(() => {});
  }

  // --- Request body --------------------------------------------------------------------------

  /** Hand the request body to the app while it has credit. */
  private async feed(stream: FetchStream): Promise<void> {
    if (stream.feeding) return;
    stream.feeding = true;
    try {
      while (stream.credit > 0 && !stream.inEnded && this.isOpen(stream)) {
        let chunk = stream.rest;
        stream.rest = null;
        if (chunk === null) {
          const input = stream.input;
          if (input === null) return;
          const result = await input.read();
          if (!this.isOpen(stream)) return;
          if (result.done) {
            stream.input = null;
            this.deliverEnd(stream, null);
            return;
          }
          chunk = result.value;
          stream.received += chunk.byteLength;
          if (stream.received > this.maxBodySize) {
            const limit = this.maxBodySize;
            const error = `the request body is larger than ${limit} bytes`;
            this.failStream(stream, new RxgiError(ERR.BODY_TOO_LARGE, error, 413), false);
            return;
          }
        }
        // Big chunks go in slices, so the app never holds much more than it granted.
        if (chunk.byteLength > SLICE) {
          stream.rest = chunk.subarray(SLICE);
          chunk = chunk.subarray(0, SLICE);
        }
        if (chunk.byteLength > 0) this.deliverData(stream, chunk);
      }
    } catch (error) {
      // The request body failed: its sender is gone.
      this.aborted(stream, error);
    } finally {
      stream.feeding = false;
    }
  }

  private isOpen(stream: FetchStream): boolean {
    return this.streamOf(stream.id) === stream;
  }

  // --- Response body -------------------------------------------------------------------------

  private enqueue(stream: FetchStream, chunk: Chunk): void {
    const data = bytes(chunk);
    stream.queue.push(data);
    stream.queued += data.byteLength;
    this.wake(stream);
  }

  private wake(stream: FetchStream): void {
    const wake = stream.wake;
    stream.wake = null;
    wake?.();
  }

  /** The consumer wants a chunk: hand one over and grant its size back to the app. */
  private pull(
    stream: FetchStream,
    controller: ReadableStreamDefaultController<Uint8Array>,
  ): Promise<void> | undefined {
    if (stream.failure !== null) {
      controller.error(stream.failure);
      return;
    }
    const chunk = stream.queue.shift();
    if (chunk !== undefined) {
      stream.queued -= chunk.byteLength;
      controller.enqueue(chunk);
      // Batched grants, or all at once when the queue has drained (SPEC.md §5.2).
      this.flushed(stream, chunk.byteLength, stream.queue.length === 0);
      return;
    }
    if (stream.outEnded) {
      controller.close();
      stream.unlisten();
      return;
    }
    return new Promise<void>((resolve) => {
      stream.wake = resolve;
    }).then(() => this.pull(stream, controller));
  }

  /** The consumer cancelled the response body: its client is gone. */
  private cancelled(stream: FetchStream): void {
    stream.queue = [];
    stream.queued = 0;
    stream.unlisten();
    this.peerClosed(stream, H2_CODE.CANCEL, 'response body cancelled');
    this.discardInput(stream);
    this.endWhenIdle();
  }

  /** The caller aborted the request, or its body failed. */
  private aborted(stream: FetchStream, reason: unknown): void {
    const error = reason instanceof Error ? reason : new Error('the request was aborted');
    this.peerClosed(stream, H2_CODE.CANCEL, 'request aborted');
    this.discardInput(stream);
    const settle = stream.settle;
    stream.settle = null;
    settle?.reject(error);
    this.fail(stream, error);
    this.endWhenIdle();
  }

  private fail(stream: FetchStream, error: Error): void {
    stream.unlisten();
    if (stream.outEnded || stream.failure !== null) return;
    stream.failure = error;
    stream.queue = [];
    stream.queued = 0;
    this.wake(stream);
  }

  private respond(stream: FetchStream, response: Response): void {
    const settle = stream.settle;
    stream.settle = null;
    settle?.resolve(response);
  }

  /** The exchange has ended on the app's side: end the connection, which unsubscribes the app. */
  private endWhenIdle(): void {
    // The stream leaves the table only after the write that ended it returns.
    queueMicrotask(() => {
      if (this.openStreams === 0) this.end();
    });
  }
}

function bytes(chunk: Chunk): Uint8Array {
  return typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
}

function errorResponse(status: number): Response {
  return new Response(errorBody(status), {
    status,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
}

let calls = 0;

/**
 * Offer an rxgi app as a fetch handler, to mount inside Hono (`hono.mount('/rx', toFetch(app))`)
 * or to serve with Bun, Deno or any fetch-based server. The `Response` resolves as soon as the
 * app sends its head; its body streams, and the app gets output credit back only as the body is
 * read, so a slow consumer slows the app. The request body reaches the app only as it grants
 * credit. Fetch has no trailers, early hints, push or WebSocket: `caps` says so, and trailers
 * end the body without their fields. Aborting `request.signal` closes the stream (code 8).
 *
 * @example
 * const hono = new Hono();
 * hono.mount('/rx', toFetch(handle(() => text('from rxgi'))));
 * // The app told where it is mounted (`Request.root`), for links to itself:
 * hono.mount('/rx', toFetch(app, { root: '/rx' }), { replaceRequest: false });
 */
export function toFetch(
  app: App,
  options: ToFetchOptions = {},
): (request: Request) => Promise<Response> {
  const maxBodySize = options.maxBodySize ?? DEFAULT_MAX_BODY;
  const writeBufferLimit = options.writeBufferLimit ?? DEFAULT_WRITE_BUFFER;
  const prefix = options.root === undefined ? '' : mountPrefix(options.root);
  return (request) => {
    let url: URL;
    try {
      url = new URL(request.url);
    } catch {
      return Promise.resolve(errorResponse(400));
    }
    const connection = new FetchConnection(
      {
        id: `fetch-${(++calls).toString(36)}`,
        protocol: 'fetch',
        address: '',
        secure: url.protocol === 'https:',
        client: null,
        server: null,
      },
      maxBodySize,
      writeBufferLimit,
      prefix,
    );
    connection.start(app, options.hub);
    return connection.exchange(request, url);
  };
}
