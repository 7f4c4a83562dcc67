import type { App, ConnectionInfo } from '../../core/app.js';
import { concatBytes } from '../../core/body.js';
import { Connection, chunkLength } from '../../core/connection.js';
import type {
  Chunk,
  DataOutEvent,
  EarlyHintsEvent,
  HeaderList,
  ResponseEvent,
  TrailersOutEvent,
  WsAcceptEvent,
  WsMessageOutEvent,
} from '../../core/events.js';
import type { Hub } from '../../core/hub.js';
import { StreamState } from '../../core/stream-state.js';
import { ev, MEMORY_CAPS } from './events.js';

/** A request for the memory driver. */
export interface MemoryRequest {
  method?: string;
  /** Path and query. Default `/`. */
  target?: string;
  headers?: HeaderList | Record<string, string>;
  /** The body, sent in chunks as the app grants window. */
  body?: string | Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

/** A complete response collected by the memory driver. */
export interface MemoryResponse {
  status: number;
  headers: HeaderList;
  body: Uint8Array;
  /** The body as UTF-8. */
  text: string;
  trailers: HeaderList | null;
  /** Early hints the app sent, each a header list. */
  hints: HeaderList[];
}

/** A WebSocket session opened through the memory driver. */
export interface MemoryWebSocket {
  readonly subprotocol: string | null;
  send(data: Chunk): void;
  /** The next message from the app; rejects once the session closed. */
  receive(): Promise<Uint8Array | string>;
  close(code?: number, reason?: string): void;
  /** Resolves with the close code and reason, whoever closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

const encoder = new TextEncoder();
const SLICE = 16_384;

class MemoryStream extends StreamState {
  status = 0;
  headers: HeaderList = [];
  chunks: Uint8Array[] = [];
  trailers: HeaderList | null = null;
  hints: HeaderList[] = [];
  input: AsyncIterator<Uint8Array> | Iterator<Uint8Array> | null = null;
  feeding = false;
  // WebSocket side
  subprotocol: string | null = null;
  inbox: (Uint8Array | string)[] = [];
  outbox: (Uint8Array | string)[] = [];
  receivers: { resolve: (m: Uint8Array | string) => void; reject: (e: Error) => void }[] = [];
  closeInfo: { code: number; reason: string } | null = null;
  onClosed: (info: { code: number; reason: string }) => void = () => {};
  settle: { resolve: (value: never) => void; reject: (error: Error) => void } | null = null;
  /** Where a scripted exchange's answer goes, as it comes (see `exchange`). */
  sink: ExchangeSink | null = null;
  /** Trailers that end a scripted body. */
  trailersIn: HeaderList | null = null;
  /** A scripted client stopped reading: output credit is held back, not granted. */
  paused = false;
  held = 0;
}

/** @internal Receives one scripted exchange's answer as it comes. */
export interface ExchangeSink {
  onInformational(status: number, headers: HeaderList): void;
  onHead(status: number, headers: HeaderList): void;
  onData(chunk: Uint8Array): void;
  onTrailers(headers: HeaderList): void;
  onEnd(): void;
  onReset(code: number): void;
}

/** @internal A scripted exchange on a memory connection: its body is sent chunk by chunk. */
export interface MemoryExchange {
  readonly id: number;
  write(chunk: Uint8Array): void;
  end(trailers: HeaderList | null): void;
  /** The client resets the stream: the app gets `close` with `code`. */
  reset(code: number): void;
  /** Stop (false) or go on (true) granting the app output credit for what it sent. */
  read(on: boolean): void;
}

/** A body written step by step: the driver pulls it as the app grants credit. */
class BodyQueue implements AsyncIterator<Uint8Array> {
  private readonly chunks: Uint8Array[] = [];
  private ended = false;
  private wake: (() => void) | null = null;

  push(chunk: Uint8Array): void {
    this.chunks.push(chunk);
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  async next(): Promise<IteratorResult<Uint8Array>> {
    for (;;) {
      const chunk = this.chunks.shift();
      if (chunk !== undefined) return { value: chunk, done: false };
      if (this.ended) return { value: undefined, done: true };
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = null;
    }
  }
}

/**
 * The memory driver: runs an app with no socket, for tests and for tools. Flow control is
 * honoured: the request body is fed only as the app grants window.
 *
 * @example
 * const connection = memoryConnection(app);
 * const response = await connection.request({ target: '/hello' });
 * connection.close();
 */
export class MemoryConnection extends Connection<MemoryStream> {
  private nextId = 1;

  /** Send a request and wait for the whole response. */
  request(init: MemoryRequest = {}): Promise<MemoryResponse> {
    const stream = this.begin(init, false);
    return new Promise<MemoryResponse>((resolve, reject) => {
      stream.settle = { resolve: resolve as (value: never) => void, reject };
      this.openStream(stream, init, false, []);
    });
  }

  /**
   * @internal Open a scripted exchange (see `connect` in `rxgi/testing`): its head goes now,
   * body chunks as `write` is called, and the answer to `sink` as it comes.
   */
  exchange(init: MemoryRequest & { end: boolean }, sink: ExchangeSink): MemoryExchange {
    const stream = new MemoryStream(this.nextId, MEMORY_CAPS, false, init.end);
    this.nextId += 1;
    stream.sink = sink;
    const body = new BodyQueue();
    if (!init.end) stream.input = body;
    this.openStream(stream, init, false, []);
    return {
      id: stream.id,
      write: (chunk) => body.push(chunk),
      end: (trailers) => {
        stream.trailersIn = trailers;
        body.end();
      },
      read: (on) => {
        stream.paused = !on;
        if (on && stream.held > 0) {
          const held = stream.held;
          stream.held = 0;
          this.flushed(stream, held, true);
        }
      },
      reset: (code) => {
        if (this.streamOf(stream.id) !== stream) return;
        this.peerClosed(stream, code, 'stream reset');
        this.discardInput(stream);
        sink.onReset(code);
      },
    };
  }

  /** Open a WebSocket session; rejects with the response when the app denies it. */
  websocket(target = '/', subprotocols: string[] = []): Promise<MemoryWebSocket> {
    const init = { target };
    const stream = this.begin(init, true);
    stream.offered = subprotocols;
    return new Promise<MemoryWebSocket>((resolve, reject) => {
      stream.settle = { resolve: resolve as (value: never) => void, reject };
      this.openStream(stream, init, true, subprotocols);
    });
  }

  /**
   * Close the connection: every open stream gets `close`; a pending request rejects and an open
   * WebSocket session closes with 1006, as they would on a real connection.
   */
  close(): void {
    this.closeConnection();
  }

  private begin(init: MemoryRequest, websocket: boolean): MemoryStream {
    const body = init.body;
    const stream = new MemoryStream(this.nextId, MEMORY_CAPS, websocket, body === undefined);
    this.nextId += 1;
    if (body !== undefined) stream.input = toIterator(body);
    return stream;
  }

  private openStream(
    stream: MemoryStream,
    init: MemoryRequest,
    websocket: boolean,
    subprotocols: string[],
  ): void {
    this.open(
      stream,
      ev.request(stream.id, {
        method: init.method,
        target: init.target,
        headers: init.headers,
        websocket,
        subprotocols,
        end: stream.inEnded,
      }),
    );
  }

  protected writeResponse(stream: MemoryStream, event: ResponseEvent): void {
    stream.status = event.status;
    stream.headers = event.headers;
    if (stream.websocket) {
      const denied = Object.assign(new Error(`handshake denied with ${event.status}`), {
        status: event.status,
      });
      stream.settle?.reject(denied);
      return;
    }
    stream.sink?.onHead(event.status, event.headers);
    if (event.body !== undefined) this.collect(stream, event.body);
    if (event.end) this.finish(stream);
  }

  protected writeData(stream: MemoryStream, event: DataOutEvent): void {
    this.collect(stream, event.chunk);
    if (event.end) this.finish(stream);
  }

  protected writeTrailers(stream: MemoryStream, event: TrailersOutEvent): void {
    stream.trailers = event.headers;
    stream.sink?.onTrailers(event.headers);
    this.finish(stream);
  }

  protected writeEarlyHints(stream: MemoryStream, event: EarlyHintsEvent): void {
    stream.hints.push(event.headers);
    stream.sink?.onInformational(103, event.headers);
  }

  protected writePush(): void {}

  protected acceptWebSocket(stream: MemoryStream, event: WsAcceptEvent): void {
    stream.subprotocol = event.subprotocol;
    const closed = new Promise<{ code: number; reason: string }>((resolve) => {
      stream.onClosed = resolve;
    });
    const session: MemoryWebSocket = {
      subprotocol: event.subprotocol,
      closed,
      send: (data) => {
        stream.inbox.push(data);
        this.feedMessages(stream);
      },
      receive: () => {
        const next = stream.outbox.shift();
        if (next !== undefined) return Promise.resolve(next);
        if (stream.closeInfo !== null) return Promise.reject(new Error('the session is closed'));
        return new Promise((resolve, reject) => stream.receivers.push({ resolve, reject }));
      },
      close: (code = 1000, reason = '') => {
        this.sessionClosed(stream, code, reason);
        this.peerClosed(stream, code, reason);
      },
    };
    stream.settle?.resolve(session as never);
  }

  protected sendMessage(stream: MemoryStream, event: WsMessageOutEvent): void {
    toClient(stream, event.data);
    this.flushed(stream, chunkLength(event.data));
  }

  /** A forwarded group message: the client's unread messages count against `limit`. */
  protected forwardMessage(
    stream: MemoryStream,
    data: Uint8Array | string,
    limit: number,
  ): boolean {
    if (stream.receivers.length === 0) {
      let unread = 0;
      for (const message of stream.outbox) unread += chunkLength(message);
      if (unread > limit) return false;
    }
    toClient(stream, data);
    return true;
  }

  protected closeWebSocket(stream: MemoryStream, code: number, reason: string): void {
    this.sessionClosed(stream, code, reason);
  }

  protected writeError(stream: MemoryStream, status: number): void {
    this.writeResponse(stream, {
      type: 'response',
      stream: stream.id,
      status,
      headers: [],
      end: true,
    });
  }

  protected abort(stream: MemoryStream, code: number): void {
    stream.sink?.onReset(code);
    stream.settle?.reject(new Error('the exchange was aborted'));
  }

  protected resumeInput(stream: MemoryStream): void {
    if (stream.websocket) this.feedMessages(stream);
    else void this.feedBody(stream);
  }

  protected closeConnection(): void {
    for (const stream of this.streamList()) {
      if (stream.wsOpen) this.sessionClosed(stream, 1006, 'connection closed');
      else {
        stream.sink?.onReset(8);
        stream.settle?.reject(new Error('the connection was closed'));
      }
    }
    this.end();
  }

  private async feedBody(stream: MemoryStream): Promise<void> {
    if (stream.feeding || stream.input === null) return;
    stream.feeding = true;
    try {
      while (stream.credit > 0 && !stream.inEnded) {
        const result = await stream.input.next();
        // The stream ended while the body was read (an answer that did not wait for it): the
        // rest is not delivered, as no event follows a stream's close (SPEC.md §3.2).
        if (this.streamOf(stream.id) !== stream) break;
        if (result.done) {
          this.deliverEnd(stream, stream.trailersIn);
          break;
        }
        this.deliverData(stream, result.value);
      }
    } finally {
      stream.feeding = false;
    }
  }

  protected override discardInput(stream: MemoryStream): void {
    const input = stream.input;
    stream.input = null;
    void input?.return?.();
  }

  private feedMessages(stream: MemoryStream): void {
    while (stream.credit > 0 && stream.inbox.length > 0) {
      const data = stream.inbox.shift()!;
      this.deliverMessage(stream, data, chunkLength(data));
    }
  }

  private sessionClosed(stream: MemoryStream, code: number, reason: string): void {
    if (stream.closeInfo !== null) return;
    stream.closeInfo = { code, reason };
    for (const receiver of stream.receivers.splice(0))
      receiver.reject(new Error('the session is closed'));
    stream.onClosed(stream.closeInfo);
  }

  private collect(stream: MemoryStream, chunk: Chunk): void {
    const bytes = typeof chunk === 'string' ? encoder.encode(chunk) : chunk;
    if (stream.sink !== null) stream.sink.onData(bytes);
    else stream.chunks.push(bytes);
    // Memory has no wire: what is collected is flushed, unless a script stopped reading.
    if (stream.paused) stream.held += bytes.byteLength;
    else this.flushed(stream, bytes.byteLength, true);
  }

  private finish(stream: MemoryStream): void {
    stream.sink?.onEnd();
    const body = concatBytes(stream.chunks);
    stream.settle?.resolve({
      status: stream.status,
      headers: stream.headers,
      body,
      text: new TextDecoder().decode(body),
      trailers: stream.trailers,
      hints: stream.hints,
    } satisfies MemoryResponse as never);
  }
}

let connections = 0;

/** Open a memory connection running `app`. */
export function memoryConnection(
  app: App,
  info: Partial<ConnectionInfo> = {},
  hub?: Hub,
): MemoryConnection {
  const connection = new MemoryConnection({
    id: `mem-${(++connections).toString(36)}`,
    protocol: 'memory',
    address: '',
    secure: false,
    client: null,
    server: null,
    ...info,
  });
  connection.start(app, hub);
  return connection;
}

/** Run one request through `app` on a fresh memory connection. */
export async function inject(app: App, init: MemoryRequest = {}): Promise<MemoryResponse> {
  const connection = memoryConnection(app);
  try {
    return await connection.request(init);
  } finally {
    connection.close();
  }
}

function toIterator(
  body: NonNullable<MemoryRequest['body']>,
): AsyncIterator<Uint8Array> | Iterator<Uint8Array> {
  if (typeof body === 'string') body = encoder.encode(body);
  if (body instanceof Uint8Array) {
    const bytes = body;
    return (function* slices() {
      for (let i = 0; i < bytes.byteLength; i += SLICE) yield bytes.subarray(i, i + SLICE);
    })();
  }
  if (Symbol.asyncIterator in body) return body[Symbol.asyncIterator]();
  return body[Symbol.iterator]();
}

/** A message for the client: to the oldest `receive()` waiting, else kept until one comes. */
function toClient(stream: MemoryStream, data: Uint8Array | string): void {
  const receiver = stream.receivers.shift();
  if (receiver !== undefined) receiver.resolve(data);
  else stream.outbox.push(data);
}
