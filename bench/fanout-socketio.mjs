// The Socket.IO peer of the fan-out benchmark (bench/fanout.mjs): the same app as
// bench/fanout-app.ts, in $WORKERS processes (default 2) sharing one port through node:cluster,
// with @socket.io/redis-adapter on $REDIS_URL carrying the broadcasts between them.
//
// WebSocket transport only (no HTTP long-polling), so a client's requests never have to reach
// the same worker twice and no sticky sessions are needed. A socket first gets `pid` (its
// worker's process id), joins the room `fan`, and what it emits as `m` is broadcast to the room
// (itself included, as rxgi's group-send does) as `m`, untouched.
//
// The primary prints `LISTENING <port>` once every worker listens ($PORT, 0 for a free one),
// and stops the workers and exits on SIGTERM/SIGINT/SIGHUP or when its stdin ends (the runner
// went away). A worker exits when the primary is gone.
import cluster from 'node:cluster';
import http from 'node:http';
import process from 'node:process';
import { stopOnStdinEnd } from './lib.mjs';

const PORT = Number(process.env.PORT ?? 0);
const HOST = '127.0.0.1';
const WORKERS = Number(process.env.WORKERS ?? 2);
const REDIS_URL = process.env.REDIS_URL;

if (cluster.isPrimary) {
  if (REDIS_URL === undefined || REDIS_URL === '') {
    process.stderr.write('fanout-socketio: REDIS_URL is required\n');
    process.exit(2);
  }
  let listening = 0;
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    const workers = Object.values(cluster.workers ?? {});
    for (const worker of workers) worker?.process.kill('SIGTERM');
    // Workers exit at once unless busy with a backlog; then they are killed.
    const deadline = setTimeout(() => {
      for (const worker of workers) worker?.process.kill('SIGKILL');
      process.exit(0);
    }, 2_000);
    deadline.unref();
    const check = () => {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
    };
    cluster.on('exit', check);
    check();
  };
  cluster.on('listening', (_worker, address) => {
    if (++listening === WORKERS) process.stdout.write(`LISTENING ${address.port}\n`);
  });
  cluster.on('exit', (worker, code, signal) => {
    if (stopping) return;
    process.stderr.write(
      `fanout-socketio: worker ${worker.process.pid} died (${signal ?? code})\n`,
    );
    stop();
  });
  stopOnStdinEnd(stop);
  for (let i = 0; i < WORKERS; i++) cluster.fork();
} else {
  const [{ Server }, { createAdapter }, { Redis }] = await Promise.all([
    import('socket.io'),
    import('@socket.io/redis-adapter'),
    import('ioredis'),
  ]);
  const pub = new Redis(REDIS_URL);
  const sub = pub.duplicate();
  const server = http.createServer();
  const io = new Server(server, {
    transports: ['websocket'],
    serveClient: false,
    adapter: createAdapter(pub, sub),
  });
  const hello = process.pid;
  io.on('connection', (socket) => {
    socket.join('fan');
    socket.emit('pid', hello);
    socket.on('m', (data) => {
      io.to('fan').emit('m', data);
    });
  });
  const exit = () => process.exit(0);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  process.on('disconnect', exit);
  server.listen(PORT, HOST);
}
