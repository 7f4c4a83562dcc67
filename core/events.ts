/**
 * The rxgi event vocabulary: the normative source of SPEC.md §3.
 *
 * Every event is plain data (strings, numbers, booleans, null, arrays, plain objects and
 * Uint8Array) so that it survives a msgpack round trip unchanged and can cross a message bus.
 * Every event names the stream it belongs to; stream 0 is the connection itself.
 */

/**
 * A header list: names and values alternate (`[name, value, name, value, ...]`). Inbound names
 * are lower case; duplicates are kept in the order they arrived.
 */
export type HeaderList = string[];

/** An `[address, port]` pair of one end of a connection. */
export type Address = [host: string, port: number];

/** A body chunk or WebSocket message the app sends: bytes, or a string sent as UTF-8. */
export type Chunk = Uint8Array | string;

/** The byte length of a chunk as it goes on the wire. */
export function chunkLength(chunk: Chunk): number {
  return typeof chunk === 'string' ? utf8Length(chunk) : chunk.byteLength;
}

/**
 * The last string measured and its length: a message is measured where it is received, where
 * the app's reply is counted and where the driver sends it, and an echo or a fan-out measures
 * the same string each time. Only short strings are kept, so that what stays pinned is small.
 */
let lastText = '';
let lastBytes = 0;

function utf8Length(text: string): number {
  if (text === lastText) return lastBytes;
  // ASCII fast path; exact count otherwise (surrogate pairs are 4 bytes).
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    if (c < 0x800) bytes += 1;
    else if (c >= 0xd800 && c <= 0xdbff && (text.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      // A surrogate pair: two UTF-16 units, four UTF-8 bytes.
      i++;
      bytes += 2;
    } else bytes += 2; // three bytes, a lone surrogate (sent as U+FFFD) included
  }
  if (text.length <= 16_384) {
    lastText = text;
    lastBytes = bytes;
  }
  return bytes;
}

/**
 * A message between actors (spec/actors.md): plain data that survives msgpack. Bytes stay bytes
 * and strings stay strings across every bus.
 */
export type Value =
  | null
  | boolean
  | number
  | string
  | Uint8Array
  | Value[]
  | { [key: string]: Value };

/** Why a message was not delivered (spec/actors.md §4). */
export type Undelivered = 'full' | 'too-large' | 'invalid' | 'gone';

/** The stream id of events that concern the whole connection. */
export const CONNECTION_STREAM = 0;

/** Bytes an app may send on a new stream before it receives a `window` event (SPEC.md §5). */
export const INITIAL_WINDOW = 65_536;

/**
 * Credit goes back in batches of at least this many bytes (SPEC.md §5): drivers return output
 * credit so, and `handle` input credit, each sooner where a buffer drained.
 */
export const GRANT_BATCH = INITIAL_WINDOW / 2;

/** What the stream's connection can do for the app; the app may rely on it (SPEC.md §6). */
export interface Capabilities {
  /** A `push` becomes a real server push (HTTP/2 with push enabled by the client). */
  push: boolean;
  /** Outbound `trailers` reach the client (HTTP/2, or HTTP/1.1 with `TE: trailers`). */
  trailers: boolean;
  /** An `early-hints` event is sent as a 103 response. */
  earlyHints: boolean;
  /** The connection can carry WebSocket sessions. */
  websocket: boolean;
}

// ---------------------------------------------------------------------------------------------
// Inbound: driver to app

/** A new exchange: an HTTP request, or a WebSocket handshake when `websocket` is true. */
export interface RequestEvent {
  type: 'request';
  stream: number;
  /** Request method in upper case, as sent. */
  method: string;
  /** The request target as sent: path and query, `*`, or an authority for CONNECT. */
  target: string;
  /** The target's path, still percent-encoded. */
  path: string;
  /** The target's query without the `?`; empty when there is none. */
  query: string;
  /**
   * The path prefix a host mounted the app under (SPEC.md §3.2), percent-encoded, without a
   * trailing `/`; `target` and `path` are then relative to it. Absent when not mounted.
   */
  root?: string;
  headers: HeaderList;
  /** HTTP version of the exchange. */
  http: '1.0' | '1.1' | '2';
  scheme: 'http' | 'https';
  /** The Host header or `:authority`; empty when absent. */
  authority: string;
  /** The peer's address, or null when the driver has none (memory, bus). */
  client: Address | null;
  /** The local address the request arrived at, or null. */
  server: Address | null;
  caps: Capabilities;
  /** The request asks to open a WebSocket session on this stream. */
  websocket: boolean;
  /** Subprotocols the WebSocket client offers, in its order of preference. */
  subprotocols: string[];
  /** True when no body follows: no `data` event will come for this stream. */
  end: boolean;
  /**
   * The app's output credit for this stream at its start (SPEC.md §5.2), when the driver
   * gives one other than {@link INITIAL_WINDOW}; absent: `INITIAL_WINDOW`.
   */
  window?: number;
}

/** A chunk of a request body; the last one has `end: true` and may be empty. */
export interface DataInEvent {
  type: 'data';
  stream: number;
  chunk: Uint8Array;
  end: boolean;
}

/** Trailer fields of a request body; they end the body, no `data` follows them. */
export interface TrailersInEvent {
  type: 'trailers';
  stream: number;
  headers: HeaderList;
}

/** A WebSocket message: text arrives as a string, binary as bytes. */
export interface WsMessageInEvent {
  type: 'ws-message';
  stream: number;
  data: Uint8Array | string;
}

/**
 * The stream is gone: no further events come for it and the app's output for it is dropped.
 * On a WebSocket, `code` is the close code (1005 when none was sent, 1006 when the connection
 * dropped); on an HTTP stream it is an HTTP/2 error code (RFC 9113 §7): 0 when the response
 * completed before the body was read, 8 (CANCEL) when the client went away.
 */
export interface CloseInEvent {
  type: 'close';
  stream: number;
  code: number;
  reason: string;
}

/** The peer can take `bytes` more of the app's output on this stream (SPEC.md §5). */
export interface WindowInEvent {
  type: 'window';
  stream: number;
  bytes: number;
}

/**
 * The server is shutting down (stream 0): finish in-flight work within `deadline` ms. On
 * HTTP/1.1 a request already on its way may still arrive; HTTP/2 sends GOAWAY, so no new
 * stream does.
 */
export interface ShutdownEvent {
  type: 'shutdown';
  stream: number;
  deadline: number;
}

/**
 * A message for this stream's address, or for a group it joined (spec/actors.md). It uses the
 * stream's input credit like a WebSocket message: without credit it waits in the stream's
 * inbox, and a full inbox refuses it.
 */
export interface MessageEvent {
  type: 'message';
  stream: number;
  /** The sender's address. */
  from: string;
  /** The group it was sent to, or null for a message sent to this address. */
  group: string | null;
  data: Value;
  /** Bytes it took of the stream's input credit; grant them back with `window` to get more. */
  size: number;
}

/**
 * A message this stream sent was not delivered: `to` is the address or group it went to. A
 * full inbox is reported for `send` only; group fan-out drops are counted instead (spec/actors.md §4).
 */
export interface UndeliveredEvent {
  type: 'undelivered';
  stream: number;
  to: string;
  reason: Undelivered;
}

/**
 * Group messages for this stream were dropped because its inbox was full (spec/actors.md §4): told
 * once soon after the first drop, and once more when the inbox is empty again if more were
 * dropped meanwhile. `count` is the number dropped since the previous `dropped` event.
 */
export interface DroppedEvent {
  type: 'dropped';
  stream: number;
  count: number;
}

/** Every event a driver sends to an app. */
export type InboundEvent =
  | RequestEvent
  | DataInEvent
  | TrailersInEvent
  | WsMessageInEvent
  | CloseInEvent
  | WindowInEvent
  | ShutdownEvent
  | MessageEvent
  | UndeliveredEvent
  | DroppedEvent;

// ---------------------------------------------------------------------------------------------
// Outbound: app to driver

/** The response head; `body` and `end` let a whole response be one event. */
export interface ResponseEvent {
  type: 'response';
  stream: number;
  status: number;
  headers: HeaderList;
  /** The first body chunk, if any. */
  body?: Chunk;
  /** True when the response is complete with this event. */
  end: boolean;
  /** The app will end the body with a `trailers` event (needed up front by HTTP/1.1 and 2). */
  trailers?: boolean;
}

/** A chunk of the response body, or a WebSocket-free stream's last chunk when `end` is true. */
export interface DataOutEvent {
  type: 'data';
  stream: number;
  chunk: Chunk;
  end: boolean;
}

/** Trailer fields; they end the response body. Dropped where `caps.trailers` is false. */
export interface TrailersOutEvent {
  type: 'trailers';
  stream: number;
  headers: HeaderList;
}

/** Ask the client to fetch `path` too; degrades as SPEC.md §6 says where push is impossible. */
export interface PushEvent {
  type: 'push';
  stream: number;
  path: string;
  headers: HeaderList;
}

/** A 103 Early Hints response before the head; dropped where `caps.earlyHints` is false. */
export interface EarlyHintsEvent {
  type: 'early-hints';
  stream: number;
  headers: HeaderList;
}

/** Accept the WebSocket handshake of this stream; deny it by sending a `response` instead. */
export interface WsAcceptEvent {
  type: 'ws-accept';
  stream: number;
  /** One of the offered subprotocols, or null for none. */
  subprotocol: string | null;
  headers: HeaderList;
}

/** A WebSocket message: a string is sent as a text frame, bytes as a binary frame. */
export interface WsMessageOutEvent {
  type: 'ws-message';
  stream: number;
  data: Chunk;
}

/**
 * End a stream now. A WebSocket is closed with `code` (1000-4999). An HTTP stream is abandoned
 * with an HTTP/2 error code: before the head the client gets a 500, after it the exchange is
 * aborted. On stream 0 the whole connection is closed.
 */
export interface CloseOutEvent {
  type: 'close';
  stream: number;
  code: number;
  reason: string;
}

/** The app can take `bytes` more of the request body or WebSocket messages (SPEC.md §5). */
export interface WindowOutEvent {
  type: 'window';
  stream: number;
  bytes: number;
}

/** Make this stream a member of `group` until it leaves or closes (spec/actors.md §2). */
export interface JoinEvent {
  type: 'join';
  stream: number;
  group: string;
  /**
   * Sent to the group on the stream's behalf when the membership ends because the stream or
   * connection closed, not by `leave` (a last will: presence without polling).
   */
  farewell?: Value;
  /**
   * What to do when a message of this group finds the stream's inbox full (spec/actors.md §4):
   * `drop` it and count it (the default), or `close` the stream (WebSocket 1008) once more than
   * `maxDropped` messages were dropped for it since its inbox was last empty.
   */
  slow?: 'drop' | 'close';
  /** With `slow: 'close'`: drops tolerated before the stream is closed. Default 0. */
  maxDropped?: number;
  /**
   * On a WebSocket stream: the host sends the group's string and byte messages out on the
   * WebSocket itself, as text and binary messages, instead of giving them to the app
   * (spec/actors.md §4, `[actor-forward]`): a broadcast costs no trip through the app per member.
   */
  forward?: boolean;
}

/** Stop this stream's membership of `group`. */
export interface LeaveEvent {
  type: 'leave';
  stream: number;
  group: string;
}

/** Send `data` to one address, in any process on the bus; at most once (spec/actors.md §3). */
export interface SendEvent {
  type: 'send';
  stream: number;
  to: string;
  data: Value;
}

/** Send `data` to every member of `group`, this stream included when it is one. */
export interface GroupSendEvent {
  type: 'group-send';
  stream: number;
  group: string;
  data: Value;
}

/** Every event an app sends to a driver. */
export type OutboundEvent =
  | ResponseEvent
  | DataOutEvent
  | TrailersOutEvent
  | PushEvent
  | EarlyHintsEvent
  | WsAcceptEvent
  | WsMessageOutEvent
  | CloseOutEvent
  | WindowOutEvent
  | JoinEvent
  | LeaveEvent
  | SendEvent
  | GroupSendEvent;

/** Every rxgi event, either direction. */
export type RxgiEvent = InboundEvent | OutboundEvent;

/** HTTP/2 error codes (RFC 9113 §7) used in `close` events of HTTP streams. */
export const H2_CODE = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  REFUSED_STREAM: 7,
  CANCEL: 8,
} as const;

/** WebSocket close codes (RFC 6455 §7.4.1) that rxgi drivers use. */
export const WS_CODE = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  POLICY: 1008,
  NO_STATUS: 1005,
  ABNORMAL: 1006,
  INVALID_PAYLOAD: 1007,
  TOO_BIG: 1009,
  INTERNAL_ERROR: 1011,
} as const;
