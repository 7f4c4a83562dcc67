import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { App } from '../../core/app.js';
import type { Lifespan } from '../../core/lifespan.js';

/** What `rxgi serve` takes from a module: its default export, and an optional `lifespan`. */
export interface AppModule {
  app: App;
  lifespan?: Lifespan;
}

const TYPESCRIPT = /\.(?:ts|mts|cts|tsx)$/;
let typescript = false;

/**
 * Load an app module. TypeScript is loaded through tsx, so it runs on Node 20 as it is; the
 * default export must be an rxgi app.
 *
 * tsx's hooks are registered for the whole process rather than used through `tsImport`, which
 * loads a module graph in a namespace of its own: there, the app's `import 'rxgi'` would load a
 * second copy of rxgi beside the server's, with its own `defaultHub()`, its own logger and its
 * own classes, and its sessions could not be run directly (SPEC.md §5).
 */
export async function loadApp(file: string): Promise<AppModule> {
  const url = pathToFileURL(resolve(file)).href;
  if (TYPESCRIPT.test(file) && !typescript) {
    const { register } = await import('tsx/esm/api');
    register();
    typescript = true;
  }
  const module: { default?: unknown; lifespan?: unknown } = await import(url);
  // tsx may wrap a CommonJS-shaped module once more.
  let app = module.default;
  if (typeof app === 'object' && app !== null && 'default' in app) app = app.default;
  if (typeof app !== 'function') {
    throw new Error(`${file} must export an rxgi app as its default export (got ${typeof app})`);
  }
  const lifespan =
    typeof module.lifespan === 'function' ? (module.lifespan as Lifespan) : undefined;
  return { app: app as App, lifespan };
}
