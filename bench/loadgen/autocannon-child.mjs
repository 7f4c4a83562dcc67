// Load-generator child for the runner: autocannon through its programmatic API, so one process
// does the warm-up and the measured run, and the runner can sample the server's CPU exactly at
// the boundary between them.
//
// Options {url, connections, pipelining, warmup, duration, headers}; protocol: ./child.mjs.
import autocannon from 'autocannon';
import { Samples } from '../lib.mjs';
import { done, failed, options, warmedUp } from './child.mjs';

/** One autocannon run; with `record`, every response time (float ms) is kept for percentiles. */
function run(duration, record) {
  return new Promise((resolve, reject) => {
    const times = new Samples();
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
        else resolve({ result, times });
      },
    );
    // autocannon's own histogram truncates to whole milliseconds; keep the exact times.
    if (record) instance.on('response', (_client, _status, _bytes, ms) => times.add(ms));
  });
}

try {
  if (options.warmup > 0) await run(options.warmup, false);
  await warmedUp();
  const cpuBefore = process.cpuUsage();
  const { result, times } = await run(options.duration, true);
  const cpu = process.cpuUsage(cpuBefore);
  const [p50, p99] = times.percentiles(50, 99);
  done({
    requests: result.requests.total,
    duration: result.duration,
    p50,
    p99,
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    loadCpu: (cpu.user + cpu.system) / 1e6 / result.duration,
  });
} catch (error) {
  failed('autocannon', error);
}
