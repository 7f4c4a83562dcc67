// The spread of one bulk exchange's server CPU: `node bench/echo-tail.mjs` (after `npm run
// build`) echoes 32 MiB over HTTP/1.1 (or h2c) through raw node and through rxgi's `handle`
// (bench/servers/raw-bulk.mjs, rxgi-bulk.mjs; servers on CPU 0, this client on CPU 1, the two
// interleaved), and prints each server's CPU per echo (every thread's, from schedstat) as min,
// p25 and median. bench/bulk.mjs gives the paired ratios; this shows where they come from: the
// fastest echoes cost about the same, and the median is set by the echoes that met a
// mark-compact (docs/internals.md, "Bulk bodies").
//   BENCH_TAIL_ECHOES  echoes per server (default 20)
//   BENCH_TAIL_H2      1: over h2c (node:http2 client, one session per server)
//   BENCH_NODE_FLAGS   node flags for both servers, e.g. --max-semi-space-size=1
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { threadCpuSeconds } from './bulk.mjs';
import {
  detectPinning,
  here,
  numberEnv,
  spawnPinned,
  stopChild,
  stopChildrenOnExit,
  warn,
} from './lib.mjs';

stopChildrenOnExit();
const unpinned = detectPinning(['0', '1']);
if (unpinned !== null) warn(`${unpinned}: running unpinned`);
const echoes = Math.round(numberEnv('BENCH_TAIL_ECHOES', 20, 1));
const flags = (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
const SIZE = 32 << 20;
const CHUNK = Buffer.alloc(65_536, 0x62);

async function start(label, script) {
  const child = spawnPinned('0', process.execPath, [...flags, path.join(here, script)], {
    env: { ...process.env, PORT: '0', RXGI_LOG: 'warn' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise((resolve) =>
    createInterface({ input: child.stdout }).once('line', resolve),
  );
  const [, h1, h2] = /^LISTENING (\d+) (\d+)/.exec(line);
  return { label, child, port: Number(h2c ? h2 : h1), samples: [] };
}

const h2c = process.env.BENCH_TAIL_H2 === '1';
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
const sessions = new Map();
function request(port) {
  if (!h2c) {
    return new Promise((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port, method: 'POST', path: '/echo', agent },
        (res) => {
          res.on('data', () => {});
          res.on('end', resolve);
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      upload(req);
    });
  }
  let session = sessions.get(port);
  if (session === undefined) {
    session = http2.connect(`http://127.0.0.1:${port}`, {
      settings: { initialWindowSize: 1 << 20 },
    });
    session.on('connect', () => session.setLocalWindowSize(16 << 20));
    sessions.set(port, session);
  }
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/echo' });
    stream.on('data', () => {});
    stream.on('end', resolve);
    stream.on('error', reject);
    upload(stream);
  });
}
function upload(req) {
  let left = SIZE;
  const more = () => {
    while (left > 0) {
      left -= CHUNK.length;
      if (!req.write(CHUNK)) {
        req.once('drain', more);
        return;
      }
    }
    req.end();
  };
  more();
}
const servers = [
  await start(h2c ? 'raw node:http2' : 'raw node:http', 'servers/raw-bulk.mjs'),
  await start('rxgi handle', 'servers/rxgi-bulk.mjs'),
];
for (const server of servers) for (let i = 0; i < 3; i++) await request(server.port);
for (let i = 0; i < echoes; i++) {
  for (const server of i % 2 === 0 ? servers : [...servers].reverse()) {
    const before = threadCpuSeconds(server.child.pid);
    await request(server.port);
    server.samples.push((threadCpuSeconds(server.child.pid) - before) * 1000);
  }
}
console.log(
  `32 MiB ${h2c ? 'h2c' : 'HTTP/1.1'} echo, server CPU ms per echo over ${echoes} echoes${flags.length ? ` (${flags.join(' ')})` : ''}:`,
);
for (const { label, samples } of servers) {
  samples.sort((a, b) => a - b);
  const at = (q) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))];
  console.log(
    `  ${label.padEnd(14)} min ${at(0).toFixed(1)}  p25 ${at(0.25).toFixed(1)}  median ${at(0.5).toFixed(1)}`,
  );
}
agent.destroy();
for (const session of sessions.values()) session.close();
await Promise.all(servers.map((server) => stopChild(server.child)));
