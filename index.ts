/**
 * rxgi, the Reactive Gateway Interface: apps are stream transformers of plain-data protocol
 * events; drivers carry them over HTTP/1.1, HTTP/2, WebSocket and memory. See SPEC.md.
 */
export * from './core/index.js';
export { NatsBus, type NatsBusOptions, natsBus } from './protocols/bus-nats.js';
export { RedisBus, type RedisBusOptions, redisBus } from './protocols/bus-redis.js';
export { BUS_SCHEMES, openBus } from './protocols/bus-url.js';
export { type ConnectMiddleware, fromConnect } from './protocols/connect.js';
export {
  type FetchEnv,
  type FetchHandler,
  type FromFetchOptions,
  fromFetch,
} from './protocols/from-fetch.js';
export { fromNodeHandler, type NodeListener, requestEvent } from './protocols/from-node.js';
export type { Http1Options } from './protocols/http1.js';
export type { Http2Options } from './protocols/http2.js';
export type { TlsOptions } from './protocols/listen.js';
export {
  connect,
  MemoryConnection,
  type MemoryRequest,
  type MemoryResponse,
  type MemoryWebSocket,
  request,
} from './protocols/memory.js';
export {
  type RemoteApp,
  type RemoteOptions,
  type RemoteStats,
  remoteApp,
} from './protocols/remote.js';
export { DEFAULTS, type RxgiServer, type ServeOptions, serve } from './protocols/serve.js';
export { readTlsFiles, selfSignedCertificate, type TlsFiles } from './protocols/tls.js';
export { type ToFetchOptions, toFetch } from './protocols/to-fetch.js';
export {
  type NodeHandler,
  type NodeHandlerControl,
  type NodeHandlerOptions,
  type NodeUpgradeHandler,
  type NodeUpgradeOptions,
  toNodeHandler,
  toNodeUpgradeHandler,
} from './protocols/to-node.js';
export { type RemoteWorker, runWorker, type WorkerOptions } from './protocols/worker.js';
