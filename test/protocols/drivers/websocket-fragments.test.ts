import { connect } from 'node:net';
import { handle, text, upgrade } from 'rxgi';
import { map } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import type WebSocket from 'ws';
import * as wsModule from 'ws';
import {
  assembleReceiver,
  missingWsInternals,
  type ReceiverInternals,
} from '../../../protocols/drivers/websocket-fragments.js';
import { h2WebSocket } from '../../h2client.js';
import { closeServers, start, until } from '../../helpers.js';
import { closed, nextMessage, openWebSocket as open } from '../../ws-client.js';

afterEach(closeServers);

/** Answers each message with its kind and size in bytes. */
const sizes = handle((req) =>
  req.websocket
    ? upgrade((messages) =>
        messages.pipe(
          map((m) =>
            typeof m === 'string' ? `text ${Buffer.byteLength(m)}` : `bytes ${m.length}`,
          ),
        ),
      )
    : text('http'),
);

/** One WebSocket frame; `mask` for client-to-server frames (a zero key, RFC 6455 §5.3). */
function frame(fin: boolean, opcode: number, payload: Buffer, mask = true): Buffer {
  const length = payload.length;
  const head =
    length < 126
      ? Buffer.from([0, length])
      : length < 65536
        ? Buffer.from([0, 126, length >> 8, length & 255])
        : Buffer.concat([Buffer.from([0, 127]), bigLength(length)]);
  head[0] = (fin ? 0x80 : 0) | opcode;
  if (!mask) return Buffer.concat([head, payload]);
  head[1] |= 0x80;
  return Buffer.concat([head, Buffer.alloc(4), payload]);
}

function bigLength(length: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeBigUInt64BE(BigInt(length));
  return bytes;
}

/** The frames of `payload` split in fragments of `size` bytes. */
function fragments(opcode: number, payload: Buffer, size: number, mask = true): Buffer {
  const parts: Buffer[] = [];
  for (let at = 0; at < payload.length; at += size) {
    const last = at + size >= payload.length;
    parts.push(frame(last, at === 0 ? opcode : 0, payload.subarray(at, at + size), mask));
  }
  return Buffer.concat(parts);
}

/** The next message as text, or how the session closed first. */
function firstOf(ws: WebSocket): Promise<string> {
  return Promise.race([
    nextMessage(ws).then((message) => message.data.toString()),
    closed(ws).then((close) => `closed ${close.code}`),
  ]);
}

/** Resolves with what `promise` gives, or 'pending' after `ms`. */
function within<T>(promise: Promise<T>, ms: number): Promise<T | 'pending'> {
  return Promise.race([promise, new Promise<'pending'>((r) => setTimeout(r, ms, 'pending'))]);
}

describe('WebSocket fragments (spec/websocket.md)', () => {
  it('accepts a 4 MiB message in 65,536 fragments of 64 bytes (over ws fragment cap)', async () => {
    const server = await start(sizes, { maxMessageSize: 4 * 1024 * 1024 });
    const ws = await open(server.url);
    const reply = firstOf(ws);
    const chunk = Buffer.alloc(64, 7);
    for (let i = 0; i < 65536; i++) ws.send(chunk, { binary: true, fin: i === 65535 });
    expect(await reply).toBe(`bytes ${4 * 1024 * 1024}`);
    ws.close();
  });

  it('accepts a text message of 40,000 fragments over HTTP/2 (RFC 8441), a character split', async () => {
    const server = await start(sizes);
    const { client, ws } = await h2WebSocket(server.url, '/');
    const reply = nextMessage(ws);
    // 'é' is 0xc3 0xa9: every fragment ends in the middle of one.
    const message = Buffer.from('é'.repeat(40_000));
    ws.send(message.subarray(0, 1), { binary: false, fin: false });
    for (let at = 1; at < 79_999; at += 2) ws.send(message.subarray(at, at + 2), { fin: false });
    ws.send(message.subarray(79_999), { fin: true });
    expect((await reply).data.toString()).toBe('text 80000');
    ws.close();
    client.close();
  });

  it('closes with 1007 at the first fragment with invalid UTF-8, before the message ends', async () => {
    const server = await start(sizes);
    const ws = await open(server.url);
    const done = closed(ws);
    ws.send(Buffer.from('fine, '), { binary: false, fin: false });
    ws.send(Buffer.from([0xc3, 0x28]), { fin: false });
    // The message never ends: only a check of each fragment can refuse it.
    expect(await within(done, 3_000)).toEqual({ code: 1007, reason: '' });
  });

  it('closes with 1007 when the last fragment ends inside a character', async () => {
    const server = await start(sizes);
    const ws = await open(server.url);
    const done = closed(ws);
    ws.send(Buffer.from('ok'), { binary: false, fin: false });
    ws.send(Buffer.from([0xe2, 0x82]), { fin: true });
    expect((await done).code).toBe(1007);
  });

  it('closes with 1009 when fragments add up to more than maxMessageSize', async () => {
    const server = await start(sizes, { maxMessageSize: 1000 });
    const ws = await open(server.url);
    const done = closed(ws);
    for (let i = 0; i < 11; i++) ws.send(Buffer.alloc(100), { binary: true, fin: i === 10 });
    expect((await done).code).toBe(1009);
  });

  it('serves other sessions while one sends a message of 100,000 one-byte fragments', async () => {
    const server = await start(sizes);
    const socket = connect(Number(new URL(server.url).port), '127.0.0.1');
    socket.write(
      'GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n' +
        'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
    );
    const received: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => received.push(chunk));
    let closedSocket = false;
    socket.once('close', () => {
      closedSocket = true;
    });
    socket.write(fragments(1, Buffer.alloc(100_000, 'a'), 1));
    const other = await open(server.url);
    const reply = nextMessage(other);
    other.send('x');
    expect((await reply).data.toString()).toBe('text 1');
    other.close();
    await until(() => Buffer.concat(received).includes('text 100000') || closedSocket);
    expect(Buffer.concat(received).includes('text 100000')).toBe(true);
    socket.destroy();
  });
});

describe('the ws internals fragment accounting depends on', () => {
  const Receiver = (wsModule as unknown as { Receiver: new (o: object) => ReceiverInternals })
    .Receiver;

  it('are where websocket-fragments.ts expects them (fails when a ws upgrade moves them)', () => {
    expect(missingWsInternals()).toBe(null);
    const receiver = new Receiver({ isServer: false, maxPayload: 1 << 20 });
    expect(Array.isArray(receiver._fragments)).toBe(true);
    expect(typeof receiver._fin).toBe('boolean');
    expect(receiver._fragmented).toBe(0);
    expect(receiver._opcode).toBe(0);
    expect(receiver._maxPayload).toBe(1 << 20);
  });

  it('hold one buffer, not one per fragment, while a message arrives', () => {
    const receiver = new Receiver({ isServer: false, maxPayload: 1 << 20 });
    assembleReceiver(receiver);
    const messages: Buffer[] = [];
    (receiver as unknown as NodeJS.EventEmitter).on('message', (data: Buffer) =>
      messages.push(data),
    );
    const writable = receiver as unknown as NodeJS.WritableStream;
    const payload = Buffer.from('abcdefghij'.repeat(3000));
    const frames = fragments(2, payload, 1, false);
    const most = { held: 0 };
    // 3 bytes per frame (2 of head, 1 of payload): write them 300 frames at a time.
    for (let at = 0; at < frames.length; at += 900) {
      writable.write(frames.subarray(at, at + 900));
      most.held = Math.max(most.held, receiver._fragments.length);
    }
    expect(most.held).toBe(0);
    expect(messages).toHaveLength(1);
    expect(messages[0].equals(payload)).toBe(true);
  });

  it('refuse a fragment of invalid UTF-8 with ws own error (WS_ERR_INVALID_UTF8, 1007)', async () => {
    const receiver = new Receiver({ isServer: false, maxPayload: 1 << 20 });
    assembleReceiver(receiver);
    const error = new Promise<Error & { code?: string }>((resolve) =>
      (receiver as unknown as NodeJS.EventEmitter).once('error', resolve),
    );
    (receiver as unknown as NodeJS.WritableStream).write(
      frame(false, 1, Buffer.from([0x61, 0xff]), false),
    );
    const failure = await error;
    expect(failure.code).toBe('WS_ERR_INVALID_UTF8');
    expect(failure.message).toBe('Invalid WebSocket frame: invalid UTF-8 sequence');
    expect(Object.getOwnPropertySymbols(failure).map((s) => (failure as never)[s])).toContain(1007);
  });
});
