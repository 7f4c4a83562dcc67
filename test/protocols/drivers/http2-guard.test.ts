/**
 * What rxgi adds to node:http2's protections (spec/http2.md §1, §3), over real sockets: memory held
 * in JS counted against maxSessionMemory, and protocol errors answered as PROTOCOL_ERROR.
 */
import { type ClientHttp2Stream, constants } from 'node:http2';
import type { App, OutboundEvent } from 'rxgi';
import { handle, text } from 'rxgi';
import { Observable } from 'rxjs';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import {
  blast,
  data,
  goaway,
  headers,
  readFrames,
  request,
  SETTINGS_ACK,
  TYPE,
  windowUpdate,
} from '../../h2frames.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

afterEach(closeServers);

/** Echo: the body back, read only as fast as it goes out. */
const echo = handle((req) => {
  if (req.method === 'GET') return text('ok');
  return { status: 200, headers: ['content-type', 'application/octet-stream'], body: req.body };
});

describe('HTTP/2 session memory', () => {
  it('refuses new streams of a session whose stalled echoes hold more than maxSessionMemory, then closes it with ENHANCE_YOUR_CALM', async () => {
    const server = await start(echo, { maxSessionMemory: 1, idleTimeout: 400 });
    // A client that reads nothing: its window for the server's DATA is 0.
    const stalled = await session(server.url, { settings: { initialWindowSize: 0 } });
    stalled.on('error', () => {});
    const goaway = new Promise<number>((resolve) => stalled.once('goaway', resolve));
    const streams: ClientHttp2Stream[] = [];
    for (let i = 0; i < 16; i++) {
      const stream = stalled.request({ ':method': 'POST', ':path': '/' });
      stream.on('error', () => {});
      stream.write(Buffer.alloc(256 * 1024));
      streams.push(stream);
    }
    await Promise.all(streams.map((s) => new Promise((resolve) => s.once('response', resolve))));
    // Each echo now holds about 96 KiB in the server: the chunk it took, its unsent output
    // (16 KiB: the credit a client with window 0 is given) and the DATA it has not read (64 KiB);
    // sixteen are over 1 MiB. Node counts none of it.
    await sleep(200);
    const refused = stalled.request({ ':path': '/' });
    refused.on('error', () => {});
    await new Promise((resolve) => refused.once('close', resolve));
    expect(refused.rstCode).toBe(constants.NGHTTP2_REFUSED_STREAM);
    // Other sessions are served meanwhile.
    const other = await session(server.url);
    expect((await exchange(other, { ':path': '/' })).status).toBe(200);
    other.close();
    // Still over the limit a sweep later (idleTimeout / 2): GOAWAY ENHANCE_YOUR_CALM.
    expect(await goaway).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    stalled.destroy();
  });

  it('counts at most one body window of what an app was given: one large grant does not refuse streams', async () => {
    // Grants 8 MiB at once on POST and answers it when GET /release comes; GETs get 200.
    let received = 0;
    const app: App = (events) =>
      new Observable<OutboundEvent>((out) => {
        let held = 0;
        return events.subscribe((event) => {
          if (event.type === 'data') received += event.chunk.byteLength;
          if (event.type !== 'request') return;
          if (event.method === 'POST') {
            held = event.stream;
            out.next({ type: 'window', stream: held, bytes: 8 * 1024 * 1024 });
            return;
          }
          const answer = (stream: number): OutboundEvent => {
            return { type: 'response', stream, status: 200, headers: [], end: true };
          };
          out.next(answer(event.stream));
          if (event.path === '/release') out.next(answer(held));
        });
      });
    const server = await start(app, { maxSessionMemory: 1 });
    const client = await session(server.url);
    const upload = exchange(client, { ':method': 'POST', ':path': '/' }, Buffer.alloc(3 << 20));
    await until(() => received === 3 << 20);
    // The app was given 3 MiB and returned none of it; the driver holds none of it.
    expect((await exchange(client, { ':path': '/' })).status).toBe(200);
    expect((await exchange(client, { ':path': '/release' })).status).toBe(200);
    expect((await upload).status).toBe(200);
    client.close();
  });

  it('serves many streams of a session that reads its responses', async () => {
    const server = await start(echo, { maxSessionMemory: 1 });
    const client = await session(server.url);
    const body = Buffer.alloc(256 * 1024, 7);
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => exchange(client, { ':method': 'POST', ':path': '/' }, body)),
    );
    expect(answers.map((a) => [a.status, a.body.length])).toEqual(
      Array.from({ length: 20 }, () => [200, body.length]),
    );
    client.close();
  });
});

/** The error code of the GOAWAY the server answers `frames` with, after acknowledging its SETTINGS. */
async function goawayCode(port: number, frames: Buffer[]): Promise<number | undefined> {
  const answer = readFrames(await blast(port, false, [SETTINGS_ACK, ...frames], 1_000));
  return answer.find((f) => f.type === TYPE.GOAWAY)?.code;
}

describe('HTTP/2 protocol errors', () => {
  const slow = handle(async () => {
    await sleep(100);
    return text('ok');
  });

  it('answers a WINDOW_UPDATE of 0 on a stream with GOAWAY PROTOCOL_ERROR, not INTERNAL_ERROR', async () => {
    const server = await start(slow);
    const code = await goawayCode(server.port, [
      headers(1, request('GET', '/'), true),
      headers(3, request('POST', '/'), false),
      windowUpdate(3, 0),
    ]);
    expect(code).toBe(constants.NGHTTP2_PROTOCOL_ERROR);
  });

  it("survives a client's GOAWAY with an error code followed in the same write by a new stream's HEADERS and DATA, refusing that stream", async () => {
    // node 22 destroyed the session inside the frame parser and then aborted the process on
    // the DATA (`Assertion failed: onread->IsFunction()`): every connection gone at once.
    const server = await start(echo);
    const reply = await blast(server.port, false, [
      headers(1, request('POST', '/'), false),
      data(1, 'first'),
      goaway(0, constants.NGHTTP2_INTERNAL_ERROR),
      headers(3, request('POST', '/'), false),
      data(3, 'x'.repeat(100)),
    ]);
    const frames = readFrames(reply);
    // The stream opened after the GOAWAY is refused (or the session is gone before it is).
    expect(frames.some((f) => f.type === TYPE.HEADERS && f.stream === 3)).toBe(false);
    // The server serves others as before.
    const other = await session(server.url);
    expect((await exchange(other, { ':path': '/' })).status).toBe(200);
    other.close();
  });

  it('answers a stream past the acknowledged maxConcurrentStreams with GOAWAY PROTOCOL_ERROR', async () => {
    const server = await start(slow, { maxConcurrentStreams: 1 });
    const code = await goawayCode(server.port, [
      headers(1, request('GET', '/'), true),
      headers(3, request('GET', '/'), true),
    ]);
    expect(code).toBe(constants.NGHTTP2_PROTOCOL_ERROR);
  });

  it('refuses a stream past maxConcurrentStreams with REFUSED_STREAM before the client acknowledged it', async () => {
    const server = await start(slow, { maxConcurrentStreams: 1 });
    const frames = readFrames(
      await blast(server.port, false, [
        headers(1, request('GET', '/'), true),
        headers(3, request('GET', '/'), true),
      ]),
    );
    const reset = frames.find((f) => f.type === TYPE.RST_STREAM);
    expect(reset).toMatchObject({ stream: 3, code: constants.NGHTTP2_REFUSED_STREAM });
    // The first stream is answered; the connection goes on.
    expect(frames.some((f) => f.type === TYPE.DATA && f.stream === 1)).toBe(true);
    expect(frames.some((f) => f.type === TYPE.GOAWAY)).toBe(false);
  });
});
