import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { StreamTable } from '../../core/table.js';

interface Entry {
  readonly id: number;
  readonly n: number;
}

/** A small deterministic generator, so a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
}

describe('StreamTable', () => {
  it('answers as a Map does through random opens and closes, ids stepping by 1 or 2', () => {
    for (const [seed, step] of [
      [1, 2],
      [2, 1],
      [3, 2],
      [4, 7],
    ] as const) {
      const next = random(seed);
      const table = new StreamTable<Entry>();
      const reference = new Map<number, Entry>();
      let id = 1;
      for (let n = 0; n < 5000; n++) {
        const open = [...reference.keys()];
        // Mostly opens while few are open, mostly closes while many are: the table grows to
        // hundreds of entries and shrinks back more than once.
        const wantOpen = next() < (n % 2000 < 1000 ? 0.6 : 0.35);
        if (open.length === 0 || wantOpen) {
          // Now and then a stream already open is set again (replaced).
          const reopen = open.length > 0 && next() < 0.05;
          if (!reopen) id += step;
          const key = reopen ? open[0]! : id;
          const entry = { id: key, n };
          table.set(entry);
          reference.set(key, entry);
        } else {
          const key = next() < 0.05 ? -1 : open[Math.floor(next() * open.length)]!;
          table.delete(key);
          reference.delete(key);
        }
        if (table.size !== reference.size) expect.fail(`size ${table.size} at step ${n}`);
        for (const [key, entry] of reference) {
          if (table.get(key) !== entry) expect.fail(`get(${key}) at step ${n}`);
        }
        if (table.has(id + step)) expect.fail(`has(${id + step}) at step ${n}`);
        if (n % 100 === 0) {
          expect(new Set(table.values())).toEqual(new Set(reference.values()));
        }
      }
    }
  });

  it('its values() is a snapshot: closing streams while iterating it visits each once', () => {
    const table = new StreamTable<Entry>();
    for (let id = 1; id <= 41; id += 2) table.set({ id, n: id });
    const seen: number[] = [];
    for (const entry of table.values()) {
      seen.push(entry.id);
      table.delete(entry.id);
    }
    expect(seen.sort((a, b) => a - b)).toEqual(Array.from({ length: 21 }, (_, i) => 2 * i + 1));
    expect(table.size).toBe(0);
  });

  it('keeps closed streams out of the old generation after a full GC, where a Map does not', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    // Ten streams open at a time, each with two kilobytes of its own, through 300,000 requests,
    // as a connection's table sees them; a full GC first moves the table to the old generation.
    // Counted: the old-generation collections during the churn. A Map then keeps every
    // stream alive until the next one (see core/table.ts), so they come again and again.
    const oldCollections = async (kind: 'map' | 'table'): Promise<number> => {
      const map = new Map<number, Entry & { payload: number[] }>();
      const table = new StreamTable<Entry & { payload: number[] }>();
      const open: number[] = [];
      let id = 1;
      const churn = (requests: number) => {
        for (let n = 0; n < requests; n++) {
          const entry = { id, n, payload: new Array<number>(256).fill(n) };
          if (kind === 'map') map.set(id, entry);
          else table.set(entry);
          open.push(id);
          id += 2;
          if (open.length > 10) {
            const closed = open.shift()!;
            if (kind === 'map') map.delete(closed);
            else table.delete(closed);
          }
        }
      };
      churn(1000);
      gc();
      let count = 0;
      const observer = new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) {
          const kindOf = (entry as { detail?: { kind?: number } }).detail?.kind;
          if (kindOf === constants.NODE_PERFORMANCE_GC_MAJOR) count++;
        }
      });
      observer.observe({ entryTypes: ['gc'] });
      churn(300_000);
      await new Promise((resolve) => setTimeout(resolve, 50));
      observer.disconnect();
      return count;
    };
    // The Map is the control: if it stopped showing the effect, this test would prove nothing.
    expect(await oldCollections('map')).toBeGreaterThanOrEqual(2);
    expect(await oldCollections('table')).toBe(0);
  });
});
