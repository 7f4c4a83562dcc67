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

  constructor(
    private readonly grant: (bytes: number) => void,
    ended: boolean,
  ) {
    this.ended = ended;
  }

  /** A chunk arrived from the driver. */
  push(chunk: Uint8Array): void {
    if (chunk.byteLength === 0) return;
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
