import { readFileSync } from 'node:fs';
import { createRequire, register } from 'node:module';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { App } from '../../core/app.js';
import type { Lifespan } from '../../core/lifespan.js';
import { isAppTypeScript, readSource, transpile, typeScriptCandidate } from './typescript.js';

/** What `rxgi serve` takes from a module: its default export, and an optional `lifespan`. */
export interface AppModule {
  app: App;
  lifespan?: Lifespan;
}

/** The module system a file runs in, the way node decides it (its extension, then "type"). */
export type ModuleFormat = 'module' | 'commonjs';

/** The TypeScript hooks, registered once per process (a standby and a load may race). */
let hooks: Promise<void> | null = null;

/**
 * Load an app module: `.ts`, `.mts`, `.cts`, `.js`, `.mjs` or `.cjs`, in a package of any
 * `"type"`, with ESM or CommonJS syntax where node (and TypeScript) allow it. TypeScript is
 * compiled file by file by swc (./typescript.ts), on every supported Node; the default export (or
 * `module.exports`) must be an rxgi app, and a `lifespan` export is optional.
 *
 * A file that node runs as CommonJS (`.cts`, `.cjs`, or `.ts`/`.js` in a package without
 * `"type": "module"`) is loaded with `require` (for TypeScript, compiled to CommonJS, so that
 * `import`/`export` become `require`/`exports` as tsc would emit them). Loading it through
 * `import()` instead sends it through node's ESM-to-CommonJS bridge, which under loader hooks
 * fails with "Cannot require() ES Module ... in a cycle" or "request for ... is not in cache".
 *
 * Only the app's own TypeScript files are compiled: rxgi's ES modules load as they are, so the
 * app's `import 'rxgi'` and `require('rxgi')` (require(esm), Node 20.19 and later) reach the very
 * instance the server runs on, with its `defaultHub()`, its logger and its classes.
 */
export async function loadApp(file: string): Promise<AppModule> {
  const path = resolve(file);
  const format = moduleFormat(path);
  let module: { default?: unknown; lifespan?: unknown };
  try {
    module = format === 'commonjs' ? await requireModule(path) : await importModule(path);
  } catch (error) {
    throw explainLoadError(file, format, error);
  }
  return appOf(file, module);
}

/** The app and lifespan of a loaded module, or an error naming what it exports instead. */
function appOf(file: string, module: { default?: unknown; lifespan?: unknown }): AppModule {
  let app: unknown = module.default ?? module;
  // CommonJS compiled from `export default` nests it one level.
  if (typeof app === 'object' && app !== null && 'default' in app) app = app.default;
  if (typeof app !== 'function') {
    throw new Error(
      `${file} must export an rxgi app as its default export (got ${typeof app}): add \`export default handle(...)\` or \`module.exports = app\``,
    );
  }
  const lifespan = module.lifespan ?? (app as { lifespan?: unknown }).lifespan;
  return {
    app: app as App,
    lifespan: typeof lifespan === 'function' ? (lifespan as Lifespan) : undefined,
  };
}

/**
 * Do now what loading `file` would do first, without running it: register its TypeScript hooks
 * and load rxgi's entry point, which the app imports. A `--watch` standby worker calls it
 * while it waits, so that a reload loads the changed module alone (docs/server.md).
 */
export async function prepareLoad(file: string): Promise<void> {
  const path = resolve(file);
  await typeScriptHooksFor(path);
  // Load swc now too (a fifth of a second) for a file that `require` compiles on this thread.
  if (isAppTypeScript(path) && moduleFormat(path) === 'commonjs') transpile('', path, 'commonjs');
  // The same module instance an app's `import 'rxgi'` or `require('rxgi')` gets.
  const main = entryFile(ownExports()['.']);
  if (main !== undefined) await import(new URL(main, OWN_ROOT).href).catch(() => {});
}

/** Register the TypeScript hooks for `import` and `require` when `path` is TypeScript. */
function typeScriptHooksFor(path: string): Promise<void> | undefined {
  if (!isAppTypeScript(path)) return;
  hooks ??= (async () => {
    // Stack traces of compiled files point into their TypeScript sources.
    process.setSourceMapsEnabled(true);
    registerRequireHook();
    register('./typescript-hooks.js', import.meta.url, {
      data: { warm: moduleFormat(path) === 'module' },
    });
  })();
  return hooks;
}

/**
 * `require` of an app's `.ts`, `.cts` or `.tsx` file compiles it to CommonJS, and a relative
 * `require('./util.js')` finds `./util.ts` (see `typeScriptCandidate`). An extensionless
 * `require('./util')` finds `./util.ts` through the extensions registered here.
 */
function registerRequireHook(): void {
  const Module = createRequire(import.meta.url)('node:module') as {
    _extensions: Record<string, (module: CompiledModule, filename: string) => void>;
    _resolveFilename: (
      request: string,
      parent: { filename?: string } | null,
      ...rest: unknown[]
    ) => string;
  };
  for (const ext of ['.ts', '.cts', '.tsx']) {
    const previous = Module._extensions[ext] ?? Module._extensions['.js'];
    Module._extensions[ext] = (module, filename) => {
      if (!isAppTypeScript(filename)) return previous(module, filename);
      module._compile(transpile(readSource(filename), filename, 'commonjs'), filename);
    };
  }
  const resolveFilename = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    try {
      return resolveFilename.call(this, request, parent, ...rest);
    } catch (error) {
      if ((error as { code?: string }).code !== 'MODULE_NOT_FOUND' || !parent?.filename)
        throw error;
      const candidate = typeScriptCandidate(request, pathToFileURL(parent.filename).href);
      if (candidate === undefined) throw error;
      return resolveFilename.call(this, fileURLToPath(candidate), parent, ...rest);
    }
  };
}

interface CompiledModule {
  _compile(source: string, filename: string): void;
}

async function importModule(path: string): Promise<{ default?: unknown; lifespan?: unknown }> {
  await typeScriptHooksFor(path);
  return import(pathToFileURL(path).href);
}

async function requireModule(path: string): Promise<{ default?: unknown; lifespan?: unknown }> {
  await typeScriptHooksFor(path);
  const exported: unknown = createRequire(path)(path);
  // `module.exports = app` is the app itself; `exports.default = app` comes from `export default`.
  if (typeof exported === 'function') return { default: exported };
  return (exported ?? {}) as { default?: unknown; lifespan?: unknown };
}

/** The folder of rxgi's own package.json (dist/protocols/cli/ is three levels below it). */
const OWN_ROOT = new URL('../../../', import.meta.url);

/** The `exports` map of rxgi's own package.json; empty if it cannot be read. */
function ownExports(): Record<string, unknown> {
  try {
    const manifest = JSON.parse(readFileSync(new URL('package.json', OWN_ROOT), 'utf8'));
    return manifest.exports ?? {};
  } catch {
    return {};
  }
}

/** The file an `exports` target gives to `require` (a string, or a conditions object). */
function entryFile(target: unknown): string | undefined {
  if (typeof target === 'string') return target;
  if (typeof target !== 'object' || target === null) return undefined;
  const conditions = target as Record<string, unknown>;
  return entryFile(conditions.require ?? conditions.node ?? conditions.default);
}

/**
 * The module system node runs `path` in: `.mts`/`.mjs` are ES modules, `.cts`/`.cjs` CommonJS,
 * and `.ts`/`.js` follow the `"type"` of the nearest package.json (CommonJS without one).
 */
export function moduleFormat(path: string): ModuleFormat {
  const ext = extname(path);
  if (ext === '.mts' || ext === '.mjs') return 'module';
  if (ext === '.cts' || ext === '.cjs') return 'commonjs';
  if (packageType(dirname(path)) === 'module') return 'module';
  // A typeless package's .js file with import/export is an ES module to node (syntax detection).
  if (ext === '.js' && packageType(dirname(path)) === undefined && looksLikeEsm(path))
    return 'module';
  return 'commonjs';
}

/** The "type" of the nearest package.json above `dir`, or undefined when it has none. */
function packageType(dir: string): string | undefined {
  for (let at = dir; ; at = dirname(at)) {
    try {
      const manifest = JSON.parse(readFileSync(join(at, 'package.json'), 'utf8')) as {
        type?: unknown;
      };
      return typeof manifest.type === 'string' ? manifest.type : undefined;
    } catch {
      if (dirname(at) === at) return undefined;
    }
  }
}

/** Whether a file's source has ESM syntax: a top-level `import`/`export` statement. */
function looksLikeEsm(path: string): boolean {
  try {
    return /^\s*(?:import\s*[\w{*'"]|export\s)/m.test(readFileSync(path, 'utf8'));
  } catch {
    return false;
  }
}

/**
 * A load error, with one line first that says what to change when the file's syntax does not fit
 * the module system its name and package give it, and the original error (stack included) as its
 * cause.
 */
function explainLoadError(file: string, format: ModuleFormat, error: unknown): Error {
  const message = error instanceof Error ? error.message : String(error);
  let hint: string | undefined;
  if (
    format === 'module' &&
    /require is not defined|module is not defined|exports is not defined|(Import|Export) assignment cannot be used when targeting ECMAScript modules/.test(
      message,
    )
  ) {
    hint = `${file} uses CommonJS (require, module.exports, export =) but runs as an ES module here: use import/export, or rename it to .${/\.[mc]?tsx?$/.test(file) ? 'cts' : 'cjs'}`;
  } else if (
    format === 'commonjs' &&
    /Cannot use import statement|Unexpected token 'export'/.test(message)
  ) {
    hint = `${file} uses import/export but runs as CommonJS here: rename it to .mjs, or set "type": "module" in its package.json`;
  }
  if (hint === undefined) return error instanceof Error ? error : new Error(message);
  return new Error(hint, { cause: error });
}
