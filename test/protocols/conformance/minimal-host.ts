/**
 * A minimal HTTP/1.1 host written from SPEC.md alone, as a second implementation would be: it
 * imports no rxgi driver, only the types. It shows that the conformance suite checks the
 * contract, not rxgi's code, and, with a flaw switched on, that a broken host fails by rule id.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { App, InboundEvent, OutboundEvent, RequestEvent } from 'rxgi';
import { Subject } from 'rxjs';

/** Deliberate flaws, for the test that a broken host fails. */
export interface Flaws {
  /** Deliver field names as the client spelt them. */
  keepNameCase?: boolean;
}

interface Exchange {
  req: IncomingMessage;
  res: ServerResponse;
  credit: number;
  held: Buffer[];
  /** The request body ended on the wire, and its end was told to the app. */
  ended: boolean;
  told: boolean;
  open: boolean;
  /** The client waits for a `100 Continue` before it sends the body (§5.1). */
  awaitsContinue: boolean;
  /** Output bytes written and not yet returned to the app as credit (§5.2). */
  unreturned: number;
}

type Tell = (event: InboundEvent) => void;
type OnRequest = (req: IncomingMessage, res: ServerResponse) => void;

let connections = 0;

/** The limits of spec/http1.md, at the reference server's defaults. */
const HEAD_LIMIT = 16_384;
const FIELD_LIMIT = 100;
const BODY_LIMIT = 64 * 1024 * 1024;

/**
 * spec/http1.md: the heads a host answers itself, the connection closed after; null for a
 * request the app gets.
 */
function refusal(req: IncomingMessage): [number, string] | null {
  if (req.rawHeaders.length / 2 > FIELD_LIMIT) return [431, 'Too many header fields'];
  const hosts = req.rawHeaders.filter((_, i) => i % 2 === 0 && /^host$/i.test(_)).length;
  if (hosts > 1) return [400, 'More than one Host field'];
  const absolute = /^([a-z][a-z0-9+.-]*):\/\//i.exec(req.url ?? '');
  if (absolute !== null) {
    if (!['http', 'https'].includes(absolute[1].toLowerCase()))
      return [400, 'Absolute-form target with a scheme other than http(s)'];
    if (new URL(req.url ?? '').username !== '') return [400, 'Userinfo in the target'];
  }
  if (Number(req.headers['content-length'] ?? 0) > BODY_LIMIT) return [413, 'Body too large'];
  return null;
}

/** Serve `app` on a free port of 127.0.0.1; resolves with the server and its URL. */
export async function minimalHost(
  app: App,
  flaws: Flaws = {},
): Promise<{ server: Server; url: string }> {
  // spec/http1.md [h1-head-limit]: node:http refuses a head over 16 KiB with 431 itself, and
  // keeps `maxHeadersCount` fields: one more than the limit shows a head that has too many.
  const server = createServer({ maxHeaderSize: HEAD_LIMIT });
  server.maxHeadersCount = FIELD_LIMIT + 1;
  const bySocket = new WeakMap<Socket, OnRequest>();
  server.on('connection', (socket: Socket) => bySocket.set(socket, connection(app, socket, flaws)));
  const onRequest = (req: IncomingMessage, res: ServerResponse) =>
    bySocket.get(req.socket)?.(req, res);
  server.on('request', onRequest);
  // §5.1: the 100 waits for the app's first credit, so node must not send it at once.
  server.on('checkContinue', onRequest);
  // spec/http1.md: no tunnels here, so a CONNECT is answered 501.
  server.on('connect', (_req, socket: Socket) =>
    socket.end('HTTP/1.1 501 Not Implemented\r\ncontent-length: 0\r\n\r\n'),
  );
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** One app call per connection (§4); returns what to do with each of its requests. */
function connection(app: App, socket: Socket, flaws: Flaws): OnRequest {
  const id = `min-${++connections}`;
  const inbound = new Subject<InboundEvent>();
  const streams = new Map<number, Exchange>();
  let next = 1;
  const tell: Tell = (event) => inbound.next(event);
  const info = {
    id,
    address: `minimal/${id}`,
    protocol: 'http/1.1',
    secure: false,
    client: [socket.remoteAddress ?? '', socket.remotePort ?? 0] as [string, number],
    server: [socket.localAddress ?? '', socket.localPort ?? 0] as [string, number],
  };
  // §4: subscribe to the app's output before the first inbound event.
  const output = app(inbound.asObservable(), info).subscribe((event) =>
    outbound(event, streams, tell),
  );
  socket.once('close', () => {
    // §8.3: the client went away: close 8 on every open stream, then the connection ends.
    for (const [stream, exchange] of streams) {
      exchange.open = false;
      tell({ type: 'close', stream, code: 8, reason: 'connection closed' });
    }
    streams.clear();
    output.unsubscribe();
    inbound.complete();
  });
  return (req, res) => {
    const stream = next++;
    const refused = refusal(req);
    if (refused !== null) {
      // Answered here, the app never called; `connection: close` ends the connection after it.
      res.writeHead(refused[0], { 'content-type': 'text/plain', connection: 'close' });
      res.end(`${refused[1]}\n`);
      return;
    }
    const chunked = req.headers['transfer-encoding'] !== undefined;
    const end = !chunked && Number(req.headers['content-length'] ?? 0) === 0;
    const exchange: Exchange = {
      req,
      res,
      credit: 0,
      held: [],
      ended: end,
      told: end,
      open: true,
      awaitsContinue: req.headers.expect?.toLowerCase() === '100-continue',
      unreturned: 0,
    };
    streams.set(stream, exchange);
    res.once('close', () => {
      if (!exchange.open) return;
      exchange.open = false;
      streams.delete(stream);
      if (!res.writableFinished)
        tell({ type: 'close', stream, code: 8, reason: 'connection closed' });
    });
    if (!end) {
      // Paused until the app grants credit (§5.1: input credit starts at 0).
      req.pause();
      req.on('data', (chunk: Buffer) => {
        exchange.held.push(chunk);
        deliver(stream, exchange, tell);
      });
      req.on('end', () => {
        exchange.ended = true;
        deliver(stream, exchange, tell);
      });
    }
    tell(requestEvent(req, stream, end, info, flaws));
  };
}

function requestEvent(
  req: IncomingMessage,
  stream: number,
  end: boolean,
  info: { client: [string, number]; server: [string, number] },
  flaws: Flaws,
): RequestEvent {
  // spec/http1.md [h1-absolute-form]: the authority is the target's, the target its origin form.
  let target = req.url ?? '/';
  let authority = req.headers.host ?? '';
  if (!target.startsWith('/') && target !== '*') {
    const url = new URL(target);
    authority = url.host;
    target = `${url.pathname}${url.search}`;
  }
  const mark = target.indexOf('?');
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    headers.push(
      flaws.keepNameCase ? req.rawHeaders[i] : req.rawHeaders[i].toLowerCase(),
      req.rawHeaders[i + 1],
    );
  }
  const te = String(req.headers.te ?? '')
    .split(',')
    .some((token) => token.trim() === 'trailers');
  return {
    type: 'request',
    stream,
    method: req.method ?? 'GET',
    target,
    path: mark < 0 ? target : target.slice(0, mark),
    query: mark < 0 ? '' : target.slice(mark + 1),
    headers,
    http: req.httpVersion === '1.0' ? '1.0' : '1.1',
    scheme: 'http',
    authority,
    client: info.client,
    server: info.server,
    caps: { push: false, trailers: te, earlyHints: true, websocket: false },
    websocket: false,
    subprotocols: [],
    end,
  };
}

/** §5.1: hand the app no more than its credit; then trailers (§3.2), only when there are some. */
function deliver(stream: number, exchange: Exchange, tell: Tell): void {
  while (exchange.held.length > 0 && exchange.credit > 0) {
    const chunk = exchange.held[0];
    const part = chunk.subarray(0, exchange.credit);
    if (part.length === chunk.length) exchange.held.shift();
    else exchange.held[0] = chunk.subarray(part.length);
    exchange.credit -= part.length;
    tell({ type: 'data', stream, chunk: new Uint8Array(part), end: false });
  }
  if (exchange.credit > 0 && exchange.held.length === 0) exchange.req.resume();
  else exchange.req.pause();
  if (!exchange.ended || exchange.told || exchange.held.length > 0) return;
  exchange.told = true;
  const raw = exchange.req.rawTrailers;
  if (raw.length === 0) {
    tell({ type: 'data', stream, chunk: new Uint8Array(0), end: true });
    return;
  }
  const headers: string[] = [];
  for (let i = 0; i < raw.length; i += 2) headers.push(raw[i].toLowerCase(), raw[i + 1]);
  tell({ type: 'trailers', stream, headers });
}

/** §5.1: the one `100 Continue`, when the app first reads or starts a streamed answer. */
function continueOnce(exchange: Exchange): void {
  if (!exchange.awaitsContinue) return;
  exchange.awaitsContinue = false;
  exchange.res.writeContinue();
}

/** §5.2: write `chunk` and return its credit once it has left the buffer. */
function write(stream: number, exchange: Exchange, chunk: Uint8Array, tell: Tell): void {
  exchange.unreturned += chunk.length;
  const give = () => {
    const bytes = exchange.unreturned;
    exchange.unreturned = 0;
    // Later, not inside the app's own emission.
    if (bytes > 0 && exchange.open) queueMicrotask(() => tell({ type: 'window', stream, bytes }));
  };
  if (exchange.res.write(chunk)) give();
  else exchange.res.once('drain', give);
}

function outbound(event: OutboundEvent, streams: Map<number, Exchange>, tell: Tell): void {
  const exchange = streams.get(event.stream);
  if (exchange === undefined) return;
  const { res } = exchange;
  const fail = (code: number, reason: string) => {
    exchange.open = false;
    streams.delete(event.stream);
    if (!res.headersSent) {
      res.writeHead(500, { 'content-type': 'text/plain' }).end('Internal Server Error\n');
    } else res.destroy();
    tell({ type: 'close', stream: event.stream, code, reason });
  };
  switch (event.type) {
    case 'response': {
      if (!Number.isInteger(event.status) || event.status < 200 || event.status > 599) {
        fail(2, 'bad status');
        return;
      }
      if (!event.end) continueOnce(exchange);
      // §3.1: field text is one byte per character; node:http would send a head joined to a
      // string body as UTF-8, so the body goes as bytes.
      const body = typeof event.body === 'string' ? Buffer.from(event.body) : event.body;
      // spec/http1.md [h1-framing]: a response sent whole carries its length.
      const framed = pairs(event.headers).some(([name]) =>
        /^(content-length|transfer-encoding)$/i.test(name),
      );
      const bodiless = event.status === 204 || event.status === 304;
      const headers =
        event.end && !framed && !bodiless
          ? [...event.headers, 'content-length', String(body?.length ?? 0)]
          : event.headers;
      res.writeHead(event.status, headers);
      if (event.end) res.end(body);
      else if (body !== undefined) write(event.stream, exchange, body, tell);
      else res.flushHeaders();
      return;
    }
    case 'data':
      if (event.chunk.length > 0) {
        const chunk = typeof event.chunk === 'string' ? Buffer.from(event.chunk) : event.chunk;
        write(event.stream, exchange, chunk, tell);
      }
      if (event.end) res.end();
      return;
    case 'trailers':
      if (exchange.req.headers.te?.includes('trailers'))
        res.addTrailers(Object.fromEntries(pairs(event.headers)));
      res.end();
      return;
    case 'early-hints': {
      const link = pairs(event.headers).filter(([name]) => name === 'link');
      if (link.length > 0) res.writeEarlyHints(Object.fromEntries(pairs(event.headers)));
      return;
    }
    case 'window':
      continueOnce(exchange);
      exchange.credit += event.bytes;
      deliver(event.stream, exchange, tell);
      return;
    case 'close':
      fail(event.code, event.reason);
      return;
    default:
      if (
        !String(event.type).startsWith('x-') &&
        !['push', 'join', 'leave', 'send', 'group-send'].includes(event.type)
      )
        fail(2, 'unknown event type');
  }
}

function pairs(list: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (let i = 0; i < list.length; i += 2) out.push([list[i], list[i + 1]]);
  return out;
}
