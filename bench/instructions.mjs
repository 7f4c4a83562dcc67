// Instructions per request, raw node against rxgi: `npm run bench:instructions` (needs
// valgrind). Not part of `npm run bench`. Scenarios (BENCH_INSTR_SCENARIO, default all three):
// `close`, hello world with a connection per request; `keep-alive`, hello world with 100
// requests a connection (both with a third server: raw node with rxgi loaded); `express`, the
// Express hello world natively and through fromNodeHandler, 100 requests a connection.
//
// On these machines two identical servers differ by ±2-3 % in CPU time per request, so a change
// that saves 1 % cannot be shown by timing it. callgrind counts instructions instead, which are
// the same from run to run: each server runs under `valgrind --tool=callgrind` with node's
// `--single-threaded --predictable` (no compiler or GC threads whose timing would vary), the
// client sends its requests one at a time (so each turn of the event loop sees the same work),
// and callgrind counts nothing until the warm-up requests are served (`--instr-atstart=no`,
// then `callgrind_control -i on`), so start-up and warm-up are left out. Raw node's mutator
// count then repeats within 0.1 %; with 20 connections at a time it moved by 3 % between runs.
//
// Instructions are not time: cache misses, the kernel and system calls are not in them. What
// they show is whether a change does less work, and where (`callgrind_annotate` on the files a
// run with BENCH_INSTR_KEEP=dir leaves there). V8's compiler and parser and its garbage
// collector are counted apart: a tier-up or a major collection lands in the counted window or
// not by chance, and moves a total by thousands of instructions a request; the "mutator" column
// (everything else: JIT code, V8's builtins and runtime, node's C++, libc) is the one to
// compare between builds.
//
// Environment: BENCH_INSTR_SCENARIO (close, keep-alive or express; all when unset),
// BENCH_INSTR_REQUESTS (counted requests, default 5000 with a connection per request, else
// 10000), BENCH_INSTR_WARM (warm-up requests, default 20000: after 6000 connections some of
// rxgi's functions still ran unoptimized), BENCH_INSTR_CONCURRENCY (connections open at once,
// default 1), BENCH_INSTR_KEEP (a directory to keep callgrind's files in), BENCH_INSTR_FLOOR=1
// (hello world gains a first server: node:net and llhttp without node:http, servers/floor-llhttp.mjs,
// what an HTTP/1.1 driver that owned its wire could cost at least; docs/internals.md).
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  detectPinning,
  lineReader,
  numberEnv,
  spawnPinned,
  stopChildrenOnExit,
  table,
  track,
  which,
} from './lib.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const CONCURRENCY = numberEnv('BENCH_INSTR_CONCURRENCY', 1, 1);
// The last server of a scenario is rxgi's; each other is compared with it. The middle one of
// hello world is raw node with rxgi loaded (servers/raw-http1-rxgi-loaded.mjs): what of rxgi's
// gap is node's own code in a process of rxgi's shape rather than rxgi's work per request.
const FLOOR = process.env.BENCH_INSTR_FLOOR === '1';
const HELLO = [
  ...(FLOOR ? [{ label: 'net + llhttp (floor)', script: 'servers/floor-llhttp.mjs' }] : []),
  { label: 'raw node:http', script: 'servers/raw-http1.mjs' },
  { label: 'raw, rxgi loaded', script: 'servers/raw-http1-rxgi-loaded.mjs' },
  { label: 'rxgi', script: 'servers/rxgi-hello.mjs' },
];
const SCENARIOS = {
  close: {
    title: 'a connection per request',
    perConnection: 1,
    warm: 20000,
    requests: 5000,
    servers: HELLO,
  },
  'keep-alive': {
    title: 'keep-alive, 100 requests a connection',
    perConnection: 100,
    warm: 20000,
    requests: 10000,
    servers: HELLO,
  },
  express: {
    title: 'Express, keep-alive, 100 requests a connection',
    perConnection: 100,
    warm: 20000,
    requests: 10000,
    servers: [
      { label: 'Express on node:http', script: 'servers/express-native.mjs' },
      { label: 'Express in rxgi', script: 'servers/rxgi-express.mjs' },
    ],
  },
};
const chosen = process.env.BENCH_INSTR_SCENARIO;
if (chosen !== undefined && !(chosen in SCENARIOS)) {
  console.error(`BENCH_INSTR_SCENARIO is one of ${Object.keys(SCENARIOS).join(', ')}`);
  process.exit(1);
}
// What V8 compiles and parses with, and what its collector runs: counted apart.
const COMPILE = /compiler::|Scanner|Parser|maglev|interpreter::|Compiler|Bytecode/;
const GC =
  /Scaveng|Marking|MarkCompact|MarkBit|Sweep|Evacuat|Pretenur|OnMoveEvent|LiveObject|IteratePointers|RecordMigrated|heap::base|Heap::|ConcurrentMarking|MemoryAllocator|MinorMC|ArrayBufferSweeper|RelocIterator|VisitRelocInfo|ObjectCache|StringTableCleaner|PointersUpdating|RememberedSet|FlushedBytecode|ShouldFlushCode/;

if (['valgrind', 'callgrind_annotate', 'callgrind_control'].some((tool) => which(tool) === null)) {
  console.error('bench/instructions.mjs needs valgrind (apt-get install valgrind)');
  process.exit(1);
}
stopChildrenOnExit({ endStdin: true });
// The client on CPU 1 where taskset works.
detectPinning(['1']);
const keep = process.env.BENCH_INSTR_KEEP;
const work = keep ?? mkdtempSync(path.join(os.tmpdir(), 'rxgi-instructions-'));
if (keep !== undefined) mkdirSync(keep, { recursive: true });

/** Run a client that sends `requests` requests to `port`; resolves once all are answered. */
function client(port, requests, perConnection) {
  const connections = Math.ceil(requests / perConnection);
  const args = [
    path.join(here, 'loadgen/sequential-client.mjs'),
    port,
    connections,
    CONCURRENCY,
    perConnection,
  ];
  const child = spawnPinned('1', process.execPath, args.map(String), { stdio: 'inherit' });
  return new Promise((resolve, reject) => {
    child.on('exit', (code) =>
      code === 0 ? resolve() : reject(new Error(`the client failed (exit ${code})`)),
    );
  });
}

/** Switch callgrind's counting in the process `pid` on or off. */
function instrument(pid, on) {
  const done = spawnSync('callgrind_control', ['-i', on ? 'on' : 'off', String(pid)], {
    encoding: 'utf8',
  });
  if (done.status !== 0) throw new Error(`callgrind_control failed: ${done.stderr}`);
}

/**
 * Instructions, by kind, of the `requests` requests a server serves after `warm` uncounted
 * ones, `perConnection` a connection.
 */
async function run(script, tag, { warm, requests, perConnection }) {
  const out = path.join(work, `${tag}.out`);
  const args = [
    '--tool=callgrind',
    '--instr-atstart=no',
    '--smc-check=all-non-file',
    `--callgrind-out-file=${out}`,
    process.execPath,
    '--single-threaded',
    '--predictable',
    path.join(here, script),
  ];
  const server = track(
    spawn('valgrind', args, {
      env: { ...process.env, PORT: '0' },
      stdio: ['pipe', 'pipe', 'inherit'],
    }),
  );
  const [, port] = await lineReader(server, script)(/^LISTENING (\d+)$/);
  await client(port, warm, perConnection);
  instrument(server.pid, true);
  await client(port, requests, perConnection);
  instrument(server.pid, false);
  // The servers exit when their stdin ends (servers/common.mjs); callgrind then writes its file.
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.stdin.end();
  await exited;
  const files = readdirSync(work)
    .filter((name) => name.startsWith(`${tag}.out`))
    .map((name) => path.join(work, name));
  const annotated = spawnSync('callgrind_annotate', ['--threshold=100', ...files], {
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  }).stdout;
  const kinds = { total: 0, compile: 0, gc: 0 };
  for (const line of annotated.split('\n')) {
    const match = /^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.*)$/.exec(line);
    if (match === null || match[2].startsWith('PROGRAM TOTALS') || match[2].startsWith('file:')) {
      continue;
    }
    const count = Number(match[1].replaceAll(',', ''));
    kinds.total += count;
    if (COMPILE.test(match[2])) kinds.compile += count;
    else if (GC.test(match[2])) kinds.gc += count;
  }
  return kinds;
}

for (const [name, scenario] of Object.entries(SCENARIOS)) {
  if (chosen !== undefined && chosen !== name) continue;
  const warm = numberEnv('BENCH_INSTR_WARM', scenario.warm, 0);
  const requests = numberEnv('BENCH_INSTR_REQUESTS', scenario.requests, 1);
  const rows = [];
  const mutators = [];
  // The servers side by side: valgrind runs a process on one core.
  const counted = await Promise.all(
    scenario.servers.map(({ script }) =>
      run(script, `${name}-${path.basename(script, '.mjs')}`, { ...scenario, warm, requests }),
    ),
  );
  for (const [i, { label }] of scenario.servers.entries()) {
    const per = (kind) => counted[i][kind] / requests;
    const mutator = per('total') - per('compile') - per('gc');
    mutators.push(mutator);
    const count = (n) => Math.round(n).toLocaleString('en-US');
    rows.push([
      label,
      count(mutator),
      count(per('compile')),
      count(per('gc')),
      count(per('total')),
    ]);
  }
  const connections = CONCURRENCY === 1 ? 'one connection' : `${CONCURRENCY} connections`;
  console.log(
    `\ninstructions per request, ${scenario.title} (${requests} counted after ${warm}, ${connections} at a time)`,
  );
  console.log(table(['server', 'mutator', 'compile', 'GC', 'total'], rows));
  const rxgi = mutators.length - 1;
  for (const [i, { label }] of scenario.servers.slice(0, rxgi).entries()) {
    console.log(`${label} / rxgi, mutator: ${(mutators[i] / mutators[rxgi]).toFixed(3)}`);
  }
}
if (keep === undefined) rmSync(work, { recursive: true, force: true });
