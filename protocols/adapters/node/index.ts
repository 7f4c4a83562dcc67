// Node's types for TypeScript 6+, as in index.ts.
/// <reference types="node" preserve="true" />
/**
 * `rxgi/node`: Node's `(req, res)` world and rxgi, both ways. `fromNodeHandler` and
 * `fromConnect` run existing handlers and middleware (Express, Connect, Koa's callback) as rxgi
 * apps; `toNodeHandler` and `toNodeUpgradeHandler` run rxgi apps inside existing node servers.
 */
export { type ConnectMiddleware, fromConnect } from './connect.js';
export { fromNodeHandler, type NodeListener, requestEvent } from './from-node.js';
export {
  type NodeHandler,
  type NodeHandlerControl,
  type NodeHandlerOptions,
  type NodeUpgradeHandler,
  type NodeUpgradeOptions,
  toNodeHandler,
  toNodeUpgradeHandler,
} from './to-node.js';
