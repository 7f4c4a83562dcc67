import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

function faces() {
  const manifest = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
  return Object.entries(manifest.exports as Record<string, { default?: string }>)
    .filter(([, target]) => typeof target === 'object')
    .map(([subpath, target]) => ({
      find: new RegExp(`^rxgi${subpath.slice(1).replace('/', '\\/')}$`),
      replacement: fileURLToPath(
        new URL(
          `./${target.default!.replace(/^\.\/dist\//, '').replace(/\.js$/, '.ts')}`,
          import.meta.url,
        ),
      ),
    }));
}

export default defineConfig({
  // `rxgi` and its subpaths resolve to the sources of the faces package.json exports.
  resolve: { alias: faces() },
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['test/setup.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    pool: 'forks',
    env: { RXGI_LOG: process.env.RXGI_LOG ?? 'silent' },
  },
});
