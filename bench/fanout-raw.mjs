// The floor of the fan-out benchmark (bench/fanout.mjs): the same service as bench/fanout-app.ts
// with nothing but `ws` on node:http in $WORKERS processes (default 2) sharing one port through
// node:cluster. A client's message goes to the primary over IPC, which relays it to every
// worker; a worker frames it once and writes that one buffer to each member's socket. No
// framework, no checks, no limits: what a delivery costs in node and the kernel, the least any
// server in the table can spend.
//
// The primary prints `LISTENING <port>` once every worker listens ($PORT, 0 for a free one), and
// stops the workers and exits on SIGTERM/SIGINT/SIGHUP or when its stdin ends. A worker exits
// when the primary is gone.
import { Buffer } from 'node:buffer';
import cluster from 'node:cluster';
import http from 'node:http';
import process from 'node:process';
import { stopOnStdinEnd } from './lib.mjs';

const PORT = Number(process.env.PORT ?? 0);
const HOST = '127.0.0.1';
const WORKERS = Number(process.env.WORKERS ?? 2);

if (cluster.isPrimary) {
  let listening = 0;
  let stopping = false;
  const workers = () => Object.values(cluster.workers ?? {}).filter(Boolean);
  const stop = () => {
    if (stopping) return;
    stopping = true;
    for (const worker of workers()) worker.process.kill('SIGTERM');
    setTimeout(() => {
      for (const worker of workers()) worker.process.kill('SIGKILL');
      process.exit(0);
    }, 2_000).unref();
    const check = () => {
      if (workers().length === 0) process.exit(0);
    };
    cluster.on('exit', check);
    check();
  };
  cluster.on('listening', (_worker, address) => {
    if (++listening === WORKERS) process.stdout.write(`LISTENING ${address.port}\n`);
  });
  cluster.on('message', (_from, text) => {
    for (const worker of workers()) worker.send(text);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(`fanout-raw: worker ${worker.process.pid} died (${signal ?? code})\n`);
    stop();
  });
  stopOnStdinEnd(stop);
  for (let i = 0; i < WORKERS; i++) cluster.fork();
} else {
  const { WebSocketServer } = await import('ws');
  const server = http.createServer();
  const wss = new WebSocketServer({ server, path: '/fan', perMessageDeflate: false });
  const members = new Set();
  wss.on('connection', (ws) => {
    ws.send(`pid ${process.pid}`);
    members.add(ws);
    ws.on('close', () => members.delete(ws));
    ws.on('message', (data) => process.send(String(data)));
  });
  process.on('message', (text) => {
    // One unmasked text frame (RFC 6455 §5.2) for every member; the publisher's strings are
    // short (a longer one goes through ws).
    const payload = Buffer.from(text);
    if (payload.length > 125) {
      for (const ws of members) ws.send(text);
      return;
    }
    const frame = Buffer.allocUnsafe(2 + payload.length);
    frame[0] = 0x81;
    frame[1] = payload.length;
    payload.copy(frame, 2);
    for (const ws of members) ws._socket.write(frame);
  });
  const exit = () => process.exit(0);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  process.on('disconnect', exit);
  server.listen(PORT, HOST);
}
