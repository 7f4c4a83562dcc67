/**
 * Request head limits over real sockets (docs/server.md, spec/http1.md, spec/http2.md §1): `maxHeaderSize` counts
 * the whole HTTP/1.1 head, and a head with more than `maxHeaderFields` fields is answered 431 on
 * both protocols, never served with fields silently dropped.
 */
import { constants } from 'node:http2';
import { handle, text } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { closeServers, raw, start, statusOf } from '../../helpers.js';

afterEach(closeServers);

/** Answers with the number of header fields the app saw. */
const countFields = handle((req) => text(`${req.headers.length / 2}`));

/** `n` fields named `x-0000`… with `value`, as HTTP/1.1 field lines. */
function lines(n: number, value = 'v'): string {
  let out = '';
  for (let i = 0; i < n; i++) out += `x-${String(i).padStart(4, '0')}: ${value}\r\n`;
  return out;
}

function h2Fields(n: number): Record<string, string> {
  const fields: Record<string, string> = {};
  for (let i = 0; i < n; i++) fields[`x-${String(i).padStart(4, '0')}`] = 'v';
  return fields;
}

describe('HTTP/1.1 request head limits', () => {
  it('serves a head of maxHeaderFields fields whole, and answers one more with 431 and closes', async () => {
    const server = await start(countFields);
    // Host is a field too: 99 more make 100.
    const full = await raw(server.port, `GET / HTTP/1.1\r\nhost: a\r\n${lines(99)}\r\n`);
    expect(statusOf(full)).toBe(200);
    expect(full.endsWith('\r\n\r\n100')).toBe(true);
    const over = await raw(
      server.port,
      `GET / HTTP/1.1\r\nhost: a\r\n${lines(100)}\r\n`,
      'GET / HTTP/1.1\r\nhost: a\r\n\r\n',
    );
    expect(statusOf(over)).toBe(431);
    expect(over).toContain('the request has more than 100 header fields');
    // The connection closes after the 431: the pipelined request is not served.
    expect(over.match(/HTTP\/1\.1 /g)).toHaveLength(1);
  });

  it('answers 2,100 fields with 431 instead of serving the first thousand', async () => {
    const server = await start(countFields, { maxHeaderSize: 64 * 1024 });
    const response = await raw(server.port, `GET / HTTP/1.1\r\nhost: a\r\n${lines(2_099)}\r\n`);
    expect(statusOf(response)).toBe(431);
  });

  it('counts the whole head against maxHeaderSize: separators and line ends too', async () => {
    const server = await start(countFields, { maxHeaderFields: 2_000 });
    // 1,300 fields of 15 bytes on the wire: 19.5 KB, though names and values are 14.3 KB.
    const big = await raw(server.port, `GET / HTTP/1.1\r\nhost: a\r\n${lines(1_299, 'vvvvv')}\r\n`);
    expect(statusOf(big)).toBe(431);
    expect(big).toContain('the request head is larger than 16384 bytes');
    // A head of exactly 16384 bytes is served.
    const line = 'GET / HTTP/1.1\r\n';
    const host = 'host: a\r\n';
    const fill = 16_384 - line.length - host.length - 'x: \r\n'.length - 2;
    const exact = `${line}${host}x: ${'y'.repeat(fill)}\r\n\r\n`;
    expect(exact.length).toBe(16_384);
    expect(statusOf(await raw(server.port, exact))).toBe(200);
    const over = `${line}${host}x: ${'y'.repeat(fill + 1)}\r\n\r\n`;
    expect(statusOf(await raw(server.port, over))).toBe(431);
  });
});

describe('HTTP/2 request head limits', () => {
  it('answers more than maxHeaderFields regular fields with 431 on that stream only', async () => {
    const server = await start(countFields);
    const client = await session(server.url);
    const [full, over, next] = await Promise.all([
      exchange(client, { ':path': '/', ...h2Fields(100) }),
      exchange(client, { ':path': '/', ...h2Fields(101) }),
      exchange(client, { ':path': '/' }),
    ]);
    expect([full.status, full.body.toString()]).toEqual([200, '100']);
    expect(over.status).toBe(431);
    expect([next.status, next.body.toString()]).toEqual([200, '0']);
    client.close();
  });

  it('leaves a list past what node:http2 holds to its RST_STREAM ENHANCE_YOUR_CALM; the connection goes on', async () => {
    const server = await start(countFields, { maxHeaderFields: 10 });
    const client = await session(server.url);
    const stream = client.request({ ':path': '/', ...h2Fields(30) });
    stream.on('error', () => {});
    await new Promise((resolve) => stream.on('close', resolve));
    expect(stream.rstCode).toBe(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    const after = await exchange(client, { ':path': '/', ...h2Fields(10) });
    expect([after.status, after.body.toString()]).toEqual([200, '10']);
    client.close();
  });
});
