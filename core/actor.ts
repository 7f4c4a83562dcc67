import type { ConnectionInfo } from './app.js';
import { ERR, RxgiError } from './errors.js';
import {
  type Capabilities,
  CONNECTION_STREAM,
  type GroupSendEvent,
  type InboundEvent,
  type JoinEvent,
  type LeaveEvent,
  type MessageEvent,
  type SendEvent,
  type Undelivered,
  type Value,
  type WindowOutEvent,
} from './events.js';
import { type Delivery, Hub, type Mailbox } from './hub.js';
import { logger } from './log.js';
import { type SlowState, StreamState, withBit } from './stream-state.js';
import { StreamSlots } from './table.js';

const ENDED = 1;
/** The first bit of `ActorConnection.flags` a subclass may use. */
export const CONNECTION_FREE_BIT = 2;

const NO_CAPS: Capabilities = { push: false, trailers: false, earlyHints: false, websocket: false };

/**
 * The actor half of a connection (spec/actors.md): each stream, and the connection itself as
 * stream 0, has an address on the hub. The hub delivers messages here, into each stream's
 * inbox as its input credit allows; the app's `join`, `leave`, `send` and `group-send` go to
 * the hub; a stream that ends leaves its groups and sends its farewells. `Connection` builds
 * the protocol half on top.
 */
export abstract class ActorConnection<S extends StreamState>
  extends StreamSlots<S>
  implements Mailbox
{
  protected hub: Hub | null = null;
  /**
   * The connection's booleans as bits, as a stream's are (`StreamState.flags`): bit 0 is
   * `ended`, subclasses take theirs from `CONNECTION_FREE_BIT`.
   */
  protected flags = 0;
  /** Stream 0, the connection itself, as an actor: its credit, mail and groups. */
  private root: StreamState | null = null;

  constructor(readonly info: ConnectionInfo) {
    super();
  }

  /** The connection has ended: nothing is delivered any more. */
  protected get ended(): boolean {
    return (this.flags & ENDED) !== 0;
  }
  protected set ended(on: boolean) {
    this.flags = withBit(this.flags, ENDED, on);
  }

  /** One inbound event, for the app. */
  protected abstract tell(event: InboundEvent): void;

  /** A stream is gone: it leaves its groups and its mail is dropped (at most once). */
  protected forget(stream: S): void {
    this.dropStream(stream.id);
    if (stream.groups !== null) this.leaveAll(stream);
    stream.mail = null;
    stream.mailBytes = 0;
  }

  /** The stream closed: it leaves every group, and its farewells go out. */
  private leaveAll(state: StreamState): void {
    const address = this.addressOf(state.id);
    for (const [group, farewell] of state.groups ?? []) {
      this.hub?.leave(group, address);
      if (farewell !== undefined) this.hub?.groupSend(address, group, farewell);
    }
    state.groups = null;
  }

  private addressOf(stream: number): string {
    return `${this.info.address}/${stream}`;
  }

  /** Actor events for stream 0, the connection itself: credit for its mail, groups, sends. */
  protected rootEvent(
    event: WindowOutEvent | JoinEvent | LeaveEvent | SendEvent | GroupSendEvent,
  ): void {
    this.root ??= new StreamState(CONNECTION_STREAM, NO_CAPS, false, true);
    if (event.type === 'window') {
      this.root.credit += event.bytes;
      this.drainMail(this.root);
      return;
    }
    try {
      this.actor(this.root, event);
    } catch (error) {
      logger().error('invalid event on stream 0', { connection: this.info.id, error });
    }
  }

  /** The connection ended: stream 0 leaves its groups, and the hub forgets its address. */
  protected leaveHub(): void {
    if (this.root !== null) this.leaveAll(this.root);
    this.hub?.unregister(this.info.id);
  }

  protected actor(
    state: StreamState,
    event: JoinEvent | LeaveEvent | SendEvent | GroupSendEvent,
  ): void {
    const hub = this.hub;
    if (hub === null) return;
    const address = this.addressOf(state.id);
    switch (event.type) {
      case 'join':
        if (!Hub.validGroup(event.group))
          throw new RxgiError(
            ERR.INVALID_EVENT,
            `invalid join event on stream ${event.stream}: group name ${JSON.stringify(event.group)} is not valid`,
          );
        checkForward(state, event);
        state.groups ??= new Map();
        state.groups.set(event.group, event.farewell);
        this.slowPolicy(state, event);
        hub.join(event.group, address, this, state.id, event.forward === true);
        return;
      case 'leave':
        state.slow?.closeAfter?.delete(event.group);
        if (state.groups?.delete(event.group)) hub.leave(event.group, address);
        return;
      case 'send':
        this.refused(state, event.to, hub.send(address, event.to, event.data));
        return;
      case 'group-send':
        this.refused(state, event.group, hub.groupSend(address, event.group, event.data));
        return;
    }
  }

  /** Keep a join's `slow` choice; an invalid one fails the stream (RXGI_ERR_INVALID_EVENT). */
  private slowPolicy(state: StreamState, event: JoinEvent): void {
    const { slow, maxDropped } = event;
    if (slow === undefined || slow === 'drop') {
      if (maxDropped === undefined) {
        state.slow?.closeAfter?.delete(event.group);
        return;
      }
    } else if (slow === 'close') {
      if (maxDropped === undefined || (Number.isSafeInteger(maxDropped) && maxDropped >= 0)) {
        const record = slowState(state);
        record.closeAfter ??= new Map();
        record.closeAfter.set(event.group, maxDropped ?? 0);
        return;
      }
    }
    state.groups?.delete(event.group);
    throw new RxgiError(
      ERR.INVALID_EVENT,
      `invalid join event on stream ${event.stream}: slow must be 'drop' or 'close', and ` +
        `maxDropped a non-negative integer given with slow: 'close' (got ${JSON.stringify({ slow, maxDropped })})`,
    );
  }

  /**
   * A message of `group` found the stream's inbox full and is dropped (spec/actors.md §4): counted;
   * the app is told once after this turn; a `slow: 'close'` member past its `maxDropped` is
   * closed instead. Both happen after the delivery, never inside the hub's fan-out.
   */
  private overflow(state: StreamState, group: string): void {
    const slow = slowState(state);
    slow.dropped++;
    const limit = slow.closeAfter?.get(group);
    if (limit !== undefined && slow.dropped > limit && state.id !== CONNECTION_STREAM) {
      const dropped = slow.dropped;
      slow.closeAfter = null; // closed once
      queueMicrotask(() => this.evictSlow(state as S, group, dropped));
      return;
    }
    if (slow.told === 0 && !slow.due) {
      slow.due = true;
      queueMicrotask(() => this.tellDropped(state));
    }
  }

  /** Tell the app of the drops it has not heard of, if its stream is still open. */
  private tellDropped(state: StreamState): void {
    const slow = state.slow;
    if (slow === null) return;
    slow.due = false;
    const count = slow.dropped - slow.told;
    if (count <= 0) return;
    slow.told = slow.dropped;
    const open = state.id === CONNECTION_STREAM ? !this.ended : this.streamOf(state.id) === state;
    if (open) this.tell({ type: 'dropped', stream: state.id, count });
  }

  /**
   * Close a stream that joined `group` with `slow: 'close'` and fell more than its `maxDropped`
   * messages behind: a WebSocket with 1008, an HTTP exchange aborted (spec/actors.md §4).
   */
  protected abstract evictSlow(stream: S, group: string, dropped: number): void;

  /**
   * Send a group's message out on the stream's WebSocket for the app (a `join` with `forward`,
   * spec/actors.md §4): true when sent, false when the session's unsent output is past the
   * limit (the message is dropped for this member), null when the stream is not an open
   * WebSocket (the message goes to its inbox instead).
   */
  protected abstract sendForwarded(stream: S, data: Uint8Array | string): boolean | null;

  /** Report a message refused at once, after the app's current event (no re-entry). */
  private refused(state: StreamState, to: string, reason: Undelivered | null): void {
    if (reason === null) return;
    queueMicrotask(() => this.undelivered(state.id, to, reason));
  }

  /** @internal Mailbox: a message for one of this connection's streams. */
  deliver(stream: number, from: string, group: string | null, data: Value, size: number): Delivery {
    const state = stream === CONNECTION_STREAM ? this.root : this.streamOf(stream);
    if (this.ended || state === null || state === undefined) {
      // Stream 0 exists as long as the connection; it has no credit until the app grants some.
      if (this.ended || stream !== CONNECTION_STREAM) return 'gone';
      this.root = new StreamState(CONNECTION_STREAM, NO_CAPS, false, true);
      return this.deliver(stream, from, group, data, size);
    }
    const event: MessageEvent = { type: 'message', stream, from, group, data, size };
    if (state.credit > 0 && (state.mail === null || state.mail.length === 0)) {
      state.credit -= size;
      this.tell(event);
      return 'ok';
    }
    state.mail ??= [];
    const hub = this.hub as Hub;
    const held = state.mail.length;
    if (held >= hub.inboxCapacity || (held > 0 && state.mailBytes + size > hub.inboxBytes)) {
      if (group !== null) this.overflow(state, group);
      return 'full';
    }
    state.mail.push(event);
    state.mailBytes += size;
    return 'ok';
  }

  /** @internal Mailbox: a group message for a stream that joined with `forward`. */
  forward(stream: number, group: string, data: Uint8Array | string): Delivery | null {
    const state = this.ended ? undefined : this.streamOf(stream);
    if (state === undefined) return 'gone';
    const sent = this.sendForwarded(state, data);
    if (sent === null) return null;
    if (!sent) {
      this.overflow(state, group);
      return 'full';
    }
    // Sent with nothing waiting: the member keeps up again, told after the fan-out.
    const mail = state.mail;
    if ((state.slow?.dropped ?? 0) > 0 && (mail === null || mail.length === 0)) {
      queueMicrotask(() => this.caughtUp(state));
    }
    return 'ok';
  }

  /** @internal Mailbox: a message a stream sent was refused. */
  undelivered(stream: number, to: string, reason: Undelivered): void {
    const open = stream === CONNECTION_STREAM ? !this.ended : this.hasStream(stream);
    if (open) this.tell({ type: 'undelivered', stream, to, reason });
  }

  /** Deliver waiting messages while the stream has credit. */
  protected drainMail(state: StreamState): void {
    const mail = state.mail;
    if (mail === null) return;
    let taken = 0;
    while (taken < mail.length && state.credit > 0 && state.mail === mail) {
      const event = mail[taken++] as MessageEvent;
      state.mailBytes -= event.size;
      state.credit -= event.size;
      this.tell(event);
    }
    if (state.mail === mail) mail.splice(0, taken);
    if (mail.length === 0) this.caughtUp(state);
  }

  /**
   * The stream keeps up again (its inbox is empty, or a forwarded message went out with none
   * waiting): drops since the first report are told, and counting restarts.
   */
  private caughtUp(state: StreamState): void {
    const slow = state.slow;
    if (slow === null || slow.dropped === 0) return;
    this.tellDropped(state);
    slow.dropped = 0;
    slow.told = 0;
  }
}

function slowState(state: StreamState): SlowState {
  state.slow ??= { dropped: 0, told: 0, due: false, closeAfter: null };
  return state.slow;
}

/** A join's `forward` must be a boolean, and true only on a WebSocket stream (RXGI_ERR_INVALID_EVENT). */
function checkForward(state: StreamState, event: JoinEvent): void {
  const { forward } = event;
  if (forward === undefined || forward === false || (forward === true && state.websocket)) return;
  throw new RxgiError(
    ERR.INVALID_EVENT,
    `invalid join event on stream ${event.stream}: forward must be a boolean, and true only on a WebSocket stream (got ${JSON.stringify(forward)})`,
  );
}
