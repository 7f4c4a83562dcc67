import { connect, type Socket } from 'node:net';
import { Hub } from 'rxgi/bus';
import { afterEach, describe, expect, it } from 'vitest';
import demo from '../../../apps/demo.js';
import { closeServers, start, until } from '../../helpers.js';

afterEach(closeServers);

/**
 * HTTP/1.1 sockets the server has ended (protocols/drivers/linger.ts): a refused WebSocket
 * handshake is answered on a socket node:http has let go of, and paused, and ended; a client
 * that never closed its side (or left while the socket was paused, so its FIN went unread) held
 * the socket, its connection and its hub address for good. Found by the chaos run.
 */
/** A client that keeps its side open after the server's end, and what it has read. */
function halfOpenClient(port: number): { socket: Socket; answer(): string } {
  const socket = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
  let answer = '';
  socket.on('data', (chunk: Buffer) => {
    answer += chunk.toString('latin1');
  });
  return { socket, answer: () => answer };
}

describe('an HTTP/1.1 socket the server ended', () => {
  it('goes a second after a refused upgrade, though the client keeps its side open', async () => {
    const hub = new Hub();
    const server = await start(demo, { hub, shutdownTimeout: 8_000 });
    const { socket, answer } = halfOpenClient(server.port);
    socket.write(
      'GET /health HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\nconnection: upgrade\r\n' +
        'sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
    // The demo answers /health whatever the request asks: the upgrade is refused with it.
    await until(() => answer().includes('{"ok":true}'));
    expect(answer().startsWith('HTTP/1.1 200')).toBe(true);
    const ended = Date.now();
    await until(() => server.connections === 0 && hub.connections === 0, 3_000);
    expect(Date.now() - ended).toBeLessThan(2_000);
    socket.destroy();
  });

  it('goes a second after shutdown ends it idle, though the client keeps its side open', async () => {
    const hub = new Hub();
    const server = await start(demo, { hub, shutdownTimeout: 8_000 });
    const { socket, answer } = halfOpenClient(server.port);
    let ended = false;
    socket.on('end', () => {
      ended = true;
    });
    socket.write('GET /health HTTP/1.1\r\nhost: localhost\r\n\r\n');
    await until(() => answer().includes('{"ok":true}'));
    // The connection is idle and kept alive: shutdown ends it, and its client never answers.
    const closing = Date.now();
    await server.close();
    expect(ended).toBe(true);
    expect(Date.now() - closing).toBeLessThan(3_000);
    expect(hub.connections).toBe(0);
    socket.destroy();
  });

  it('goes a second after, for each of several ended in one turn and in the turns after', async () => {
    const hub = new Hub();
    const server = await start(demo, { hub, shutdownTimeout: 8_000 });
    const sockets: Socket[] = [];
    for (let round = 0; round < 3; round++) {
      const answers = Array.from({ length: 4 }, () => {
        const socket = connect({ port: server.port, host: '127.0.0.1', allowHalfOpen: true });
        sockets.push(socket);
        let answer = '';
        socket.on('data', (chunk: Buffer) => {
          answer += chunk.toString('latin1');
        });
        socket.write(
          'GET /health HTTP/1.1\r\nhost: localhost\r\nupgrade: websocket\r\n' +
            'connection: upgrade\r\nsec-websocket-version: 13\r\n' +
            'sec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
        );
        return () => answer;
      });
      await until(() => answers.every((answer) => answer().includes('{"ok":true}')));
    }
    const ended = Date.now();
    await until(() => server.connections === 0 && hub.connections === 0, 3_000);
    expect(Date.now() - ended).toBeLessThan(2_000);
    for (const socket of sockets) socket.destroy();
  });
});
