import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

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
  await run(
    'npm',
    [
      'install',
      tarball,
      `typescript@${versionOf('typescript')}`,
      '@types/node@20',
      '--no-audit',
      '--no-fund',
      '--prefer-offline',
    ],
    { cwd: project },
  );
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
  await writeFile(join(project, 'check.mts'), typed);
  await writeFile(join(project, 'check.cts'), typed);
}, 120_000);

afterAll(async () => {
  if (project) await rm(project, { recursive: true, force: true });
});

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

  it('has types for both module systems', async () => {
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    const args = [
      '--noEmit',
      '--strict',
      '--module',
      'nodenext',
      '--types',
      'node',
      'check.mts',
      'check.cts',
    ];
    const result = await run(process.execPath, [tsc, ...args], { cwd: project }).catch(
      (error) => error,
    );
    expect(result.stdout ?? '').toBe('');
  });
});
