import { constants } from 'node:http2';
import { connect as netConnect, type Socket } from 'node:net';
import { Hub } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import demo from '../../../apps/demo.js';
import { session } from '../../h2client.js';
import { PREFACE, SETTINGS_ACK, settings } from '../../h2frames.js';
import { closeServers, sleep, start, until } from '../../helpers.js';

/**
 * A closed HTTP/2 session ends its socket (FIN after the GOAWAY) and node then waits for the
 * client's FIN with no limit. A client that never sends it (a raw one here; node's own client
 * when one of its streams was left unread) held the socket, the connection and its hub address
 * until the shutdown deadline, or for good when the session closed for being idle. The driver
 * gives such a client a second (LINGER in protocols/drivers/http2.ts), then the socket goes.
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
