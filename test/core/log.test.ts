import { Writable } from 'node:stream';
import pino from 'pino';
import { handle, setLogger, text } from 'rxgi';
import { afterEach, describe, expect, it } from 'vitest';
import { logger } from '../../core/log.js';
import { closeServers, start, until } from '../helpers.js';

/**
 * `setLogger` takes a pino logger as it is (issue 15 item 2): pino is called `info(fields,
 * message)`, rxgi's Logger `info(message, fields)`; the records come out the same, the message
 * as `msg` and the fields as properties, an error's message and stack included.
 */
const previous = logger();
afterEach(async () => {
  await closeServers();
  setLogger(previous);
});

/** A real pino logger writing JSON lines to memory. */
function pinoInMemory() {
  const records: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) records.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), records };
}

describe('setLogger(pino())', () => {
  it('writes an access-log line as a pino record: msg and the fields', async () => {
    const { log, records } = pinoInMemory();
    setLogger(log);
    const server = await start(
      handle(() => text('hello')),
      { accessLog: true },
    );
    expect(await (await fetch(`${server.url}/path?q=1`)).text()).toBe('hello');
    await until(() => records.some((record) => 'bytes' in record));
    const record = records.find((r) => 'bytes' in r);
    expect(record).toMatchObject({
      level: 30,
      msg: expect.stringMatching(/^GET \/path\?q=1 200 5 B [\d.]+ ms h1 127\.0\.0\.1:\d+$/),
      method: 'GET',
      target: '/path?q=1',
      status: 200,
      bytes: 5,
      duration: expect.any(Number),
      protocol: 'h1',
      client: expect.stringMatching(/^127\.0\.0\.1:\d+$/),
    });
    expect(records.find((r) => r.msg === 'connection open')).toMatchObject({ level: 20 });
  });

  it("writes an error with the error's name, message and stack", async () => {
    const { log, records } = pinoInMemory();
    setLogger(log);
    const server = await start(
      handle(() => {
        throw new TypeError('the app broke');
      }),
    );
    expect((await fetch(server.url)).status).toBe(500);
    await until(() => records.some((record) => record.level === 50));
    const record = records.find((r) => r.level === 50);
    expect(record).toMatchObject({
      msg: expect.any(String),
      error: {
        name: 'TypeError',
        message: 'the app broke',
        stack: expect.stringContaining('TypeError: the app broke'),
      },
    });
  });

  it('still takes an rxgi Logger, message first', () => {
    const seen: unknown[] = [];
    setLogger({
      error: () => {},
      warn: () => {},
      info: (message, fields) => seen.push(message, fields),
      debug: () => {},
    });
    logger().info('hello', { a: 1 });
    expect(seen).toEqual(['hello', { a: 1 }]);
  });
});
