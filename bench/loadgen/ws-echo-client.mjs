// Load-generator child for the runner's WebSocket echo scenario: `connections` ws clients
// (no compression), each keeping one `size`-byte text message in flight: a message goes out,
// its echo comes back, the next goes out. A round trip counts as a request, its time from the
// send to the echo; an echo that is not the message sent counts as an error. Warm-up and
// measured run are one process; between them the load stops and what is in flight comes back,
// so the runner samples the server's CPU while it is idle, as with the other load generators.
//
// Options {url, connections, size, warmup, duration}; protocol: ./child.mjs.
import WebSocket from 'ws';
import { Samples, sleep } from '../lib.mjs';
import { done, failed, options, warmedUp } from './child.mjs';

const MESSAGE = Buffer.alloc(options.size, 'rxgi bench: ws echo ');

let running = false;
let inFlight = 0;
let trips = 0;
let errors = 0;
/** The measured run's round-trip times (ms); null during the warm-up. */
let times = null;
/** Called when nothing is in flight any more after `running` went false. */
let drained = () => {};

/** One client; resolves once it is open. */
function connect() {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(options.url, { perMessageDeflate: false });
    let sentAt = 0;
    const client = {
      send() {
        inFlight++;
        sentAt = performance.now();
        ws.send(MESSAGE, { binary: false });
      },
    };
    ws.once('open', () => resolve(client));
    ws.once('error', reject);
    ws.on('close', (code) => failed('ws echo client', new Error(`a connection closed (${code})`)));
    ws.on('message', (data, isBinary) => {
      const now = performance.now();
      inFlight--;
      if (isBinary || !MESSAGE.equals(data)) errors++;
      else {
        trips++;
        times?.add(now - sentAt);
      }
      if (running) client.send();
      else if (inFlight === 0) drained();
    });
  });
}

/** Load for `seconds`, then wait for what is in flight; the seconds from start to drained. */
async function phase(clients, seconds) {
  trips = 0;
  errors = 0;
  const start = performance.now();
  running = true;
  for (const client of clients) client.send();
  await sleep(seconds * 1000);
  const quiet = new Promise((resolve) => {
    drained = resolve;
  });
  running = false;
  const timer = setTimeout(
    () => failed('ws echo client', new Error(`${inFlight} echoes missing 5 s after the run`)),
    5_000,
  );
  await quiet;
  clearTimeout(timer);
  return (performance.now() - start) / 1000;
}

try {
  const clients = await Promise.all(Array.from({ length: options.connections }, connect));
  if (options.warmup > 0) await phase(clients, options.warmup);
  await warmedUp();
  times = new Samples();
  const cpuBefore = process.cpuUsage();
  const duration = await phase(clients, options.duration);
  const cpu = process.cpuUsage(cpuBefore);
  const [p50, p99] = times.percentiles(50, 99);
  done({
    requests: trips,
    duration,
    p50,
    p99,
    errors,
    timeouts: 0,
    non2xx: 0,
    loadCpu: (cpu.user + cpu.system) / 1e6 / duration,
  });
} catch (error) {
  failed('ws echo client', error);
}
