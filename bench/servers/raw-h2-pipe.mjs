// The raw baseline of bench/window-curve.sh: node:http2 echoing each stream's body back.
import { createServer } from 'node:http2';

const server = createServer();
server.on('stream', (stream) => {
  stream.respond({ ':status': 200 });
  stream.pipe(stream);
});
server.listen(Number(process.argv[2]), '127.0.0.1');
