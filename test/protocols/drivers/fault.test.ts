import { request as httpRequest } from 'node:http';
import type { ClientHttp2Session } from 'node:http2';
import { type App, type Logger, logger, type OutboundEvent, setLogger } from 'rxgi';
import { filter, map, mergeMap, of } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { exchange, session } from '../../h2client.js';
import { closeServers, start } from '../../helpers.js';
import { allowInternalErrors } from '../../setup.js';

/**
 * The boundary around the drivers (SPEC.md §8.1, `RXGI_ERR_INTERNAL`): when something throws while
 * a driver serves one connection, that connection alone is torn down and logged with its id and
 * stack; the process and every other connection go on. The fault is a real one a user can make:
 * a logger whose transport throws, here on the record of a stream the app broke (the driver
 * writes that record while failing the stream, so the exception escapes the stream's own
 * error handling).
 */
const records: { message: string; fields?: Record<string, unknown> }[] = [];
const throwing: Logger = {
  error(message, fields) {
    if (message.startsWith('invalid data event')) throw new Error('log transport down');
    records.push({ message, fields });
  },
  warn: () => {},
  info: () => {},
  debug: () => {},
};

let previous: Logger;
beforeEach(() => {
  previous = logger();
  setLogger(throwing);
  records.length = 0;
  allowInternalErrors();
});
afterEach(async () => {
  setLogger(previous);
  await closeServers();
});

/** `/bad` sends body data before any head (an invalid event); anything else gets 'ok'. */
const app: App = (events) =>
  events.pipe(
    filter((event) => event.type === 'request'),
    mergeMap((request) =>
      request.path === '/bad'
        ? of<OutboundEvent>({ type: 'data', stream: request.stream, chunk: 'x', end: true })
        : of(request.stream).pipe(
            map(
              (stream): OutboundEvent => ({
                type: 'response',
                stream,
                status: 200,
                headers: ['content-type', 'text/plain'],
                body: 'ok',
                end: true,
              }),
            ),
          ),
    ),
  );

function get(port: number, path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ port, host: '127.0.0.1', path, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        body += chunk;
      });
      res.on('end', () => resolve(`${res.statusCode} ${body}`));
    });
    req.on('error', reject);
    req.end();
  });
}

function faults() {
  return records.filter((r) => r.message === 'internal error; closing the connection');
}

describe('an internal error stays in its connection', () => {
  it('HTTP/1.1: the connection is destroyed, logged with its id and stack; others are served', async () => {
    const server = await start(app);
    const port = Number(new URL(server.url).port);
    await expect(get(port, '/bad')).rejects.toThrow(/socket hang up|ECONNRESET/);
    expect(await get(port, '/')).toBe('200 ok');
    expect(faults()).toHaveLength(1);
    const fields = faults()[0].fields!;
    expect(fields.code).toBe('RXGI_ERR_INTERNAL');
    expect(fields.connection).toMatch(/^h1-/);
    expect((fields.error as Error).stack).toContain('log transport down');
  });

  it('HTTP/2: the session gets GOAWAY INTERNAL_ERROR; other sessions are served', async () => {
    const server = await start(app);
    const bystander = await session(server.url);
    const victim: ClientHttp2Session = await session(server.url);
    victim.on('error', () => {});
    const goaway = new Promise<number>((resolve) => victim.once('goaway', resolve));
    const stream = victim.request({ ':path': '/bad' });
    stream.on('error', () => {});
    stream.end();
    expect(await goaway).toBe(2);
    const answer = await exchange(bystander, { ':path': '/' });
    expect([answer.status, answer.body.toString()]).toEqual([200, 'ok']);
    bystander.close();
    expect(faults()).toHaveLength(1);
    expect(faults()[0].fields!.connection).toMatch(/^h2-/);
  });
});
