import { spawn } from 'node:child_process';
import { connect } from 'node:net';
import { createInterface } from 'node:readline';
import type { App, RxgiServer, ServeOptions } from 'rxgi';
import { logger, serve, setLogger } from 'rxgi';

const servers: RxgiServer[] = [];

/** Serve `app` on a free port; closed by `closeServers`. */
/** The HTTP/1.1 driver the tests' servers run: `RXGI_TEST_HTTP1` (`net` or `node:http`), else serve's default. */
const HTTP1 = process.env.RXGI_TEST_HTTP1 as ServeOptions['http1'];

export async function start(app: App, options: ServeOptions = {}): Promise<RxgiServer> {
  const server = await serve(app, { port: 0, shutdownTimeout: 2_000, http1: HTTP1, ...options });
  servers.push(server);
  return server;
}

/** Close every server `start` opened. */
export async function closeServers(): Promise<void> {
  await Promise.all(servers.splice(0).map((server) => server.close()));
}

/**
 * Send raw bytes on a new TCP connection and collect everything the server sends until it
 * closes the connection or `idle` ms pass without data.
 */
export function raw(port: number, ...parts: (string | Buffer)[]): Promise<string> {
  return rawTimed(port, parts, 300);
}

export function rawTimed(port: number, parts: (string | Buffer)[], idle: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    const done = () => {
      clearTimeout(timer);
      socket.destroy();
      resolve(Buffer.concat(chunks).toString('latin1'));
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(done, idle);
    };
    socket.on('connect', () => {
      for (const part of parts) socket.write(part);
      arm();
    });
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      arm();
    });
    socket.on('close', done);
    socket.on('error', reject);
  });
}

/** The payload of a chunked body (RFC 9112 §7.1), trailers ignored. */
export function dechunk(body: string): string {
  let out = '';
  let at = 0;
  for (;;) {
    const eol = body.indexOf('\r\n', at);
    if (eol < 0) return out;
    const size = Number.parseInt(body.slice(at, eol), 16);
    if (!(size > 0)) return out;
    out += body.slice(eol + 2, eol + 2 + size);
    at = eol + 2 + size + 2;
  }
}

/** The status code of a raw HTTP/1.1 response. */
export function statusOf(response: string): number {
  return Number(response.slice(9, 12));
}

/** True while process `pid` exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Wait until `condition` holds, polling; fails after `timeout` ms. */
export async function until(condition: () => boolean, timeout = 5_000): Promise<void> {
  const end = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await sleep(10);
  }
}

/** A child process running `rxgi serve`, with the URL it printed. */
export interface Child {
  url: string;
  port: number;
  /** The CLI's own process: the supervisor (the primary with `--workers`). */
  pid: number;
  /** The process that serves, from the ready line (the one the supervisor forked). */
  server: number;
  stderr: () => string;
  exited: Promise<number | null>;
  kill(signal?: NodeJS.Signals): void;
}

/** Every CLI child the tests started, for the internal-error sentinel in setup.ts. */
export const spawned: Child[] = [];

/** Run the built CLI (`dist/protocols/cli/main.js serve file ...args`) and wait for its URL. */
export function cli(file: string, ...args: string[]): Promise<Child> {
  return runCli(['serve', file, '--port', '0', ...args]);
}

/**
 * Run the built CLI with `argv` and wait until its log matches `ready` (by default, the line
 * with the URL it serves on; `url` is then that URL, else empty).
 */
export function runCli(
  argv: string[],
  ready = /"url":"(https?:\/\/[^"]+)"/,
  env: Record<string, string> = {},
): Promise<Child> {
  const child = spawn(process.execPath, ['dist/protocols/cli/main.js', ...argv], {
    cwd: new URL('..', import.meta.url).pathname,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, RXGI_LOG: 'info', ...env },
  });
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`cli did not start:\n${log}`)), 15_000);
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = ready.exec(log);
      if (match && timer) {
        clearTimeout(timer);
        const url = match[1]?.startsWith('http') ? match[1] : '';
        const started: Child = {
          url,
          port: url ? Number(new URL(url).port) : 0,
          pid: child.pid!,
          server: Number(/"pid":(\d+)/.exec(log.slice(match.index))?.[1] ?? child.pid),
          stderr: () => log,
          exited,
          kill: (signal = 'SIGTERM') => child.kill(signal),
        };
        spawned.push(started);
        resolve(started);
      }
    });
    exited.then((code) => reject(new Error(`cli exited with ${code}:\n${log}`)));
  });
}

/** A line rxgi logged during `withLogs`: its level, message and code (its own, or its error's). */
export interface LogLine {
  level: 'error' | 'warn' | 'info' | 'debug';
  message: string;
  code: unknown;
}

/** Run `test` with rxgi's log lines captured in `lines`; the logger before is put back after. */
export async function withLogs<T>(test: (lines: LogLine[]) => Promise<T> | T): Promise<T> {
  const lines: LogLine[] = [];
  const previous = logger();
  const at =
    (level: LogLine['level']) =>
    (message: string, fields?: Record<string, unknown>): void => {
      const code = fields?.code ?? (fields?.error as { code?: unknown } | undefined)?.code;
      lines.push({ level, message, code });
    };
  setLogger({ error: at('error'), warn: at('warn'), info: at('info'), debug: at('debug') });
  try {
    return await test(lines);
  } finally {
    setLogger(previous);
  }
}

/**
 * Runs test/fixtures/gc-server.mjs in `mode`, in a process of its own under `--trace-gc-nvp`,
 * while `load` sends it requests (and resolves to how many it sent); the server collects all
 * garbage after the `fullGcAt`th, once the young generation has grown to its working size.
 * Returns the bytes V8 promoted in the scavenges after that full GC, per request and per
 * scavenge, and how many scavenges there were. `v8Flags` go to the server's node.
 */
export async function promotedAfterFullGc(
  mode: 'rxgi' | 'raw-h1' | 'raw-h2',
  fullGcAt: number,
  load: (port: number) => Promise<number>,
  v8Flags: readonly string[] = [],
): Promise<{ perRequest: number; perScavenge: number; scavenges: number }> {
  const child = spawn(
    process.execPath,
    [
      '--expose-gc',
      '--trace-gc-nvp',
      ...v8Flags,
      'test/fixtures/gc-server.mjs',
      mode,
      String(fullGcAt),
    ],
    { cwd: new URL('..', import.meta.url).pathname, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const exited = new Promise((resolve) => child.once('exit', resolve));
  try {
    const lines: string[] = [];
    const port = await new Promise<number>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        lines.push(line);
        const match = /^LISTENING (\d+)$/.exec(line);
        if (match) resolve(Number(match[1]));
      });
      child.once('exit', (code) => reject(new Error(`gc-server exited with ${code}`)));
    });
    const requests = await load(port);
    child.kill('SIGTERM');
    await exited;
    const after = lines.slice(lines.indexOf('FULL-GC') + 1).filter((line) => / gc=s /.test(line));
    const promoted = after.reduce((sum, line) => sum + Number(/ promoted=(\d+)/.exec(line)![1]), 0);
    return {
      perRequest: promoted / (requests - fullGcAt),
      perScavenge: promoted / after.length,
      scavenges: after.length,
    };
  } finally {
    child.kill('SIGKILL');
  }
}
