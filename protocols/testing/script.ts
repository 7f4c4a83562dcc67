import type { Observable } from 'rxjs';
import type { App } from '../../core/app.js';
import type { Chunk, HeaderList } from '../../core/events.js';
import { headerList, lowerNames } from '../../core/headers.js';
import { Collector, MessageQueue, type ScriptHead, type StreamResult } from './collector.js';
import { http1Transport } from './script-http1.js';
import { http2Transport } from './script-http2.js';
import { memoryTransport } from './script-memory.js';
import type { ConnectOptions, ScriptRequest, Transport } from './transport.js';

/** One stream of a script: steps that send, and what came back. */
export interface ScriptStream {
  /** The stream's id on its connection (1, 2, 3… on memory and HTTP/1.1; 1, 3, 5… on HTTP/2). */
  readonly id: number;
  /** Send a body chunk (a string as UTF-8); resolves once it left for the wire. */
  write(chunk: Chunk): Promise<void>;
  /** End the body, with trailers if given. */
  end(trailers?: HeaderList | Record<string, string>): Promise<void>;
  /** Reset the stream (RST_STREAM with `code`, CANCEL by default). Refused on HTTP/1.1. */
  reset(code?: number): Promise<void>;
  /**
   * Stop reading the response: what arrives is kept, but the server's window for the stream is
   * no longer replenished (HTTP/2 WINDOW_UPDATE; `window` events on the memory driver), so a
   * credit-respecting app stalls. On HTTP/1.1 the whole connection stops being read.
   */
  pause(): Promise<void>;
  /** Read the response again, and give back the window held while paused. */
  resume(): Promise<void>;
  /** The response head; rejects when the stream ends without one. */
  readonly head: Promise<ScriptHead>;
  /** The response body chunks as they come; errors when the stream is reset. */
  readonly body: Observable<Uint8Array>;
  /** Everything that came back, once the stream ended or was reset. */
  readonly done: Promise<StreamResult>;
}

/** A WebSocket session of a script. */
export interface ScriptSocket {
  readonly subprotocol: string | null;
  send(data: Chunk): Promise<void>;
  /** The next message from the server; rejects once the session closed. */
  next(): Promise<Uint8Array | string>;
  /** Every message from the server, as it comes (replayed to late subscribers). */
  readonly messages: Observable<Uint8Array | string>;
  close(code?: number, reason?: string): Promise<void>;
  /** The close code and reason, whoever closed. */
  readonly closed: Promise<{ code: number; reason: string }>;
}

const encoder = new TextEncoder();

/**
 * One connection driven step by step: streams opened, body chunks, trailers, resets, WebSocket
 * messages and closes go out in exactly the order the script calls them (each step resolves
 * once its frame left for the wire), and each stream's answer is kept apart. The same script
 * runs on the memory driver and over the wire; where the wire cannot do a step (HTTP/1.1 cannot
 * interleave two bodies nor reset one stream), the step fails with `RXGI_ERR_SCRIPT` and a
 * message naming it.
 */
export class ScriptConnection {
  private steps = 0;
  private readonly maxBody: number;

  /** @internal */
  constructor(
    private readonly transport: Transport,
    options: ConnectOptions,
  ) {
    this.maxBody = options.maxBody ?? 16 * 1024 * 1024;
  }

  /** `memory`, `http/1.1` or `h2`. */
  get protocol(): string {
    return this.transport.protocol;
  }

  /** Open a stream: its head goes now; a POST's body follows with `write` and `end`. */
  request(init: ScriptRequest = {}): ScriptStream {
    const method = init.method ?? 'GET';
    const target = init.target ?? '/';
    const step = this.step(`open ${method} ${target}`);
    const out = new Collector(this.maxBody);
    const headers = Array.isArray(init.headers)
      ? lowerNames(init.headers)
      : headerList(init.headers ?? {});
    const end = init.end ?? (method === 'GET' || method === 'HEAD');
    const stream = this.transport.open({ method, target, headers, end }, out, step);
    return {
      id: stream.id,
      write: (chunk) =>
        stream.write(
          typeof chunk === 'string' ? encoder.encode(chunk) : chunk,
          this.step(`write to stream ${stream.id}`),
        ),
      end: (trailers) =>
        stream.end(
          trailers === undefined
            ? null
            : Array.isArray(trailers)
              ? lowerNames(trailers)
              : headerList(trailers),
          this.step(`end stream ${stream.id}`),
        ),
      reset: (code = 8) => stream.reset(code, this.step(`reset stream ${stream.id}`)),
      pause: async () => {
        this.step(`pause stream ${stream.id}`);
        stream.read(false);
      },
      resume: async () => {
        this.step(`resume stream ${stream.id}`);
        stream.read(true);
      },
      head: out.head,
      body: out.body,
      done: out.done,
    };
  }

  /** Open a WebSocket; rejects with an error carrying `status` when the server denies it. */
  async websocket(target = '/', subprotocols: string[] = []): Promise<ScriptSocket> {
    const step = this.step(`open WebSocket ${target}`);
    const queue = new MessageQueue();
    const socket = await this.transport.websocket(target, subprotocols, queue, step);
    return {
      subprotocol: socket.subprotocol,
      send: (data) => {
        this.step('send a message');
        return socket.send(data);
      },
      next: () => queue.next(),
      messages: queue.messages,
      close: (code = 1000, reason = '') => {
        this.step(`close WebSocket with ${code}`);
        return socket.close(code, reason);
      },
      closed: queue.closed,
    };
  }

  /** Close the connection (open streams are cut off); resolves once it is closed. */
  close(): Promise<void> {
    return this.transport.close();
  }

  private step(what: string): string {
    this.steps += 1;
    return `step ${this.steps} (${what})`;
  }
}

/**
 * Open a scripted connection: to an app on the memory driver (no socket), or to a server URL
 * over HTTP/2 (`h2c` or TLS `h2`, the default) or HTTP/1.1.
 *
 * @example
 * const conn = await connect('http://127.0.0.1:8000');
 * const a = conn.request({ method: 'POST', target: '/up' });
 * const b = conn.request({ method: 'POST', target: '/up' });
 * await a.write('a1'); await b.write('b1'); await b.reset(); await a.end();
 * expect((await a.done).text).toBe('a1');
 * await conn.close();
 */
export async function connect(
  target: App | string,
  options: ConnectOptions = {},
): Promise<ScriptConnection> {
  if (typeof target === 'function') return new ScriptConnection(memoryTransport(target), options);
  if (options.protocol === 'http/1.1') {
    return new ScriptConnection(await http1Transport(target, options), options);
  }
  return new ScriptConnection(await http2Transport(target, options), options);
}
