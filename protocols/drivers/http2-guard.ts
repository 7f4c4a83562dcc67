/**
 * What rxgi adds to node:http2's own protections of a session (spec/http2.md §1, §3): the memory it
 * holds in JS counted against `maxSessionMemory`, which node applies only to what nghttp2
 * holds, and node's answer to a client's protocol error kept as PROTOCOL_ERROR.
 */
import { constants, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import { BODY_WINDOW } from '../../core/body.js';

/** node:http2's receive window of a stream: its default, which `serve` keeps (RFC 9113 §6.9.2). */
const RECEIVE_WINDOW = 65_535;
/**
 * The most of a stream's body given to the app that counts: what `BodyReader` may queue (its
 * largest window, SPEC.md §5.4). An app that grants more at once keeps the rest at its own
 * cost, and a large grant does not make its session refuse streams.
 */
const HELD_CAP = BODY_WINDOW;
/** nghttp2's `NGHTTP2_ERR_PROTO`: the client broke the protocol. */
const ERR_PROTO = -505;

/** The per-stream state the accounting reads. */
export interface HeldStream {
  readonly h2: ServerHttp2Stream;
  /** Body bytes delivered to the app and not yet returned with `window`. */
  held: number;
  /** The app's input credit (SPEC.md §5.1). */
  readonly credit: number;
  /**
   * The most input credit the app has made available at once (0: it has granted none): a
   * grant that raises the credit past it widens the app's window and returns nothing.
   */
  peak: number;
  /** Bytes written while node's buffer was full, until `'drain'` (NodeStream). */
  pending: number;
}

/**
 * The bytes one session holds in JS: per stream, the body the app was given and has not
 * returned (its input window in use), the unread DATA in node's stream buffer (up to the
 * stream's receive window) and the unsent output in it. Kept as running sums where events tell
 * of them, and measured exactly over the open streams only when the sums and a per-stream
 * allowance for node's buffers could reach the limit, so a session far below it pays a few
 * additions per request.
 */
export class SessionMemory {
  /** Sum of the streams' `held`, each counted up to `HELD_CAP`. */
  private held = 0;
  /** Sum of the streams' `pending`, as last seen. */
  private pending = 0;
  /** The session was over the limit at the last sweep. */
  overAtSweep = false;

  constructor(
    /** The limit in bytes. */
    readonly limit: number,
  ) {}

  /** The app was given `bytes` of a stream's body. */
  delivered(stream: HeldStream, bytes: number): void {
    this.hold(stream, stream.held + bytes);
  }

  /**
   * The app granted `bytes` on a stream, which its credit already counts. The first grant opens
   * the app's window and so does the part of a later one that raises the credit past its peak
   * (a body reader that reads further ahead, SPEC.md §5.4); the rest returns what it read.
   */
  granted(stream: HeldStream, bytes: number): void {
    const wider = stream.credit - stream.peak;
    if (wider > 0) stream.peak = stream.credit;
    const returned = wider > 0 ? bytes - wider : bytes;
    if (returned > 0) this.hold(stream, Math.max(0, stream.held - returned));
  }

  private hold(stream: HeldStream, held: number): void {
    this.held += Math.min(held, HELD_CAP) - Math.min(stream.held, HELD_CAP);
    stream.held = held;
  }

  /** A stream's `pending` changed by `delta`. */
  buffered(delta: number): void {
    this.pending += delta;
  }

  /** A stream is forgotten: what it held leaves the count. */
  release(stream: HeldStream): void {
    this.hold(stream, 0);
    this.pending -= stream.pending;
  }

  /**
   * Whether the session may hold more than the limit, from the sums alone: `count` open
   * streams, and `allowance` what node's buffer of one stream may hold besides `pending`.
   */
  near(count: number, allowance: number): boolean {
    return this.held + this.pending + count * (RECEIVE_WINDOW + allowance) > this.limit;
  }

  /** Whether the session holds more than the limit, counted over its open `streams`. */
  over(streams: Iterable<HeldStream>): boolean {
    let total = 0;
    for (const stream of streams) {
      total += Math.min(stream.held, HELD_CAP);
      total += stream.h2.readableLength + stream.h2.writableLength;
    }
    return total > this.limit;
  }
}

/**
 * node:http2 answers a protocol error that nghttp2 reports (a WINDOW_UPDATE of 0, a stream past
 * the acknowledged `SETTINGS_MAX_CONCURRENT_STREAMS`) by destroying the session with GOAWAY
 * INTERNAL_ERROR, as if the server had failed. nghttp2 treats these as connection errors of
 * type PROTOCOL_ERROR (RFC 9113 §5.4.1 lets it), and so does the session here: same GOAWAY and
 * close, with the code that says whose error it was. A client's GOAWAY with an error code is
 * answered by closing the session at once and destroying it after the read that carried it.
 */
export function keepProtocolErrors(session: ServerHttp2Session): void {
  nodeDestroy ??= session.destroy;
  session.destroy = destroyKeepingProtocolErrors;
}

let nodeDestroy: ServerHttp2Session['destroy'] | null = null;

/** Sessions whose destroy waits for the end of the read that brought the client's GOAWAY. */
const deferred = new WeakSet<ServerHttp2Session>();

function destroyKeepingProtocolErrors(
  this: ServerHttp2Session,
  error?: Error,
  code?: number,
): void {
  if (deferred.has(this)) return;
  if ((error as { code?: unknown } | undefined)?.code === 'ERR_HTTP2_SESSION_ERROR') {
    // node destroys a session whose client sent GOAWAY with an error code at once, from inside
    // the frame parser; on node 22 a HEADERS and DATA that follow in the same read then reach a
    // stream node never set up, and the process aborts (`onread->IsFunction()`). The session is
    // closed instead (the streams the rest of the read opens are refused) and destroyed, with
    // node's error, once that read is done.
    deferred.add(this);
    this.close();
    setImmediate(() => {
      deferred.delete(this);
      nodeDestroy!.call(this, error, code);
    });
    return;
  }
  const proto =
    code === undefined && (error as { errno?: unknown } | undefined)?.errno === ERR_PROTO;
  nodeDestroy!.call(this, error, proto ? constants.NGHTTP2_PROTOCOL_ERROR : code);
}
