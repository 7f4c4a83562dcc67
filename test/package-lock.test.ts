import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * `npm install` in a clone is quiet on the oldest Node we support (issue 15 item 5): every
 * locked package accepts it (no EBADENGINE), and every install script npm 11 would stop and
 * warn about is declared in `allowScripts`.
 */
const root = new URL('..', import.meta.url);
const read = (name: string) => JSON.parse(readFileSync(new URL(name, root), 'utf8'));
const manifest = read('package.json');
const lock = read('package-lock.json') as {
  packages: Record<string, { engines?: { node?: string }; hasInstallScript?: boolean }>;
};
// semver comes with npm's own tree (fastify, typescript-eslint…): the same rules npm applies.
const semver = createRequire(import.meta.url)('semver') as {
  minVersion(range: string): { version: string } | null;
  satisfies(version: string, range: string): boolean;
};

describe('package-lock.json', () => {
  it('holds no package whose engines refuse the oldest supported Node', () => {
    const oldest = semver.minVersion(manifest.engines.node)?.version ?? '';
    expect(oldest).toBe('20.19.0');
    const refusing = Object.entries(lock.packages)
      .filter(([, entry]) => {
        const wanted = entry.engines?.node;
        return typeof wanted === 'string' && !semver.satisfies(oldest, wanted);
      })
      .map(([path, entry]) => `${path} wants node ${entry.engines?.node}`);
    expect(refusing).toEqual([]);
  });

  it('declares every dependency install script in allowScripts (npm 11 warns otherwise)', () => {
    const declared = Object.keys(manifest.allowScripts ?? {});
    const undeclared = Object.entries(lock.packages)
      .filter(([, entry]) => entry.hasInstallScript === true)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .filter((name) => !declared.includes(name));
    expect(undeclared).toEqual([]);
  });
});
