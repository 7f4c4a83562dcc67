import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** What `npm install` of the packed tarball printed and ran that a user should never see. */
export interface InstallNoise {
  /** Every `npm warn` line (deprecations, EBADENGINE, npm 11's install-scripts notice...). */
  warnings: string[];
  /** Every lifecycle script npm ran (`npm info run <package> <event> ...` at loglevel info). */
  scripts: string[];
  /** Every installed package that has an install script, from npm's own record of the tree. */
  withInstallScript: string[];
}

/**
 * `npm install ...packages` in `dir` with the npm on the PATH, as a user types it (loglevel
 * info only adds the lines that name each script npm runs), and what it printed and ran that a
 * user of rxgi should never see (issue 15 item 5).
 */
export async function npmInstall(dir: string, packages: string[]): Promise<InstallNoise> {
  const { stdout, stderr } = await run(
    'npm',
    ['install', ...packages, '--no-audit', '--no-fund', '--prefer-offline', '--loglevel', 'info'],
    { cwd: dir },
  );
  const lines = `${stdout}\n${stderr}`.split('\n');
  const record = JSON.parse(readFileSync(join(dir, 'node_modules', '.package-lock.json'), 'utf8'));
  const packagesOf = record.packages as Record<string, { hasInstallScript?: boolean }>;
  return {
    warnings: lines.filter((line) => /^npm warn/i.test(line)),
    scripts: lines.filter((line) => /^npm info run /.test(line)),
    withInstallScript: Object.entries(packagesOf)
      .filter(([, entry]) => entry.hasInstallScript === true)
      .map(([path]) => path),
  };
}
