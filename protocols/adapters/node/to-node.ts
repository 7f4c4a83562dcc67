/**
 * The adoption path: an rxgi app inside a Node server someone else owns (plain node:http,
 * Express, Fastify, ...). Both handlers reuse the HTTP/1.1 driver's `Http1Connection`, so the app
 * sees exactly the events, stream numbering and connection lifecycle it sees under `serve`.
 */

import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { WebSocket } from 'ws';
import type { App, ConnectionInfo } from '../../../core/app.js';
import type { RequestEvent } from '../../../core/events.js';
import type { Hub } from '../../../core/hub.js';
import { logger } from '../../../core/log.js';
import { mountPrefix, unmount } from '../../../core/mount.js';
import { Roster, type RosterEntry } from '../../../core/table.js';
import { Http1Connection } from '../../drivers/http1.js';
import { HOST_HEAD_LIMITS } from '../../drivers/http1-head.js';
import { writeRawResponse } from '../../drivers/http1-response.js';
import { socketInfo } from '../../drivers/node-connection.js';
import { WebSocketDriver, type WebSocketStream } from '../../drivers/websocket.js';
import { DEFAULTS } from '../../server/serve.js';

/**
 * Options of `toNodeHandler`; defaults are those of `serve` (docs/server.md).
 *
 * @example
 * toNodeHandler(app, { maxBodySize: 1024 * 1024 });
 */
export interface NodeHandlerOptions {
  /** Largest request body in bytes; larger ones get 413. Default 64 MiB. */
  maxBodySize?: number;
  /** Unsent output allowed per stream before it is aborted. Default 4 MiB. */
  writeBufferLimit?: number;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
  /**
   * The path prefix the host mounts the handler under when it leaves the prefix in `req.url`
   * (Fastify): it is removed from the request's `target` and `path` and becomes its `root`
   * (SPEC.md §4.4). Under Express and Connect, which remove the prefix themselves, the root is
   * found without it.
   */
  root?: string;
}

/**
 * Options of `toNodeUpgradeHandler`; defaults are those of `serve` (docs/server.md).
 *
 * @example
 * toNodeUpgradeHandler(app, { maxMessageSize: 64 * 1024, pingInterval: 10_000 });
 */
export interface NodeUpgradeOptions {
  /** Largest WebSocket message in bytes; larger ones close the session with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Unsent output allowed per session before it closes with 1008. Default 4 MiB. */
  writeBufferLimit?: number;
  /** Milliseconds between WebSocket pings; 0 turns them off. Default 30 s. */
  pingInterval?: number;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
}

/**
 * What both handlers offer besides being called by the host server.
 *
 * @example
 * process.once('SIGTERM', () => {
 *   handler.shutdown(5_000);
 *   upgrades.shutdown(5_000);
 *   server.close();
 * });
 */
export interface NodeHandlerControl {
  /** Open connections (sockets) that carried at least one request through this handler. */
  readonly connections: number;
  /**
   * Start a graceful shutdown (SPEC.md §7.2 [shutdown-event]; docs/server.md, steps 2 and 3): every open connection gets
   * `shutdown` with `deadline`, and its later responses close it. The upgrade handler also
   * closes every WebSocket session with 1001, stops pinging and refuses new upgrades with 503.
   * The host still owns the sockets: it stops listening and enforces the deadline.
   */
  shutdown(deadline?: number): void;
}

/**
 * A `request` listener (or Express/Connect middleware) that runs an rxgi app.
 *
 * @example
 * const handler: NodeHandler = toNodeHandler(app);
 */
export interface NodeHandler extends NodeHandlerControl {
  (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void): void;
}

/**
 * An `upgrade` listener that runs the WebSocket sessions (and other upgrades) of an rxgi app.
 *
 * @example
 * server.on('upgrade', toNodeUpgradeHandler(app) satisfies NodeUpgradeHandler);
 */
export interface NodeUpgradeHandler extends NodeHandlerControl {
  (req: IncomingMessage, socket: Duplex, head: Buffer): void;
}

/** The node:http internals that say whether `100 Continue` is still owed (see below). */
interface ContinueState {
  _expect_continue?: boolean;
  _sent100?: boolean;
}

/**
 * Turn an rxgi app into a node:http `request` listener, which is also Express/Connect
 * middleware (`next` is called only if the driver itself fails) and the body of a Fastify hook.
 *
 * Each socket becomes one rxgi connection on its first request through the handler: keep-alive
 * requests are streams 1, 2, 3 of one app call, and the socket's close ends the connection
 * (open streams get `close` with 8, the app's output is unsubscribed). The app sees `req.url`,
 * so under `expressApp.use('/rx', handler)` it sees the path without `/rx`, as Express
 * middleware does, and `root` is `/rx` (SPEC.md §4.4; the `root` option where the host leaves
 * the prefix in `req.url`). The host keeps its own limits and timeouts; this handler adds
 * `maxBodySize` and `writeBufferLimit`. Its connections cannot carry WebSockets
 * (`caps.websocket` is false): pair it with `toNodeUpgradeHandler` for those.
 *
 * In Fastify, call it from a route's `onRequest` hook (docs/MIGRATION.md has the recipe).
 *
 * @example
 * const handler = toNodeHandler(handle((req) => text(`hello from ${req.path}`)));
 * http.createServer(handler).listen(8000);
 * // Express: expressApp.use('/rx', handler);
 */
export function toNodeHandler(app: App, options: NodeHandlerOptions = {}): NodeHandler {
  const settings = {
    ...HOST_HEAD_LIMITS,
    maxBodySize: options.maxBodySize ?? DEFAULTS.maxBodySize,
    writeBufferLimit: options.writeBufferLimit ?? DEFAULTS.writeBufferLimit,
    websocket: null,
    mount: options.root !== undefined ? unmountAt(mountPrefix(options.root)) : findRoot,
  };
  // Per handler, not a tag on the socket: two handlers on one server (two Express mounts)
  // are two apps, each with its own connection on a shared socket.
  const bySocket = new WeakMap<Socket, RosterEntry<Http1Connection>>();
  const live = new Roster<Http1Connection>();
  const drain = new Drain();

  const connectionOf = (socket: Socket): RosterEntry<Http1Connection> => {
    const known = bySocket.get(socket);
    if (known !== undefined) return known;
    const connection = new Http1Connection(connectionInfo(socket), socket, settings);
    const entry = live.add(connection);
    bySocket.set(socket, entry);
    socket.once('close', () => {
      live.delete(entry);
      endSafely(connection);
    });
    connection.start(app, options.hub);
    drain.join(connection);
    return entry;
  };

  const handler = (req: IncomingMessage, res: ServerResponse, next?: (error?: unknown) => void) => {
    let connection: Http1Connection | undefined;
    try {
      if (req.httpVersionMajor !== 1) {
        // node:http2's compatibility API (allowHTTP1) would hand over HTTP/2 streams here.
        throw new Error('toNodeHandler serves HTTP/1.x requests only');
      }
      const socket = req.socket;
      const entry = connectionOf(socket);
      connection = entry.value;
      // The host answered `Expect: 100-continue` itself unless it routed `checkContinue`
      // here; in that case the driver sends the 100 once the app reads (SPEC.md §5.1).
      const state = res as ContinueState;
      connection.request(req, res, state._expect_continue === true && state._sent100 === false);
      // A client that left before its request reached us: 'close' was already emitted.
      if (socket.closed) {
        live.delete(entry);
        connection.end();
      }
    } catch (error) {
      // Serving the request threw: an internal error, for this connection alone (SPEC.md §8.1, `RXGI_ERR_INTERNAL`).
      if (connection !== undefined) {
        connection.fault(error);
        return;
      }
      logger().error('rxgi node handler failed', { error });
      if (next !== undefined) next(error);
      else if (!res.headersSent) {
        // No `connection` field: HTTP/2 compatibility responses refuse it.
        res.writeHead(500, ['content-type', 'text/plain; charset=utf-8']);
        res.end('Internal Server Error\n');
      } else res.destroy();
    }
  };
  return withControl(handler, live, drain, () => {});
}

/**
 * Turn an rxgi app into a node:http `upgrade` listener: its WebSocket sessions run on a
 * server the host owns. Handshakes are validated first (SPEC.md §4.2); the app then accepts
 * with `ws-accept` or denies with any `response`. Upgrades to other protocols (h2c) are
 * served as plain requests, as `serve` does. Each upgrade is stream 1 of its own connection,
 * whatever the socket carried before. The handler owns its WebSocket driver (pings included).
 *
 * @example
 * const server = expressApp.listen(8000);
 * const upgrades = toNodeUpgradeHandler(handle((req) => upgrade((messages) => messages)));
 * server.on('upgrade', upgrades);
 * // on shutdown: upgrades.shutdown(); server.close();
 */
export function toNodeUpgradeHandler(
  app: App,
  options: NodeUpgradeOptions = {},
): NodeUpgradeHandler {
  const driver = new SessionDriver({
    maxMessageSize: options.maxMessageSize ?? DEFAULTS.maxMessageSize,
    writeBufferLimit: options.writeBufferLimit ?? DEFAULTS.writeBufferLimit,
    pingInterval: options.pingInterval ?? DEFAULTS.pingInterval,
  });
  const settings = {
    ...HOST_HEAD_LIMITS,
    // Only upgrades ignored as h2c reach the body check, and those never have a body.
    maxBodySize: DEFAULTS.maxBodySize,
    writeBufferLimit: driver.options.writeBufferLimit,
    websocket: driver,
  };
  const live = new Roster<Http1Connection>();
  const drain = new Drain();

  const handler = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (drain.started) {
      writeRawResponse(
        socket,
        503,
        ['content-type', 'text/plain; charset=utf-8'],
        'Service Unavailable\n',
      );
      return;
    }
    // node:http hands over one upgrade per socket and lets go of it: a fresh connection.
    const tcp = socket as Socket;
    const connection = new Http1Connection(connectionInfo(req.socket), tcp, settings);
    const entry = live.add(connection);
    tcp.once('close', () => {
      live.delete(entry);
      // Once `ws` runs a session, its own 'close' (after this one) reports the peer's code;
      // ending here first would tell the app 1006 instead.
      if (!driver.hosts.has(connection)) endSafely(connection);
    });
    // node:http servers are half-open (allowHalfOpen) and stop watching an upgraded socket:
    // a client that leaves before a session starts would leave it open for good. Until `ws`
    // takes over (it handles 'end' itself), its end ends ours, as on `serve`'s listener.
    tcp.once('end', () => {
      if (!driver.hosts.has(connection)) tcp.end();
    });
    // node:http also took its 'error' listener off: an ECONNRESET before `ws` adds its own
    // would be an uncaught exception that takes the host process down.
    tcp.on('error', onUpgradeError);
    // A boundary: this runs in the host's 'upgrade' listener, where a throw ends its process.
    try {
      connection.start(app, options.hub);
      connection.upgrade(req, socket, head);
      if (tcp.closed && !driver.hosts.has(connection)) connection.end();
    } catch (error) {
      connection.fault(error);
    }
  };
  return withControl(handler, live, drain, () => {
    for (const connection of live) connection.goAway();
    driver.dispose();
  });
}

/** End a connection from a socket's 'close' listener, where nothing would catch a throw. */
function endSafely(connection: Http1Connection): void {
  try {
    connection.end();
  } catch (error) {
    connection.fault(error);
  }
}

function onUpgradeError(this: Socket, error: Error): void {
  logger().debug('upgraded socket failed', { error: error.message });
  this.destroy();
}

/** A WebSocket driver that remembers which connections got a running session. */
class SessionDriver extends WebSocketDriver {
  readonly hosts = new WeakSet<object>();

  override attach(stream: WebSocketStream, ws: WebSocket): void {
    this.hosts.add(stream.host);
    super.attach(stream, ws);
  }
}

/** Shutdown state shared by a handler's connections, old and new. */
class Drain {
  private until = 0;
  started = false;

  start(deadline: number, live: Iterable<Http1Connection>): void {
    this.started = true;
    this.until = Date.now() + deadline;
    for (const connection of live) this.join(connection);
  }

  /** A connection opened during shutdown drains from its start, like one that was open. */
  join(connection: Http1Connection): void {
    if (!this.started || connection.draining) return;
    connection.draining = true;
    connection.shutdown(Math.max(0, this.until - Date.now()));
  }
}

function withControl<H extends (...args: never[]) => void>(
  handler: H,
  live: Roster<Http1Connection>,
  drain: Drain,
  onShutdown: () => void,
): H & NodeHandlerControl {
  return Object.defineProperties(handler, {
    connections: { get: () => live.size },
    shutdown: {
      value(deadline: number = DEFAULTS.shutdownTimeout) {
        if (drain.started) return;
        drain.start(deadline, live);
        onShutdown();
      },
    },
  }) as H & NodeHandlerControl;
}

function connectionInfo(socket: Socket): ConnectionInfo {
  // Not `h1`: ids must stay unique in a process that also runs `serve`.
  return socketInfo('h1n', 'http/1.1', socket, (socket as TLSSocket).encrypted === true);
}

const pathOf = (target: string) => {
  const mark = target.indexOf('?');
  return mark < 0 ? target : target.slice(0, mark);
};

/** Express and Connect remove the mount from `req.url` and keep the whole target in `originalUrl`. */
function findRoot(req: IncomingMessage, event: RequestEvent): void {
  const original = (req as IncomingMessage & { originalUrl?: string }).originalUrl;
  if (original === undefined || original === req.url) return;
  const full = pathOf(original);
  const rest = pathOf(req.url ?? '/');
  let root: string;
  if (full.endsWith(rest)) root = full.slice(0, full.length - rest.length);
  else if (rest === '/')
    root = full; // `/api` mounted at `/api`: req.url is `/`
  else return;
  root = mountPrefix(root);
  if (root !== '') event.root = (event.root ?? '') + root;
}

/** A host that leaves the mount in `req.url` (Fastify): the prefix moves from the path to `root`. */
function unmountAt(prefix: string): (req: IncomingMessage, event: RequestEvent) => void {
  return (_req, event) => unmount(event, prefix);
}
