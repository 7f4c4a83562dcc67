import type { Observable } from 'rxjs';
import { concatBytes } from '../../core/body.js';
import type { HeaderList } from '../../core/events.js';
import { ReplaySubject } from '../../core/rx.js';

/** The `code` of every error a script raises (a step the wire cannot do, a deadline). */
export const SCRIPT_ERROR = 'RXGI_ERR_SCRIPT';

/** An error of a script, with the stable code `RXGI_ERR_SCRIPT`. */
export function scriptError(message: string): Error & { code: string } {
  return Object.assign(new Error(message), { code: SCRIPT_ERROR });
}

/** A response head as a script sees it: header names in lower case. */
export interface ScriptHead {
  status: number;
  headers: HeaderList;
}

/** What came back on one stream of a script, once it ended. */
export interface StreamResult extends ScriptHead {
  /** Status 0 and no headers when the stream ended before a head came. */
  body: Uint8Array;
  /** The body as UTF-8. */
  text: string;
  trailers: HeaderList | null;
  /** Informational (1xx) heads before the final one, in order: 100 Continue, 103 Early Hints. */
  informational: ScriptHead[];
  /**
   * The code the stream was reset with (HTTP/2 RST_STREAM, or `close` on the memory driver),
   * by either side; null when it completed.
   */
  reset: number | null;
}

/** Collects one response for every transport: the head, body chunks as they come, the end. */
export class Collector {
  status = 0;
  headers: HeaderList = [];
  private readonly chunks: Uint8Array[] = [];
  private size = 0;
  private trailers: HeaderList | null = null;
  private readonly informational: ScriptHead[] = [];
  private settled = false;
  private readonly live = new ReplaySubject<Uint8Array>();
  private resolveHead: (head: ScriptHead) => void = () => {};
  private resolveDone: (result: StreamResult) => void = () => {};
  private rejectHead: (error: Error) => void = () => {};
  private rejectDone: (error: Error) => void = () => {};
  readonly head = new Promise<ScriptHead>((resolve, reject) => {
    this.resolveHead = resolve;
    this.rejectHead = reject;
  });
  readonly done = new Promise<StreamResult>((resolve, reject) => {
    this.resolveDone = resolve;
    this.rejectDone = reject;
  });
  /** The body chunks as they arrive (replayed to late subscribers); errors when it is reset. */
  readonly body: Observable<Uint8Array> = this.live.asObservable();

  constructor(private readonly maxBody: number) {
    // A script may await only `done`: the others must not be reported as unhandled.
    this.head.catch(() => {});
    this.done.catch(() => {});
  }

  /** A 1xx head: kept, in order, for `done`'s `informational`. */
  onInformational(status: number, headers: HeaderList): void {
    this.informational.push({ status, headers });
  }

  onHead(status: number, headers: HeaderList): void {
    this.status = status;
    this.headers = headers;
    this.resolveHead({ status, headers });
  }

  onData(chunk: Uint8Array): void {
    if (this.settled || chunk.byteLength === 0) return;
    this.size += chunk.byteLength;
    if (this.size > this.maxBody) {
      this.fail(scriptError(`the response body is over maxBody (${this.maxBody} bytes)`));
      return;
    }
    this.chunks.push(chunk);
    this.live.next(chunk);
  }

  onTrailers(trailers: HeaderList): void {
    this.trailers = trailers;
  }

  onEnd(): void {
    this.settle(null);
  }

  onReset(code: number): void {
    this.settle(code);
  }

  fail(error: Error): void {
    if (this.settled) return;
    this.settled = true;
    this.rejectHead(error);
    this.rejectDone(error);
    this.live.error(error);
  }

  private settle(reset: number | null): void {
    if (this.settled) return;
    this.settled = true;
    const body = concatBytes(this.chunks);
    const result: StreamResult = {
      status: this.status,
      headers: this.headers,
      body,
      text: new TextDecoder().decode(body),
      trailers: this.trailers,
      informational: this.informational,
      reset,
    };
    if (this.status === 0)
      this.rejectHead(scriptError(`the stream was reset (${reset}) before a head came`));
    this.resolveDone(result);
    if (reset === null) this.live.complete();
    else this.live.error(scriptError(`the stream was reset with code ${reset}`));
  }
}

/** Messages of one WebSocket session, for every transport. */
export class MessageQueue {
  private readonly queue: (Uint8Array | string)[] = [];
  private readonly waiting: {
    resolve: (m: Uint8Array | string) => void;
    reject: (e: Error) => void;
  }[] = [];
  private closeInfo: { code: number; reason: string } | null = null;
  private readonly live = new ReplaySubject<Uint8Array | string>();
  private resolveClosed: (info: { code: number; reason: string }) => void = () => {};
  readonly closed = new Promise<{ code: number; reason: string }>((resolve) => {
    this.resolveClosed = resolve;
  });
  readonly messages: Observable<Uint8Array | string> = this.live.asObservable();

  push(message: Uint8Array | string): void {
    this.live.next(message);
    const waiter = this.waiting.shift();
    if (waiter !== undefined) waiter.resolve(message);
    else this.queue.push(message);
  }

  next(): Promise<Uint8Array | string> {
    const message = this.queue.shift();
    if (message !== undefined) return Promise.resolve(message);
    if (this.closeInfo !== null) {
      return Promise.reject(scriptError(`the WebSocket closed with ${this.closeInfo.code}`));
    }
    return new Promise((resolve, reject) => this.waiting.push({ resolve, reject }));
  }

  close(code: number, reason: string): void {
    if (this.closeInfo !== null) return;
    this.closeInfo = { code, reason };
    for (const waiter of this.waiting.splice(0)) {
      waiter.reject(scriptError(`the WebSocket closed with ${code}`));
    }
    this.live.complete();
    this.resolveClosed(this.closeInfo);
  }
}
