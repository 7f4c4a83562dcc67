/**
 * A raw HTTP/2 frame writer (RFC 9113 §4.1) for hostile-client tests: it sends exactly the
 * frames a test names, in one write if asked, which no polite client (node's, curl, nghttp)
 * does. Header blocks use HPACK literals without indexing or Huffman coding (RFC 7541 §6.2.2),
 * which every decoder must accept.
 */
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

export const TYPE = {
  DATA: 0,
  HEADERS: 1,
  PRIORITY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PUSH_PROMISE: 5,
  PING: 6,
  GOAWAY: 7,
  WINDOW_UPDATE: 8,
  CONTINUATION: 9,
} as const;

export const FLAG = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4 } as const;

/** One frame: a 9-byte head and its payload. */
export function frame(
  type: number,
  flags: number,
  stream: number,
  payload: Buffer = Buffer.alloc(0),
): Buffer {
  const head = Buffer.alloc(9);
  head.writeUIntBE(payload.length, 0, 3);
  head[3] = type;
  head[4] = flags;
  head.writeUInt32BE(stream & 0x7fffffff, 5);
  return Buffer.concat([head, payload]);
}

/** An HPACK integer with an `n`-bit prefix (RFC 7541 §5.1). */
function integer(value: number, n: number, mask: number): number[] {
  const max = (1 << n) - 1;
  if (value < max) return [mask | value];
  const out = [mask | max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return out;
}

function literal(text: string): Buffer {
  const bytes = Buffer.from(text, 'latin1');
  return Buffer.concat([Buffer.from(integer(bytes.length, 7, 0)), bytes]);
}

/** A header block of literal fields, new names, not indexed (RFC 7541 §6.2.2). */
export function headerBlock(fields: [string, string][]): Buffer {
  return Buffer.concat(
    fields.flatMap(([name, value]) => [Buffer.from([0]), literal(name), literal(value)]),
  );
}

export function headers(stream: number, fields: [string, string][], endStream: boolean): Buffer {
  const flags = FLAG.END_HEADERS | (endStream ? FLAG.END_STREAM : 0);
  return frame(TYPE.HEADERS, flags, stream, headerBlock(fields));
}

/** The pseudo-headers and fields of a plain request. */
export function request(
  method: string,
  path: string,
  extra: [string, string][] = [],
): [string, string][] {
  return [
    [':method', method],
    [':scheme', 'http'],
    [':path', path],
    [':authority', 'localhost'],
    ...extra,
  ];
}

export function data(stream: number, payload: Buffer | string, endStream = false): Buffer {
  return frame(TYPE.DATA, endStream ? FLAG.END_STREAM : 0, stream, Buffer.from(payload));
}

export function rstStream(stream: number, code: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(code);
  return frame(TYPE.RST_STREAM, 0, stream, payload);
}

/** SETTINGS from `[id, value]` pairs (RFC 9113 §6.5.2). */
export function settings(pairs: [number, number][] = []): Buffer {
  const payload = Buffer.alloc(pairs.length * 6);
  pairs.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, i * 6);
    payload.writeUInt32BE(value, i * 6 + 2);
  });
  return frame(TYPE.SETTINGS, 0, 0, payload);
}

export const SETTINGS_ACK = frame(TYPE.SETTINGS, FLAG.ACK, 0);

export function windowUpdate(stream: number, increment: number): Buffer {
  const payload = Buffer.alloc(4);
  payload.writeUInt32BE(increment);
  return frame(TYPE.WINDOW_UPDATE, 0, stream, payload);
}

export function ping(opaque = Buffer.alloc(8)): Buffer {
  return frame(TYPE.PING, 0, 0, opaque);
}

export function goaway(last: number, code: number): Buffer {
  const payload = Buffer.alloc(8);
  payload.writeUInt32BE(last);
  payload.writeUInt32BE(code, 4);
  return frame(TYPE.GOAWAY, 0, 0, payload);
}

/** Open a raw h2c connection (or TLS h2 by ALPN) and wait until it is connected. */
export function open(port: number, tls = false): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = tls
      ? tlsConnect({ port, host: '127.0.0.1', ALPNProtocols: ['h2'], rejectUnauthorized: false })
      : netConnect(port, '127.0.0.1');
    socket.once(tls ? 'secureConnect' : 'connect', () => {
      socket.off('error', reject);
      socket.on('error', () => {});
      resolve(socket);
    });
    socket.once('error', reject);
  });
}

/** Send the preface, SETTINGS and `frames` in one write; resolve when the server closes or `idle` ms pass. */
export async function blast(
  port: number,
  tls: boolean,
  frames: Buffer[],
  idle = 200,
): Promise<Buffer> {
  const socket = await open(port, tls);
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let timer = setTimeout(done, idle);
    function done() {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks));
    }
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      clearTimeout(timer);
      timer = setTimeout(done, idle);
    });
    socket.on('close', done);
    socket.write(Buffer.concat([PREFACE, settings(), ...frames]));
  });
}

/** A frame the server sent, as `readFrames` reads it. */
export interface ReadFrame {
  type: number;
  flags: number;
  stream: number;
  /** RST_STREAM's and GOAWAY's error code. */
  code?: number;
}

/** The frames in `bytes` (what the server sent after the preface), in order. */
export function readFrames(bytes: Buffer): ReadFrame[] {
  const out: ReadFrame[] = [];
  for (let at = 0; at + 9 <= bytes.length; ) {
    const length = bytes.readUIntBE(at, 3);
    const type = bytes[at + 3];
    const read: ReadFrame = {
      type,
      flags: bytes[at + 4],
      stream: bytes.readUInt32BE(at + 5) & 0x7fffffff,
    };
    const payload = bytes.subarray(at + 9, at + 9 + length);
    if (type === TYPE.RST_STREAM && payload.length >= 4) read.code = payload.readUInt32BE(0);
    if (type === TYPE.GOAWAY && payload.length >= 8) read.code = payload.readUInt32BE(4);
    out.push(read);
    at += 9 + length;
  }
  return out;
}
