import { describe, expect, it } from 'vitest';
import {
  headerMarbles,
  interleave,
  load,
  streamer,
  windowMarbles,
} from '../../fixtures/testing-runners/examples.mjs';

/** docs/testing.md's examples under vitest (jest and node:test: runners.slow.test.ts; the same script over h2c and TLS h2: script.test.ts). */
describe('docs/testing.md', () => {
  it('a middleware that adds a header', () => headerMarbles());

  it('a stream that respects its window, and the diff when it does not', () => {
    // The message the page shows is checked in marbles.test.ts.
    windowMarbles(streamer());
    expect(() => windowMarbles(streamer(true))).toThrow(/^the app's output differs/);
  });

  it('one script on the memory driver', async () => {
    expect(await interleave()).toEqual(['200 a1,a2', 'reset 8', '200 c1,c2']);
  });

  it('many', async () => {
    expect(await load()).toEqual(Array.from({ length: 20 }, (_, i) => `/${i}`));
  });
});
