/**
 * The long chaos run (issue 18): `npm run chaos -- --seconds 600 [--lanes 16]`, replayable with
 * `CHAOS_SEED=n`. The same generator as test/chaos.test.ts (test/chaos.ts), against the demo
 * served in this process from the built package (so its hub and handles can be checked) and the
 * echo app served by `rxgi serve` children, over h2c and TLS. Exits 1 with the reasons when the
 * well-behaved client failed, a server died, or something was left behind.
 */
import { parseArgs } from 'node:util';
import { jsonLogger, type RxgiServer, selfSignedCertificate, serve, setLogger } from 'rxgi';
import { Hub } from 'rxgi/bus';
import demo from '../apps/demo.js';
import { type ChaosTarget, chaosSeed, runChaos } from '../test/chaos.js';
import { type Child, cli, until } from '../test/helpers.js';

const { values } = parseArgs({
  options: { seconds: { type: 'string', default: '60' }, lanes: { type: 'string', default: '16' } },
});
const seconds = Number(values.seconds);
const seed = chaosSeed();
const say = (line: string) => process.stderr.write(`chaos: ${line}\n`);
say(`seed ${seed} (replay: CHAOS_SEED=${seed}), ${seconds} s, ${values.lanes} lanes`);

const problems: string[] = [];
// This process's servers log warnings and errors; an internal error is a failure of the run.
setLogger({
  error(message, fields) {
    if (fields?.code === 'RXGI_ERR_INTERNAL') problems.push(`${message} ${String(fields.error)}`);
    jsonLogger.error(message, fields);
  },
  warn: (message, fields) => jsonLogger.warn(message, fields),
  info: () => {},
  debug: () => {},
});
const hub = new Hub();
const tls = await selfSignedCertificate();
const servers: RxgiServer[] = await Promise.all([
  serve(demo, { port: 0, hub, idleTimeout: 4_000 }),
  serve(demo, { port: 0, hub, idleTimeout: 4_000, tls }),
]);
const children: Child[] = await Promise.all([
  cli('apps/echo.ts'),
  cli('apps/echo.ts', '--tls-self-signed'),
]);
for (const child of children) {
  child.exited.then((code) => {
    if (!stopping) problems.push(`rxgi serve exited with ${code}:\n${child.stderr()}`);
  });
}
let stopping = false;
const target = (name: string, url: string, app: 'demo' | 'echo'): ChaosTarget => ({
  name,
  url,
  port: Number(new URL(url).port),
  tls: url.startsWith('https'),
  app,
});
const targets = [
  ...servers.map((server, i) => target(`demo ${i ? 'tls' : 'h2c'}`, server.url, 'demo')),
  ...children.map((child, i) => target(`echo ${i ? 'tls' : 'h2c'}`, child.url, 'echo')),
];

const report = await runChaos({
  targets,
  seed,
  milliseconds: seconds * 1_000,
  lanes: Number(values.lanes),
});
say(`actions ${JSON.stringify(report.actions)}; the good client was served ${report.served} times`);
problems.push(...report.failures.map((failure) => `the good client failed: ${failure}`));

await until(() => servers.every((server) => server.connections === 0), 10_000).catch(() => {
  problems.push(`connections left: ${servers.map((server) => server.connections)}`);
});
if (hub.connections !== 0) {
  problems.push(`hub addresses left: ${hub.connections}`);
  problems.push(...describeLeft(hub));
}
if (hub.members('chat') !== 0) problems.push(`chat members left: ${hub.members('chat')}`);
let started = Date.now();
await Promise.all(servers.map((server) => server.close()));
if (Date.now() - started > 1_000) problems.push(`close() took ${Date.now() - started} ms`);
stopping = true;
started = Date.now();
for (const child of children) child.kill('SIGTERM');
const codes = await Promise.all(children.map((child) => child.exited));
if (codes.some((code) => code !== 0)) problems.push(`rxgi serve exit codes ${codes}`);
if (Date.now() - started > 5_000) problems.push(`rxgi serve took ${Date.now() - started} ms`);
for (const child of children) {
  const log = child.stderr();
  if (/RXGI_ERR_INTERNAL|deadline passed|Uncaught|Unhandled/.test(log)) {
    problems.push(
      `rxgi serve logged:\n${log
        .split('\n')
        .filter((l) => /INTERNAL|deadline|Uncaught|Unhandled/.test(l))
        .join('\n')}`,
    );
  }
}
if (problems.length > 0) {
  say(`FAILED (seed ${seed}):\n${problems.slice(0, 50).join('\n')}`);
  process.exit(1);
}
say(`passed (seed ${seed})`);
process.exit(0);

/** What the connections still registered on the hub hold (private state: a diagnosis only). */
function describeLeft(of: Hub): string[] {
  type Left = {
    upgraded?: boolean;
    session?: { closed: boolean; destroyed: boolean };
    socket?: { destroyed: boolean; readyState: string };
    streams: { values(): Iterable<Record<string, unknown>> };
  };
  const mailboxes = (of as unknown as { mailboxes: Map<string, Left> }).mailboxes;
  return [...mailboxes].map(([id, left]) => {
    const streams = [...left.streams.values()].map((stream) => {
      const {
        id: sid,
        headSent,
        wsOpen,
        inEnded,
        credit,
        ws,
        h2,
      } = stream as Record<string, never>;
      const node = h2 as { closed?: boolean; destroyed?: boolean } | undefined;
      const session = ws as { readyState?: number } | null;
      return {
        sid,
        headSent,
        wsOpen,
        inEnded,
        credit,
        ws: session?.readyState,
        h2: node && [node.closed, node.destroyed],
      };
    });
    const session = left.session && [left.session.closed, left.session.destroyed];
    const socket = left.socket && [left.socket.destroyed, left.socket.readyState];
    return `  left: ${id} ${JSON.stringify({ session, socket, upgraded: left.upgraded, streams })}`;
  });
}
