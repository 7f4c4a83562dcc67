/**
 * What both HTTP/1.1 drivers (on node:http, http1.ts, and on node:net, http1-net.ts) do with a
 * WebSocket upgrade: share the common text of its head, and keep an upgraded socket's listeners
 * few.
 */
import type { Socket } from 'node:net';
import type { HeaderList, WsMessageOutEvent } from '../../core/events.js';
import { NodeConnection, type NodeStream, type StreamLimits } from './node-connection.js';
import type { WebSocketDriver } from './websocket.js';

/**
 * What both HTTP/1.1 connections do as hosts of a WebSocket session: the session is the
 * connection's only stream once accepted, and the connection ends with it.
 */
export abstract class Http1Host<
  S extends NodeStream,
  O extends StreamLimits & { websocket: WebSocketDriver | null },
> extends NodeConnection<S, O> {
  override wsClosed(stream: S, code: number, reason: string): void {
    super.wsClosed(stream, code, reason);
    // An upgraded socket carries nothing else: the connection ends with its session.
    this.end();
  }

  /** The server is going away: a WebSocket session closes with 1001 (or `code`). */
  goAway(code = 1001, reason = 'server shutting down'): void {
    for (const stream of this.streamList()) {
      if (stream.wsOpen) this.serverClose(stream, code, reason);
    }
  }

  protected sendMessage(stream: S, event: WsMessageOutEvent): void {
    if (!this.options.websocket!.send(stream, event.data)) {
      this.serverClose(stream, 1008, 'write buffer full');
    }
  }

  protected forwardMessage(stream: S, data: Uint8Array | string, limit: number): boolean {
    return this.options.websocket!.forward(stream, data, limit);
  }

  protected closeWebSocket(stream: S, code: number, reason: string): void {
    this.options.websocket?.close(stream, code, reason);
  }
}

/** Pairs of 'close' listeners made one (`oneCloseListener`), by their first and second. */
const closePairs = new WeakMap<Listener, WeakMap<Listener, Listener>>();
type Listener = (...args: unknown[]) => void;

/**
 * An upgraded socket's 'close' listeners, when they are two plain ones (the host's, such as
 * `serve`'s roster, and ws's), become one function that calls both in turn: an event with two
 * listeners keeps them in an array (64 bytes for as long as the session is open), one is kept
 * bare. The function is made once for each pair and shared by every socket that has it; the
 * listeners run as before, in order, once. A `once` listener, any other count, or a TLS socket
 * is left as it is.
 */
export function oneCloseListener(socket: Socket): void {
  // node:tls keeps its own 'close' listener on a TLS socket and looks for it by name.
  if ((socket as Socket & { encrypted?: boolean }).encrypted === true) return;
  const listeners = socket.rawListeners('close') as (Listener & { listener?: unknown })[];
  if (listeners.length !== 2) return;
  const [first, second] = listeners as [
    Listener & { listener?: unknown },
    Listener & { listener?: unknown },
  ];
  if (first.listener !== undefined || second.listener !== undefined) return;
  let bySecond = closePairs.get(first);
  if (bySecond === undefined) {
    bySecond = new WeakMap();
    closePairs.set(first, bySecond);
  }
  let both = bySecond.get(second);
  if (both === undefined) {
    both = function (this: unknown, ...args: unknown[]) {
      first.apply(this, args);
      second.apply(this, args);
    };
    bySecond.set(second, both);
  }
  socket.removeListener('close', first);
  socket.removeListener('close', second);
  socket.on('close', both);
}

/**
 * The field names a WebSocket handshake usually carries, and the values of its own fields: a
 * session keeps its request's fields for as long as it is open, and the copies node's parser
 * and the lower-casing made would cost each session their bytes again.
 */
const COMMON_FIELDS = new Map<string, string>(
  [
    'host',
    'connection',
    'upgrade',
    'origin',
    'user-agent',
    'accept',
    'accept-encoding',
    'accept-language',
    'cache-control',
    'pragma',
    'cookie',
    'sec-websocket-key',
    'sec-websocket-version',
    'sec-websocket-extensions',
    'sec-websocket-protocol',
    'Upgrade',
    'upgrade',
    'websocket',
    'keep-alive, Upgrade',
    '13',
    'no-cache',
    'permessage-deflate; client_max_window_bits',
  ].map((text) => [text, text]),
);

/** Replace the common names and values of `headers` with one shared copy each. */
export function internFields(headers: HeaderList): void {
  for (let i = 0; i < headers.length; i++) {
    const shared = COMMON_FIELDS.get(headers[i]);
    if (shared !== undefined) headers[i] = shared;
  }
}
