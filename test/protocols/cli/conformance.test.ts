import { execFile } from 'node:child_process';
import type { Server } from 'node:http';
import { promisify } from 'node:util';
import { conformanceFixture } from 'rxgi/conformance';
import { afterEach, describe, expect, it } from 'vitest';
import { minimalHost } from '../conformance/minimal-host.js';

const execute = promisify(execFile);
const root = new URL('../../..', import.meta.url).pathname;

/** Run `rxgi conformance` to its end. */
function rxgi(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return execute(process.execPath, ['dist/protocols/cli/main.js', 'conformance', ...argv], {
    cwd: root,
    env: { ...process.env, RXGI_LOG: 'info' },
    timeout: 60_000,
  }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (error: { code: number; stdout: string; stderr: string }) => error,
  );
}

const hosts: Server[] = [];
afterEach(() => {
  for (const host of hosts.splice(0)) host.close();
});

describe('rxgi conformance', () => {
  it('with no URL checks its own serve of the fixture: all pass, exit 0, nothing logged', async () => {
    const { code, stdout, stderr } = await rxgi([]);
    expect(stdout).toMatch(/^rxgi conformance: http:\/\/127\.0\.0\.1:\d+\n/);
    expect(stdout).not.toContain('FAIL');
    // Only the checks of a TLS port are skipped on a cleartext one.
    expect(stdout).toMatch(/\n(\d+) passed, 0 failed \(0 MUST\), 2 skipped\n$/);
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('against a broken host exits 1 and names the rule it breaks', async () => {
    const { server, url } = await minimalHost(conformanceFixture(), { keepNameCase: true });
    hosts.push(server);
    const { code, stdout } = await rxgi([
      url,
      '--caps',
      'h1,trailers',
      '--only',
      'request-fields,trailers-out,ws-session',
    ]);
    expect(stdout).toContain('FAIL  [request-fields] MUST');
    expect(stdout).toContain('pass  [trailers-out]');
    expect(stdout).toContain('skip  [ws-session]');
    expect(stdout).toContain('1 passed, 1 failed (1 MUST), 1 skipped');
    expect(code).toBe(1);
  });

  it('answers a command line it cannot run with one line and exit 2', async () => {
    const cases: [string[], string][] = [
      [['--caps', 'h1,h3'], 'rxgi: unknown capability "h3": did you mean "h1"?\n'],
      [
        ['ftp://x'],
        'rxgi: "ftp://x" is not an http:// or https:// URL: rxgi conformance http://127.0.0.1:8000\n',
      ],
      [
        ['--port', '80'],
        'rxgi: --port is not an option of rxgi conformance (rxgi conformance --help)\n',
      ],
      [
        ['http://a', 'http://b'],
        'rxgi: unexpected argument "http://b": rxgi conformance takes one URL (rxgi conformance --help)\n',
      ],
    ];
    for (const [argv, line] of cases) {
      const { code, stderr } = await rxgi(argv);
      expect([code, stderr]).toEqual([2, line]);
    }
    const unknown = await rxgi(['--only', 'no-such-rule']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(
      /^rxgi: no rule "no-such-rule" in the suite: the ids are request-fields, /,
    );
  });
});
