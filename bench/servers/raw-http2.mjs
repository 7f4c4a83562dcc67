// Baseline: hello world on bare node:http2 (cleartext, prior knowledge), the same response as
// rxgi's text() answer.
import http2 from 'node:http2';
import { HOST, PORT, ready } from './common.mjs';

const server = http2.createServer();
server.on('stream', (stream) => {
  stream.respond({
    ':status': 200,
    'content-type': 'text/plain; charset=utf-8',
    'content-length': 14,
  });
  stream.end('Hello, world!\n');
});
server.listen(PORT, HOST, () => ready(server.address().port));
