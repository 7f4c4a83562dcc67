/**
 * `rxgi serve --watch` (issue 15 item 3) over the real binary: an edit of the module changes the
 * next response on the same port within a second (a warm standby worker only loads the changed
 * module), an open WebSocket is closed with 1012 Service Restart, and a change that does not
 * start leaves the previous version serving.
 */

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { get } from 'node:http';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Child, runCli, until } from '../../helpers.js';

const root = new URL('../../..', import.meta.url).pathname;
let folder = '';
let child: Child | null = null;

beforeAll(async () => {
  // Inside the repository, so that the module's `import 'rxgi'` resolves as an app's would.
  folder = await mkdtemp(join(root, 'test', 'fixtures', 'watch-'));
});
afterAll(async () => {
  if (folder) await rm(folder, { recursive: true, force: true });
});
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

const version = (word: string) => `import { handle, text, upgrade } from 'rxgi';
export default handle((req) => (req.websocket ? upgrade((m) => m) : text('${word}')));
`;

/** The body of GET `url` on a new connection (the old process may be draining its own). */
function body(url: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // A connection a draining process took may never be answered: give up after 2 s.
    const request = get(url, { agent: false, timeout: 2_000 }, (response) => {
      let text = '';
      response.on('data', (chunk) => {
        text += chunk;
      });
      response.on('end', () => resolve(text));
    });
    request.on('timeout', () => request.destroy(new Error('no answer in 2 s')));
    request.on('error', reject);
  });
}

/** A standby worker said it is ready (a debug line) since the last restart. */
function warm(child: Child): boolean {
  const log = child.stderr();
  return log.lastIndexOf('standby worker ready') > log.lastIndexOf('"msg":"restarted"');
}

/**
 * Write `word`'s version once a standby is warm (as it is by the time a person saves again),
 * and return the ms from the write to the first response from the new version.
 */
async function reloadTime(child: Child, file: string, word: string): Promise<number> {
  await until(() => warm(child), 20_000);
  const edited = performance.now();
  await writeFile(file, version(word));
  let seen = '';
  while (seen !== word && performance.now() - edited < 10_000) {
    seen = await body(child.url).catch(() => '');
  }
  expect(seen).toBe(word);
  return performance.now() - edited;
}

describe('rxgi serve --watch', () => {
  it('reloads on change: same port, the next response changes, WebSockets get 1012', {
    timeout: 60_000,
  }, async () => {
    const file = join(folder, 'app.ts');
    await writeFile(file, version('v1'));
    child = await runCli(['serve', file, '--port', '0', '--watch'], undefined, {
      RXGI_LOG: 'debug',
    });
    const current = child;
    expect(await body(current.url)).toBe('v1');
    const ws = new WebSocket(current.url.replace('http', 'ws'));
    await new Promise((resolve) => ws.once('open', resolve));
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));

    // About 0.2 s on a quiet machine (the standby loads the module and listens); 1.5 s leaves
    // room for a shared one, and a loaded moment gets one more try.
    let took = await reloadTime(current, file, 'v2');
    expect(await closed).toBe(1012);
    if (took >= 1_500) took = await reloadTime(current, file, 'v2 again');
    expect(took).toBeLessThan(1_500);
    expect(current.stderr()).toMatch(/app\.ts changed; restarting/);

    // A change that does not start: the previous version keeps serving.
    await writeFile(file, "throw new Error('half-written');\n");
    await until(() => current.stderr().includes('does not start; still serving'), 10_000);
    expect(await body(current.url)).toMatch(/^v2/);
    const restarts = (current.stderr().match(/"msg":"restarted"/g) ?? []).length;
    await writeFile(file, version('v3'));
    await until(
      () => (current.stderr().match(/"msg":"restarted"/g) ?? []).length === restarts + 1,
      10_000,
    );
    // node:cluster may hand a connection to the old worker just as it closes its listener, and
    // that connection is reset (seen once in ~10 runs, Node 24): a client retries.
    let latest = '';
    for (let i = 0; i < 5 && latest !== 'v3'; i++) latest = await body(current.url).catch(() => '');
    expect(latest).toBe('v3');

    current.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  });
});
