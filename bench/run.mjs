// rxgi benchmark runner: `npm run bench` (builds dist/ first), or `node bench/run.mjs`.
//
// Each scenario pits a baseline server against the same app through rxgi. Servers run in their
// own processes pinned to CPU 0, the load generator pinned to CPU 1. Rounds alternate the order
// (ABBA), and the result of a scenario is the median of the per-round rxgi/baseline ratios.
// Many short rounds rather than a few long ones: on these machines a server's cost per request
// shifts by 20-35 % from one run to the next (other tenants, and the garbage collector settling
// with or without old-generation collections), and a median of 9 pairs is steadier than of 5.
// Servers run with --trace-gc, and each run's old-generation collections are counted.
//
// Environment:
//   BENCH_DURATION     seconds per measured run (default 3)
//   BENCH_WARMUP       seconds of uncounted warm-up before each run (default 1)
//   BENCH_ROUNDS       paired rounds per scenario (default 9)
//   BENCH_CONNECTIONS  concurrent connections (default 50)
//   BENCH_STREAMS      concurrent streams per HTTP/2 connection (h2load -m; default 10)
//   BENCH_LOADGEN      force the HTTP/1.1 load generator: wrk | autocannon (default: wrk if found)
//   BENCH_SCENARIOS    comma-separated scenario names to run (default: all)
//                      `bulk` (large bodies and messages against raw node, paired: HTTP/1.1,
//                      h2c, 4 streams on one connection, WebSocket) is bench/bulk.mjs, with
//                      BENCH_BULK_SIZE, BENCH_BULK_ROUNDS, BENCH_BULK_REPEAT, BENCH_BULK_MESSAGES
//                      and BENCH_BULK_SCENARIOS of its own (`npm run bench:bulk` runs it alone)
//                      `fanout` (group broadcast to WebSocket clients across processes, rxgi's
//                      buses and Socket.IO) is bench/fanout.mjs; it has settings of its own there
//   BENCH_PROFILE      1 or a directory: run both servers under `node --cpu-prof` and print where
//                      their time goes, and rxgi's top self-time functions in dist/ (profiling
//                      slows the servers down: do not read the ratio of such a run)
//   BENCH_NODE_FLAGS   extra node flags for both servers (e.g. --no-turbo-inlining to attribute
//                      self time to the functions V8 would otherwise inline)
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import http2 from 'node:http2';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { printBulkSummary, runBulk } from './bulk.mjs';
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
  median,
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
  which,
} from './lib.mjs';
import { breakdown, summarize } from './profile-summary.mjs';

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
    serverCpu: '0',
    loadCpu: '1',
  };
} catch (error) {
  fail(error.message);
}

// ---------------------------------------------------------------------------------------------
// Scenarios: the loop below runs them all.

const SCENARIOS = [
  {
    name: 'HTTP/1.1 hello',
    floor: 0.85,
    path: '/',
    baselineServer: { label: 'raw node:http', script: 'servers/raw-http1.mjs' },
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http1',
    check: compareHttp1Responses,
  },
  {
    name: 'HTTP/2 hello',
    floor: 0.85,
    path: '/',
    baselineServer: { label: 'raw node:http2', script: 'servers/raw-http2.mjs' },
    // The same server as for HTTP/1.1: rxgi takes h2c (prior knowledge) on the same port.
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http2',
    check: compareHttp2Responses,
  },
  {
    // Every request on a connection of its own (`Connection: close`): what setting up and
    // tearing down a connection costs, which the keep-alive scenario above spreads thin.
    // No floor: it is reported, not judged.
    name: 'HTTP/1.1 hello (connection per request)',
    floor: null,
    path: '/',
    headers: ['Connection: close'],
    baselineServer: { label: 'raw node:http', script: 'servers/raw-http1.mjs' },
    rxgiServer: { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
    loadgen: 'http1',
    check: compareHttp1Responses,
  },
  {
    name: 'Express hello (fromNodeHandler)',
    floor: 0.8,
    path: '/',
    baselineServer: { label: 'express', script: 'servers/express-native.mjs' },
    // The same Express 5 app, as a contained node listener under rxgi's HTTP/1.1 driver.
    rxgiServer: { label: 'rxgi+express', script: 'servers/rxgi-express.mjs' },
    loadgen: 'http1',
    check: compareExpressResponses,
  },
  // Large bodies and messages (bench/bulk.mjs, BENCH_BULK_* settings): its rows join the
  // summary below.
  { name: 'bulk', bulk: true },
  // A runner of its own (bench/fanout.mjs), which prints its own table.
  { name: 'fanout', script: 'fanout.mjs' },
];

// Load generators by the kind a scenario asks for; each picks a tool and says which, or returns
// { skip: reason } when none is available (the scenario is skipped, the others run).
const LOADGENS = {
  http1: (headers) => {
    const forced = process.env.BENCH_LOADGEN;
    if (forced !== undefined && forced !== '' && forced !== 'wrk' && forced !== 'autocannon') {
      fail(`BENCH_LOADGEN=${forced}: expected wrk or autocannon`);
    }
    const wrk = which('wrk');
    if (forced === 'wrk' && wrk === null) fail('BENCH_LOADGEN=wrk but wrk is not installed');
    if (wrk !== null && forced !== 'autocannon') return wrkLoadgen(wrk, headers);
    return autocannonLoadgen(wrk === null ? 'wrk not found' : 'forced by BENCH_LOADGEN', headers);
  },
  http2: () => {
    const h2load = which('h2load');
    if (h2load === null) return { skip: 'h2load not found (apt-get install nghttp2-client)' };
    // h2load's stdout is block-buffered into a pipe; stdbuf makes its phase lines arrive on time.
    const stdbuf = which('stdbuf');
    if (stdbuf === null) return { skip: 'stdbuf not found (apt-get install coreutils)' };
    return h2loadLoadgen(h2load, stdbuf);
  },
};

// Child processes (bench/lib.mjs): every one is tracked and killed on exit, signals and failures.
stopChildrenOnExit();

// ---------------------------------------------------------------------------------------------
// Servers

/** Start a server script pinned to the server CPU; resolves once it accepts connections. */
async function startServer(spec, nodeFlags = []) {
  const script = path.join(here, spec.script);
  // --trace-gc: old-generation collections are counted per run (see `oldGcs` below).
  const args = ['--trace-gc', ...nodeFlags, script];
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
// Load generators. run(target, hooks) calls hooks.start() right before the measured run and
// hooks.end() right after it (the server is idle at both points) and resolves to
// { requests, duration, p50, p99 (ms), errors, loadCpu (cores busy, or null) }.

/** `headers`: extra request header lines ("Name: value") every request carries. */
function autocannonLoadgen(why, headers) {
  const version = JSON.parse(
    readFileSync(path.join(root, 'node_modules/autocannon/package.json'), 'utf8'),
  ).version;
  return {
    name: `autocannon ${version} (${why}; wrk is more accurate)`,
    short: 'autocannon',
    settings: `${config.connections} connections, pipelining ${config.pipelining}`,
    async run(url, hooks) {
      const options = {
        url,
        connections: config.connections,
        pipelining: config.pipelining,
        warmup: config.warmup,
        duration: config.duration,
        headers: Object.fromEntries(
          headers.map((line) => [
            line.slice(0, line.indexOf(':')),
            line.slice(line.indexOf(':') + 1).trim(),
          ]),
        ),
      };
      const script = path.join(here, 'loadgen/autocannon-child.mjs');
      const child = spawnPinned(
        config.loadCpu,
        process.execPath,
        [script, JSON.stringify(options)],
        { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const lines = createInterface({ input: child.stdout });
      let result = null;
      for await (const line of lines) {
        const message = JSON.parse(line);
        if (message.phase === 'warm') {
          hooks.start();
          child.stdin.write('go\n');
        } else if (message.phase === 'done') {
          hooks.end();
          result = message;
        }
      }
      const code = await exited;
      if (result === null) throw new Error(`autocannon child failed (exit ${code})`);
      return result;
    },
  };
}

function wrkLoadgen(wrk, headers) {
  const version = spawnSync(wrk, ['-v'], { encoding: 'utf8' });
  const banner = `${version.stdout}${version.stderr}`.split('\n')[0].trim() || 'wrk';
  const runWrk = (url, seconds) => {
    const child = spawnPinned(
      config.loadCpu,
      wrk,
      [
        '-t1',
        `-c${config.connections}`,
        `-d${seconds}s`,
        '--latency',
        ...headers.flatMap((line) => ['-H', line]),
        url,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
    });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => {
        if (code === 0) resolve(output);
        else reject(new Error(`wrk exited with ${code}:\n${output}`));
      });
    });
  };
  return {
    name: `${banner} (1 thread)`,
    short: 'wrk',
    settings: `${config.connections} connections, pipelining ${config.pipelining}`,
    async run(url, hooks) {
      // wrk takes whole seconds.
      if (config.warmup > 0) await runWrk(url, Math.max(1, Math.round(config.warmup)));
      hooks.start();
      const output = await runWrk(url, Math.max(1, Math.round(config.duration)));
      hooks.end();
      return parseWrk(output);
    },
  };
}

/** The numbers of a `wrk --latency` report. */
function parseWrk(output) {
  const total = /(\d+) requests in ([\d.]+)(us|ms|s|m|h)/.exec(output);
  if (total === null) throw new Error(`cannot parse wrk output:\n${output}`);
  const latency = (label) => {
    const match = new RegExp(`^\\s*${label}%\\s+([\\d.]+)(us|ms|s|m|h)`, 'm').exec(output);
    return match === null ? Number.NaN : toMs(Number(match[1]), match[2]);
  };
  const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(
    output,
  );
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(output);
  return {
    requests: Number(total[1]),
    duration: toMs(Number(total[2]), total[3]) / 1000,
    p50: latency('50'),
    p99: latency('99'),
    errors: socket === null ? 0 : Number(socket[1]) + Number(socket[2]) + Number(socket[3]),
    timeouts: socket === null ? 0 : Number(socket[4]),
    non2xx: non2xx === null ? 0 : Number(non2xx[1]),
    loadCpu: null,
  };
}

function toMs(value, unit) {
  const scale = { us: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 }[unit];
  return value * scale;
}

/**
 * h2load (nghttp2) over h2c with prior knowledge (an http:// URI), one thread. A single process
 * does the warm-up and the measured run (--warm-up-time, -D); its "Main benchmark duration is
 * started/over" lines mark the boundary, so the server is busy there (the CPU samples are off
 * by the pipe's latency, well under a millisecond). h2load 1.52 prints only min/max/mean/sd of
 * the request times, so the percentiles come from its --log-file of every measured request.
 */
function h2loadLoadgen(h2load, stdbuf) {
  const version = spawnSync(h2load, ['--version'], { encoding: 'utf8' });
  const banner = version.stdout.split('\n')[0].trim() || 'h2load';
  let runs = 0;
  return {
    name: `${banner} (1 thread, h2c prior knowledge; percentiles from --log-file)`,
    short: 'h2load',
    settings: `${config.connections} connections x ${config.streams} streams`,
    async run(url, hooks) {
      const log = path.join(os.tmpdir(), `rxgi-bench-h2load-${process.pid}-${++runs}.log`);
      const ms = (seconds) => `${Math.max(1, Math.round(seconds * 1000))}ms`;
      // taskset and stdbuf exec h2load: child.pid is h2load's.
      const child = spawnPinned(
        config.loadCpu,
        stdbuf,
        [
          '-oL',
          h2load,
          '-t1',
          `-c${config.connections}`,
          `-m${config.streams}`,
          `-D${ms(config.duration)}`,
          ...(config.warmup > 0 ? [`--warm-up-time=${ms(config.warmup)}`] : []),
          `--log-file=${log}`,
          url,
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      try {
        const exited = new Promise((resolve, reject) => {
          child.once('error', reject);
          child.once('exit', resolve);
        });
        let output = '';
        let started = null;
        let ended = null;
        for await (const line of createInterface({ input: child.stdout })) {
          output += `${line}\n`;
          if (started === null && line.startsWith('Main benchmark duration is started')) {
            hooks.start();
            started = { cpu: cpuSeconds(child.pid), wall: performance.now() / 1000 };
          } else if (
            started !== null &&
            ended === null &&
            line.startsWith('Main benchmark duration is over')
          ) {
            hooks.end();
            ended = { cpu: cpuSeconds(child.pid), wall: performance.now() / 1000 };
          }
        }
        const code = await exited;
        if (code !== 0 || started === null || ended === null) {
          throw new Error(`h2load exited with ${code} outside its measured run:\n${output}`);
        }
        const result = parseH2load(output);
        if (result.requests === 0) throw new Error(`h2load completed no requests:\n${output}`);
        const { p50, p99 } = logPercentiles(log);
        return {
          ...result,
          p50,
          p99,
          loadCpu: (ended.cpu - started.cpu) / (ended.wall - started.wall),
        };
      } finally {
        rmSync(log, { force: true });
      }
    },
  };
}

/** The numbers of an h2load report (timing-based: they cover the measured run only). */
function parseH2load(output) {
  const finished = /^finished in [\d.]+\w+, ([\d.]+) req\/s/m.exec(output);
  const requests =
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m.exec(
      output,
    );
  const codes = /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m.exec(output);
  if (finished === null || requests === null || codes === null) {
    throw new Error(`cannot parse h2load output:\n${output}`);
  }
  const [done, , , errored, timeout] = requests.slice(3).map(Number);
  const rps = Number(finished[1]);
  return {
    // Completed requests: responses received within the measured run.
    requests: done,
    // h2load's req/s is done / the measured duration ("finished in" includes the warm-up).
    duration: rps > 0 ? done / rps : config.duration,
    // "errored" are failures other than an HTTP status; "timeout" is part of them.
    errors: errored - timeout,
    timeouts: timeout,
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
  };
}

/** p50 and p99 (ms) of an h2load --log-file: start µs, status, µs to the end of the response. */
function logPercentiles(file) {
  const text = readFileSync(file, 'latin1');
  let times = new Float64Array(1 << 16);
  let count = 0;
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const tab = text.lastIndexOf('\t', end);
    if (tab > start) {
      if (count === times.length) {
        const grown = new Float64Array(times.length * 2);
        grown.set(times);
        times = grown;
      }
      times[count++] = Number(text.slice(tab + 1, end)) / 1000;
    }
    start = end + 1;
  }
  const sorted = times.subarray(0, count).sort();
  const percentile = (p) =>
    count === 0
      ? Number.NaN
      : sorted[Math.min(count, Math.max(1, Math.ceil((p / 100) * count))) - 1];
  return { p50: percentile(50), p99: percentile(99) };
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
  const loadgen = LOADGENS[scenario.loadgen](scenario.headers ?? []);
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
        console.log(`  round ${round}/${config.rounds}  ${runLine(server.label, result)}`);
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

/** A scenario with a runner of its own: it prints its results; a failure is its exit status. */
async function runScript(scenario) {
  const script = path.join(here, scenario.script);
  const child = track(spawn(process.execPath, [script], { cwd: root, stdio: 'inherit' }));
  const code = await new Promise((resolve) =>
    child.once('exit', (c, signal) => resolve(c ?? signal)),
  );
  if (code !== 0) throw new Error(`${scenario.script} exited with ${code}`);
  return { scenario, ran: true };
}

function runLine(label, r) {
  const trouble = r.errors + r.timeouts + r.non2xx;
  const load = r.loadCpu === null ? '' : `  loadgen cpu ${percent(r.loadCpu)}`;
  return (
    `${label.padEnd(14)} ${fixed(r.rps, 0).padStart(7)} req/s  p99 ${fixed(r.p99, 2)} ms  ` +
    `${fixed(r.cpuUsPerReq, 1)} µs/req  old-gen gcs ${r.oldGcs}  server cpu ${percent(r.serverCpu)}${load}` +
    (Number.isFinite(r.foreignCpu)
      ? `  other work on cpu ${config.serverCpu}/${config.loadCpu} ${percent(r.foreignCpu)}` +
        `/${percent(r.foreignLoadCpu)}`
      : '') +
    (trouble > 0 ? `  ERRORS ${r.errors} timeouts ${r.timeouts} non-2xx ${r.non2xx}` : '')
  );
}

// ---------------------------------------------------------------------------------------------
// Response check: both servers should put the same bytes on the wire (but for the Date value).

async function compareHttp1Responses(baseline, rxgi, scenario) {
  const [a, b] = await Promise.all([
    rawGet(baseline.port, scenario.path),
    rawGet(rxgi.port, scenario.path),
  ]);
  const normalize = (text) => text.replace(/^date: .*$/im, 'Date: <date>');
  if (normalize(a) === normalize(b)) {
    console.log(`responses: identical but for Date (${Buffer.byteLength(a)} bytes)`);
    return;
  }
  warn('the two servers answer with different bytes:');
  console.log(indent(`${baseline.label}:\n${indent(a)}\n${rxgi.label}:\n${indent(b)}`));
}

/**
 * Express through fromNodeHandler: the status, content-type and body must be identical, and so
 * must the set of header fields (names compared case-insensitively: rxgi sends them lower-case)
 * but for the values of Date and ETag.
 */
async function compareExpressResponses(baseline, rxgi, scenario) {
  const [a, b] = (
    await Promise.all([rawGet(baseline.port, scenario.path), rawGet(rxgi.port, scenario.path)])
  ).map(parseHttp1Response);
  const problems = [];
  if (a.status !== b.status) problems.push(`status: ${a.status} vs ${b.status}`);
  const contentType = (r) => r.headers.get('content-type');
  if (contentType(a) !== contentType(b)) {
    problems.push(`content-type: ${contentType(a)} vs ${contentType(b)}`);
  }
  if (a.body !== b.body)
    problems.push(`body: ${JSON.stringify(a.body)} vs ${JSON.stringify(b.body)}`);
  const names = new Set([...a.headers.keys(), ...b.headers.keys()]);
  for (const name of names) {
    if (name === 'date' || name === 'etag') {
      if (a.headers.has(name) !== b.headers.has(name)) problems.push(`${name}: only on one side`);
    } else if (a.headers.get(name) !== b.headers.get(name)) {
      problems.push(`${name}: ${a.headers.get(name)} vs ${b.headers.get(name)}`);
    }
  }
  if (problems.length === 0) {
    console.log(
      `responses: same status line, headers and ${Buffer.byteLength(a.body)}-byte body ` +
        `(${a.headers.size} fields: ${[...a.headers.keys()].join(', ')}; ` +
        'names case-insensitive, date and etag values not compared)',
    );
    return;
  }
  warn(`the two servers answer differently: ${problems.join('; ')}`);
  console.log(indent(`${baseline.label}:\n${indent(a.text)}\n${rxgi.label}:\n${indent(b.text)}`));
}

/** A raw HTTP/1.1 response: status line, header fields by lower-case name (joined), body. */
function parseHttp1Response(text) {
  const end = text.indexOf('\r\n\r\n');
  const [status, ...lines] = text.slice(0, end).split('\r\n');
  const headers = new Map();
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers.set(name, headers.has(name) ? `${headers.get(name)}, ${value}` : value);
  }
  return { text, status, headers, body: text.slice(end + 4) };
}

/** One GET on a fresh keep-alive connection; the response head and body as text. */
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = Buffer.alloc(0);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no response from :${port} within 5 s`));
    }, 5_000);
    socket.on('error', reject);
    socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`);
    socket.on('data', (chunk) => {
      data = Buffer.concat([data, chunk]);
      const end = data.indexOf('\r\n\r\n');
      if (end < 0) return;
      const head = data.subarray(0, end).toString('latin1');
      const length = Number(/^content-length: *(\d+)/im.exec(head)?.[1] ?? 0);
      if (data.length < end + 4 + length) return;
      clearTimeout(timer);
      socket.destroy();
      resolve(data.subarray(0, end + 4 + length).toString('latin1'));
    });
  });
}

/** Both servers should answer with the same status, headers (in order; but for Date) and body. */
async function compareHttp2Responses(baseline, rxgi, scenario) {
  const [a, b] = await Promise.all([h2Get(baseline, scenario.path), h2Get(rxgi, scenario.path)]);
  const normalize = (text) => text.replace(/^date: .*$/im, 'date: <date>');
  if (normalize(a.text) === normalize(b.text)) {
    console.log(
      `responses: identical over HTTP/2 but for date (status ${a.status}, ` +
        `${a.headerCount} headers, ${a.bodyBytes}-byte body)`,
    );
    return;
  }
  warn('the two servers answer with different HTTP/2 responses:');
  console.log(indent(`${baseline.label}:\n${indent(a.text)}\n${rxgi.label}:\n${indent(b.text)}`));
}

/** One GET over h2c with prior knowledge; the response as text (headers as received, body). */
function h2Get(server, target) {
  return new Promise((resolve, reject) => {
    const session = http2.connect(`http://127.0.0.1:${server.port}`);
    const failed = (error) => {
      clearTimeout(timer);
      session.destroy();
      reject(
        new Error(
          `${server.label} (:${server.port}) does not answer HTTP/2 with prior knowledge (h2c): ` +
            `${error?.message ?? error}`,
        ),
      );
    };
    const timer = setTimeout(() => failed('no response within 5 s'), 5_000);
    session.on('error', failed);
    session.on('goaway', (code) => failed(`GOAWAY (error code ${code})`));
    const stream = session.request({ ':path': target });
    stream.on('error', failed);
    let head = null;
    const body = [];
    // node keeps the received order in the headers object (repeated names are joined).
    stream.on('response', (headers) => {
      head = headers;
    });
    stream.on('data', (chunk) => body.push(chunk));
    stream.on('end', () => {
      clearTimeout(timer);
      session.close();
      if (head === null) {
        failed('the stream ended without a response');
        return;
      }
      const bytes = Buffer.concat(body);
      const lines = Object.entries(head).map(([name, value]) => `${name}: ${value}`);
      resolve({
        status: head[':status'],
        headerCount: lines.length - 1,
        bodyBytes: bytes.length,
        text: `${lines.join('\n')}\n\n${bytes.toString('latin1')}`,
      });
    });
    stream.end();
  });
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
        `${baseline} req/s`,
        'p99 ms',
        'µs/req',
        'old gcs',
        `${rxgi} req/s`,
        'p99 ms',
        'µs/req',
        'old gcs',
        'ratio',
        'cpu ratio',
      ],
      rows,
    ),
  );
  console.log(
    'ratio = rxgi req/s / baseline req/s; cpu ratio = baseline µs/req / rxgi µs/req ' +
      '(server CPU per request, what the ratio would be on an otherwise idle CPU); old gcs = ' +
      'old-generation (mark-compact) collections during the run',
  );
  if (rounds.some((r) => r.disturbed)) {
    console.log(
      `* other work took >${percent(DISTURBED)} of CPU ${config.serverCpu} or ${config.loadCpu} during the round`,
    );
  }
}

function medians(rounds) {
  const of = (pick) => median(rounds.map(pick));
  return {
    baseRps: of((r) => r.base.rps),
    oursRps: of((r) => r.ours.rps),
    baseP99: of((r) => r.base.p99),
    oursP99: of((r) => r.ours.p99),
    baseCpu: of((r) => r.base.cpuUsPerReq),
    oursCpu: of((r) => r.ours.cpuUsPerReq),
    ratio: of((r) => r.ratio),
    cpuRatio: of((r) => r.cpuRatio),
  };
}

/**
 * The rounds grouped by whether each server had old-generation collections: a server's cost
 * moves with that state (runs without them cost less), and a ratio between a run with and a
 * run without says more about the state than about the servers.
 */
function byGcState(rounds) {
  const groups = new Map();
  for (const r of rounds) {
    const state = (gcs) => (gcs > 0 ? 'with' : 'without');
    const key = `baseline ${state(r.base.oldGcs)}, rxgi ${state(r.ours.oldGcs)}`;
    groups.set(key, [...(groups.get(key) ?? []), r.ratio]);
  }
  return [...groups].map(
    ([key, ratios]) => `${key}: ${ratios.length} rounds, median ${fixed(median(ratios), 2)}`,
  );
}

function printSummary(everything) {
  heading('Summary (medians of paired rounds)');
  const results = everything.filter((result) => result.rounds !== undefined);
  const rows = results.map(({ scenario, loadgen, rounds }) => {
    const m = medians(rounds);
    return [
      scenario.name,
      loadgen.short,
      fixed(m.baseRps, 0),
      fixed(m.oursRps, 0),
      fixed(m.baseP99, 2),
      fixed(m.oursP99, 2),
      fixed(m.baseCpu, 1),
      fixed(m.oursCpu, 1),
      fixed(m.oursCpu - m.baseCpu, 1),
      fixed(m.cpuRatio, 3),
      fixed(m.ratio, 3),
      scenario.floor === null ? '-' : fixed(scenario.floor, 2),
      scenario.floor === null ? '-' : m.ratio < scenario.floor ? 'BELOW FLOOR' : 'ok',
    ];
  });
  if (rows.length > 0)
    console.log(
      table(
        [
          'scenario',
          'loadgen',
          'base req/s',
          'rxgi req/s',
          'base p99 ms',
          'rxgi p99 ms',
          'base µs/req',
          'rxgi µs/req',
          'Δ µs/req',
          'cpu ratio',
          'ratio',
          'floor',
          'status',
        ],
        rows,
      ),
    );
  const all = results.flatMap(({ rounds }) => rounds);
  if (all.some((r) => (r.base.loadCpu ?? 0) > 0.95 || (r.ours.loadCpu ?? 0) > 0.95)) {
    warn('the load generator used >95% of its CPU in some runs: it may be the bottleneck');
  }
  const disturbed = all.filter((r) => r.disturbed).length;
  if (disturbed > 0) {
    warn(
      `other work took >${percent(DISTURBED)} of CPU ${config.serverCpu} or ${config.loadCpu} in ${disturbed} of ` +
        `${all.length} rounds: req/s ratios are disturbed; the cpu ratio is the steadier number`,
    );
  }
  console.log('');
  for (const { scenario, rounds } of results) {
    const m = medians(rounds);
    console.log(
      `${scenario.name} cpu-cost ratio (median of ${rounds.length} paired rounds): ` +
        `${fixed(m.cpuRatio, 2)}  (baseline µs/req / rxgi µs/req)`,
    );
    const below = scenario.floor !== null && m.ratio < scenario.floor ? '  BELOW FLOOR' : '';
    const floor = scenario.floor === null ? 'no floor' : `floor ${fixed(scenario.floor, 2)}`;
    console.log(
      `${scenario.name} ratio (median of ${rounds.length} paired rounds): ` +
        `${fixed(m.ratio, 2)}  (${floor})${below}`,
    );
    const states = byGcState(rounds);
    if (states.length > 1)
      console.log(`${scenario.name} ratio by old-gen GC state: ${states.join('; ')}`);
  }
  for (const { bulk } of everything) {
    if (bulk === undefined) continue;
    console.log('');
    printBulkSummary(bulk);
  }
  for (const { scenario, skipped, failed, ran } of everything) {
    if (ran) console.log(`${scenario.name}: see its table above`);
    if (skipped !== undefined) console.log(`${scenario.name}: skipped, ${skipped}`);
    if (failed !== undefined) console.log(`${scenario.name}: FAILED: ${failed.split('\n')[0]}`);
  }
}

function indent(text) {
  return text
    .split(/\r?\n/)
    .map((line) => `    ${line}`)
    .join('\n');
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
      result = scenario.bulk
        ? { scenario, bulk: await runBulk() }
        : scenario.script
          ? await runScript(scenario)
          : await runScenario(scenario);
    } catch (error) {
      if (stopping !== null) throw error;
      console.log(`${scenario.name}: FAILED: ${error?.stack ?? error}`);
      result = { scenario, failed: error?.message ?? String(error) };
    }
    results.push(result);
    if (result.rounds !== undefined) printScenario(result);
  }
  printSummary(results);
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
