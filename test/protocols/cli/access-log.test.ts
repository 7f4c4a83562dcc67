/**
 * The access log and the terminal format (issue 15 item 2), over the real binary: one record per
 * exchange with method, target, status, bytes, duration, protocol and client, for HTTP/1.1, h2c
 * and WebSocket; none with --no-access-log; readable lines with --log-format pretty.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type Child, cli, runCli, until } from '../../helpers.js';

const run = promisify(execFile);
let child: Child | null = null;
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

/** The access records in the CLI's JSON log so far. */
function records(log: string): Record<string, unknown>[] {
  return log
    .split('\n')
    .filter((line) => line.includes('"bytes":'))
    .map((line) => JSON.parse(line));
}

describe('rxgi serve --access-log', () => {
  it('logs one JSON record per exchange: h1, h2c and a WebSocket, with status, bytes and time', async () => {
    child = await cli('apps/echo.ts', '--access-log');
    const current = child;
    await run('curl', ['-sS', '--http1.1', '-d', 'hello', `${current.url}/one?x=1`]);
    await run('curl', ['-sS', '--http2-prior-knowledge', '-d', 'hello h2', `${current.url}/two`]);
    const ws = new WebSocket(`${current.url.replace('http', 'ws')}/socket`);
    await new Promise((resolve) => ws.once('open', resolve));
    ws.send('abc');
    await new Promise((resolve) => ws.once('message', resolve));
    ws.close(1000);
    await until(() => records(current.stderr()).length === 3, 5_000);
    const [h1, h2c, websocket] = records(current.stderr());
    expect(h1).toMatchObject({
      level: 'info',
      msg: expect.stringMatching(/^POST \/one\?x=1 200 5 B [\d.]+ ms h1 127\.0\.0\.1:\d+$/),
      method: 'POST',
      target: '/one?x=1',
      status: 200,
      bytes: 5,
      protocol: 'h1',
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(typeof h1.duration).toBe('number');
    expect(h2c).toMatchObject({
      method: 'POST',
      target: '/two',
      status: 200,
      bytes: 8,
      protocol: 'h2c',
    });
    expect(websocket).toMatchObject({
      method: 'GET',
      target: '/socket',
      status: 101,
      bytes: 3,
      protocol: 'ws',
    });
    expect(websocket.aborted).toBeUndefined();
  });

  it('logs nothing per request with --no-access-log (the default when stderr is not a terminal)', async () => {
    child = await cli('apps/echo.ts', '--no-access-log');
    await run('curl', ['-sS', '-d', 'x', child.url]);
    const other = await cli('apps/echo.ts');
    try {
      await run('curl', ['-sS', '-d', 'x', other.url]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(records(child.stderr())).toEqual([]);
      expect(records(other.stderr())).toEqual([]);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('writes readable lines with --log-format pretty: time, level, message, fields', async () => {
    child = await runCli(
      ['serve', 'apps/echo.ts', '--port', '0', '--log-format', 'pretty', '--access-log'],
      /rxgi serving \S+ on (http:\/\/[\d.:]+)/,
    );
    const current = child;
    await run('curl', ['-sS', '-d', 'hi', `${current.url}/pretty`]);
    await until(() => /POST \/pretty 200/.test(current.stderr()), 5_000);
    const lines = current.stderr().trimEnd().split('\n');
    expect(lines[0]).toMatch(/^\d\d:\d\d:\d\d\.\d{3} INFO {2}rxgi serving apps\/echo\.ts on http:/);
    expect(lines.find((line) => line.includes('POST /pretty'))).toMatch(
      /INFO .* POST \/pretty 200 2 B [\d.]+ ms h1 127\.0\.0\.1:\d+ method=POST target=\/pretty status=200/,
    );
    expect(current.stderr()).not.toMatch(/^\{/m);
  });
});
