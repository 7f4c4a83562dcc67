// The fan-out benchmark: one publisher's group broadcast to many WebSocket clients split across
// two server processes sharing one port (node:cluster), through
//   - rxgi on its embedded multi-process bus (`rxgi serve --workers 2`, relayed by the primary),
//   - rxgi on Redis (`--bus redis://…`),
//   - rxgi on NATS (`--bus nats://…`),
//   - Socket.IO with @socket.io/redis-adapter (bench/fanout-socketio.mjs), as the peer,
// and two systems that are not judged, for scale:
//   - rxgi on its embedded bus with every message taken through the app (`req.inbox` mapped to
//     the client's message) instead of sent by the server (`join` with `forward`),
//   - raw `ws` in node:cluster, one frame written to every socket (bench/fanout-raw.mjs): the
//     floor, what node and the kernel cost per delivery.
// The rxgi app is bench/fanout-app.ts.
//
// Run it with `node bench/fanout.mjs` (after `npm run build`), or as the `fanout` scenario of
// `npm run bench` (BENCH_SCENARIOS=fanout node bench/run.mjs), which passes `--result <file>`:
// the medians are written there as JSON for its summary.
//
// Per round, each system in turn (the order rotates from round to round) is started, a load
// generator connects the clients and a publisher that sends `<phase> <seq> <send time>` strings
// at a fixed rate: a warm-up first (not counted), then the measured run. Deliveries and latency
// are counted at the receivers, in the publisher's own process (one clock). The servers and the
// brokers run on CPU 0 (taskset), the load generator on CPU 1. The result of a system is the
// median over rounds; each rxgi system's cost is also set against Socket.IO's in the same round
// (server CPU per delivery, rxgi / Socket.IO), and the median of those ratios reported.
//
// Environment:
//   BENCH_ROUNDS           rounds (default 3)
//   BENCH_DURATION         seconds of measured publishing per run (default 5)
//   BENCH_FANOUT_WARMUP    seconds of uncounted publishing before it (default BENCH_WARMUP,
//                          else 2)
//   BENCH_FANOUT_CLIENTS   receiving WebSocket clients (default 1000)
//   BENCH_FANOUT_RATE      messages the publisher sends per second (default 25: 25,000
//                          deliveries/s, which takes half to two thirds of the server CPU of a
//                          2-CPU machine; rxgi's limit there is ~30 msg/s)
//   BENCH_FANOUT_GRACE     seconds to wait for late deliveries after the last send (default 3)
//   BENCH_FANOUT_SYSTEMS   comma-separated subset of: cluster, redis, nats, cluster-inbox, raw,
//                          socket.io
//
// Internal modes of this file: `fanout.mjs loadgen <json>` is the load generator, and
// `fanout.mjs guard <command> <args…>` runs a command and kills it when its own stdin ends, so
// no broker or server outlives the runner, even when the runner is killed with SIGKILL.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import {
  children,
  clockTicks,
  cpuBusySeconds,
  cpuSeconds,
  DISTURBED,
  describeMachine,
  detectPinning,
  fixed,
  heading,
  here,
  median,
  numberEnv,
  percent,
  pinned,
  pinning,
  procStat,
  root,
  selectByName,
  sleep,
  spawnPinned,
  stopChild,
  stopChildrenOnExit,
  stopOnStdinEnd,
  stopping,
  table,
  track,
  waitForPort,
  warn,
  which,
} from './lib.mjs';

const self = fileURLToPath(import.meta.url);

// ---------------------------------------------------------------------------------------------
// Guard: a command that dies with the runner

function guard([command, ...args]) {
  // The command leads a process group of its own, so its children (cluster workers) can be
  // killed with it; its stdin is a pipe that ends when it is told to stop.
  const child = spawn(command, args, { stdio: ['pipe', 'inherit', 'inherit'], detached: true });
  const killGroup = (signal) => {
    try {
      process.kill(-child.pid, signal);
    } catch {
      // the group is gone
    }
  };
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    child.stdin.end();
    killGroup('SIGTERM');
    // Whatever has not exited after 3 s is stuck (a worker busy with a backlog, say).
    setTimeout(() => killGroup('SIGKILL'), 3_000).unref();
  };
  stopOnStdinEnd(stop);
  child.stdin.on('error', () => {});
  child.once('error', (error) => {
    process.stderr.write(`guard: ${command}: ${error.message}\n`);
    process.exit(127);
  });
  child.once('exit', (code, signal) => {
    // Workers left behind by their primary are orphans: no one else would stop them.
    killGroup('SIGKILL');
    process.exit(code ?? (signal === 'SIGTERM' ? 0 : 1));
  });
}

// ---------------------------------------------------------------------------------------------
// Load generator (its own process, pinned to the load CPU)
//
// Protocol on stdout, one JSON object a line: {phase: 'connected', split}, {phase: 'start'}
// (measured publishing begins), {phase: 'end'} (the last message is sent), {phase: 'done', …}.
// It exits when done, or when its stdin ends.

async function loadgen(options) {
  const { url, path: target, kind, clients, rate, warmup, duration, grace } = options;
  stopOnStdinEnd(() => process.exit(1), []);
  const say = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);
  const connect =
    kind === 'socket.io' ? await socketIoClient(url) : await wsClient(`${url}${target}`);

  const expectedMessages = Math.max(1, Math.round(rate * duration));
  const expected = expectedMessages * clients;
  const latencies = new Float64Array(expected);
  let delivered = 0;
  let extra = 0;
  let other = 0;
  let lastArrival = 0;
  /** Deliveries of any phase while the measured messages are sent (for the CPU per delivery). */
  let inWindow = 0;
  let counting = false;
  let allIn = () => {};
  /** A message at a receiver: `m <seq> <time>` is counted, `w …` (warm-up) is not. */
  const receive = (data) => {
    if (typeof data !== 'string') {
      other++;
      return;
    }
    const first = data.charCodeAt(0);
    if (counting) inWindow++;
    if (first === 109 /* m */) {
      const now = performance.now();
      if (delivered === expected) {
        extra++;
        return;
      }
      latencies[delivered++] = now - Number(data.slice(data.lastIndexOf(' ') + 1));
      lastArrival = now;
      if (delivered === expected) allIn();
    } else if (first !== 119 /* w */) {
      other++;
    }
  };
  const split = new Map();
  const ignore = () => {};

  // Connect in batches, so the servers' accept queues are not flooded.
  const sockets = [];
  const connectOne = async (onMessage) => {
    const socket = await connect(onMessage);
    sockets.push(socket);
    return socket;
  };
  const BATCH = 50;
  const deadline = setTimeout(() => {
    process.stderr.write(`loadgen: ${sockets.length}/${clients} connected within 30 s\n`);
    process.exit(1);
  }, 30_000);
  for (let i = 0; i < clients; i += BATCH) {
    const batch = [];
    for (let j = i; j < Math.min(clients, i + BATCH); j++) batch.push(connectOne(receive));
    for (const socket of await Promise.all(batch)) {
      split.set(socket.pid, (split.get(socket.pid) ?? 0) + 1);
    }
  }
  const publisher = await connectOne(ignore);
  clearTimeout(deadline);
  say({ phase: 'connected', split: Object.fromEntries(split), publisherPid: publisher.pid });

  // Publishing at a fixed rate: message i is due at start + i / rate; a late timer catches up.
  const pace = async (tag, count) => {
    const start = performance.now();
    for (let i = 0; i < count; ) {
      const due = start + (i * 1000) / rate;
      const now = performance.now();
      if (now < due) {
        await sleep(due - now);
        continue;
      }
      publisher.send(`${tag} ${i} ${performance.now()}`);
      i++;
    }
  };
  await pace('w', Math.round(rate * warmup));
  const firstSend = performance.now();
  counting = true;
  say({ phase: 'start' });
  await pace('m', expectedMessages);
  const lastSend = performance.now();
  counting = false;
  say({ phase: 'end' });
  const sendWindow = (lastSend - firstSend) / 1000;
  // Late deliveries are waited for up to `grace` seconds; what is missing then is lost.
  if (delivered < expected) {
    await Promise.race([new Promise((resolve) => (allIn = resolve)), sleep(grace * 1000)]);
  }
  const sorted = latencies.subarray(0, delivered).sort();
  // Percentiles over everything expected: a message not delivered counts as infinitely late.
  const percentile = (p) => {
    const rank = Math.min(expected, Math.max(1, Math.ceil((p / 100) * expected)));
    return rank <= delivered ? sorted[rank - 1] : null;
  };
  say({
    phase: 'done',
    sent: expectedMessages,
    expected,
    delivered,
    extra,
    other,
    // Deliveries over the time from the first measured send to the last delivery.
    rate: delivered / Math.max(sendWindow, (lastArrival - firstSend) / 1000),
    sendRate: expectedMessages / sendWindow,
    windowRate: inWindow / sendWindow,
    p50: percentile(50),
    p99: percentile(99),
    max: delivered === expected ? sorted[delivered - 1] : null,
  });
  for (const socket of sockets) socket.close();
  await sleep(200);
  process.exit(0);
}

/** Raw WebSocket clients (ws) on `url`: each says `pid <n>` first, then the group's strings. */
async function wsClient(url) {
  const { WebSocket } = await import('ws');
  const target = url.replace(/^http/, 'ws');
  return (onMessage) =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(target, { perMessageDeflate: false });
      const socket = {
        pid: null,
        send: (text) => ws.send(text),
        close: () => ws.terminate(),
      };
      ws.once('error', reject);
      ws.once('close', () => reject(new Error('closed before its hello')));
      ws.on('message', (data) => {
        if (socket.pid !== null) {
          onMessage(data.toString());
          return;
        }
        const text = data.toString();
        if (!text.startsWith('pid ')) {
          reject(new Error(`unexpected hello: ${text}`));
          return;
        }
        socket.pid = Number(text.slice(4));
        resolve(socket);
      });
    });
}

/** Socket.IO clients, WebSocket transport only: `pid` first, then the room's `m` events. */
async function socketIoClient(url) {
  const { io } = await import('socket.io-client');
  return (onMessage) =>
    new Promise((resolve, reject) => {
      const client = io(url, { transports: ['websocket'], forceNew: true, reconnection: false });
      const socket = {
        pid: null,
        send: (text) => client.emit('m', text),
        close: () => client.disconnect(),
      };
      client.once('connect_error', reject);
      client.once('pid', (pid) => {
        socket.pid = pid;
        resolve(socket);
      });
      client.on('m', onMessage);
    });
}

// ---------------------------------------------------------------------------------------------
// Runner

// `path`: where the clients connect; `script`: a server of bench/ other than `rxgi serve`.
const SYSTEMS = [
  { name: 'cluster', label: 'rxgi', bus: 'embedded (cluster primary)', broker: null },
  { name: 'redis', label: 'rxgi', bus: 'Redis pub/sub', broker: 'redis' },
  { name: 'nats', label: 'rxgi', bus: 'NATS', broker: 'nats' },
  {
    name: 'cluster-inbox',
    label: 'rxgi',
    bus: 'embedded, through the app',
    broker: null,
    path: '/fan?via=inbox',
  },
  { name: 'raw', label: 'raw ws', bus: 'cluster IPC', broker: null, script: 'fanout-raw.mjs' },
  {
    name: 'socket.io',
    label: 'Socket.IO',
    bus: '@socket.io/redis-adapter',
    broker: 'redis',
    script: 'fanout-socketio.mjs',
  },
];

/** A system as the per-run lines name it. */
function runName(system) {
  if (system.name === 'socket.io') return 'Socket.IO redis';
  return system.name === 'raw' ? 'raw ws' : `rxgi ${system.name}`;
}

const SERVER_CPU = '0';
const LOAD_CPU = '1';
const WORKERS = 2;

/** Spawn `command args` pinned to `cpu`, under a guard (see the top of this file). */
function guarded(cpu, command, args, options = {}) {
  const [pinnedCommand, pinnedArgs] = pinned(cpu, command, args);
  return track(
    spawn(process.execPath, [self, 'guard', pinnedCommand, ...pinnedArgs], {
      cwd: root,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...options,
    }),
  );
}

function brokerBinary(name) {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  return which(name);
}

async function freePort() {
  const server = net.createServer();
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** The last `limit` characters a stream said, for error messages. */
function tail(stream, limit = 4_000) {
  let text = '';
  stream.setEncoding('utf8');
  stream.on('data', (chunk) => {
    text = (text + chunk).slice(-limit);
  });
  return () => text.trim();
}

async function startBroker(kind) {
  const binary = brokerBinary(kind === 'redis' ? 'redis-server' : 'nats-server');
  if (binary === null) throw new Error(`${kind === 'redis' ? 'redis' : 'nats'}-server not found`);
  const port = await freePort();
  const args =
    kind === 'redis'
      ? ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no']
      : ['-a', '127.0.0.1', '-p', String(port)];
  const child = guarded(SERVER_CPU, binary, args);
  child.stdout.resume();
  const said = tail(child.stderr);
  try {
    await waitForPort(port, { child, timeoutMs: 15_000 });
  } catch (error) {
    await stopChild(child);
    throw new Error(`${binary}: ${error.message}\n${said()}`);
  }
  const version = spawnSync(binary, ['--version'], { encoding: 'utf8' });
  return {
    kind,
    child,
    url: `${kind}://127.0.0.1:${port}`,
    version: (version.stdout || version.stderr).trim().split('\n')[0],
    stop: () => stopChild(child),
  };
}

/** Start one system's server; resolves once it accepts connections on its shared port. */
async function startServer(system, brokers) {
  let child;
  let said;
  const announced = new Promise((resolve, reject) => {
    if (system.script !== undefined) {
      child = guarded(SERVER_CPU, process.execPath, [path.join(here, system.script)], {
        env: {
          ...process.env,
          PORT: '0',
          WORKERS: String(WORKERS),
          REDIS_URL: brokers.redis ?? '',
        },
      });
      said = tail(child.stderr);
      createInterface({ input: child.stdout }).on('line', (line) => {
        const match = /^LISTENING (\d+)$/.exec(line);
        if (match !== null) resolve(Number(match[1]));
      });
    } else {
      const args = [
        path.join(root, 'dist/protocols/cli/main.js'),
        'serve',
        'bench/fanout-app.ts',
        '--workers',
        String(WORKERS),
        '--port',
        '0',
        '--shutdown-timeout',
        '2000',
        ...(system.broker === null ? [] : ['--bus', brokers[system.broker]]),
      ];
      child = guarded(SERVER_CPU, process.execPath, args, {
        env: { ...process.env, RXGI_LOG: 'info' },
      });
      child.stdout.resume();
      const lines = [];
      said = () => lines.join('\n');
      createInterface({ input: child.stderr }).on('line', (line) => {
        let entry = null;
        try {
          entry = JSON.parse(line);
        } catch {
          // not a log line
        }
        if (typeof entry?.url === 'string' && typeof entry?.workers === 'number') {
          resolve(Number(new URL(entry.url).port));
        } else if (entry?.level !== 'info') {
          // Warnings (dropped group messages, say) are worth seeing.
          lines.push(line);
          if (lines.length > 50) lines.shift();
          process.stderr.write(`    [${system.name}] ${line}\n`);
        }
      });
    }
    child.once('exit', (code, signal) =>
      reject(new Error(`exited before listening (${signal ?? `code ${code}`})\n${said()}`)),
    );
  });
  let timer;
  try {
    const port = await Promise.race([
      announced,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no port within 20 s\n${said()}`)), 20_000);
      }),
    ]);
    await waitForPort(port, { child, timeoutMs: 15_000 });
    return { child, port, url: `http://127.0.0.1:${port}`, stop: () => stopChild(child) };
  } catch (error) {
    await stopChild(child);
    throw new Error(`${system.label} (${system.name}): ${error.message}`);
  } finally {
    clearTimeout(timer);
  }
}

/** The pids of `pid` and all its descendants, from /proc. */
function processTree(pid) {
  const parents = new Map();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const ppid = Number(procStat(entry)[1]);
      if (!parents.has(ppid)) parents.set(ppid, []);
      parents.get(ppid).push(Number(entry));
    } catch {
      // gone meanwhile
    }
  }
  const tree = [pid];
  for (let i = 0; i < tree.length; i++) tree.push(...(parents.get(tree[i]) ?? []));
  return tree;
}

/** CPU cores busy in `pids` between two cpuSeconds samples taken `seconds` apart. */
function busy(before, after, seconds) {
  let total = 0;
  for (const [pid, value] of after) total += value - (before.get(pid) ?? value);
  return total / seconds;
}

/** A process's start time (clock ticks since boot), to tell it from a later one with its pid. */
function startTime(pid) {
  try {
    return procStat(pid)[19];
  } catch {
    return null;
  }
}

/** Whether the process `pid` started at `started` still runs (and is not a zombie). */
function running(pid, started) {
  try {
    const fields = procStat(pid);
    return fields[19] === started && fields[0] !== 'Z' && fields[0] !== 'X';
  } catch {
    return false;
  }
}

/**
 * SIGKILL whatever of `processes` ([pid, start time]) still runs a second after its guard is
 * gone (the guard SIGKILLs its process group, but that takes a moment); how many there were.
 */
async function killLeftovers(processes) {
  for (let wait = 0; wait < 10; wait++) {
    if (!processes.some(([pid, started]) => running(pid, started))) return 0;
    await sleep(100);
  }
  let killed = 0;
  for (const [pid, started] of processes) {
    if (!running(pid, started)) continue;
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // gone meanwhile
    }
  }
  return killed;
}

/** One measured run of one system: start it, load it, stop it. */
async function runOnce(system, brokers, settings) {
  const server = await startServer(system, brokers);
  const serverPids = processTree(server.child.pid);
  const serverProcesses = serverPids.map((pid) => [pid, startTime(pid)]);
  let load = null;
  // Connecting takes a few seconds; the load generator gives up after 30 s.
  const hardLimit = (settings.warmup + settings.duration + settings.grace + 45) * 1000;
  let timer;
  try {
    const brokerChild = system.broker === null ? null : brokers.children[system.broker];
    const brokerPids = brokerChild === null ? [] : processTree(brokerChild.pid);
    const options = {
      url: server.url,
      path: system.path ?? '/fan',
      kind: system.name === 'socket.io' ? 'socket.io' : 'ws',
    };
    load = spawnPinned(
      LOAD_CPU,
      process.execPath,
      [self, 'loadgen', JSON.stringify({ ...options, ...settings })],
      { cwd: root, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    const loadPids = [load.pid];
    const said = tail(load.stderr);
    const sample = () => ({
      server: cpuSeconds(serverPids),
      broker: cpuSeconds(brokerPids),
      load: cpuSeconds(loadPids),
      serverCore: pinning ? cpuBusySeconds(SERVER_CPU) : Number.NaN,
      loadCore: pinning ? cpuBusySeconds(LOAD_CPU) : Number.NaN,
      wall: performance.now() / 1000,
    });
    const run = (async () => {
      let connected = null;
      let start = null;
      let end = null;
      let done = null;
      for await (const line of createInterface({ input: load.stdout })) {
        let message;
        try {
          message = JSON.parse(line);
        } catch {
          process.stderr.write(`    [loadgen] ${line}\n`);
          continue;
        }
        if (message.phase === 'connected') connected = message;
        else if (message.phase === 'start') start = sample();
        else if (message.phase === 'end') end = sample();
        else if (message.phase === 'done') done = message;
      }
      if (done === null || start === null || end === null || connected === null) {
        throw new Error(`load generator failed (exit ${load.exitCode ?? '?'})\n${said()}`);
      }
      const seconds = end.wall - start.wall;
      const serverCpu = busy(start.server, end.server, seconds);
      // The tree is the guard, the cluster primary, then its workers.
      const primary = serverPids[1];
      const primaryCpu =
        ((end.server.get(primary) ?? Number.NaN) - (start.server.get(primary) ?? Number.NaN)) /
        seconds;
      const brokerCpu = brokerPids.length === 0 ? null : busy(start.broker, end.broker, seconds);
      const loadCpu = busy(start.load, end.load, seconds);
      // Server CPU per delivery, over the send window (the deliveries in it, of any phase).
      const usPerDelivery = done.windowRate > 0 ? (serverCpu * 1e6) / done.windowRate : Number.NaN;
      return {
        ...done,
        split: connected.split,
        serverCpu,
        primaryCpu,
        brokerCpu,
        usPerDelivery,
        loadCpu,
        // Busy time of each pinned CPU not spent by our processes on it: other work disturbing
        // the run (the brokers run on the server CPU).
        foreignServerCpu: Math.max(
          0,
          (end.serverCore - start.serverCore) / seconds - serverCpu - (brokerCpu ?? 0),
        ),
        foreignLoadCpu: Math.max(0, (end.loadCore - start.loadCore) / seconds - loadCpu),
      };
    })();
    return await Promise.race([
      run,
      new Promise((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`run did not finish within ${hardLimit / 1000} s`)),
          hardLimit,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
    if (load !== null) await stopChild(load);
    await server.stop();
    const killed = await killLeftovers(serverProcesses);
    if (killed > 0) console.log(`    (${killed} server processes outlived their stop: killed)`);
  }
}

/** fixed() with 'lost' for an infinite latency (see `late`). */
const fix = (value, digits) => fixed(value, digits, 'lost');

/** percent() with '-' for a share that is not there (no broker, say). */
const pct = (fraction) => percent(fraction, '-');

/** The per-pid split of the clients, as `500/500`. */
function splitText(split) {
  return Object.values(split ?? {}).join('/');
}

function isDisturbed(result) {
  return result.foreignServerCpu > DISTURBED || result.foreignLoadCpu > DISTURBED;
}

function runLine(name, r, settings) {
  const disturbed = isDisturbed(r) ? '*' : ' ';
  return (
    `${name.padEnd(15)}${disturbed} ${fix(r.rate, 0).padStart(7)} msg/s  ` +
    `${((100 * r.delivered) / r.expected).toFixed(1).padStart(5)}% delivered  ` +
    `p50 ${fix(late(r.p50), 2)} ms  p99 ${fix(late(r.p99), 2)} ms  ` +
    `${fix(r.usPerDelivery, 1)} µs/delivery  cpu server ${pct(r.serverCpu)} (primary ${pct(r.primaryCpu)}) broker ${pct(r.brokerCpu ?? Number.NaN)} ` +
    `loadgen ${pct(r.loadCpu)}  other work on cpu ${SERVER_CPU}/${LOAD_CPU} ` +
    `${pct(r.foreignServerCpu)}/${pct(r.foreignLoadCpu)}  split ${splitText(r.split)}` +
    (r.sendRate < settings.rate * 0.98
      ? `  (publisher managed ${r.sendRate.toFixed(0)} msg/s)`
      : '')
  );
}

/** A p99 that is missing (more than 1% lost) is infinite. */
const late = (value) => (value === null ? Number.POSITIVE_INFINITY : value);

async function runner() {
  let settings;
  let rounds;
  let systems;
  try {
    rounds = Math.round(numberEnv('BENCH_ROUNDS', 3, 1));
    settings = {
      clients: Math.round(numberEnv('BENCH_FANOUT_CLIENTS', 1000, 1)),
      rate: numberEnv('BENCH_FANOUT_RATE', 25, 1),
      duration: numberEnv('BENCH_DURATION', 5, 0.5),
      // rxgi's workers take about a second of fan-out to warm up (JIT): two are not counted.
      warmup: numberEnv('BENCH_FANOUT_WARMUP', numberEnv('BENCH_WARMUP', 2, 0), 0),
      grace: numberEnv('BENCH_FANOUT_GRACE', 3, 0),
    };
    systems = selectByName(SYSTEMS, 'BENCH_FANOUT_SYSTEMS', 'system');
  } catch (error) {
    console.error(`fanout: ${error.message}`);
    return 2;
  }
  if (!existsSync(path.join(root, 'dist/protocols/cli/main.js'))) {
    console.error('fanout: dist/protocols/cli/main.js is missing: run `npm run build`');
    return 2;
  }

  // The guards stop what they run when their stdin ends: so stdin first, then SIGTERM.
  stopChildrenOnExit({ prefix: 'fanout: ', exitSignal: 'SIGTERM', endStdin: true, graceMs: 500 });

  // Orphaned (the parent is gone, killed say): stop as if told to.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent && stopping === null) process.kill(process.pid, 'SIGTERM');
  }, 1_000).unref();

  const unpinned = detectPinning([SERVER_CPU, LOAD_CPU]);
  clockTicks(); // asked now, not at the first CPU sample of a run
  heading('fanout: group broadcast to WebSocket clients across 2 processes');
  if (unpinned !== null) warn('cannot pin with taskset: running unpinned, numbers are noisier');

  const brokers = { children: {} };
  const results = new Map(systems.map((system) => [system, []]));
  const failures = [];
  try {
    const needed = new Set(systems.map((system) => system.broker).filter(Boolean));
    const versions = [];
    for (const kind of needed) {
      const broker = await startBroker(kind);
      brokers[kind] = broker.url;
      brokers.children[kind] = broker.child;
      versions.push(`${broker.version} at ${broker.url}`);
    }
    console.log(
      `${describeMachine()}; ` +
        (pinning
          ? `servers and brokers on CPU ${SERVER_CPU}, load generator on CPU ${LOAD_CPU} (taskset)`
          : 'unpinned'),
    );
    if (versions.length > 0) console.log(`brokers: ${versions.join('; ')}`);
    const settingsLine =
      `${settings.clients} clients + 1 publisher at ${settings.rate} msg/s ` +
      `(${settings.rate * settings.clients} deliveries/s offered), ${WORKERS} server processes, ` +
      `${settings.warmup} s warm-up + ${settings.duration} s measured (+ up to ${settings.grace} s ` +
      `for late deliveries), ${rounds} rounds, order rotating`;
    console.log(`${settingsLine}\n`);

    // A run normally takes ~8 s more than its publishing; past twice that on average (brokers
    // or servers that are slow to start or stop, say), the remaining runs are skipped.
    const perRun = settings.warmup + settings.duration + settings.grace + 8;
    const budget = Math.max(300, 2 * rounds * systems.length * perRun) * 1000;
    const began = performance.now();
    for (let round = 1; round <= rounds; round++) {
      const order = systems.map((_, i) => systems[(i + round - 1) % systems.length]);
      for (const system of order) {
        const name = runName(system);
        if (performance.now() - began > budget) {
          failures.push(`${name}, round ${round}: skipped, over the time budget`);
          continue;
        }
        try {
          const result = await runOnce(system, brokers, settings);
          results.get(system).push({ ...result, round });
          console.log(`  round ${round}/${rounds}  ${runLine(name, result, settings)}`);
        } catch (error) {
          if (stopping !== null) throw error;
          failures.push(`${name}, round ${round}: ${error.message.split('\n')[0]}`);
          console.log(`  round ${round}/${rounds}  ${name.padEnd(16)} FAILED: ${error.message}`);
        }
      }
    }
  } catch (error) {
    if (stopping === null) console.log(`fanout FAILED: ${error?.stack ?? error}`);
    return 1;
  } finally {
    await Promise.all([...children].map((child) => stopChild(child)));
  }

  heading('fanout: medians');
  console.log(
    `${settings.clients} WebSocket clients across ${WORKERS} processes on one port, 1 publisher at ` +
      `${settings.rate} msg/s for ${settings.duration} s (after ${settings.warmup} s warm-up); ` +
      `${rounds} rounds; servers+brokers ${pinning ? `on CPU ${SERVER_CPU}` : 'unpinned'}, ` +
      `load generator ${pinning ? `on CPU ${LOAD_CPU}` : 'unpinned'}`,
  );
  const medians = systems.map((system) => fanoutMedians(system, results, rounds));
  const rows = systems.map((system, i) => {
    const runs = results.get(system);
    const mid = (pick) => median(runs.map(pick), true);
    const of = (pick, digits) => fix(mid(pick), digits);
    const disturbed = runs.filter(isDisturbed).length;
    return [
      system.label,
      system.bus,
      `${runs.length}/${rounds}${disturbed > 0 ? ` (${disturbed}*)` : ''}`,
      of((r) => r.rate, 0),
      `${of((r) => (100 * r.delivered) / r.expected, 1)}%`,
      of((r) => late(r.p50), 2),
      of((r) => late(r.p99), 2),
      of((r) => r.usPerDelivery, 1),
      Number.isFinite(medians[i].versusSocketIo) ? fixed(medians[i].versusSocketIo, 3) : '-',
      pct(mid((r) => r.serverCpu)),
      pct(mid((r) => r.brokerCpu ?? Number.NaN)),
      pct(mid((r) => r.loadCpu)),
      runs.length === 0 ? '-' : splitText(runs.at(-1).split),
    ];
  });
  const header = [
    'server',
    'bus',
    'rounds',
    'msg/s delivered',
    'delivered',
    'p50 ms',
    'p99 ms',
    'µs/delivery',
    'vs Socket.IO',
    'server cpu',
    'broker cpu',
    'loadgen cpu',
    'split',
  ];
  console.log(table(header, rows, 2));
  console.log(
    'msg/s delivered = deliveries of the measured messages / (first send to last delivery); ' +
      'latency from send to receipt at the receivers (one clock); "lost": more than 1% (p99) or ' +
      `50% (p50) not delivered within ${settings.grace} s of the last send; µs/delivery = server ` +
      'CPU time per delivery (server = primary + workers, brokers not included); vs Socket.IO = ' +
      "µs/delivery / Socket.IO's in the same round (median of the rounds' ratios); cpu in cores " +
      'over the measured send window; split = clients per server process (last round)',
  );
  const all = [...results.values()].flat();
  const saturated = all.filter((r) => r.loadCpu > 0.9).length;
  if (saturated > 0) {
    warn(
      `the load generator used >90% of its CPU in ${saturated} runs: it may have been ` +
        'the bottleneck there (lower BENCH_FANOUT_RATE)',
    );
  }
  const disturbed = all.filter(isDisturbed).length;
  if (disturbed > 0) {
    warn(
      `other work took >${pct(DISTURBED)} of CPU ${SERVER_CPU} or ${LOAD_CPU} in ` +
        `${disturbed} runs (*): their numbers are disturbed`,
    );
  }
  for (const failure of failures) console.log(`FAILED: ${failure}`);
  if (resultFile !== null)
    writeFileSync(resultFile, JSON.stringify({ settings, systems: medians }));
  return failures.length > 0 ? 1 : 0;
}

/**
 * A system's medians over its runs, as the summary of run.mjs reads them: µs/delivery, the share
 * delivered, p99 (ms; null when more than 1% was lost), and `versusSocketIo`: the median over the
 * rounds both ran of its µs/delivery / Socket.IO's (NaN for Socket.IO itself, or without it).
 */
function fanoutMedians(system, results, rounds) {
  const runs = results.get(system);
  const mid = (pick) => median(runs.map(pick), true);
  const peer = [...results].find(([other]) => other.name === 'socket.io')?.[1] ?? [];
  const peerCost = new Map(peer.map((r) => [r.round, r.usPerDelivery]));
  const paired = system.name === 'socket.io' ? [] : runs.filter((r) => peerCost.has(r.round));
  const p99 = mid((r) => late(r.p99));
  return {
    name: system.name,
    label: system.label,
    bus: system.bus,
    runs: runs.length,
    rounds,
    usPerDelivery: mid((r) => r.usPerDelivery),
    delivered: mid((r) => r.delivered / r.expected),
    p99: Number.isFinite(p99) ? p99 : null,
    versusSocketIo: median(paired.map((r) => r.usPerDelivery / peerCost.get(r.round))),
  };
}

// ---------------------------------------------------------------------------------------------
// Main: this file is the runner, the load generator or a guard

const mode = process.argv[2];
/** Where the runner writes its medians as JSON (`--result <file>`), or null. */
const resultFile = mode === '--result' ? process.argv[3] : null;
if (mode === 'guard') guard(process.argv.slice(3));
else if (mode === 'loadgen') await loadgen(JSON.parse(process.argv[3]));
else process.exit(await runner());
