/**
 * What remote workers (`remote.ts`, `worker.ts`) put on the bus: msgpack frames
 * `[version, kind, key, seq, payload]`, and the per-stream bookkeeping both sides share.
 *
 * `key` names a worker, a server or a connection (by kind); `seq` numbers the frames of one
 * connection in one direction, so a frame the at-most-once bus lost is noticed instead of
 * silently leaving a hole in a body; `payload` depends on the kind (see `FRAME_KIND`). Events travel
 * as `encodeEvent` bytes, so they cross exactly as the codec of SPEC.md §9 defines.
 */
import { Encoder } from '@msgpack/msgpack';
import type { ConnectionInfo } from '../../core/app.js';
import { Throttled } from '../../core/bus.js';
import { decodeEvent, encodeEvent, plainDecoder } from '../../core/codec.js';
import { openVersioned } from '../../core/envelope.js';
import { ERR } from '../../core/errors.js';
import type { InboundEvent, OutboundEvent, RxgiEvent } from '../../core/events.js';
import { logger } from '../../core/log.js';
import { StreamTable } from '../../core/table.js';

/** The frame format version; frames of another version are dropped. */
export const FRAME_VERSION = 1;

/** Default largest frame accepted: a 16 MiB WebSocket message (the serve default) fits. */
export const MAX_FRAME_SIZE = 32 * 1024 * 1024;

/** Frame kinds, with the direction, key and payload of each. */
export const FRAME_KIND = {
  /** worker → `<prefix>.workers`: key worker id, payload `{ load, accepting }`. */
  HELLO: 1,
  /** worker → `<prefix>.workers`: key worker id; the worker is gone. */
  BYE: 2,
  /** server → worker: key connection, seq 0, payload `{ server, info }`. */
  OPEN: 3,
  /** both ways: key connection, payload the `encodeEvent` bytes of one event. */
  EVENT: 4,
  /** server → worker: the connection ended. worker → server: the worker dropped it. */
  END: 5,
  /** worker → server: the app's output completed. */
  COMPLETE: 6,
  /** worker → server: the app's output failed; payload the error message. */
  ERROR: 7,
  /** server → worker: key server id; the server is alive and has connections there. */
  PING: 8,
  /** server → worker: key server id; forget every connection of that server. */
  RESET: 9,
  /** server → `<prefix>.discover`: key server id; every worker announces itself at once. */
  DISCOVER: 10,
} as const;

type FrameKind = (typeof FRAME_KIND)[keyof typeof FRAME_KIND];

/** A decoded frame. */
export type Frame =
  | { kind: typeof FRAME_KIND.HELLO; key: string; seq: number; load: number; accepting: boolean }
  | { kind: typeof FRAME_KIND.OPEN; key: string; seq: number; server: string; info: ConnectionInfo }
  | { kind: typeof FRAME_KIND.EVENT; key: string; seq: number; event: RxgiEvent }
  | { kind: typeof FRAME_KIND.ERROR; key: string; seq: number; message: string }
  | {
      kind:
        | typeof FRAME_KIND.BYE
        | typeof FRAME_KIND.END
        | typeof FRAME_KIND.COMPLETE
        | typeof FRAME_KIND.PING
        | typeof FRAME_KIND.RESET
        | typeof FRAME_KIND.DISCOVER;
      key: string;
      seq: number;
    };

/** Why a frame was dropped on arrival. */
export type DropReason = 'tooLarge' | 'malformed' | 'version';

const encoder = new Encoder({ ignoreUndefined: true });
// Frames are small shapes around one bin payload: tight limits make a hostile frame cheap.
const decoder = plainDecoder({ maxArrayLength: 16, maxMapLength: 32, maxStrLength: 65_536 });

/** Worker and server ids go into subjects: no dots, wildcards or spaces. */
const ID = /^[A-Za-z0-9_-]{1,64}$/;

/** Encode a frame without an event. */
export function encodeFrame(
  kind: FrameKind,
  key: string,
  seq = 0,
  payload: unknown = null,
): Uint8Array {
  return encoder.encode([FRAME_VERSION, kind, key, seq, payload]);
}

/** Encode an EVENT frame; throws when the event is not plain data. */
export function encodeEventFrame(key: string, seq: number, event: RxgiEvent): Uint8Array {
  return encodeFrame(FRAME_KIND.EVENT, key, seq, encodeEvent(event));
}

/** Decode a frame, or say why it is dropped. Never throws. */
export function decodeFrame(bytes: Uint8Array, maxSize: number): Frame | DropReason {
  if (bytes.byteLength > maxSize) return 'tooLarge';
  const fields = openVersioned(bytes, FRAME_VERSION, decoder);
  if (typeof fields === 'string') return fields;
  const [kind, key, seq, payload] = fields;
  if (typeof key !== 'string' || !Number.isSafeInteger(seq) || (seq as number) < 0) {
    return 'malformed';
  }
  const head = { key, seq: seq as number };
  try {
    switch (kind) {
      case FRAME_KIND.HELLO: {
        const hello = payload as { load?: unknown; accepting?: unknown } | null;
        if (!ID.test(key) || typeof hello?.load !== 'number') return 'malformed';
        if (typeof hello.accepting !== 'boolean') return 'malformed';
        return { kind, ...head, load: hello.load, accepting: hello.accepting };
      }
      case FRAME_KIND.OPEN: {
        const open = payload as { server?: unknown; info?: unknown } | null;
        if (typeof open?.server !== 'string' || !ID.test(open.server)) return 'malformed';
        if (!isInfo(open.info)) return 'malformed';
        return { kind, ...head, server: open.server, info: open.info };
      }
      case FRAME_KIND.EVENT:
        if (!(payload instanceof Uint8Array)) return 'malformed';
        return { kind, ...head, event: decodeEvent(payload) };
      case FRAME_KIND.ERROR:
        return { kind, ...head, message: typeof payload === 'string' ? payload : 'app failed' };
      case FRAME_KIND.BYE:
      case FRAME_KIND.PING:
      case FRAME_KIND.RESET:
      case FRAME_KIND.DISCOVER:
        return ID.test(key) ? { kind, ...head } : 'malformed';
      case FRAME_KIND.END:
      case FRAME_KIND.COMPLETE:
        return { kind, ...head };
      default:
        return 'malformed';
    }
  } catch {
    return 'malformed'; // decodeEvent: the payload is not an event
  }
}

function isInfo(value: unknown): value is ConnectionInfo {
  const info = value as Partial<Record<keyof ConnectionInfo, unknown>> | null;
  const address = (a: unknown) => a === null || (Array.isArray(a) && a.length === 2);
  return (
    typeof info === 'object' &&
    info !== null &&
    typeof info.id === 'string' &&
    typeof info.address === 'string' &&
    typeof info.protocol === 'string' &&
    typeof info.secure === 'boolean' &&
    address(info.client) &&
    address(info.server)
  );
}

/** Frames dropped on arrival, counted and logged at most once per 10 s per reason. */
export class FrameDrops {
  readonly counts: Record<DropReason | 'unknown', number> = {
    tooLarge: 0,
    malformed: 0,
    version: 0,
    unknown: 0,
  };
  private readonly warn: Record<DropReason, Throttled>;

  constructor(side: string) {
    this.warn = {
      tooLarge: new Throttled(`${side}: dropped a frame over maxFrameSize`),
      malformed: new Throttled(`${side}: dropped a malformed frame`),
      version: new Throttled(`${side}: dropped a frame of another version`),
    };
  }

  note(reason: DropReason, subject: string): void {
    this.counts[reason]++;
    this.warn[reason].note({ subject });
  }
}

/** What one side knows of a stream's exchange, from the events it saw pass. */
export interface RemoteExchange {
  /** The stream. */
  readonly id: number;
  /** A response head or `ws-accept` went out. */
  head: boolean;
  /** The WebSocket session is open. */
  ws: boolean;
  inEnded: boolean;
  outEnded: boolean;
}

/**
 * The open streams of a connection, followed through its events as `core/connection.ts` keeps
 * them: a stream lives from its `request` until a `close` either way, or until both its body
 * and its response have ended.
 */
export class RemoteExchanges {
  /** Not a `Map`: see core/table.ts. */
  private readonly open = new StreamTable<RemoteExchange>();

  get size(): number {
    return this.open.size;
  }

  /** A snapshot, safe to iterate while streams close. */
  values(): RemoteExchange[] {
    return this.open.values();
  }

  inbound(event: InboundEvent): void {
    if (event.type === 'request') {
      this.open.set({
        id: event.stream,
        head: false,
        ws: false,
        inEnded: event.end,
        outEnded: false,
      });
      return;
    }
    const exchange = this.open.get(event.stream);
    if (exchange === undefined) return;
    if (event.type === 'close') this.open.delete(event.stream);
    else if ((event.type === 'data' && event.end) || event.type === 'trailers') {
      exchange.inEnded = true;
      this.settle(event.stream, exchange);
    }
  }

  outbound(event: OutboundEvent): void {
    const exchange = this.open.get(event.stream);
    if (exchange === undefined) return;
    switch (event.type) {
      case 'close':
        this.open.delete(event.stream);
        return;
      case 'ws-accept':
        exchange.head = true;
        exchange.ws = true;
        return;
      case 'response':
        exchange.head = true;
        exchange.outEnded = event.end;
        break;
      case 'data':
        exchange.outEnded = event.end;
        break;
      case 'trailers':
        exchange.outEnded = true;
        break;
      default:
        return;
    }
    this.settle(event.stream, exchange);
  }

  get(stream: number): RemoteExchange | undefined {
    return this.open.get(stream);
  }

  private settle(stream: number, exchange: RemoteExchange): void {
    // A response complete before its body was read ends with a `close` from the driver instead.
    if (exchange.inEnded && exchange.outEnded && !exchange.ws) this.open.delete(stream);
  }
}

/**
 * Run a timer's work as a boundary: a throw in a timer callback ends the process, and every
 * connection with it. It is logged as an internal error and the next tick tries again.
 */
export function guarded(what: string, work: () => void): void {
  try {
    work();
  } catch (error) {
    logger().error(`internal error in ${what}`, { code: ERR.INTERNAL, error });
  }
}
