import { selfSignedCertificate } from 'rxgi';
import { afterAll, describe, expect, it } from 'vitest';
import echo from '../../../apps/echo.js';
import {
  headerMarbles,
  interleave,
  load,
  streamer,
  windowMarbles,
} from '../../fixtures/testing-runners/examples.mjs';
import { closeServers, start } from '../../helpers.js';

afterAll(closeServers);

/** docs/testing.md's examples under vitest (jest and node:test: runners.slow.test.ts). */
describe('docs/testing.md', () => {
  it('a middleware that adds a header', () => headerMarbles());

  it('a stream that respects its window, and the diff (as the page shows it) when it does not', () => {
    windowMarbles(streamer());
    expect(() => windowMarbles(streamer(true))).toThrow(
      [
        "the app's output differs from the expected marbles",
        '  expected: 0:(haa) 6:c',
        '  actual:   0:(haac)',
        'stream 1, event 4:',
        '  expected data {chunk: bytes "aaaaaaaaaaaaaaaaaaaa…" (32768 bytes), end: true} at frame 6',
        '  actual   data {chunk: bytes "aaaaaaaaaaaaaaaaaaaa…" (32768 bytes), end: true} at frame 0',
        '  frame: expected 6, actual 0',
      ].join('\n'),
    );
  });

  it('one script on the memory driver, h2c and TLS h2', async () => {
    const expected = ['200 a1,a2', 'reset 8', '200 c1,c2'];
    expect(await interleave()).toEqual(expected);
    expect(await interleave((await start(echo)).url)).toEqual(expected);
    const tls = await start(echo, { tls: await selfSignedCertificate() });
    expect(await interleave(tls.url)).toEqual(expected);
  });

  it('many', async () => {
    expect(await load()).toEqual(Array.from({ length: 20 }, (_, i) => `/${i}`));
  });
});
