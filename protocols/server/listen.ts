import type { Server as HttpServer } from 'node:http';
import type { Http2Server } from 'node:http2';
import { createServer, type Server, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import { logRefusal } from '../../core/access-log.js';
import { ERR } from '../../core/errors.js';
import type { Address } from '../../core/events.js';
import { logger } from '../../core/log.js';
import { Roster, type RosterEntry } from '../../core/table.js';
import type { Clock } from '../drivers/clock.js';
import { kLocalAddress, peerOf } from '../drivers/node-connection.js';

/** What takes a connection of its protocol (the HTTP/1.1 driver on node:net). */
export type Acceptor = (socket: Socket) => void;

/** A certificate and key in PEM, for TLS. */
export interface TlsOptions {
  cert: string | Buffer;
  key: string | Buffer;
}

/** The listening server, and a way to close the connections it has not handed over yet. */
export interface Listener {
  server: Server;
  closeUnassigned(): void;
}

// RFC 8446 §5.1: a TLS connection opens with a handshake record (content type 22); a plain
// HTTP request opens with a method's letter.
const TLS_HANDSHAKE = 0x16;

const PLAIN_ON_TLS_BODY = 'This port speaks HTTPS only: use https:// instead of http://\n';
const PLAIN_ON_TLS = Buffer.from(
  `HTTP/1.1 400 Bad Request\r\ncontent-type: text/plain; charset=utf-8\r\ncontent-length: ${PLAIN_ON_TLS_BODY.length}\r\nconnection: close\r\n\r\n${PLAIN_ON_TLS_BODY}`,
);

/**
 * A socket that belongs to neither server yet, and when it arrived (for the head clock). A class,
 * as every per-connection object that holds a socket: see `RosterEntry`.
 */
class Held {
  readonly arrived = performance.now();
  /** Its 'close' listener, which takes it off the roster. */
  closed: () => void = noop;
  constructor(readonly socket: Socket) {}
}

function noop(): void {}

/**
 * A held socket's 'error' listener: a client may reset its connection before it has chosen a
 * protocol, and an 'error' event with no listener ends the process. The socket is already
 * destroyed; its 'close' takes it off the roster.
 */
function heldFailed(error: Error): void {
  logger().debug('connection failed before it chose a protocol', { error: error.message });
}

/**
 * The address every connection of `server` arrives at, when it is bound to one (not `0.0.0.0`
 * or `::`, where each connection's depends on the interface it came in by), else null.
 */
function boundAddress(server: Server): Address | null {
  const bound = server.address();
  if (bound === null || typeof bound === 'string') return null;
  if (bound.address === '0.0.0.0' || bound.address === '::') return null;
  return [bound.address, bound.port];
}

/** A cleartext request on the TLS port: say in plain HTTP to use https, and close. */
function plainOnTlsPort(socket: Socket, accessLog: boolean): void {
  socket.end(PLAIN_ON_TLS);
  socket.setTimeout(1_000, () => socket.destroy());
  if (!accessLog) return;
  const client = peerOf(socket);
  // Its method and target are not read: the bytes are no request this port takes.
  logRefusal({ protocol: 'http/1.1', secure: false, client }, '-', '-', 400, PLAIN_ON_TLS_BODY);
}

/** A socket's peer address and port, which the TLS socket over it shares. */
function peer(socket: Socket): string {
  return `${socket.remoteAddress} ${socket.remotePort}`;
}

/**
 * Give a socket to the HTTP/1.1 or HTTP/2 server, whose listeners (node's and the driver's) run
 * at once. A boundary: it runs in a socket's 'data' or the TLS server's 'secureConnection'
 * listener, where a throw would end the process. What throws is an internal error: logged, and
 * the socket alone is destroyed. Returns whether the server took the socket.
 */
function handOver(server: HttpServer | Http2Server | Acceptor, socket: Socket): boolean {
  try {
    if (typeof server === 'function') server(socket);
    else server.emit('connection', socket);
    return true;
  } catch (error) {
    logger().error('internal error; closing the connection', {
      code: ERR.INTERNAL,
      client: `${socket.remoteAddress}:${socket.remotePort}`,
      error,
    });
    socket.destroy();
    return false;
  }
}

/**
 * Give node:http2 a cleartext connection that opened with the HTTP/2 preface, which node:http
 * read: `bytes` are all the socket sent so far (the preface included), which the session reads
 * first. For `Http1Options.preface`.
 */
export function startH2c(http2: Http2Server, socket: Socket, bytes: Buffer): void {
  // node:http2 reads what is already buffered on the socket when its session starts.
  socket.unshift(bytes);
  handOver(http2, socket);
}

/**
 * The one port: accepts connections and hands each to the HTTP/1.1 or the HTTP/2 server, which
 * never listen themselves. In cleartext every connection goes to node:http at once, which gives
 * one that opens with the HTTP/2 preface back (h2c with prior knowledge, `startH2c`); node:http's
 * head time watches them all from their acceptance. With TLS, ALPN decides (`h2` or
 * `http/1.1`, RFC 7301).
 *
 * Neither server watches a TLS socket before it is handed over: the head clock does
 * (spec/server.md §2). A socket still unassigned `headersTimeout` ms after it was accepted (in
 * its TLS handshake, however its bytes trickle in) is destroyed; it is found by `clock`'s
 * sweep. With `accessLog`, the 400 a plain request on the TLS port gets is logged as the
 * drivers log their own answers.
 */
export function createListener(
  http1: HttpServer | Acceptor,
  http2: Http2Server,
  tls: TlsOptions | undefined,
  clock: Clock,
  accessLog = false,
): Listener {
  if (tls === undefined) {
    const server = createServer({ noDelay: true }, (socket: Socket) => {
      handOver(http1, socket);
    });
    knowLocalAddress(server, http1, http2);
    return { server, closeUnassigned: noop };
  }
  // Sockets that belong to neither server yet: nobody else would close them on shutdown. Each
  // has a 'close' listener of its own and the shared 'error' one while it waits, both taken off
  // at the hand-over (`release`): a socket that lives on keeps nothing of this roster, not even
  // a field.
  const unassigned = new Roster<Held>();
  const hold = (socket: Socket): RosterEntry<Held> => {
    const held = new Held(socket);
    const entry = unassigned.add(held);
    held.closed = () => unassigned.delete(entry);
    socket.on('close', held.closed);
    socket.on('error', heldFailed);
    return entry;
  };
  const release = (entry: RosterEntry<Held>): void => {
    if (entry.index < 0) return;
    unassigned.delete(entry);
    entry.value.socket.removeListener('close', entry.value.closed);
    // The server it goes to listens for its errors from here on.
    entry.value.socket.removeListener('error', heldFailed);
  };
  clock.onTick((now, _elapsed, { headersTimeout }) => {
    if (headersTimeout <= 0) return;
    for (const held of unassigned) {
      if (now - held.arrived >= headersTimeout) held.socket.destroy();
    }
  });
  const closeUnassigned = () => {
    for (const held of unassigned) held.socket.destroy();
  };
  const secure = createTlsServer({ ...tls, ALPNProtocols: ['h2', 'http/1.1'] });
  // Raw sockets in their handshake, by peer: a TLS socket finds its own at once, where a search
  // of every unassigned socket made each handshake cost as many steps as there were pending.
  const handshaking = new Map<string, RosterEntry<Held>>();
  secure.on('secureConnection', (socket: TLSSocket) => {
    // The raw socket under this TLS socket is handed over with it.
    const key = peer(socket);
    const held = handshaking.get(key);
    if (held !== undefined) {
      handshaking.delete(key);
      release(held);
    }
    // A client that reset the connection right after its handshake: nothing to hand over.
    if (socket.destroyed) return;
    handOver(socket.alpnProtocol === 'h2' ? http2 : http1, socket);
  });
  secure.on('tlsClientError', (error) => {
    logger().debug('TLS handshake failed', { error: error.message });
  });
  const server = createServer({ noDelay: true }, (socket: Socket) => {
    const held = hold(socket);
    socket.once('data', (chunk: Buffer) => {
      if (chunk[0] === TLS_HANDSHAKE) {
        const key = peer(socket);
        handshaking.set(key, held);
        socket.once('close', () => {
          if (handshaking.get(key) === held) handshaking.delete(key);
        });
        // The TLS socket reads what is already buffered on the raw one when it starts.
        socket.pause();
        socket.unshift(chunk);
        secure.emit('connection', socket);
      } else {
        plainOnTlsPort(socket, accessLog);
      }
    });
  });
  knowLocalAddress(server, secure, http1, http2);
  return { server, closeUnassigned };
}

/**
 * Once `listener` listens on one address, put it on the servers its sockets name
 * (`socket.server`: the listener, the TLS server of a TLS socket, and after the hand-over the
 * HTTP/1.1 or HTTP/2 server, which node names there), where each connection's info finds it: a
 * `getsockname` saved per connection, and no field on every socket. The HTTP servers take
 * sockets from this listener alone.
 */
function knowLocalAddress(
  listener: Server,
  ...others: (Server | HttpServer | Http2Server | Acceptor)[]
): void {
  listener.on('listening', () => {
    const local = boundAddress(listener);
    if (local === null) return;
    for (const server of [listener, ...others]) {
      // An acceptor's sockets name the listener (or the TLS server) as theirs.
      if (typeof server === 'function') continue;
      (server as { [kLocalAddress]?: Address })[kLocalAddress] = local;
    }
  });
}
