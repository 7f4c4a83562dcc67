// The WebSocket echo servers of the idle-memory measurement (bench/ws-idle.mjs) and of run.mjs's
// `WebSocket echo` scenario: `node ws-echo.mjs raw` serves a raw `ws` WebSocketServer on
// node:http, `node ws-echo.mjs rxgi` the same echo app through rxgi's serve (the built package,
// dist/): every message goes back as it came. With --expose-gc, `sample` on stdin runs full
// collections until the heap stops shrinking, then prints
// `SAMPLE <rss> <heapUsed> <external> <heapTotal>` in bytes.
import http from 'node:http';
import { handle, serve, text, upgrade } from 'rxgi';
import { WebSocketServer } from 'ws';
import { answerSamples, HOST, PORT, ready } from './common.mjs';

const kind = process.argv[2];
if (kind === 'raw') {
  const server = http.createServer((_request, response) => response.end('ok\n'));
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
  const server = await serve(app, { host: HOST, port: PORT });
  ready(server.port);
} else {
  throw new Error(`usage: ws-echo.mjs raw|rxgi (got ${kind})`);
}

answerSamples(({ rss, heapUsed, external, heapTotal }) => [rss, heapUsed, external, heapTotal]);
