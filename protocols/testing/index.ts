/**
 * `rxgi/testing`: run apps with no socket. `inject` sends one request and collects the whole
 * response; `memoryConnection` opens a connection on which requests and WebSockets interleave.
 */

export { SCRIPT_ERROR, type ScriptHead, type StreamResult } from './collector.js';
export { ev, type RequestInit } from './events.js';
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
