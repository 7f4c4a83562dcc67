// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/driver`: what a driver or host author needs (SPEC.md §4, §5, §8 and the bindings in spec/): the shared
 * connection logic, the stream state it keeps, the body reader, and the reference drivers'
 * options and defaults.
 */
export {
  BODY_WINDOW,
  BODY_WINDOW_START,
  BodyReader,
  concatBytes,
  DEFAULT_BODY_LIMIT,
  readAll,
} from '../../core/body.js';
export { Connection, chunkLength } from '../../core/connection.js';
export { statusOf } from '../../core/errors.js';
export type { EventSink } from '../../core/request.js';
export { errorBody, statusText } from '../../core/status.js';
export { StreamState } from '../../core/stream-state.js';
export type { Http1Options } from './http1.js';
export type { Http1NetOptions } from './http1-net.js';
export type { Http2Options } from './http2.js';
export type { WebSocketOptions } from './websocket.js';
