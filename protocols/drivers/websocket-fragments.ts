/**
 * Fragmented WebSocket messages, held by bytes and checked as they arrive (spec/websocket.md).
 *
 * `ws` keeps every fragment of a message as its own Buffer until the last one and caps their
 * number (`maxFragments`, 16,384 by default), so a legal message sent in many small fragments is
 * closed with 1008, and with the cap off a message of one-byte fragments costs a Buffer object
 * (about 100 bytes) per byte. It also validates UTF-8 only once the message is complete. This
 * module copies each fragment into one buffer per message that grows by doubling up to
 * `maxMessageSize` (ws already refuses a message whose fragments add up to more, with 1009), and
 * runs a streaming UTF-8 validator over the fragments of a text message, so invalid UTF-8 is
 * refused (1007) at the first fragment that holds it.
 *
 * It depends on these `ws` internals (checked by test/protocols/drivers/websocket-fragments
 * .test.ts, which fails loudly if a `ws` upgrade moves them), all of `lib/receiver.js`:
 * - `WebSocket#_receiver`, the session's `Receiver`, set by `setSocket`;
 * - `Receiver#dataMessage(cb)`, called after each data frame, with the frame's payload (when not
 *   empty) pushed last onto `_fragments`; `_fin` says whether it was the last fragment,
 *   `_fragmented` is the message's opcode while it is fragmented (0 otherwise), `_opcode` its
 *   opcode (1 text, 2 binary); at the last fragment it joins `_fragments` (one Buffer is handed
 *   out as it is) and emits `message`;
 * - `Receiver#createError(Ctor, message, prefix, closeCode, code)`, which stops the parse loop
 *   and makes the error the session closes with (ws's own `WS_ERR_INVALID_UTF8`, 1007).
 */
import { TextDecoder } from 'node:util';
import type { WebSocket } from 'ws';
import { ERR, RxgiError } from '../../core/errors.js';
import { wsModule } from './ws-module.js';

/** The parts of ws's `Receiver` this module uses (see the module comment). */
export interface ReceiverInternals {
  _fragments: Buffer[];
  _fin: boolean;
  _fragmented: number;
  _opcode: number;
  _maxPayload: number;
  dataMessage(cb: (error?: Error) => void): void;
  createError(
    ctor: ErrorConstructor,
    message: string,
    prefix: boolean,
    closeCode: number,
    code: string,
  ): Error;
  [kMessage]?: Assembly | null;
}

/** The message being assembled from fragments. */
interface Assembly {
  bytes: Buffer;
  length: number;
  /** The streaming UTF-8 validator of a text message; null for binary. */
  utf8: TextDecoder | null;
}

const kMessage = Symbol('rxgi.fragmentedMessage');

/** Smallest buffer a fragmented message starts with. */
const FIRST_CAPACITY = 16 * 1024;

/** The error when a session's receiver lacks what `missingWsInternals` found (a bug of rxgi's). */
function wsChanged(what: string): RxgiError {
  return new RxgiError(
    ERR.INTERNAL,
    `the installed ws no longer has ${what}: rxgi's fragment accounting ` +
      '(protocols/drivers/websocket-fragments.ts) must be updated for it',
  );
}

/**
 * Whether ws's `Receiver` has what this module wraps: null when it does, otherwise what is
 * missing. A runtime that brings its own `ws` (Bun) has none of it; the driver then leaves
 * fragmented messages to that implementation's own limits and says so (spec/websocket.md).
 */
export function missingWsInternals(): string | null {
  const receiver = (wsModule() as { Receiver?: { prototype: Record<string, unknown> } }).Receiver;
  if (receiver === undefined) return 'WebSocket.Receiver';
  for (const name of ['dataMessage', 'createError']) {
    if (typeof receiver.prototype[name] !== 'function') return `Receiver#${name}`;
  }
  return null;
}

/**
 * Take over fragmented messages of `ws`'s session: held in one buffer by bytes, text checked
 * fragment by fragment. Throws an `RXGI_ERR_INTERNAL` error when ws's receiver is not as expected.
 */
export function assembleFragments(ws: WebSocket): void {
  const receiver = (ws as unknown as { _receiver?: ReceiverInternals })._receiver;
  if (receiver === undefined || receiver === null) throw wsChanged('_receiver');
  assembleReceiver(receiver);
}

/** {@link assembleFragments} on ws's `Receiver` itself (exported for tests). */
export function assembleReceiver(receiver: ReceiverInternals): void {
  const original = receiver.dataMessage;
  if (typeof original !== 'function') throw wsChanged('Receiver#dataMessage');
  if (typeof receiver.createError !== 'function') {
    throw wsChanged('Receiver#createError');
  }
  if (!Array.isArray(receiver._fragments)) throw wsChanged('Receiver#_fragments');
  receiver.dataMessage = wrapperOf(original);
}

/**
 * The one wrapper of ws's `dataMessage` (every receiver has the prototype's): shared, not a
 * closure made per session, which an idle session would hold for as long as it is open.
 */
let wrapped: ReceiverInternals['dataMessage'] | null = null;
let wrapper: ReceiverInternals['dataMessage'] | null = null;
function wrapperOf(original: ReceiverInternals['dataMessage']): ReceiverInternals['dataMessage'] {
  if (original === wrapper) return original;
  if (original === wrapped && wrapper !== null) return wrapper;
  wrapped = original;
  wrapper = function (this: ReceiverInternals, cb) {
    // A message of one frame is ws's alone: nothing is copied or decoded twice.
    if (this._fragmented === 0) return original.call(this, cb);
    if (!take(this)) {
      this[kMessage] = null;
      cb(this.createError(Error, 'invalid UTF-8 sequence', true, 1007, 'WS_ERR_INVALID_UTF8'));
      return;
    }
    return original.call(this, cb);
  };
  return wrapper;
}

/**
 * Move the fragment ws just pushed into the message's buffer; at the last fragment leave the
 * whole message as ws's only fragment. False when the text is not valid UTF-8 so far.
 */
function take(receiver: ReceiverInternals): boolean {
  const fragments = receiver._fragments;
  let message = receiver[kMessage] ?? null;
  if (message === null) {
    message = {
      bytes: Buffer.alloc(0),
      length: 0,
      utf8: receiver._opcode === 1 ? new TextDecoder('utf-8', { fatal: true }) : null,
    };
    receiver[kMessage] = message;
  }
  for (const fragment of fragments) {
    if (message.utf8 !== null) {
      try {
        message.utf8.decode(fragment, { stream: true });
      } catch {
        return false;
      }
    }
    append(message, fragment, receiver._maxPayload);
  }
  fragments.length = 0;
  if (!receiver._fin) return true;
  receiver[kMessage] = null;
  if (message.utf8 !== null) {
    // The end of the text: a character cut short is invalid too (ws checks the whole again).
    try {
      message.utf8.decode();
    } catch {
      return false;
    }
  }
  if (message.length > 0) fragments.push(message.bytes.subarray(0, message.length));
  return true;
}

function append(message: Assembly, fragment: Buffer, limit: number): void {
  const needed = message.length + fragment.length;
  if (needed > message.bytes.length) {
    let capacity = Math.max(FIRST_CAPACITY, message.bytes.length * 2, needed);
    // ws refuses a message over maxPayload before its bytes arrive, so `needed` fits the limit.
    if (limit > 0) capacity = Math.min(capacity, Math.max(limit, needed));
    // Zeroed: the message handed out is a view of it, and its `buffer` must hold nothing else.
    const bytes = Buffer.alloc(capacity);
    bytes.set(message.bytes.subarray(0, message.length));
    message.bytes = bytes;
  }
  message.bytes.set(fragment, message.length);
  message.length = needed;
}
