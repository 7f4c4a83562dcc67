import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

/**
 * What an idle WebSocket session costs rxgi's `serve` (the echo app over HTTP/1.1), measured by
 * bench/ws-idle.mjs in server processes of their own: V8 heap in use after full collections,
 * with 1,500 sessions open, over the number of sessions, beside raw `ws` on node:http measured
 * the same way. It was 9.7 KiB per session before the per-session listeners, Subjects and
 * request objects were cut, 4.8 KiB (×1.8 raw) before the session let go of its exchange and
 * request event (docs/internals.md, "Memory per idle WebSocket"), 4 KiB (×1.5) before booleans
 * became bits and rare state lazy, 3.9 KiB (×1.37 on Node 20, ×1.42 on Node 24) before the
 * session record, the app's run object, the stream tables and rxjs's subscriber fields were
 * folded away and ws's per-session extension table and pong callback were shared or made late.
 * It is about 3.3 KiB now (×1.18 at 1,500 sessions on Node 20 and 22, ×1.20 on Node 24), raw
 * `ws` 2.8 KiB. The bound on bytes leaves room for V8's object sizes across Node versions and
 * for the compiled code a short run counts; the ratio, which moves with raw's, catches a return
 * of any of the cut objects (each 0.05 to 0.1 KiB, the folded ones 0.3 KiB together).
 */
const HEAP_PER_SESSION = 3.75 * 1024;
const HEAP_RATIO = 1.3;

describe('idle WebSocket memory', () => {
  it(`holds under ${HEAP_PER_SESSION} bytes of heap per idle session, under ${HEAP_RATIO} × raw ws`, {
    timeout: 180_000,
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
        'raw,rxgi',
        '--json',
      ],
      { encoding: 'utf8', timeout: 170_000 },
    );
    expect(run.status, run.stderr).toBe(0);
    const summary = JSON.parse(run.stdout.trim().split('\n').at(-1)!);
    expect(summary.raw.heap).toBeGreaterThan(1024);
    expect(summary.rxgi.heap).toBeGreaterThan(1024);
    expect(summary.rxgi.heap).toBeLessThan(HEAP_PER_SESSION);
    expect(summary.rxgi.heapRatio).toBeLessThan(HEAP_RATIO);
  });
});
