import { Buffer } from 'node:buffer';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';

/**
 * A WebSocket message as one buffer, frame head and payload together, written to the socket
 * with one `write`. `ws` sends a message as two buffers under `cork()`, which takes node's
 * writev path (a corked buffer list, a write request per list); one buffer takes the plain write
 * path. And a group message reaches every member on a process as the same string: its frame is
 * encoded once and the same buffer is written to each socket (`lastText`).
 */

/** Payloads up to this size are copied into the frame; larger ones go through `ws` as they are. */
const MAX_COPIED = 16 * 1024;

/** `ws`'s sender, as far as this module uses it (ws 8). */
interface Sender {
  sendFrame?: (list: Buffer[], cb?: (error?: Error | null) => void) => void;
}

/** The last text message framed, and its frame: fan-out sends the same string many times. */
let lastText: string | null = null;
let lastTextFrame: Buffer | null = null;

/** An unmasked, final frame (RFC 6455 §5.2) of `opcode` around `length` payload bytes. */
function frame(opcode: number, length: number): { frame: Buffer; offset: number } {
  const offset = length < 126 ? 2 : length < 65_536 ? 4 : 10;
  const out = Buffer.allocUnsafe(offset + length);
  out[0] = 0x80 | opcode;
  if (offset === 2) out[1] = length;
  else if (offset === 4) {
    out[1] = 126;
    out.writeUInt16BE(length, 2);
  } else {
    out[1] = 127;
    out.writeUInt32BE(0, 2);
    out.writeUInt32BE(length, 6);
  }
  return { frame: out, offset };
}

/** The frame of a text message of `size` UTF-8 bytes, from the cache when it was the last. */
function textFrame(data: string, size: number): Buffer {
  if (data === lastText && lastTextFrame !== null) return lastTextFrame;
  const { frame: out, offset } = frame(0x1, size);
  out.write(data, offset, 'utf8');
  lastText = data;
  lastTextFrame = out;
  return out;
}

/**
 * Whether `ws` writes every frame to its socket as it is sent: `ws`'s own sender (Bun's ws has
 * `_sender` null) with no extension negotiated. Its sender then queues nothing, as long as it is
 * given whole messages of strings and bytes (no `fin: false`, no `Blob`), which is all the
 * driver sends: a frame written straight to the socket keeps its place among the sender's.
 * Fixed for the session's life, so the driver asks once.
 */
export function plainSession(ws: WebSocket): boolean {
  const sender = (ws as unknown as { _sender?: Sender | null })._sender;
  return (
    sender !== undefined &&
    sender !== null &&
    typeof sender.sendFrame === 'function' &&
    (ws as unknown as { _extensions?: Record<string, unknown> })._extensions?.[
      'permessage-deflate'
    ] === undefined
  );
}

/**
 * Write `data` (`size` bytes) to the socket of a plain session (`plainSession`) as one frame in
 * one write: the socket's answer (false when it buffered the frame), or null, having written
 * nothing, when the payload is too large to copy (`ws` sends it).
 */
export function writeWhole(
  socket: Duplex,
  data: Uint8Array | string,
  size: number,
): boolean | null {
  if (size > MAX_COPIED) return null;
  let out: Buffer;
  if (typeof data === 'string') out = textFrame(data, size);
  else {
    const built = frame(0x2, size);
    out = built.frame;
    out.set(data, built.offset);
  }
  return socket.write(out);
}
