import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The direction of imports between the folders (README.md, "Layout"). Each folder may import
 * itself and the folders listed for it; `apps/` only the public package (`rxgi`, `rxgi/...`).
 * Nothing imports the CLI, and no file reaches itself through its imports.
 */
const ALLOWED: Record<string, string[]> = {
  core: [],
  'protocols/drivers': ['core'],
  'protocols/server': ['core', 'protocols/drivers'],
  'protocols/adapters/node': ['core', 'protocols/drivers', 'protocols/server'],
  'protocols/adapters/fetch': ['core'],
  'protocols/bus': ['core'],
  'protocols/remote': ['core'],
  'protocols/testing': ['core'],
  'protocols/cli': ['core', 'protocols'],
  '.': ['core', 'protocols'],
  apps: [],
};
/** Folders nothing else may import. */
const LEAVES = ['protocols/cli'];

const root = new URL('..', import.meta.url).pathname;

/** The folder rule that governs `file`: the longest folder in ALLOWED that holds it. */
function ruleOf(file: string): string | undefined {
  const folders = Object.keys(ALLOWED).filter(
    (folder) => folder === '.' || file.startsWith(`${folder}/`),
  );
  return folders.sort((a, b) => b.length - a.length)[0];
}

function inside(file: string, folder: string): boolean {
  return folder === '.' ? !file.includes('/') : file.startsWith(`${folder}/`);
}

/** What is wrong with an import graph (file → files it imports, relative to the root). */
function violations(graph: Record<string, string[]>): string[] {
  const found: string[] = [];
  for (const [file, imports] of Object.entries(graph)) {
    const rule = ruleOf(file);
    if (rule === undefined) continue;
    for (const target of imports) {
      if (file.startsWith('apps/')) {
        found.push(`${file} imports ${target}: apps use only the package (rxgi, rxgi/...)`);
        continue;
      }
      const leaf = LEAVES.find((folder) => inside(target, folder));
      if (leaf !== undefined && !inside(file, leaf)) {
        found.push(`${file} imports ${target}: nothing imports ${leaf}/`);
        continue;
      }
      const ok =
        inside(target, rule) ||
        ALLOWED[rule].some((folder) => inside(target, folder) || target.startsWith(`${folder}/`));
      if (!ok) found.push(`${file} imports ${target}: ${rule}/ may import ${allowedText(rule)}`);
    }
  }
  return found.concat(cycles(graph));
}

function allowedText(rule: string): string {
  const list = ALLOWED[rule];
  return list.length === 0 ? 'only itself' : `itself and ${list.join(', ')}`;
}

/** Import cycles, each named by its files in order. */
function cycles(graph: Record<string, string[]>): string[] {
  const found: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const path: string[] = [];
  const visit = (file: string): void => {
    if (state.get(file) === 'done') return;
    if (state.get(file) === 'open') {
      found.push(`import cycle: ${[...path.slice(path.indexOf(file)), file].join(' -> ')}`);
      return;
    }
    state.set(file, 'open');
    path.push(file);
    for (const target of graph[file] ?? []) visit(target);
    path.pop();
    state.set(file, 'done');
  };
  for (const file of Object.keys(graph)) visit(file);
  return found;
}

const SOURCE = /\.(ts|mts)$/;
const IMPORT =
  /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function sources(folder: string): string[] {
  return readdirSync(join(root, folder), { withFileTypes: true }).flatMap((entry) => {
    const path = folder === '.' ? entry.name : `${folder}/${entry.name}`;
    if (entry.isDirectory()) return sources(path);
    return SOURCE.test(entry.name) && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** The import graph of the shipped sources, relative imports resolved to files. */
function graph(): Record<string, string[]> {
  const files = ['index.ts', ...sources('core'), ...sources('protocols'), ...sources('apps')];
  const result: Record<string, string[]> = {};
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const targets: string[] = [];
    for (const match of text.matchAll(IMPORT)) {
      const spec = match[1] ?? match[2];
      if (file.startsWith('apps/')) {
        if (spec.startsWith('.')) targets.push(normalize(join(dirname(file), spec)));
        continue;
      }
      if (!spec.startsWith('.')) continue;
      targets.push(relative('.', normalize(join(dirname(file), spec))).replace(/\.js$/, '.ts'));
    }
    result[file] = targets;
  }
  return result;
}

describe('layout', () => {
  it('imports follow the folder rules, and none loops', () => {
    expect(violations(graph())).toEqual([]);
  });

  it('the rules catch a wrong import, an import of the CLI, an app reaching inside, and a loop', () => {
    expect(violations({ 'core/app.ts': ['protocols/drivers/http1.ts'] })).toEqual([
      'core/app.ts imports protocols/drivers/http1.ts: core/ may import only itself',
    ]);
    expect(
      violations({ 'protocols/drivers/http1.ts': ['protocols/server/serve.ts'] }),
    ).toHaveLength(1);
    expect(violations({ 'protocols/bus/redis.ts': ['protocols/remote/frame.ts'] })).toHaveLength(1);
    expect(violations({ 'index.ts': ['protocols/cli/main.ts'] })).toEqual([
      'index.ts imports protocols/cli/main.ts: nothing imports protocols/cli/',
    ]);
    expect(violations({ 'apps/demo.ts': ['core/app.ts'] })).toHaveLength(1);
    expect(violations({ 'core/a.ts': ['core/b.ts'], 'core/b.ts': ['core/a.ts'] })).toEqual([
      'import cycle: core/a.ts -> core/b.ts -> core/a.ts',
    ]);
  });

  it('every source file lives in a folder with a rule', () => {
    const homeless = Object.keys(graph()).filter((file) => ruleOf(file) === undefined);
    expect(homeless).toEqual([]);
  });
});

describe('the root export', () => {
  it("is the app author's API: at most 60 names, values and types", () => {
    const face = readFileSync(join(root, 'index.ts'), 'utf8');
    const names = [...face.matchAll(/export\s*\{([^}]*)\}/g)].flatMap((match) =>
      match[1]
        .split(',')
        .map((part) => part.trim())
        .filter((part) => part !== ''),
    );
    expect(names.length).toBeLessThanOrEqual(60);
    expect(face).not.toMatch(/export \*/);
  });
});
