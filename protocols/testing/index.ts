// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/testing`: test apps and middleware under any runner (docs/testing.md). `inject` and
 * `memoryConnection` run an app with no socket; `expectMarbles` runs it on virtual time against
 * marble diagrams built with `ev`; `connect` scripts one connection step by step, in memory or
 * over HTTP/2 and HTTP/1.1; `many` runs n tasks at once with a deadline.
 */

export { SCRIPT_ERROR, type ScriptHead, type StreamResult } from './collector.js';
export { ev, type RequestEventInit } from './events.js';
export { type ManyOptions, many } from './many.js';
export { expectMarbles, MARBLE_MISMATCH, type MarbleSpec } from './marbles.js';
export {
  inject,
  MemoryConnection,
  type MemoryRequest,
  type MemoryResponse,
  type MemoryWebSocket,
  memoryConnection,
} from './memory.js';
export { connect, ScriptConnection, type ScriptSocket, type ScriptStream } from './script.js';
export type { ConnectOptions, ScriptRequest } from './transport.js';
