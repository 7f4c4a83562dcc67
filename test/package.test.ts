import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { npmInstall } from './install.js';

/**
 * The package as users get it: `npm pack`, installed into a fresh project, used through ESM
 * `import` and CommonJS `require` (require(esm), Node 20.19 and later), with types for both.
 */
const run = promisify(execFile);
const root = new URL('..', import.meta.url).pathname;
let project = '';

const server = (load: string, word: string) => `${load}
(async () => {
  const server = await serve(handle(() => text('hello from ${word}')), { port: 0 });
  console.log(await (await fetch(server.url)).text());
  await server.close();
})();
`;

beforeAll(async () => {
  project = await mkdtemp(join(tmpdir(), 'rxgi-package-'));
  // dist/ is built by `npm test` before the tests run; --ignore-scripts keeps pack from rebuilding.
  const { stdout } = await run(
    'npm',
    ['pack', '--ignore-scripts', '--json', '--pack-destination', project],
    {
      cwd: root,
    },
  );
  const tarball = join(project, JSON.parse(stdout)[0].filename);
  await writeFile(join(project, 'package.json'), '{ "name": "consumer", "private": true }\n');
  const installed = await npmInstall(project, [
    tarball,
    `typescript@${versionOf('typescript')}`,
    '@types/node@20',
  ]);
  // No warning and no install script on the npm of the running node (issue 15 item 5).
  expect(installed).toEqual({ warnings: [], scripts: [], withInstallScript: [] });
  await writeFile(
    join(project, 'hello.mjs'),
    server("import { handle, serve, text } from 'rxgi';", 'import'),
  );
  await writeFile(
    join(project, 'hello.cjs'),
    server("const { handle, serve, text } = require('rxgi');", 'require'),
  );
  const typed =
    "import { type App, handle, text } from 'rxgi';\nexport const app: App = handle(() => text('typed'));\n";
  const subpaths = Object.entries(SAMPLES)
    .map(([subpath, name], i) => `import { ${name} as name${i} } from '${subpath}';\n`)
    .join('');
  const used = `export const used = [${Object.keys(SAMPLES).map((_, i) => `name${i}`)}];\n`;
  await writeFile(join(project, 'check.mts'), typed + subpaths + used);
  await writeFile(join(project, 'check.cts'), typed + subpaths + used);
}, 120_000);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

/** Every entry point of package.json's exports, with one name it must export (value or type). */
const SAMPLES: Record<string, string> = {
  rxgi: 'serve',
  'rxgi/events': 'encodeEvent',
  'rxgi/driver': 'Connection',
  'rxgi/node': 'fromNodeHandler',
  'rxgi/fetch': 'toFetch',
  'rxgi/bus': 'redisBus',
  'rxgi/remote': 'runWorker',
  'rxgi/testing': 'inject',
  'rxgi/conformance': 'runConformance',
};

/** The runtime names `subpath` exports in the installed package, through import or require. */
async function namesOf(subpath: string, how: 'import' | 'require'): Promise<string[]> {
  const script =
    how === 'import'
      ? `import(${JSON.stringify(subpath)}).then((m) => console.log(JSON.stringify(Object.keys(m))))`
      : `console.log(JSON.stringify(Object.keys(require(${JSON.stringify(subpath)}))))`;
  const { stdout } = await run(process.execPath, ['-e', script], { cwd: project });
  return (JSON.parse(stdout) as string[]).filter((name) => name !== 'module.exports').sort();
}

/** The installed version of a devDependency of ours, so the consumer compiles with the same. */
function versionOf(name: string): string {
  const manifest = readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8');
  return (JSON.parse(manifest) as { version: string }).version;
}

describe('the packed package', () => {
  it('works through ESM import', async () => {
    const { stdout } = await run(process.execPath, ['hello.mjs'], { cwd: project });
    expect(stdout.trim()).toBe('hello from import');
  });

  it('works through CommonJS require', async () => {
    const { stdout } = await run(process.execPath, ['hello.cjs'], { cwd: project });
    expect(stdout.trim()).toBe('hello from require');
  });

  it('serves HTTP/1.1 on its own driver: llhttp loads from the installed undici', async () => {
    // Where it could not, serve would fall back to node:http with a warning.
    const { stdout, stderr } = await run(process.execPath, ['hello.mjs'], {
      cwd: project,
      env: { ...process.env, RXGI_LOG: 'warn' },
    });
    expect(stdout.trim()).toBe('hello from import');
    expect(stderr).not.toContain('llhttp');
  });

  it('every entry point of the exports map loads alike through import and require', async () => {
    const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
    const subpaths = Object.keys(manifest.exports)
      .filter((key) => key !== './package.json')
      .map((key) => `rxgi${key.slice(1)}`);
    expect(subpaths.sort()).toEqual(Object.keys(SAMPLES).sort());
    for (const subpath of subpaths) {
      const imported = await namesOf(subpath, 'import');
      expect(imported.length, subpath).toBeGreaterThan(0);
      expect(await namesOf(subpath, 'require'), subpath).toEqual(imported);
    }
  }, 60_000);

  it('has types for both module systems', async () => {
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      // No `--types node`: the declarations reference node's types themselves (index.ts).
      'check.mts',
      'check.cts',
    ];
    const result = await run(process.execPath, [tsc, ...args], { cwd: project }).catch(
      (error) => error,
    );
    expect(result.stdout ?? '').toBe('');
  });
});
