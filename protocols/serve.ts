import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { App } from '../core/app.js';
import type { Lifespan } from '../core/lifespan.js';
import { logger } from '../core/log.js';
import { attachHttp1, type Http1Driver } from './http1.js';
import { LifespanRunner } from './lifespan.js';
import { WebSocketDriver } from './websocket.js';

/** Options of `serve`; every limit has a secure default (SPEC.md §11). */
export interface ServeOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 8000. */
  port?: number;
  /** Largest request body in bytes; larger ones get 413. Default 64 MiB. */
  maxBodySize?: number;
  /** Largest request head in bytes; larger ones get 431. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Largest WebSocket message in bytes; larger ones close the session with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Unsent output allowed per stream before it is aborted. Default 4 MiB. */
  writeBufferLimit?: number;
  /** Milliseconds between WebSocket pings; 0 turns them off. Default 30 s. */
  pingInterval?: number;
  /** Milliseconds in-flight exchanges get to finish on `close()`. Default 10 s. */
  shutdownTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open. Default 5 s. */
  keepAliveTimeout?: number;
  /** Milliseconds a client has to send a request head. Default 60 s. */
  headersTimeout?: number;
  /** Process-wide setup and teardown (SPEC.md §8). */
  lifespan?: Lifespan;
}

/** A running rxgi server. */
export interface RxgiServer {
  /** `http://host:port` of the listening socket. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The node:http server underneath. */
  readonly server: Server;
  /** Open connections. */
  readonly connections: number;
  /**
   * Shut down gracefully: stop accepting, send `shutdown` to every connection, close WebSockets
   * with 1001, let in-flight exchanges finish until the deadline, then cut what is left.
   */
  close(): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  maxBodySize: 64 * 1024 * 1024,
  maxHeaderSize: 16 * 1024,
  maxMessageSize: 16 * 1024 * 1024,
  writeBufferLimit: 4 * 1024 * 1024,
  pingInterval: 30_000,
  shutdownTimeout: 10_000,
  keepAliveTimeout: 5_000,
  headersTimeout: 60_000,
} as const;

/**
 * Serve `app` over HTTP/1.1 and WebSocket on one port.
 *
 * @example
 * const server = await serve(handle(() => text('hello')), { port: 8000 });
 * // later: await server.close();
 */
export async function serve(app: App, options: ServeOptions = {}): Promise<RxgiServer> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const lifespan = options.lifespan ? new LifespanRunner(options.lifespan) : null;
  await lifespan?.startup();

  const server = createServer({
    maxHeaderSize: settings.maxHeaderSize,
    keepAliveTimeout: settings.keepAliveTimeout,
    headersTimeout: settings.headersTimeout,
    requestTimeout: 0,
  });
  const websocket = new WebSocketDriver(settings);
  const http1 = attachHttp1(server, app, { ...settings, websocket });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(settings.port, settings.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (error) => logger().error('server error', { error }));
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | null = null;
  return {
    url: `http://${host}:${port}`,
    host: address,
    port,
    server,
    get connections() {
      return http1.sockets.size;
    },
    close() {
      closing ??= shutdown(server, http1, websocket, settings.shutdownTimeout, lifespan);
      return closing;
    },
  };
}

async function shutdown(
  server: Server,
  http1: Http1Driver,
  websocket: WebSocketDriver,
  deadline: number,
  lifespan: LifespanRunner | null,
): Promise<void> {
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  for (const connection of http1.connections) {
    connection.draining = true;
    connection.shutdown(deadline);
    connection.goAway();
  }
  // Connections become idle as their exchanges finish; close each one as soon as it is.
  const sweep = setInterval(() => http1.closeIdle(), 50);
  http1.closeIdle();
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, deadline, true);
  });
  const timedOut = await Promise.race([closed.then(() => false), late]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (timedOut) {
    logger().warn('shutdown deadline passed; closing the remaining connections', {
      connections: http1.sockets.size,
    });
    for (const socket of http1.sockets) socket.destroy();
    await closed;
  }
  websocket.dispose();
  await lifespan?.shutdown(deadline);
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
