/**
 * rxgi, the Reactive Gateway Interface: apps are stream transformers of plain-data protocol
 * events; drivers carry them over HTTP/1.1, HTTP/2, WebSocket and memory. See SPEC.md.
 */
export * from './core/index.js';
export {
  type FetchEnv,
  type FetchHandler,
  type FromFetchOptions,
  fromFetch,
} from './protocols/adapters/fetch/from-fetch.js';
export { type ToFetchOptions, toFetch } from './protocols/adapters/fetch/to-fetch.js';
export { type ConnectMiddleware, fromConnect } from './protocols/adapters/node/connect.js';
export {
  fromNodeHandler,
  type NodeListener,
  requestEvent,
} from './protocols/adapters/node/from-node.js';
export {
  type NodeHandler,
  type NodeHandlerControl,
  type NodeHandlerOptions,
  type NodeUpgradeHandler,
  type NodeUpgradeOptions,
  toNodeHandler,
  toNodeUpgradeHandler,
} from './protocols/adapters/node/to-node.js';
export { NatsBus, type NatsBusOptions, natsBus } from './protocols/bus/nats.js';
export { RedisBus, type RedisBusOptions, redisBus } from './protocols/bus/redis.js';
export { BUS_SCHEMES, openBus } from './protocols/bus/url.js';
export type { Http1Options } from './protocols/drivers/http1.js';
export type { Http2Options } from './protocols/drivers/http2.js';
export {
  connect,
  MemoryConnection,
  type MemoryRequest,
  type MemoryResponse,
  type MemoryWebSocket,
  request,
} from './protocols/drivers/memory.js';
export {
  type RemoteApp,
  type RemoteOptions,
  type RemoteStats,
  remoteApp,
} from './protocols/remote/forward.js';
export { type RemoteWorker, runWorker, type WorkerOptions } from './protocols/remote/worker.js';
export type { TlsOptions } from './protocols/server/listen.js';
export { DEFAULTS, type RxgiServer, type ServeOptions, serve } from './protocols/server/serve.js';
export { readTlsFiles, selfSignedCertificate, type TlsFiles } from './protocols/server/tls.js';
