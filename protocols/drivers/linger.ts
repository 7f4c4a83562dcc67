import type { Socket } from 'node:net';
import { Roster, type RosterEntry } from '../../core/table.js';

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
  // `on`, not `once` (which wraps each listener): a socket finishes once.
  socket.on('finish', ended);
}

/**
 * End `socket`'s write side (once) with the bounded close of `lingerAfterEnd`: for a driver
 * whose sockets node ends on some paths and itself on others. node:http destroys the socket
 * itself where it ends one (a `connection: close` answer, a timeout), so only the driver's own
 * ends need the listener; put on every socket, it cost each connection a listener node wraps,
 * and a call as each finished.
 */
export function endLingering(socket: Socket): void {
  if (socket.writableEnded) return;
  lingerAfterEnd(socket);
  socket.end();
}

// Ended sockets wait in one roster that a single timer sweeps, rather than a timer each: a
// timer would hold its socket for the whole second even after a prompt close, which with a
// connection per request kept thousands of sockets alive and promoted them.
const kEnded = Symbol('rxgi.ended');
/** A lingering socket's place in the roster and since when (a class: see `RosterEntry`). */
class Lingering {
  constructor(
    readonly entry: RosterEntry<Socket>,
    readonly at: number,
  ) {}
}
type Ending = Socket & { [kEnded]?: Lingering };
const ending = new Roster<Socket>();
let sweeper: NodeJS.Timeout | null = null;

// Sockets whose write side ended since the last look, the first `count` of `finished`. One
// destroyed by then (by a 'finish' listener after this one, or its client's close) costs a
// store and nothing more. Looked at on the next tick, not in an immediate: an immediate is a
// call from the event loop into JavaScript of its own (~1,900 instructions a socket,
// callgrind); a socket destroyed after the tick only takes a roster entry it leaves as it
// closes. The array keeps its room (as many slots as sockets ever ended at once), its slots
// emptied: `length = 0` is a call into V8's runtime that gave the room back, to be made again
// the next time.
const finished: (Ending | undefined)[] = [];
let count = 0;

function ended(this: Ending): void {
  if (this.destroyed) return;
  finished[count++] = this;
  if (count === 1) process.nextTick(linger);
}

function linger(): void {
  const at = Date.now();
  for (let i = 0; i < count; i++) {
    const socket = finished[i] as Ending;
    finished[i] = undefined;
    if (socket.destroyed || socket[kEnded] !== undefined) continue;
    socket[kEnded] = new Lingering(ending.add(socket), at);
    socket.on('close', closed);
    sweeper ??= setInterval(sweep, LINGER / 4).unref();
  }
  count = 0;
}

function closed(this: Ending): void {
  const mark = this[kEnded];
  if (mark === undefined) return;
  this[kEnded] = undefined;
  ending.delete(mark.entry);
  if (ending.size === 0 && sweeper !== null) {
    clearInterval(sweeper);
    sweeper = null;
  }
}

function sweep(): void {
  const due = Date.now() - LINGER;
  for (const socket of ending as Roster<Ending>) {
    const mark = socket[kEnded];
    if (mark !== undefined && mark.at <= due && !socket.destroyed) socket.destroy();
  }
}
