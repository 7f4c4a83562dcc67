// The client of the bulk scenarios (bench/bulk.mjs), one process pinned to the load CPU for a
// whole run. It reads one JSON command per line on stdin and answers one JSON line per command:
//   { mode, port, size, kind?, streams?, count?, inflight? }
//   -> { wall (s), bytes (received), shares? (per-stream share of the fair rate), error? }
// Modes: h1-echo, h1-get (node:http), h2-echo, h2-get, h2-multi (node:http2, one session per
// port kept across commands), ws-echo (ws). Uploads write one 64 KiB buffer over and over with
// backpressure. Receive windows are large (16 MiB per session, 1 MiB per stream) so that the
// servers, not this client, set the pace of HTTP/2 downloads.
import http from 'node:http';
import http2 from 'node:http2';
import { createInterface } from 'node:readline';
import WebSocket from 'ws';
import { pour } from '../servers/bulk-sources.mjs';

const CHUNK = Buffer.alloc(65_536, 0x62);
const agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
const sessions = new Map();

function h1(port, method, path, size) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path, agent }, (res) => {
      let bytes = 0;
      res.on('data', (chunk) => {
        bytes += chunk.length;
      });
      res.on('end', () => resolve(bytes));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (method === 'POST') pour(req, size, CHUNK);
    else req.end();
  });
}

function session(port) {
  let s = sessions.get(port);
  if (s !== undefined && !s.closed && !s.destroyed) return s;
  s = http2.connect(`http://127.0.0.1:${port}`, {
    settings: { initialWindowSize: 1 << 20 },
  });
  s.on('connect', () => s.setLocalWindowSize(16 << 20));
  s.on('error', () => {});
  sessions.set(port, s);
  return s;
}

function h2(port, method, path, size, onData) {
  return new Promise((resolve, reject) => {
    const stream = session(port).request({ ':method': method, ':path': path });
    let bytes = 0;
    stream.on('data', (chunk) => {
      bytes += chunk.length;
      onData?.(chunk.length);
    });
    stream.on('end', () => resolve(bytes));
    stream.on('error', reject);
    if (method === 'POST') pour(stream, size, CHUNK);
    else stream.end();
  });
}

/** `streams` downloads at once on one session: each one's bytes when the first one ends. */
async function h2multi(port, size, streams, kind) {
  const got = new Array(streams).fill(0);
  let snapshot = null;
  const all = [];
  for (let i = 0; i < streams; i++) {
    all.push(
      h2(port, 'GET', `/download?size=${size}&kind=${kind}`, 0, (n) => {
        got[i] += n;
      }).then((bytes) => {
        snapshot ??= got.slice();
        return bytes;
      }),
    );
  }
  const bytes = (await Promise.all(all)).reduce((a, b) => a + b, 0);
  const total = snapshot.reduce((a, b) => a + b, 0);
  return { bytes, shares: snapshot.map((b) => (b * streams) / total) };
}

function wsEcho(port, count, size, inflight) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { perMessageDeflate: false });
    const message = Buffer.alloc(size, 0x63);
    let sent = 0;
    let received = 0;
    let bytes = 0;
    ws.on('error', reject);
    ws.on('open', () => {
      while (sent < Math.min(inflight, count)) {
        ws.send(message);
        sent++;
      }
    });
    ws.on('message', (data) => {
      bytes += data.length;
      received++;
      if (sent < count) {
        ws.send(message);
        sent++;
      }
      if (received === count) {
        ws.close();
        resolve(bytes);
      }
    });
  });
}

async function run(command) {
  const { mode, port, size } = command;
  const kind = command.kind ?? 'iterable';
  const start = performance.now();
  let result;
  switch (mode) {
    case 'h1-echo':
      result = { bytes: await h1(port, 'POST', `/echo?kind=${kind}`, size) };
      break;
    case 'h1-get':
      result = { bytes: await h1(port, 'GET', `/download?size=${size}&kind=${kind}`, 0) };
      break;
    case 'h2-echo':
      result = { bytes: await h2(port, 'POST', `/echo?kind=${kind}`, size) };
      break;
    case 'h2-get':
      result = { bytes: await h2(port, 'GET', `/download?size=${size}&kind=${kind}`, 0) };
      break;
    case 'h2-multi':
      result = await h2multi(port, size, command.streams ?? 4, kind);
      break;
    case 'ws-echo':
      result = { bytes: await wsEcho(port, command.count, size, command.inflight ?? 4) };
      break;
    default:
      throw new Error(`unknown mode ${mode}`);
  }
  return { ...result, wall: (performance.now() - start) / 1000 };
}

for await (const line of createInterface({ input: process.stdin })) {
  let answer;
  try {
    answer = await run(JSON.parse(line));
  } catch (error) {
    answer = { error: error?.message ?? String(error) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
for (const s of sessions.values()) s.destroy();
agent.destroy();
