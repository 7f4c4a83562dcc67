import { constants, PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { IndexedRoster, Roster, StreamTable } from '../../core/table.js';

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
          if (table.delete(key) !== reference.delete(key))
            expect.fail(`delete(${key}) at step ${n}`);
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
    const map = new Map<number, Member>();
    const table = new StreamTable<Member>();
    // The Map is the control: if it stopped showing the effect, this test would prove nothing.
    expect(
      await oldCollections({
        open: (member) => map.set(member.id, member) && member.id,
        close: (id) => map.delete(id),
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await oldCollections({
        open: (member) => {
          table.set(member);
          return member.id;
        },
        close: (id) => table.delete(id),
      }),
    ).toBe(0);
  });
});

describe('Roster', () => {
  it('counts, iterates a snapshot, finds and removes members; removing twice does nothing', () => {
    const roster = new Roster<string>();
    const a = roster.add('a');
    const b = roster.add('b');
    const c = roster.add('c');
    expect(roster.size).toBe(3);
    const seen: string[] = [];
    for (const value of roster) {
      seen.push(value);
      roster.delete(a);
      roster.delete(b);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    expect(roster.size).toBe(1);
    roster.delete(a);
    expect(roster.values()).toEqual(['c']);
    expect(roster.find((value) => value === 'c')).toBe(c);
    expect(roster.find((value) => value === 'a')).toBeUndefined();
    const d = roster.add('d');
    roster.delete(c);
    expect(d.index).toBe(0);
    expect(roster.values()).toEqual(['d']);
  });

  it('keeps departed members out of the old generation after a full GC, where a Set does not', async () => {
    const set = new Set<Member>();
    const roster = new Roster<Member>();
    expect(
      await oldCollections({
        open: (member) => set.add(member) && member,
        close: (member) => set.delete(member),
      }),
    ).toBeGreaterThanOrEqual(2);
    expect(
      await oldCollections({
        open: (member) => roster.add(member),
        close: (entry) => roster.delete(entry),
      }),
    ).toBe(0);
  });
});

describe('IndexedRoster', () => {
  it('lets a subclass keep the place under a key of its own', () => {
    const kPlace = Symbol('place');
    type Placed = { name: string; [kPlace]?: number };
    class Own extends IndexedRoster<Placed> {
      protected override placeOf(member: Placed): number | undefined {
        return member[kPlace];
      }
      protected override place(member: Placed, index: number): void {
        member[kPlace] = index;
      }
    }
    const roster = new Own('unused');
    const [a, b] = ['a', 'b'].map((name): Placed => ({ name }));
    roster.add(a);
    roster.add(b);
    roster.delete(a);
    expect([a[kPlace], b[kPlace]]).toEqual([-1, 0]);
    expect(roster.values()).toEqual([b]);
    expect(Object.keys(b)).toEqual(['name']);
  });

  it("keeps each member's place on the member, under its key; removing twice or a stranger does nothing", () => {
    const kA = Symbol('a');
    const kB = Symbol('b');
    type Tagged = { name: string; [kA]?: number; [kB]?: number };
    const first = new IndexedRoster<Tagged>(kA);
    const second = new IndexedRoster<Tagged>(kB);
    const [a, b, c] = ['a', 'b', 'c'].map((name): Tagged => ({ name }));
    for (const member of [a, b, c]) first.add(member);
    second.add(c);
    expect(first.size).toBe(3);
    expect([a[kA], b[kA], c[kA], c[kB]]).toEqual([0, 1, 2, 0]);
    const seen: string[] = [];
    for (const member of first) {
      seen.push(member.name);
      first.delete(a);
    }
    expect(seen).toEqual(['a', 'b', 'c']);
    // The last member moved into the gap, and knows it.
    expect(first.values().map((m) => m.name)).toEqual(['c', 'b']);
    expect([a[kA], c[kA]]).toEqual([-1, 0]);
    first.delete(a);
    second.delete(a);
    expect(first.size).toBe(2);
    expect(second.values()).toEqual([c]);
    second.delete(c);
    expect(second.size).toBe(0);
    expect(first.values()).toEqual([c, b]);
  });
});

interface Member {
  readonly id: number;
  readonly payload: number[];
}

/**
 * The old-generation collections while a collection takes in and lets go of 300,000 members
 * of eight kilobytes each, ten present at a time, as a connection's streams or a server's
 * connections come and go, after a full GC has moved the collection to the old generation. A
 * `Map` or `Set` then keeps every member alive until the next one (see core/table.ts), so they
 * come again and again.
 */
async function oldCollections<K>(collection: {
  open(member: Member): K;
  close(key: K): void;
}): Promise<number> {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const present: K[] = [];
  let id = 1;
  const churn = (members: number) => {
    for (let n = 0; n < members; n++) {
      present.push(collection.open({ id, payload: new Array<number>(1024).fill(n) }));
      id += 2;
      if (present.length > 10) collection.close(present.shift()!);
    }
  };
  churn(1000);
  gc();
  let count = 0;
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = (entry as { detail?: { kind?: number } }).detail?.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) count++;
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  churn(300_000);
  await new Promise((resolve) => setTimeout(resolve, 50));
  observer.disconnect();
  return count;
}
