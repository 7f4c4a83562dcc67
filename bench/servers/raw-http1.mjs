// Baseline: hello world on bare node:http, the same response bytes as rxgi's text() answer.
import http from 'node:http';
import { HOST, PORT, ready } from './common.mjs';

const server = http.createServer((_req, res) => {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': 14 });
  res.end('Hello, world!\n');
});
server.listen(PORT, HOST, () => ready(server.address().port));
