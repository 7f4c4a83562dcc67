import {
  type ClientHttp2Session,
  type ClientHttp2Stream,
  connect,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
} from 'node:http2';
import WebSocket from 'ws';
import type { HeaderList } from '../../core/events.js';
import { type MessageQueue, scriptError } from './collector.js';
import type { ConnectOptions, Transport, TransportSocket } from './transport.js';

/** A script's connection over HTTP/2: h2c with prior knowledge on `http:`, h2 on `https:`. */
export async function http2Transport(url: string, options: ConnectOptions): Promise<Transport> {
  const session = connect(url, {
    rejectUnauthorized: options.ca !== undefined,
    ...(options.ca === undefined ? {} : { ca: options.ca }),
  });
  await new Promise<void>((resolve, reject) => {
    session.once('remoteSettings', () => resolve());
    session.once('error', reject);
  });
  // A failing session fails its streams, which report it; nothing else listens.
  session.on('error', () => {});
  const scheme = new URL(url).protocol === 'https:' ? 'https' : 'http';
  // Client streams are numbered 1, 3, 5… in the order they are opened (RFC 9113 §5.1.1); node
  // tells the id only once the HEADERS went.
  let nextId = 1;
  const opened = () => {
    const id = nextId;
    nextId += 2;
    return id;
  };
  return {
    protocol: 'h2',
    open(request, out) {
      const stream = session.request(
        { ':method': request.method, ':path': request.target, ...fields(request.headers) },
        { endStream: request.end, waitForTrailers: !request.end },
      );
      stream.on('response', (head) => out.onHead(Number(head[':status']), list(head)));
      // node says 100 with 'continue' and other 1xx heads (103) with 'headers'.
      stream.on('continue', () => out.onInformational(100, []));
      stream.on('headers', (head) => out.onInformational(Number(head[':status']), list(head)));
      stream.on('data', (chunk: Buffer) =>
        out.onData(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength)),
      );
      stream.on('trailers', (trailers) => out.onTrailers(list(trailers)));
      stream.on('end', () => {
        if (stream.rstCode === undefined || stream.rstCode === 0) out.onEnd();
      });
      stream.on('close', () => {
        const code = stream.rstCode ?? 8;
        if (code !== 0) out.onReset(code);
        else out.onEnd();
      });
      stream.on('error', () => {}); // a reset reports itself through 'close'
      let trailers: HeaderList | null = null;
      stream.once('wantTrailers', () => stream.sendTrailers(fields(trailers ?? [])));
      const id = opened();
      return {
        id,
        write: (chunk, step) =>
          new Promise<void>((resolve, reject) => {
            if (request.end || stream.writableEnded) {
              reject(scriptError(`${step}: the request body of stream ${id} has ended`));
              return;
            }
            stream.write(chunk, (error) => (error ? reject(error) : resolve()));
          }),
        end: (fields, step) =>
          new Promise<void>((resolve, reject) => {
            if (request.end || stream.writableEnded) {
              reject(scriptError(`${step}: the request body of stream ${id} has ended`));
              return;
            }
            trailers = fields;
            stream.end(() => resolve());
          }),
        reset: async (code) => {
          out.onReset(code);
          reset(stream, code);
        },
        // A paused stream is not consumed, so node stops sending WINDOW_UPDATE for it.
        read: (on) => (on ? stream.resume() : stream.pause()),
      };
    },
    websocket: (target, subprotocols, queue, step) =>
      h2WebSocket(opened, session, scheme, target, subprotocols, step).then((ws) =>
        adoptWs(ws, queue),
      ),
    close: () =>
      new Promise<void>((resolve) => {
        if (session.closed) resolve();
        else session.close(() => resolve());
      }),
  };
}

/**
 * RST_STREAM with `code` and nothing else. node's `close(code)` ends the body first (an empty
 * DATA frame with END_STREAM), so the server would see a complete body, then the reset; the
 * stream's native handle sends RST_STREAM alone, as a client that gives up mid-body does.
 */
function reset(stream: ClientHttp2Stream, code: number): void {
  const handle = Object.getOwnPropertySymbols(stream).find((key) => key.description === 'kHandle');
  const native =
    handle === undefined
      ? undefined
      : (stream as unknown as Record<symbol, { rstStream?: (c: number) => void }>)[handle];
  if (typeof native?.rstStream === 'function' && !stream.closed) {
    native.rstStream(code);
    stream.destroy();
  } else stream.close(code);
}

function fields(headers: HeaderList): OutgoingHttpHeaders {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    const value = headers[i + 1]!;
    const had = out[name];
    out[name] = had === undefined ? value : Array.isArray(had) ? [...had, value] : [had, value];
  }
  return out;
}

function list(headers: IncomingHttpHeaders): HeaderList {
  const out: HeaderList = [];
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(':') || value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) out.push(name, String(one));
  }
  return out;
}

/** An extended CONNECT (RFC 8441 §4) on `session`, with a client-side `ws` session on the stream. */
async function h2WebSocket(
  opened: () => number,
  session: ClientHttp2Session,
  scheme: string,
  target: string,
  subprotocols: string[],
  step: string,
): Promise<{ ws: WebSocket; subprotocol: string | null }> {
  if (session.remoteSettings.enableConnectProtocol !== true) {
    throw scriptError(`${step}: the server does not enable extended CONNECT (RFC 8441)`);
  }
  const stream = session.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':path': target,
      ':scheme': scheme,
      'sec-websocket-version': '13',
      ...(subprotocols.length > 0 ? { 'sec-websocket-protocol': subprotocols.join(', ') } : {}),
    },
    { endStream: false },
  );
  opened();
  const head = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
    stream.once('response', resolve);
    stream.once('error', reject);
  });
  const status = Number(head[':status']);
  if (status !== 200) {
    stream.close();
    throw Object.assign(scriptError(`${step}: the handshake was denied with ${status}`), {
      status,
    });
  }
  const ws = clientWebSocketOn(stream);
  const subprotocol = head['sec-websocket-protocol'];
  return { ws, subprotocol: typeof subprotocol === 'string' ? subprotocol : null };
}

/**
 * @internal A client-side `ws` session on an HTTP/2 stream that an extended CONNECT opened
 * (RFC 8441): frames masked as RFC 6455 §5.3 wants. Made the way ws's server makes sessions,
 * so ws's defaults are spelt out: without closeTimeout, ws destroys the stream 1 ms after
 * sending a close frame.
 */
export function clientWebSocketOn(
  stream: ClientHttp2Stream,
  maxPayload = 64 * 1024 * 1024,
): WebSocket {
  const ws = new (WebSocket as unknown as new (a: null, b: undefined, c: object) => WebSocket)(
    null,
    undefined,
    { closeTimeout: 30_000, autoPong: true },
  );
  (ws as unknown as { _isServer: boolean })._isServer = false;
  (ws as unknown as { setSocket: (s: unknown, h: Buffer, o: object) => void }).setSocket(
    stream,
    Buffer.alloc(0),
    { maxPayload, skipUTF8Validation: false },
  );
  return ws;
}

/** @internal A `ws` session as a script's socket. */
export function adoptWs(
  { ws, subprotocol }: { ws: WebSocket; subprotocol: string | null },
  queue: MessageQueue,
): TransportSocket {
  ws.on('message', (data, binary) => {
    const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as ArrayBuffer);
    queue.push(binary ? new Uint8Array(bytes) : bytes.toString('utf8'));
  });
  ws.on('close', (code, reason) => queue.close(code, reason.toString()));
  ws.on('error', () => {}); // 'close' follows with the code
  return {
    subprotocol,
    send: (data) =>
      new Promise<void>((resolve, reject) =>
        ws.send(data, { binary: typeof data !== 'string' }, (error) =>
          error ? reject(error) : resolve(),
        ),
      ),
    close: async (code, reason) => ws.close(code, reason),
  };
}
