import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * docs/testing.md's examples under the other runners: `node:test` and jest run the fixtures of
 * test/fixtures/testing-runners/, which import `rxgi/testing` as a user would (the package's
 * own exports, so dist/ must be built: `npm test` builds it first).
 */
const run = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;
const fixtures = 'test/fixtures/testing-runners';

describe('rxgi/testing under other test runners', () => {
  it('passes under node:test', async () => {
    const { stdout } = await run(
      process.execPath,
      ['--test', '--test-reporter=tap', `${fixtures}/node-test.test.mjs`],
      {
        cwd: root,
      },
    );
    expect(stdout).toMatch(/# pass 4\n/);
    expect(stdout).toMatch(/# fail 0\n/);
  }, 60_000);

  it('passes under jest', async () => {
    const { stderr } = await run(
      process.execPath,
      [
        '--experimental-vm-modules',
        'node_modules/jest/bin/jest.js',
        '--rootDir',
        fixtures,
        '--testMatch',
        '**/jest.test.mjs',
        '--ci',
      ],
      { cwd: root, env: { ...process.env, NODE_NO_WARNINGS: '1' } },
    );
    expect(stderr).toMatch(/Tests: {7}4 passed, 4 total/);
  }, 60_000);
});
