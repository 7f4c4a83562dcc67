// The soak run (issue 16): `npm run soak -- --minutes N`. Serves bench/servers/rxgi-soak.mjs (the
// built package) in a child process and drives it with mixed traffic for N minutes: HTTP/1.1
// (keep-alive and a new connection per request), h2c (sessions of many streams, reopened) and
// WebSocket (sessions that join a group, exchange messages and close). Every --interval seconds
// the server runs a full GC and reports its RSS (process.memoryUsage) and heap in use, so the
// series shows live memory, not garbage a lazy GC has not collected yet. It prints the series
// and gives a verdict on the RSS slope after the warm-up: a least-squares fit in MiB per minute,
// flat when under --threshold. Exits 1 when the slope is over it, when the server
// died, or when a request failed.
//
// Options: --minutes (10), --interval seconds between samples (10), --warmup seconds left out of
// the fit (a third of the run: RSS settles in steps while malloc's arenas and the socket buffers
// find their size, see the heap column), --threshold MiB/min (1), --lanes per protocol (4).
import { spawn } from 'node:child_process';
import http from 'node:http';
import http2 from 'node:http2';
import path from 'node:path';
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { describeMachine, here, sleep, stopChild, stopChildrenOnExit, track } from './lib.mjs';

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '10' },
    interval: { type: 'string', default: '10' },
    warmup: { type: 'string' },
    threshold: { type: 'string', default: '1' },
    lanes: { type: 'string', default: '4' },
  },
});
const minutes = positive('minutes');
const interval = positive('interval');
const threshold = positive('threshold');
const lanes = Math.round(positive('lanes'));
const duration = minutes * 60_000;
const warmup = values.warmup === undefined ? duration / 3 : positive('warmup', true) * 1000;

function positive(name, zero = false) {
  const value = Number(values[name]);
  if (!Number.isFinite(value) || value < 0 || (!zero && value === 0)) {
    throw new Error(
      `--${name} ${values[name]}: expected a ${zero ? 'non-negative' : 'positive'} number`,
    );
  }
  return value;
}

const say = (line) => process.stdout.write(`${line}\n`);
stopChildrenOnExit({ prefix: 'soak: ', endStdin: true });

// ---------------------------------------------------------------------------------------------
// The server

const server = track(
  spawn(process.execPath, ['--expose-gc', path.join(here, 'servers', 'rxgi-soak.mjs')], {
    stdio: ['pipe', 'pipe', 'inherit'],
  }),
);
/** Lines the server printed, and who waits for the next one. */
const lines = [];
let waiter = null;
let out = '';
server.stdout.on('data', (chunk) => {
  out += chunk;
  for (let at = out.indexOf('\n'); at >= 0; at = out.indexOf('\n')) {
    lines.push(out.slice(0, at));
    out = out.slice(at + 1);
  }
  if (lines.length > 0) waiter?.resolve();
});
server.once('exit', () => waiter?.reject(new Error('the server exited')));
/** The next line of the server's that matches `pattern`. */
async function line(pattern) {
  for (;;) {
    const found = lines.shift();
    if (found !== undefined) {
      const match = pattern.exec(found);
      if (match) return match;
      continue;
    }
    if (server.exitCode !== null || server.signalCode !== null)
      throw new Error('the server exited');
    await new Promise((resolve, reject) => {
      waiter = { resolve, reject };
    });
    waiter = null;
  }
}
const port = Number((await line(/^LISTENING (\d+)$/))[1]);
const origin = `http://127.0.0.1:${port}`;

const MiB = 1024 * 1024;

/** The server's memory after a full GC: RSS and heap in use, MiB. */
async function sample() {
  server.stdin.write('sample\n');
  const [, rss, heap] = await line(/^SAMPLE (\d+) (\d+)$/);
  return { rss: Number(rss) / MiB, heap: Number(heap) / MiB };
}

// ---------------------------------------------------------------------------------------------
// The traffic: each lane loops until the end, counting what it did and what failed

const counts = { http1: 0, h2: 0, ws: 0, failures: 0 };
const failures = new Map();
let running = true;

function failed(kind, error) {
  counts.failures++;
  const key = `${kind}: ${error?.code ?? error?.message ?? error}`;
  failures.set(key, (failures.get(key) ?? 0) + 1);
}

/** HTTP/1.1: keep-alive requests, and every fourth lane a new connection per request. */
async function http1Lane(lane) {
  const agent = new http.Agent({ keepAlive: lane % 4 !== 3, maxSockets: 1 });
  let n = 0;
  while (running) {
    const post = ++n % 3 === 0;
    try {
      await new Promise((resolve, reject) => {
        const request = http.request(
          `${origin}${post ? '/echo' : '/hello'}`,
          { method: post ? 'POST' : 'GET', agent },
          (response) => {
            response.resume();
            response.once('end', () =>
              response.statusCode === 200
                ? resolve()
                : reject(new Error(`status ${response.statusCode}`)),
            );
            response.once('error', reject);
          },
        );
        request.once('error', reject);
        request.end(post ? 'x'.repeat(100 + (n % 4000)) : undefined);
      });
      counts.http1++;
    } catch (error) {
      if (running) failed('http1', error);
    }
  }
  agent.destroy();
}

/** h2c: a session of 200 requests, 8 at a time, then a new session. */
async function h2Lane() {
  while (running) {
    const session = http2.connect(origin);
    session.on('error', () => {});
    try {
      for (let round = 0; round < 25 && running; round++) {
        await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            new Promise((resolve, reject) => {
              const post = i % 2 === 1;
              const stream = session.request(
                { ':method': post ? 'POST' : 'GET', ':path': post ? '/echo' : '/hello' },
                { endStream: !post },
              );
              stream.on('response', (head) => {
                if (head[':status'] !== 200) reject(new Error(`status ${head[':status']}`));
              });
              stream.resume();
              stream.once('end', resolve);
              stream.once('error', reject);
              if (post) stream.end('y'.repeat(1000 + round * 100));
            }).then(
              () => counts.h2++,
              (error) => running && failed('h2', error),
            ),
          ),
        );
      }
    } finally {
      await new Promise((resolve) => session.close(resolve));
    }
  }
}

/** WebSocket: a session joins the group, sends 100 messages one by one, and closes. */
async function wsLane() {
  while (running) {
    try {
      const ws = new WebSocket(origin.replace('http', 'ws'));
      await new Promise((resolve, reject) => {
        ws.once('open', resolve);
        ws.once('error', reject);
      });
      let waiting = null;
      ws.on('message', (data) => {
        const text = data.toString();
        if (waiting !== null && text === waiting.text) waiting.resolve();
      });
      for (let i = 0; i < 100 && running; i++) {
        const text = `message ${i} ${'z'.repeat(i * 10)}`;
        await new Promise((resolve, reject) => {
          waiting = { text, resolve };
          ws.once('close', () => reject(new Error('closed early')));
          ws.send(text);
        });
        ws.removeAllListeners('close');
        counts.ws++;
      }
      const done = new Promise((resolve) => ws.once('close', resolve));
      ws.close(1000);
      await done;
    } catch (error) {
      if (running) failed('ws', error);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The run

say(
  `soak: ${describeMachine()}; ${minutes} min, ${lanes} lanes per protocol, server pid ${server.pid}`,
);
say(`soak: RSS every ${interval} s; the fit leaves out the first ${warmup / 1000} s`);
const started = Date.now();
const work = [
  ...Array.from({ length: lanes }, (_, i) => http1Lane(i)),
  ...Array.from({ length: lanes }, () => h2Lane()),
  ...Array.from({ length: lanes }, () => wsLane()),
];
const samples = [];
let died = false;
server.once('exit', () => {
  died = running;
});
say('   time     RSS MiB   heap MiB    http1       h2       ws  failures');
while (Date.now() - started < duration && !died) {
  await sleep(Math.min(interval * 1000, duration - (Date.now() - started)));
  if (died) break;
  const at = (Date.now() - started) / 60_000;
  let memory;
  try {
    memory = await sample();
  } catch {
    break; // the server died: `died` says so
  }
  samples.push({ at, mib: memory.rss, heap: memory.heap });
  say(
    `${at.toFixed(2).padStart(7)}m ${memory.rss.toFixed(1).padStart(9)} ${memory.heap.toFixed(1).padStart(10)} ${String(counts.http1).padStart(8)} ` +
      `${String(counts.h2).padStart(8)} ${String(counts.ws).padStart(8)} ${String(counts.failures).padStart(9)}`,
  );
}
running = false;
await Promise.race([Promise.all(work), sleep(10_000)]);
await stopChild(server);

// ---------------------------------------------------------------------------------------------
// The verdict

const fitted = samples.filter((sample) => sample.at * 60_000 >= warmup);
const slope = leastSquaresSlope(fitted);
const heapSlope = leastSquaresSlope(fitted.map((sample) => ({ at: sample.at, mib: sample.heap })));
const problems = [];
if (died) problems.push('the server died');
if (counts.failures > 0) problems.push(`${counts.failures} requests failed`);
if (fitted.length < 3) problems.push(`only ${fitted.length} samples after the warm-up: run longer`);
else if (slope > threshold)
  problems.push(`RSS grows ${slope.toFixed(2)} MiB/min (over ${threshold})`);
for (const [key, count] of failures) say(`soak: failure ${key} x${count}`);
say(
  `soak: RSS ${samples[0]?.mib.toFixed(1)} → ${samples.at(-1)?.mib.toFixed(1)} MiB (max ${Math.max(...samples.map((s) => s.mib)).toFixed(1)}); ` +
    `slope after warm-up ${Number.isFinite(slope) ? slope.toFixed(3) : 'n/a'} MiB/min over ${fitted.length} samples ` +
    `(heap ${Number.isFinite(heapSlope) ? heapSlope.toFixed(3) : 'n/a'} MiB/min)`,
);
say(`soak: verdict ${problems.length === 0 ? 'FLAT' : `FAIL (${problems.join('; ')})`}`);
process.exitCode = problems.length === 0 ? 0 : 1;

/** The slope of the least-squares line through the samples, in MiB per minute. */
function leastSquaresSlope(points) {
  if (points.length < 2) return Number.NaN;
  const n = points.length;
  const meanX = points.reduce((sum, p) => sum + p.at, 0) / n;
  const meanY = points.reduce((sum, p) => sum + p.mib, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.at - meanX) * (p.mib - meanY);
    den += (p.at - meanX) ** 2;
  }
  return den === 0 ? 0 : num / den;
}
