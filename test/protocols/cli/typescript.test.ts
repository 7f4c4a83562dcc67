/**
 * TypeScript apps under `rxgi serve`, compiled by swc (protocols/cli/typescript.ts), over the real
 * built binary: what tsx used to give and Node's own type stripping does not (it refuses enums,
 * namespaces, parameter properties, `./util.js` for `util.ts`, and `import` in a `"type":
 * "commonjs"` package), on every supported Node, and stack traces that point into the .ts file.
 */
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Child, cli } from '../../helpers.js';

const execute = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;
let base = '';
let child: Child | null = null;

// Under .scratch/ (ignored by git, biome and tsc) so that `rxjs` resolves from the repository.
beforeAll(async () => {
  await mkdir(join(root, '.scratch'), { recursive: true });
  base = await mkdtemp(join(root, '.scratch', 'typescript-'));
});
afterAll(async () => {
  if (base) await rm(base, { recursive: true, force: true });
});
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

/** A module that only TypeScript's own compiler (or swc, or esbuild) runs: no strip-only syntax. */
const SHAPES = `export enum Shape { Circle = 'circle', Square = 'square' }
export namespace Sizes { export const small = 2; }
export class Box { constructor(public readonly shape: Shape, private size = Sizes.small) {}
  describe(): string { return \`\${this.shape} of \${this.size}\`; } }
`;
const GREETING = `export const greeting: string = 'hello';\n`;
/** The app: imports named as tsc wants them (`./shapes.js`) and with no extension at all. */
const APP = `import { filter, map } from 'rxjs';
import { Box, Shape } from './shapes.js';
import { greeting } from './greeting';
const body: string = \`\${greeting}: \${new Box(Shape.Square).describe()}\`;
export default (events: any) => events.pipe(
  filter((event: { type: string }) => event.type === 'request'),
  map((request: { stream: number }) => ({ type: 'response', stream: request.stream, status: 200,
    headers: ['content-type', 'text/plain'], body, end: true })),
);
`;
/** Throws on line 4, after type-only syntax that the compiled JavaScript does not have. */
const THROWS = `interface Settings {
  port: number;
}
const settings: Settings | null = JSON.parse('null') as Settings | null; if (!settings) throw new Error('no settings');
export default () => settings;
`;

/** A folder `name` under `base` with a package.json of the given type and the files given. */
async function project(name: string, type: string, files: Record<string, string>) {
  const dir = join(base, name);
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ type }));
  for (const [name, source] of Object.entries(files)) await writeFile(join(dir, name), source);
  return relative(root, dir);
}

describe.each(['module', 'commonjs'])('a TypeScript app in a "type": %s package', (type) => {
  it('runs enums, namespaces, parameter properties, ./shapes.js for shapes.ts and ./greeting', async () => {
    const dir = await project(type, type, {
      'app.ts': APP,
      'shapes.ts': SHAPES,
      'greeting.ts': GREETING,
    });
    child = await cli(join(dir, 'app.ts'));
    expect(await (await fetch(child.url)).text()).toBe('hello: square of 2');
  });
});

it('points the stack of an error thrown while a .ts module loads at its line in the .ts file', async () => {
  const dir = await project('throws', 'commonjs', { 'throws.ts': THROWS });
  const file = join(dir, 'throws.ts');
  const outcome = await execute(
    process.execPath,
    ['dist/protocols/cli/main.js', 'serve', file, '--port', '0'],
    { cwd: root, env: { ...process.env, RXGI_LOG: 'info' }, timeout: 20_000 },
  ).then(
    () => ({ code: 0, stderr: '' }),
    (error: { code: number; stderr: string }) => error,
  );
  expect(outcome.code).toBe(1);
  expect(outcome.stderr).toMatch(/Error: no settings/);
  expect(outcome.stderr).toContain(`${file}:4:`);
});
