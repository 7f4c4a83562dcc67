import type { HeaderList } from '../../core/events.js';
import { getHeader } from '../../core/headers.js';
import type { Collector } from './collector.js';

/** The response a pipelined request waits for. */
export interface Pending {
  out: Collector;
  /** A HEAD request: its response has no body whatever its framing says. */
  head: boolean;
}

const CRLF = Buffer.from('\r\n');
const HEAD_END = Buffer.from('\r\n\r\n');
/** A response head or chunk-size line over this many bytes fails the connection: reads are bounded. */
const MAX_LINE = 64 * 1024;

/**
 * Reads HTTP/1.1 responses off one connection, in the order the requests went (RFC 9112 §9.3:
 * pipelined responses come back in request order), and hands each to its collector as it
 * comes: the head, body chunks (content-length, chunked with trailers, or to the close), the end.
 */
export class ResponseReader {
  private buffer: Buffer = Buffer.alloc(0);
  private state: 'head' | 'length' | 'chunk-size' | 'chunk' | 'chunk-end' | 'trailers' | 'close' =
    'head';
  private left = 0;
  private readonly queue: Pending[] = [];

  /** A request went: its response is the next one after those already awaited. */
  expect(pending: Pending): void {
    this.queue.push(pending);
  }

  /** Bytes from the connection. Throws on a response it cannot parse. */
  push(bytes: Buffer): void {
    this.buffer = this.buffer.byteLength === 0 ? bytes : Buffer.concat([this.buffer, bytes]);
    while (this.step()) {}
  }

  /** The connection closed: a body read to the close ends; every other pending one fails. */
  closed(fail: (out: Collector) => void): void {
    if (this.state === 'close' && this.queue[0] !== undefined) {
      this.queue.shift()!.out.onEnd();
    }
    for (const pending of this.queue.splice(0)) fail(pending.out);
  }

  private step(): boolean {
    const current = this.queue[0];
    if (current === undefined) return false;
    switch (this.state) {
      case 'head':
        return this.readHead(current);
      case 'length':
        if (!this.bodyBytes(current)) return false;
        if (this.left === 0) this.finish();
        return true;
      case 'chunk-size': {
        const line = this.line();
        if (line === null) return false;
        const size = Number.parseInt(line.split(';')[0]!.trim(), 16);
        if (!Number.isFinite(size) || size < 0) throw new Error(`bad chunk size line: ${line}`);
        this.left = size;
        this.state = size === 0 ? 'trailers' : 'chunk';
        return true;
      }
      case 'chunk':
        if (!this.bodyBytes(current)) return false;
        if (this.left === 0) this.state = 'chunk-end';
        return true;
      case 'chunk-end': {
        const line = this.line();
        if (line === null) return false;
        this.state = 'chunk-size';
        return true;
      }
      case 'trailers': {
        const end = this.buffer.indexOf(CRLF);
        if (end < 0) return this.guard();
        if (end === 0) {
          this.buffer = this.buffer.subarray(2);
          this.finish();
          return true;
        }
        const block = this.buffer.indexOf(HEAD_END);
        if (block < 0) return this.guard();
        const trailers = fields(this.buffer.subarray(0, block).toString('latin1').split('\r\n'));
        this.buffer = this.buffer.subarray(block + 4);
        current.out.onTrailers(trailers);
        this.finish();
        return true;
      }
      case 'close':
        if (this.buffer.byteLength === 0) return false;
        current.out.onData(new Uint8Array(this.buffer));
        this.buffer = Buffer.alloc(0);
        return false;
    }
  }

  private readHead(current: Pending): boolean {
    const end = this.buffer.indexOf(HEAD_END);
    if (end < 0) return this.guard();
    const lines = this.buffer.subarray(0, end).toString('latin1').split('\r\n');
    this.buffer = this.buffer.subarray(end + 4);
    const status = Number(lines[0]!.slice(9, 12));
    if (!lines[0]!.startsWith('HTTP/1.') || !(status >= 100 && status <= 599)) {
      throw new Error(`bad status line: ${lines[0]}`);
    }
    const headers = fields(lines.slice(1));
    if (status < 200) {
      // 1xx: the final response follows (RFC 9110 §15.2).
      current.out.onInformational(status, headers);
      return true;
    }
    current.out.onHead(status, headers);
    const length = getHeader(headers, 'content-length');
    const chunked = /(^|,)\s*chunked\s*$/i.test(getHeader(headers, 'transfer-encoding') ?? '');
    if (current.head || status === 204 || status === 304) this.finish();
    else if (chunked) this.state = 'chunk-size';
    else if (length !== undefined) {
      this.left = Number(length);
      if (this.left === 0) this.finish();
      else this.state = 'length';
    } else this.state = 'close';
    return true;
  }

  /** Hands up to `left` buffered body bytes to the collector; false when none are buffered. */
  private bodyBytes(current: Pending): boolean {
    if (this.buffer.byteLength === 0) return false;
    const take = Math.min(this.left, this.buffer.byteLength);
    current.out.onData(new Uint8Array(this.buffer.subarray(0, take)));
    this.buffer = this.buffer.subarray(take);
    this.left -= take;
    return true;
  }

  private line(): string | null {
    const end = this.buffer.indexOf(CRLF);
    if (end < 0) {
      this.guard();
      return null;
    }
    const line = this.buffer.subarray(0, end).toString('latin1');
    this.buffer = this.buffer.subarray(end + 2);
    return line;
  }

  private guard(): false {
    if (this.buffer.byteLength > MAX_LINE) {
      throw new Error(`a response head or line is over ${MAX_LINE} bytes`);
    }
    return false;
  }

  private finish(): void {
    this.state = 'head';
    this.queue.shift()?.out.onEnd();
  }
}

function fields(lines: string[]): HeaderList {
  const out: HeaderList = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    out.push(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return out;
}
