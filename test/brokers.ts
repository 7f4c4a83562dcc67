/**
 * Real brokers for the bus tests: `redis-server` and `nats-server` started on free ports, and
 * killed and restarted on the same port for the fault tests. No mock of a broker anywhere.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';

/** A broker process the test controls. */
export interface Broker {
  readonly url: string;
  readonly port: number;
  /** Kill the process (SIGKILL: no goodbye to clients) and wait until it is gone. */
  kill(): Promise<void>;
  /** Start it again on the same port and wait until it accepts connections. */
  restart(): Promise<void>;
  /** Stop for good. */
  stop(): Promise<void>;
}

/** The path of a broker binary: on PATH, or in /usr/sbin or /usr/bin (Debian). */
export function brokerBinary(name: 'redis-server' | 'nats-server'): string {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin']) {
    if (existsSync(`${dir}/${name}`)) return `${dir}/${name}`;
  }
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`])
      .toString()
      .trim();
  } catch {
    throw new Error(`${name} is not installed (Debian package ${name}); .ci/run installs it`);
  }
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function accepting(port: number, timeout = 10_000): Promise<void> {
  const end = Date.now() + timeout;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = netConnect(port, '127.0.0.1');
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > end) throw new Error(`nothing accepts connections on port ${port}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

function broker(scheme: string, port: number, launch: () => ChildProcess): Broker {
  let child: ChildProcess | null = null;
  const run = async () => {
    child = launch();
    child.stderr?.resume();
    child.stdout?.resume();
    await accepting(port);
  };
  const kill = async () => {
    const current = child;
    child = null;
    if (current === null || current.exitCode !== null) return;
    const exited = new Promise((resolve) => current.once('exit', resolve));
    current.kill('SIGKILL');
    await exited;
  };
  return {
    url: `${scheme}://127.0.0.1:${port}`,
    port,
    kill,
    restart: run,
    stop: kill,
    // Started by the factory below before it is returned.
    ...{ _start: run },
  } as Broker & { _start: () => Promise<void> };
}

async function started(b: Broker): Promise<Broker> {
  await (b as Broker & { _start: () => Promise<void> })._start();
  return b;
}

/** Start a throwaway redis-server (no persistence) on a free port. */
export async function startRedis(): Promise<Broker> {
  const binary = brokerBinary('redis-server');
  const port = await freePort();
  return started(
    broker('redis', port, () =>
      spawn(
        binary,
        ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
        {
          stdio: ['ignore', 'pipe', 'pipe'],
        },
      ),
    ),
  );
}

/** Start a throwaway nats-server on a free port. */
export async function startNats(): Promise<Broker> {
  const binary = brokerBinary('nats-server');
  const port = await freePort();
  return started(
    broker('nats', port, () =>
      spawn(binary, ['-a', '127.0.0.1', '-p', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] }),
    ),
  );
}
