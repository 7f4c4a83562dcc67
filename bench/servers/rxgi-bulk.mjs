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
//
// rxjs is loaded for the Observable echo alone (`optional` in bench/bulk.mjs), as an app that
// uses it would: its index is 1.7 MB of heap, which puts a server past V8's 8 MB threshold for
// incremental marking, and that costs every large upload a mark-compact or so
// (docs/internals.md, "Bulk bodies").
import { handle, serve, upgrade } from 'rxgi';
import { KINDS } from './bulk-sources.mjs';
import { HOST, PORT, ready } from './common.mjs';

const HEADERS = ['content-type', 'application/octet-stream'];

/** The echo as an Observable body, `from(req.body)`, rxjs imported at the first one. */
async function observableEcho(req) {
  const { from } = await import('rxjs');
  return { status: 200, headers: HEADERS, body: from(req.body) };
}

const app = handle((req) => {
  if (req.websocket) return upgrade((messages) => messages);
  if (req.method === 'POST') {
    if (req.searchParams.get('kind') === 'observable') return observableEcho(req);
    return { status: 200, headers: HEADERS, body: req.body };
  }
  const size = Number(req.searchParams.get('size')) || 0;
  const make = KINDS[req.searchParams.get('kind') ?? 'iterable'] ?? KINDS.iterable;
  return { status: 200, headers: HEADERS, body: make(size) };
});

const server = await serve(app, { host: HOST, port: PORT });
ready(`${server.port} ${server.port}`);
