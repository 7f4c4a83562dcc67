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
