import { handle, upgrade } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { h2WebSocket, session } from '../../h2client.js';
import { closeServers, start } from '../../helpers.js';

/**
 * Cross-site WebSocket hijacking (SPEC.md §4.2): a page on another site must not open a
 * session with the user's cookies. Browsers send `Origin`; the server refuses foreign ones
 * with 403 before the app sees them, unless `allowedOrigins` lets them in.
 */
afterEach(() => closeServers());

let seen = 0;
const echo = handle((req) => {
  seen++;
  return req.websocket ? upgrade((messages) => messages) : { status: 404 };
});

/** Open a WebSocket over HTTP/1.1 with `origin`; the status it got, 101 when it opened. */
function h1(url: string, origin?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url.replace('http', 'ws'), origin === undefined ? {} : { origin });
    ws.once('open', () => {
      ws.close();
      resolve(101);
    });
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (chunk: Buffer) => {
        body += chunk;
      });
      res.on('end', () => {
        if (res.statusCode === 403) expect(body).toMatch(/origin .* not allowed/);
        resolve(res.statusCode ?? 0);
      });
    });
    ws.once('error', reject);
  });
}

/** The status of an extended CONNECT (RFC 8441) with `origin`. */
async function h2(url: string, origin?: string): Promise<number> {
  const client = await session(url);
  const stream = client.request(
    {
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':path': '/',
      ':scheme': 'http',
      'sec-websocket-version': '13',
      ...(origin === undefined ? {} : { origin }),
    },
    { endStream: false },
  );
  const status = await new Promise<number>((resolve, reject) => {
    stream.once('response', (head) => resolve(Number(head[':status'])));
    stream.once('error', reject);
  });
  client.destroy();
  return status === 200 ? 101 : status;
}

describe('the WebSocket origin policy', () => {
  it('lets the server’s own origin and clients without Origin in, on HTTP/1.1 and HTTP/2', async () => {
    const server = await start(echo);
    const own = `http://127.0.0.1:${server.port}`;
    for (const open of [h1, h2]) {
      expect(await open(server.url)).toBe(101);
      expect(await open(server.url, own)).toBe(101);
      expect(await open(server.url, own.toUpperCase())).toBe(101);
    }
    const chat = await h2WebSocket(server.url, '/');
    chat.client.close();
  });

  it('refuses a foreign or opaque origin with 403 before the app sees it', async () => {
    const server = await start(echo);
    seen = 0;
    for (const open of [h1, h2]) {
      expect(await open(server.url, 'https://evil.example')).toBe(403);
      expect(await open(server.url, 'null')).toBe(403);
      // Same host, another port: another origin.
      expect(await open(server.url, `http://127.0.0.1:${server.port + 1}`)).toBe(403);
    }
    expect(seen).toBe(0);
  });

  it('lets allowedOrigins in: exact, wildcard subdomain, null and *', async () => {
    const server = await start(echo, {
      allowedOrigins: ['https://app.example', 'https://*.good.example', 'null'],
    });
    for (const open of [h1, h2]) {
      expect(await open(server.url, 'https://app.example')).toBe(101);
      expect(await open(server.url, 'https://a.b.good.example')).toBe(101);
      expect(await open(server.url, 'null')).toBe(101);
      expect(await open(server.url, 'http://a.good.example')).toBe(403); // another scheme
      expect(await open(server.url, 'https://good.example.evil')).toBe(403);
    }
    const open = await start(echo, { allowedOrigins: ['*'] });
    expect(await h1(open.url, 'https://anyone.example')).toBe(101);
    expect(await h2(open.url, 'https://anyone.example')).toBe(101);
  });
});
