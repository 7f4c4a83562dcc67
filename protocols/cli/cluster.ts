/**
 * `rxgi serve --workers N`: N processes on one port. The primary forks the workers and relays
 * the embedded cluster bus (or leaves the bus to a broker, `--bus URL`); node:cluster shares the
 * listening socket and hands connections out round-robin. Each worker is a whole server: it
 * loads the module, runs its lifespan, and has its own hub (SPEC.md §14), so group members in
 * every worker hear each other. A worker that dies takes its connections and their memberships
 * with it (§14.2); the primary starts another.
 */
import cluster, { type Worker } from 'node:cluster';
import { type Bus, Throttled } from '../../core/bus.js';
import { Hub } from '../../core/hub.js';
import { type Logger, logger, setLogger } from '../../core/log.js';
import { clusterBus, clusterRelay } from '../bus/cluster.js';
import { openBus } from '../bus/url.js';
import { type RemoteApp, remoteApp } from '../remote/forward.js';
import { DEFAULTS, type ServeOptions, serve } from '../server/serve.js';
import { loadApp } from './load.js';

/** What the primary tells every worker to serve. */
export interface ClusterConfig {
  /** The app module, as given on the command line. */
  file: string;
  /** How many workers; 2 or more (one is the plain single-process server). */
  workers: number;
  /** A broker URL for the bus (`redis://`, `nats://`); default: the embedded cluster bus. */
  bus?: string;
  /** Serve `remoteApp(bus)` instead of the module: forward connections to remote workers. */
  remote?: boolean;
  /** Options of `serve` in each worker (the hub and lifespan are the worker's own). */
  options: Omit<ServeOptions, 'hub' | 'lifespan'>;
}

/** The environment variable that makes the CLI a worker instead of a primary. */
export const WORKER_ENV = 'RXGI_CLUSTER_WORKER';

/** Restarts allowed per worker slot within `RESTART_WINDOW` ms before the primary waits. */
const RESTART_WINDOW = 10_000;

type Control =
  | { rxgi: 'cluster'; op: 'hello' }
  | { rxgi: 'cluster'; op: 'start'; config: ClusterConfig }
  | { rxgi: 'cluster'; op: 'stop' }
  | { rxgi: 'cluster'; op: 'ready'; url: string }
  | { rxgi: 'cluster'; op: 'failed'; message: string };

function isControl(message: unknown): message is Control {
  return typeof message === 'object' && message !== null && (message as Control).rxgi === 'cluster';
}

/** True in a process `runCluster` forked: it should run `runClusterWorker` instead of the CLI. */
export function isClusterWorker(): boolean {
  return cluster.isWorker && process.env[WORKER_ENV] === '1';
}

/**
 * Run the primary: fork `config.workers` workers, log one line with the URL once every one
 * listens, replace workers that die (at most `workers` restarts per 10 s), and on SIGTERM or
 * SIGINT shut every worker down gracefully (a second signal kills them and exits 1). Resolves
 * with the exit status: 0 once every worker shut down cleanly, 1 when one did not, or when a
 * worker failed to start (its error is printed once).
 */
export function runCluster(config: ClusterConfig): Promise<number> {
  const relay = config.bus === undefined ? clusterRelay() : null;
  cluster.setupPrimary({ serialization: 'advanced' });
  const live = new Map<Worker, { ready: boolean }>();
  const restarts: number[] = [];
  const timers = new Set<NodeJS.Timeout>();
  const waiting = new Throttled('workers are restarting too often; waiting before the next one');
  let started = false;
  let stopping = false;
  let exitCode = 0;

  return new Promise<number>((resolve) => {
    const finish = (code: number) => {
      relay?.close();
      for (const timer of timers) clearTimeout(timer);
      resolve(code);
    };
    const fork = () => {
      const worker = cluster.fork({ [WORKER_ENV]: '1' });
      const state = { ready: false };
      live.set(worker, state);
      // A worker's IPC errors (EPIPE as it dies) are followed by its exit; that is handled.
      worker.on('error', (error) => logger().debug('worker IPC error', { error }));
      worker.on('message', (message: unknown) => {
        if (!isControl(message)) return;
        if (message.op === 'hello') {
          // Only now: IPC messages that arrive before the worker listens for them are lost.
          worker.send({ rxgi: 'cluster', op: 'start', config } satisfies Control);
        } else if (message.op === 'ready') {
          state.ready = true;
          if (!started && [...live.values()].every((w) => w.ready)) {
            started = true;
            logger().info(
              `rxgi serving ${config.file} on ${message.url} with ${config.workers} workers`,
              { url: message.url, workers: config.workers },
            );
          } else if (started) {
            logger().info('worker listening', { pid: worker.process.pid });
          }
        } else if (message.op === 'failed' && !started) {
          // Like the single-process CLI: a module or a bus that cannot start ends the run. The
          // other workers most likely fail alike; one message is enough.
          if (!stopping) {
            process.stderr.write(`rxgi: ${message.message}\n`);
            stop(null, 1);
          }
        } else if (message.op === 'failed') {
          logger().error('worker failed to start', {
            pid: worker.process.pid,
            error: message.message,
          });
        }
      });
      worker.on('exit', (code, signal) => {
        live.delete(worker);
        if (stopping) {
          if (code !== 0 && started) {
            // So that the primary's status tells whether the whole shutdown was clean.
            logger().error('worker did not shut down cleanly', {
              pid: worker.process.pid,
              code,
              signal,
            });
            exitCode = 1;
          }
          if (live.size === 0) finish(exitCode);
          return;
        }
        if (!started) {
          process.stderr.write(`rxgi: a worker exited during startup (code ${code}, ${signal})\n`);
          stop(null, 1);
          return;
        }
        logger().error('worker exited; starting another', {
          pid: worker.process.pid,
          code,
          signal,
        });
        replace();
      });
    };
    const replace = () => {
      const now = Date.now();
      while (restarts.length > 0 && restarts[0] <= now - RESTART_WINDOW) restarts.shift();
      if (restarts.length < config.workers) {
        restarts.push(now);
        fork();
        return;
      }
      // A worker that dies at once (a broken deploy, a broker down) must not spin the CPU.
      const delay = restarts[0] + RESTART_WINDOW - now;
      waiting.note({ delay, restarts: restarts.length, window: RESTART_WINDOW });
      const timer = setTimeout(() => {
        timers.delete(timer);
        if (!stopping) replace();
      }, delay);
      timers.add(timer);
    };
    const stop = (signal: string | null, code = 0) => {
      stopping = true;
      exitCode = code;
      for (const timer of timers) clearTimeout(timer);
      if (signal !== null) logger().info(`${signal}: shutting down`, { workers: live.size });
      if (live.size === 0) return finish(code);
      for (const worker of live.keys()) {
        if (worker.isConnected()) worker.send({ rxgi: 'cluster', op: 'stop' } satisfies Control);
        else worker.process.kill('SIGTERM');
      }
      // Each worker's own shutdown is bounded by its deadline and its lifespan's; past both
      // (and a margin), it is stuck.
      const shutdownTimeout = config.options.shutdownTimeout ?? DEFAULTS.shutdownTimeout;
      const timer = setTimeout(
        () => {
          logger().error('workers did not stop in time; killing them', { workers: live.size });
          exitCode = 1;
          for (const worker of live.keys()) worker.process.kill('SIGKILL');
        },
        2 * shutdownTimeout + 5_000,
      );
      timer.unref();
    };
    const onSignal = (signal: string) => {
      if (stopping) {
        for (const worker of live.keys()) worker.process.kill('SIGKILL');
        process.exit(1);
      }
      stop(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    for (let i = 0; i < config.workers; i++) fork();
  });
}

/** Send a control message to the primary and wait until it is written (or the channel is gone). */
function tell(message: Control): Promise<void> {
  return new Promise((resolve) => {
    if (!process.connected || process.send === undefined) return resolve();
    process.send(message, undefined, undefined, () => resolve());
  });
}

/**
 * Run a worker: wait for the primary's config, serve the app on the shared port with a hub on
 * the cluster bus (or the broker), report the URL, and shut down gracefully when the primary
 * says so or on SIGTERM or SIGINT. Resolves with the exit status.
 */
export async function runClusterWorker(): Promise<number> {
  // The app's own child processes are not rxgi workers.
  delete process.env[WORKER_ENV];
  // N processes write to one stderr: every line says which one wrote it.
  setLogger(tagged(logger(), { worker: process.pid }));
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  const configured = new Promise<ClusterConfig>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isControl(message)) return;
      // A promise settles once: a second `start` changes nothing.
      if (message.op === 'start') resolve(message.config);
      else if (message.op === 'stop') stopRequested();
    });
  });
  await tell({ rxgi: 'cluster', op: 'hello' });
  let signalled = false;
  const onSignal = () => {
    if (signalled) process.exit(1);
    signalled = true;
    stopRequested();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // No 'disconnect' handler: node:cluster ends a worker at once when its primary is gone.

  const settings = await Promise.race([configured, stopped.then(() => null)]);
  if (settings === null) return 0;
  let bus: Bus | undefined;
  let hub: Hub | undefined;
  let server: Awaited<ReturnType<typeof serve>>;
  let remote: RemoteApp | undefined;
  try {
    bus = settings.bus === undefined ? clusterBus() : await openBus(settings.bus);
    hub = new Hub({ bus });
    if (settings.remote) {
      remote = remoteApp(bus);
      server = await serve(remote, { ...settings.options, hub });
    } else {
      const { app, lifespan } = await loadApp(settings.file);
      server = await serve(app, { ...settings.options, lifespan, hub });
    }
  } catch (error) {
    hub?.close();
    await bus?.close().catch(() => {});
    await tell({ rxgi: 'cluster', op: 'failed', message: (error as Error).message });
    return 1;
  }
  await tell({ rxgi: 'cluster', op: 'ready', url: server.url });
  await stopped;
  logger().debug('worker shutting down', { pid: process.pid, connections: server.connections });
  await server.close();
  remote?.close();
  hub.close();
  await bus.close().catch((error) => logger().warn('bus did not close cleanly', { error }));
  return 0;
}

/** A logger that adds `tag` to the fields of every line. */
function tagged(base: Logger, tag: Record<string, unknown>): Logger {
  return {
    error: (message, fields) => base.error(message, { ...tag, ...fields }),
    warn: (message, fields) => base.warn(message, { ...tag, ...fields }),
    info: (message, fields) => base.info(message, { ...tag, ...fields }),
    debug: (message, fields) => base.debug(message, { ...tag, ...fields }),
  };
}
