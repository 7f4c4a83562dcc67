import type { Chunk, HeaderList } from '../../core/events.js';
import type { Collector, MessageQueue } from './collector.js';

/** A request a script opens; the body follows with `write` and `end`. */
export interface ScriptRequest {
  method?: string;
  /** Path and query; default `/`. */
  target?: string;
  headers?: HeaderList | Record<string, string>;
  /** True when the request has no body: the head ends the request (GET's default). */
  end?: boolean;
}

/** Where a script runs, and how. */
export interface ConnectOptions {
  /**
   * The protocol spoken to a URL: `h2` (the default: h2c with prior knowledge on `http:`, ALPN
   * h2 on `https:`) or `http/1.1`. An app always runs on the memory driver.
   */
  protocol?: 'h2' | 'http/1.1';
  /** TLS: trust these CA certificates (PEM). Without `ca`, any certificate is accepted. */
  ca?: string | string[];
  /** A response body over this many bytes fails its stream. Default 16 MiB. */
  maxBody?: number;
}

/** @internal What a transport does for one stream. */
export interface TransportStream {
  readonly id: number;
  write(chunk: Uint8Array, step: string): Promise<void>;
  end(trailers: HeaderList | null, step: string): Promise<void>;
  reset(code: number, step: string): Promise<void>;
  /** Stop (false) or go on (true) reading the response: the server's window follows. */
  read(on: boolean): void;
}

/** @internal A script's connection: memory, HTTP/1.1 or HTTP/2. */
export interface Transport {
  readonly protocol: string;
  open(
    request: Required<ScriptRequest> & { headers: HeaderList },
    out: Collector,
    step: string,
  ): TransportStream;
  websocket(
    target: string,
    subprotocols: string[],
    queue: MessageQueue,
    step: string,
  ): Promise<TransportSocket>;
  close(): Promise<void>;
}

/** @internal A transport's WebSocket session. */
export interface TransportSocket {
  readonly subprotocol: string | null;
  send(data: Chunk): Promise<void>;
  close(code: number, reason: string): Promise<void>;
}
