import type { AccessEntry } from './access-log.js';
import type { Capabilities, MessageEvent, Value } from './events.js';

/** The subprotocols of a request that offers none: one frozen list, shared by the drivers. */
export const NO_PROTOCOLS = Object.freeze([]) as unknown as string[];

/** What a stream's slow-consumer handling keeps (spec/actors.md §4); made at its first drop or join. */
export interface SlowState {
  /** Group messages dropped since the inbox was last empty. */
  dropped: number;
  /** Of those, how many a `dropped` event has told the app of. */
  told: number;
  /** A `dropped` event is due after the current turn. */
  due: boolean;
  /** Groups joined with `slow: 'close'`, with their `maxDropped`. */
  closeAfter: Map<string, number> | null;
}

/**
 * The state every driver keeps for one stream. Drivers extend it with their wire objects.
 * Fields are public so drivers can read them; only the connection changes them.
 */
export class StreamState {
  /** The response head (or `ws-accept`) has been sent. */
  headSent = false;
  /** The WebSocket session is open (after `ws-accept`). */
  wsOpen = false;
  /** The request body has been delivered to its end. */
  inEnded: boolean;
  /** Inbound bytes the app has granted and not yet received (SPEC.md §5). */
  credit = 0;
  /** Outbound bytes flushed to the wire and not yet granted back to the app. */
  owed = 0;
  /** Link values from pushes that degraded to a `Link` header (SPEC.md §6). */
  links: string[] | null = null;
  /** Subprotocols a WebSocket client offered. */
  offered: string[] = NO_PROTOCOLS;
  /** The request expects `100 Continue` and has had none yet (set by the driver). */
  expectContinue = false;
  /** Actor messages waiting for input credit: the stream's inbox (spec/actors.md §4). */
  mail: MessageEvent[] | null = null;
  /** Bytes of the messages in `mail`. */
  mailBytes = 0;
  /** Groups this stream joined, with the farewell to send when it closes (spec/actors.md §2). */
  groups: Map<string, Value | undefined> | null = null;
  /** Group messages dropped for this stream, and its `slow: 'close'` memberships (spec/actors.md §4). */
  slow: SlowState | null = null;
  /** What the access log counts for this exchange; null when the log is off (docs/server.md). */
  access: AccessEntry | null = null;

  constructor(
    readonly id: number,
    readonly caps: Capabilities,
    /** The stream is a WebSocket handshake. */
    readonly websocket: boolean,
    inEnded: boolean,
  ) {
    this.inEnded = inEnded;
  }
}
