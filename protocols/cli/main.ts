#!/usr/bin/env node
import { parseArgs } from 'node:util';
import type { Bus } from '../../core/bus.js';
import { Hub } from '../../core/hub.js';
import { logger } from '../../core/log.js';
import { busUrlError, openBus } from '../bus/url.js';
import { type RemoteApp, remoteApp } from '../remote/forward.js';
import { runWorker } from '../remote/worker.js';
import { LifespanRunner } from '../server/lifespan.js';
import { DEFAULTS, serve } from '../server/serve.js';
import { readTlsFiles, selfSignedCertificate, type TlsFiles } from '../server/tls.js';
import { isClusterWorker, runCluster, runClusterWorker } from './cluster.js';
import { loadApp } from './load.js';

const USAGE = `Usage: rxgi serve <module> [options]
       rxgi serve --remote --bus URL [options]
       rxgi worker <module> --bus URL [--shutdown-timeout MS] [--startup-timeout MS]

serve: serves the default export of <module> (TypeScript or JavaScript) over HTTP/1.1, h2c and
WebSocket on one port; with TLS, HTTP/2 and HTTP/1.1 chosen by ALPN. With --remote it serves no
module itself: every connection goes over the bus to a worker process (SPEC.md §14.8).
worker: runs <module> for the servers on the bus that were started with --remote.

Options:
  --host H                 interface to listen on (default ${DEFAULTS.host})
  --port P                 port to listen on, 0 for any (default ${DEFAULTS.port})
  --max-body-size N        largest request body in bytes (default ${DEFAULTS.maxBodySize})
  --max-message-size N     largest WebSocket message in bytes (default ${DEFAULTS.maxMessageSize})
  --shutdown-timeout MS    time in-flight exchanges get on SIGTERM (default ${DEFAULTS.shutdownTimeout})
  --startup-timeout MS     time the module's lifespan startup may take (default ${DEFAULTS.startupTimeout})
  --tls-cert F             PEM certificate (chain) file; serve HTTPS (needs --tls-key)
  --tls-key F              PEM private key file of that certificate (needs --tls-cert)
  --tls-self-signed        serve HTTPS with a throwaway self-signed certificate, for development
                           only (needs the openssl command)
  --workers N              serve from N processes sharing the port (default 1); without --bus,
                           their hubs talk through the primary process
  --bus URL                carry the hub's messages (SPEC.md §14) on a broker: redis://host:port,
                           rediss://host:port or nats://host:port
  --remote                 forward every connection to a worker (\`rxgi worker\`); needs --bus
  -h, --help               show this help

Logs are JSON lines on stderr; RXGI_LOG=debug|info|warn|error sets the level.`;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new Error(`--${name} must be a whole number, got ${value}`);
  return parsed;
}

interface TlsFlags {
  host?: string;
  'tls-cert'?: string;
  'tls-key'?: string;
  'tls-self-signed'?: boolean;
}

/** What is wrong with the TLS flags, if anything. */
function tlsUsageError(flags: TlsFlags): string | null {
  const cert = flags['tls-cert'] !== undefined;
  const key = flags['tls-key'] !== undefined;
  if (flags['tls-self-signed'] && (cert || key))
    return '--tls-self-signed cannot be combined with --tls-cert or --tls-key';
  if (cert && !key) return '--tls-cert needs --tls-key too';
  if (key && !cert) return '--tls-key needs --tls-cert too';
  return null;
}

/** The certificate and key the flags ask for; undefined for plain HTTP. */
async function tlsFiles(flags: TlsFlags): Promise<TlsFiles | undefined> {
  if (flags['tls-cert'] !== undefined && flags['tls-key'] !== undefined)
    return readTlsFiles(flags['tls-cert'], flags['tls-key']);
  if (!flags['tls-self-signed']) return undefined;
  const hosts = ['localhost', '127.0.0.1', '::1'];
  // A specific --host goes in too; a wildcard address names no one.
  const host = flags.host?.replace(/^\[(.*)\]$/, '$1');
  if (host && host !== '0.0.0.0' && host !== '::' && !hosts.includes(host)) hosts.push(host);
  const files = await selfSignedCertificate(hosts);
  logger().warn(
    'using a throwaway self-signed certificate: for development only, clients will not trust it',
    { hosts },
  );
  return files;
}

async function main(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      'max-body-size': { type: 'string' },
      'max-message-size': { type: 'string' },
      'shutdown-timeout': { type: 'string' },
      'startup-timeout': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-self-signed': { type: 'boolean' },
      workers: { type: 'string' },
      bus: { type: 'string' },
      remote: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, file] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  const remote = values.remote === true && command === 'serve';
  const known = command === 'serve' || command === 'worker';
  if (!known || (file === undefined && !remote) || (file !== undefined && remote)) {
    const what = remote ? 'serve --remote takes no module' : 'unknown command';
    process.stderr.write(`rxgi: ${what} ${JSON.stringify(positionals.join(' '))}\n\n${USAGE}\n`);
    return 2;
  }
  const needsBus = (remote || command === 'worker') && values.bus === undefined;
  const usageError =
    (needsBus ? `${remote ? '--remote' : 'worker'} needs --bus URL` : null) ??
    tlsUsageError(values) ??
    workersError(values.workers) ??
    busError(values.bus);
  if (usageError) {
    process.stderr.write(`rxgi: ${usageError}\n\n${USAGE}\n`);
    return 2;
  }
  if (command === 'worker') {
    return worker(
      file as string,
      values.bus as string,
      number('shutdown-timeout', values['shutdown-timeout']),
      number('startup-timeout', values['startup-timeout']),
    );
  }
  const workers = Number(values.workers ?? 1);
  const tls = await tlsFiles(values);
  const options = {
    host: values.host,
    port: number('port', values.port),
    maxBodySize: number('max-body-size', values['max-body-size']),
    maxMessageSize: number('max-message-size', values['max-message-size']),
    shutdownTimeout: number('shutdown-timeout', values['shutdown-timeout']),
    startupTimeout: number('startup-timeout', values['startup-timeout']),
    tls,
  };
  const name = file ?? 'remote workers';
  if (workers > 1) return runCluster({ file: name, workers, bus: values.bus, remote, options });
  // Without --bus the server keeps the process-wide default hub on the embedded bus.
  const bus: Bus | undefined = values.bus === undefined ? undefined : await openBus(values.bus);
  const hub = bus === undefined ? undefined : new Hub({ bus });
  let forward: RemoteApp | undefined;
  let server: Awaited<ReturnType<typeof serve>>;
  if (remote) {
    forward = remoteApp(bus as Bus);
    server = await serve(forward, { ...options, hub });
  } else {
    const { app, lifespan } = await loadApp(name);
    server = await serve(app, { ...options, lifespan, hub });
  }
  logger().info(`rxgi serving ${name} on ${server.url}`, { url: server.url });
  await untilSignal((signal) => {
    logger().info(`${signal}: shutting down`, { connections: server.connections });
    return server.close();
  });
  forward?.close();
  hub?.close();
  await bus?.close();
  return 0;
}

/** `rxgi worker`: run the module's app for `--remote` servers on the bus until a signal. */
async function worker(
  file: string,
  url: string,
  deadline: number = DEFAULTS.shutdownTimeout,
  startupTimeout: number = DEFAULTS.startupTimeout,
): Promise<number> {
  const { app, lifespan } = await loadApp(file);
  const runner = lifespan ? new LifespanRunner(lifespan) : null;
  await runner?.startup(startupTimeout);
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

/** What is wrong with `--workers`, if anything. */
function workersError(value: string | undefined): string | null {
  if (value === undefined) return null;
  const parsed = Number(value);
  return Number.isInteger(parsed) && parsed >= 1 && value.trim() !== ''
    ? null
    : `--workers must be a whole number of at least 1, got ${JSON.stringify(value)}`;
}

/** What is wrong with `--bus`, if anything; whether the broker answers is known later. */
function busError(value: string | undefined): string | null {
  const error = value === undefined ? null : busUrlError(value);
  return error === null ? null : `--bus: ${error}`;
}

// A worker forked by `--workers` gets its settings from the primary, not from its arguments.
(isClusterWorker() ? runClusterWorker() : main(process.argv.slice(2))).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`rxgi: ${error.message}\n`);
    process.exit(1);
  },
);
