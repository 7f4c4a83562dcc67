// rxgi benchmark runner: `npm run bench` (builds dist/ first), or `node bench/run.mjs`.
//
// Each scenario pits a baseline server against the same app through rxgi. Servers run in their
// own processes pinned to CPU 0, the load generator pinned to CPU 1. Rounds alternate the order
// (ABBA), and the result of a scenario is the median of the per-round ratios; its verdict is
// that of the cpu-cost ratio (baseline server CPU per request / rxgi's) against its floor.
// Many short rounds rather than a few long ones: on these machines a server's cost per request
// shifts by 20-35 % from one run to the next (other tenants, and the garbage collector settling
// with or without old-generation collections), and a median of 9 pairs is steadier than of 5.
// Servers run with --trace-gc, and each run's old-generation collections are counted. The
// summary at the end is one table of every scenario, with its floor (or ceiling) and status.
//
// Environment:
//   BENCH_DURATION     seconds per measured run (default 3)
//   BENCH_WARMUP       seconds of uncounted warm-up before each run (default 1)
//   BENCH_ROUNDS       paired rounds per scenario (default 9)
//   BENCH_CONNECTIONS  concurrent connections (default 50)
//   BENCH_STREAMS      concurrent streams per HTTP/2 connection in `HTTP/2 hello` (h2load -m;
//                      default 10)
//   BENCH_MANY_CONNECTIONS, BENCH_MANY_STREAMS
//                      connections and streams on each in `HTTP/2 many streams` (10 x 100)
//   BENCH_WS_IDLE_CONNECTIONS, BENCH_WS_IDLE_ROUNDS
//                      idle WebSockets per server and rounds in `WebSocket idle memory`
//                      (default 10000 and 3; bench/ws-idle.mjs, `npm run bench:ws-idle` alone)
//   BENCH_LOADGEN      force the HTTP/1.1 load generator: wrk | autocannon (default: wrk if found;
//                      autocannon saturates its core on a 2-CPU machine, so its req/s ratios
//                      are compressed: the summary says which ran)
//   BENCH_SCENARIOS    comma-separated scenario names to run (default: all):
//                      `HTTP/1.1 hello`, `HTTP/2 hello`, `HTTP/2 many streams`,
//                      `HTTP/1.1 hello (connection per request)`,
//                      `Express hello (fromNodeHandler)`, `WebSocket echo`,
//                      `WebSocket idle memory`, `bulk`, `fanout`
//                      `bulk` (large bodies and messages against raw node, paired: HTTP/1.1,
//                      h2c, 4 streams on one connection, WebSocket) is bench/bulk.mjs, with
//                      BENCH_BULK_SIZE, BENCH_BULK_ROUNDS, BENCH_BULK_REPEAT, BENCH_BULK_MESSAGES
//                      and BENCH_BULK_SCENARIOS of its own (`npm run bench:bulk` runs it alone)
//                      `fanout` (group broadcast to WebSocket clients across processes, rxgi's
//                      buses and Socket.IO) is bench/fanout.mjs; it has settings of its own there
//                      (BENCH_FANOUT_*), and BENCH_ROUNDS (default 3 there) and BENCH_DURATION
//                      apply to it too
//   BENCH_PROFILE      1 or a directory: run both servers under `node --cpu-prof` and print where
//                      their time goes, and rxgi's top self-time functions in dist/ (profiling
//                      slows the servers down: do not read the ratio of such a run)
//   BENCH_NODE_FLAGS   extra node flags for both servers (e.g. --no-turbo-inlining to attribute
//                      self time to the functions V8 would otherwise inline)
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { runBulk } from './bulk.mjs';
import {
  compareExpressResponses,
  compareHttp1Responses,
  compareHttp2Responses,
  compareWebSocketEcho,
} from './checks.mjs';
import {
  clockTicks,
  cpuBusySeconds,
  cpuSeconds,
  DISTURBED,
  describeMachine,
  detectPinning,
  fixed,
  heading,
  here,
  killChildren,
  lineReader,
  numberEnv,
  percent,
  pinning,
  root,
  selectByName,
  sleep,
  spawnPinned,
  stopChild,
  stopChildrenOnExit,
  stopping,
  table,
  track,
  waitForPort,
  warn,
} from './lib.mjs';
import { HTTP1_LOADGENS, loadgenFor } from './loadgens.mjs';
import { breakdown, summarize } from './profile-summary.mjs';
import { medians, printSummary } from './summary.mjs';

// ---------------------------------------------------------------------------------------------
// Configuration

let config;
try {
  config = {
    duration: numberEnv('BENCH_DURATION', 3, 0.5),
    warmup: numberEnv('BENCH_WARMUP', 1, 0),
    rounds: Math.round(numberEnv('BENCH_ROUNDS', 9, 1)),
    connections: Math.round(numberEnv('BENCH_CONNECTIONS', 50, 1)),
    pipelining: 1,
    streams: Math.round(numberEnv('BENCH_STREAMS', 10, 1)),
    manyConnections: Math.round(numberEnv('BENCH_MANY_CONNECTIONS', 10, 1)),
    manyStreams: Math.round(numberEnv('BENCH_MANY_STREAMS', 100, 1)),
    wsIdleConnections: Math.round(numberEnv('BENCH_WS_IDLE_CONNECTIONS', 10_000, 1)),
    wsIdleRounds: Math.round(numberEnv('BENCH_WS_IDLE_ROUNDS', 3, 1)),
    serverCpu: '0',
    loadCpu: '1',
  };
  const forced = process.env.BENCH_LOADGEN;
  if (forced && !HTTP1_LOADGENS.includes(forced)) {
    throw new Error(`BENCH_LOADGEN=${forced}: expected ${HTTP1_LOADGENS.join(' or ')}`);
  }
} catch (error) {
  fail(error.message);
}

// ---------------------------------------------------------------------------------------------
// Scenarios: the loop below runs them all.

// `floor`: the least cpu-cost ratio (baseline µs per request / rxgi's) that is ok, null for
// none; `ceiling`: the most rxgi / baseline that is ok, for the scenarios that measure a cost
// directly (memory, CPU per delivery). `unit`: what one request is, in the tables.
const SCENARIOS = [
  {
    name: 'HTTP/1.1 hello',
    floor: 0.95,
    path: '/',
    baselineServer: { label: 'raw node:http', script: 'servers/raw-http1.mjs' },
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http1',
    check: compareHttp1Responses,
  },
  {
    name: 'HTTP/2 hello',
    floor: 0.95,
    path: '/',
    baselineServer: { label: 'raw node:http2', script: 'servers/raw-http2.mjs' },
    // The same server as for HTTP/1.1: rxgi takes h2c (prior knowledge) on the same port.
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http2',
    check: compareHttp2Responses,
  },
  {
    // Few connections, many streams on each: the per-stream cost, which per-connection work
    // does not dilute.
    name: 'HTTP/2 many streams',
    floor: 0.95,
    path: '/',
    connections: config.manyConnections,
    streams: config.manyStreams,
    baselineServer: { label: 'raw node:http2', script: 'servers/raw-http2.mjs' },
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http2',
    check: compareHttp2Responses,
  },
  {
    // Every request on a connection of its own (`Connection: close`): what setting up and
    // tearing down a connection costs, which the keep-alive scenario above spreads thin.
    name: 'HTTP/1.1 hello (connection per request)',
    floor: 0.9,
    path: '/',
    headers: ['Connection: close'],
    baselineServer: { label: 'raw node:http', script: 'servers/raw-http1.mjs' },
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http1',
    check: compareHttp1Responses,
  },
  {
    name: 'Express hello (fromNodeHandler)',
    floor: 0.95,
    path: '/',
    baselineServer: { label: 'express', script: 'servers/express-native.mjs' },
    // The same Express 5 app, as a contained node listener under rxgi's HTTP/1.1 driver.
    rxgiServer: { label: 'rxgi+express', script: 'servers/rxgi-express.mjs' },
    loadgen: 'http1',
    check: compareExpressResponses,
  },
  {
    // Echo of small text messages over HTTP/1.1 WebSockets: each connection keeps one message
    // in flight; a round trip is the unit.
    name: 'WebSocket echo',
    floor: 0.95,
    path: '/',
    unit: 'trip',
    size: 32,
    baselineServer: { label: 'raw ws', script: 'servers/ws-echo.mjs', args: ['raw'] },
    rxgiServer: { label: 'rxgi', script: 'servers/ws-echo.mjs', args: ['rxgi'] },
    loadgen: 'ws',
    check: compareWebSocketEcho,
  },
  // Heap per idle WebSocket, rxgi / raw ws (bench/ws-idle.mjs, after a settle and full
  // collections in both servers).
  { name: 'WebSocket idle memory', wsIdle: true, ceiling: 1.2 },
  // Large bodies and messages (bench/bulk.mjs, BENCH_BULK_* settings): its rows join the
  // summary below, with its own floors (on throughput).
  { name: 'bulk', bulk: true },
  // A runner of its own (bench/fanout.mjs), which prints its own table; the summary sets each
  // rxgi bus's server CPU per delivery against Socket.IO's (with the Redis adapter).
  { name: 'fanout', fanout: true, ceiling: 0.8, judged: ['cluster', 'redis'] },
];

// Child processes (bench/lib.mjs): every one is tracked and killed on exit, signals and failures.
stopChildrenOnExit();

// ---------------------------------------------------------------------------------------------
// Servers

/** Start a server script pinned to the server CPU; resolves once it accepts connections. */
async function startServer(spec, nodeFlags = []) {
  const script = path.join(here, spec.script);
  // --trace-gc: old-generation collections are counted per run (see `oldGcs` below).
  const args = ['--trace-gc', ...nodeFlags, script, ...(spec.args ?? [])];
  const child = spawnPinned(config.serverCpu, process.execPath, args, {
    cwd: root,
    env: { ...process.env, PORT: '0' },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  // Whether a run had old-generation collections: runs of the same server differ in this, and
  // with it in cost and p99, so the per-round table shows it beside them.
  const gcs = { old: 0 };
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${spec.label}: no port within 15 s`)), 15_000);
    const lines = createInterface({ input: child.stdout });
    const onExit = (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`${spec.label} exited before listening (${signal ?? `code ${code}`})`));
    };
    child.once('exit', onExit);
    child.once('error', onExit);
    lines.on('line', (line) => {
      if (/ ms: (Scavenge|Mark-Compact|Mark-sweep|Minor Mark)/.test(line)) {
        if (/ ms: Mark-(Compact|sweep)/.test(line)) gcs.old++;
        return;
      }
      const match = /^LISTENING (\d+)$/.exec(line);
      if (match === null) {
        process.stdout.write(`[${spec.label}] ${line}\n`);
        return;
      }
      clearTimeout(timer);
      child.off('exit', onExit);
      resolve(Number(match[1]));
    });
  });
  await waitForPort(port);
  return {
    label: spec.label,
    child,
    pid: child.pid,
    port,
    url: `http://127.0.0.1:${port}`,
    alive: () => child.exitCode === null && child.signalCode === null,
    oldGcs: () => gcs.old,
    stop: () => stopChild(child),
  };
}

// ---------------------------------------------------------------------------------------------
// Measuring

/** One measured run against a running server. */
async function measure(server, loadgen, target) {
  const sample = () => ({
    server: cpuSeconds(server.pid),
    core: pinning ? cpuBusySeconds(config.serverCpu) : Number.NaN,
    loadCore: pinning ? cpuBusySeconds(config.loadCpu) : Number.NaN,
    wall: performance.now() / 1000,
    oldGcs: server.oldGcs(),
  });
  let before = null;
  let after = null;
  const result = await loadgen.run(`${server.url}${target}`, {
    start: () => {
      before = sample();
    },
    end: () => {
      after = sample();
    },
  });
  if (!server.alive()) throw new Error(`${server.label} died during the run`);
  const cpu = after.server - before.server;
  const wall = after.wall - before.wall;
  return {
    ...result,
    rps: result.requests / result.duration,
    oldGcs: after.oldGcs - before.oldGcs,
    cpuUsPerReq: result.requests > 0 ? (cpu * 1e6) / result.requests : Number.NaN,
    serverCpu: cpu / wall,
    // Busy time of each pinned CPU not spent by our process on it: other work disturbing us.
    foreignCpu: Math.max(0, (after.core - before.core - cpu) / wall),
    foreignLoadCpu:
      result.loadCpu === null
        ? Number.NaN
        : Math.max(0, (after.loadCore - before.loadCore - result.loadCpu * result.duration) / wall),
  };
}

async function runScenario(scenario) {
  heading(scenario.name);
  const loadgen = loadgenFor(scenario.loadgen, {
    connections: scenario.connections ?? config.connections,
    streams: scenario.streams ?? config.streams,
    pipelining: config.pipelining,
    warmup: config.warmup,
    duration: config.duration,
    loadCpu: config.loadCpu,
    headers: scenario.headers ?? [],
    size: scenario.size,
  });
  if (loadgen.skip !== undefined) {
    console.log(`${scenario.name}: skipped, ${loadgen.skip}`);
    return { scenario, skipped: loadgen.skip };
  }
  console.log(`load generator: ${loadgen.name}`);
  const profiles = profileDirectories(scenario);
  const flags = (dir) => [...extraNodeFlags(), ...(dir === null ? [] : cpuProfFlags(dir))];
  const baseline = await startServer(scenario.baselineServer, flags(profiles.baseline));
  const rxgi = await startServer(scenario.rxgiServer, flags(profiles.rxgi));
  try {
    console.log(
      `servers: ${baseline.label} pid ${baseline.pid} :${baseline.port}, ` +
        `${rxgi.label} pid ${rxgi.pid} :${rxgi.port}` +
        (extraNodeFlags().length === 0 ? '' : `, node flags ${extraNodeFlags().join(' ')}`),
    );
    if (profiles.rxgi !== null) {
      console.log(`profiling both servers with --cpu-prof (slower!) into ${profiles.root}`);
    }
    await scenario.check?.(baseline, rxgi, scenario);
    console.log(
      `${config.rounds} rounds x (${config.warmup} s warm-up + ${config.duration} s measured) ` +
        `per server, ${loadgen.settings}\n`,
    );
    const rounds = [];
    for (let round = 1; round <= config.rounds; round++) {
      // ABBA: alternate which server goes first, so drift hits both alike.
      const order = round % 2 === 1 ? [baseline, rxgi] : [rxgi, baseline];
      const results = new Map();
      for (const server of order) {
        const result = await measure(server, loadgen, scenario.path);
        results.set(server, result);
        console.log(
          `  round ${round}/${config.rounds}  ${runLine(server.label, result, unitOf(scenario))}`,
        );
      }
      const base = results.get(baseline);
      const ours = results.get(rxgi);
      const entry = {
        round,
        base,
        ours,
        ratio: ours.rps / base.rps,
        cpuRatio: base.cpuUsPerReq / ours.cpuUsPerReq,
        disturbed: [base, ours].some(
          (r) => r.foreignCpu > DISTURBED || r.foreignLoadCpu > DISTURBED,
        ),
      };
      rounds.push(entry);
      console.log(
        `  round ${round}/${config.rounds}  ratio rxgi/raw ${fixed(entry.ratio, 3)}  ` +
          `cpu-cost ratio raw/rxgi ${fixed(entry.cpuRatio, 3)}` +
          (entry.disturbed ? '  (disturbed by other work)' : ''),
      );
    }
    return { scenario, loadgen, rounds, baseline: baseline.label, rxgi: rxgi.label, profiles };
  } finally {
    await Promise.all([baseline.stop(), rxgi.stop()]);
  }
}

/**
 * Idle WebSocket memory: bench/ws-idle.mjs --json (raw ws and rxgi, alternating over rounds),
 * which prints the median bytes per idle connection and the median of the rounds' ratios.
 */
async function runWsIdle(scenario) {
  heading(scenario.name);
  const n = config.wsIdleConnections;
  const rounds = config.wsIdleRounds;
  console.log(
    `bench/ws-idle.mjs: ${n} idle WebSockets per server (raw ws on node:http, rxgi serve), ` +
      `${rounds} rounds alternating; heap in use after full collections, per connection`,
  );
  const args = ['--json', '--connections', String(n), '--rounds', String(rounds)];
  const child = track(
    spawn(process.execPath, [path.join(here, 'ws-idle.mjs'), ...args], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const exited = new Promise((resolve) => child.once('exit', (c, signal) => resolve(c ?? signal)));
  const [json] = await lineReader(child, 'ws-idle runner')(/^\{.*\}$/);
  const code = await exited;
  if (code !== 0) throw new Error(`ws-idle.mjs exited with ${code}`);
  const { raw, rxgi } = JSON.parse(json);
  const kib = (bytes) => `${fixed(bytes / 1024, 2)} KiB`;
  console.log(
    `raw ws: heap ${kib(raw.heap)}, rss ${kib(raw.rss)} per connection; ` +
      `rxgi: heap ${kib(rxgi.heap)}, rss ${kib(rxgi.rss)}; rxgi/raw heap ${fixed(rxgi.heapRatio, 3)}, ` +
      `rss ${fixed(rxgi.rssRatio, 3)} (medians of ${rounds} rounds)`,
  );
  return { scenario, memory: { raw, rxgi, connections: n, rounds } };
}

/**
 * Fan-out: bench/fanout.mjs prints its own tables and writes its medians to a file for the
 * summary. A failed run still gives the summary what it measured.
 */
async function runFanout(scenario) {
  const file = path.join(os.tmpdir(), `rxgi-bench-fanout-${process.pid}.json`);
  rmSync(file, { force: true });
  const child = track(
    spawn(process.execPath, [path.join(here, 'fanout.mjs'), '--result', file], {
      cwd: root,
      stdio: 'inherit',
    }),
  );
  const code = await new Promise((resolve) =>
    child.once('exit', (c, signal) => resolve(c ?? signal)),
  );
  const fanout = existsSync(file) ? JSON.parse(readFileSync(file, 'utf8')) : null;
  rmSync(file, { force: true });
  const result = { scenario, fanout };
  if (code !== 0) result.failed = `fanout.mjs exited with ${code}`;
  return result;
}

/** What one request of `scenario` is called in the tables: `req`, or `trip` (a round trip). */
function unitOf(scenario) {
  return scenario.unit ?? 'req';
}

function runLine(label, r, unit) {
  const trouble = r.errors + r.timeouts + r.non2xx;
  const load = r.loadCpu === null ? '' : `  loadgen cpu ${percent(r.loadCpu)}`;
  return (
    `${label.padEnd(14)} ${fixed(r.rps, 0).padStart(7)} ${unit}/s  p99 ${fixed(r.p99, 2)} ms  ` +
    `${fixed(r.cpuUsPerReq, 1)} µs/${unit}  old-gen gcs ${r.oldGcs}  server cpu ${percent(r.serverCpu)}${load}` +
    (Number.isFinite(r.foreignCpu)
      ? `  other work on cpu ${config.serverCpu}/${config.loadCpu} ${percent(r.foreignCpu)}` +
        `/${percent(r.foreignLoadCpu)}`
      : '') +
    (trouble > 0 ? `  ERRORS ${r.errors} timeouts ${r.timeouts} non-2xx ${r.non2xx}` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Profiling (BENCH_PROFILE)

/** Where each server of `scenario` writes its .cpuprofile, or nulls when not profiling. */
function profileDirectories(scenario) {
  const wanted = process.env.BENCH_PROFILE;
  if (wanted === undefined || wanted === '' || wanted === '0') {
    return { root: null, baseline: null, rxgi: null };
  }
  const base = path.resolve(
    wanted === '1' ? path.join(os.tmpdir(), `rxgi-bench-profiles-${process.pid}`) : wanted,
  );
  const dir = path.join(base, scenario.name.replace(/[^a-z0-9]+/gi, '-').toLowerCase());
  const baseline = path.join(dir, 'baseline');
  const rxgi = path.join(dir, 'rxgi');
  mkdirSync(baseline, { recursive: true });
  mkdirSync(rxgi, { recursive: true });
  return { root: dir, baseline, rxgi };
}

function cpuProfFlags(dir) {
  return ['--cpu-prof', `--cpu-prof-dir=${dir}`];
}

/** BENCH_NODE_FLAGS, split on whitespace: extra node flags for both servers. */
function extraNodeFlags() {
  return (process.env.BENCH_NODE_FLAGS ?? '').split(/\s+/).filter(Boolean);
}

/** The newest .cpuprofile in `dir`, parsed, or null. */
function latestProfile(dir) {
  const files = readdirSync(dir)
    .filter((name) => name.endsWith('.cpuprofile'))
    .map((name) => path.join(dir, name))
    .sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
  if (files.length === 0) return null;
  return { file: files[0], profile: JSON.parse(readFileSync(files[0], 'utf8')) };
}

function printProfiles({ scenario, baseline, rxgi, profiles }) {
  for (const [label, dir] of [
    [baseline, profiles.baseline],
    [rxgi, profiles.rxgi],
  ]) {
    const found = latestProfile(dir);
    if (found === null) {
      warn(`no profile was written in ${dir}`);
      continue;
    }
    heading(`${scenario.name}: ${label} profile`);
    console.log(found.file);
    console.log('\nbusy time by owner (self time; includes warm-up and idle gaps between runs):');
    console.log(breakdown(found.profile, root));
    console.log('\ntop self time, all code:');
    console.log(summarize(found.profile, { top: 15 }));
    if (dir === profiles.rxgi) {
      console.log("\ntop self time in rxgi's dist/:");
      console.log(summarize(found.profile, { filter: `${root}/dist/`, top: 20 }));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Reporting

function printScenario({ scenario, rounds, baseline, rxgi }) {
  heading(`${scenario.name}: per round`);
  const unit = scenario.unit ?? 'req';
  const rows = rounds.map((r) => [
    `${r.round}${r.disturbed ? '*' : ''}`,
    fixed(r.base.rps, 0),
    fixed(r.base.p99, 2),
    fixed(r.base.cpuUsPerReq, 1),
    String(r.base.oldGcs),
    fixed(r.ours.rps, 0),
    fixed(r.ours.p99, 2),
    fixed(r.ours.cpuUsPerReq, 1),
    String(r.ours.oldGcs),
    fixed(r.ratio, 3),
    fixed(r.cpuRatio, 3),
  ]);
  const m = medians(rounds);
  rows.push([
    'median',
    fixed(m.baseRps, 0),
    fixed(m.baseP99, 2),
    fixed(m.baseCpu, 1),
    '',
    fixed(m.oursRps, 0),
    fixed(m.oursP99, 2),
    fixed(m.oursCpu, 1),
    '',
    fixed(m.ratio, 3),
    fixed(m.cpuRatio, 3),
  ]);
  console.log(
    table(
      [
        'round',
        `${baseline} ${unit}/s`,
        'p99 ms',
        `µs/${unit}`,
        'old gcs',
        `${rxgi} ${unit}/s`,
        'p99 ms',
        `µs/${unit}`,
        'old gcs',
        'ratio',
        'cpu ratio',
      ],
      rows,
    ),
  );
  console.log(
    `ratio = rxgi ${unit}/s / baseline ${unit}/s; cpu ratio = baseline µs/${unit} / rxgi ` +
      `µs/${unit} (server CPU per ${unit === 'trip' ? 'round trip' : 'request'}, what the ratio ` +
      'would be on an otherwise idle CPU; the one judged); old gcs = ' +
      'old-generation (mark-compact) collections during the run',
  );
  if (rounds.some((r) => r.disturbed)) {
    console.log(
      `* other work took >${percent(DISTURBED)} of CPU ${config.serverCpu} or ${config.loadCpu} during the round`,
    );
  }
}

function fail(message) {
  console.error(`bench: ${message}`);
  process.exit(2);
}

// ---------------------------------------------------------------------------------------------
// Main

async function main() {
  if (!existsSync(path.join(root, 'dist/index.js'))) {
    fail('dist/index.js is missing: run `npm run build` (or `npm run bench`)');
  }
  const unpinned = detectPinning([config.serverCpu, config.loadCpu]);
  if (unpinned !== null) warn(`${unpinned}: running unpinned, numbers will be noisier`);
  let scenarios;
  try {
    scenarios = selectByName(SCENARIOS, 'BENCH_SCENARIOS', 'scenario');
  } catch (error) {
    fail(error.message);
  }
  console.log(
    `rxgi bench: ${describeMachine()}, CLK_TCK ${clockTicks()}, ` +
      (pinning
        ? `servers on CPU ${config.serverCpu}, load generator on CPU ${config.loadCpu} (taskset)`
        : 'unpinned'),
  );
  // A scenario that is skipped or fails does not stop the others; a failure fails the run.
  const results = [];
  for (const scenario of scenarios) {
    let result;
    try {
      if (scenario.bulk) result = { scenario, bulk: await runBulk() };
      else if (scenario.wsIdle) result = await runWsIdle(scenario);
      else if (scenario.fanout) result = await runFanout(scenario);
      else result = await runScenario(scenario);
    } catch (error) {
      if (stopping !== null) throw error;
      console.log(`${scenario.name}: FAILED: ${error?.stack ?? error}`);
      result = { scenario, failed: error?.message ?? String(error) };
    }
    results.push(result);
    if (result.rounds !== undefined) printScenario(result);
  }
  printSummary(results, { server: config.serverCpu, load: config.loadCpu });
  for (const result of results) if (result.profiles?.root) printProfiles(result);
  const failed = (result) =>
    result.failed !== undefined || (result.bulk ?? []).some((r) => r.failed !== undefined);
  return results.some(failed) ? 1 : 0;
}

try {
  process.exit(await main());
} catch (error) {
  if (stopping !== null) await sleep(1_000); // the signal handler exits
  console.error(`bench failed: ${error?.stack ?? error}`);
  killChildren('SIGTERM');
  process.exit(1);
}
