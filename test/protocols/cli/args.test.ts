/**
 * A CLI that guides (issue 15 item 4), over the real built binary: every usage error is one line
 * naming the problem and the fix with exit status 2; run-time failures exit 1 and say what to do.
 */
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { parseCommand } from '../../../protocols/cli/args.js';
import { type Child, runCli } from '../../helpers.js';

const execute = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

/** Run the CLI to its end with `argv` and extra environment. */
function rxgi(argv: string[], env: Record<string, string> = {}): Promise<Outcome> {
  return execute(process.execPath, ['dist/protocols/cli/main.js', ...argv], {
    cwd: root,
    env: { ...process.env, RXGI_LOG: 'info', ...env },
    timeout: 20_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: Outcome) => error,
  );
}

let child: Child | null = null;
let blocker: Server | null = null;
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
  blocker?.close();
  blocker = null;
});

/** [argv, environment, the one line the CLI must print] for each usage error. */
const USAGE_ERRORS: [string[], Record<string, string>, RegExp][] = [
  [
    ['serve', 'a.ts', '--allow-origin', 'evil.example'],
    {},
    /^rxgi: --allow-origin takes an origin such as https:\/\/app\.example/,
  ],
  [['serve'], {}, /^rxgi: serve needs a module: rxgi serve app\.ts/],
  [['serv', 'hello.ts'], {}, /^rxgi: unknown command "serv": did you mean "serve"\?/],
  [
    ['launch'],
    {},
    /^rxgi: unknown command "launch": the commands are serve, worker, conformance, help/,
  ],
  [
    ['serve', 'a.ts', 'b.ts'],
    {},
    /^rxgi: unexpected argument "b\.ts": rxgi serve takes one module/,
  ],
  [['serve', 'a.ts', '--prot', '80'], {}, /^rxgi: unknown option --prot: did you mean --port\?/],
  [['serve', 'a.ts', '--port'], {}, /^rxgi: --port needs a value: --port 8080/],
  [
    ['serve', 'a.ts', '--port', '70000'],
    {},
    /^rxgi: --port must be a whole number from 0 to 65535, got "70000"/,
  ],
  [
    ['serve', 'a.ts', '--port='],
    {},
    /^rxgi: --port must be a whole number from 0 to 65535, got ""/,
  ],
  [['serve', 'a.ts', '--port', '0x1F90'], {}, /^rxgi: --port must be .* got "0x1F90"/],
  [['serve', 'a.ts', '--port', '1e3'], {}, /^rxgi: --port must be .* got "1e3"/],
  [['serve', 'a.ts', '--port', '-1'], {}, /^rxgi: --port needs a value|^rxgi: --port must be/],
  [
    ['serve', 'a.ts'],
    { PORT: 'eighty' },
    /^rxgi: PORT must be a whole number from 0 to 65535, got "eighty" \(example: PORT=8080\)/,
  ],
  [
    ['serve', 'a.ts', '--workers', '0'],
    {},
    /^rxgi: --workers must be a whole number of at least 1/,
  ],
  [
    ['serve', 'a.ts', '--max-body-size', '1.5'],
    {},
    /^rxgi: --max-body-size must be a whole number/,
  ],
  [['serve', 'a.ts', '--body-timeout', '1s'], {}, /^rxgi: --body-timeout must be a whole number/],
  [
    ['worker', 'a.ts', '--bus', 'nats://x:4222', '--send-timeout', '5'],
    {},
    /^rxgi: --send-timeout is an option of rxgi serve, not of rxgi worker/,
  ],
  [['serve', 'a.ts', '--watch=yes'], {}, /^rxgi: --watch takes no value: write --watch alone/],
  [['serve', 'a.ts', '--tls-cert', 'c.pem'], {}, /^rxgi: --tls-cert needs --tls-key too/],
  [['serve', 'a.ts', '--log-format', 'xml'], {}, /^rxgi: --log-format must be pretty or json/],
  [['serve', '--remote'], {}, /^rxgi: --remote needs --bus URL/],
  [['serve', 'a.ts', '--bus', 'amqp://x'], {}, /^rxgi: --bus: unsupported bus URL scheme amqp:/],
  [['worker', 'a.ts'], {}, /^rxgi: worker needs --bus URL/],
  [
    ['worker', 'a.ts', '--bus', 'nats://x:4222', '--workers', '2'],
    {},
    /^rxgi: --workers is an option of rxgi serve, not of rxgi worker/,
  ],
];

describe('rxgi usage errors', () => {
  it.concurrent.each(USAGE_ERRORS)('%j %j: one line, status 2', async (argv, env, line) => {
    const { code, stdout, stderr } = await rxgi(argv, env);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr).toMatch(line);
    expect(stderr.trimEnd().split('\n')).toHaveLength(1);
  });

  it('prints the usage on stderr with status 2 when given nothing, on stdout with 0 for --help', async () => {
    const [none, help, serveHelp, workerHelp, helpServe] = await Promise.all([
      rxgi([]),
      rxgi(['--help']),
      rxgi(['serve', '--help']),
      rxgi(['worker', '-h']),
      rxgi(['help', 'serve']),
    ]);
    expect(none).toMatchObject({ code: 2, stdout: '' });
    expect(none.stderr).toMatch(/^Usage: rxgi serve <module>/);
    expect(help).toMatchObject({ code: 0, stderr: '' });
    expect(help.stdout).toMatch(/^Usage: rxgi serve <module>/);
    expect(serveHelp.code).toBe(0);
    expect(serveHelp.stdout).toMatch(/--port P .*\$PORT/);
    expect(serveHelp.stdout).toMatch(/--watch/);
    expect(workerHelp.code).toBe(0);
    expect(workerHelp.stdout).toMatch(/^Usage: rxgi worker <module> --bus URL/);
    expect(helpServe.stdout).toBe(serveHelp.stdout);
  });
});

describe('rxgi serve at run time', () => {
  it('takes PORT and HOST from the environment when the flags are absent; flags win', async () => {
    const port = await freePort();
    const fromEnv = await runCliEnv(['serve', 'apps/echo.ts'], {
      PORT: String(port),
      HOST: '127.0.0.2',
    });
    child = fromEnv;
    expect(fromEnv.url).toBe(`http://127.0.0.2:${port}`);
    expect(await (await fetch(fromEnv.url, { method: 'POST', body: 'env' })).text()).toBe('env');
    fromEnv.kill('SIGTERM');
    expect(await fromEnv.exited).toBe(0);
    child = await runCliEnv(['serve', 'apps/echo.ts', '--port', '0'], { PORT: String(port) });
    expect(child.port).not.toBe(port);
  });

  it('says the port is in use and how to choose another, with status 1 (also with --workers)', async () => {
    blocker = createServer();
    const port = await new Promise<number>((resolve) =>
      blocker!.listen(0, '127.0.0.1', () => resolve((blocker!.address() as { port: number }).port)),
    );
    const expected = `rxgi: port ${port} on 127.0.0.1 is in use by another process: stop it, or choose another port with --port (or PORT)`;
    const [one, two] = await Promise.all([
      rxgi(['serve', 'apps/echo.ts', '--port', String(port)]),
      rxgi(['serve', 'apps/echo.ts', '--port', String(port), '--workers', '2']),
    ]);
    expect(one.code).toBe(1);
    expect(one.stderr.trimEnd()).toBe(expected);
    expect(two.code).toBe(1);
    expect(two.stderr.trimEnd()).toBe(expected);
  });

  it('shows the file, line and stack of an error thrown while the module loads, status 1', async () => {
    const { code, stderr } = await rxgi([
      'serve',
      'test/fixtures/throws-on-load.mjs',
      '--port',
      '0',
    ]);
    expect(code).toBe(1);
    expect(stderr).toMatch(/^rxgi: error while loading test\/fixtures\/throws-on-load\.mjs:\n/);
    expect(stderr).toMatch(/Error: RXGI_TEST_SETTINGS is not set/);
    expect(stderr).toMatch(/at .*test\/fixtures\/throws-on-load\.mjs:3:\d+/);
  });

  it('lists every way in on start: URL, protocols, WebSocket URL, processes and hub', async () => {
    child = await runCliEnv(['serve', 'apps/echo.ts', '--port', '0'], {});
    const ws = child.url.replace('http', 'ws');
    expect(child.stderr()).toContain(
      `on ${child.url} (HTTP/1.1 and h2c; WebSocket ${ws}, also over HTTP/2) with 1 process, hub in-process`,
    );
  });
});

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** `runCli` with extra environment variables for the child. */
async function runCliEnv(argv: string[], env: Record<string, string>): Promise<Child> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    return await runCli(argv);
  } finally {
    for (const key of Object.keys(env)) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  }
}

describe('--allow-origin', () => {
  it('lets the named origins open WebSockets and refuses others with 403', async () => {
    child = await runCli([
      'serve',
      'apps/echo.ts',
      '--port',
      '0',
      '--allow-origin',
      'https://app.example',
      '--allow-origin',
      'https://*.good.example',
    ]);
    const status = (origin: string) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(child!.url.replace('http', 'ws'), { origin });
        ws.once('open', () => {
          ws.close();
          resolve(101);
        });
        ws.once('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.once('error', reject);
      });
    expect(await status('https://app.example')).toBe(101);
    expect(await status('https://a.good.example')).toBe(101);
    expect(await status('https://evil.example')).toBe(403);
  });
});

describe('time limit flags', () => {
  it('pass the time limits of spec/server.md §2 to serve', () => {
    const argv = ['serve', 'a.ts', '--headers-timeout', '5000', '--body-timeout', '0'];
    argv.push('--min-body-rate', '1024', '--send-timeout', '30000');
    expect(parseCommand(argv)).toMatchObject({
      limits: { headersTimeout: 5000, bodyTimeout: 0, minBodyRate: 1024, sendTimeout: 30000 },
    });
  });
});
