/**
 * The CLI's command line: what each command takes, and one line naming the problem and the fix
 * for anything it does not (exit status 2). Nothing here touches the network or the app.
 */
import { parseArgs } from 'node:util';
import { busUrlError } from '../bus/url.js';
import { ALL_CAPABILITIES, type Capability } from '../conformance/capabilities.js';
import { DEFAULTS } from '../server/serve.js';

/** A command line the CLI cannot run: `message` is one line, and the CLI exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The limits and timeouts both commands share, in `serve` option names. */
export interface Limits {
  maxBodySize?: number;
  maxMessageSize?: number;
  shutdownTimeout?: number;
  startupTimeout?: number;
  /** The time limits of spec/server.md §2 (`rxgi serve` only). */
  headersTimeout?: number;
  bodyTimeout?: number;
  minBodyRate?: number;
  sendTimeout?: number;
}

/** `rxgi serve`: what to serve and how. */
export interface ServeCommand {
  command: 'serve';
  /** The app module; undefined with `--remote`. */
  file?: string;
  remote: boolean;
  host: string;
  port: number;
  workers: number;
  bus?: string;
  watch: boolean;
  accessLog?: boolean;
  logFormat?: 'json' | 'pretty';
  tls: { cert?: string; key?: string; selfSigned: boolean };
  /** Origins whose pages may open WebSockets besides the server's own (SPEC.md §4.2). */
  allowedOrigins?: string[];
  limits: Limits;
}

/** `rxgi worker`: run a module for `--remote` servers on the bus. */
export interface WorkerCommand {
  command: 'worker';
  file: string;
  bus: string;
  limits: Limits;
}

/** `--help`, `rxgi help [command]`, or no arguments at all. */
export interface HelpCommand {
  command: 'help';
  text: string;
  /** 0 when help was asked for, 2 when the command line was empty. */
  status: number;
}

/** `rxgi conformance [URL]`: the conformance suite against a host, or against `serve`. */
export interface ConformanceCommand {
  command: 'conformance';
  /** The host serving the fixture; absent: this process serves it with `serve`. */
  url?: string;
  caps?: Capability[];
  only?: string[];
  /** Without a URL: serve the fixture over TLS (h2 by ALPN) rather than cleartext. */
  tls: boolean;
}

export type Command = ServeCommand | WorkerCommand | ConformanceCommand | HelpCommand;

const COMMANDS = ['serve', 'worker', 'conformance', 'help'] as const;

const OPTIONS = {
  host: { type: 'string' },
  port: { type: 'string' },
  'max-body-size': { type: 'string' },
  'max-message-size': { type: 'string' },
  'shutdown-timeout': { type: 'string' },
  'startup-timeout': { type: 'string' },
  'headers-timeout': { type: 'string' },
  'body-timeout': { type: 'string' },
  'min-body-rate': { type: 'string' },
  'send-timeout': { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'tls-self-signed': { type: 'boolean' },
  workers: { type: 'string' },
  bus: { type: 'string' },
  remote: { type: 'boolean' },
  watch: { type: 'boolean' },
  'access-log': { type: 'boolean' },
  'no-access-log': { type: 'boolean' },
  'log-format': { type: 'string' },
  'allow-origin': { type: 'string', multiple: true },
  caps: { type: 'string' },
  only: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

type Flags = {
  [K in keyof typeof OPTIONS]?: (typeof OPTIONS)[K] extends { multiple: true }
    ? string[]
    : (typeof OPTIONS)[K]['type'] extends 'string'
      ? string
      : boolean;
};

/** The options `rxgi worker` takes; any other is refused there. */
const WORKER_OPTIONS = new Set([
  'bus',
  'max-body-size',
  'max-message-size',
  'shutdown-timeout',
  'startup-timeout',
  'help',
]);

export const USAGE = `Usage: rxgi serve <module> [options]      serve an app (rxgi serve --help)
       rxgi serve --remote --bus URL      forward every connection to workers on a bus
       rxgi worker <module> --bus URL     run an app for --remote servers (rxgi worker --help)
       rxgi conformance [URL]             check a host against SPEC.md (rxgi conformance --help)

Logs go to stderr: readable lines on a terminal, JSON lines otherwise (--log-format);
RXGI_LOG=debug|info|warn|error|silent sets the level.`;

export const SERVE_USAGE = `Usage: rxgi serve <module> [options]
       rxgi serve --remote --bus URL [options]

Serves the default export of <module> (.ts .mts .cts .js .mjs .cjs) over HTTP/1.1, h2c and
WebSocket on one port; with TLS, HTTP/2 and HTTP/1.1 chosen by ALPN. The server runs in a child
process that is started again if it dies. With --remote it serves no module itself: every
connection goes over the bus to a worker process (spec/actors.md §8).

Options:
  --host H                 interface to listen on (default $HOST, else ${DEFAULTS.host})
  --port P                 port to listen on, 0 to 65535, 0 for any (default $PORT, else ${DEFAULTS.port})
  --watch                  restart the server when the module's files change (development)
  --access-log             one log line per request (default: on when stderr is a terminal)
  --no-access-log          no access log
  --log-format F           pretty or json (default: pretty on a terminal, json otherwise)
  --max-body-size N        largest request body in bytes (default ${DEFAULTS.maxBodySize})
  --max-message-size N     largest WebSocket message in bytes (default ${DEFAULTS.maxMessageSize})
  --shutdown-timeout MS    time in-flight exchanges get on SIGTERM (default ${DEFAULTS.shutdownTimeout})
  --startup-timeout MS     time the module's lifespan startup may take (default ${DEFAULTS.startupTimeout})
  --headers-timeout MS     time a client has for a request head, from its first byte (default ${DEFAULTS.headersTimeout})
  --body-timeout MS        time a body or WebSocket message may go without a byte while the app
                           reads it; 0: no body limits (default ${DEFAULTS.bodyTimeout})
  --min-body-rate B        least average bytes/s of a body being read; 0: none (default ${DEFAULTS.minBodyRate})
  --send-timeout MS        time output may wait for a client that reads none of it; 0: none
                           (default ${DEFAULTS.sendTimeout})
  --allow-origin O         let pages of origin O open WebSockets (repeatable): https://app.example,
                           https://*.example.org, null or *; others get 403 (SPEC.md §4.2)
  --tls-cert F             PEM certificate (chain) file; serve HTTPS (needs --tls-key)
  --tls-key F              PEM private key file of that certificate (needs --tls-cert)
  --tls-self-signed        serve HTTPS with a throwaway self-signed certificate, for development
                           only (needs the openssl command)
  --workers N              serve from N processes sharing the port (default 1); without --bus,
                           their hubs talk through the primary process
  --bus URL                carry the hub's messages (spec/actors.md) on a broker: redis://host:port,
                           rediss://host:port or nats://host:port
  --remote                 forward every connection to a worker (\`rxgi worker\`); needs --bus
  -h, --help               show this help

Exit status: 0 after a clean shutdown (SIGTERM, SIGINT), 1 when the server cannot start or
stop cleanly, 2 for a command line it cannot run.`;

export const WORKER_USAGE = `Usage: rxgi worker <module> --bus URL [options]

Runs <module>'s app for the servers on the bus that were started with \`rxgi serve --remote\`.

Options:
  --bus URL                the broker the servers use: redis://, rediss:// or nats://
  --max-body-size N        largest request body in bytes (default ${DEFAULTS.maxBodySize})
  --max-message-size N     largest WebSocket message in bytes (default ${DEFAULTS.maxMessageSize})
  --shutdown-timeout MS    time in-flight exchanges get on SIGTERM (default ${DEFAULTS.shutdownTimeout})
  --startup-timeout MS     time the module's lifespan startup may take (default ${DEFAULTS.startupTimeout})
  -h, --help               show this help`;

export const CONFORMANCE_USAGE = `Usage: rxgi conformance [URL] [options]

Runs the conformance suite of SPEC.md (docs/conformance.md) against the host at URL, which
serves the fixture app of rxgi/conformance (conformanceFixture()). Without a URL it serves the
fixture itself with rxgi's serve on a free port of 127.0.0.1 and checks that. Prints one line
per rule id; exits 1 when a MUST fails.

Options:
  --caps LIST              what the host can do, comma-separated (default: all):
                           ${ALL_CAPABILITIES.join(', ')}
  --only IDS               run only these rule ids, comma-separated
  --tls-self-signed        without a URL: serve the fixture over TLS (HTTP/1.1 and h2 by ALPN)
  -h, --help               show this help`;

/** The options `rxgi conformance` takes; any other is refused there. */
const CONFORMANCE_OPTIONS = new Set(['caps', 'only', 'tls-self-signed', 'help']);

/**
 * Read a command line (`argv` without node and the script) and the environment (`PORT`,
 * `HOST`). Throws a `UsageError` with one line naming the problem and the fix.
 */
export function parseCommand(argv: string[], env: NodeJS.ProcessEnv = {}): Command {
  const { flags, positionals } = parseFlags(argv);
  const [name, ...rest] = positionals;
  if (name === undefined) {
    if (flags.help) return { command: 'help', text: USAGE, status: 0 };
    return { command: 'help', text: USAGE, status: 2 };
  }
  if (!(COMMANDS as readonly string[]).includes(name)) {
    const guess = closest(name, COMMANDS);
    const hint = guess ? `did you mean "${guess}"?` : `the commands are ${COMMANDS.join(', ')}`;
    throw new UsageError(`unknown command "${name}": ${hint} (rxgi --help)`);
  }
  if (name === 'help') return { command: 'help', text: helpOf(rest[0]), status: 0 };
  if (flags.help) return { command: 'help', text: helpOf(name), status: 0 };
  if (name === 'worker') return workerCommand(flags, rest);
  if (name === 'conformance') return conformanceCommand(flags, rest);
  return serveCommand(flags, rest, env);
}

function conformanceCommand(flags: Flags, rest: string[]): ConformanceCommand {
  for (const name of Object.keys(flags)) {
    if (!CONFORMANCE_OPTIONS.has(name))
      throw new UsageError(
        `--${name} is not an option of rxgi conformance (rxgi conformance --help)`,
      );
  }
  const [url, extra] = rest;
  if (extra !== undefined)
    throw new UsageError(
      `unexpected argument "${extra}": rxgi conformance takes one URL (rxgi conformance --help)`,
    );
  if (url !== undefined && !/^https?:\/\/[^/]/.test(url))
    throw new UsageError(
      `"${url}" is not an http:// or https:// URL: rxgi conformance http://127.0.0.1:8000`,
    );
  if (url !== undefined && flags['tls-self-signed'])
    throw new UsageError(
      '--tls-self-signed is for the fixture this command serves: drop it, or the URL',
    );
  const list = (value: string | undefined) =>
    value === undefined
      ? undefined
      : value
          .split(',')
          .map((item) => item.trim())
          .filter(Boolean);
  const caps = list(flags.caps);
  for (const cap of caps ?? []) {
    if (!(ALL_CAPABILITIES as readonly string[]).includes(cap)) {
      const guess = closest(cap, ALL_CAPABILITIES);
      throw new UsageError(
        `unknown capability "${cap}": ${guess ? `did you mean "${guess}"?` : `the capabilities are ${ALL_CAPABILITIES.join(', ')}`}`,
      );
    }
  }
  return {
    command: 'conformance',
    url,
    caps: caps as Capability[] | undefined,
    only: list(flags.only),
    tls: flags['tls-self-signed'] === true,
  };
}

function helpOf(command: string | undefined): string {
  if (command === 'serve') return SERVE_USAGE;
  if (command === 'worker') return WORKER_USAGE;
  if (command === 'conformance') return CONFORMANCE_USAGE;
  return USAGE;
}

/** node's parseArgs, strict, with its errors said as one line each. */
function parseFlags(argv: string[]): { flags: Flags; positionals: string[] } {
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: OPTIONS,
    });
    return { flags: values as Flags, positionals };
  } catch (error) {
    throw new UsageError(flagError(error as Error & { code?: string }));
  }
}

function flagError(error: Error & { code?: string }): string {
  const option = /'(-[^' ]+)/.exec(error.message)?.[1] ?? '';
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const guess = closest(option.replace(/^-+/, ''), Object.keys(OPTIONS));
    const hint = guess ? `did you mean --${guess}?` : 'see rxgi serve --help';
    return `unknown option ${option}: ${hint}`;
  }
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const name = option.replace(/^-+/, '').replace(/=.*$/, '');
    if (OPTIONS[name as keyof typeof OPTIONS]?.type === 'boolean')
      return `--${name} takes no value: write --${name} alone`;
    return `--${name} needs a value: --${name} ${example(name)}`;
  }
  return `${error.message} (rxgi --help)`;
}

function example(name: string): string {
  const examples: Record<string, string> = {
    host: '0.0.0.0',
    port: '8080',
    workers: '4',
    bus: 'redis://127.0.0.1:6379',
    'tls-cert': 'cert.pem',
    'tls-key': 'key.pem',
    'log-format': 'json',
    'allow-origin': 'https://app.example',
  };
  return examples[name] ?? '1000';
}

function workerCommand(flags: Flags, rest: string[]): WorkerCommand {
  for (const name of Object.keys(flags)) {
    if (!WORKER_OPTIONS.has(name))
      throw new UsageError(
        `--${name} is an option of rxgi serve, not of rxgi worker (rxgi worker --help)`,
      );
  }
  const [file, extra] = rest;
  if (file === undefined)
    throw new UsageError('worker needs a module: rxgi worker app.ts --bus URL');
  if (extra !== undefined) throw extraError('worker', extra);
  if (flags.bus === undefined)
    throw new UsageError(
      `worker needs --bus URL: rxgi worker ${file} --bus redis://127.0.0.1:6379`,
    );
  checkBus(flags.bus);
  return { command: 'worker', file, bus: flags.bus, limits: limitsOf(flags) };
}

function serveCommand(flags: Flags, rest: string[], env: NodeJS.ProcessEnv): ServeCommand {
  const remote = flags.remote === true;
  const [file, extra] = rest;
  if (extra !== undefined) throw extraError('serve', extra);
  if (remote && file !== undefined)
    throw new UsageError(
      `serve --remote takes no module (the workers run it): drop "${file}", or drop --remote`,
    );
  if (!remote && file === undefined)
    throw new UsageError(
      'serve needs a module: rxgi serve app.ts (or --remote --bus URL to forward to workers)',
    );
  if (remote && flags.bus === undefined)
    throw new UsageError(
      '--remote needs --bus URL: rxgi serve --remote --bus redis://127.0.0.1:6379',
    );
  if (flags.bus !== undefined) checkBus(flags.bus);
  if (flags['access-log'] && flags['no-access-log'])
    throw new UsageError('--access-log and --no-access-log contradict each other: give one');
  const format = flags['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    throw new UsageError(`--log-format must be pretty or json, got ${JSON.stringify(format)}`);
  return {
    command: 'serve',
    file,
    remote,
    host: flags.host ?? (env.HOST || undefined) ?? DEFAULTS.host,
    port: portOf(flags.port, env.PORT),
    workers: flags.workers === undefined ? 1 : workersOf(flags.workers),
    bus: flags.bus,
    watch: flags.watch === true,
    accessLog: flags['access-log'] ? true : flags['no-access-log'] ? false : undefined,
    logFormat: format as ServeCommand['logFormat'],
    tls: tlsOf(flags),
    allowedOrigins: originsOf(flags['allow-origin']),
    limits: limitsOf(flags),
  };
}

/** The --allow-origin patterns: a serialized origin, a scheme with `*.` and a domain, null or *. */
function originsOf(values: string[] | undefined): string[] | undefined {
  if (values === undefined) return undefined;
  for (const value of values) {
    if (value === '*' || value === 'null') continue;
    if (!/^[a-z][a-z0-9+.-]*:\/\/(\*\.)?[^/*]+$/i.test(value))
      throw new UsageError(
        `--allow-origin takes an origin such as https://app.example or https://*.example.org, got ${JSON.stringify(value)}`,
      );
  }
  return values;
}

function extraError(command: string, extra: string): UsageError {
  return new UsageError(
    `unexpected argument "${extra}": rxgi ${command} takes one module; options start with -- (rxgi ${command} --help)`,
  );
}

/**
 * The port: `--port`, else `PORT`, else the default. Decimal digits only, 0 to 65535: `0x1F90`,
 * `1e3`, `8080.0` and an empty value are refused rather than read as numbers.
 */
function portOf(flag: string | undefined, env: string | undefined): number {
  if (flag !== undefined) return decimal('--port', flag, 65_535, '8080');
  if (env !== undefined && env !== '') return decimal('PORT', env, 65_535, '8080');
  return DEFAULTS.port;
}

function workersOf(value: string): number {
  const workers = decimal('--workers', value, 1024, '4');
  if (workers < 1)
    throw new UsageError(`--workers must be a whole number of at least 1, got "${value}"`);
  return workers;
}

/** A decimal whole number from 0 to `max`, or a UsageError naming `name` and an example. */
function decimal(name: string, value: string, max: number, sample: string): number {
  const parsed = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(parsed <= max)) {
    const what = name === '--workers' ? 'of at least 1' : `from 0 to ${max}`;
    throw new UsageError(
      `${name} must be a whole number ${what}, got ${JSON.stringify(value)} (example: ${name.startsWith('--') ? `${name} ${sample}` : `${name}=${sample}`})`,
    );
  }
  return parsed;
}

function limitsOf(flags: Flags): Limits {
  const max = Number.MAX_SAFE_INTEGER;
  const read = (name: keyof Flags) => {
    const value = flags[name] as string | undefined;
    return value === undefined ? undefined : decimal(`--${name}`, value, max, '1000');
  };
  return {
    maxBodySize: read('max-body-size'),
    maxMessageSize: read('max-message-size'),
    shutdownTimeout: read('shutdown-timeout'),
    startupTimeout: read('startup-timeout'),
    headersTimeout: read('headers-timeout'),
    bodyTimeout: read('body-timeout'),
    minBodyRate: read('min-body-rate'),
    sendTimeout: read('send-timeout'),
  };
}

function tlsOf(flags: Flags): ServeCommand['tls'] {
  const cert = flags['tls-cert'];
  const key = flags['tls-key'];
  const selfSigned = flags['tls-self-signed'] === true;
  if (selfSigned && (cert !== undefined || key !== undefined))
    throw new UsageError(
      '--tls-self-signed cannot be combined with --tls-cert or --tls-key: give one or the other',
    );
  if (cert !== undefined && key === undefined)
    throw new UsageError('--tls-cert needs --tls-key too: --tls-cert cert.pem --tls-key key.pem');
  if (key !== undefined && cert === undefined)
    throw new UsageError('--tls-key needs --tls-cert too: --tls-cert cert.pem --tls-key key.pem');
  return { cert, key, selfSigned };
}

function checkBus(url: string): void {
  const error = busUrlError(url);
  if (error !== null) throw new UsageError(`--bus: ${error}`);
}

/** The candidate within edit distance 2 of `word` (a likely typo), if any. */
function closest(word: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const distance = editDistance(word, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + cost);
    }
    previous = row;
  }
  return previous[b.length];
}
