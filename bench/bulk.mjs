// The bulk benchmark: large bodies and messages through rxgi against raw node in the same run.
// `npm run bench:bulk` (builds dist/ first), `node bench/bulk.mjs`, or the `bulk` scenario of
// `npm run bench`, whose summary then lists these rows too.
//
// Servers: bench/servers/raw-bulk.mjs (node:http `req.pipe(res)`, node:http2
// `stream.pipe(stream)`, ws echo, and downloads written with backpressure) and
// bench/servers/rxgi-bulk.mjs (`handle` answering with `req.body` or `from(req.body)`, downloads
// as an async iterable, a node Readable and a web ReadableStream, and `upgrade((messages) =>
// messages)`; raw node sends the same sources: the buffers written with backpressure, the
// Readable piped, the ReadableStream read through its reader), each pinned to CPU 0; the client (bench/loadgen/bulk-client.mjs: node:http,
// node:http2 and ws) pinned to CPU 1, one process for the whole run. Per round, each scenario
// runs on both servers, the order alternating (ABBA), after uncounted transfers on each; a
// run is BENCH_BULK_REPEAT transfers back to back. Per run: wall time, and the server's CPU time
// per MiB of body (every thread's, from /proc/PID/task/*/schedstat, in nanoseconds). The result
// of a scenario is the median of the per-round ratios: ratio = raw wall / rxgi wall
// (throughput), cpu ratio = raw CPU / rxgi CPU. The 4-stream HTTP/2 scenario also reports
// fairness: each stream's bytes when the first stream ends, as a share of an even split (1.00 =
// its fair share); the floor is 0.5. The other floors are the issue's: 0.90 for HTTP/1.1 and
// h2c, 0.95 for WebSocket.
//
// Environment:
//   BENCH_BULK_SIZE       MiB per body (default 32)
//   BENCH_BULK_ROUNDS     paired rounds per scenario (default BENCH_ROUNDS, else 5)
//   BENCH_BULK_REPEAT     transfers per run (default 2)
//   BENCH_BULK_MESSAGES   1 MiB WebSocket messages per run, 4 in flight (default 64)
//   BENCH_BULK_WARMUP     uncounted transfers on each server before a scenario (default 4)
//   BENCH_BULK_SCENARIOS  comma-separated scenario names (default: all but the Observable
//                         echoes, which run only when named)
//   BENCH_PROFILE         1 or a directory: both servers run under `node --cpu-prof`, and the
//                         top self-time functions of each are printed (slower: do not read
//                         the ratios of such a run)
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  cpuBusySeconds,
  DISTURBED,
  describeMachine,
  detectPinning,
  fixed,
  heading,
  here,
  median,
  numberEnv,
  pinning,
  root,
  selectByName,
  spawnPinned,
  stopChild,
  stopChildrenOnExit,
  table,
  waitForPort,
  warn,
} from './lib.mjs';
import { summarize } from './profile-summary.mjs';

const MiB = 1 << 20;
const SERVER_CPU = '0';
const LOAD_CPU = '1';

function settings() {
  return {
    size: Math.round(numberEnv('BENCH_BULK_SIZE', 32, 0.0625) * MiB),
    rounds: Math.round(numberEnv('BENCH_BULK_ROUNDS', numberEnv('BENCH_ROUNDS', 5, 1), 1)),
    repeat: Math.round(numberEnv('BENCH_BULK_REPEAT', 2, 1)),
    messages: Math.round(numberEnv('BENCH_BULK_MESSAGES', 64, 1)),
    warmup: Math.round(numberEnv('BENCH_BULK_WARMUP', 4, 1)),
  };
}

/**
 * The scenarios. `floor`: the issue's floor on the throughput ratio (null: reported, not
 * judged). `optional`: run only when BENCH_BULK_SCENARIOS names it. The Observable echoes are:
 * `from(req.body)` reads the upload as fast as it arrives and pushes it, bounded only by the
 * 4 MiB write buffer limit, so where the client reads the answer slower than it uploads (a busy
 * client core) the exchange is cut, as the limit says it must be.
 */
const SCENARIOS = [
  { name: 'HTTP/1.1 echo', mode: 'h1-echo', floor: 0.9 },
  { name: 'HTTP/1.1 download (async iterable)', mode: 'h1-get', kind: 'iterable', floor: 0.9 },
  {
    name: 'HTTP/1.1 echo (Observable body)',
    mode: 'h1-echo',
    kind: 'observable',
    floor: null,
    optional: true,
  },
  { name: 'HTTP/1.1 download (node Readable)', mode: 'h1-get', kind: 'readable', floor: null },
  { name: 'HTTP/1.1 download (ReadableStream)', mode: 'h1-get', kind: 'web', floor: null },
  { name: 'h2c echo', mode: 'h2-echo', h2: true, floor: 0.9 },
  {
    name: 'h2c echo (Observable body)',
    mode: 'h2-echo',
    kind: 'observable',
    h2: true,
    floor: null,
    optional: true,
  },
  { name: 'h2c download (async iterable)', mode: 'h2-get', kind: 'iterable', h2: true, floor: 0.9 },
  { name: 'h2c 4 streams on one connection', mode: 'h2-multi', h2: true, floor: null, fair: 0.5 },
  { name: 'WebSocket 1 MiB echo', mode: 'ws-echo', ws: true, floor: 0.95 },
];

const SERVERS = {
  raw: { label: 'raw node', script: 'servers/raw-bulk.mjs' },
  rxgi: { label: 'rxgi', script: 'servers/rxgi-bulk.mjs' },
};

async function startServer(spec, flags) {
  const child = spawnPinned(
    SERVER_CPU,
    process.execPath,
    [...flags, path.join(here, spec.script)],
    {
      cwd: root,
      env: { ...process.env, PORT: '0', RXGI_LOG: 'warn' },
      stdio: ['pipe', 'pipe', 'inherit'],
    },
  );
  const ports = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.label}: no port within 15 s`)), 15_000);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${spec.label} exited before listening (${signal ?? `code ${code}`})`));
    });
    createInterface({ input: child.stdout }).on('line', (line) => {
      const match = /^LISTENING (\d+) (\d+)$/.exec(line);
      if (match === null) {
        process.stdout.write(`[${spec.label}] ${line}\n`);
        return;
      }
      clearTimeout(timer);
      resolve({ h1: Number(match[1]), h2: Number(match[2]) });
    });
  });
  await waitForPort(ports.h1);
  await waitForPort(ports.h2);
  return { ...spec, child, pid: child.pid, ports, stop: () => stopChild(child) };
}

function startClient() {
  const child = spawnPinned(
    LOAD_CPU,
    process.execPath,
    [path.join(here, 'loadgen/bulk-client.mjs')],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  return {
    child,
    async ask(command) {
      child.stdin.write(`${JSON.stringify(command)}\n`);
      const { value, done } = await lines.next();
      if (done) throw new Error('the bulk client exited');
      const answer = JSON.parse(value);
      if (answer.error !== undefined) throw new Error(`client: ${answer.error}`);
      return answer;
    },
    stop: () => stopChild(child),
  };
}

/** One run: `repeat` transfers of `scenario` against `server`. */
async function measure(client, server, scenario, config) {
  const port = scenario.h2 ? server.ports.h2 : server.ports.h1;
  const command = {
    mode: scenario.mode,
    port,
    size: scenario.ws ? MiB : config.size,
    kind: scenario.kind,
    streams: 4,
    count: config.messages,
    inflight: 4,
  };
  const expected =
    (scenario.ws ? config.messages * MiB : config.size) * (scenario.mode === 'h2-multi' ? 4 : 1);
  const cpu0 = threadCpuSeconds(server.pid);
  const load0 = threadCpuSeconds(client.child.pid);
  const core0 = pinning ? cpuBusySeconds(SERVER_CPU) : Number.NaN;
  const t0 = performance.now();
  let shares = null;
  for (let i = 0; i < config.repeat; i++) {
    const answer = await client.ask(command);
    if (answer.bytes !== expected) {
      throw new Error(`${server.label}: ${answer.bytes} bytes received, ${expected} expected`);
    }
    if (answer.shares !== undefined) {
      shares ??= answer.shares.map(() => Number.POSITIVE_INFINITY);
      // The least share each stream had over the transfers of the run.
      shares = shares.map((s, j) => Math.min(s, answer.shares[j]));
    }
  }
  const wall = (performance.now() - t0) / 1000;
  const cpu = threadCpuSeconds(server.pid) - cpu0;
  const load = threadCpuSeconds(client.child.pid) - load0;
  const core = pinning ? cpuBusySeconds(SERVER_CPU) - core0 : Number.NaN;
  const mib = (expected * config.repeat) / MiB;
  return {
    wall,
    cpu,
    mibPerS: mib / wall,
    cpuMsPerMiB: (cpu * 1000) / mib,
    shares,
    foreign: Math.max(0, (core - cpu) / wall),
    loadCpu: load / wall,
  };
}

/**
 * CPU seconds of every thread of `pid` (main, libuv pool, V8's helpers), from each thread's
 * schedstat: nanoseconds, where /proc/<pid>/stat counts 10 ms ticks, too coarse for a run of a
 * tenth of a second.
 */
export function threadCpuSeconds(pid) {
  let ns = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      ns += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      // the thread ended
    }
  }
  return ns / 1e9;
}

function profileDir(label) {
  const wanted = process.env.BENCH_PROFILE;
  if (wanted === undefined || wanted === '' || wanted === '0') return null;
  const base = path.resolve(
    wanted === '1' ? path.join(os.tmpdir(), `rxgi-bench-profiles-${process.pid}`) : wanted,
  );
  const dir = path.join(base, 'bulk', label.replace(/[^a-z0-9]+/gi, '-'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

function printProfile(label, dir) {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) return;
  heading(`bulk: ${label} profile`);
  console.log(files[0]);
  const profile = JSON.parse(readFileSync(files[0], 'utf8'));
  console.log(summarize(profile, { top: 25 }));
}

/**
 * Run the selected bulk scenarios; resolves to one result per scenario:
 * { scenario, rounds: [{ base, ours, ratio, cpuRatio, disturbed }] } or { scenario, failed }.
 */
export async function runBulk() {
  const config = settings();
  const named = (process.env.BENCH_BULK_SCENARIOS ?? '').trim() !== '';
  const scenarios = selectByName(
    named ? SCENARIOS : SCENARIOS.filter((scenario) => !scenario.optional),
    'BENCH_BULK_SCENARIOS',
    'bulk scenario',
  );
  heading('bulk');
  console.log(
    `${fixed(config.size / MiB, 0)} MiB bodies, ${config.messages} WebSocket messages of 1 MiB ` +
      `(4 in flight), ${config.repeat} transfers per run, ${config.rounds} paired rounds`,
  );
  const dirs = { raw: profileDir('raw'), rxgi: profileDir('rxgi') };
  const flags = (dir) => (dir === null ? [] : ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const raw = await startServer(SERVERS.raw, flags(dirs.raw));
  const rxgi = await startServer(SERVERS.rxgi, flags(dirs.rxgi));
  const client = startClient();
  const results = [];
  try {
    console.log(
      `servers: raw node pid ${raw.pid} :${raw.ports.h1} (h2c :${raw.ports.h2}), ` +
        `rxgi pid ${rxgi.pid} :${rxgi.ports.h1}`,
    );
    for (const scenario of scenarios) {
      try {
        // Warm-up, not counted: BENCH_BULK_WARMUP transfers on each (rxgi has more code for
        // the JIT to optimize; with two, its first rounds still paid for it).
        await measure(client, raw, scenario, { ...config, repeat: config.warmup });
        await measure(client, rxgi, scenario, { ...config, repeat: config.warmup });
        const rounds = [];
        for (let round = 1; round <= config.rounds; round++) {
          const order = round % 2 === 1 ? [raw, rxgi] : [rxgi, raw];
          const got = new Map();
          for (const server of order)
            got.set(server, await measure(client, server, scenario, config));
          const base = got.get(raw);
          const ours = got.get(rxgi);
          rounds.push({
            round,
            base,
            ours,
            ratio: base.wall / ours.wall,
            cpuRatio: base.cpu / ours.cpu,
            disturbed: base.foreign > DISTURBED || ours.foreign > DISTURBED,
          });
        }
        const result = { scenario, rounds };
        results.push(result);
        printLine(result);
      } catch (error) {
        console.log(`${scenario.name}: FAILED: ${error?.message ?? error}`);
        results.push({ scenario, failed: error?.message ?? String(error) });
      }
    }
  } finally {
    await Promise.all([raw.stop(), rxgi.stop(), client.stop()]);
  }
  if (dirs.raw !== null) {
    printProfile('raw node', dirs.raw);
    printProfile('rxgi', dirs.rxgi);
  }
  return results;
}

/** Medians of a scenario's rounds. */
export function bulkMedians(rounds) {
  const of = (pick) => median(rounds.map(pick));
  const streams = rounds[0].ours.shares?.length ?? 0;
  return {
    baseMibPerS: of((r) => r.base.mibPerS),
    oursMibPerS: of((r) => r.ours.mibPerS),
    baseCpu: of((r) => r.base.cpuMsPerMiB),
    oursCpu: of((r) => r.ours.cpuMsPerMiB),
    ratio: of((r) => r.ratio),
    cpuRatio: of((r) => r.cpuRatio),
    // The least share of any stream, per round, then its median.
    baseShare: streams === 0 ? null : of((r) => Math.min(...r.base.shares)),
    oursShare: streams === 0 ? null : of((r) => Math.min(...r.ours.shares)),
  };
}

/** Whether a scenario's medians meet its floors. */
export function bulkStatus(scenario, m) {
  const low = [];
  if (scenario.floor !== null && m.ratio < scenario.floor) low.push('BELOW FLOOR');
  if (scenario.fair !== undefined && m.oursShare < scenario.fair) low.push('UNFAIR');
  if (low.length > 0) return low.join(', ');
  return scenario.floor === null && scenario.fair === undefined ? '-' : 'ok';
}

function printLine({ scenario, rounds }) {
  const ratios = rounds.map((r) => `${fixed(r.ratio, 2)}${r.disturbed ? '*' : ''}`).join(' ');
  const m = bulkMedians(rounds);
  console.log(
    `  ${scenario.name.padEnd(36)} ratio ${fixed(m.ratio, 3)} (rounds ${ratios})  ` +
      `cpu ratio ${fixed(m.cpuRatio, 3)}` +
      (m.oursShare === null
        ? ''
        : `  least stream share raw ${fixed(m.baseShare, 2)} rxgi ${fixed(m.oursShare, 2)}`),
  );
}

/** The summary table of `results` (as runBulk returns them). */
export function printBulkSummary(results) {
  const rows = results
    .filter((r) => r.rounds !== undefined)
    .map(({ scenario, rounds }) => {
      const m = bulkMedians(rounds);
      const floors = [
        scenario.floor === null ? null : fixed(scenario.floor, 2),
        scenario.fair === undefined ? null : `share ${fixed(scenario.fair, 2)}`,
      ].filter(Boolean);
      return [
        scenario.name,
        fixed(m.baseMibPerS, 0),
        fixed(m.oursMibPerS, 0),
        fixed(m.baseCpu, 2),
        fixed(m.oursCpu, 2),
        fixed(m.cpuRatio, 3),
        fixed(m.ratio, 3),
        m.oursShare === null ? '-' : `${fixed(m.baseShare, 2)} / ${fixed(m.oursShare, 2)}`,
        floors.length === 0 ? '-' : floors.join(', '),
        bulkStatus(scenario, m),
      ];
    });
  console.log(
    table(
      [
        'bulk scenario',
        'raw MiB/s',
        'rxgi MiB/s',
        'raw cpu ms/MiB',
        'rxgi cpu ms/MiB',
        'cpu ratio',
        'ratio',
        'least share raw / rxgi',
        'floor',
        'status',
      ],
      rows,
    ),
  );
  console.log(
    'ratio = raw wall time / rxgi wall time (median of paired rounds); cpu ratio = raw server ' +
      "CPU / rxgi server CPU; least share = the smallest stream's bytes when the first of 4 " +
      'ended, over an even split',
  );
  printBulkWarnings(results);
  for (const r of results)
    if (r.failed !== undefined) console.log(`${r.scenario.name}: FAILED: ${r.failed}`);
}

/** The warnings about `results`' rounds: a busy client, other work on the server CPU. */
export function printBulkWarnings(results) {
  const all = results.flatMap((r) => r.rounds ?? []);
  const busy = all.filter((r) => r.base.loadCpu > 0.9 || r.ours.loadCpu > 0.9).length;
  if (busy > 0) {
    warn(`the client used >90% of its CPU in ${busy} bulk rounds: it may be what sets the pace`);
  }
  const disturbed = all.filter((r) => r.disturbed).length;
  if (disturbed > 0) {
    warn(
      `other work took >${Math.round(DISTURBED * 100)}% of CPU ${SERVER_CPU} in ${disturbed} of ` +
        `${all.length} bulk rounds (marked *): wall-time ratios are disturbed, the cpu ratio ` +
        'is the steadier number',
    );
  }
}

const main =
  process.argv[1] !== undefined && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (main) {
  stopChildrenOnExit();
  if (!existsSync(path.join(root, 'dist/index.js'))) {
    console.error('bench: dist/index.js is missing: run `npm run build` (or `npm run bench:bulk`)');
    process.exit(2);
  }
  const unpinned = detectPinning([SERVER_CPU, LOAD_CPU]);
  if (unpinned !== null) warn(`${unpinned}: running unpinned, numbers will be noisier`);
  console.log(
    `rxgi bulk bench: ${describeMachine()}, load average ${os
      .loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  try {
    const results = await runBulk();
    heading('Summary (medians of paired rounds)');
    printBulkSummary(results);
    process.exit(results.some((r) => r.failed !== undefined) ? 1 : 0);
  } catch (error) {
    console.error(`bench failed: ${error?.stack ?? error}`);
    process.exit(1);
  }
}
