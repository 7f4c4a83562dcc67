/**
 * The demo in a real browser (issue 15 item 6): headless Chromium (Debian's `chromium`, which
 * .ci/run installs) driven by playwright-core loads apps/demo.ts from the real CLI over HTTP/1.1
 * and over TLS h2, chats between two pages of one browser profile, sees presence and the ticker,
 * and, over h2, the chat WebSocket rides the page's own connection (RFC 8441). Screenshots go to
 * SCREENSHOTS (below) for a person to look at.
 */
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser } from '../browser.js';
import { type Child, runCli, until } from '../helpers.js';

/** Where the screenshots of a run go. */
const SCREENSHOTS = join(tmpdir(), 'rxgi-demo-browser');

let browser: Browser;
let child: Child | null = null;
let context: BrowserContext | null = null;

beforeAll(async () => {
  await mkdir(SCREENSHOTS, { recursive: true });
  // The self-signed certificate is trusted here.
  browser = await launchBrowser(['--ignore-certificate-errors']);
}, 60_000);
afterAll(async () => {
  await browser?.close();
});
afterEach(async () => {
  await context?.close();
  context = null;
  child?.kill('SIGTERM');
  child = null;
});

/** The demo from the built CLI, with the access log on so that connections can be compared. */
async function demo(...args: string[]): Promise<Child> {
  return runCli(['serve', 'apps/demo.ts', '--port', '0', '--access-log', ...args]);
}

/** The protocol the page's document came over. */
const NEXT_HOP = "performance.getEntriesByType('navigation')[0].nextHopProtocol";

const text = (page: Page, selector: string) =>
  page
    .locator(selector)
    .textContent()
    .then((value) => value ?? '');

/** Two pages of one profile (they share localStorage, hence the saved name), each loaded. */
async function twoPages(url: string): Promise<[Page, Page]> {
  context = await browser.newContext({ ignoreHTTPSErrors: true });
  const a = await context.newPage();
  await a.goto(url);
  await a.locator('#online').filter({ hasText: '1 online' }).waitFor();
  // A saved name: the next page of this profile starts with it.
  await a.fill('#name', 'Ada');
  await a.press('#name', 'Tab');
  const b = await context.newPage();
  await b.goto(url);
  await a.locator('#online').filter({ hasText: '2 online' }).waitFor();
  await b.locator('#online').filter({ hasText: '2 online' }).waitFor();
  return [a, b];
}

async function chatAndTick(a: Page, b: Page, shots: string): Promise<void> {
  // The placeholder stays once the socket is open, until the first message.
  expect(await text(a, '#log')).toContain('No messages yet');
  // The ticker counts.
  await a.locator('#live').filter({ hasText: 'live' }).waitFor();
  const first = Number(await text(a, '#count'));
  await a.waitForFunction(`Number(document.getElementById('count').textContent) > ${first}`);
  // Both pages have the same name (one profile); a's message is a's own only.
  expect(await b.inputValue('#name')).toBe('Ada');
  await a.fill('#text', 'hello from page a');
  await a.click('#send');
  await b.locator('#log li', { hasText: 'hello from page a' }).waitFor();
  await a.locator('#log li.mine', { hasText: 'hello from page a' }).waitFor();
  expect(await b.locator('#log li.mine').count()).toBe(0);
  expect(await text(b, '#log')).not.toContain('No messages yet');
  await a.screenshot({ path: join(SCREENSHOTS, `${shots}-a.png`) });
  await b.screenshot({ path: join(SCREENSHOTS, `${shots}-b.png`) });
  // Presence: closing b leaves one online on a.
  await b.close();
  await a.locator('#online').filter({ hasText: '1 online' }).waitFor();
}

/** The access records of the CLI's JSON log. */
function records(log: string): { target: string; protocol: string; client: string }[] {
  return log
    .split('\n')
    .filter((line) => line.includes('"bytes":'))
    .map((line) => JSON.parse(line));
}

describe(`the demo in headless Chromium (screenshots in ${SCREENSHOTS})`, () => {
  it('over HTTP/1.1: chat between two pages of one profile, presence, ticker', async () => {
    child = await demo();
    const [a, b] = await twoPages(child.url);
    const navigation = await a.evaluate(NEXT_HOP);
    expect(navigation).toBe('http/1.1');
    await chatAndTick(a, b, 'http1');
  });

  it('over TLS h2: the same, and the WebSocket shares the page connection (RFC 8441)', async () => {
    child = await demo('--tls-self-signed');
    const current = child;
    const [a, b] = await twoPages(current.url);
    const navigation = await a.evaluate(NEXT_HOP);
    expect(navigation).toBe('h2');
    await chatAndTick(a, b, 'h2');
    // Page a's document and its chat socket came over one TCP connection: same client port.
    await a.close();
    await until(() => records(current.stderr()).some((r) => r.protocol === 'ws-over-h2'), 10_000);
    const log = records(current.stderr());
    const pageClients = new Set(
      log.filter((r) => r.target === '/' && r.protocol === 'h2').map((r) => r.client),
    );
    const socketClients = log.filter((r) => r.protocol === 'ws-over-h2').map((r) => r.client);
    expect(socketClients.length).toBeGreaterThan(0);
    for (const client of socketClients) expect(pageClients.has(client)).toBe(true);
  });
});
