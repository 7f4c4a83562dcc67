// Shared plumbing of the benchmark servers: announce the port, and exit when told to or when the
// parent goes away (its end of our stdin closes), so no server outlives the benchmark.

/** The port to listen on: $PORT, or 0 for a free one. */
export const PORT = Number(process.env.PORT ?? 0);
export const HOST = '127.0.0.1';

/** Print the line the runner waits for, and install the exit paths. */
export function ready(port) {
  process.stdout.write(`LISTENING ${port}\n`);
  // process.exit (not a signal death) so that `--cpu-prof` writes its profile.
  const exit = () => process.exit(0);
  process.on('SIGTERM', exit);
  process.on('SIGINT', exit);
  process.on('SIGHUP', exit);
  process.stdin.on('end', exit);
  process.stdin.on('error', exit);
  process.stdin.resume();
}

/**
 * Answer each `sample` line on stdin with `SAMPLE <values>` on stdout, after full collections
 * (a turn of the loop between them, for weak callbacks and finalizers) until the heap stops
 * shrinking; `values(usage)` picks the numbers from `process.memoryUsage()`. Needs --expose-gc.
 */
export function answerSamples(values) {
  let input = '';
  process.stdin.on('data', async (chunk) => {
    input += chunk;
    for (let at = input.indexOf('\n'); at >= 0; at = input.indexOf('\n')) {
      const line = input.slice(0, at);
      input = input.slice(at + 1);
      if (line !== 'sample') continue;
      let last = Number.POSITIVE_INFINITY;
      for (let i = 0; i < 10; i++) {
        globalThis.gc();
        await new Promise((resolve) => setImmediate(resolve));
        const used = process.memoryUsage().heapUsed;
        if (used >= last - 1024) break;
        last = used;
      }
      process.stdout.write(`SAMPLE ${values(process.memoryUsage()).join(' ')}\n`);
    }
  });
}
