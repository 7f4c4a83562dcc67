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

/** The part of a stream's state that few streams use, kept apart (see `StreamState.rare`). */
interface RareState {
  offered: string[];
  access: AccessEntry | null;
  links: string[] | null;
  mail: MessageEvent[] | null;
  mailBytes: number;
  groups: Map<string, Value | undefined> | null;
  slow: SlowState | null;
}

/**
 * The bits of `StreamState.flags`. Its booleans share one number: a field costs 8 bytes in every
 * stream for as long as it is open, and an idle WebSocket session is a stream that stays open
 * (docs/internals.md, "Memory per idle WebSocket"). Subclasses take bits from `FIRST_FREE_BIT`.
 */
const HEAD_SENT = 1;
const WS_OPEN = 2;
const IN_ENDED = 4;
const EXPECT_CONTINUE = 8;
const WEBSOCKET = 16;
/** The first bit of `flags` a subclass may use for its own booleans. */
export const FIRST_FREE_BIT = 32;

/** `flags` with `bit` set when `on`, else cleared. */
export function withBit(flags: number, bit: number, on: boolean): number {
  return on ? flags | bit : flags & ~bit;
}

/**
 * The state every driver keeps for one stream. Drivers extend it with their wire objects.
 * Fields are public so drivers can read them; only the connection changes them.
 */
export class StreamState {
  /** The booleans below, and a subclass's, as bits. */
  protected flags: number;
  /** Inbound bytes the app has granted and not yet received (SPEC.md §5). */
  credit = 0;
  /** Outbound bytes flushed to the wire and not yet granted back to the app. */
  owed = 0;
  /**
   * What few streams use (offered subprotocols, the access log's entry, `links`, the actor
   * state): made when first set.
   */
  private rare: RareState | null = null;

  constructor(
    readonly id: number,
    readonly caps: Capabilities,
    websocket: boolean,
    inEnded: boolean,
  ) {
    this.flags = (websocket ? WEBSOCKET : 0) | (inEnded ? IN_ENDED : 0);
  }

  /** Subprotocols a WebSocket client offered. */
  get offered(): string[] {
    return this.rare?.offered ?? NO_PROTOCOLS;
  }
  set offered(offered: string[]) {
    if (offered !== NO_PROTOCOLS || this.rare !== null) this.rareState().offered = offered;
  }

  /** What the access log counts for this exchange; null when the log is off (docs/server.md). */
  get access(): AccessEntry | null {
    return this.rare?.access ?? null;
  }
  set access(access: AccessEntry | null) {
    if (access !== null || this.rare !== null) this.rareState().access = access;
  }

  /** Link values from pushes that degraded to a `Link` header (SPEC.md §6). */
  get links(): string[] | null {
    return this.rare?.links ?? null;
  }
  set links(links: string[] | null) {
    if (links !== null || this.rare !== null) this.rareState().links = links;
  }

  /** Actor messages waiting for input credit: the stream's inbox (spec/actors.md §4). */
  get mail(): MessageEvent[] | null {
    return this.rare?.mail ?? null;
  }
  set mail(mail: MessageEvent[] | null) {
    if (mail !== null || this.rare !== null) this.rareState().mail = mail;
  }

  /** Bytes of the messages in `mail`. */
  get mailBytes(): number {
    return this.rare?.mailBytes ?? 0;
  }
  set mailBytes(bytes: number) {
    if (bytes !== 0 || this.rare !== null) this.rareState().mailBytes = bytes;
  }

  /** Groups this stream joined, with the farewell to send when it closes (spec/actors.md §2). */
  get groups(): Map<string, Value | undefined> | null {
    return this.rare?.groups ?? null;
  }
  set groups(groups: Map<string, Value | undefined> | null) {
    if (groups !== null || this.rare !== null) this.rareState().groups = groups;
  }

  /** Group messages dropped for this stream, and its `slow: 'close'` memberships (spec/actors.md §4). */
  get slow(): SlowState | null {
    return this.rare?.slow ?? null;
  }
  set slow(slow: SlowState | null) {
    if (slow !== null || this.rare !== null) this.rareState().slow = slow;
  }

  private rareState(): RareState {
    this.rare ??= {
      offered: NO_PROTOCOLS,
      access: null,
      links: null,
      mail: null,
      mailBytes: 0,
      groups: null,
      slow: null,
    };
    return this.rare;
  }

  /** The stream is a WebSocket handshake. */
  get websocket(): boolean {
    return (this.flags & WEBSOCKET) !== 0;
  }

  /** The response head (or `ws-accept`) has been sent. */
  get headSent(): boolean {
    return (this.flags & HEAD_SENT) !== 0;
  }
  set headSent(on: boolean) {
    this.flags = withBit(this.flags, HEAD_SENT, on);
  }

  /** The WebSocket session is open (after `ws-accept`). */
  get wsOpen(): boolean {
    return (this.flags & WS_OPEN) !== 0;
  }
  set wsOpen(on: boolean) {
    this.flags = withBit(this.flags, WS_OPEN, on);
  }

  /** The request body has been delivered to its end. */
  get inEnded(): boolean {
    return (this.flags & IN_ENDED) !== 0;
  }
  set inEnded(on: boolean) {
    this.flags = withBit(this.flags, IN_ENDED, on);
  }

  /** The request expects `100 Continue` and has had none yet (set by the driver). */
  get expectContinue(): boolean {
    return (this.flags & EXPECT_CONTINUE) !== 0;
  }
  set expectContinue(on: boolean) {
    this.flags = withBit(this.flags, EXPECT_CONTINUE, on);
  }
}
