#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { logger } from '../core/log.js';
import { loadApp } from './load.js';
import { DEFAULTS, serve } from './serve.js';

const USAGE = `Usage: rxgi serve <module> [options]

Serves the default export of <module> (TypeScript or JavaScript) over HTTP/1.1 and WebSocket.

Options:
  --host H                 interface to listen on (default ${DEFAULTS.host})
  --port P                 port to listen on, 0 for any (default ${DEFAULTS.port})
  --max-body-size N        largest request body in bytes (default ${DEFAULTS.maxBodySize})
  --max-message-size N     largest WebSocket message in bytes (default ${DEFAULTS.maxMessageSize})
  --shutdown-timeout MS    time in-flight exchanges get on SIGTERM (default ${DEFAULTS.shutdownTimeout})
  -h, --help               show this help

Logs are JSON lines on stderr; RXGI_LOG=debug|info|warn|error sets the level.`;

function number(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isInteger(parsed) || parsed < 0)
    throw new Error(`--${name} must be a whole number, got ${value}`);
  return parsed;
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
  const { app, lifespan } = await loadApp(file);
  const server = await serve(app, {
    host: values.host,
    port: number('port', values.port),
    maxBodySize: number('max-body-size', values['max-body-size']),
    maxMessageSize: number('max-message-size', values['max-message-size']),
    shutdownTimeout: number('shutdown-timeout', values['shutdown-timeout']),
    lifespan,
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
