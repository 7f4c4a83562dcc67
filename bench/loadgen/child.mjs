// The runner's side of a load-generator child (autocannon-child.mjs, ws-echo-client.mjs), one
// JSON object per stdout line:
//   argv[2] = JSON of the child's options
//   -> {"phase":"warm"}            warm-up done, no load in flight; waits for "go" on stdin
//   -> {"phase":"done", ...result} the measured run's numbers, then it exits
// Its stdin closing means the runner is gone: exit at once.
import { createInterface } from 'node:readline';

/** The options the runner passed (argv[2], JSON). */
export const options = JSON.parse(process.argv[2]);

const lines = createInterface({ input: process.stdin });
const waiting = [];
lines.on('line', (line) => waiting.shift()?.(line.trim()));
lines.on('close', () => process.exit(1));

function say(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

/** Say the warm-up is done; resolves when the runner says go (exits on anything else). */
export async function warmedUp() {
  say({ phase: 'warm' });
  const line = await new Promise((resolve) => waiting.push(resolve));
  if (line !== 'go') process.exit(1);
}

/**
 * Report the measured run and exit: `result` is { requests, duration (s), p50, p99 (ms),
 * errors, timeouts, non2xx, loadCpu (cores busy) }.
 */
export function done(result) {
  say({ phase: 'done', ...result });
  process.exit(0);
}

/** Report `error` on stderr and exit with 1. */
export function failed(label, error) {
  process.stderr.write(`${label} failed: ${error?.stack ?? error}\n`);
  process.exit(1);
}
