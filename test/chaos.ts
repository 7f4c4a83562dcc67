/**
 * The chaos generator (issue 18, item 4): many hostile clients doing random legal and illegal
 * things at random moments over HTTP/1.1, h2c, TLS h2, WebSocket and RFC 8441, while one
 * well-behaved client is served throughout. Used by test/chaos.test.ts (short, in `npm test`)
 * and bench/chaos.ts (`npm run chaos -- --seconds N`). It imports nothing of rxgi: callers start
 * the servers (in-process or CLI children) and check what is left behind.
 *
 * A seed fixes every choice the clients make (which action, which frames, which codes, how
 * long to wait); the interleaving with the server is up to the machine. `CHAOS_SEED=n` replays.
 */
import { request as httpRequest } from 'node:http';
import type { ClientHttp2Session, ClientHttp2Stream } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import WebSocket from 'ws';
import { exchange, h2WebSocket, h2WebSocketOn, session } from './h2client.js';
import {
  data,
  FLAG,
  frame,
  goaway,
  headers,
  PREFACE,
  ping,
  rstStream,
  SETTINGS_ACK,
  settings,
  TYPE,
  windowUpdate,
} from './h2frames.js';
import { wsFrame } from './ws-client.js';

/** A server under chaos. `app` says which routes it has (apps/demo.ts or apps/echo.ts). */
export interface ChaosTarget {
  name: string;
  url: string;
  port: number;
  tls: boolean;
  app: 'demo' | 'echo';
}

export interface ChaosOptions {
  targets: ChaosTarget[];
  seed: number;
  /** How long hostile clients keep starting actions. */
  milliseconds: number;
  /** Hostile clients at a time. */
  lanes: number;
}

export interface ChaosReport {
  seed: number;
  /** Actions run, by name. */
  actions: Record<string, number>;
  /** Round trips the well-behaved client completed. */
  served: number;
  /** What failed for the well-behaved client, each with its target and kind. */
  failures: string[];
}

// ---------------------------------------------------------------------------------------------
// Randomness

/** mulberry32: small, fast, and the same sequence for the same seed everywhere. */
export class Rng {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** An integer in [min, max]. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }
  pick<T>(list: readonly T[]): T {
    return list[Math.floor(this.next() * list.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  bytes(n: number): Buffer {
    const out = Buffer.alloc(n);
    for (let i = 0; i < n; i++) out[i] = this.int(0, 255);
    return out;
  }
  /** A seed for a lane of its own, so lanes do not depend on each other's pace. */
  fork(): Rng {
    return new Rng(this.int(0, 2 ** 32 - 1));
  }
}

/** The seed from `CHAOS_SEED`, or a new one. */
export function chaosSeed(): number {
  const given = process.env.CHAOS_SEED;
  return given !== undefined && given !== '' ? Number(given) >>> 0 : (Date.now() % 2 ** 32) >>> 0;
}

/** Every RST_STREAM / GOAWAY code of RFC 9113 §7, and one no RFC defines. */
const CODES = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 0x1234];

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const noop = () => {};

/**
 * What one hostile action opened; all of it is destroyed when the action ends. An action cut
 * off at its time limit may still be opening something: that is destroyed as it comes.
 */
class Bag {
  private readonly items: (() => void)[] = [];
  private emptied = false;
  private add(destroy: () => void): void {
    if (this.emptied) destroy();
    else this.items.push(destroy);
  }
  socket<T extends Socket>(socket: T): T {
    socket.on('error', noop);
    this.add(() => socket.destroy());
    return socket;
  }
  session(client: ClientHttp2Session): ClientHttp2Session {
    client.on('error', noop);
    this.add(() => client.destroy());
    return client;
  }
  ws(ws: WebSocket): WebSocket {
    ws.on('error', noop);
    this.add(() => ws.terminate());
    return ws;
  }
  empty(): void {
    this.emptied = true;
    for (const destroy of this.items.splice(0)) destroy();
  }
}

// ---------------------------------------------------------------------------------------------
// Wire helpers

function rawSocket(target: ChaosTarget, alpn: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = target.tls
      ? tlsConnect({
          port: target.port,
          host: '127.0.0.1',
          ALPNProtocols: [alpn],
          rejectUnauthorized: false,
        })
      : netConnect(target.port, '127.0.0.1');
    socket.once(target.tls ? 'secureConnect' : 'connect', () => resolve(socket));
    socket.once('error', reject);
  });
}

/** A WebSocket frame a client might send: a chat line, a ping, a close, or nonsense. */
function wsSomething(rng: Rng): Buffer {
  switch (rng.int(0, 6)) {
    case 0:
      return wsFrame(1, Buffer.from(JSON.stringify({ name: 'chaos', text: `t${rng.int(0, 99)}` })));
    case 1:
      return wsFrame(9, rng.bytes(rng.int(0, 10)));
    case 2: {
      const close = Buffer.alloc(2);
      close.writeUInt16BE(rng.pick([1000, 1001, 1002, 1005, 1011, 3000, 4999, 999]));
      return wsFrame(8, close);
    }
    case 3:
      return wsFrame(rng.pick([3, 4, 5, 11]), rng.bytes(4)); // reserved opcodes
    case 4:
      return wsFrame(1, Buffer.from([0xc3, 0x28])); // not UTF-8
    case 5:
      return wsFrame(2, rng.bytes(rng.int(0, 300)), rng.chance(0.7));
    default:
      return rng.bytes(rng.int(1, 40)); // not a frame at all
  }
}

function h2Fields(target: ChaosTarget, rng: Rng): { fields: [string, string][]; end: boolean } {
  const scheme = target.tls ? 'https' : 'http';
  const base = (method: string, path: string): [string, string][] => [
    [':method', method],
    [':scheme', scheme],
    [':path', path],
    [':authority', 'localhost'],
  ];
  switch (rng.int(0, 4)) {
    case 0:
      return { fields: base('GET', rng.pick(['/', '/health', '/ticker', '/nope'])), end: true };
    case 1:
      return { fields: base('POST', '/'), end: false };
    case 2:
      return {
        fields: [
          [':method', 'CONNECT'],
          [':protocol', 'websocket'],
          [':scheme', scheme],
          [':path', target.app === 'demo' ? '/chat' : '/'],
          [':authority', 'localhost'],
          ['sec-websocket-version', rng.chance(0.9) ? '13' : '8'],
        ],
        end: false,
      };
    case 3:
      return { fields: base('GET', '/ticker'), end: rng.chance(0.5) };
    default:
      // Malformed: no :path, or a pseudo-header after a regular field.
      return rng.chance(0.5)
        ? {
            fields: [
              [':method', 'GET'],
              [':scheme', scheme],
            ],
            end: true,
          }
        : { fields: [...base('GET', '/'), ['x', 'y'], [':status', '200']], end: true };
  }
}

function randomSettings(rng: Rng): Buffer {
  const pairs: [number, number][] = [];
  for (let i = rng.int(0, 3); i > 0; i--) {
    pairs.push(
      rng.pick<[number, number]>([
        [1, rng.int(0, 8192)], // HEADER_TABLE_SIZE
        [2, rng.int(0, 2)], // ENABLE_PUSH (2 is illegal)
        [3, rng.int(0, 200)], // MAX_CONCURRENT_STREAMS
        [4, rng.pick([0, 1, 65_535, 2 ** 31 - 1, 2 ** 31])], // INITIAL_WINDOW_SIZE
        [5, rng.pick([16_384, 100, 2 ** 24])], // MAX_FRAME_SIZE (100 and 2^24 illegal)
        [6, rng.int(0, 100_000)], // MAX_HEADER_LIST_SIZE
        [8, rng.int(0, 2)], // ENABLE_CONNECT_PROTOCOL
        [0x99, 7], // unknown: ignored
      ]),
    );
  }
  return settings(pairs);
}

// ---------------------------------------------------------------------------------------------
// Hostile actions

type Action = (target: ChaosTarget, rng: Rng, bag: Bag) => Promise<void>;

/** A raw HTTP/2 client: a random walk over frames, legal and not, then a random ending. */
const h2Raw: Action = async (target, rng, bag) => {
  const socket = bag.socket(await rawSocket(target, 'h2'));
  socket.on('data', noop);
  const hello = rng.chance(0.9) ? [PREFACE, randomSettings(rng)] : [rng.bytes(rng.int(1, 30))];
  if (rng.chance(0.8)) hello.push(SETTINGS_ACK);
  socket.write(Buffer.concat(hello));
  const open: number[] = [];
  let next = 1;
  for (let step = rng.int(1, 12); step > 0 && !socket.destroyed; step--) {
    const out: Buffer[] = [];
    const id = open.length > 0 ? rng.pick(open) : rng.int(0, 9);
    switch (rng.int(0, 13)) {
      case 0:
      case 1:
      case 2: {
        const { fields, end } = h2Fields(target, rng);
        out.push(headers(next, fields, end));
        if (!end) open.push(next);
        next += 2;
        break;
      }
      case 3:
      case 4:
        // Body bytes, or WebSocket frames on an RFC 8441 stream; sometimes its end.
        out.push(data(id, rng.chance(0.5) ? wsSomething(rng) : rng.bytes(rng.int(0, 3000))));
        if (rng.chance(0.3)) out.push(data(id, '', true));
        break;
      case 5:
        out.push(rstStream(id, rng.pick(CODES)));
        break;
      case 6:
        for (let i = rng.int(10, 500); i > 0; i--, next += 2) {
          out.push(headers(next, h2Fields(target, rng).fields, rng.chance(0.5)));
          out.push(rstStream(next, rng.pick(CODES)));
        }
        break;
      case 7:
        out.push(randomSettings(rng));
        break;
      case 8:
        out.push(windowUpdate(rng.chance(0.5) ? 0 : id, rng.pick([0, 1, 65_535, 2 ** 31 - 1])));
        break;
      case 9:
        out.push(goaway(rng.int(0, next), rng.pick(CODES)));
        break;
      case 10:
        for (let i = rng.int(1, 100); i > 0; i--) out.push(ping());
        break;
      case 11:
        out.push(rng.bytes(rng.int(1, 200)));
        break;
      case 12:
        // Trailers (HEADERS with END_STREAM on an open stream), or a CONTINUATION out of place.
        out.push(
          rng.chance(0.5)
            ? headers(id, [['x-trailer', 'yes']], true)
            : frame(TYPE.CONTINUATION, FLAG.END_HEADERS, id, Buffer.from([0x82])),
        );
        break;
      default:
        await sleep(rng.int(0, 300));
    }
    if (out.length > 0) socket.write(Buffer.concat(out));
    if (rng.chance(0.5)) await sleep(rng.int(0, 100));
  }
  await ending(rng, socket);
};

/** How a raw client leaves: vanish, half-close, or linger, all at a random moment. */
async function ending(rng: Rng, socket: Socket): Promise<void> {
  switch (rng.int(0, 3)) {
    case 0:
      socket.destroy();
      return;
    case 1:
      socket.end();
      await sleep(rng.int(0, 500));
      return;
    case 2:
      socket.pause(); // stops reading: the server's writes back up
      await sleep(rng.int(0, 1_000));
      return;
    default:
      await sleep(rng.int(0, 1_000));
  }
}

/** A raw HTTP/1.1 client: torn heads and bodies, garbage, pipelines, raw WebSocket frames. */
const h1Raw: Action = async (target, rng, bag) => {
  const socket = bag.socket(await rawSocket(target, 'http/1.1'));
  socket.on('data', noop);
  const path = target.app === 'demo' ? rng.pick(['/', '/ticker', '/health', '/chat']) : '/';
  const head = (method: string, extra = '') =>
    `${method} ${path} HTTP/1.1\r\nhost: localhost\r\n${extra}\r\n`;
  let bytes: string | Buffer;
  switch (rng.int(0, 6)) {
    case 0:
      bytes = head('GET').slice(0, rng.int(1, 30)); // a head cut short
      break;
    case 1:
      bytes = `${head('POST', `content-length: ${rng.int(10, 100_000)}\r\n`)}${'x'.repeat(rng.int(0, 5_000))}`;
      break;
    case 2:
      bytes = `${head('POST', 'transfer-encoding: chunked\r\n')}${rng.pick(['5\r\nhello\r\n', 'zz\r\n', '5\r\nhelloXX', '0\r\n\r\n'])}`;
      break;
    case 3:
      bytes = head('GET').repeat(rng.int(2, 20)); // a pipeline
      break;
    case 4:
      bytes = rng.bytes(rng.int(1, 500));
      break;
    default: {
      const upgrade = 'upgrade: websocket\r\nconnection: upgrade\r\nsec-websocket-version: 13\r\n';
      const key = `sec-websocket-key: ${rng.bytes(16).toString('base64')}\r\n`;
      bytes = head('GET', upgrade + key);
    }
  }
  socket.write(bytes);
  for (let frames = rng.int(0, 5); frames > 0 && !socket.destroyed; frames--) {
    await sleep(rng.int(0, 100));
    socket.write(wsSomething(rng));
  }
  await ending(rng, socket);
};

/** node's HTTP/2 client, abrupt: streams reset with any code, settings changed, GOAWAY. */
const h2Node: Action = async (target, rng, bag) => {
  const client = bag.session(await session(target.url));
  const streams: ClientHttp2Stream[] = [];
  for (let i = rng.int(1, 8); i > 0 && !client.destroyed; i--) {
    const ws = rng.chance(0.3);
    const stream = client.request(
      ws
        ? {
            ':method': 'CONNECT',
            ':protocol': 'websocket',
            ':path': target.app === 'demo' ? '/chat' : '/',
            'sec-websocket-version': '13',
          }
        : {
            ':method': rng.pick(['GET', 'POST']),
            ':path': target.app === 'demo' ? rng.pick(['/ticker', '/', '/chat']) : '/',
          },
      { endStream: false },
    );
    stream.on('error', noop);
    if (rng.chance(0.5)) stream.on('data', noop);
    if (ws) stream.write(wsSomething(rng));
    else if (rng.chance(0.5)) stream.write(rng.bytes(rng.int(0, 70_000)));
    streams.push(stream);
    await sleep(rng.int(0, 50));
  }
  for (let step = rng.int(1, 6); step > 0 && !client.destroyed; step--) {
    await sleep(rng.int(0, 150));
    const stream = rng.pick(streams);
    switch (rng.int(0, 5)) {
      case 0:
        stream.close(rng.pick(CODES));
        break;
      case 1:
        stream.end();
        break;
      case 2:
        client.settings({ initialWindowSize: rng.pick([0, 1, 65_535, 1 << 20]) }, noop);
        break;
      case 3:
        client.goaway(rng.pick(CODES));
        break;
      case 4:
        client.close();
        break;
      default:
        client.destroy();
    }
  }
};

/** A WebSocket client over HTTP/1.1 (ws) or HTTP/2 (RFC 8441) that leaves at a random moment. */
const wsClient: Action = async (target, rng, bag) => {
  const path = target.app === 'demo' ? '/chat' : '/';
  let ws: WebSocket;
  if (rng.chance(0.5)) {
    const url = `${target.url.replace(/^http/, 'ws')}${path}`;
    ws = bag.ws(new WebSocket(url, { rejectUnauthorized: false }));
    await new Promise((resolve) => {
      ws.once('open', resolve);
      ws.once('error', resolve);
      ws.once('close', resolve);
    });
  } else {
    const client = bag.session(await session(target.url));
    const h2 = await h2WebSocketOn(client, target.url, path);
    h2.stream.on('error', noop);
    ws = bag.ws(h2.ws);
  }
  if (rng.chance(0.5)) ws.pause(); // reads nothing: the room's messages pile up at the server
  for (let i = rng.int(0, 10); i > 0 && ws.readyState === ws.OPEN; i--) {
    ws.send(JSON.stringify({ name: 'chaos', text: 'x'.repeat(rng.int(1, 400)) }));
    if (rng.chance(0.3)) await sleep(rng.int(0, 100));
  }
  await sleep(rng.int(0, 500));
  if (ws.readyState !== ws.OPEN) return;
  switch (rng.int(0, 2)) {
    case 0:
      ws.terminate();
      return;
    case 1:
      ws.close(rng.pick([1000, 1001, 3000, 4000]));
      await sleep(rng.int(0, 200));
      return;
    default:
      return; // the bag destroys it: a client that vanished
  }
};

/** node:http requests cut short: a ticker abandoned, an upload destroyed half-way. */
const h1Node: Action = async (target, rng, bag) => {
  const post = target.app === 'echo' || rng.chance(0.3);
  const send = target.tls ? httpsRequest : httpRequest;
  const req = send(`${target.url}${post ? '/' : rng.pick(['/ticker', '/'])}`, {
    method: post ? 'POST' : 'GET',
    rejectUnauthorized: false,
    agent: false,
  });
  req.on('error', noop);
  req.on('socket', (socket) => bag.socket(socket));
  req.on('response', (res) => {
    if (rng.chance(0.5)) res.resume();
    else res.pause();
  });
  if (post) req.write(rng.bytes(rng.int(0, 100_000)));
  else req.end();
  await sleep(rng.int(0, 600));
  req.destroy();
};

/**
 * A TCP reset (RST) at a random point of the bytes that open a connection: the HTTP/2 preface,
 * a request head or a TLS ClientHello's record header, cut anywhere, so the server is reading
 * when the reset arrives, before or while it tells the protocols apart.
 */
const earlyReset: Action = async (target, rng, bag) => {
  const socket = bag.socket(netConnect(target.port, '127.0.0.1'));
  socket.on('error', noop);
  await new Promise((resolve) => socket.once('connect', resolve));
  const opening = rng.pick([
    PREFACE,
    Buffer.from('GET / HTTP/1.1\r\nhost: chaos\r\n\r\n'),
    Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01]),
  ]);
  socket.write(opening.subarray(0, rng.int(0, opening.length)));
  await sleep(rng.int(0, 5));
  socket.resetAndDestroy();
};

const ACTIONS: Record<string, Action> = { h2Raw, h1Raw, h2Node, wsClient, h1Node, earlyReset };
const NAMES = Object.keys(ACTIONS);
/** The longest one action may take; whatever it opened is then destroyed. */
const ACTION_CAP = 3_000;

async function lane(options: ChaosOptions, rng: Rng, until: number, report: ChaosReport) {
  while (Date.now() < until) {
    const name = rng.pick(NAMES);
    const target = rng.pick(options.targets);
    const bag = new Bag();
    report.actions[name] = (report.actions[name] ?? 0) + 1;
    // A hostile client's own failures (refused, reset, closed on) are what it asked for.
    await Promise.race([ACTIONS[name](target, rng, bag).catch(noop), sleep(ACTION_CAP)]);
    bag.empty();
  }
}

// ---------------------------------------------------------------------------------------------
// The well-behaved client

type Check = (target: ChaosTarget, n: number) => Promise<void>;

async function h1Check(target: ChaosTarget, n: number): Promise<void> {
  const send = target.tls ? httpsRequest : httpRequest;
  const demo = target.app === 'demo';
  const body = await new Promise<string>((resolve, reject) => {
    const req = send(`${target.url}${demo ? '/health' : '/'}`, {
      method: demo ? 'GET' : 'POST',
      rejectUnauthorized: false,
      agent: false,
    });
    req.on('error', reject);
    req.on('response', (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve(`${res.statusCode} ${text}`));
      res.on('error', reject);
    });
    req.end(demo ? undefined : `good ${n}`);
  });
  expectEqual(body, demo ? '200 {"ok":true}' : `200 good ${n}`);
}

function h2Check(clients: Map<string, Promise<ClientHttp2Session>>): Check {
  return async (target, n) => {
    let pending = clients.get(target.name);
    if (pending === undefined) {
      pending = session(target.url);
      clients.set(target.name, pending);
    }
    const client = await pending;
    const demo = target.app === 'demo';
    const answer = await exchange(
      client,
      { ':method': demo ? 'GET' : 'POST', ':path': demo ? '/health' : '/' },
      demo ? undefined : `good ${n}`,
    );
    expectEqual(
      `${answer.status} ${answer.body.toString()}`,
      demo ? '200 {"ok":true}' : `200 good ${n}`,
    );
  };
}

/** A WebSocket the good client keeps open per target and transport; sends and awaits its echo. */
function wsCheck(sockets: Map<string, Promise<WebSocket>>, h2: boolean): Check {
  return async (target, n) => {
    const key = `${target.name} ${h2}`;
    let pending = sockets.get(key);
    const path = target.app === 'demo' ? '/chat' : '/';
    if (pending === undefined) {
      pending = h2
        ? h2WebSocket(target.url, path).then(({ ws, client }) => {
            // The session goes with its one WebSocket.
            ws.once('close', () => client.close());
            return ws;
          })
        : new Promise((resolve, reject) => {
            const url = `${target.url.replace(/^http/, 'ws')}${path}`;
            const ws = new WebSocket(url, { rejectUnauthorized: false });
            ws.once('open', () => resolve(ws));
            ws.once('error', reject);
          });
      sockets.set(key, pending);
    }
    const ws = await pending;
    const text = `good ${n}`;
    const heard = new Promise<void>((resolve, reject) => {
      const onClose = (code: number) => reject(new Error(`closed with ${code}`));
      const onMessage = (raw: Buffer) => {
        const message = raw.toString();
        // The chat sends it back as JSON among everyone else's; echo sends it back as it is.
        if (message === text || message.includes(`"text":"${text}"`)) {
          ws.off('message', onMessage);
          ws.off('close', onClose);
          resolve();
        }
      };
      ws.on('message', onMessage);
      ws.once('close', onClose);
    });
    ws.send(target.app === 'demo' ? JSON.stringify({ name: 'good', text }) : text);
    await heard;
  };
}

function expectEqual(actual: string, expected: string): void {
  if (actual !== expected) throw new Error(`expected ${expected}, got ${actual}`);
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer in ${ms} ms`)), ms);
  });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

async function wellBehaved(targets: ChaosTarget[], until: () => boolean, report: ChaosReport) {
  const sessions = new Map<string, Promise<ClientHttp2Session>>();
  const sockets = new Map<string, Promise<WebSocket>>();
  const checks: [string, Check][] = [
    ['http/1.1', h1Check],
    ['h2', h2Check(sessions)],
    ['websocket', wsCheck(sockets, false)],
    ['rfc8441', wsCheck(sockets, true)],
  ];
  let n = 0;
  while (!until()) {
    for (const target of targets) {
      for (const [kind, check] of checks) {
        n++;
        try {
          await withTimeout(check(target, n), 5_000);
          report.served++;
        } catch (error) {
          report.failures.push(`${target.name} ${kind} #${n}: ${(error as Error).message}`);
        }
      }
    }
    await sleep(20);
  }
  for (const pending of sessions.values()) (await pending.catch(() => null))?.close();
  for (const pending of sockets.values()) {
    const ws = await pending.catch(() => null);
    ws?.close(1000);
  }
  // The RFC 8441 sessions close with their WebSocket; give the close handshakes a moment.
  await sleep(200);
  for (const pending of sockets.values()) (await pending.catch(() => null))?.terminate();
}

/**
 * Run the chaos: `lanes` hostile clients for `milliseconds`, and the well-behaved client
 * throughout and until every hostile client has left.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosReport> {
  const report: ChaosReport = { seed: options.seed, actions: {}, served: 0, failures: [] };
  const rng = new Rng(options.seed);
  const until = Date.now() + options.milliseconds;
  let hostile = true;
  const good = wellBehaved(options.targets, () => !hostile, report);
  const lanes = [];
  for (let i = 0; i < options.lanes; i++) lanes.push(lane(options, rng.fork(), until, report));
  await Promise.all(lanes);
  hostile = false;
  await good;
  return report;
}
