// The servers of the stalled HTTP/2 stream measurement (bench/h2-stalled.mjs): `raw` is
// node:http2 echoing each stream with `stream.pipe(stream)`, `rxgi` apps/echo.ts's app through
// rxgi's serve (the built package, dist/). Both run with --expose-gc; `sample` on stdin runs
// full collections, then prints `SAMPLE <heapUsed> <external>` in bytes.
import { createServer } from 'node:http2';
import { getHeader, handle, serve, upgrade } from 'rxgi';
import { answerSamples, HOST, PORT, ready } from './common.mjs';

const kind = process.argv[2];
if (kind === 'raw') {
  const server = createServer();
  server.on('sessionError', () => {});
  server.on('stream', (stream) => {
    stream.on('error', () => {});
    stream.respond({ ':status': 200 });
    stream.pipe(stream);
  });
  server.listen(PORT, HOST, () => ready(server.address().port));
} else if (kind === 'rxgi') {
  const app = handle((req) => {
    if (req.websocket) return upgrade((messages) => messages);
    const type = getHeader(req.headers, 'content-type') ?? 'application/octet-stream';
    return { status: 200, headers: ['content-type', type], body: req.body };
  });
  const server = await serve(app, { host: HOST, port: PORT });
  ready(server.port);
} else {
  throw new Error(`usage: h2-stalled.mjs raw|rxgi (got ${kind})`);
}

answerSamples(({ heapUsed, external }) => [heapUsed, external]);
