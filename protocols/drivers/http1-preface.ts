import { createRequire } from 'node:module';
import type { Socket } from 'node:net';
import { logger } from '../../core/log.js';

/**
 * HTTP/2 with prior knowledge on a socket node:http already owns. A cleartext port hands every
 * connection to node:http at once, as raw node does: no byte is read in JS to tell the two
 * protocols apart. node's parser (llhttp) reads the whole HTTP/2 connection preface (RFC 9113
 * §3.4) and stops right after it with `HPE_PAUSED_H2_UPGRADE`; node:http reports that as a
 * `clientError`, and the socket is taken back here, the way node:http lets go of an upgraded
 * socket: its parser freed (which un-consumes the socket's handle) and its listeners removed.
 */

// The preface, which llhttp has read in full (and exactly) when it stops.
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

/** What node:http puts on a socket it serves, as `_http_common` frees it. */
interface HttpSocket extends Socket {
  parser?: unknown;
}

/** The error node:http reports for the preface, with llhttp's place in the last chunk. */
export interface PrefaceError extends Error {
  code?: string;
  bytesParsed?: number;
  rawPacket?: Buffer;
}

// node:http's own cleanup of a connection's parser (`_http_common.freeParser`, which its upgrade
// path uses): loaded once, when the driver loads; a node without it refuses the preface as
// before (400), rather than losing the server.
const freeParser = ((): ((parser: unknown, req: null, socket: Socket) => void) | null => {
  try {
    const common = createRequire(import.meta.url)('_http_common') as { freeParser?: unknown };
    return typeof common.freeParser === 'function'
      ? (common.freeParser as (parser: unknown, req: null, socket: Socket) => void)
      : null;
  } catch {
    return null;
  }
})();

/**
 * The listeners node:http puts on a socket it serves (`connectionListenerInternal`, and the
 * parser's consume of the handle), by event: what is left after its `socketOnError` ran. net's
 * own `'end'` listener and the server's and drivers' listeners stay. `onConnectionClose` is
 * Deno's.
 */
const NODE_HTTP_LISTENERS: Record<string, readonly string[]> = {
  close: ['bound socketOnClose', 'onConnectionClose'],
  error: ['noop', 'socketOnError'],
  drain: ['bound socketOnDrain'],
  data: ['bound socketOnData'],
  end: ['bound socketOnEnd'],
  timeout: ['socketOnTimeout'],
  resume: ['onSocketResume'],
  pause: ['onSocketPause'],
};

/** Deno's `server[kConnections]`: a list of sockets, not of parsers as node's is. */
function forgetConnection(socket: Socket): void {
  const server = (socket as Socket & { server?: object }).server;
  if (server === undefined || server === null) return;
  for (const key of Object.getOwnPropertySymbols(server)) {
    if (key.description !== 'http.server.connections') continue;
    const list = (server as Record<symbol, { remove?: (socket: Socket) => void }>)[key];
    list?.remove?.(socket);
  }
}

/** True when `error` is node:http's report of the HTTP/2 preface on this socket. */
export function isPreface(error: PrefaceError): boolean {
  return error.code === 'HPE_PAUSED_H2_UPGRADE' && Buffer.isBuffer(error.rawPacket);
}

/**
 * Take a socket whose first bytes were the HTTP/2 preface back from node:http: it is left paused,
 * with node:http's parser and listeners gone, and the bytes it sent so far (the preface and
 * whatever followed it in the same read) are returned, to replay to node:http2. Returns null,
 * touching nothing, where this node does not free parsers as expected: the socket then stays
 * node:http's, whose answer to the preface is a 400.
 */
export function releasePreface(socket: Socket, error: PrefaceError): Buffer | null {
  const parser = (socket as HttpSocket).parser;
  const raw = error.rawPacket;
  if (raw === undefined) return null;
  if (parser != null) {
    if (freeParser === null) return null;
    try {
      freeParser(parser, null, socket);
    } catch (failure) {
      logger().debug('could not release an h2c socket from node:http', { error: failure });
      return null;
    }
  } else {
    // Deno's node:http has freed the parser before it reports the error, and keeps the socket
    // itself in the server's list of connections, whose head-time check would destroy it: it
    // is taken out, as Deno's own upgrade path does. (node's list holds parsers, freed above.)
    forgetConnection(socket);
  }
  for (const [event, names] of Object.entries(NODE_HTTP_LISTENERS)) {
    for (const listener of socket.listeners(event) as ((...args: unknown[]) => void)[]) {
      if (names.includes(listener.name)) socket.removeListener(event, listener);
    }
  }
  // No 'data' for anyone: what arrives from now on waits in the socket for node:http2. (All of
  // this runs in the parser's callback: no read comes in between.)
  socket.pause();
  const after = raw.subarray(Math.min(error.bytesParsed ?? raw.byteLength, raw.byteLength));
  return after.byteLength === 0 ? PREFACE : Buffer.concat([PREFACE, after]);
}
