// The servers of the idle WebSocket measurement (bench/ws-idle.mjs): `node ws-idle.mjs raw`
// serves a raw `ws` WebSocketServer on node:http, `node ws-idle.mjs rxgi` the same echo app
// through rxgi's serve (the built package, dist/): every message goes back as it came. Both run
// with --expose-gc; `sample` on stdin runs full collections until the heap stops shrinking, then
// prints `SAMPLE <rss> <heapUsed> <external> <heapTotal>` in bytes.
import http from 'node:http';
import { handle, serve, text, upgrade } from 'rxgi';
import { WebSocketServer } from 'ws';
import { HOST, PORT, ready } from './common.mjs';

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
  throw new Error(`usage: ws-idle.mjs raw|rxgi (got ${kind})`);
}

let input = '';
process.stdin.on('data', async (chunk) => {
  input += chunk;
  for (let at = input.indexOf('\n'); at >= 0; at = input.indexOf('\n')) {
    const line = input.slice(0, at);
    input = input.slice(at + 1);
    if (line !== 'sample') continue;
    // Several full collections, a turn of the loop between them (weak callbacks, finalizers).
    let last = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 10; i++) {
      globalThis.gc();
      await new Promise((resolve) => setImmediate(resolve));
      const used = process.memoryUsage().heapUsed;
      if (used >= last - 1024) break;
      last = used;
    }
    const { rss, heapUsed, heapTotal, external } = process.memoryUsage();
    process.stdout.write(`SAMPLE ${rss} ${heapUsed} ${external} ${heapTotal}\n`);
  }
});
