import type { Observer } from 'rxjs';
import { AccessEntry, logConnection } from './access-log.js';
import { ActorConnection, CONNECTION_FREE_BIT } from './actor.js';
import { type App, type AppSession, ObservableRun, sessionFactoryOf } from './app.js';
import { EMPTY_BYTES } from './body.js';
import { ERR, RxgiError } from './errors.js';
import {
  type CloseOutEvent,
  CONNECTION_STREAM,
  type DataOutEvent,
  type EarlyHintsEvent,
  GRANT_BATCH,
  H2_CODE,
  type HeaderList,
  type InboundEvent,
  type OutboundEvent,
  type PushEvent,
  type RequestEvent,
  type ResponseEvent,
  type TrailersOutEvent,
  WS_CODE,
  type WsAcceptEvent,
  type WsMessageOutEvent,
} from './events.js';
import { hasField, repeatedSingleton } from './headers.js';
import { defaultHub, type Hub } from './hub.js';
import { jsonLogger, logger } from './log.js';
import { type StreamState, withBit } from './stream-state.js';

// Its home is events.ts (a Chunk's wire length); drivers and adapters import it from here too.
export { chunkLength } from './events.js';

const APP_DONE = CONNECTION_FREE_BIT;
const FAULTED = CONNECTION_FREE_BIT << 1;
const ACCESS_LOG = CONNECTION_FREE_BIT << 2;
const SESSION_ENDED = CONNECTION_FREE_BIT << 3;
const DIRECT = CONNECTION_FREE_BIT << 4;
/** The first bit of `flags` a driver's connection may use. */
export const DRIVER_FREE_BIT = CONNECTION_FREE_BIT << 5;

/** A final status (RFC 9110 §15): three digits, not informational (SPEC.md §4.1). */
function finalStatus(status: number): boolean {
  return Number.isInteger(status) && status >= 200 && status <= 599;
}

/** Throws where a response head breaks SPEC.md §4.1 (its status) or §8.2 (a repeated field). */
function assertHead(event: ResponseEvent): void {
  if (!finalStatus(event.status)) throw invalid(event, 'status must be an integer 200–599');
  const repeated = repeatedSingleton(event.headers);
  if (repeated !== null)
    throw invalid(event, `field ${repeated} appears twice; it takes one value`);
}

/**
 * One connection between a driver and an app: the logic every driver shares. It runs the app,
 * checks the app's output against each stream's state, applies the error rules of SPEC.md §8
 * and the flow-control rules of §5, and leaves the wire to the subclass.
 */
export abstract class Connection<S extends StreamState>
  extends ActorConnection<S>
  implements Observer<OutboundEvent>
{
  /**
   * The app's run: its session, run with this connection as its output, when `sessionApp` made
   * the app (rxjs's subscriber layers are a cost every event would pay twice, and a run object
   * between them 56 bytes for as long as the connection is open); else its Observable's run.
   * The rules are those of `SessionRun`: nothing of the app's reaches the wire after its
   * `error` or `complete`, and the session hears nothing more, and is torn down, once either
   * side has ended.
   */
  private appSession: AppSession | null = null;
  /** The session was torn down (or will be, once made). */
  private get sessionEnded(): boolean {
    return (this.flags & SESSION_ENDED) !== 0;
  }
  /** The session is a `sessionApp`'s, run directly: it ends as soon as its output does. */
  private get direct(): boolean {
    return (this.flags & DIRECT) !== 0;
  }
  private get appDone(): boolean {
    return (this.flags & APP_DONE) !== 0;
  }
  private set appDone(on: boolean) {
    this.flags = withBit(this.flags, APP_DONE, on);
  }
  private get faulted(): boolean {
    return (this.flags & FAULTED) !== 0;
  }
  private set faulted(on: boolean) {
    this.flags = withBit(this.flags, FAULTED, on);
  }
  /**
   * Log each exchange at info level and the connection's open and close at debug level
   * (docs/server.md). Set by the driver before `start`; off, it costs a flag check.
   */
  protected get accessLog(): boolean {
    return (this.flags & ACCESS_LOG) !== 0;
  }
  protected set accessLog(on: boolean) {
    this.flags = withBit(this.flags, ACCESS_LOG, on);
  }
  /** When the connection opened, for its close line (only read when `accessLog`). */
  private opened = 0;

  /**
   * Run `app` on this connection, with an actor address on `hub` (spec/actors.md). Call once,
   * before the first `open`.
   */
  start(app: App, hub: Hub = defaultHub()): void {
    if (this.accessLog) {
      this.opened = performance.now();
      logConnection(this.info);
    }
    this.hub = hub;
    this.info.address = hub.register(this.info.id, this);
    try {
      const create = sessionFactoryOf(app);
      if (create === undefined) this.appSession = new ObservableRun(app, this, this.info);
      else {
        this.flags |= DIRECT;
        this.appSession = create(this, this.info);
      }
      // The app may have ended its output, or the connection, while it started.
      if (this.sessionEnded) this.appSession.teardown();
    } catch (error) {
      this.error(error);
    }
  }

  /** The session hears no more and is torn down; idempotent. */
  private endSession(): void {
    if (this.sessionEnded) return;
    this.flags |= SESSION_ENDED;
    this.appSession?.teardown();
  }

  /** The number of open streams. */
  get openStreams(): number {
    return this.streamCount;
  }

  /** True once the app's output has ended: the connection can serve nothing new. */
  get appFinished(): boolean {
    return this.appDone;
  }

  // -------------------------------------------------------------------------------------------
  // Driver side: what the wire tells the app

  /** One inbound event, for the app. */
  protected tell(event: InboundEvent): void {
    if (!this.sessionEnded) this.appSession?.receive(event);
  }

  /** Register a stream and tell the app about its request. */
  protected open(stream: S, event: InboundEvent): void {
    this.addStream(stream);
    if (this.accessLog) stream.access = new AccessEntry(event as RequestEvent);
    if (this.appDone) {
      this.failStream(stream, new RxgiError(ERR.NO_RESPONSE, 'the app has finished'));
      return;
    }
    this.tell(event);
  }

  /** Deliver a body chunk; returns false when the app's window is spent and input should pause. */
  protected deliverData(stream: S, chunk: Uint8Array): boolean {
    stream.credit -= chunk.byteLength;
    this.tell({ type: 'data', stream: stream.id, chunk, end: false });
    return stream.credit > 0;
  }

  /** Deliver the end of a body, with its trailers when there are any. */
  protected deliverEnd(stream: S, trailers: HeaderList | null): void {
    if (stream.inEnded) return;
    stream.inEnded = true;
    if (trailers !== null && trailers.length > 0) {
      this.tell({ type: 'trailers', stream: stream.id, headers: trailers });
    } else {
      this.tell({ type: 'data', stream: stream.id, chunk: EMPTY_BYTES, end: true });
    }
  }

  /** Deliver a WebSocket message; returns false when input should pause. */
  protected deliverMessage(stream: S, data: Uint8Array | string, size: number): boolean {
    stream.credit -= size;
    this.tell({ type: 'ws-message', stream: stream.id, data });
    return stream.credit > 0;
  }

  /** Count bytes that left the driver's buffer; grants them back to the app in batches. */
  protected flushed(stream: S, bytes: number, now = false): void {
    stream.owed += bytes;
    if (stream.owed > 0 && (now || stream.owed >= GRANT_BATCH) && this.hasStream(stream.id)) {
      const grant = stream.owed;
      stream.owed = 0;
      this.tell({ type: 'window', stream: stream.id, bytes: grant });
    }
  }

  /** The peer ended the stream: tell the app and forget the stream. */
  protected peerClosed(stream: S, code: number, reason: string): void {
    if (this.streamOf(stream.id) !== stream) return;
    // A WebSocket session's close (1000, 1001…) is how it ends, not an abort.
    const access = stream.access;
    if (access !== null && !access.complete && !stream.wsOpen) access.aborted = code;
    this.forget(stream);
    this.tell({ type: 'close', stream: stream.id, code, reason });
  }

  /**
   * The boundary around a driver's handlers: something threw while serving this connection (a
   * bug in rxgi or below it). It is logged with the connection's id and stack, and this
   * connection alone is torn down (SPEC.md §8.1, `RXGI_ERR_INTERNAL`); the process goes on serving the others.
   */
  fault(error: unknown): void {
    const fields = { connection: this.info.id, code: ERR.INTERNAL, error };
    try {
      logger().error('internal error; closing the connection', fields);
    } catch {
      // The app's logger is what threw, maybe: the record still goes somewhere.
      jsonLogger.error('internal error; closing the connection', fields);
    }
    if (this.faulted) return;
    this.faulted = true;
    try {
      this.teardown();
      this.end('internal error');
    } catch (again) {
      jsonLogger.error('internal error while tearing down the connection', {
        connection: this.info.id,
        code: ERR.INTERNAL,
        error: again,
      });
    }
  }

  /** Tell the app the server is shutting down. */
  shutdown(deadline: number): void {
    if (!this.ended) this.tell({ type: 'shutdown', stream: CONNECTION_STREAM, deadline });
  }

  /**
   * The connection is gone: every open stream gets `close`, the inbound stream completes and the
   * app's output is unsubscribed. Idempotent.
   */
  end(reason = 'connection closed'): void {
    if (this.ended) return;
    this.ended = true;
    if (this.accessLog) logConnection(this.info, performance.now() - this.opened);
    for (const stream of this.streamList()) {
      const code = stream.wsOpen ? WS_CODE.ABNORMAL : H2_CODE.CANCEL;
      this.peerClosed(stream, code, reason);
    }
    this.leaveHub();
    // An Observable app's inbound events complete, then its output is unsubscribed.
    this.endSession();
  }

  /** The stream is gone: its access line is written (when the log is on). */
  protected override forget(stream: S): void {
    super.forget(stream);
    const access = stream.access;
    if (access !== null) {
      stream.access = null;
      access.log();
    }
  }

  // -------------------------------------------------------------------------------------------
  // App side: the Observer of the app's output

  /** One outbound event from the app. */
  next(event: OutboundEvent): void {
    if ((this.flags & (APP_DONE | SESSION_ENDED)) !== 0) return;
    const stream = this.streamOf(event.stream);
    if (stream === undefined) {
      if (event.stream === CONNECTION_STREAM && !this.ended) this.connectionEvent(event);
      // Otherwise send-after-close (SPEC.md §8): the stream is gone, the event is dropped.
      return;
    }
    try {
      this.dispatch(stream, event);
    } catch (error) {
      // The app's output reaches the driver here, often from a timer or a promise: nothing
      // above would catch what failing the stream throws in turn.
      try {
        this.failStream(stream, error);
      } catch (again) {
        this.fault(again);
      }
    }
  }

  /** The app's output failed: every open stream fails and the connection closes. */
  error(error: unknown): void {
    if ((this.flags & (APP_DONE | SESSION_ENDED)) !== 0) return;
    this.appDone = true;
    try {
      logger().error('app failed; closing the connection', { connection: this.info.id, error });
      const failure = new RxgiError(ERR.APP_ERROR, 'the app failed', 500, { cause: error });
      for (const stream of this.streamList()) this.failStream(stream, failure, false);
    } catch (again) {
      this.fault(again);
    }
    this.closeWhenIdle();
    if (this.direct) this.endSession();
  }

  /** The app's output completed: streams still waiting get a 500, WebSockets close 1000. */
  complete(): void {
    if ((this.flags & (APP_DONE | SESSION_ENDED)) !== 0) return;
    this.appDone = true;
    if (this.ended) return;
    try {
      for (const stream of this.streamList()) {
        if (stream.wsOpen) this.closeStream(stream, WS_CODE.NORMAL, '');
        else {
          const failure = new RxgiError(ERR.NO_RESPONSE, 'the app completed before responding');
          this.failStream(stream, failure);
        }
      }
    } catch (again) {
      this.fault(again);
    }
    this.closeWhenIdle();
    if (this.direct) this.endSession();
  }

  /** A forwarded group message (spec/actors.md §4): bounded by the hub's `inboxBytes`. */
  protected sendForwarded(stream: S, data: Uint8Array | string): boolean | null {
    if (!stream.wsOpen || this.hub === null) return null;
    if (!this.forwardMessage(stream, data, this.hub.inboxBytes)) return false;
    stream.access?.sent(data);
    return true;
  }

  /** Events for stream 0 that concern the connection as a whole. */
  private connectionEvent(event: OutboundEvent): void {
    switch (event.type) {
      case 'close':
        this.closeConnection();
        return;
      case 'window':
      case 'join':
      case 'leave':
      case 'send':
      case 'group-send':
        this.rootEvent(event);
        return;
    }
  }

  private closeWhenIdle(): void {
    // A driver may open the stream that made it start the app right after `start`: let it.
    queueMicrotask(() => {
      if (this.streamCount === 0) this.closeConnection();
    });
  }

  private dispatch(stream: S, event: OutboundEvent): void {
    switch (event.type) {
      case 'response':
        if (stream.headSent) throw invalid(event, 'the response head was already sent');
        assertHead(event);
        if (stream.links !== null) event = withLinks(event, stream.links);
        // A head that leaves the exchange open (a streamed answer, an echo) comes before the
        // app reads the body, as it may well do next: the 100 goes first, since it cannot
        // follow the head and clients wait for one all the same. A complete answer goes
        // without, so the client need not send a body nobody reads.
        if (!event.end) this.continueOnce(stream);
        // Marked sent only once written: a head the wire refuses (a bad field) still gets a
        // 500, since the driver's error answer checks what actually went out.
        this.writeResponse(stream, event);
        stream.headSent = true;
        if (stream.access !== null) {
          stream.access.status = event.status;
          stream.access.sent(event.body);
        }
        if (event.end) this.outputEnded(stream);
        return;
      case 'data':
        if (!stream.headSent || stream.wsOpen) throw invalid(event, 'no response head was sent');
        this.writeData(stream, event);
        stream.access?.sent(event.chunk);
        if (event.end) this.outputEnded(stream);
        return;
      case 'trailers':
        if (!stream.headSent || stream.wsOpen) throw invalid(event, 'no response head was sent');
        if (stream.caps.trailers) this.writeTrailers(stream, event);
        else
          this.writeData(stream, {
            type: 'data',
            stream: stream.id,
            chunk: EMPTY_BYTES,
            end: true,
          });
        this.outputEnded(stream);
        return;
      case 'push':
        this.push(stream, event);
        return;
      case 'early-hints':
        if (stream.headSent) throw invalid(event, 'early hints must come before the head');
        // A 103 carries links to preload (RFC 8297); a handshake has nothing to preload, and a
        // WebSocket client expects its 101 or 200 first (SPEC.md §3.3).
        if (stream.caps.earlyHints && !stream.websocket && hasField(event.headers, 'link'))
          this.writeEarlyHints(stream, event);
        return;
      case 'ws-accept':
        if (!stream.websocket) throw invalid(event, 'the stream is not a WebSocket handshake');
        if (stream.headSent) throw invalid(event, 'the handshake was already answered');
        if (event.subprotocol !== null && !stream.offered.includes(event.subprotocol)) {
          throw invalid(event, `subprotocol ${event.subprotocol} was not offered`);
        }
        stream.headSent = true;
        stream.wsOpen = true;
        this.acceptWebSocket(stream, event);
        // RFC 6455 §4.2.2 answers 101; RFC 8441 §5, a 2xx (200).
        if (stream.access !== null)
          stream.access.status = stream.access.request.http === '2' ? 200 : 101;
        return;
      case 'ws-message':
        if (!stream.wsOpen) throw invalid(event, 'the WebSocket is not open');
        this.sendMessage(stream, event);
        stream.access?.sent(event.data);
        return;
      case 'close':
        this.appClose(stream, event);
        return;
      case 'window':
        stream.credit += event.bytes;
        this.granted(stream, event.bytes);
        if (stream.mail !== null) this.drainMail(stream);
        if (stream.credit > 0 && (stream.wsOpen || !stream.inEnded)) {
          this.continueOnce(stream);
          this.resumeInput(stream);
        }
        return;
      case 'join':
      case 'leave':
      case 'send':
      case 'group-send':
        this.actor(stream, event);
        return;
      default: {
        const type = (event as { type: unknown }).type;
        // Extension events (SPEC.md §10) that this driver does not know are dropped.
        if (typeof type === 'string' && type.startsWith('x-')) return;
        throw invalid(event, `unknown event type ${JSON.stringify(type)}`);
      }
    }
  }

  private push(stream: S, event: PushEvent): void {
    if (stream.caps.push) this.writePush(stream, event);
    else this.degradePush(stream, event);
  }

  /**
   * Degradation of a push, SPEC.md §6: hint the client before the head, or drop. Drivers call it
   * too when a push they offered turns out impossible (the client disabled push since).
   */
  protected degradePush(stream: S, event: PushEvent): void {
    if (stream.headSent) {
      logger().debug('push dropped: the response head was already sent', { path: event.path });
      return;
    }
    const link = `<${event.path}>; rel=preload`;
    if (stream.caps.earlyHints) {
      this.writeEarlyHints(stream, {
        type: 'early-hints',
        stream: stream.id,
        headers: ['link', link],
      });
    }
    stream.links ??= [];
    stream.links.push(link);
  }

  private appClose(stream: S, event: CloseOutEvent): void {
    if (stream.wsOpen) {
      this.closeStream(stream, event.code, event.reason);
    } else if (stream.websocket && !stream.headSent) {
      // Closing a handshake that was never accepted denies it (SPEC.md §4.2).
      this.failStream(stream, new RxgiError(ERR.APP_ERROR, 'handshake denied', 403), false);
    } else {
      const failure = new RxgiError(ERR.APP_ERROR, event.reason || 'the app closed the stream');
      this.failStream(stream, failure, false, event.code);
    }
  }

  /**
   * Answers `Expect: 100-continue` once (RFC 9110 §10.1.1, SPEC.md §5.1): at the app's first
   * credit or at a head that leaves the exchange open, whichever comes first; never after the
   * head, where a 100 would land inside the response.
   */
  private continueOnce(stream: S): void {
    if (!stream.expectContinue) return;
    stream.expectContinue = false;
    if (!stream.headSent) this.writeContinue(stream);
  }

  private outputEnded(stream: S): void {
    if (this.streamOf(stream.id) !== stream) return;
    if (stream.access !== null) stream.access.complete = true;
    if (!stream.inEnded) {
      // The response is complete before the body was read: the rest is discarded.
      this.peerClosed(stream, H2_CODE.NO_ERROR, 'response complete');
      this.discardInput(stream);
    } else {
      this.forget(stream);
    }
    if (this.appDone && this.streamCount === 0) this.closeConnection();
  }

  /** Close a WebSocket session from the server side and forget it. */
  protected closeStream(stream: S, code: number, reason: string): void {
    if (this.streamOf(stream.id) !== stream) return;
    this.forget(stream);
    this.closeWebSocket(stream, code, reason);
  }

  /** Close a WebSocket session from the server side and tell the app. */
  protected serverClose(stream: S, code: number, reason: string): void {
    if (this.streamOf(stream.id) !== stream) return;
    this.closeStream(stream, code, reason);
    this.tell({ type: 'close', stream: stream.id, code, reason });
  }

  /**
   * A `slow: 'close'` member fell behind (spec/actors.md §4): a WebSocket closes with 1008, an HTTP
   * exchange gets 503 before its head and is aborted (CANCEL) after it; the app gets `close`.
   */
  protected evictSlow(stream: S, group: string, dropped: number): void {
    if (this.streamOf(stream.id) !== stream) return;
    const reason = `slow consumer: ${dropped} messages of group ${group} dropped`;
    logger().warn('closing a slow group member', {
      connection: this.info.id,
      stream: stream.id,
      code: ERR.SLOW_CONSUMER,
      group,
      dropped,
    });
    if (stream.wsOpen) this.serverClose(stream, WS_CODE.POLICY, reason);
    else
      this.failStream(stream, new RxgiError(ERR.SLOW_CONSUMER, reason, 503), false, H2_CODE.CANCEL);
  }

  /**
   * A stream failed on the server side: before the head the client gets an error response
   * (the error's status), after it the exchange is aborted; a WebSocket closes with 1011.
   */
  protected failStream(
    stream: S,
    error: unknown,
    log = true,
    code: number = H2_CODE.INTERNAL_ERROR,
  ): void {
    if (this.streamOf(stream.id) !== stream) return;
    const rxgi = error instanceof RxgiError ? error : null;
    if (log) {
      logger().error(rxgi?.message ?? 'stream failed', {
        connection: this.info.id,
        stream: stream.id,
        code: rxgi?.code ?? ERR.APP_ERROR,
        error,
      });
    }
    const ws = stream.wsOpen;
    const access = stream.access;
    if (access !== null) {
      if (!stream.headSent) access.status = rxgi?.status ?? 500;
      else if (!ws) access.aborted = code;
    }
    this.forget(stream);
    try {
      if (ws) {
        this.closeWebSocket(stream, WS_CODE.INTERNAL_ERROR, 'internal error');
      } else if (!stream.headSent) {
        stream.headSent = true;
        this.writeError(stream, rxgi?.status ?? 500);
      } else {
        this.abort(stream, code);
      }
    } catch (wire) {
      // The wire refused even the error answer: the connection is in a state nobody planned.
      this.fault(wire);
    }
    const reason = rxgi?.message ?? 'stream failed';
    this.tell({
      type: 'close',
      stream: stream.id,
      code: ws ? WS_CODE.INTERNAL_ERROR : code,
      reason,
    });
    if (this.appDone && this.streamCount === 0) this.closeConnection();
  }

  // -------------------------------------------------------------------------------------------
  // Wire side: what each driver implements

  /** Write the response head, and the body when the event carries one. */
  protected abstract writeResponse(stream: S, event: ResponseEvent): void;
  /** Write a body chunk; `event.end` ends the response. */
  protected abstract writeData(stream: S, event: DataOutEvent): void;
  /** Write trailers and end the response (only called when `caps.trailers`). */
  protected abstract writeTrailers(stream: S, event: TrailersOutEvent): void;
  /** Write a 103 (only called when `caps.earlyHints`). */
  protected abstract writeEarlyHints(stream: S, event: EarlyHintsEvent): void;
  /** Promise and serve a push (only called when `caps.push`). */
  protected abstract writePush(stream: S, event: PushEvent): void;
  /** Complete the WebSocket handshake. */
  protected abstract acceptWebSocket(stream: S, event: WsAcceptEvent): void;
  /** Send a WebSocket message. */
  protected abstract sendMessage(stream: S, event: WsMessageOutEvent): void;
  /**
   * Send a forwarded group message on an open WebSocket, without counting it as the app's
   * output (no `window` comes back for it); false, having sent nothing, when more than `limit`
   * bytes of the session's output wait unsent.
   */
  protected abstract forwardMessage(stream: S, data: Uint8Array | string, limit: number): boolean;
  /** Close a WebSocket session with a close frame. */
  protected abstract closeWebSocket(stream: S, code: number, reason: string): void;
  /** Answer with a bare error response of `status` before any head was sent. */
  protected abstract writeError(stream: S, status: number): void;
  /** Abort an exchange whose head was sent. */
  protected abstract abort(stream: S, code: number): void;
  /** Read more input: the app granted credit. */
  protected abstract resumeInput(stream: S): void;
  /** Close the whole connection once pending output is written. */
  protected abstract closeConnection(): void;
  /** Close the whole connection at once, after an internal error (see `fault`). */
  protected teardown(): void {
    this.closeConnection();
  }
  /** The app granted `bytes` of input credit on a stream (a driver's accounting may count it). */
  protected granted(_stream: S, _bytes: number): void {}
  /** Send `100 Continue` (only called before the head, once per stream). */
  protected writeContinue(_stream: S): void {}
  /** Read and drop the rest of a request body nobody will read. node:http does it itself. */
  protected discardInput(_stream: S): void {}
}

function invalid(event: OutboundEvent, why: string): RxgiError {
  return new RxgiError(
    ERR.INVALID_EVENT,
    `invalid ${event.type} event on stream ${event.stream}: ${why}`,
  );
}

function withLinks(event: ResponseEvent, links: string[]): ResponseEvent {
  return { ...event, headers: [...event.headers, 'link', links.join(', ')] };
}
