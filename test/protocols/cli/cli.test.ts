import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { alive, type Child, cli, until } from '../../helpers.js';

const run = promisify(execFile);
let child: Child | null = null;
afterEach(() => {
  child?.kill('SIGKILL');
  child = null;
});

describe('rxgi serve (CLI)', () => {
  it('serves apps/echo.ts: curl gets its body back, a WebSocket its messages', async () => {
    child = await cli('apps/echo.ts');
    const { stdout } = await run('curl', [
      '-sS',
      '-H',
      'content-type: text/x-greeting',
      '--data-binary',
      'hello over curl',
      '-D',
      '-',
      `${child.url}/anything`,
    ]);
    expect(stdout).toMatch(/^HTTP\/1.1 200 OK/);
    expect(stdout).toMatch(/content-type: text\/x-greeting/);
    expect(stdout.endsWith('hello over curl')).toBe(true);

    const ws = new WebSocket(child.url.replace('http', 'ws'));
    await new Promise((resolve) => ws.once('open', resolve));
    const replies: unknown[] = [];
    const got = new Promise<void>((resolve) =>
      ws.on('message', (data: Buffer, binary: boolean) => {
        replies.push(binary ? [...data] : data.toString());
        if (replies.length === 2) resolve();
      }),
    );
    ws.send('text message');
    ws.send(Buffer.from([1, 2, 3]));
    await got;
    expect(replies).toEqual(['text message', [1, 2, 3]]);
    ws.close();
  });

  it('answers curl over h2c, nghttp and HTTP/1.1 curl on the same port', async () => {
    child = await cli('apps/echo.ts');
    const h2c = await run('curl', [
      '-s',
      '--http2-prior-knowledge',
      '-w',
      ' %{http_version}',
      '-d',
      'via h2c',
      child.url,
    ]);
    expect(h2c.stdout).toBe('via h2c 2');
    const h1 = await run('curl', [
      '-s',
      '--http1.1',
      '-w',
      ' %{http_version}',
      '-d',
      'via h1',
      child.url,
    ]);
    expect(h1.stdout).toBe('via h1 1.1');
    const nghttp = await run('nghttp', ['-d', 'package.json', `${child.url}/`]);
    expect(JSON.parse(nghttp.stdout).name).toBe('rxgi');
  });

  it("runs a TypeScript app on the server's own rxgi: the app's defaultHub() is the server's", async () => {
    child = await cli('test/fixtures/hub-members.ts');
    const members = async () => (await fetch(`${child!.url}/members`)).text();
    expect(await members()).toBe('0');
    const ws = new WebSocket(child.url.replace('http', 'ws'));
    await new Promise((resolve) => ws.once('open', resolve));
    // The group the connection joined is in the hub the app reaches through defaultHub().
    let count = await members();
    for (const end = Date.now() + 5_000; count !== '1' && Date.now() < end; ) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      count = await members();
    }
    expect(count).toBe('1');
    ws.close();
  });

  it('shuts down on SIGTERM: WebSockets get 1001 and the process exits 0', async () => {
    child = await cli('apps/echo.ts');
    const ws = new WebSocket(child.url.replace('http', 'ws'));
    await new Promise((resolve) => ws.once('open', resolve));
    const code = new Promise<number>((resolve) => ws.once('close', (c) => resolve(c)));
    child.kill('SIGTERM');
    expect(await code).toBe(1001);
    expect(await child.exited).toBe(0);
  });

  it('shuts down on SIGINT (Ctrl-C) too and exits 0; the server process is gone', async () => {
    child = await cli('apps/echo.ts');
    const server = child.server;
    expect(server).not.toBe(child.pid);
    child.kill('SIGINT');
    expect(await child.exited).toBe(0);
    expect(alive(server)).toBe(false);
  });

  it('comes back when its server process dies, on the same port, saying why (issue 18)', async () => {
    child = await cli('apps/echo.ts');
    const current = child;
    const first = child.server;
    process.kill(first, 'SIGKILL');
    const died = `server process ${first} died (killed by SIGKILL); starting another`;
    await until(() => current.stderr().includes(died), 10_000);
    const line = current
      .stderr()
      .split('\n')
      .find((l) => l.includes(died));
    expect(JSON.parse(line!)).toMatchObject({ level: 'error', pid: first, signal: 'SIGKILL' });
    // The replacement listens on the port the first one had (it was --port 0: any).
    await until(() => /"msg":"worker listening"/.test(current.stderr()), 10_000);
    const response = await fetch(current.url, { method: 'POST', body: 'back again' });
    expect(await response.text()).toBe('back again');
    // A server that exits on its own (not by a signal) is restarted too, with its exit code.
    const second = Number(/"msg":"worker listening","pid":(\d+)/.exec(current.stderr())![1]);
    process.kill(second, 'SIGTERM');
    await until(
      () => current.stderr().includes(`server process ${second} died (exit code`),
      10_000,
    );
    current.kill('SIGTERM');
    expect(await current.exited).toBe(0);
  });

  it('says what is wrong with a module that exports no app', async () => {
    const result = await run(process.execPath, [
      'dist/protocols/cli/main.js',
      'serve',
      'test/fixtures/not-an-app.mjs',
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(/must export an rxgi app/);
  });

  it('exits 1 naming the timeout when the lifespan startup outlives --startup-timeout', async () => {
    const result = await run(process.execPath, [
      'dist/protocols/cli/main.js',
      'serve',
      'test/fixtures/stuck-startup.mjs',
      '--port',
      '0',
      '--startup-timeout',
      '300',
    ]).catch((error: { code: number; stderr: string }) => error);
    expect(result).toMatchObject({ code: 1 });
    expect((result as { stderr: string }).stderr).toMatch(
      /lifespan startup timed out after 300 ms/,
    );
  });
});
