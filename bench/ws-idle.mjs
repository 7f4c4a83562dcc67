// Memory per idle WebSocket (issue 16, item 11): `npm run bench:ws-idle`. Each server runs in a
// child process (bench/servers/ws-echo.mjs: a raw `ws` WebSocketServer on node:http, and the same
// echo app through rxgi's serve); this process is the client. For each server: warm up (open,
// use and close some sessions), sample its memory after full collections, open N sessions that
// each exchange one message and then stay idle, sample again; the difference over N is the
// memory one idle session holds. Servers alternate over the rounds and the verdict is the median
// of the per-round ratios rxgi/raw of heap in use and of RSS.
//
// Options: --connections N (default 4000), --rounds R (default 3), --h2 also measures rxgi's
// RFC 8441 sessions over h2c (100 streams per connection, against the same raw ws baseline),
// --json prints one JSON line of the medians at the end (what test/ reads). --protocol http1
// measures an idle HTTP/1.1 keep-alive connection instead (one GET answered, then silence),
// --protocol h2 an idle h2c session (one stream answered), each against raw node:http or
// node:http2 (docs/server.md, "Memory per connection").
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import net from 'node:net';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  describeMachine,
  here,
  lineReader,
  median,
  sleep,
  stopChild,
  stopChildrenOnExit,
  track,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    connections: { type: 'string', default: '4000' },
    rounds: { type: 'string', default: '3' },
    h2: { type: 'boolean', default: false },
    protocol: { type: 'string', default: 'ws' },
    json: { type: 'boolean', default: false },
    servers: { type: 'string' },
    'semi-space': { type: 'string', default: '1' },
  },
});
const N = Number(values.connections);
const ROUNDS = Number(values.rounds);
if (!(N >= 1) || !(ROUNDS >= 1)) throw new Error('--connections and --rounds: positive numbers');
const PROTOCOL = values.protocol;
if (!['ws', 'http1', 'h2'].includes(PROTOCOL)) throw new Error('--protocol: ws, http1 or h2');
// The young generation's size follows the allocation rate while the sessions open, and RSS
// with it: that is garbage, not what an idle session holds. Both servers get the same small
// one (--semi-space MiB; 0: V8's default, which grows to 16 MiB under such a burst).
const SEMI = Number(values['semi-space']);
const NODE_FLAGS = ['--expose-gc', ...(SEMI > 0 ? [`--max-semi-space-size=${SEMI}`] : [])];
const say = (line) => process.stdout.write(`${line}\n`);
stopChildrenOnExit({ prefix: 'ws-idle: ', endStdin: true });

/** A server child, with a reader of its stdout lines. */
async function startServer(kind) {
  const child = track(
    spawn(process.execPath, [...NODE_FLAGS, path.join(here, 'servers', 'ws-echo.mjs'), kind], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, RXGI_LOG: 'error' },
    }),
  );
  const line = lineReader(child, `${kind} server`);
  const port = Number((await line(/^LISTENING (\d+)$/))[1]);
  const sample = async () => {
    child.stdin.write('sample\n');
    const [, rss, heap, external, total] = (await line(/^SAMPLE (\d+) (\d+) (\d+) (\d+)$/)).map(
      Number,
    );
    return { rss, heap, external, total };
  };
  return { child, port, sample };
}

const MASK = Buffer.from([1, 2, 3, 4]);
/** A masked client text frame (RFC 6455 §5.2) of a short payload. */
function frame(text) {
  const payload = Buffer.from(text);
  const out = Buffer.alloc(6 + payload.length);
  out[0] = 0x81;
  out[1] = 0x80 | payload.length;
  MASK.copy(out, 2);
  for (let i = 0; i < payload.length; i++) out[6 + i] = payload[i] ^ MASK[i % 4];
  return out;
}
const HELLO = frame('hello');

/**
 * Open one WebSocket over HTTP/1.1 on a raw socket, send one message and wait for its echo;
 * resolves with the socket, left open and idle.
 */
function openHttp1(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let got = Buffer.alloc(0);
    let upgraded = false;
    socket.on('error', reject);
    socket.on('connect', () =>
      socket.write(
        `GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n',
      ),
    );
    socket.on('data', (chunk) => {
      got = Buffer.concat([got, chunk]);
      if (!upgraded) {
        const end = got.indexOf('\r\n\r\n');
        if (end < 0) return;
        if (!got.subarray(0, 12).toString().endsWith('101')) {
          reject(new Error(`handshake answered ${got.subarray(0, 12)}`));
          return;
        }
        upgraded = true;
        got = got.subarray(end + 4);
        socket.write(HELLO);
      }
      // The echo: an unmasked text frame of 5 bytes.
      if (got.length >= 7) {
        socket.removeAllListeners('data');
        socket.on('data', () => {});
        resolve(socket);
      }
    });
  });
}

/** Open `count` WebSockets over h2c (RFC 8441), 100 per connection; resolves with the sessions. */
async function openH2(port, count) {
  const sessions = [];
  for (let left = count; left > 0; left -= 100) {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', () => {});
    await new Promise((resolve, reject) => {
      session.once('remoteSettings', resolve);
      session.once('error', reject);
    });
    sessions.push(session);
    const streams = Array.from(
      { length: Math.min(100, left) },
      () =>
        new Promise((resolve, reject) => {
          const stream = session.request(
            {
              ':method': 'CONNECT',
              ':protocol': 'websocket',
              ':scheme': 'http',
              ':path': '/',
              'sec-websocket-version': '13',
            },
            { endStream: false },
          );
          stream.on('error', reject);
          stream.on('response', (head) => {
            if (head[':status'] !== 200) reject(new Error(`CONNECT answered ${head[':status']}`));
            else stream.write(HELLO);
          });
          let got = 0;
          stream.on('data', (chunk) => {
            got += chunk.length;
            if (got >= 7) resolve(stream);
          });
        }),
    );
    await Promise.all(streams);
  }
  return sessions;
}

/** An HTTP/1.1 keep-alive connection that made one request; resolves once it is answered. */
function openKeepAlive(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.on('error', reject);
    socket.once('data', () => resolve(socket));
    socket.write(`GET / HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
  });
}

/** An h2c session that made one request; resolves once its stream is answered and over. */
function openSession(port) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${port}`);
    session.on('error', reject);
    const stream = session.request({ ':path': '/' });
    stream.on('error', reject);
    stream.resume();
    stream.on('close', () => resolve(session));
  });
}

/** Open `count` sessions (or idle connections), at most 200 at a time. */
async function openMany(kind, port, count) {
  if (kind === 'rxgi-h2c') return { sessions: await openH2(port, count), sockets: [] };
  const open = PROTOCOL === 'http1' ? openKeepAlive : PROTOCOL === 'h2' ? openSession : openHttp1;
  const opened = [];
  for (let at = 0; at < count; at += 200) {
    const batch = Math.min(200, count - at);
    opened.push(...(await Promise.all(Array.from({ length: batch }, () => open(port)))));
  }
  return PROTOCOL === 'h2' ? { sessions: opened, sockets: [] } : { sessions: [], sockets: opened };
}

async function closeAll({ sessions, sockets }) {
  for (const socket of sockets) socket.destroy();
  for (const session of sessions) session.destroy();
  await sleep(200);
}

/** One measurement: bytes per idle session of server `kind`. */
async function measure(kind) {
  const server = await startServer(kind !== 'raw' ? 'rxgi' : PROTOCOL === 'h2' ? 'raw-h2' : 'raw');
  try {
    // Warm up: code compiled, pools and tables at their working size.
    await closeAll(await openMany(kind, server.port, Math.min(N, 500)));
    await sleep(300);
    const before = await server.sample();
    const open = await openMany(kind, server.port, N);
    await sleep(500);
    const after = await server.sample();
    await closeAll(open);
    const per = (key) => (after[key] - before[key]) / N;
    return { heap: per('heap'), rss: per('rss'), external: per('external'), total: per('total') };
  } finally {
    await stopChild(server.child);
  }
}

const kinds = (values.servers?.split(',') ?? ['raw', 'rxgi']).concat(values.h2 ? ['rxgi-h2c'] : []);
const results = new Map(kinds.map((kind) => [kind, []]));
if (!values.json) {
  const what = { ws: 'WebSockets', http1: 'HTTP/1.1 keep-alive connections', h2: 'h2c sessions' };
  say(`idle ${what[PROTOCOL]}: ${N} per server, ${ROUNDS} rounds; ${describeMachine()}`);
}
for (let round = 0; round < ROUNDS; round++) {
  const order = round % 2 === 0 ? kinds : [...kinds].reverse();
  for (const kind of order) {
    const result = await measure(kind);
    results.get(kind).push(result);
    if (!values.json) {
      say(
        `round ${round + 1} ${kind.padEnd(9)} heap ${kib(result.heap)} KiB (of ${kib(result.total)} KiB more heap), rss ${kib(result.rss)} KiB, external ${kib(result.external)} KiB per session`,
      );
    }
  }
}

function kib(bytes) {
  return (bytes / 1024).toFixed(2).padStart(6);
}

const summary = {};
for (const kind of kinds) {
  const rows = results.get(kind);
  summary[kind] = {
    heap: median(rows.map((row) => row.heap)),
    rss: median(rows.map((row) => row.rss)),
    external: median(rows.map((row) => row.external)),
  };
  if (kind !== 'raw' && results.has('raw')) {
    const raw = results.get('raw');
    summary[kind].heapRatio = median(rows.map((row, i) => row.heap / raw[i].heap));
    summary[kind].rssRatio = median(rows.map((row, i) => row.rss / raw[i].rss));
  }
}
if (values.json) say(JSON.stringify(summary));
else {
  say('');
  say("median bytes per idle session (ratio to raw node: median of the rounds' ratios)");
  for (const [kind, s] of Object.entries(summary)) {
    const ratios =
      s.heapRatio === undefined
        ? ''
        : `   heap ×${s.heapRatio.toFixed(2)}, rss ×${s.rssRatio.toFixed(2)}`;
    say(`  ${kind.padEnd(9)} heap ${Math.round(s.heap)} B, rss ${Math.round(s.rss)} B${ratios}`);
  }
}
