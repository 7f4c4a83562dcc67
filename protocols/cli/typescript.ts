import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * TypeScript for `rxgi serve`, file by file, through swc's WebAssembly build (`@swc/wasm`: the
 * compiler Node's own type stripping is built on). Nothing is type-checked (that is `tsc`'s job)
 * and tsconfig.json is not read. Unlike Node's built-in type stripping it runs on Node 20, turns
 * `import`/`export` into CommonJS where the file runs as CommonJS (a `.ts` file in the package
 * `npm init -y` writes), and compiles enums, namespaces, parameter properties,
 * `import x = require()` and `export =`. Unlike tsx it installs no native binary and runs no
 * install script (esbuild's, which npm 11 stops and warns about).
 */

/** The extensions compiled here. */
export const TYPESCRIPT_EXTENSIONS = ['.ts', '.mts', '.cts', '.tsx'];

interface Swc {
  transformSync(source: string, options: object): { code: string };
}
let swc: Swc | undefined;

/** `source` (the TypeScript file at `path`) as JavaScript of the given module system. */
export function transpile(source: string, path: string, format: 'module' | 'commonjs'): string {
  swc ??= createRequire(import.meta.url)('@swc/wasm') as Swc;
  try {
    return swc.transformSync(source, {
      filename: path,
      swcrc: false,
      configFile: false,
      // Stack traces point into the .ts file (source maps are turned on where the app loads).
      sourceMaps: 'inline',
      inlineSourcesContent: false,
      jsc: {
        parser: { syntax: 'typescript', tsx: extname(path) === '.tsx', decorators: true },
        target: 'es2022',
        keepClassNames: true,
        experimental: { keepImportAttributes: true },
      },
      // `import()` stays `import()` in CommonJS, so that it can load ES modules.
      module: format === 'module' ? { type: 'es6' } : { type: 'commonjs', ignoreDynamic: true },
    }).code;
  } catch (error) {
    // swc throws its diagnostic (with a code frame) as a string.
    if (error instanceof Error) throw error;
    throw new SyntaxError(String(error).trim());
  }
}

/** Whether a file is a TypeScript file of the app (not one inside a dependency). */
export function isAppTypeScript(path: string): boolean {
  return TYPESCRIPT_EXTENSIONS.includes(extname(path)) && !/[\\/]node_modules[\\/]/.test(path);
}

/**
 * The TypeScript file a relative import means when the file it names does not exist, as tsc
 * resolves it: `./util.js` is `./util.ts` (or `.tsx`), `.mjs` is `.mts`, `.cjs` is `.cts`, and
 * `./util` (no extension) is `./util.ts` or `./util/index.ts`. Undefined when none exists.
 */
export function typeScriptCandidate(specifier: string, parentURL: string | undefined) {
  if (!parentURL?.startsWith('file:') || /[\\/]node_modules[\\/]/.test(parentURL)) return;
  if (!/^(?:\.{1,2}\/|\/|file:)/.test(specifier)) return;
  const url = new URL(specifier, parentURL);
  const path = fileURLToPath(url);
  const ext = extname(path);
  const stem = ext ? path.slice(0, -ext.length) : path;
  const tries =
    ext === '.js' || ext === '.jsx'
      ? [`${stem}.ts`, `${stem}.tsx`]
      : ext === '.mjs'
        ? [`${stem}.mts`]
        : ext === '.cjs'
          ? [`${stem}.cts`]
          : ext === ''
            ? [`${path}.ts`, `${path}.tsx`, `${path}/index.ts`, `${path}/index.tsx`]
            : [];
  const found = tries.find((candidate) => existsSync(candidate));
  return found === undefined ? undefined : pathToFileURL(found).href + url.search + url.hash;
}

/** The source of a file, read as node reads modules. */
export function readSource(path: string): string {
  return readFileSync(path, 'utf8');
}
