/**
 * Module customization hooks (`module.register`) that let `import` load an app's TypeScript
 * files: relative imports may name `./util.js` for `./util.ts` (as tsc wants them written) or
 * leave the extension out, and a `.ts`, `.mts` or `.tsx` file that runs as an ES module is
 * compiled by swc (./typescript.ts). One that runs as CommonJS (`.cts`, or `.ts` outside a
 * `"type": "module"` package) is left to the CommonJS loader, whose `require` hook compiles it.
 * They run on node's hooks thread.
 */
import { fileURLToPath } from 'node:url';
import { moduleFormat } from './load.js';
import { isAppTypeScript, readSource, transpile, typeScriptCandidate } from './typescript.js';

interface ResolveContext {
  parentURL?: string;
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;
type NextLoad = (url: string, context: object) => Promise<object>;

/**
 * Load swc when the hooks are registered, for an app that runs as an ES module: compiling its
 * WebAssembly takes a quarter of a second per thread, which a `--watch` standby pays ahead. An
 * app that runs as CommonJS is compiled on the main thread, and this one loads swc only if the
 * app imports TypeScript as an ES module after all.
 */
export function initialize(data: { warm?: boolean } | undefined): void {
  if (data?.warm) transpile('', 'warm-up.ts', 'module');
}

export async function resolve(specifier: string, context: ResolveContext, next: NextResolve) {
  try {
    return await next(specifier, context);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'ERR_UNSUPPORTED_DIR_IMPORT') throw error;
    const candidate = typeScriptCandidate(specifier, context.parentURL);
    if (candidate === undefined) throw error;
    return next(candidate, context);
  }
}

export async function load(url: string, context: object, next: NextLoad) {
  if (!url.startsWith('file:')) return next(url, context);
  const path = fileURLToPath(url);
  if (!isAppTypeScript(path)) return next(url, context);
  // No source: node's CommonJS loader reads the file, through the require hook.
  if (moduleFormat(path) === 'commonjs') return { format: 'commonjs', shortCircuit: true };
  return {
    format: 'module',
    source: transpile(readSource(path), path, 'module'),
    shortCircuit: true,
  };
}
