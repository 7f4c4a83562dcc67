import { execFile, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { npmInstall } from './install.js';

/**
 * The README's first steps in a fresh project, from the packed tarball, for each kind of
 * package (issue 15 item 1): `npm init -y` (which writes `"type": "commonjs"`), then
 * `"type": "module"`, then no `"type"` at all; `npm install rxgi typescript`; the README's
 * hello.ts; `npx rxgi serve hello.ts`. Then every extension node knows, with ESM and CommonJS
 * syntax where TypeScript allows it: each runs, or (where node cannot run it) the CLI says in
 * one line what to change.
 */
const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
const HELLO = readmeHello();
let base = '';
let packed: { filename: string; files: { path: string }[] } = { filename: '', files: [] };
const projects: Record<string, string> = {};
const TYPES = ['commonjs', 'module', 'none'] as const;

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), 'rxgi-types-'));
  // dist/ is built by `npm test` before the tests run; --ignore-scripts keeps pack from rebuilding.
  const { stdout } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', base],
    { cwd: root },
  );
  packed = JSON.parse(stdout)[0];
  const tarball = join(base, packed.filename);
  // Two cores: one install at a time.
  for (const type of TYPES) projects[type] = await project(type, tarball);
}, 240_000);

afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});

/** A fresh project made as the README says, with the package type set to `type`. */
async function project(type: (typeof TYPES)[number], tarball: string): Promise<string> {
  const dir = join(base, type);
  await mkdir(dir);
  await run('npm', ['init', '-y'], { cwd: dir });
  if (type === 'none') await run('npm', ['pkg', 'delete', 'type'], { cwd: dir });
  else await run('npm', ['pkg', 'set', `type=${type}`], { cwd: dir });
  // `npm install typescript` gives TypeScript 7 today, whose `types` default is empty: the
  // package's declarations must bring node's types themselves (test/package.test.ts checks 5.x).
  const installed = await npmInstall(dir, [tarball, 'typescript@7']);
  // Quiet on the npm of the running node (issue 15 item 5): no warning (EBADENGINE, deprecations,
  // npm 11's install-scripts notice), no install script run, rxgi's own or a dependency's.
  expect(installed).toEqual({ warnings: [], scripts: [], withInstallScript: [] });
  await writeFile(join(dir, 'hello.ts'), HELLO);
  return dir;
}

/** The README's hello.ts, taken from the README itself so that the two cannot drift apart. */
function readmeHello(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const block = /```ts\n(\/\/ hello\.ts[^\n]*\n[\s\S]*?)```/.exec(readme);
  if (!block) throw new Error('README.md has no hello.ts block');
  return block[1];
}

interface Served {
  url: string;
  stop(): Promise<number | null>;
}

/**
 * `npx rxgi serve <file> --port 0` in `dir` (or the installed bin itself, which npx runs, when
 * `npx` is false: faster, and its exit status is the CLI's own); resolves with its URL, or rejects
 * with its stderr and exit status.
 */
/** Process groups of the CLIs still running, killed after the file whatever happened. */
const running = new Set<number>();
afterAll(() => {
  for (const pid of running) signalGroup(pid, 'SIGKILL');
});

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // Already gone.
  }
}

function serveIn(dir: string, file: string, npx = false): Promise<Served> {
  const [command, ...prefix] = npx ? ['npx', 'rxgi'] : [join(dir, 'node_modules', '.bin', 'rxgi')];
  const child = spawn(command, [...prefix, 'serve', file, '--port', '0'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, RXGI_LOG: 'info' },
    // Its own process group: npx does not pass SIGTERM on to the CLI it runs, whose server
    // process would outlive the test; the whole group is signalled instead.
    detached: true,
  });
  running.add(child.pid!);
  child.on('exit', () => running.delete(child.pid!));
  let log = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no URL in time:\n${log}`)), 20_000);
    child.stderr.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      const match = /"url":"(http[^"]+)"/.exec(log);
      if (!match) return;
      clearTimeout(timer);
      resolve({
        url: match[1],
        stop: () => {
          signalGroup(child.pid!, 'SIGTERM');
          return exited;
        },
      });
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(log), { code }));
    });
  });
}

describe('the tarball (issue 15 item 5)', () => {
  it('has a LICENSE, no source maps (their sources are not shipped) and no install script', async () => {
    const paths = packed.files.map((file) => file.path);
    expect(paths).toContain('LICENSE');
    expect(paths.filter((path) => path.endsWith('.map'))).toEqual([]);
    const built = paths.filter((path) => path.endsWith('.js'));
    expect(built.length).toBeGreaterThan(10);
    for (const path of built) {
      const source = readFileSync(join(projects.module, 'node_modules', 'rxgi', path), 'utf8');
      expect(source, path).not.toMatch(/sourceMappingURL/);
    }
    const manifest = JSON.parse(
      readFileSync(join(projects.module, 'node_modules', 'rxgi', 'package.json'), 'utf8'),
    );
    const scripts = Object.keys(manifest.scripts ?? {});
    for (const hook of ['preinstall', 'install', 'postinstall', 'prepare']) {
      expect(scripts).not.toContain(hook);
    }
  });
});

describe.each(TYPES)('a fresh project with "type": %s', (type) => {
  it("runs the README's hello.ts with npx rxgi serve: GET, POST and a WebSocket echo", async () => {
    const server = await serveIn(projects[type], 'hello.ts', true);
    try {
      expect(await (await fetch(server.url)).text()).toBe('Hello, world!\n');
      const post = await fetch(server.url, { method: 'POST', body: 'four' });
      expect(await post.text()).toBe('you sent 4 characters');
      const ws = new WebSocket(server.url.replace('http', 'ws'));
      const echoed = new Promise<string>((resolve) => ws.once('message', (d) => resolve(`${d}`)));
      ws.once('open', () => ws.send('ping'));
      expect(await echoed).toBe('ping');
      ws.close();
    } finally {
      await server.stop();
    }
  });

  it('type-checks hello.ts as the README says, with TypeScript 7', async () => {
    const tsc = join(projects[type], 'node_modules', 'typescript', 'bin', 'tsc');
    const command = /`npx (tsc [^`]*hello\.ts)`/.exec(
      readFileSync(join(root, 'README.md'), 'utf8'),
    );
    if (command === null) throw new Error('README.md names no tsc command for hello.ts');
    const args = command[1].split(/\s+/).slice(1);
    const result = await run(process.execPath, [tsc, ...args], { cwd: projects[type] }).catch(
      (error) => error,
    );
    expect(result.stdout ?? '').toBe('');
  });
});

const ESM = (word: string) =>
  `import { handle, text } from 'rxgi';\nexport default handle(() => text('${word}'));\n`;
const CJS = (word: string) =>
  `const { handle, text } = require('rxgi');\nmodule.exports = handle(() => text('${word}'));\n`;
const TS_CJS = (word: string) =>
  `import rxgi = require('rxgi');\nexport = rxgi.handle(() => rxgi.text('${word}'));\n`;

/** [extension, syntax, source]: every form TypeScript or node allows in some package. */
const FORMS: [string, string, (word: string) => string][] = [
  ['ts', 'esm', ESM],
  ['ts', 'cjs', TS_CJS],
  ['mts', 'esm', ESM],
  ['cts', 'esm', ESM],
  ['cts', 'cjs', TS_CJS],
  ['js', 'esm', ESM],
  ['js', 'cjs', CJS],
  ['mjs', 'esm', ESM],
  ['cjs', 'cjs', CJS],
];

/** What cannot work, and the one line the CLI must say instead. */
const REFUSED: Record<string, RegExp> = {
  'commonjs js esm':
    /^rxgi: app-esm\.js uses import\/export but runs as CommonJS here: rename it to \.mjs, or set "type": "module" in its package\.json$/m,
  'module ts cjs':
    /^rxgi: app-cjs\.ts uses CommonJS .* but runs as an ES module here: use import\/export, or rename it to \.cts$/m,
  'module js cjs':
    /^rxgi: app-cjs\.js uses CommonJS .* but runs as an ES module here: use import\/export, or rename it to \.cjs$/m,
};

describe.each(TYPES)('every kind of module in a "type": %s project', (type) => {
  it.concurrent.each(FORMS)('.%s with %s syntax', async (ext, syntax, source) => {
    const word = `${type} ${ext} ${syntax}`;
    const file = `app-${syntax}.${ext}`;
    await writeFile(join(projects[type], file), source(word));
    const refused = REFUSED[`${type} ${ext} ${syntax}`];
    const result = await serveIn(projects[type], file).catch(
      (error: Error & { code: number }) => error,
    );
    if (refused) {
      expect(result).toBeInstanceOf(Error);
      expect((result as Error & { code: number }).code).toBe(1);
      expect((result as Error).message).toMatch(refused);
      return;
    }
    if (result instanceof Error) throw result;
    try {
      expect(await (await fetch(result.url)).text()).toBe(word);
    } finally {
      await result.stop();
    }
  });
});

describe('an app in a CommonJS project', () => {
  it("runs on the server's own rxgi: require('rxgi') reaches the server's defaultHub()", async () => {
    const dir = projects.commonjs;
    // As test/fixtures/hub-members.ts: a WebSocket joins `room` through the server's hub; the
    // app counts members through its own `defaultHub()`. A second copy of rxgi (tsx compiling
    // rxgi's ES modules to CommonJS once more) would have a hub of its own and count 0.
    await writeFile(
      join(dir, 'members.ts'),
      `import { defaultHub, handle, text, upgrade } from 'rxgi';
import { NEVER } from 'rxjs';
export default handle((req) => {
  if (req.path === '/members') return text(String(defaultHub().members('room')));
  return upgrade(() => {
    req.join('room');
    return NEVER;
  });
});
`,
    );
    const server = await serveIn(dir, 'members.ts');
    const ws = new WebSocket(server.url.replace('http', 'ws'));
    try {
      await new Promise((resolve) => ws.once('open', resolve));
      let count = '';
      for (const end = Date.now() + 5_000; count !== '1' && Date.now() < end; ) {
        count = await (await fetch(`${server.url}/members`)).text();
      }
      expect(count).toBe('1');
    } finally {
      ws.terminate();
      await server.stop();
    }
  });
});
