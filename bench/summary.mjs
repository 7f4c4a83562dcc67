// The summary of the benchmark runner (run.mjs): one table with a row per scenario (and per bulk
// scenario, and per rxgi bus of the fan-out), each with the ratio it is judged by, its floor or
// ceiling and its status, then which load generators ran and what disturbed the rounds.
import { bulkMedians, bulkStatus, printBulkWarnings } from './bulk.mjs';
import { DISTURBED, fixed, heading, median, percent, table, warn } from './lib.mjs';

/** The medians of a request scenario's paired rounds. */
export function medians(rounds) {
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
    groups.set(key, [...(groups.get(key) ?? []), r.cpuRatio]);
  }
  return [...groups].map(
    ([key, ratios]) => `${key}: ${ratios.length} rounds, median ${fixed(median(ratios), 2)}`,
  );
}

/** 'ok', or `word` when `value` is on the wrong side of `bound` ('n/a' when it is no number). */
function verdict(value, bound, below) {
  if (bound === null || bound === undefined) return '-';
  if (!Number.isFinite(value)) return 'n/a';
  if (below) return value < bound ? 'BELOW FLOOR' : 'ok';
  return value > bound ? 'ABOVE CEILING' : 'ok';
}

const pair = (a, b, digits) => `${fixed(a, digits)}/${fixed(b, digits)}`;

/** A request scenario's row: judged by the cpu-cost ratio against its floor. */
function requestRow({ scenario, loadgen, rounds }) {
  const unit = scenario.unit ?? 'req';
  const m = medians(rounds);
  const trouble = rounds.some((r) =>
    [r.base, r.ours].some((run) => run.errors + run.timeouts + run.non2xx > 0),
  );
  const status = verdict(m.cpuRatio, scenario.floor, true);
  return [
    scenario.name,
    loadgen.short,
    `cpu µs/${unit}`,
    fixed(m.baseCpu, 1),
    fixed(m.oursCpu, 1),
    fixed(m.cpuRatio, 3),
    scenario.floor === null ? '-' : `cpu ≥ ${fixed(scenario.floor, 2)}`,
    trouble ? `${status}, ERRORS` : status,
    `${unit}/s ratio ${fixed(m.ratio, 3)}, p99 ${pair(m.baseP99, m.oursP99, 2)} ms`,
  ];
}

/** A bulk scenario's row: judged as bench/bulk.mjs judges it (throughput, fairness). */
function bulkRow({ scenario, rounds, failed }) {
  const name = `bulk: ${scenario.name}`;
  const bounds = [
    scenario.floor === null ? null : `wall ≥ ${fixed(scenario.floor, 2)}`,
    scenario.fair === undefined ? null : `share ≥ ${fixed(scenario.fair, 2)}`,
  ].filter(Boolean);
  const bound = bounds.length === 0 ? '-' : bounds.join(', ');
  if (rounds === undefined) return [name, 'node', '', '', '', '', bound, 'FAILED', failed];
  const m = bulkMedians(rounds);
  return [
    name,
    'node',
    'cpu ms/MiB',
    fixed(m.baseCpu, 2),
    fixed(m.oursCpu, 2),
    fixed(m.ratio, 3),
    bound,
    bulkStatus(scenario, m),
    `cpu ratio ${fixed(m.cpuRatio, 3)}, MiB/s ${pair(m.baseMibPerS, m.oursMibPerS, 0)}` +
      (m.oursShare === null ? '' : `, least share ${pair(m.baseShare, m.oursShare, 2)}`),
  ];
}

/** The idle WebSocket row: heap per connection, rxgi / raw ws, against the ceiling. */
function memoryRow({ scenario, memory }) {
  const { raw, rxgi, connections, rounds } = memory;
  return [
    scenario.name,
    'raw sockets',
    'heap B/conn',
    fixed(raw.heap, 0),
    fixed(rxgi.heap, 0),
    fixed(rxgi.heapRatio, 3),
    `heap ≤ ${fixed(scenario.ceiling, 2)}`,
    verdict(rxgi.heapRatio, scenario.ceiling, false),
    `rss ratio ${fixed(rxgi.rssRatio, 3)}, ${connections} connections, ${rounds} rounds`,
  ];
}

const BUSES = {
  cluster: 'embedded bus',
  redis: 'Redis',
  nats: 'NATS',
  'cluster-inbox': 'embedded bus, through the app',
  raw: 'cluster IPC',
};

/** A delivered share as a percentage with one decimal (99.96% is not 100%). */
const share = (fraction) => (Number.isFinite(fraction) ? `${fixed(100 * fraction, 1)}%` : 'n/a');

/** A row per rxgi bus of the fan-out: server CPU per delivery against Socket.IO's. */
function fanoutRows({ scenario, fanout }) {
  const peer = fanout.systems.find((s) => s.name === 'socket.io');
  const number = (value) => (value === null ? Number.NaN : value);
  const late = (value) => (value === null ? Number.POSITIVE_INFINITY : value);
  return fanout.systems
    .filter((s) => s !== peer)
    .map((s) => {
      const judged = scenario.judged.includes(s.name);
      const ratio = number(s.versusSocketIo);
      const status = verdict(ratio, judged ? scenario.ceiling : null, false);
      const lost = s.runs > 0 && number(s.delivered) < 1;
      return [
        `fanout (${s.label}, ${BUSES[s.name] ?? s.bus})`,
        peer === undefined ? 'ws' : 'ws, socket.io-client',
        'cpu µs/delivery',
        fixed(number(peer?.usPerDelivery ?? null), 1),
        fixed(number(s.usPerDelivery), 1),
        fixed(ratio, 3),
        judged ? `cpu ≤ ${fixed(scenario.ceiling, 2)}` : '-',
        lost ? `${status}, LOST` : status,
        `delivered ${share(number(peer?.delivered ?? null))}/${share(number(s.delivered))}, ` +
          `p99 ${fixed(late(peer?.p99 ?? null), 2, 'lost')}/${fixed(late(s.p99), 2, 'lost')} ms, ` +
          `${s.runs}/${s.rounds} runs`,
      ];
    });
}

/**
 * Print the summary of `results` (run.mjs's, one per scenario): the GC-state lines of the
 * request scenarios, the table, the load generators that ran, the warnings, what was skipped or
 * failed. `cpus`: { server, load }, for the warnings.
 */
export function printSummary(results, cpus) {
  heading('Summary (medians of paired rounds)');
  const requests = results.filter((result) => result.rounds !== undefined);
  for (const { scenario, rounds } of requests) {
    const states = byGcState(rounds);
    if (states.length > 1)
      console.log(`${scenario.name}: cpu ratio by old-gen GC state: ${states.join('; ')}`);
  }
  const rows = [];
  for (const result of results) {
    if (result.rounds !== undefined) rows.push(requestRow(result));
    else if (result.bulk !== undefined) rows.push(...result.bulk.map(bulkRow));
    else if (result.memory !== undefined) rows.push(memoryRow(result));
    else if (result.fanout?.systems !== undefined) rows.push(...fanoutRows(result));
    if (result.skipped !== undefined || result.failed !== undefined) {
      const why = (result.skipped ?? result.failed).split('\n')[0];
      rows.push([
        result.scenario.name,
        '',
        '',
        '',
        '',
        '',
        '',
        result.skipped ? 'SKIPPED' : 'FAILED',
        why,
      ]);
    }
  }
  console.log('');
  console.log(
    table(
      ['scenario', 'load', 'cost', 'baseline', 'rxgi', 'ratio', 'bound', 'status', 'beside'],
      rows,
      3,
    ),
  );
  console.log(
    "\nratio: cpu = baseline server CPU per request / rxgi's (a round trip for WebSocket echo; " +
      "the median of the paired rounds' ratios); wall = raw / rxgi wall time of a bulk " +
      "transfer; heap = rxgi / raw ws heap per idle connection; fan-out cpu = rxgi's server CPU " +
      "per delivery / Socket.IO's (with the Redis adapter) in the same round. baseline/rxgi " +
      'pairs in "beside" are in that order (for fan-out: Socket.IO/rxgi).',
  );
  const tools = new Map(requests.map(({ loadgen }) => [loadgen.short, loadgen.name]));
  if (tools.size > 0) {
    console.log(`load generators: ${[...tools.values()].join('; ')}`);
  }
  if (
    Number.parseInt(process.versions.v8, 10) < 13 &&
    requests.some(({ scenario }) => scenario.name.startsWith('Express'))
  ) {
    console.log(
      `note: on this V8 (${process.versions.v8}; node 20 and 22) Express natively makes a ` +
        'hidden class per object for each property it adds after swapping the prototypes of ' +
        'req and res, and fromNodeHandler avoids that: the Express ratio measures it as well ' +
        `(docs/internals.md, "Express's hidden classes"; on node 24 both share them)`,
    );
  }
  if (tools.has('autocannon')) {
    warn(
      'HTTP/1.1 ran on autocannon, which saturates its core before the servers do: req/s ' +
        'ratios are compressed towards 1; judge by the cpu ratio (install wrk for the real one)',
    );
  }
  const all = requests.flatMap(({ rounds }) => rounds);
  if (all.some((r) => (r.base.loadCpu ?? 0) > 0.95 || (r.ours.loadCpu ?? 0) > 0.95)) {
    warn('the load generator used >95% of its CPU in some runs: it may be the bottleneck');
  }
  const disturbed = all.filter((r) => r.disturbed).length;
  if (disturbed > 0) {
    warn(
      `other work took >${percent(DISTURBED)} of CPU ${cpus.server} or ${cpus.load} in ` +
        `${disturbed} of ${all.length} rounds: req/s ratios are disturbed; the cpu ratio is ` +
        'the steadier number',
    );
  }
  for (const { bulk } of results) if (bulk !== undefined) printBulkWarnings(bulk);
}
