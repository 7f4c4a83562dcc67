#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { logger } from '../core/log.js';
import { loadApp } from './load.js';
import { DEFAULTS, serve } from './serve.js';
import { readTlsFiles, selfSignedCertificate, type TlsFiles } from './tls.js';

const USAGE = `Usage: rxgi serve <module> [options]

Serves the default export of <module> (TypeScript or JavaScript) over HTTP/1.1 and WebSocket;
with TLS, over HTTPS: HTTP/2 and HTTP/1.1 on one port, chosen by ALPN.

Options:
  --host H                 interface to listen on (default ${DEFAULTS.host})
  --port P                 port to listen on, 0 for any (default ${DEFAULTS.port})
  --max-body-size N        largest request body in bytes (default ${DEFAULTS.maxBodySize})
  --max-message-size N     largest WebSocket message in bytes (default ${DEFAULTS.maxMessageSize})
  --shutdown-timeout MS    time in-flight exchanges get on SIGTERM (default ${DEFAULTS.shutdownTimeout})
  --tls-cert F             PEM certificate (chain) file; serve HTTPS (needs --tls-key)
  --tls-key F              PEM private key file of that certificate (needs --tls-cert)
  --tls-self-signed        serve HTTPS with a throwaway self-signed certificate, for development
                           only (needs the openssl command)
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
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-self-signed': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  const [command, file] = positionals;
  if (values.help || command === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  if (command !== 'serve' || file === undefined) {
    process.stderr.write(
      `rxgi: unknown command ${JSON.stringify(positionals.join(' '))}\n\n${USAGE}\n`,
    );
    return 2;
  }
  const usageError = tlsUsageError(values);
  if (usageError) {
    process.stderr.write(`rxgi: ${usageError}\n\n${USAGE}\n`);
    return 2;
  }
  const tls = await tlsFiles(values);
  const { app, lifespan } = await loadApp(file);
  const server = await serve(app, {
    host: values.host,
    port: number('port', values.port),
    maxBodySize: number('max-body-size', values['max-body-size']),
    maxMessageSize: number('max-message-size', values['max-message-size']),
    shutdownTimeout: number('shutdown-timeout', values['shutdown-timeout']),
    lifespan,
    tls,
  });
  logger().info(`rxgi serving ${file} on ${server.url}`, { url: server.url });
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger().info(`${signal}: shutting down`, { connections: server.connections });
      process.once(signal, () => process.exit(1));
      server.close().then(resolve);
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`rxgi: ${error.message}\n`);
    process.exit(1);
  },
);
