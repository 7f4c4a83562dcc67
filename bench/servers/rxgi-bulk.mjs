// rxgi side of the bulk scenarios (bench/bulk.mjs), from the built package (dist/): one port
// serves HTTP/1.1, h2c and WebSocket. The same answers as raw-bulk.mjs:
//   POST /echo                 the request body (`req.body`) as the response body; with
//                              `?kind=observable`, `from(req.body)`: an Observable body, pushed
//                              as fast as the upload arrives
//   GET /download?size&kind=   `size` bytes of one 64 KiB buffer, as the body kind asks:
//     iterable (default)       an async generator, pulled as the exchange has output credit
//     readable                 a node Readable
//     web                      a web ReadableStream
//   WebSocket                  every message sent back as it came
// Prints `LISTENING <port> <port>` (the same port for h2c).
import { handle, serve, upgrade } from 'rxgi';
import { from } from 'rxjs';
import { KINDS } from './bulk-sources.mjs';
import { HOST, PORT, ready } from './common.mjs';

const HEADERS = ['content-type', 'application/octet-stream'];

const app = handle((req) => {
  if (req.websocket) return upgrade((messages) => messages);
  if (req.method === 'POST') {
    const observable = req.searchParams.get('kind') === 'observable';
    return { status: 200, headers: HEADERS, body: observable ? from(req.body) : req.body };
  }
  const size = Number(req.searchParams.get('size')) || 0;
  const make = KINDS[req.searchParams.get('kind') ?? 'iterable'] ?? KINDS.iterable;
  return { status: 200, headers: HEADERS, body: make(size) };
});

const server = await serve(app, { host: HOST, port: PORT });
ready(`${server.port} ${server.port}`);
