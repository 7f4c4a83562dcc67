/**
 * What the HTTP/1.1 and HTTP/2 drivers share: both carry streams on node's objects (a request
 * and response, or an HTTP/2 stream), read bodies against the app's credit, count output as
 * node's buffers take it (SPEC.md §5), and host WebSocket sessions.
 */
import type { Socket } from 'node:net';
import type { Writable } from 'node:stream';
import type { WebSocket } from 'ws';
import { logRefusal } from '../../core/access-log.js';
import type { ConnectionInfo } from '../../core/app.js';
import { Connection, chunkLength } from '../../core/connection.js';
import { ERR, RxgiError } from '../../core/errors.js';
import { type Address, type Chunk, H2_CODE, WS_CODE } from '../../core/events.js';
import { logger } from '../../core/log.js';
import { FIRST_FREE_BIT, StreamState, withBit } from '../../core/stream-state.js';
import { type InputClock, inputTimedOut } from './body-clock.js';
import type { TimeLimits } from './clock.js';
import { type OutputClock, outputStalled } from './send-clock.js';
import { type WebSocketHost, type WebSocketStream, wsInputProgress } from './websocket.js';

/** The limits a node driver applies to each stream (docs/server.md). */
export interface StreamLimits {
  maxBodySize: number;
  writeBufferLimit: number;
  /** One info line per exchange, connections at debug level (docs/server.md). Default off. */
  accessLog?: boolean;
}

/** Where a request body comes from: a node `Readable`, or what reads it off the wire itself. */
export interface BodyInput {
  pause(): unknown;
  resume(): unknown;
}

const READING = FIRST_FREE_BIT;
const DRAINING = FIRST_FREE_BIT << 1;
const DRAIN_LISTENER = FIRST_FREE_BIT << 2;
const IDLE_INPUT = FIRST_FREE_BIT << 3;
const WS_ALIVE = FIRST_FREE_BIT << 4;
const WS_DRAIN_LISTENER = FIRST_FREE_BIT << 5;
const WS_PLAIN = FIRST_FREE_BIT << 6;
/** The first bit of a `NodeStream`'s flags that a driver's stream may use. */
export const NODE_STREAM_FREE_BIT = FIRST_FREE_BIT << 7;

/**
 * A stream of a node driver: its body reading, its writes waiting for `'drain'`, and the
 * WebSocket session it may carry.
 */
export abstract class NodeStream
  extends StreamState
  implements WebSocketStream, InputClock, OutputClock
{
  ws: WebSocket | null = null;
  /** Its place in the WebSocket driver's roster while it carries a session. */
  wsIndex = -1;
  /** Bytes of WebSocket messages waiting in the socket's buffer (websocket.ts). */
  wsPending = 0;
  /** Body bytes received so far, for the size limit. */
  received = 0;
  /** Bytes written while the buffer was full, granted back on drain. */
  pending = 0;
  // The body and send clocks (body-clock.ts, send-clock.ts), read by the sweep alone.
  inputAt = 0;
  inputSeen = 0;
  inputRun = 0;
  sendAt = 0;
  sendLow = 0;

  /** The body listeners are on (the app granted credit once). */
  get reading(): boolean {
    return (this.flags & READING) !== 0;
  }
  set reading(on: boolean) {
    this.flags = withBit(this.flags, READING, on);
  }

  /** Bytes wait for the sink's `'drain'`. */
  get draining(): boolean {
    return (this.flags & DRAINING) !== 0;
  }
  set draining(on: boolean) {
    this.flags = withBit(this.flags, DRAINING, on);
  }

  /**
   * The `'drain'` listener is on the sink: put there at the first write it did not take, and
   * left there, since a bulk body meets a full buffer at nearly every chunk (`once` would
   * allocate a wrapper and remove it each time).
   */
  get drainListener(): boolean {
    return (this.flags & DRAIN_LISTENER) !== 0;
  }
  set drainListener(on: boolean) {
    this.flags = withBit(this.flags, DRAIN_LISTENER, on);
  }

  /**
   * The input may rest for good without the peer being slow (a CONNECT tunnel): no body clock.
   * Its output keeps its send clock.
   */
  get idleInput(): boolean {
    return (this.flags & IDLE_INPUT) !== 0;
  }
  set idleInput(on: boolean) {
    this.flags = withBit(this.flags, IDLE_INPUT, on);
  }

  /** Its WebSocket session answered the last ping (websocket.ts). */
  get wsAlive(): boolean {
    return (this.flags & WS_ALIVE) !== 0;
  }
  set wsAlive(on: boolean) {
    this.flags = withBit(this.flags, WS_ALIVE, on);
  }

  /** Its WebSocket session's socket has its `'drain'` listener (websocket.ts). */
  get wsDrainListener(): boolean {
    return (this.flags & WS_DRAIN_LISTENER) !== 0;
  }
  set wsDrainListener(on: boolean) {
    this.flags = withBit(this.flags, WS_DRAIN_LISTENER, on);
  }

  /** Its session's frames go straight to its socket (websocket-frame.ts, `plainSession`). */
  get wsPlain(): boolean {
    return (this.flags & WS_PLAIN) !== 0;
  }
  set wsPlain(on: boolean) {
    this.flags = withBit(this.flags, WS_PLAIN, on);
  }

  /** The connection the stream is on. */
  abstract get host(): WebSocketHost<WebSocketStream>;
}

const counters = new Map<string, number>();

/**
 * The info of a connection on `socket` (SPEC.md §4): an id `<prefix>-<n>` unique in the process
 * for each prefix, and the socket's addresses.
 */
export function socketInfo(
  prefix: string,
  protocol: ConnectionInfo['protocol'],
  socket: Socket,
  secure: boolean,
): ConnectionInfo {
  const n = (counters.get(prefix) ?? 0) + 1;
  counters.set(prefix, n);
  const info: ConnectionInfo = {
    id: `${prefix}-${n.toString(36)}`,
    protocol,
    address: '',
    secure,
    client: peerOf(socket),
    server: serverAddress(socket),
  };
  dropAddressCache(socket);
  return info;
}

/**
 * node keeps what it looked up of a socket's ends on the socket, an object each (56 bytes, and
 * for the local end its host string, for as long as the socket is open); the info holds its own
 * copy, and node looks again should anything ask (`_getpeername`, `_getsockname` of node:net).
 */
function dropAddressCache(socket: Socket): void {
  const cached = socket as Socket & { _peername?: unknown; _sockname?: unknown };
  if (cached._peername) cached._peername = null;
  if (cached._sockname) cached._sockname = null;
}

/**
 * A socket's local address when its listener knows it without asking the kernel: a listener
 * bound to one address (not a wildcard) accepts every connection at that address and port. It
 * is put on the server a socket names as `socket.server` (the listener, or the TLS server of a
 * TLS socket), one field for all its connections.
 */
export const kLocalAddress = Symbol('rxgi.localAddress');

/** The last server address made: every connection of a listener shares one. */
let lastServer: Address | null = null;

/**
 * The local end of `socket` as an address: the one its listener put on it, else the same
 * object as the last one when equal (`localAddress` costs a `getsockname` per connection).
 */
function serverAddress(
  socket: Socket & { server?: { [kLocalAddress]?: Address } },
): Address | null {
  const known = socket.server?.[kLocalAddress];
  if (known !== undefined) return known;
  const host = socket.localAddress;
  const port = socket.localPort;
  const last = lastServer;
  if (last !== null && last[0] === host && last[1] === port) return last;
  const made = address(host, port);
  if (made !== null) lastServer = made;
  return made;
}

/** The last peer host seen: behind a proxy every connection comes from one, shared then. */
let lastPeerHost = '';

/** What `peerOf` asks of a socket's handle: node:net's own `getpeername`. */
interface PeerHandle {
  getpeername?(out: PeerOut): number;
}

/** The fields node's `getpeername` fills in. */
interface PeerOut {
  address: string;
  family: string;
  port: number;
}

/**
 * The one object `peerOf` has node fill in, its fields there already. node sets each from C++
 * (`v8::Object::Set`); on a fresh `{}` each of the three was a map transition in V8's runtime,
 * ~1,950 instructions a connection more than on this object (callgrind).
 */
const peerOut: PeerOut = { address: '', family: '', port: 0 };

/**
 * The peer of `socket` as an address, or null once node no longer knows it. Asked of the
 * socket's handle where it can be, as node:net's `remoteAddress` does, but without the copy
 * node would keep on the socket (`_peername`, a field a long-lived socket holds for good).
 */
export function peerOf(socket: Socket): Address | null {
  const handle = (socket as Socket & { _handle?: PeerHandle | null })._handle;
  let host: string | undefined;
  let port: number | undefined;
  if (typeof handle?.getpeername === 'function' && !socket.connecting) {
    // Read only when node says it filled them in.
    if (handle.getpeername(peerOut) === 0) {
      host = peerOut.address;
      port = peerOut.port;
    }
  } else {
    host = socket.remoteAddress;
    port = socket.remotePort;
  }
  if (host === lastPeerHost) host = lastPeerHost;
  else if (host !== undefined) lastPeerHost = host;
  return address(host, port);
}

function address(host: string | undefined, port: number | undefined): Address | null {
  return host === undefined || port === undefined ? null : [host, port];
}

/** A connection whose streams live on node's objects: the HTTP/1.1 and HTTP/2 drivers. */
export abstract class NodeConnection<S extends NodeStream, O extends StreamLimits = StreamLimits>
  extends Connection<S>
  implements WebSocketHost<S>
{
  constructor(
    info: ConnectionInfo,
    /** The driver's options, its limits among them: one object every connection shares. */
    protected readonly options: O,
  ) {
    super(info);
    this.accessLog = options.accessLog === true;
  }

  /** The driver answered a request itself, before any app saw it: its access line. */
  protected logRefused(
    method: string | undefined,
    target: string | undefined,
    status: number,
    body: string,
    websocket = false,
  ): void {
    if (this.accessLog) logRefusal(this.info, method, target, status, body, websocket);
  }

  /**
   * A timed-out HTTP stream is reset whether or not its head was sent (HTTP/2: RST_STREAM
   * CANCEL), rather than answered 408 before its head (HTTP/1.1).
   */
  protected get resetOnTimeout(): boolean {
    return false;
  }

  /** What a stream's request body arrives on: node's stream, or the driver's own reader. */
  protected abstract input(stream: S): BodyInput;
  /** Response bytes of an HTTP stream waiting for the client, for its send clock; 0: none kept. */
  protected abstract pendingOutput(stream: S): number;
  /** Put the body listeners on `input`, the first time the app grants credit. */
  protected abstract listen(stream: S, input: BodyInput): void;

  protected resumeInput(stream: S): void {
    if (stream.ws !== null) {
      stream.ws.resume();
      return;
    }
    const input = this.input(stream);
    if (stream.reading) {
      input.resume();
      return;
    }
    stream.reading = true;
    this.listen(stream, input);
  }

  /** @internal A body chunk: counted against the size limit and delivered against the credit. */
  bodyData(stream: S, chunk: Buffer): void {
    stream.received += chunk.byteLength;
    const limit = this.options.maxBodySize;
    if (stream.received > limit) {
      this.input(stream).pause();
      const message = `the request body is larger than ${limit} bytes`;
      this.failStream(stream, new RxgiError(ERR.BODY_TOO_LARGE, message, 413), false);
      return;
    }
    if (!this.deliverData(stream, chunk)) this.input(stream).pause();
  }

  /**
   * Write `chunk` to `sink` and return its credit as node's buffer takes it (SPEC.md §5.2):
   * at once when `write` accepts it, else at the next `'drain'`, which `onDrain` reports with
   * `drained`. Past the write buffer limit the write fails (§5.3).
   */
  protected writeCounted(stream: S, sink: Writable, chunk: Chunk, onDrain: () => void): void {
    const limit = this.options.writeBufferLimit;
    if (sink.writableLength > limit) {
      const message = `the app wrote past the ${limit}-byte write buffer limit`;
      throw new RxgiError(ERR.WRITE_BUFFER_FULL, message);
    }
    const size = chunkLength(chunk);
    if (sink.write(chunk)) {
      this.flushed(stream, size);
      return;
    }
    stream.pending += size;
    if (!stream.draining) {
      stream.draining = true;
      if (!stream.drainListener) {
        stream.drainListener = true;
        sink.on('drain', onDrain);
      }
    }
  }

  /** @internal What was written while the buffer was full has left it. */
  drained(stream: S): void {
    if (!stream.draining) return;
    stream.draining = false;
    const bytes = stream.pending;
    stream.pending = 0;
    this.flushed(stream, bytes, true);
  }

  /**
   * @internal One tick of the clocks of every open stream (spec/server.md §2): a stream whose
   * client is too slow to send its body or a message, or to read our output, is cut.
   */
  sweepStreams(now: number, elapsed: number, limits: TimeLimits): void {
    if (this.streamCount === 0) return;
    for (const stream of this.streamList()) {
      const ws = stream.ws;
      let why: string | null;
      if (ws !== null) {
        if (outputStalled(stream, ws.bufferedAmount, now, limits.sendTimeout)) {
          this.timedOut(stream, `the client read nothing for ${limits.sendTimeout} ms`);
          ws.terminate();
          continue;
        }
        const seen = wsInputProgress(ws);
        why = inputTimedOut(
          stream,
          stream.credit > 0 && seen >= 0,
          seen,
          now,
          elapsed,
          limits,
          false,
        );
      } else if (
        stream.headSent &&
        outputStalled(stream, this.pendingOutput(stream), now, limits.sendTimeout)
      ) {
        why = `the client read nothing for ${limits.sendTimeout} ms`;
      } else {
        const running =
          !stream.inEnded && stream.credit > 0 && !stream.websocket && !stream.idleInput;
        why = inputTimedOut(stream, running, stream.received, now, elapsed, limits, true);
      }
      if (why !== null) this.timedOut(stream, why);
    }
  }

  /**
   * Cut a stream whose client was too slow (spec/server.md §2): an HTTP stream is answered 408
   * before its head or aborted after it (reset with CANCEL where `resetOnTimeout`), and the app
   * gets `close` with code 8; a WebSocket session is closed with 1008, and so is the app told.
   */
  protected timedOut(stream: S, why: string): void {
    logger().debug('client timed out', { connection: this.info.id, stream: stream.id, why });
    if (stream.wsOpen) {
      this.serverClose(stream, WS_CODE.POLICY, why);
      return;
    }
    if (this.resetOnTimeout) stream.headSent = true;
    const error = new RxgiError(ERR.CLIENT_TIMEOUT, why, 408);
    this.failStream(stream, error, false, H2_CODE.CANCEL);
  }

  // --- WebSocketHost -------------------------------------------------------------------------

  wsMessage(stream: S, data: Uint8Array | string, size: number): boolean {
    return this.deliverMessage(stream, data, size);
  }

  wsClosed(stream: S, code: number, reason: string): void {
    this.peerClosed(stream, code, reason);
  }

  wsFlushed(stream: S, bytes: number): void {
    this.flushed(stream, bytes);
  }
}
