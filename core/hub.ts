/**
 * The hub: connections as actors (spec/actors.md). Every stream has an address, may join groups,
 * and receives what is sent to either; the hub carries it over a `Bus`, so the same app works in
 * one process (the embedded `MemoryBus`) and across processes and machines (Redis, NATS).
 *
 * Memberships live only in the process that holds the connection, and the bus subscription for
 * a group only while a local member exists: when a connection or a process dies, nothing stays
 * behind in a broker, so no membership needs an expiry (channels_redis keeps them for a day).
 */
import { type Bus, type BusRefusal, MemoryBus, type PublishOptions, Throttled } from './bus.js';
import { decodeEnvelope, ENVELOPE_KIND, encodeEnvelope } from './envelope.js';
import type { Undelivered, Value } from './events.js';

/** What a hub delivers to: a connection. */
export interface Mailbox {
  /** Deliver a message to `stream`; `full` when its inbox is full, `gone` when it is closed. */
  deliver(stream: number, from: string, group: string | null, data: Value, size: number): Delivery;
  /** A message `stream` sent was refused by its destination. */
  undelivered(stream: number, to: string, reason: Undelivered): void;
  /**
   * Send a group message out for `stream`, a member that joined with `forward`
   * (spec/actors.md §4): as `deliver` says, or null when it must be delivered instead.
   */
  forward?(stream: number, group: string, data: Uint8Array | string): Delivery | null;
}

export type Delivery = 'ok' | 'full' | 'gone';

/** Options of a hub; defaults in `HUB_DEFAULTS`. */
export interface HubOptions {
  /** The bus between processes. Default: a new `MemoryBus` (this process only). */
  bus?: Bus;
  /** Prefix of every bus subject, to share a broker between deployments. Default `rxgi`. */
  prefix?: string;
  /** Largest encoded message in bytes; larger ones are refused (`too-large`). Default 1 MiB. */
  maxMessageSize?: number;
  /** Messages an address holds while its stream has no input credit. Default 100. */
  inboxCapacity?: number;
  /**
   * Bytes (of envelopes) an address holds while its stream has no input credit; an empty inbox
   * still takes one message of any allowed size. Default 1 MiB.
   */
  inboxBytes?: number;
}

export const HUB_DEFAULTS = {
  prefix: 'rxgi',
  maxMessageSize: 1024 * 1024,
  inboxCapacity: 100,
  inboxBytes: 1024 * 1024,
} as const;

/** What a hub counts; read it for metrics. */
export interface HubStats {
  /** Messages sent and group messages published by this process. */
  sent: number;
  /** Messages given to a local stream. */
  delivered: number;
  /** Sends refused by a full inbox (the sender got `undelivered`). */
  refused: number;
  /** Messages the bus reported undelivered to their sender here (spec/actors.md §5). */
  bounced: { full: number; gone: number };
  /** Messages dropped on arrival, by why. Each kind also logs, at most once per 10 s. */
  dropped: {
    /** A group member's inbox was full. */
    full: number;
    /** The address was closed. */
    gone: number;
    /** Not an envelope. */
    malformed: number;
    /** An envelope of another version. */
    version: number;
    /** Larger than `maxMessageSize`. */
    tooLarge: number;
  };
}

/** Sends to another process ask the bus to report an address whose process is gone. */
const REPORT_GONE: PublishOptions = { gone: true };

/** Group names: letters, digits, `_`, `-` and `:`, 1 to 100 of them (safe on every bus). */
const GROUP_NAME = /^[A-Za-z0-9_:-]{1,100}$/;

interface Member {
  mailbox: Mailbox;
  stream: number;
  /** Joined with `forward`: string and byte messages go to `mailbox.forward`. */
  forward: boolean;
}

interface Group {
  members: Map<string, Member>;
  unsubscribe: () => void;
}

export class Hub {
  /** This process's id on the bus: the first part of every local address. */
  readonly node: string;
  readonly bus: Bus;
  readonly stats: HubStats = {
    sent: 0,
    delivered: 0,
    refused: 0,
    bounced: { full: 0, gone: 0 },
    dropped: { full: 0, gone: 0, malformed: 0, version: 0, tooLarge: 0 },
  };
  readonly inboxCapacity: number;
  readonly inboxBytes: number;
  private readonly prefix: string;
  /** `node/`: the start of every local address. */
  private readonly addressPrefix: string;
  private readonly maxMessageSize: number;
  private readonly mailboxes = new Map<string, Mailbox>();
  private readonly groups = new Map<string, Group>();
  private readonly unsubscribe: () => void;
  private readonly unhear: (() => void) | undefined;
  private readonly warnings = {
    full: new Throttled('group message dropped: a member inbox is full'),
    gone: new Throttled('message dropped: its address is closed'),
    malformed: new Throttled('bus message dropped: not an rxgi envelope'),
    version: new Throttled('bus message dropped: envelope of another version'),
    tooLarge: new Throttled('bus message dropped: larger than maxMessageSize'),
  };

  constructor(options: HubOptions = {}) {
    this.bus = options.bus ?? new MemoryBus();
    this.prefix = options.prefix ?? HUB_DEFAULTS.prefix;
    this.maxMessageSize = options.maxMessageSize ?? HUB_DEFAULTS.maxMessageSize;
    this.inboxCapacity = options.inboxCapacity ?? HUB_DEFAULTS.inboxCapacity;
    this.inboxBytes = options.inboxBytes ?? HUB_DEFAULTS.inboxBytes;
    this.node = randomId();
    this.addressPrefix = `${this.node}/`;
    this.unsubscribe = this.bus.subscribe(`${this.prefix}.node.${this.node}`, (payload) =>
      this.arrive(payload),
    );
    this.unhear = this.bus.undelivered?.((_subject, payload, reason) =>
      this.bounced(payload, reason),
    );
  }

  /** Give a connection its address; its streams are `${address}/${stream}`. */
  register(id: string, mailbox: Mailbox): string {
    this.mailboxes.set(id, mailbox);
    // One cons string (32 bytes) of two parts kept anyway: `node/`, shared by every address,
    // and the id, which the connection's info holds. A template literal of three parts made
    // two (64 bytes); `[node, id].join('/')` one flat string (40 bytes), for ~650 more
    // instructions a connection than this one allocation (callgrind).
    return this.addressPrefix + id;
  }

  /** The connection is gone; the caller has already left its groups. */
  unregister(id: string): void {
    this.mailboxes.delete(id);
  }

  /** True when `group` is a valid group name. */
  static validGroup(group: unknown): group is string {
    return typeof group === 'string' && GROUP_NAME.test(group);
  }

  /** Add the stream at `address` to `group`, or change how it is a member (`forward`). */
  join(group: string, address: string, mailbox: Mailbox, stream: number, forward = false): void {
    let entry = this.groups.get(group);
    if (entry === undefined) {
      const subject = `${this.prefix}.group.${group}`;
      const unsubscribe = this.bus.subscribe(subject, (payload) => this.arrive(payload));
      entry = { members: new Map(), unsubscribe };
      this.groups.set(group, entry);
    }
    entry.members.set(address, { mailbox, stream, forward });
  }

  /** Remove the stream at `address` from `group`. */
  leave(group: string, address: string): void {
    const entry = this.groups.get(group);
    if (entry === undefined || !entry.members.delete(address) || entry.members.size > 0) return;
    this.groups.delete(group);
    entry.unsubscribe();
  }

  /** Connections registered here, open ones only (for tests and metrics). */
  get connections(): number {
    return this.mailboxes.size;
  }

  /** Local members of `group` (for tests and metrics). */
  members(group: string): number {
    return this.groups.get(group)?.members.size ?? 0;
  }

  /** Send `data` from the address `from` to the address `to`; a reason when refused at once. */
  send(from: string, to: string, data: Value): Undelivered | null {
    const node = nodeOf(to);
    if (node === null) return 'invalid';
    const payload = this.encode(ENVELOPE_KIND.SEND, from, to, data);
    if (typeof payload === 'string') return payload;
    this.stats.sent++;
    this.route(node, payload);
    return null;
  }

  /** Send `data` from `from` to every member of `group`, in every process. */
  groupSend(from: string, group: string, data: Value): Undelivered | null {
    if (!Hub.validGroup(group)) return 'invalid';
    const payload = this.encode(ENVELOPE_KIND.GROUP, from, group, data);
    if (typeof payload === 'string') return payload;
    this.stats.sent++;
    this.bus.publish(`${this.prefix}.group.${group}`, payload);
    return null;
  }

  /** Stop receiving; the bus itself stays open (its owner closes it). */
  close(): void {
    this.unsubscribe();
    this.unhear?.();
    for (const entry of this.groups.values()) entry.unsubscribe();
    this.groups.clear();
    this.mailboxes.clear();
  }

  private encode(kind: number, from: string, to: string, data: Value): Uint8Array | Undelivered {
    let payload: Uint8Array;
    try {
      payload = encodeEnvelope(kind as 1, from, to, data);
    } catch {
      return 'invalid';
    }
    return payload.byteLength > this.maxMessageSize ? 'too-large' : payload;
  }

  /** Local addresses skip the broker; the microtask keeps a sender out of its own receiver. */
  private route(node: string, payload: Uint8Array): void {
    if (node === this.node) queueMicrotask(() => this.arrive(payload));
    else this.bus.publish(`${this.prefix}.node.${node}`, payload, REPORT_GONE);
  }

  /**
   * The bus says a payload this process published was not delivered: a `send` is reported to
   * its sender (`full` or `gone`), a `group-send` only when a queue was `full` (a group with
   * no member anywhere is not an error), a NACK never.
   */
  private bounced(payload: Uint8Array, reason: BusRefusal): void {
    const envelope = decodeEnvelope(payload);
    if (typeof envelope === 'string' || envelope.kind === ENVELOPE_KIND.NACK) return;
    if (envelope.kind === ENVELOPE_KIND.GROUP && reason === 'gone') return;
    if (nodeOf(envelope.from) !== this.node) return; // another hub's, on a shared MemoryBus
    const sender = localTarget(envelope.from);
    const mailbox = sender === null ? undefined : this.mailboxes.get(sender.connection);
    if (sender === null || mailbox === undefined) return;
    this.stats.bounced[reason]++;
    mailbox.undelivered(sender.stream, envelope.to, reason);
  }

  /** A payload from the bus: decode, check, deliver. Bad ones are dropped and counted. */
  private arrive(payload: Uint8Array): void {
    if (payload.byteLength > this.maxMessageSize) {
      this.drop('tooLarge', { bytes: payload.byteLength });
      return;
    }
    const envelope = decodeEnvelope(payload);
    if (typeof envelope === 'string') {
      this.drop(envelope);
      return;
    }
    const size = payload.byteLength;
    if (envelope.kind === ENVELOPE_KIND.GROUP) {
      const entry = this.groups.get(envelope.to);
      if (entry === undefined) return;
      const data = envelope.data;
      const forwardable = typeof data === 'string' || data instanceof Uint8Array;
      for (const member of entry.members.values()) {
        const result =
          (forwardable && member.forward
            ? member.mailbox.forward?.(member.stream, envelope.to, data)
            : null) ??
          member.mailbox.deliver(member.stream, envelope.from, envelope.to, data, size);
        if (result === 'ok') this.stats.delivered++;
        else if (result === 'full') this.drop('full', { group: envelope.to });
      }
      return;
    }
    const target = localTarget(envelope.to);
    const mailbox = target === null ? undefined : this.mailboxes.get(target.connection);
    if (target === null || mailbox === undefined) {
      if (envelope.kind === ENVELOPE_KIND.SEND) this.gone(envelope.from, envelope.to);
      return;
    }
    if (envelope.kind === ENVELOPE_KIND.NACK) {
      mailbox.undelivered(target.stream, envelope.from, envelope.data as Undelivered);
      return;
    }
    const result = mailbox.deliver(target.stream, envelope.from, null, envelope.data, size);
    if (result === 'ok') this.stats.delivered++;
    else if (result === 'gone') this.gone(envelope.from, envelope.to);
    else {
      // A full inbox is reported to the sender, wherever it is (spec/actors.md §4).
      this.stats.refused++;
      this.nack(envelope.from, envelope.to, 'full');
    }
  }

  /** A send for a closed address: dropped, counted, and reported to its sender (spec/actors.md §4). */
  private gone(from: string, to: string): void {
    this.drop('gone');
    this.nack(from, to, 'gone');
  }

  /** Tell the sender `from`, wherever it is, that `to` refused its message. */
  private nack(from: string, to: string, reason: Undelivered): void {
    const sender = nodeOf(from);
    if (sender !== null) this.route(sender, encodeEnvelope(ENVELOPE_KIND.NACK, to, from, reason));
  }

  private drop(kind: keyof HubStats['dropped'], fields?: Record<string, unknown>): void {
    this.stats.dropped[kind]++;
    this.warnings[kind].note({ node: this.node, ...fields });
  }
}

/** The node part of an address `node/connection/stream`, or null when it is not one. */
function nodeOf(address: string): string | null {
  if (typeof address !== 'string') return null;
  const first = address.indexOf('/');
  const last = address.lastIndexOf('/');
  if (first <= 0 || last <= first + 1 || !/^\d+$/.test(address.slice(last + 1))) return null;
  return address.slice(0, first);
}

function localTarget(address: string): { connection: string; stream: number } | null {
  if (nodeOf(address) === null) return null;
  const first = address.indexOf('/');
  const last = address.lastIndexOf('/');
  return { connection: address.slice(first + 1, last), stream: Number(address.slice(last + 1)) };
}

function randomId(): string {
  const bytes = new Uint8Array(6);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

let fallback: Hub | null = null;

/** The process-wide hub on the embedded bus, for connections started without one. */
export function defaultHub(): Hub {
  fallback ??= new Hub();
  return fallback;
}
