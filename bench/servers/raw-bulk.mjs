// Baseline of the bulk scenarios (bench/bulk.mjs): raw node on one port per protocol.
//   HTTP/1.1 (node:http) and WebSocket (ws) on $PORT, h2c (node:http2) on the next free port.
//   POST /echo          the request body piped into the response
//   GET /download?size  `size` bytes of one 64 KiB buffer written over and over, with
//                       backpressure (write until it returns false, then wait for 'drain')
//   WebSocket           every message sent back as it came
// Prints `LISTENING <http1 port> <h2c port>`.
import http from 'node:http';
import http2 from 'node:http2';
import { WebSocketServer } from 'ws';
import { HOST, PORT, ready } from './common.mjs';

export const CHUNK = Buffer.alloc(65_536, 0x61);

function sizeOf(path) {
  const size = Number(new URL(path, 'http://x').searchParams.get('size'));
  return Number.isFinite(size) && size > 0 ? size : 0;
}

/** Write `size` bytes of CHUNK to `sink` as fast as it takes them, then end it. */
function download(sink, size) {
  let left = size;
  const more = () => {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= chunk.length;
      if (!sink.write(chunk)) {
        sink.once('drain', more);
        return;
      }
    }
    sink.end();
  };
  more();
}

const h1 = http.createServer((req, res) => {
  res.writeHead(200, { 'content-type': 'application/octet-stream' });
  if (req.method === 'POST') req.pipe(res);
  else download(res, sizeOf(req.url));
});
const wss = new WebSocketServer({ server: h1, perMessageDeflate: false });
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
});

const h2 = http2.createServer();
h2.on('stream', (stream, headers) => {
  stream.respond({ ':status': 200, 'content-type': 'application/octet-stream' });
  if (headers[':method'] === 'POST') stream.pipe(stream);
  else download(stream, sizeOf(headers[':path']));
});

h1.listen(PORT, HOST, () => {
  h2.listen(0, HOST, () => ready(`${h1.address().port} ${h2.address().port}`));
});
