import type { Socket } from 'node:net';

/** Milliseconds a socket whose write side has ended waits for the client's FIN. */
export const LINGER = 1_000;

/**
 * Give `socket` a bounded close: once its write side has ended (our FIN sent, after a GOAWAY, a
 * `connection: close` answer, a refused upgrade...), the client has `LINGER` ms to close its
 * side, then the socket is destroyed. node waits for that FIN with no limit, and does not even
 * see it on a socket nobody reads (a paused one, or one node:http2 stopped reading): a client
 * that never closes, or left while the socket was paused, held the socket, its connection and
 * its hub address for good, and shutdown until its deadline. Nothing more can be sent on such a
 * socket; the grace lets a client read what is in flight before a reset could discard it.
 */
export function lingerAfterEnd(socket: Socket): void {
  socket.once('finish', linger);
}

function linger(this: Socket): void {
  setTimeout(destroy, LINGER, this).unref();
}

function destroy(socket: Socket): void {
  if (!socket.destroyed) socket.destroy();
}
