// Load-generator child for the runner: autocannon through its programmatic API, so one process
// does the warm-up and the measured run, and the runner can sample the server's CPU exactly at
// the boundary between them.
//
// Protocol (one JSON object per stdout line):
//   argv[2] = JSON {url, connections, pipelining, warmup, duration, headers}
//   -> {"phase":"warm"}            warm-up done; waits for the line "go" on stdin
//   -> {"phase":"done", ...result} the measured run's numbers, then exits
// Its stdin closing means the runner is gone: exit at once.
import { createInterface } from 'node:readline';
import autocannon from 'autocannon';

const options = JSON.parse(process.argv[2]);
const send = (message) => process.stdout.write(`${JSON.stringify(message)}\n`);

const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (line) => waiting.shift()?.(line.trim()));
lines.on('close', () => process.exit(1));
const nextLine = () => new Promise((resolve) => waiting.push(resolve));

/** One autocannon run; with `record`, every response time (float ms) is kept for percentiles. */
function run(duration, record) {
  return new Promise((resolve, reject) => {
    let times = new Float64Array(1 << 16);
    let count = 0;
    const instance = autocannon(
      {
        url: options.url,
        connections: options.connections,
        pipelining: options.pipelining,
        headers: options.headers,
        duration,
      },
      (error, result) => {
        if (error) reject(error);
        else resolve({ result, times: times.subarray(0, count) });
      },
    );
    if (record) {
      // autocannon's own histogram truncates to whole milliseconds; keep the exact times.
      instance.on('response', (_client, _status, _bytes, ms) => {
        if (count === times.length) {
          const grown = new Float64Array(times.length * 2);
          grown.set(times);
          times = grown;
        }
        times[count++] = ms;
      });
    }
  });
}

function percentile(sorted, p) {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

try {
  if (options.warmup > 0) await run(options.warmup, false);
  send({ phase: 'warm' });
  if ((await nextLine()) !== 'go') process.exit(1);
  const cpuBefore = process.cpuUsage();
  const { result, times } = await run(options.duration, true);
  const cpu = process.cpuUsage(cpuBefore);
  times.sort();
  send({
    phase: 'done',
    requests: result.requests.total,
    duration: result.duration,
    p50: percentile(times, 50),
    p99: percentile(times, 99),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    loadCpu: (cpu.user + cpu.system) / 1e6 / result.duration,
  });
  process.exit(0);
} catch (error) {
  process.stderr.write(`autocannon failed: ${error?.stack ?? error}\n`);
  process.exit(1);
}
