import { ERR, RxgiError } from './errors.js';
import type { HeaderList } from './events.js';

/**
 * The most a body reader reads ahead of its consumer (SPEC.md §5.4): its window starts at
 * {@link BODY_WINDOW_START} and grows to this while the consumer is faster than the client.
 */
export const BODY_WINDOW = 65_536;

/** The window a body reader grants when reading starts: one HTTP/2 DATA frame. */
export const BODY_WINDOW_START = 16_384;

/** The empty chunk: the last `data` of a body, and a chunk with no bytes. One, shared. */
export const EMPTY_BYTES = new Uint8Array(0);

/** The default size limit of `bytes`, `text` and `json`: 1 MiB. */
export const DEFAULT_BODY_LIMIT = 1_048_576;

const DONE: IteratorReturnResult<undefined> = { done: true, value: undefined };

/** @internal Where a body in push mode (`BodyReader.flow`) sends what arrives. */
export interface BodySink {
  chunk(chunk: Uint8Array): void;
  end(): void;
  fail(error: unknown): void;
}

/**
 * A request body as a pull stream. It asks the driver for input (a `window` grant) only when
 * its consumer pulls, so at most one window of bytes is ever queued (SPEC.md §5.4). A chunk the
 * consumer takes is granted back when it comes for the next one, not before: a consumer that
 * took a chunk and is blocked (an echo whose client reads nothing) has nothing more read for
 * it. The window starts at {@link BODY_WINDOW_START} and doubles, up to {@link BODY_WINDOW},
 * each time the consumer comes back and finds nothing queued: one faster than the client soon
 * reads ahead by the full window.
 */
export class BodyReader implements AsyncIterable<Uint8Array> {
  /** Trailer fields, once the body has ended with them. */
  trailers: HeaderList | null = null;
  private readonly queue: Uint8Array[] = [];
  private ended: boolean;
  private failure: unknown = null;
  private started = false;
  /** Bytes granted and not yet taken by the consumer (queued or due), plus `owed`. */
  private window = BODY_WINDOW_START;
  /** The last chunk taken, granted back when the consumer comes for the next (-1: none yet). */
  private owed = -1;
  private waiter: {
    resolve: (result: IteratorResult<Uint8Array>) => void;
    reject: (error: unknown) => void;
  } | null = null;
  /** Push mode (`flow`): where chunks go as they arrive, null while pulled. */
  private sink: BodySink | null = null;
  /** Push mode: the sink cannot take more; chunks wait in `queue`, grants in `owed`. */
  private paused = false;

  constructor(
    private readonly grant: (bytes: number) => void,
    ended: boolean,
  ) {
    this.ended = ended;
  }

  /** A chunk arrived from the driver. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
    if (this.sink !== null) {
      if (this.paused) this.queue.push(chunk);
      else this.pass(chunk);
      return;
    }
    const waiter = this.waiter;
    if (waiter !== null) {
      this.waiter = null;
      this.owed = chunk.byteLength;
      waiter.resolve({ done: false, value: chunk });
    } else {
      this.queue.push(chunk);
    }
  }

  /** The body ended, with trailers or without. */
  end(trailers: HeaderList | null = null): void {
    this.ended = true;
    this.trailers = trailers;
    this.settle();
  }

  /** The stream closed before the body ended. */
  fail(error: unknown): void {
    if (this.ended) return;
    this.failure = error;
    this.settle();
  }

  private settle(): void {
    const sink = this.sink;
    if (sink !== null) {
      if (this.paused && this.queue.length > 0) return;
      this.sink = null;
      if (this.failure !== null) sink.fail(this.failure);
      else sink.end();
      return;
    }
    const waiter = this.waiter;
    if (waiter === null || this.queue.length > 0) return;
    this.waiter = null;
    if (this.failure !== null) waiter.reject(this.failure);
    else waiter.resolve(DONE);
  }

  [Symbol.asyncIterator](): AsyncIterator<Uint8Array> {
    if (this.started) {
      throw new RxgiError(ERR.BODY_CONSUMED, 'the request body was already read');
    }
    this.started = true;
    if (!this.ended) this.grant(this.window);
    return {
      next: () => this.pull(),
      return: () => {
        this.queue.length = 0;
        return Promise.resolve(DONE);
      },
    };
  }

  /**
   * @internal Push mode, for a body sent on as it arrives (`handle`'s echo of `req.body`): each
   * chunk goes to `sink` in the driver's own call, with no promise per chunk. What the sink
   * has `room` for, up to {@link BODY_WINDOW}, is granted at once, and each chunk's bytes are
   * granted again once the sink has taken it, unless it paused the reader meanwhile (its
   * output is backed up): then what still arrives waits, and is granted back on `resume`. So
   * no more is read ahead than the sink could send on. Like iterating, it can be done once.
   */
  flow(sink: BodySink, room: number): void {
    if (this.started) {
      throw new RxgiError(ERR.BODY_CONSUMED, 'the request body was already read');
    }
    this.started = true;
    this.sink = sink;
    if (this.ended || this.failure !== null) {
      this.settle();
      return;
    }
    const bytes = Math.min(room, BODY_WINDOW);
    if (bytes > 0) {
      this.owed = 0;
      this.grant(bytes);
    } else {
      this.paused = true;
      this.owed = BODY_WINDOW_START;
    }
  }

  /** @internal Push mode: the sink can take no more for now (see `flow`). */
  pause(): void {
    this.paused = true;
  }

  /** @internal Push mode: the sink can take more; what waited goes to it, then the grants. */
  resume(): void {
    if (this.sink === null || !this.paused) return;
    this.paused = false;
    while (!this.paused) {
      const chunk = this.queue.shift();
      if (chunk === undefined) break;
      this.pass(chunk);
      if (this.sink === null) return;
    }
    if (this.paused) return;
    if (this.ended || this.failure !== null) {
      this.settle();
      return;
    }
    const owed = this.owed;
    this.owed = 0;
    if (owed > 0) this.grant(owed);
  }

  /** @internal Push mode: the sink is gone; nothing more is granted or passed on. */
  stop(): void {
    this.sink = null;
    this.paused = false;
    this.queue.length = 0;
  }

  private pass(chunk: Uint8Array): void {
    const sink = this.sink as BodySink;
    sink.chunk(chunk);
    if (this.sink === null || this.ended) return;
    if (this.paused) this.owed += chunk.byteLength;
    else this.grant(chunk.byteLength);
  }

  /**
   * The body as a web ReadableStream that pulls from this reader (one chunk per pull, nothing
   * read ahead), so the client is read no faster than the stream's consumer reads. Its chunks
   * are the driver's, not copies. Like iterating, it can be done once.
   */
  stream(): ReadableStream<Uint8Array> {
    let iterator: AsyncIterator<Uint8Array> | null = null;
    return new ReadableStream<Uint8Array>(
      {
        pull: async (controller) => {
          // Made on first pull: a stream nobody reads asks the driver for nothing.
          iterator ??= this[Symbol.asyncIterator]();
          const result = await iterator.next();
          if (result.done) controller.close();
          else controller.enqueue(result.value);
        },
        cancel: () => {
          void iterator?.return?.();
        },
      },
      { highWaterMark: 0 },
    );
  }

  private pull(): Promise<IteratorResult<Uint8Array>> {
    // The consumer is back: what it took last is done with, and its bytes may come again.
    const owed = this.owed;
    const chunk = this.queue.shift();
    if (chunk !== undefined) {
      this.owed = chunk.byteLength;
      if (owed > 0 && !this.ended) this.grant(owed);
      return Promise.resolve({ done: false, value: chunk });
    }
    if (this.failure !== null) return Promise.reject(this.failure);
    if (this.ended) return Promise.resolve(DONE);
    this.owed = 0;
    let bytes = Math.max(owed, 0);
    // Back for more and nothing came: the window, not the consumer, sets the pace.
    if (owed >= 0 && this.window < BODY_WINDOW) {
      const more = Math.min(this.window, BODY_WINDOW - this.window);
      this.window += more;
      bytes += more;
    }
    // Waiting before granting: a driver may deliver at once, inside the grant (the fetch
    // adapter does, from a chunk it holds), and the chunk must find the consumer waiting.
    const next = new Promise<IteratorResult<Uint8Array>>((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
    if (bytes > 0) this.grant(bytes);
    return next;
  }
}

/**
 * Read a whole body into one buffer, failing with 413 (RXGI_ERR_BODY_TOO_LARGE) past `limit`.
 * `declared` is the content-length, when the request has one, so an oversized body is refused
 * before a byte of it is read.
 */
export async function readAll(
  body: AsyncIterable<Uint8Array>,
  limit: number,
  declared?: string,
): Promise<Uint8Array> {
  if (declared !== undefined && Number(declared) > limit) throw tooLarge(limit);
  const chunks: Uint8Array[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.byteLength;
    if (size > limit) throw tooLarge(limit);
    chunks.push(chunk);
  }
  return concatBytes(chunks);
}

/** The chunks as one byte array; a single chunk is returned as it is, not copied. */
export function concatBytes(chunks: Uint8Array[]): Uint8Array {
  if (chunks.length === 1) return chunks[0];
  let size = 0;
  for (const chunk of chunks) size += chunk.byteLength;
  const all = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    all.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return all;
}

function tooLarge(limit: number): RxgiError {
  return new RxgiError(ERR.BODY_TOO_LARGE, `the request body is larger than ${limit} bytes`, 413);
}
