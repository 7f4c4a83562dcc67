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
import { StreamState } from './stream-state.js';
import { StreamTable } from './table.js';

const NO_CAPS: Capabilities = { push: false, trailers: false, earlyHints: false, websocket: false };

/**
 * The actor half of a connection (SPEC.md §14): each stream, and the connection itself as
 * stream 0, has an address on the hub. The hub delivers messages here, into each stream's
 * inbox as its input credit allows; the app's `join`, `leave`, `send` and `group-send` go to
 * the hub; a stream that ends leaves its groups and sends its farewells. `Connection` builds
 * the protocol half on top.
 */
export abstract class ActorConnection<S extends StreamState> implements Mailbox {
  protected readonly streams = new StreamTable<S>();
  protected hub: Hub | null = null;
  /** The connection has ended: nothing is delivered any more. */
  protected ended = false;
  /** Stream 0, the connection itself, as an actor: its credit, mail and groups. */
  private root: StreamState | null = null;

  constructor(readonly info: ConnectionInfo) {}

  /** One inbound event, for the app. */
  protected abstract tell(event: InboundEvent): void;

  /** A stream is gone: it leaves its groups and its mail is dropped (at most once). */
  protected forget(stream: S): void {
    this.streams.delete(stream.id);
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
        state.groups ??= new Map();
        state.groups.set(event.group, event.farewell);
        hub.join(event.group, address, this, state.id);
        return;
      case 'leave':
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

  /** Report a message refused at once, after the app's current event (no re-entry). */
  private refused(state: StreamState, to: string, reason: Undelivered | null): void {
    if (reason === null) return;
    queueMicrotask(() => this.undelivered(state.id, to, reason));
  }

  /** @internal Mailbox: a message for one of this connection's streams. */
  deliver(stream: number, from: string, group: string | null, data: Value, size: number): Delivery {
    const state = stream === CONNECTION_STREAM ? this.root : this.streams.get(stream);
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
      return 'full';
    }
    state.mail.push(event);
    state.mailBytes += size;
    return 'ok';
  }

  /** @internal Mailbox: a message a stream sent was refused. */
  undelivered(stream: number, to: string, reason: Undelivered): void {
    const open = stream === CONNECTION_STREAM ? !this.ended : this.streams.has(stream);
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
  }
}
