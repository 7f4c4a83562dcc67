// Its declarations name node's modules and types: kept in the .d.ts so that TypeScript 6+ (whose
// `types` default is empty) finds @types/node, a dependency of @types/ws.
/// <reference types="node" preserve="true" />
/**
 * rxgi, the Reactive Gateway Interface: apps are stream transformers of plain-data protocol
 * events; drivers carry them over HTTP/1.1, HTTP/2 and WebSocket. See SPEC.md.
 *
 * This is the app author's API: the app contract, `handle` and its replies, `serve`. Other
 * audiences have their own entry points (README.md, "Entry points"): `rxgi/events` (the whole
 * event model and codec), `rxgi/node` and `rxgi/fetch` (adapters), `rxgi/bus` (message buses and
 * the hub), `rxgi/remote` (workers over a bus), `rxgi/driver` (for driver and host authors) and
 * `rxgi/testing` (the in-memory driver).
 */
export type { App, ConnectionInfo, Middleware } from './core/app.js';
export { compose } from './core/app.js';
export { ERR, type ErrorCode, RxgiError } from './core/errors.js';
export {
  type Address,
  type Capabilities,
  type Chunk,
  CONNECTION_STREAM,
  H2_CODE,
  type HeaderList,
  INITIAL_WINDOW,
  type InboundEvent,
  type OutboundEvent,
  type RequestEvent,
  type ResponseEvent,
  type RxgiEvent,
  type Value,
  WS_CODE,
} from './core/events.js';
export { type Answer, type Handler, handle } from './core/handle.js';
export { getHeader, getHeaders, hasToken, headerList } from './core/headers.js';
export { defaultHub } from './core/hub.js';
export type { Lifespan, LifespanEvent, LifespanReply } from './core/lifespan.js';
export { type FieldsFirstLogger, jsonLogger, type Logger, logger, setLogger } from './core/log.js';
export {
  type Body,
  type HeadersInit,
  html,
  json,
  type Reply,
  redirect,
  status,
  text,
  upgrade,
  type WebSocketHandler,
  type WebSocketReply,
} from './core/reply.js';
export { HttpRequest, type Mail } from './core/request.js';
export type { TlsOptions } from './protocols/server/listen.js';
export { DEFAULTS, type RxgiServer, type ServeOptions, serve } from './protocols/server/serve.js';
export { readTlsFiles, selfSignedCertificate, type TlsFiles } from './protocols/server/tls.js';
