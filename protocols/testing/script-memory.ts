import type { App } from '../../core/app.js';
import type { MessageQueue } from './collector.js';
import { memoryConnection } from './memory.js';
import type { Transport, TransportSocket } from './transport.js';

/** A script's connection on the memory driver: no socket, the app runs in this process. */
export function memoryTransport(app: App): Transport {
  const connection = memoryConnection(app);
  return {
    protocol: 'memory',
    open(request, out) {
      const exchange = connection.exchange(request, out);
      return {
        id: exchange.id,
        write: async (chunk) => exchange.write(chunk),
        end: async (trailers) => exchange.end(trailers),
        reset: async (code) => exchange.reset(code),
        read: (on) => exchange.read(on),
      };
    },
    async websocket(target, subprotocols, queue: MessageQueue): Promise<TransportSocket> {
      const session = await connection.websocket(target, subprotocols);
      void session.closed.then(({ code, reason }) => queue.close(code, reason));
      void (async () => {
        for (;;) {
          try {
            queue.push(await session.receive());
          } catch {
            return; // closed: `closed` reports it
          }
        }
      })();
      return {
        subprotocol: session.subprotocol,
        send: async (data) => session.send(data),
        close: async (code, reason) => session.close(code, reason),
      };
    },
    async close() {
      connection.close();
    },
  };
}
