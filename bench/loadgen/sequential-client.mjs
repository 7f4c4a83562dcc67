// A fixed number of requests, one at a time on each connection, for bench/instructions.mjs
// (where a count, not a duration, is needed):
// `node sequential-client.mjs PORT CONNECTIONS CONCURRENCY [REQUESTS]`.
// Each connection sends REQUESTS GETs (default 1), the next once the answer to the last has come
// (the hello-world answers are small and arrive whole), the last with `connection: close`, and
// reads until the server closes it; CONNECTIONS connections in all, CONCURRENCY open at once.
// Exits 0 once every one has closed with all its answers, 1 if any failed.
import { connect } from 'node:net';

const [port, total, concurrency, perConnection = 1] = process.argv.slice(2).map(Number);
const keep = Buffer.from('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\n\r\n');
const last = Buffer.from('GET / HTTP/1.1\r\nhost: 127.0.0.1\r\nconnection: close\r\n\r\n');
let started = 0;
let closed = 0;
let failed = 0;

function next() {
  if (started === total) return;
  started++;
  let sent = 0;
  let answered = 0;
  const send = () => {
    sent++;
    socket.write(sent === perConnection ? last : keep);
  };
  const socket = connect(port, '127.0.0.1', send);
  socket.setEncoding('latin1');
  socket.on('data', (text) => {
    for (let at = text.indexOf('HTTP/1.1 '); at >= 0; at = text.indexOf('HTTP/1.1 ', at + 1)) {
      answered++;
    }
    if (answered === sent && sent < perConnection) send();
  });
  socket.on('error', () => failed++);
  socket.on('close', () => {
    if (answered !== perConnection) failed++;
    closed++;
    if (closed === total) process.exit(failed === 0 ? 0 : 1);
    next();
  });
}

if (total === 0) process.exit(0);
for (let i = 0; i < Math.min(concurrency, total); i++) next();
