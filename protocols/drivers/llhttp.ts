/**
 * llhttp, the parser of node:http, as undici builds it to WebAssembly: what reads request heads
 * and bodies for the HTTP/1.1 driver on node:net (http1-net.ts). One instance of the module
 * serves every connection of the process; each connection has a parser of its own in its
 * memory. Parsing is synchronous and never nested: while one parser runs, the bytes it reads
 * sit in the one input buffer, and the callbacks find their connection as `current`.
 */
import { createRequire } from 'node:module';

/** What a connection does with what its parser reads. Each returns 0, or `PAUSE` to stop. */
export interface ParserHandler {
  onMessageBegin(): number;
  /** Part of the request target (a target may come in several parts). */
  onUrl(text: string): number;
  /** Part of a field name; `onHeaderValue` parts follow each name. Trailers come the same way. */
  onHeaderField(text: string): number;
  onHeaderValue(text: string): number;
  /** The head is complete. Returns 0, `SKIP_BODY`, or `PAUSE`. */
  onHeadersComplete(upgrade: boolean, keepAlive: boolean): number;
  /** Body bytes: a view of the chunk being parsed. */
  onBody(chunk: Buffer): number;
  onMessageComplete(): number;
}

/** llhttp's error numbers that the driver tells apart (llhttp's `llhttp_errno`). */
export const LLHTTP = {
  OK: 0,
  PAUSED: 21,
  PAUSED_UPGRADE: 22,
  PAUSED_H2_UPGRADE: 23,
  CLOSED_CONNECTION: 5,
} as const;

/** What a callback returns to stop the parser where it is; `resume` goes on. */
export const PAUSE = LLHTTP.PAUSED;
/** What `onHeadersComplete` returns for a message without a body (a HEAD-like skip). */
export const SKIP_BODY = 1;
/** What a callback returns to fail the parse (`execute` then returns an error). */
export const FAIL = -1;

/** The little of the WebAssembly API used here (the project's types have no DOM library). */
interface Wasm {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object, imports: object) => { exports: unknown };
}
const wasm = (globalThis as unknown as { WebAssembly: Wasm }).WebAssembly;

interface LlhttpExports {
  memory: { buffer: ArrayBufferLike };
  malloc(size: number): number;
  free(pointer: number): void;
  llhttp_alloc(type: number): number;
  llhttp_free(parser: number): void;
  llhttp_execute(parser: number, data: number, length: number): number;
  llhttp_resume(parser: number): void;
  llhttp_resume_after_upgrade(parser: number): void;
  llhttp_get_method(parser: number): number;
  llhttp_get_http_major(parser: number): number;
  llhttp_get_http_minor(parser: number): number;
  llhttp_get_error_pos(parser: number): number;
  llhttp_get_error_reason(parser: number): number;
  llhttp_get_errno(parser: number): number;
  llhttp_errno_name(errno: number): number;
}

/** llhttp's `HTTP_REQUEST` parser type. */
const REQUEST = 1;

/** The parser whose `execute` runs, and where its chunk sits in the module's memory. */
let current: RequestParser | null = null;
let chunk: Buffer | null = null;
let base = 0;

/** node's own `Buffer#latin1Slice`, which `toString('latin1', ...)` calls after its checks. */
type Latin1 = Buffer & { latin1Slice(start: number, end: number): string };

function text(at: number, length: number): string {
  const start = at - base;
  return (chunk as Latin1).latin1Slice(start, start + length);
}

/** The module's exports, or null where it could not load (then node:http serves HTTP/1.1). */
let llhttp: LlhttpExports | null | undefined;
/** The method names by llhttp's numbers. */
let methods: string[] = [];

/** The module's one input buffer, grown to the largest chunk parsed. */
let inputSize = 0;
let input = 0;

/**
 * Pages (64 KiB) the module's memory may grow to: a parser takes ~130 bytes, so room for some
 * two million connections. Reserved, not used: pages never written take no memory.
 */
const MAX_PAGES = 4096;

/**
 * The module with its memory made shared (`SharedArrayBuffer`), up to `maxPages`. A memory
 * that is not shared detaches its old `ArrayBuffer` when it grows (llhttp's `malloc` grows it
 * past ~650 parsers, or for a larger input buffer), and the first detach in a process turns
 * off a V8 fast path for every typed-array access after it, for good (the "array buffer
 * detaching protector"): a loop such as ws's unmasking then takes 1.8 times as long, and a
 * 1 MiB WebSocket echo after large HTTP/1.1 bodies ran 1.6 times as long. A shared memory
 * grows without detaching. The memory section (id 5 of the binary format) holds a count, then
 * each memory's limits: flags (1: a maximum follows; 3: shared, with a maximum), the LEB128
 * minimum, the maximum. Any other module is returned as it is.
 */
function withSharedMemory(binary: Uint8Array, maxPages: number): Uint8Array {
  let at = 8;
  while (at < binary.length) {
    const id = binary[at];
    const [size, start] = leb(binary, at + 1);
    if (id === 5) {
      const [count, afterCount] = leb(binary, start);
      const flags = binary[afterCount];
      if (count !== 1 || (flags !== 0 && flags !== 1)) return binary;
      const [min, afterMin] = leb(binary, afterCount + 1);
      const max = flags === 1 ? leb(binary, afterMin)[0] : maxPages;
      const body = Buffer.concat([Buffer.from([1, 3]), encode(min), encode(Math.max(min, max))]);
      return Buffer.concat([
        binary.subarray(0, at),
        Buffer.from([5]),
        encode(body.length),
        body,
        binary.subarray(start + size),
      ]);
    }
    at = start + size;
  }
  return binary;
}

/** An unsigned LEB128 number at `at`: its value and the offset after it. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if (byte < 0x80) return [value, at];
    shift += 7;
  }
}

function encode(value: number): Buffer {
  const out: number[] = [];
  do {
    let byte = value & 0x7f;
    value = Math.floor(value / 128);
    if (value > 0) byte |= 0x80;
    out.push(byte);
  } while (value > 0);
  return Buffer.from(out);
}

function load(): LlhttpExports | null {
  const require = createRequire(import.meta.url);
  const constants = require('undici/lib/llhttp/constants.js') as {
    METHODS: Record<string, number>;
  };
  // The SIMD build where WebAssembly SIMD runs; each with a shared memory where that compiles.
  // A build is loaded only if the one before did not compile, and let go of once compiled: its
  // module (a base64 source and the bytes, 0.3 to 0.5 MB of heap) is needed for nothing else.
  let module: object | undefined;
  for (const name of ['llhttp_simd-wasm.js', 'llhttp-wasm.js']) {
    const path = require.resolve(`undici/lib/llhttp/${name}`);
    const binary = require(path) as Buffer;
    delete require.cache[path];
    for (const variant of [withSharedMemory(binary, MAX_PAGES), binary]) {
      try {
        module = new wasm.Module(variant);
        break;
      } catch {
        // The next one.
      }
    }
    if (module !== undefined) break;
  }
  if (module === undefined) throw new Error('no build of llhttp compiles here');
  const instance = new wasm.Instance(module, {
    env: {
      wasm_on_message_begin: () => (current as RequestParser).handler.onMessageBegin(),
      wasm_on_url: (_p: number, at: number, length: number) =>
        (current as RequestParser).handler.onUrl(text(at, length)),
      wasm_on_status: () => 0,
      wasm_on_header_field: (_p: number, at: number, length: number) =>
        (current as RequestParser).handler.onHeaderField(text(at, length)),
      wasm_on_header_value: (_p: number, at: number, length: number) =>
        (current as RequestParser).handler.onHeaderValue(text(at, length)),
      wasm_on_headers_complete: (_p: number, _status: number, upgrade: number, keep: number) =>
        (current as RequestParser).handler.onHeadersComplete(upgrade === 1, keep === 1),
      wasm_on_body: (_p: number, at: number, length: number) => {
        const start = at - base;
        return (current as RequestParser).handler.onBody(
          (chunk as Buffer).subarray(start, start + length),
        );
      },
      wasm_on_message_complete: () => (current as RequestParser).handler.onMessageComplete(),
    },
  });
  const exports = instance.exports as unknown as LlhttpExports;
  for (const [name, code] of Object.entries(constants.METHODS)) methods[code] = name;
  return exports;
}

/**
 * The parser module, loaded at the first call; null where it cannot be (undici's files moved,
 * or no WebAssembly), with the reason logged once by the caller.
 */
export function parserModule(): { ok: true } | { ok: false; error: unknown } {
  if (llhttp === undefined) {
    try {
      llhttp = load();
    } catch (error) {
      llhttp = null;
      methods = [];
      return { ok: false, error };
    }
  }
  return llhttp === null ? { ok: false, error: new Error('llhttp failed to load') } : { ok: true };
}

/** A request parser of one connection. Call {@link parserModule} first, and `free` at the end. */
export class RequestParser {
  private pointer: number;

  constructor(readonly handler: ParserHandler) {
    this.pointer = (llhttp as LlhttpExports).llhttp_alloc(REQUEST);
  }

  /** True while some parser runs: a parser must not be run from inside another's callback. */
  static get busy(): boolean {
    return current !== null;
  }

  /**
   * Parse `data`: returns `LLHTTP.OK`, or where it stopped (a pause, an upgrade, an error) its
   * code, with {@link RequestParser.stoppedAt} the offset in `data` of the first byte unread.
   */
  execute(data: Buffer): number {
    const module = llhttp as LlhttpExports;
    const length = data.byteLength;
    if (length > inputSize) {
      if (input !== 0) module.free(input);
      inputSize = Math.ceil(length / 4096) * 4096;
      input = module.malloc(inputSize);
    }
    new Uint8Array(module.memory.buffer, input, length).set(data);
    current = this;
    chunk = data;
    base = input;
    try {
      return module.llhttp_execute(this.pointer, input, length);
    } finally {
      current = null;
      chunk = null;
    }
  }

  /** After `execute` stopped: the offset of the first byte it did not read. */
  get stoppedAt(): number {
    return (llhttp as LlhttpExports).llhttp_get_error_pos(this.pointer) - input;
  }

  /** Go on after a pause. */
  resume(): void {
    (llhttp as LlhttpExports).llhttp_resume(this.pointer);
  }

  /** The request's method, once its head is complete. */
  get method(): string {
    return methods[(llhttp as LlhttpExports).llhttp_get_method(this.pointer)] ?? 'GET';
  }

  get versionMajor(): number {
    return (llhttp as LlhttpExports).llhttp_get_http_major(this.pointer);
  }

  get versionMinor(): number {
    return (llhttp as LlhttpExports).llhttp_get_http_minor(this.pointer);
  }

  /** llhttp's name and reason for the error `execute` returned (`HPE_INVALID_METHOD`...). */
  get error(): { code: string; reason: string } {
    const module = llhttp as LlhttpExports;
    const errno = module.llhttp_get_errno(this.pointer);
    return {
      code: `HPE_${cString(module, module.llhttp_errno_name(errno)).replace(/^HPE_/, '')}`,
      reason: cString(module, module.llhttp_get_error_reason(this.pointer)),
    };
  }

  /** Give the parser's memory back; the parser is not used again. */
  free(): void {
    if (this.pointer === 0) return;
    (llhttp as LlhttpExports).llhttp_free(this.pointer);
    this.pointer = 0;
  }
}

/** A NUL-terminated string in the module's memory. */
function cString(module: LlhttpExports, pointer: number): string {
  if (pointer === 0) return '';
  const bytes = new Uint8Array(module.memory.buffer, pointer);
  const end = bytes.indexOf(0);
  return Buffer.from(bytes.subarray(0, Math.max(end, 0))).toString('latin1');
}
