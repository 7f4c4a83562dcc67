#!/usr/bin/env node
import { logger, prettyLogger, setLogger } from '../../core/log.js';
import { openBus } from '../bus/url.js';
import { runWorker } from '../remote/worker.js';
import { LifespanRunner } from '../server/lifespan.js';
import { DEFAULTS } from '../server/serve.js';
import { readTlsFiles, selfSignedCertificate, type TlsFiles } from '../server/tls.js';
import { parseCommand, type ServeCommand, UsageError, type WorkerCommand } from './args.js';
import { isClusterWorker, runCluster, runClusterWorker } from './cluster.js';
import { conformance } from './conformance.js';
import { loadApp } from './load.js';

/** Run the command line; resolves with the exit status (2 for usage, 1 for run-time failures). */
async function main(argv: string[]): Promise<number> {
  const command = parseCommand(argv, process.env);
  if (command.command === 'help') {
    (command.status === 0 ? process.stdout : process.stderr).write(`${command.text}\n`);
    return command.status;
  }
  if (command.command === 'worker') return worker(command);
  if (command.command === 'conformance') return conformance(command);
  return serveCommand(command);
}

/**
 * `rxgi serve`: the server runs in a child process (one cluster worker, or `--workers` of them)
 * that this process supervises: it starts another when one dies, saying why (docs/server.md).
 */
async function serveCommand(command: ServeCommand): Promise<number> {
  // A person at a terminal reads lines and wants to see traffic; a collector parses JSON.
  const terminal = process.stderr.isTTY === true;
  const logFormat = command.logFormat ?? (terminal ? 'pretty' : 'json');
  if (logFormat === 'pretty') setLogger(prettyLogger);
  const tls = await tlsFiles(command);
  return runCluster({
    file: command.file ?? 'remote workers',
    workers: command.workers,
    bus: command.bus,
    remote: command.remote,
    watch: command.watch,
    accessLog: command.accessLog ?? terminal,
    logFormat,
    options: {
      host: command.host,
      port: command.port,
      ...command.limits,
      tls,
      allowedOrigins: command.allowedOrigins,
    },
  });
}

/** The certificate and key the flags ask for; undefined for plain HTTP. */
async function tlsFiles({ tls, host }: ServeCommand): Promise<TlsFiles | undefined> {
  if (tls.cert !== undefined && tls.key !== undefined) return readTlsFiles(tls.cert, tls.key);
  if (!tls.selfSigned) return undefined;
  const hosts = ['localhost', '127.0.0.1', '::1'];
  // A specific --host goes in too; a wildcard address names no one.
  const bare = host.replace(/^\[(.*)\]$/, '$1');
  if (bare !== '0.0.0.0' && bare !== '::' && !hosts.includes(bare)) hosts.push(bare);
  const files = await selfSignedCertificate(hosts);
  logger().warn(
    'using a throwaway self-signed certificate: for development only, clients will not trust it',
    { hosts },
  );
  return files;
}

/** `rxgi worker`: run the module's app for `--remote` servers on the bus until a signal. */
async function worker({ file, bus: url, limits }: WorkerCommand): Promise<number> {
  const deadline = limits.shutdownTimeout ?? DEFAULTS.shutdownTimeout;
  const { app, lifespan } = await loadApp(file);
  const runner = lifespan ? new LifespanRunner(lifespan) : null;
  await runner?.startup(limits.startupTimeout ?? DEFAULTS.startupTimeout);
  const bus = await openBus(url);
  const running = await runWorker(app, bus);
  logger().info(`rxgi worker ${running.id} running ${file} for the servers on ${url}`, {
    worker: running.id,
  });
  await untilSignal((signal) => {
    logger().info(`${signal}: shutting down`, { connections: running.connections });
    return running.close(deadline);
  });
  await bus.close();
  await runner?.shutdown(deadline);
  return 0;
}

/** Wait for SIGTERM or SIGINT, then run `stop`; a second signal exits at once with 1. */
function untilSignal(stop: (signal: string) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const once = (signal: string) => {
      process.once(signal, () => process.exit(1));
      stop(signal).then(resolve);
    };
    process.once('SIGTERM', () => once('SIGTERM'));
    process.once('SIGINT', () => once('SIGINT'));
  });
}

/** The exit status and the line(s) for an error that ended the CLI. */
function failed(error: Error): number {
  if (error instanceof UsageError) {
    process.stderr.write(`rxgi: ${error.message}\n`);
    return 2;
  }
  const detail = process.env.RXGI_LOG === 'debug' && error.stack ? `\n${error.stack}` : '';
  process.stderr.write(`rxgi: ${error.message}${detail}\n`);
  return 1;
}

// A worker forked by `rxgi serve` gets its settings from the primary, not from its arguments.
(isClusterWorker() ? runClusterWorker() : main(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (error: Error) => process.exit(failed(error)),
);
