import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium (`.ci/run` installs it), or undefined where there is none. */
export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) =>
  existsSync(path),
);

/**
 * Headless Chromium driven by playwright-core, for the browser tests; `args` are added to the
 * flags every test needs. Throws, saying how to install it, where there is no Chromium.
 */
export function launchBrowser(args: string[] = []): Promise<Browser> {
  if (CHROMIUM === undefined) {
    throw new Error('no chromium: apt-get install chromium (.ci/run installs it)');
  }
  return chromium.launch({
    executablePath: CHROMIUM,
    // As root (CI), Chromium's sandbox cannot start.
    args: ['--no-sandbox', ...args],
  });
}
