/**
 * The WebSocket origin policy against a real browser (issue 16): headless Chromium loads a page
 * from one origin and opens a WebSocket to rxgi's `serve` on another. The browser sends the
 * page's origin itself, as it would for an attacker's page; the server refuses it with 403
 * unless `allowedOrigins` lets that origin in, and the page sees the failure. One browser for
 * the whole file; every page is on loopback (`*.localhost` and `localhost` mapped to 127.0.0.1).
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext } from 'playwright-core';
import { handle, upgrade } from 'rxgi';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Logger, logger, setLogger } from '../../../core/log.js';
import { launchBrowser } from '../../browser.js';
import { closeServers, start } from '../../helpers.js';

/** The page: opens a WebSocket to `?to=`, sends one message, and reports what happened. */
const PAGE = `<!doctype html><title>origin</title><script>
window.result = new Promise((resolve) => {
  const ws = new WebSocket(new URLSearchParams(location.search).get('to'));
  ws.onopen = () => ws.send('hello from ' + location.origin);
  ws.onmessage = (event) => { resolve('echo: ' + event.data); ws.close(); };
  ws.onerror = () => resolve('error');
  ws.onclose = (event) => resolve('closed ' + event.code);
});
</script>`;

let browser: Browser;
let context: BrowserContext | null = null;
/** The server of the page, on another port than rxgi's: another origin. */
let pages: Server;
let pagePort = 0;
/** Handshakes the app saw, and the statuses of the access log's WebSocket lines. */
let seen = 0;
const statuses: number[] = [];

/** The echo app, which serves the page too (for its own origin). */
const echo = handle((req) => {
  if (!req.websocket) return { status: 200, headers: ['content-type', 'text/html'], body: PAGE };
  seen++;
  return upgrade((messages) => messages);
});

const base = logger();
const capture: Logger = {
  error: (message, fields) => base.error(message, fields),
  warn: (message, fields) => base.warn(message, fields),
  info(message, fields) {
    if (typeof fields?.status === 'number') statuses.push(fields.status);
    base.info(message, fields);
  },
  debug: (message, fields) => base.debug(message, fields),
};

beforeAll(async () => {
  setLogger(capture);
  browser = await launchBrowser([
    // Chromium resolves these to loopback itself; the rule keeps it to IPv4, where they listen.
    '--host-resolver-rules=MAP localhost 127.0.0.1, MAP *.localhost 127.0.0.1',
  ]);
  pages = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end(PAGE);
  });
  await new Promise<void>((resolve) => pages.listen(0, '127.0.0.1', resolve));
  pagePort = (pages.address() as AddressInfo).port;
}, 60_000);
afterAll(async () => {
  setLogger(base);
  await browser?.close();
  await new Promise((resolve) => pages?.close(resolve));
});
afterEach(async () => {
  await context?.close();
  context = null;
  await closeServers();
});

/** Load `page` and let it open a WebSocket to `to`; what the page saw, and the console's lines. */
async function openFrom(page: string, to: string): Promise<{ result: string; console: string[] }> {
  context ??= await browser.newContext();
  const tab = await context.newPage();
  const lines: string[] = [];
  tab.on('console', (message) => lines.push(message.text()));
  await tab.goto(`${page}?to=${encodeURIComponent(to)}`);
  // A string, evaluated in the page (no DOM types here); the promise is awaited.
  const result = String(await tab.evaluate('window.result'));
  await tab.close();
  return { result, console: lines };
}

describe('the WebSocket origin policy, in a browser', () => {
  it('refuses a page of another origin with 403 by default; the page sees the failure', async () => {
    const server = await start(echo, { accessLog: true });
    seen = 0;
    statuses.length = 0;
    const page = `http://127.0.0.1:${pagePort}/`;
    const { result, console } = await openFrom(page, `ws://localhost:${server.port}/`);
    expect(result).toMatch(/^(error|closed 1006)$/);
    // Chromium's own account of the handshake, and the server's access line.
    expect(console.join('\n')).toMatch(/Unexpected response code: 403/);
    expect(statuses).toContain(403);
    expect(seen).toBe(0);
    // The server's own origin is let in: its page opens a session to itself.
    const own = await openFrom(
      `http://localhost:${server.port}/`,
      `ws://localhost:${server.port}/`,
    );
    expect(own.result).toBe(`echo: hello from http://localhost:${server.port}`);
    expect(seen).toBe(1);
  });

  it('lets in the origins allowedOrigins matches (a subdomain pattern), and no other', async () => {
    const server = await start(echo, {
      accessLog: true,
      allowedOrigins: [`http://*.localhost:${pagePort}`],
    });
    seen = 0;
    statuses.length = 0;
    const to = `ws://localhost:${server.port}/`;
    const allowed = await openFrom(`http://app.localhost:${pagePort}/`, to);
    expect(allowed.result).toBe(`echo: hello from http://app.localhost:${pagePort}`);
    expect(seen).toBe(1);
    const other = await openFrom(`http://127.0.0.1:${pagePort}/`, to);
    expect(other.result).toMatch(/^(error|closed 1006)$/);
    expect(other.console.join('\n')).toMatch(/Unexpected response code: 403/);
    expect(statuses).toContain(403);
    expect(seen).toBe(1);
  });
});
