// Top self-time functions of a V8 .cpuprofile (as written by `node --cpu-prof`).
//
//   node bench/profile-summary.mjs <file.cpuprofile> [filter] [top]
//
// `filter` keeps functions whose script URL contains it (e.g. /work/main/dist/). Percentages
// are of the busy (non-idle) time. run.mjs uses `summarize` for BENCH_PROFILE.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Self time in µs per profile node id, and the busy total. */
function selfTimes(profile) {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const selfUs = new Map();
  let busy = 0;
  const { samples, timeDeltas } = profile;
  for (let i = 0; i < samples.length; i++) {
    // A sample's time is the delta to the next sample.
    const dt = timeDeltas[i + 1] ?? 0;
    selfUs.set(samples[i], (selfUs.get(samples[i]) ?? 0) + dt);
    if (byId.get(samples[i]).callFrame.functionName !== '(idle)') busy += dt;
  }
  return { byId, selfUs, busy };
}

/** Where a script belongs: the project's dist/, a package in node_modules, node, or V8. */
export function owner(url, root) {
  if (url === '') return 'v8/native';
  if (url.startsWith('node:')) return 'node internals';
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) {
    const rest = url.slice(modules + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  if (root !== undefined && url.includes(`${root}/dist/`)) return 'rxgi dist';
  return 'other';
}

/** Busy time split by owner (see `owner`), largest first. */
export function breakdown(profile, root) {
  const { byId, selfUs, busy } = selfTimes(profile);
  const byOwner = new Map();
  for (const [id, us] of selfUs) {
    const { functionName, url } = byId.get(id).callFrame;
    if (functionName === '(idle)') continue;
    const key = url === '' ? functionName : owner(url, root);
    byOwner.set(key, (byOwner.get(key) ?? 0) + us);
  }
  return [...byOwner]
    .sort((a, b) => b[1] - a[1])
    .map(([key, us]) => `${pct(us, busy).padStart(6)}  ${ms(us)}  ${key}`)
    .concat(`        ${ms(busy)}  busy in total`)
    .join('\n');
}

/** A table of the `top` functions by self time, optionally only those whose URL has `filter`. */
export function summarize(profile, { filter = '', top = 20 } = {}) {
  const { byId, selfUs, busy } = selfTimes(profile);
  const byFunction = new Map();
  let filtered = 0;
  for (const [id, us] of selfUs) {
    const { functionName, url, lineNumber, columnNumber } = byId.get(id).callFrame;
    if (functionName === '(idle)') continue;
    if (filter !== '' && !url.includes(filter)) continue;
    filtered += us;
    const file = url === '' ? '' : `${shorten(url)}:${lineNumber + 1}:${columnNumber + 1}`;
    const key = `${functionName || '(anonymous)'}\t${file}`;
    byFunction.set(key, (byFunction.get(key) ?? 0) + us);
  }
  const rows = [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, top);
  const lines = rows.map(([key, us]) => {
    const [name, file] = key.split('\t');
    return `${pct(us, busy).padStart(6)}  ${ms(us)}  ${name}  ${file}`;
  });
  const scope = filter === '' ? 'all' : `matching ${filter}`;
  lines.push(`${pct(filtered, busy).padStart(6)}  ${ms(filtered)}  total self time, ${scope}`);
  return lines.join('\n');
}

function pct(part, whole) {
  return whole > 0 ? `${((part / whole) * 100).toFixed(1)}%` : 'n/a';
}

function ms(us) {
  return `${(us / 1000).toFixed(1).padStart(8)} ms`;
}

function shorten(url) {
  const modules = url.lastIndexOf('/node_modules/');
  if (modules >= 0) return url.slice(modules + '/node_modules/'.length);
  const dist = url.lastIndexOf('/dist/');
  if (dist >= 0) return url.slice(dist + 1);
  return url.startsWith('node:') ? url : path.basename(url);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [file, filter = '', top = '25'] = process.argv.slice(2);
  if (file === undefined) {
    console.error('usage: node bench/profile-summary.mjs <file.cpuprofile> [filter] [top]');
    process.exit(2);
  }
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
  console.log(breakdown(profile, root));
  console.log('');
  console.log(summarize(profile, { filter, top: Number(top) }));
}
