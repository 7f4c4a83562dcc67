// A connection per request, a fixed number of them: `node close-client.mjs PORT TOTAL CONCURRENCY`.
// Each connection sends one GET with `connection: close` and reads until the server closes it;
// TOTAL connections in all, CONCURRENCY open at once. Exits 0 once every one has closed, 1 if any
// failed. For bench/instructions.mjs, where a count of connections (not a duration) is needed.
import { connect } from 'node:net';

const [port, total, concurrency] = process.argv.slice(2).map(Number);
const request = Buffer.from('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
let started = 0;
let closed = 0;
let failed = 0;

function next() {
  if (started === total) return;
  started++;
  const socket = connect(port, '127.0.0.1', () => socket.write(request));
  socket.on('data', () => {});
  socket.on('error', () => failed++);
  socket.on('close', () => {
    closed++;
    if (closed === total) process.exit(failed === 0 ? 0 : 1);
    next();
  });
}

if (total === 0) process.exit(0);
for (let i = 0; i < Math.min(concurrency, total); i++) next();
