// After a failed run of the suite on one node version: decide whether the only failure was a
// test worker killed by node's own http2 CHECK (`Assertion failed: (current_nghttp2_memory_) ==
// (0)` in ~Http2Session, seen once on node 22.23.3 and never reproduced; docs/internals.md), and
// if so print the test files to run again, one per line, naming on stderr what died.
//
//   node .ci/crashed.mjs <output log> <pids tsv> <json report>
//
// Exit 0 with the files when the run is worth repeating for them; exit 1 for any other failure
// (a failed test, another crash, a report that does not say), which fails CI as before.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { stripVTControlCharacters } from 'node:util';

const [log, pids, report] = process.argv.slice(2);
const CHECK =
  /node\[(\d+)\]: [^\n]*~Http2Session[^\n]*\n[^\n]*Assertion failed: \(current_nghttp2_memory_\) == \(0\)/g;

function refuse(why) {
  console.error(`== not repeated: ${why}`);
  process.exit(1);
}

const output = existsSync(log) ? stripVTControlCharacters(readFileSync(log, 'utf8')) : '';
const dead = [...output.matchAll(CHECK)].map((m) => m[1]);
if (dead.length === 0) refuse('no worker died of the http2 CHECK; the failure is a real one');
if (!existsSync(report)) refuse('no JSON report');
const result = JSON.parse(readFileSync(report, 'utf8'));
if (result.numFailedTests > 0) refuse(`${result.numFailedTests} tests failed`);

// The file each dead worker was running: its last line in the PID log.
const last = new Map();
for (const line of existsSync(pids) ? readFileSync(pids, 'utf8').split('\n') : []) {
  const [pid, file, test] = line.split('\t');
  if (pid) last.set(pid, { file, test });
}
const files = new Set();
for (const pid of dead) {
  const ran = last.get(pid);
  if (ran === undefined || !ran.file) refuse(`worker ${pid} left no record of what it ran`);
  console.error(`== node's http2 CHECK killed worker ${pid} in ${ran.file} > ${ran.test}`);
  files.add(path.relative(process.cwd(), ran.file));
}
// Any file the report does not show as passed ran in a dead worker too.
for (const file of result.testResults ?? []) {
  if (file.status !== 'passed') files.add(path.relative(process.cwd(), file.name));
}
console.log([...files].join('\n'));
