// Memory per stalled HTTP/2 stream (issue 16): `npm run bench:h2-stalled`. A client that
// advertises a receive window of 0 opens echo streams and sends each 256 KiB: nothing can come
// back, and each server holds what its windows let in. Servers (bench/servers/h2-stalled.mjs:
// raw node:http2 `stream.pipe(stream)`, and rxgi's serve with the echo app) run in child
// processes; this process is the client. Each server's JS heap plus external memory (Buffers)
// after full collections is sampled before the streams open and 2 s after; the difference over
// the number of streams is what a stalled stream holds. Rounds alternate the servers; the
// verdict is the median of the per-round ratios rxgi/raw.
//
// Options: --streams N per session (default 20), --sessions S (default 4), --rounds R (3).
import { spawn } from 'node:child_process';
import http2 from 'node:http2';
import path from 'node:path';
import { parseArgs } from 'node:util';
import {
  describeMachine,
  here,
  lineReader,
  median,
  sleep,
  stopChild,
  stopChildrenOnExit,
  track,
} from './lib.mjs';

const { values } = parseArgs({
  options: {
    streams: { type: 'string', default: '20' },
    sessions: { type: 'string', default: '4' },
    rounds: { type: 'string', default: '3' },
  },
});
const STREAMS = Number(values.streams);
const SESSIONS = Number(values.sessions);
const ROUNDS = Number(values.rounds);
const BODY = 256 * 1024;
const say = (line) => process.stdout.write(`${line}\n`);
stopChildrenOnExit({ prefix: 'h2-stalled: ', endStdin: true });

async function startServer(kind) {
  const child = track(
    spawn(process.execPath, ['--expose-gc', path.join(here, 'servers', 'h2-stalled.mjs'), kind], {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, RXGI_LOG: 'error' },
    }),
  );
  const line = lineReader(child, `${kind} server`);
  const port = Number((await line(/^LISTENING (\d+)$/))[1]);
  const sample = async () => {
    child.stdin.write('sample\n');
    const [, heap, external] = (await line(/^SAMPLE (\d+) (\d+)$/)).map(Number);
    return heap + external;
  };
  return { child, port, sample };
}

/** Open a session whose receive window is 0 and `STREAMS` echo streams sending BODY each. */
async function stall(port) {
  const session = http2.connect(`http://127.0.0.1:${port}`, {
    settings: { initialWindowSize: 0 },
  });
  session.on('error', () => {});
  await new Promise((resolve, reject) => {
    session.once('remoteSettings', resolve);
    session.once('error', reject);
  });
  const body = Buffer.alloc(BODY, 120);
  for (let i = 0; i < STREAMS; i++) {
    const stream = session.request({ ':method': 'POST', ':path': '/' });
    stream.on('error', () => {});
    stream.end(body);
  }
  return session;
}

async function measure(kind) {
  const server = await startServer(kind);
  try {
    // Warm up: one stream echoed whole.
    const warm = http2.connect(`http://127.0.0.1:${server.port}`);
    await new Promise((resolve) => {
      const stream = warm.request({ ':method': 'POST', ':path': '/' });
      stream.resume();
      stream.on('end', resolve);
      stream.end(Buffer.alloc(BODY, 1));
    });
    warm.close();
    await sleep(300);
    const before = await server.sample();
    const sessions = [];
    for (let i = 0; i < SESSIONS; i++) sessions.push(await stall(server.port));
    await sleep(2000);
    const after = await server.sample();
    for (const session of sessions) session.destroy();
    return (after - before) / (STREAMS * SESSIONS);
  } finally {
    await stopChild(server.child);
  }
}

say(
  `stalled h2c echo streams: ${SESSIONS} sessions × ${STREAMS}, ${ROUNDS} rounds; ${describeMachine()}`,
);
const rows = { raw: [], rxgi: [] };
for (let round = 0; round < ROUNDS; round++) {
  for (const kind of round % 2 === 0 ? ['raw', 'rxgi'] : ['rxgi', 'raw']) {
    const bytes = await measure(kind);
    rows[kind].push(bytes);
    say(`round ${round + 1} ${kind.padEnd(4)} ${(bytes / 1024).toFixed(1)} KiB per stream`);
  }
}
const ratio = median(rows.rxgi.map((value, i) => value / rows.raw[i]));
say('');
say(
  `median: raw ${(median(rows.raw) / 1024).toFixed(1)} KiB, rxgi ${(median(rows.rxgi) / 1024).toFixed(1)} KiB per stalled stream (rxgi/raw ×${ratio.toFixed(2)})`,
);
