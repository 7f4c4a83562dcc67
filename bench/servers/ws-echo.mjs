// The WebSocket echo servers of the idle-memory measurement (bench/ws-idle.mjs) and of run.mjs's
// `WebSocket echo` scenario: `node ws-echo.mjs raw` serves a raw `ws` WebSocketServer on
// node:http, `node ws-echo.mjs rxgi` the same echo app through rxgi's serve (the built package,
// dist/): every message goes back as it came. With --expose-gc, `sample` on stdin runs full
// collections until the heap stops shrinking, then prints
// `SAMPLE <rss> <heapUsed> <external> <heapTotal>` in bytes. `node ws-echo.mjs raw-h2` is the
// raw node:http2 server of ws-idle.mjs --protocol h2. Idle connections are kept: keep-alive
// and HTTP/2 idle limits are ten minutes on every server.
import http from 'node:http';
import http2 from 'node:http2';
import { handle, serve, text, upgrade } from 'rxgi';
import { WebSocketServer } from 'ws';
import { answerSamples, HOST, PORT, ready } from './common.mjs';

const kind = process.argv[2];
const IDLE = 600_000;
if (kind === 'raw') {
  const server = http.createServer((_request, response) => response.end('ok\n'));
  server.keepAliveTimeout = IDLE;
  // What rxgi configures too: no compression, no tracking set (rxgi keeps its own roster).
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  });
  server.listen(PORT, HOST, () => ready(server.address().port));
} else if (kind === 'rxgi') {
  const app = handle((req) => {
    if (req.websocket) return upgrade((messages) => messages);
    return text('ok\n');
  });
  const server = await serve(app, {
    host: HOST,
    port: PORT,
    keepAliveTimeout: IDLE,
    idleTimeout: IDLE,
  });
  ready(server.port);
} else if (kind === 'raw-h2') {
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok\n');
  });
  server.listen(PORT, HOST, () => ready(server.address().port));
} else {
  throw new Error(`usage: ws-echo.mjs raw|rxgi|raw-h2 (got ${kind})`);
}

answerSamples(({ rss, heapUsed, external, heapTotal }) => [rss, heapUsed, external, heapTotal]);
