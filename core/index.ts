/** rxgi core: the event model, the app contract and the helpers. No wire is touched here. */
export type { App, ConnectionInfo, Middleware } from './app.js';
export { compose } from './app.js';
export { BODY_WINDOW, BodyReader, concatBytes, DEFAULT_BODY_LIMIT, readAll } from './body.js';
export {
  type Bus,
  type BusStats,
  MemoryBus,
  OUTAGE_BUFFER,
  OutageBuffer,
  type OutageLimits,
  Throttled,
} from './bus.js';
export { decodeEvent, encodeEvent } from './codec.js';
export { Connection, chunkLength, STATUS_TEXT, StreamState } from './connection.js';
export { ERR, type ErrorCode, RxgiError, statusOf } from './errors.js';
export * from './events.js';
export { type Answer, type Handler, handle } from './handle.js';
export { getHeader, getHeaders, hasToken, headerList } from './headers.js';
export {
  type Delivery,
  defaultHub,
  HUB_DEFAULTS,
  Hub,
  type HubOptions,
  type HubStats,
  type Mailbox,
} from './hub.js';
export type { Lifespan, LifespanEvent, LifespanReply } from './lifespan.js';
export { jsonLogger, type Logger, logger, setLogger } from './log.js';
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
} from './reply.js';
export { type EventSink, HttpRequest, type Mail } from './request.js';
