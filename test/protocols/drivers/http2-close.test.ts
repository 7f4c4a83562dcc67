import { constants } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { Hub } from 'rxgi/bus';
import { afterEach, describe, expect, it } from 'vitest';
import demo from '../../../apps/demo.js';
import { session } from '../../h2client.js';
import { headers, open, PREFACE, SETTINGS_ACK, settings } from '../../h2frames.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

/**
 * A closed HTTP/2 session ends its socket (FIN after the GOAWAY) and node then waits for the
 * client's FIN with no limit. A client that never sends it (a raw one here; node's own client
 * when one of its streams was left unread) held the socket, the connection and its hub address
 * until the shutdown deadline, or for good when the session closed for being idle. The driver
 * gives such a client a second (LINGER in protocols/drivers/linger.ts), then the socket goes.
 */
afterEach(closeServers);

const DEADLINE = 8_000;

/** A raw h2c client that never closes its side: it ignores the server's FIN. */
function stubborn(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host: '127.0.0.1', allowHalfOpen: true });
    socket.on('data', () => {});
    socket.once('error', reject);
    socket.once('connect', () => {
      socket.write(Buffer.concat([PREFACE, settings(), SETTINGS_ACK]));
      resolve(socket);
    });
  });
}

describe('an HTTP/2 session that closed', () => {
  it('does not hold shutdown for a client that never closes its side', async () => {
    const hub = new Hub();
    const server = await start(demo, { shutdownTimeout: DEADLINE, hub });
    const clients = await Promise.all([1, 2, 3].map(() => stubborn(server.port)));
    await until(() => hub.connections === 3);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(server.connections).toBe(0);
    expect(hub.connections).toBe(0);
    for (const client of clients) client.destroy();
  });

  it('lets go of a client that never closes its side after an idle close', async () => {
    const hub = new Hub();
    const server = await start(demo, { shutdownTimeout: DEADLINE, hub, idleTimeout: 200 });
    const client = await stubborn(server.port);
    await until(() => hub.connections === 1);
    // Idle for 200-300 ms, then GOAWAY and FIN; the client keeps its side open.
    await until(() => server.connections === 0 && hub.connections === 0, 3_000);
    client.destroy();
  });

  it('lets go of RFC 8441 WebSockets to /chat that were half-closed and left unread', async () => {
    // node's client cannot close a session while a stream it was sent data on is unread: the
    // chat's first messages (history, "n online") are never read here.
    const hub = new Hub();
    const server = await start(demo, { shutdownTimeout: DEADLINE, hub });
    const clients = await Promise.all([1, 2, 3].map(() => session(server.url)));
    const opened: Promise<unknown>[] = [];
    for (const client of clients) {
      client.on('error', () => {});
      for (let i = 0; i < 5; i++) {
        const stream = client.request(
          {
            ':method': 'CONNECT',
            ':protocol': 'websocket',
            ':path': '/chat',
            ':scheme': 'http',
            'sec-websocket-version': '13',
          },
          { endStream: false },
        );
        stream.on('error', () => {});
        opened.push(
          new Promise((resolve) =>
            stream.once('response', (head) => {
              // Half of them end their side, the other half reset it with CANCEL.
              if (i % 2 === 0) stream.end();
              else stream.close(constants.NGHTTP2_CANCEL);
              resolve(head[':status']);
            }),
          ),
        );
      }
    }
    expect(await Promise.all(opened)).toEqual(Array(15).fill(200));
    await until(() => hub.members('chat') === 0);
    await sleep(100);
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(server.connections).toBe(0);
    expect(hub.connections).toBe(0);
    for (const client of clients) client.destroy();
  });
});

describe('an HTTP/2 session node stopped reading', () => {
  it('is destroyed when it misses a PING, and its streams leave their groups', async () => {
    // A frame header past SETTINGS_MAX_FRAME_SIZE is a connection error: node:http2 sends
    // GOAWAY FRAME_SIZE_ERROR and stops reading, but keeps the socket (RFC 9113 §5.4.1 says to
    // close it), so the client's leaving went unseen and the WebSocket stayed in the chat for
    // good: it has a stream open, so the idle sweep never closed it either.
    const hub = new Hub();
    const server = await start(demo, { hub, idleTimeout: 400 });
    const socket = await open(server.port);
    socket.on('data', () => {});
    socket.write(
      Buffer.concat([
        PREFACE,
        settings(),
        SETTINGS_ACK,
        headers(
          1,
          [
            [':method', 'CONNECT'],
            [':protocol', 'websocket'],
            [':scheme', 'http'],
            [':path', '/chat'],
            [':authority', 'localhost'],
            ['sec-websocket-version', '13'],
          ],
          false,
        ),
      ]),
    );
    await until(() => hub.members('chat') === 1);
    socket.write('a frame header that is all wrong');
    await sleep(100);
    socket.destroy();
    // Two sweeps (200 ms apart): the PING goes out at one and is missed at the next.
    await until(() => server.connections === 0, 2_000);
    expect(hub.members('chat')).toBe(0);
    expect(hub.connections).toBe(0);
  });

  it('is not destroyed while the client answers PINGs, however long its stream lasts', async () => {
    const server = await start(demo, { idleTimeout: 200 });
    const client = await session(server.url);
    const ticker = client.request({ ':path': '/ticker' });
    let events = 0;
    ticker.on('data', () => events++);
    await sleep(1_500); // seven sweeps
    expect(client.closed || client.destroyed).toBe(false);
    expect(events).toBeGreaterThan(0);
    ticker.close();
    client.close();
  });
});
