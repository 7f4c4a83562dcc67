import { createServer as createHttp1Server, type Server as HttpServer } from 'node:http';
import { createServer as createHttp2Server } from 'node:http2';
import type { AddressInfo, Server, Socket } from 'node:net';
import type { App } from '../../core/app.js';
import type { Hub } from '../../core/hub.js';
import type { Lifespan } from '../../core/lifespan.js';
import { logger } from '../../core/log.js';
import { IndexedRoster } from '../../core/table.js';
import { Clock } from '../drivers/clock.js';
import { attachHttp1, HTTP1_MESSAGES, type Http1Driver } from '../drivers/http1.js';
import { attachHttp1Net } from '../drivers/http1-net.js';
import { attachHttp2, H2_PSEUDO_FIELDS, type Http2Driver } from '../drivers/http2.js';
import { parserModule } from '../drivers/llhttp.js';
import { WebSocketDriver } from '../drivers/websocket.js';
import { LifespanRunner } from './lifespan.js';
import { createListener, startH2c, type TlsOptions } from './listen.js';

const kServeIndex = Symbol('rxgi.serveIndex');
type ServedSocket = Socket & { [kServeIndex]?: number };

/**
 * serve's open sockets, each with its place in a field of its own, written by code that sees
 * sockets alone (the base roster's store is shared by every kind of member, and generic). An
 * entry object and a `'close'` listener per socket instead held ~380 bytes more a WebSocket
 * session (bench:ws-idle): the driver makes an upgraded socket's two plain `'close'` listeners
 * one function only where both are shared.
 */
class SocketRoster extends IndexedRoster<ServedSocket> {
  constructor() {
    super(kServeIndex);
  }

  protected override placeOf(socket: ServedSocket): number | undefined {
    return socket[kServeIndex];
  }

  protected override place(socket: ServedSocket, index: number): void {
    socket[kServeIndex] = index;
  }
}

/** Options of `serve`; every limit has a secure default (docs/server.md). */
export interface ServeOptions {
  /** Interface to listen on. Default `127.0.0.1`. */
  host?: string;
  /** Port to listen on; 0 picks a free one. Default 8000. */
  port?: number;
  /** Largest request body in bytes; larger ones get 413. Default 64 MiB. */
  maxBodySize?: number;
  /** Largest request head in bytes; larger ones get 431. Default 16 KiB. */
  maxHeaderSize?: number;
  /** Most header fields in a request head; more get 431 (docs/server.md). Default 100. */
  maxHeaderFields?: number;
  /** Largest WebSocket message in bytes; larger ones close the session with 1009. Default 16 MiB. */
  maxMessageSize?: number;
  /** Unsent output allowed per stream before it is aborted. Default 4 MiB. */
  writeBufferLimit?: number;
  /** Milliseconds between WebSocket pings; 0 turns them off. Default 30 s. */
  pingInterval?: number;
  /** Milliseconds the lifespan's startup may take; past it `serve` rejects. Default 60 s. */
  startupTimeout?: number;
  /** Milliseconds in-flight exchanges get to finish on `close()`. Default 10 s. */
  shutdownTimeout?: number;
  /** Milliseconds an idle keep-alive connection stays open. Default 5 s. */
  keepAliveTimeout?: number;
  /**
   * Milliseconds a client has to send a request head, counted from its first byte, not restarted
   * by later ones (spec/server.md §2). Default 60 s.
   */
  headersTimeout?: number;
  /**
   * Milliseconds a request body or WebSocket message may go without a byte while the app reads
   * it; then 408 (HTTP/1.1, before the head), RST_STREAM CANCEL (HTTP/2), abort, or close 1008.
   * 0 turns it and `minBodyRate` off. Default 60 s.
   */
  bodyTimeout?: number;
  /**
   * Least average bytes per second of a request body while the app reads it, checked once its
   * clock has run `bodyTimeout` ms; a slower body is cut as `bodyTimeout` says. 0: none.
   * Default 240.
   */
  minBodyRate?: number;
  /**
   * Milliseconds output may wait with none of it read by the client; then the stream (HTTP/1.1:
   * the connection) is aborted, or the WebSocket closed with 1008, and the app told. 0: none.
   * Default 60 s.
   */
  sendTimeout?: number;
  /** Most concurrent streams per HTTP/2 connection. Default 100. */
  maxConcurrentStreams?: number;
  /** Memory an HTTP/2 session may use for its frames and headers, in MiB. Default 10. */
  maxSessionMemory?: number;
  /** Milliseconds an HTTP/2 connection with no open stream stays open. Default 60 s. */
  idleTimeout?: number;
  /**
   * Origins whose pages may open WebSockets besides the server's own (SPEC.md §4.2):
   * `https://app.example`, `https://*.example`, `null`, or `*` for any. Default: none.
   */
  allowedOrigins?: readonly string[];
  /**
   * Log one info line per exchange (method, target, status, bytes, duration, protocol,
   * client), the answers the drivers give themselves included, and each connection's open and
   * close at debug level (docs/server.md). Default false: then it costs nothing.
   */
  accessLog?: boolean;
  /** Certificate and key: listen with TLS, and ALPN offering h2 and http/1.1. */
  tls?: TlsOptions;
  /** Process-wide setup and teardown (SPEC.md §7). */
  lifespan?: Lifespan;
  /** The actor hub connections get their addresses on (spec/actors.md). Default: `defaultHub()`. */
  hub?: Hub;
  /**
   * What serves HTTP/1.1: `'net'`, rxgi's own driver on node:net with llhttp (the parser of
   * node:http, as undici builds it), or `'node:http'`. Both answer alike (spec/http1.md); `'net'`
   * costs less a request (docs/internals.md). Where llhttp cannot load, `'net'` falls back to
   * `'node:http'` with a warning. Default `'net'`.
   */
  http1?: 'net' | 'node:http';
}

/** A running rxgi server. */
export interface RxgiServer {
  /** `http://host:port` (or `https://`) of the listening socket. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The listening socket server: net.Server, or tls.Server with `tls`. */
  readonly listener: Server;
  /** Open TCP connections. */
  readonly connections: number;
  /**
   * Shut down gracefully: stop accepting, send `shutdown` to every connection, close WebSockets
   * with 1001, let in-flight exchanges finish until the deadline, then cut what is left.
   * With `restart`, WebSockets close with 1012 Service Restart instead (the server comes back:
   * `rxgi serve --watch`), so that clients know to reconnect.
   */
  close(options?: { restart?: boolean }): Promise<void>;
}

export const DEFAULTS = {
  host: '127.0.0.1',
  port: 8000,
  maxBodySize: 64 * 1024 * 1024,
  maxHeaderSize: 16 * 1024,
  maxHeaderFields: 100,
  maxMessageSize: 16 * 1024 * 1024,
  writeBufferLimit: 4 * 1024 * 1024,
  pingInterval: 30_000,
  startupTimeout: 60_000,
  shutdownTimeout: 10_000,
  keepAliveTimeout: 5_000,
  headersTimeout: 60_000,
  bodyTimeout: 60_000,
  minBodyRate: 240,
  sendTimeout: 60_000,
  maxConcurrentStreams: 100,
  maxSessionMemory: 10,
  idleTimeout: 60_000,
  allowedOrigins: [] as readonly string[],
  accessLog: false,
  http1: 'net' as 'net' | 'node:http',
} as const;

/**
 * Serve `app` over HTTP/1.1, HTTP/2 and WebSocket on one port: cleartext HTTP/2 with prior
 * knowledge (h2c) beside HTTP/1.1, or, with `tls`, ALPN choosing h2 or http/1.1.
 *
 * @example
 * const server = await serve(handle(() => text('hello')), { port: 8000 });
 * // later: await server.close();
 */
export async function serve(app: App, options: ServeOptions = {}): Promise<RxgiServer> {
  const settings = { ...DEFAULTS, ...definedOnly(options) };
  const lifespan = options.lifespan ? new LifespanRunner(options.lifespan) : null;
  await lifespan?.startup(settings.startupTimeout);

  const websocket = new WebSocketDriver(settings);
  // One clock for every time limit of every connection (spec/server.md §2).
  const clock = new Clock(settings);
  const onNet = settings.http1 === 'net' && llhttpLoads();
  const h1 = createHttp1Server({
    ...HTTP1_MESSAGES,
    maxHeaderSize: settings.maxHeaderSize,
    keepAliveTimeout: settings.keepAliveTimeout,
    headersTimeout: settings.headersTimeout,
    requestTimeout: 0,
    // How often node:http checks headersTimeout (its default, 30 s, is coarser than the limit).
    connectionsCheckingInterval: Math.min(1_000, settings.headersTimeout || 1_000),
  });
  const h2 = createHttp2Server({
    maxSessionMemory: settings.maxSessionMemory,
    // Room for the pseudo-fields (at most five: RFC 8441 §4) beside the regular fields, and
    // one more, so that the driver sees a list with too many and answers 431 (spec/http2.md §3).
    maxHeaderListPairs: settings.maxHeaderFields + H2_PSEUDO_FIELDS + 1,
    settings: {
      // RFC 8441 §3: WebSockets over HTTP/2 by extended CONNECT.
      enableConnectProtocol: true,
      maxConcurrentStreams: settings.maxConcurrentStreams,
      maxHeaderListSize: settings.maxHeaderSize,
    },
  });
  const http2 = attachHttp2(h2, app, { ...settings, websocket, clock });
  // In cleartext, a connection that opens with the HTTP/2 preface goes from node:http to
  // node:http2 (listen.ts).
  const preface =
    options.tls === undefined
      ? (socket: Socket, bytes: Buffer) => startH2c(h2, socket, bytes)
      : undefined;
  const secure = options.tls !== undefined;
  let http1: Http1Driver;
  let acceptHttp1: HttpServer | ((socket: Socket) => void) = h1;
  if (onNet) {
    const net = attachHttp1Net(app, { ...settings, websocket, clock, preface }, secure);
    http1 = net;
    acceptHttp1 = net.accept;
  } else http1 = attachHttp1(h1, app, { ...settings, websocket, clock, preface }, secure);
  const { server: listener, closeUnassigned } = createListener(
    acceptHttp1,
    h2,
    options.tls,
    clock,
    settings.accessLog,
  );
  // Every open socket, with one listener shared by all. Not a `Set`: a Set that takes in and
  // lets go of a socket per request outgrows its table again and again, and each table it
  // leaves in the old generation holds the sockets it had until a mark-compact, so every socket,
  // with its connection and all they hold, is promoted (core/table.ts; docs/internals.md).
  const sockets = new SocketRoster();
  /** Resolves `gone()` once the last socket has closed. */
  let emptied: (() => void) | null = null;
  function closed(this: Socket) {
    sockets.delete(this);
    if (sockets.size === 0) emptied?.();
  }
  // Before the hand-over: node:http wraps the `on` of every socket it takes (to see 'data'
  // listeners), and the 'close' listener added through the wrapper cost ~2 k instructions a
  // connection more (callgrind, 20 connections at a time).
  listener.prependListener('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', closed);
  });
  const gone = () =>
    sockets.size === 0
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          emptied = resolve;
        });

  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(settings.port, settings.host, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  // node:http starts its header and keep-alive timers when its server listens; ours never
  // does itself (the listener does), so it is told.
  h1.emit('listening');
  listener.on('error', (error) => logger().error('server error', { error }));
  const { address, port } = listener.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | null = null;
  return {
    url: `${options.tls ? 'https' : 'http'}://${host}:${port}`,
    host: address,
    port,
    listener,
    get connections() {
      return sockets.size;
    },
    close(options) {
      closing ??= shutdown(
        { listener, closeUnassigned, h1, sockets, gone, http1, http2, websocket, clock },
        settings.shutdownTimeout,
        lifespan,
        options?.restart === true,
      );
      return closing;
    },
  };
}

interface Parts {
  listener: Server;
  closeUnassigned(): void;
  h1: HttpServer;
  sockets: SocketRoster;
  /** Resolves when every socket has closed. */
  gone(): Promise<void>;
  http1: Http1Driver;
  http2: Http2Driver;
  websocket: WebSocketDriver;
  clock: Clock;
}

async function shutdown(
  parts: Parts,
  deadline: number,
  lifespan: LifespanRunner | null,
  restart: boolean,
): Promise<void> {
  // RFC 6455 §7.4.1: 1001 going away; 1012 (IANA registry) the service restarts.
  const [code, reason] = restart ? [1012, 'server restarting'] : [1001, 'server shutting down'];
  const { listener, closeUnassigned, h1, sockets, gone, http1, http2, websocket, clock } = parts;
  const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
  // Connections still choosing a protocol (or in a TLS handshake) carry no exchange yet.
  closeUnassigned();
  http2.drain();
  for (const connection of http1.connections) {
    connection.draining = true;
    connection.shutdown(deadline);
    connection.goAway(code, reason);
  }
  for (const connection of http2.connections) {
    connection.shutdown(deadline);
    connection.goAway(code, reason);
  }
  // Connections become idle as their exchanges finish; close each one as soon as it is.
  const sweep = setInterval(() => http1.closeIdle(sockets), 50);
  http1.closeIdle(sockets);
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => {
    timer = setTimeout(resolve, deadline, true);
  });
  const timedOut = await Promise.race([closed.then(() => false), late]);
  clearInterval(sweep);
  clearTimeout(timer);
  if (timedOut) {
    logger().warn('shutdown deadline passed; closing the remaining connections', {
      connections: sockets.size,
    });
    for (const socket of sockets) socket.destroy();
    await closed;
  }
  // node:net tells of the server's 'close' before its sockets' own 'close' events (which come
  // with the handles' close callbacks), and those are what `connections` counts: once
  // `close()` resolves it says 0. Every socket is destroyed by now, so they all come.
  await gone();
  // Stops node:http's timers (its server never listened, so closing it only does that).
  h1.close(() => {});
  websocket.dispose();
  http2.dispose();
  clock.stop();
  await lifespan?.shutdown(deadline);
}

/** llhttp loads here; where it does not, `http1: 'net'` is served by node:http, with a warning. */
function llhttpLoads(): boolean {
  const loaded = parserModule();
  if (!loaded.ok) {
    logger().warn("llhttp could not load: HTTP/1.1 is served by node:http instead of 'net'", {
      error: loaded.error,
    });
  }
  return loaded.ok;
}

function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(
    Object.entries(options).filter(([, v]) => v !== undefined),
  ) as Partial<T>;
}
