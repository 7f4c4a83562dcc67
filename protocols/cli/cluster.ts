/**
 * `rxgi serve --workers N`: N processes on one port. The primary forks the workers and relays
 * the embedded cluster bus (or leaves the bus to a broker, `--bus URL`); node:cluster shares the
 * listening socket and hands connections out round-robin. Each worker is a whole server: it
 * loads the module, runs its lifespan, and has its own hub (spec/actors.md), so group members in
 * every worker hear each other. A worker that dies takes its connections and their memberships
 * with it (spec/actors.md §2); the primary starts another.
 */
import cluster, { type Worker } from 'node:cluster';
import { watch } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { type Bus, Throttled } from '../../core/bus.js';
import { Hub } from '../../core/hub.js';
import { type Logger, logger, prettyLogger, setLogger } from '../../core/log.js';
import { clusterBus, clusterRelay } from '../bus/cluster.js';
import { openBus } from '../bus/url.js';
import { type RemoteApp, remoteApp } from '../remote/forward.js';
import { DEFAULTS, type ServeOptions, serve } from '../server/serve.js';
import { loadApp, prepareLoad } from './load.js';

/** What the primary tells every worker to serve. */
export interface ClusterConfig {
  /** The app module, as given on the command line. */
  file: string;
  /** How many workers; 1 is `rxgi serve` without `--workers`, supervised. */
  workers: number;
  /** A broker URL for the bus (`redis://`, `nats://`); default: the embedded cluster bus. */
  bus?: string;
  /** Serve `remoteApp(bus)` instead of the module: forward connections to remote workers. */
  remote?: boolean;
  /** Restart the workers when a file beside the module changes (`--watch`). */
  watch?: boolean;
  /** Log one line per exchange (`--access-log`). */
  accessLog?: boolean;
  /** `pretty` for a terminal; JSON lines otherwise. */
  logFormat?: 'json' | 'pretty';
  /** Options of `serve` in each worker (the hub and lifespan are the worker's own). */
  options: Omit<ServeOptions, 'hub' | 'lifespan'>;
}

/** What the primary knows of a worker: whether it listens, and whether it said hello. */
interface WorkerState {
  ready: boolean;
  greeted: boolean;
}

/** The environment variable that makes the CLI a worker instead of a primary. */
export const WORKER_ENV = 'RXGI_CLUSTER_WORKER';

/** Restarts allowed per worker slot within `RESTART_WINDOW` ms before the primary waits. */
const RESTART_WINDOW = 10_000;

type Control =
  | { rxgi: 'cluster'; op: 'hello' }
  | { rxgi: 'cluster'; op: 'prepare'; file: string }
  | { rxgi: 'cluster'; op: 'start'; config: ClusterConfig }
  | { rxgi: 'cluster'; op: 'stop'; restart?: boolean }
  | { rxgi: 'cluster'; op: 'closed' }
  | { rxgi: 'cluster'; op: 'prepared' }
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
 * listens, replace workers that die (at most `workers` restarts per 10 s, then it waits), and on
 * SIGTERM or SIGINT shut every worker down gracefully (a second signal kills them and exits 1).
 * Resolves with the exit status: 0 once every worker shut down cleanly, 1 when one did not, or
 * when a worker failed to start (its error is printed once). With one worker this is the
 * supervisor of `rxgi serve` without `--workers` (docs/server.md).
 */
export function runCluster(config: ClusterConfig): Promise<number> {
  return new Promise<number>((resolve) => new Primary(config, resolve).start());
}

/** The state of one `runCluster`: its workers, its restart budget and its shutdown. */
class Primary {
  private readonly relay: ReturnType<typeof clusterRelay> | null;
  private readonly live = new Map<Worker, WorkerState>();
  /**
   * `--watch`: warm workers for the next generation, booted and prepared (`prepareLoad`) but not
   * serving, so that a reload only loads the changed module. Not in `live`.
   */
  private readonly standby = new Map<Worker, WorkerState>();
  private readonly restarts: number[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly waiting = new Throttled(
    'the server is restarting too often; waiting before the next start',
  );
  private started = false;
  private stopping = false;
  private watcher: { close(): void } | null = null;
  /** The workers serving now (`--watch` replaces them as a whole). */
  private generation = new Set<Worker>();
  /** Workers of a `--watch` restart that do not listen yet. */
  private readonly reloading = new Set<Worker>();
  /** Workers of an old generation, draining. */
  private readonly retiring = new Set<Worker>();
  private pendingReload: string | undefined;
  private exitCode = 0;
  /** The port the workers alive now were told to listen on (0: any). */
  private listenPort: number | undefined;
  /** The port the first worker listened on. */
  private boundPort: number | undefined;

  constructor(
    private readonly config: ClusterConfig,
    private readonly resolve: (code: number) => void,
  ) {
    // One worker keeps its hub in-process; several share the primary's relay (or a broker).
    this.relay = config.bus === undefined && config.workers > 1 ? clusterRelay() : null;
    this.listenPort = config.options.port;
  }

  start(): void {
    cluster.setupPrimary({ serialization: 'advanced' });
    const onSignal = (signal: string) => this.signal(signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    for (let i = 0; i < this.config.workers; i++) this.fork();
    if (this.config.watch && !this.config.remote) {
      this.watcher = watchModule(this.config.file, (changed) => this.reload(changed));
    }
  }

  /**
   * `--watch`: start a new generation of workers on the same port (they join the listening
   * handle the old ones hold), and once every one listens, stop the old ones: their WebSockets
   * close with 1012 Service Restart and their exchanges drain. A generation that fails to start
   * is dropped and the old one keeps serving until the next change.
   */
  private reload(changed: string): void {
    if (this.stopping || !this.started) return;
    if (this.reloading.size > 0) {
      this.pendingReload = changed;
      return;
    }
    logger().info(`${changed} changed; restarting`, { file: changed });
    const warm = [...this.standby.keys()];
    for (let i = 0; i < this.config.workers; i++) {
      this.reloading.add(i < warm.length ? this.promote(warm[i]) : this.fork());
    }
  }

  /** A standby worker joins `live` and is told to start (at once, if it said hello already). */
  private promote(worker: Worker): Worker {
    const state = this.standby.get(worker) as WorkerState;
    this.standby.delete(worker);
    this.live.set(worker, state);
    if (state.greeted)
      this.send(worker, { rxgi: 'cluster', op: 'start', config: this.configFor(worker) });
    return worker;
  }

  /**
   * `--watch`: fork standby workers up to the worker count, once the server serves and between
   * restarts (not during one: two cores would be shared with the generation starting).
   */
  private fillStandby(): void {
    if (!this.config.watch || this.config.remote || this.stopping) return;
    while (this.standby.size < this.config.workers) this.fork(true);
  }

  /** A worker of the new generation listens; the old one goes once every new one does. */
  private reloaded(worker: Worker): void {
    this.reloading.delete(worker);
    if (this.reloading.size > 0) return;
    const fresh = new Set(this.live.keys());
    for (const old of this.generation) {
      if (fresh.has(old) && !this.retiring.has(old)) this.retire(old);
    }
    this.generation = fresh;
    for (const old of this.retiring) this.generation.delete(old);
    logger().info('restarted', { workers: this.generation.size });
    this.fillStandby();
    this.reloadPending();
  }

  private retire(worker: Worker): void {
    this.retiring.add(worker);
    if (worker.isConnected())
      worker.send({ rxgi: 'cluster', op: 'stop', restart: true } satisfies Control);
    else worker.process.kill('SIGTERM');
  }

  private reloadPending(): void {
    const pending = this.pendingReload;
    this.pendingReload = undefined;
    if (pending !== undefined) this.reload(pending);
  }

  private fork(standby = false): Worker {
    const worker = cluster.fork({ [WORKER_ENV]: '1' });
    const state: WorkerState = { ready: false, greeted: false };
    (standby ? this.standby : this.live).set(worker, state);
    // A worker's IPC errors (EPIPE as it dies) are followed by its exit; that is handled.
    worker.on('error', (error) => logger().debug('worker IPC error', { error }));
    worker.on('message', (message: unknown) => {
      if (isControl(message)) this.message(worker, state, message);
    });
    worker.on('exit', (code, signal) => this.exited(worker, code, signal));
    return worker;
  }

  private message(worker: Worker, state: WorkerState, message: Control): void {
    if (message.op === 'hello') {
      state.greeted = true;
      // Only now: IPC messages that arrive before the worker listens for them are lost.
      if (this.standby.has(worker))
        this.send(worker, { rxgi: 'cluster', op: 'prepare', file: this.config.file });
      else this.send(worker, { rxgi: 'cluster', op: 'start', config: this.configFor(worker) });
    } else if (message.op === 'prepared') {
      logger().debug('standby worker ready for the next change', { pid: worker.process.pid });
    } else if (message.op === 'closed') {
      // The echo a stopped worker waits for before it exits (see `runClusterWorker`).
      this.send(worker, { rxgi: 'cluster', op: 'closed' });
    } else if (message.op === 'ready') {
      state.ready = true;
      this.ready(worker, message.url);
    } else if (message.op === 'failed' && !this.started) {
      // Like a plain server: a module or a bus that cannot start ends the run. The other
      // workers most likely fail alike; one message is enough.
      if (!this.stopping) {
        process.stderr.write(`rxgi: ${message.message}\n`);
        this.stop(null, 1);
      }
    } else if (message.op === 'failed') {
      logger().error('worker failed to start', {
        pid: worker.process.pid,
        error: message.message,
      });
    }
  }

  /**
   * The config a new worker gets. node:cluster shares one listening handle per (address, port
   * asked for) among the workers alive; a replacement asks for what they asked for, so that it
   * joins their handle. When none is alive (a single server died), the handle is gone with them:
   * the replacement asks for the port the first worker got, so that `--port 0` (any) keeps its
   * port across restarts.
   */
  private configFor(worker: Worker): ClusterConfig {
    const alone = [...this.live.keys()].every((other) => other === worker);
    if (alone && this.boundPort !== undefined) this.listenPort = this.boundPort;
    const { config } = this;
    return { ...config, options: { ...config.options, port: this.listenPort } };
  }

  private ready(worker: Worker, url: string): void {
    const { config } = this;
    this.boundPort ??= Number(new URL(url).port);
    if (this.reloading.has(worker)) {
      this.reloaded(worker);
      return;
    }
    this.generation.add(worker);
    if (this.started) {
      logger().info('worker listening', { pid: worker.process.pid });
      return;
    }
    if (![...this.live.values()].every((w) => w.ready)) return;
    this.started = true;
    const { message, fields } = banner(config, url);
    logger().info(message, { ...fields, pid: worker.process.pid });
    this.fillStandby();
  }

  private send(worker: Worker, message: Control): void {
    if (worker.isConnected()) worker.send(message);
  }

  private exited(worker: Worker, code: number | null, signal: string | null): void {
    // A standby that dies is replaced at the next restart's end (so a broken one cannot spin).
    if (this.standby.delete(worker)) {
      if (!this.stopping) logger().debug('standby worker exited', { code, signal });
      return;
    }
    this.live.delete(worker);
    this.generation.delete(worker);
    if (this.retiring.delete(worker) && !this.stopping) return;
    if (this.reloading.has(worker) && !this.stopping) {
      // The new code does not start: drop its generation, keep serving the old one.
      for (const other of this.reloading) if (other !== worker) other.process.kill('SIGKILL');
      this.reloading.clear();
      logger().error('the changed module does not start; still serving the previous version', {
        pid: worker.process.pid,
        code,
        signal,
      });
      this.fillStandby();
      this.reloadPending();
      return;
    }
    const pid = worker.process.pid;
    if (this.stopping) {
      if (code !== 0 && this.started) {
        // So that the primary's status tells whether the whole shutdown was clean.
        logger().error('worker did not shut down cleanly', { pid, code, signal });
        this.exitCode = 1;
      }
      if (this.live.size === 0) this.finish(this.exitCode);
      return;
    }
    const cause = signal ? `killed by ${signal}` : `exit code ${code}`;
    if (!this.started) {
      process.stderr.write(`rxgi: the server process exited during startup (${cause})\n`);
      this.stop(null, 1);
      return;
    }
    logger().error(`server process ${pid} died (${cause}); starting another`, {
      pid,
      code,
      signal,
    });
    this.replace();
  }

  private replace(): void {
    const now = Date.now();
    const { restarts } = this;
    while (restarts.length > 0 && restarts[0] <= now - RESTART_WINDOW) restarts.shift();
    if (restarts.length < this.config.workers) {
      restarts.push(now);
      this.fork();
      return;
    }
    // A worker that dies at once (a broken deploy, a broker down) must not spin the CPU.
    const delay = restarts[0] + RESTART_WINDOW - now;
    this.waiting.note({ delay, restarts: restarts.length, window: RESTART_WINDOW });
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      if (!this.stopping) this.replace();
    }, delay);
    this.timers.add(timer);
  }

  private signal(signal: string): void {
    if (this.stopping) {
      for (const worker of this.live.keys()) worker.process.kill('SIGKILL');
      process.exit(1);
    }
    this.stop(signal);
  }

  private stop(signal: string | null, code = 0): void {
    this.stopping = true;
    this.exitCode = code;
    for (const timer of this.timers) clearTimeout(timer);
    const { live } = this;
    if (signal !== null) logger().info(`${signal}: shutting down`, { workers: live.size });
    // Standbys serve nothing: they go at once, and nobody waits for them.
    for (const worker of this.standby.keys()) worker.process.kill('SIGTERM');
    if (live.size === 0) {
      this.finish(code);
      return;
    }
    for (const worker of live.keys()) {
      if (worker.isConnected()) worker.send({ rxgi: 'cluster', op: 'stop' } satisfies Control);
      else worker.process.kill('SIGTERM');
    }
    // Each worker's own shutdown is bounded by its deadline and its lifespan's; past both
    // (and a margin), it is stuck.
    const shutdownTimeout = this.config.options.shutdownTimeout ?? DEFAULTS.shutdownTimeout;
    const timer = setTimeout(
      () => {
        logger().error('workers did not stop in time; killing them', { workers: live.size });
        this.exitCode = 1;
        for (const worker of live.keys()) worker.process.kill('SIGKILL');
      },
      2 * shutdownTimeout + 5_000,
    );
    timer.unref();
  }

  private finish(code: number): void {
    this.watcher?.close();
    this.relay?.close();
    for (const timer of this.timers) clearTimeout(timer);
    this.resolve(code);
  }
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
  let restart = false;
  /** A `--watch` standby's preparation, which a start waits for. */
  let prepared: Promise<void> = Promise.resolve();
  let stopRequested: () => void = () => {};
  const stopped = new Promise<void>((resolve) => {
    stopRequested = resolve;
  });
  let echoed: () => void = () => {};
  const configured = new Promise<ClusterConfig>((resolve) => {
    process.on('message', (message: unknown) => {
      if (!isControl(message)) return;
      // A promise settles once: a second `start` changes nothing.
      if (message.op === 'start') resolve(message.config);
      // A failed preparation is the load's to report, when it comes to it.
      else if (message.op === 'prepare') {
        prepared = prepareLoad(message.file).then(
          () => tell({ rxgi: 'cluster', op: 'prepared' }),
          () => {},
        );
      } else if (message.op === 'stop') {
        restart = message.restart === true;
        stopRequested();
      } else if (message.op === 'closed') echoed();
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
  await prepared;
  if (settings.logFormat === 'pretty') setLogger(prettyLogger);
  // N processes write to one stderr: every line says which one wrote it.
  if (settings.workers > 1) setLogger(tagged(logger(), { worker: process.pid }));
  let bus: Bus | undefined;
  let hub: Hub | undefined;
  let server: Awaited<ReturnType<typeof serve>>;
  let remote: RemoteApp | undefined;
  try {
    // One worker without --bus keeps the process-wide default hub on the embedded bus.
    if (settings.bus !== undefined) bus = await openBus(settings.bus);
    else if (settings.workers > 1) bus = clusterBus();
    hub = bus === undefined ? undefined : new Hub({ bus });
    // The drivers write the access log (docs/server.md): off, it costs nothing.
    const options = { ...settings.options, accessLog: settings.accessLog === true, hub };
    if (settings.remote) {
      remote = remoteApp(bus as Bus);
      server = await serve(remote, options);
    } else {
      const { app, lifespan } = await loadApp(settings.file).catch((error: Error) => {
        throw new LoadError(settings.file, error);
      });
      server = await serve(app, { ...options, lifespan });
    }
  } catch (error) {
    hub?.close();
    await bus?.close().catch(() => {});
    await tell({ rxgi: 'cluster', op: 'failed', message: failure(error as Error, settings) });
    return 1;
  }
  await tell({ rxgi: 'cluster', op: 'ready', url: server.url });
  await stopped;
  logger().debug('worker shutting down', { pid: process.pid, connections: server.connections });
  await server.close({ restart });
  remote?.close();
  hub?.close();
  await bus?.close().catch((error) => logger().warn('bus did not close cleanly', { error }));
  await lastConnections(() => new Promise<void>((resolve) => (echoed = resolve)));
  return 0;
}

/**
 * Wait until no connection can still be on its way to this worker, before it exits. node:cluster's
 * primary hands a connection to a worker over IPC and waits for its answer; one sent to a worker
 * whose server just closed is answered "not accepted" and goes to another worker, but one that
 * reaches a worker that has exited is never answered, and its client hangs (a `--watch` reload
 * with no open connection shuts the old worker down in milliseconds). The IPC channel keeps
 * order: once the primary echoes a message sent after the server closed, every connection it
 * handed this worker before that has arrived, and was refused. At most 1 s, if the primary is
 * gone or slow.
 */
async function lastConnections(echo: () => Promise<void>): Promise<void> {
  if (!process.connected) return;
  const answered = echo();
  await tell({ rxgi: 'cluster', op: 'closed' });
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, 1_000);
  });
  await Promise.race([answered, late]);
  clearTimeout(timer);
}

/**
 * The start-up line: every way in (the URL, the protocols the port speaks, the WebSocket URL),
 * how many processes serve, and the bus their hubs share.
 */
export function banner(
  config: ClusterConfig,
  url: string,
): { message: string; fields: Record<string, unknown> } {
  const tls = config.options.tls !== undefined;
  const websocket = url.replace(/^http/, 'ws');
  const protocols = tls ? 'HTTP/2 and HTTP/1.1 (ALPN)' : 'HTTP/1.1 and h2c';
  const processes = config.workers > 1 ? `${config.workers} workers` : '1 process';
  const bus = config.bus ?? (config.workers > 1 ? 'the cluster bus' : 'in-process');
  const message = `rxgi serving ${config.file} on ${url} (${protocols}; WebSocket ${websocket}, also over HTTP/2) with ${processes}, hub ${bus}`;
  return { message, fields: { url, websocket, protocols, workers: config.workers, bus } };
}

/** Files whose change restarts the server: code and data a module may load. */
const WATCHED = /\.(?:[cm]?[jt]sx?|json)$/;
const IGNORED = /(?:^|[\\/])(?:node_modules|\.git|dist)(?:[\\/]|$)/;

/**
 * Watch the module's folder and everything below it (but node_modules, .git and dist) and call
 * `changed` with the path of a changed source file, once per burst of changes (an editor's save
 * writes several times).
 */
function watchModule(file: string, changed: (path: string) => void): { close(): void } {
  const folder = dirname(resolve(file));
  let timer: NodeJS.Timeout | undefined;
  const watcher = watch(folder, { recursive: true }, (_event, name) => {
    if (name === null || !WATCHED.test(name) || IGNORED.test(name)) return;
    clearTimeout(timer);
    timer = setTimeout(() => changed(relative(process.cwd(), join(folder, name))), 50);
  });
  watcher.on('error', (error) => logger().warn('cannot watch for changes', { folder, error }));
  return {
    close() {
      clearTimeout(timer);
      watcher.close();
    },
  };
}

/** An error thrown while the app module loaded: its own message, file, line and stack. */
class LoadError extends Error {
  constructor(
    readonly file: string,
    readonly error: Error,
  ) {
    super(error.message, { cause: error });
  }
}

/**
 * What to tell the user when a worker could not start: a hint for the usual causes (the port is
 * taken, or needs privileges), and the stack of an error thrown while the module loaded, since
 * its first frame names the file and line at fault.
 */
function failure(error: Error, { options }: ClusterConfig): string {
  const code = (error as { code?: string }).code;
  const where = `port ${options.port} on ${options.host}`;
  if (code === 'EADDRINUSE')
    return `${where} is in use by another process: stop it, or choose another port with --port (or PORT)`;
  if (code === 'EACCES')
    return `${where} needs privileges this process does not have: choose a port above 1023 with --port`;
  if (code === 'EADDRNOTAVAIL')
    return `${options.host} is not an address of this machine: choose another with --host`;
  if (!(error instanceof LoadError)) return error.message;
  const inner = error.error;
  // A hint from loadApp (wrong module system, no default export) is one line and says it all.
  if (inner.cause !== undefined || /must export an rxgi app/.test(inner.message))
    return inner.message;
  const stack = inner.stack ?? `${inner.name}: ${inner.message}`;
  return `error while loading ${error.file}:\n${stack}`;
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
