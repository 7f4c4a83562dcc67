// Plumbing shared by the benchmark runners (run.mjs, fanout.mjs) and their helper processes:
// settings from the environment, child processes (tracked, pinned with taskset, stopped on exit
// and signals), CPU time from /proc, and the report's formatting. Importing it has no side
// effects: the handlers are installed by stopChildrenOnExit, pinning by detectPinning.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The bench/ directory. */
export const here = path.dirname(fileURLToPath(import.meta.url));
/** The repository root. */
export const root = path.dirname(here);

// ---------------------------------------------------------------------------------------------
// Settings

/** The number in $name (`fallback` when unset or empty); throws unless it is a number >= `min`. */
export function numberEnv(name, fallback, min) {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < min) {
    throw new Error(`${name}=${raw}: expected a number >= ${min}`);
  }
  return value;
}

/** The `items` named in the comma-separated $variable (all if unset); throws if none is. */
export function selectByName(items, variable, noun) {
  const wanted = (process.env[variable] ?? '')
    .split(',')
    .map((name) => name.trim())
    .filter(Boolean);
  const selected = wanted.length === 0 ? items : items.filter((item) => wanted.includes(item.name));
  if (selected.length === 0) {
    throw new Error(
      `no ${noun} matches ${variable}; known: ${items.map((item) => item.name).join(', ')}`,
    );
  }
  return selected;
}

/** A round is disturbed when other work takes more than this share of a pinned CPU. */
export const DISTURBED = 0.1;

/** `node <version>, <n> CPUs (<model>)`, for the header of a report. */
export function describeMachine() {
  return `node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'})`;
}

// ---------------------------------------------------------------------------------------------
// Child processes: every one is tracked and stopped on exit, signals and failures.

/** Every tracked child of this process that has not exited yet. */
export const children = new Set();

/** The signal that is stopping the run, if any: failures after it are expected. */
export let stopping = null;

/** Track `child` until it exits; returns it. */
export function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

/** Send `signal` to every tracked child still running, ending its stdin first when `endStdin`. */
export function killChildren(signal, endStdin = false) {
  for (const child of children) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        if (endStdin) child.stdin?.end();
        child.kill(signal);
      } catch {
        // already gone
      }
    }
  }
}

/** On exit send the children `exitSignal`; on SIGINT/TERM/HUP, SIGTERM and exit after `graceMs`. */
export function stopChildrenOnExit({
  prefix = '',
  exitSignal = 'SIGKILL',
  endStdin = false,
  graceMs = 200,
} = {}) {
  process.on('exit', () => killChildren(exitSignal, endStdin));
  for (const [signal, number] of [
    ['SIGINT', 2],
    ['SIGTERM', 15],
    ['SIGHUP', 1],
  ]) {
    process.on(signal, () => {
      stopping = signal;
      process.stderr.write(`\n${prefix}${signal}: stopping\n`);
      killChildren('SIGTERM', endStdin);
      setTimeout(() => process.exit(128 + number), graceMs).unref();
    });
  }
}

/** Call `stop` when stdin ends or fails (the runner went away) and on each of `signals`. */
export function stopOnStdinEnd(stop, signals = ['SIGTERM', 'SIGINT', 'SIGHUP']) {
  for (const signal of signals) process.on(signal, stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

/** Ask a child to exit (stdin end + SIGTERM); SIGKILL after 5 s. */
export async function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.stdin?.end();
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

/** The path of `command` on $PATH, or null. */
export function which(command) {
  const result = spawnSync('sh', ['-c', `command -v ${command}`], { encoding: 'utf8' });
  return result.status === 0 ? result.stdout.trim() : null;
}

/** Whether detectPinning found that taskset pins to the CPUs (pinned() pins only then). */
export let pinning = false;

/** Probe taskset on each of `cpus` and set `pinning`: null when it works, else why not. */
export function detectPinning(cpus) {
  pinning = false;
  if (which('taskset') === null) return 'taskset not found';
  for (const cpu of cpus) {
    if (spawnSync('taskset', ['-c', cpu, 'true']).status !== 0) {
      return `taskset cannot pin to CPU ${cpu}`;
    }
  }
  pinning = true;
  return null;
}

/** [command, args] for `command args` pinned to `cpu` (when pinning works). */
export function pinned(cpu, command, args) {
  return pinning ? ['taskset', ['-c', cpu, command, ...args]] : [command, args];
}

/** Spawn `command args` pinned to `cpu` (see pinned), tracked. */
export function spawnPinned(cpu, command, args, options) {
  const [pinnedCommand, pinnedArgs] = pinned(cpu, command, args);
  return track(spawn(pinnedCommand, pinnedArgs, options));
}

/** Resolves once 127.0.0.1:`port` accepts; throws after `timeoutMs` or once `child` exits. */
export async function waitForPort(port, { child = null, timeoutMs = 10_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child !== null && (child.exitCode !== null || child.signalCode !== null)) {
      throw new Error(`exited (${child.signalCode ?? `code ${child.exitCode}`})`);
    }
    const ok = await new Promise((resolve) => {
      const socket = net.connect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`port ${port} does not accept connections`);
    await sleep(50);
  }
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------------------------------------
// CPU time, from /proc

let ticks = null;

/** Clock ticks per second of /proc's times (getconf CLK_TCK, else 100); asked once. */
export function clockTicks() {
  if (ticks === null) {
    const result = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' });
    const value = Number(result.stdout?.trim());
    ticks = Number.isFinite(value) && value > 0 ? value : 100;
  }
  return ticks;
}

/** The fields of /proc/<pid>/stat after "(comm)": state [0], ppid [1], utime [11], stime [12]. */
export function procStat(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU seconds (user + system) used by `pid` (throws if gone), or a Map of those of `pids`. */
export function cpuSeconds(pids) {
  const of = (pid) => {
    const fields = procStat(pid);
    return (Number(fields[11]) + Number(fields[12])) / clockTicks();
  };
  if (!Array.isArray(pids)) return of(pids);
  const used = new Map();
  for (const pid of pids) {
    try {
      used.set(pid, of(pid));
    } catch {
      // gone
    }
  }
  return used;
}

/** Seconds CPU `cpu` has spent running processes (user, nice, system, steal), from /proc/stat. */
export function cpuBusySeconds(cpu) {
  // Interrupt time is left out: the loopback traffic's softirq work lands there for both servers.
  const line = readFileSync('/proc/stat', 'utf8')
    .split('\n')
    .find((l) => l.startsWith(`cpu${cpu} `));
  if (line === undefined) return Number.NaN;
  // user nice system idle iowait irq softirq steal ...
  const [user, nice, system, , , , , steal] = line.trim().split(/\s+/).slice(1).map(Number);
  return (user + nice + system + steal) / clockTicks();
}

// ---------------------------------------------------------------------------------------------
// Reporting

/** The median of the finite numbers in `values` (and the infinite ones with `infinite`), or NaN. */
export function median(values, infinite = false) {
  const sorted = values.filter((v) =>
    infinite ? typeof v === 'number' && !Number.isNaN(v) : Number.isFinite(v),
  );
  sorted.sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  const middle = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** A growing list of numbers (response times, say), and its percentiles. */
export class Samples {
  #values = new Float64Array(1 << 16);
  /** How many values were added. */
  count = 0;

  add(value) {
    if (this.count === this.#values.length) {
      const grown = new Float64Array(this.count * 2);
      grown.set(this.#values);
      this.#values = grown;
    }
    this.#values[this.count++] = value;
  }

  /** The `p`th percentile of each of `ps` (nearest rank), NaN when there are no values. */
  percentiles(...ps) {
    const sorted = this.#values.subarray(0, this.count).sort();
    return ps.map((p) =>
      this.count === 0
        ? Number.NaN
        : sorted[Math.min(this.count, Math.max(1, Math.ceil((p / 100) * this.count))) - 1],
    );
  }
}

/** `value` with `digits` decimals; `infinity` for +Infinity, 'n/a' for any other non-number. */
export function fixed(value, digits, infinity = 'n/a') {
  if (value === Number.POSITIVE_INFINITY) return infinity;
  return Number.isFinite(value) ? value.toFixed(digits) : 'n/a';
}

/** `fraction` as a whole percentage, or `none` when it is not a finite number. */
export function percent(fraction, none = 'n/a') {
  return Number.isFinite(fraction) ? `${Math.round(fraction * 100)}%` : none;
}

/** A text table: the first `left` columns left-aligned, the others right-aligned. */
export function table(header, rows, left = 1) {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((row) => String(row[i]).length)));
  const line = (row) =>
    row
      .map((cell, i) =>
        i < left ? String(cell).padEnd(widths[i]) : String(cell).padStart(widths[i]),
      )
      .join('  ');
  return [line(header), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

/** Print `text` as a section heading. */
export function heading(text) {
  console.log(`\n== ${text} ${'='.repeat(Math.max(0, 76 - text.length))}`);
}

/** Print `message` as a warning. */
export function warn(message) {
  console.log(`WARNING: ${message}`);
}

/**
 * The stdout lines of a child, read one at a time: `await line(/^READY (\d+)$/)` skips lines
 * until one matches and returns the match; it throws once the child has exited with none left.
 */
export function lineReader(child, label) {
  const lines = [];
  let waiter = null;
  let out = '';
  child.stdout.on('data', (chunk) => {
    out += chunk;
    for (let at = out.indexOf('\n'); at >= 0; at = out.indexOf('\n')) {
      lines.push(out.slice(0, at));
      out = out.slice(at + 1);
    }
    waiter?.();
  });
  return async (pattern) => {
    for (;;) {
      const found = lines.shift();
      if (found !== undefined) {
        const match = pattern.exec(found);
        if (match) return match;
        continue;
      }
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`the ${label} exited`);
      await new Promise((resolve) => {
        waiter = resolve;
        child.once('exit', resolve);
      });
      waiter = null;
    }
  };
}
