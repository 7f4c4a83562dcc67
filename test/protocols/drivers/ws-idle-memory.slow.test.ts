import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * What an idle WebSocket session costs rxgi's `serve` (the echo app over HTTP/1.1), measured by
 * bench/ws-idle.mjs in a server process of its own: V8 heap in use after full collections, with
 * 1,500 sessions open, over the number of sessions. It was 9.7 KiB per session before the
 * per-session listeners, Subjects and request objects were cut (raw `ws` on node:http: 2.7 KiB);
 * it is about 4.8 KiB now. The bound is generous, for V8's object sizes across Node versions,
 * and still catches a return of what was cut.
 */
const HEAP_PER_SESSION = 7 * 1024;

describe('idle WebSocket memory', () => {
  it(`holds under ${HEAP_PER_SESSION} bytes of heap per idle session`, {
    timeout: 120_000,
  }, () => {
    const run = spawnSync(
      process.execPath,
      [
        'bench/ws-idle.mjs',
        '--connections',
        '1500',
        '--rounds',
        '1',
        '--servers',
        'rxgi',
        '--json',
      ],
      { encoding: 'utf8', timeout: 110_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(summary.rxgi.heap).toBeGreaterThan(1024);
    expect(summary.rxgi.heap).toBeLessThan(HEAP_PER_SESSION);
  });
});
