// The load generators of the benchmark runner (run.mjs), by the kind of traffic a scenario asks
// for: `http1` (wrk, else autocannon), `http2` (h2load over h2c) and `ws` (ws clients echoing
// one message each, bench/loadgen/ws-echo-client.mjs). Each runs pinned to the load CPU.
//
// loadgenFor(kind, settings) returns { name, short, settings, run(url, hooks) }, or { skip: why }
// when its tool is missing. run(url, hooks) calls hooks.start() right before the measured run
// and hooks.end() right after it (the server is idle at both points) and resolves to
// { requests, duration (s), p50, p99 (ms), errors, timeouts, non2xx, loadCpu (cores busy, or
// null) }. `settings`: { connections, streams, pipelining, warmup, duration (s), loadCpu (the
// CPU to pin to), headers (extra "Name: value" request lines), size (WebSocket message bytes) }.

import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { cpuSeconds, here, root, Samples, spawnPinned, which } from './lib.mjs';

/** The HTTP/1.1 load generators BENCH_LOADGEN may force. */
export const HTTP1_LOADGENS = ['wrk', 'autocannon'];

/**
 * The load generator for `kind` (http1, http2, ws) with `settings` (see the top of this file);
 * throws when BENCH_LOADGEN asks for what cannot be.
 */
export function loadgenFor(kind, settings) {
  if (kind === 'http1') {
    const forced = process.env.BENCH_LOADGEN || undefined;
    if (forced !== undefined && !HTTP1_LOADGENS.includes(forced)) {
      throw new Error(`BENCH_LOADGEN=${forced}: expected ${HTTP1_LOADGENS.join(' or ')}`);
    }
    const wrk = which('wrk');
    if (forced === 'wrk' && wrk === null)
      throw new Error('BENCH_LOADGEN=wrk but wrk is not installed');
    if (wrk !== null && forced !== 'autocannon') return wrkLoadgen(wrk, settings);
    return autocannonLoadgen(wrk === null ? 'wrk not found' : 'forced by BENCH_LOADGEN', settings);
  }
  if (kind === 'http2') {
    const h2load = which('h2load');
    if (h2load === null) return { skip: 'h2load not found (apt-get install nghttp2-client)' };
    // h2load's stdout is block-buffered into a pipe; stdbuf makes its phase lines arrive on time.
    const stdbuf = which('stdbuf');
    if (stdbuf === null) return { skip: 'stdbuf not found (apt-get install coreutils)' };
    return h2loadLoadgen(h2load, stdbuf, settings);
  }
  if (kind === 'ws') return wsEchoLoadgen(settings);
  throw new Error(`no load generator for ${kind}`);
}

/**
 * A node child of ours (bench/loadgen/<script>, protocol in bench/loadgen/child.mjs) given
 * `options`: it warms up, waits while the runner samples, then runs and reports.
 */
async function runChild(script, options, settings, hooks) {
  const child = spawnPinned(
    settings.loadCpu,
    process.execPath,
    [path.join(here, 'loadgen', script), JSON.stringify(options)],
    { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  let result = null;
  for await (const line of createInterface({ input: child.stdout })) {
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
  if (result === null) throw new Error(`${script} failed (exit ${code})`);
  return result;
}

function autocannonLoadgen(why, settings) {
  const version = JSON.parse(
    readFileSync(path.join(root, 'node_modules/autocannon/package.json'), 'utf8'),
  ).version;
  return {
    // autocannon is node: on one core it saturates before the server does, so req/s ratios
    // come out compressed towards 1 (the CPU cost per request still compares).
    name: `autocannon ${version} (${why})`,
    short: 'autocannon',
    settings: `${settings.connections} connections, pipelining ${settings.pipelining}`,
    run: (url, hooks) =>
      runChild(
        'autocannon-child.mjs',
        {
          url,
          connections: settings.connections,
          pipelining: settings.pipelining,
          warmup: settings.warmup,
          duration: settings.duration,
          headers: Object.fromEntries(
            settings.headers.map((line) => [
              line.slice(0, line.indexOf(':')),
              line.slice(line.indexOf(':') + 1).trim(),
            ]),
          ),
        },
        settings,
        hooks,
      ),
  };
}

function wsEchoLoadgen(settings) {
  const version = JSON.parse(
    readFileSync(path.join(root, 'node_modules/ws/package.json'), 'utf8'),
  ).version;
  return {
    name: `ws ${version} clients (bench/loadgen/ws-echo-client.mjs), one message in flight each`,
    short: 'ws',
    settings: `${settings.connections} connections, ${settings.size}-byte text messages`,
    run: (url, hooks) =>
      runChild(
        'ws-echo-client.mjs',
        {
          url: url.replace(/^http/, 'ws'),
          connections: settings.connections,
          size: settings.size,
          warmup: settings.warmup,
          duration: settings.duration,
        },
        settings,
        hooks,
      ),
  };
}

function wrkLoadgen(wrk, settings) {
  const version = spawnSync(wrk, ['-v'], { encoding: 'utf8' });
  const banner =
    `${version.stdout}${version.stderr}`
      .split('\n')[0]
      .replace(/ Copyright.*/, '')
      .trim() || 'wrk';
  const runWrk = (url, seconds) => {
    const child = spawnPinned(
      settings.loadCpu,
      wrk,
      [
        '-t1',
        `-c${settings.connections}`,
        `-d${seconds}s`,
        '--latency',
        ...settings.headers.flatMap((line) => ['-H', line]),
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
    settings: `${settings.connections} connections, pipelining ${settings.pipelining}`,
    async run(url, hooks) {
      // wrk takes whole seconds.
      if (settings.warmup > 0) await runWrk(url, Math.max(1, Math.round(settings.warmup)));
      hooks.start();
      const output = await runWrk(url, Math.max(1, Math.round(settings.duration)));
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
function h2loadLoadgen(h2load, stdbuf, settings) {
  const version = spawnSync(h2load, ['--version'], { encoding: 'utf8' });
  const banner = version.stdout.split('\n')[0].trim() || 'h2load';
  let runs = 0;
  return {
    name: `${banner} (1 thread, h2c prior knowledge; percentiles from --log-file)`,
    short: 'h2load',
    settings: `${settings.connections} connections x ${settings.streams} streams`,
    async run(url, hooks) {
      const log = path.join(os.tmpdir(), `rxgi-bench-h2load-${process.pid}-${++runs}.log`);
      const ms = (seconds) => `${Math.max(1, Math.round(seconds * 1000))}ms`;
      // taskset and stdbuf exec h2load: child.pid is h2load's.
      const child = spawnPinned(
        settings.loadCpu,
        stdbuf,
        [
          '-oL',
          h2load,
          '-t1',
          `-c${settings.connections}`,
          `-m${settings.streams}`,
          `-D${ms(settings.duration)}`,
          ...(settings.warmup > 0 ? [`--warm-up-time=${ms(settings.warmup)}`] : []),
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
        const result = parseH2load(output, settings);
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
function parseH2load(output, settings) {
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
    duration: rps > 0 ? done / rps : settings.duration,
    // "errored" are failures other than an HTTP status; "timeout" is part of them.
    errors: errored - timeout,
    timeouts: timeout,
    non2xx: Number(codes[2]) + Number(codes[3]) + Number(codes[4]),
  };
}

/** p50 and p99 (ms) of an h2load --log-file: start µs, status, µs to the end of the response. */
function logPercentiles(file) {
  const text = readFileSync(file, 'latin1');
  const times = new Samples();
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const tab = text.lastIndexOf('\t', end);
    if (tab > start) times.add(Number(text.slice(tab + 1, end)) / 1000);
    start = end + 1;
  }
  const [p50, p99] = times.percentiles(50, 99);
  return { p50, p99 };
}
