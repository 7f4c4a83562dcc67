// Baseline of the bulk scenarios (bench/bulk.mjs): raw node on one port per protocol.
//   HTTP/1.1 (node:http) and WebSocket (ws) on $PORT, h2c (node:http2) on the next free port.
//   POST /echo          the request body piped into the response
//   GET /download?size&kind=  `size` bytes of one 64 KiB buffer (bulk-sources.mjs):
//     iterable (default)  written over and over with backpressure (write until it returns
//                         false, then wait for 'drain'): node at its best
//     readable            the same bytes as a node Readable, `pipe`d into the response
//     web                 as a web ReadableStream, read through its reader with backpressure
//   WebSocket           every message sent back as it came
// Prints `LISTENING <http1 port> <h2c port>`.
import http from "node:http";
import * as rxgiAll from "rxgi";
import * as rxjsAll from "rxjs";
globalThis.keep = [rxgiAll, rxjsAll];
import http2 from 'node:http2';
import { WebSocketServer } from 'ws';
import { pour, readable, web } from './bulk-sources.mjs';
import { HOST, PORT, ready } from './common.mjs';

function query(path) {
  const params = new URL(path, 'http://x').searchParams;
  const size = Number(params.get('size'));
  return { size: Number.isFinite(size) && size > 0 ? size : 0, kind: params.get('kind') };
}

/** A download of `kind` into `sink` (a ServerResponse or an HTTP/2 stream). */
function send(sink, path) {
  const { size, kind } = query(path);
  if (kind === 'readable') readable(size).pipe(sink);
  else if (kind === 'web') pump(web(size).getReader(), sink);
  else pour(sink, size);
}

/** Read `reader` into `sink`, waiting for 'drain' whenever `write` returns false. */
async function pump(reader, sink) {
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    if (!sink.write(value)) await new Promise((resolve) => sink.once('drain', resolve));
  }
  sink.end();
}

const h1 = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  if (req.method === 'POST') req.pipe(res);
  else send(res, req.url);
});
const wss = new WebSocketServer({ server: h1, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
  if (headers[':method'] === 'POST') stream.pipe(stream);
  else send(stream, headers[':path']);
});

h1.listen(PORT, HOST, () => {
  h2.listen(0, HOST, () => ready(`${h1.address().port} ${h2.address().port}`));
});
