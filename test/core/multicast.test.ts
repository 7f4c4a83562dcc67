import { take } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { Multicast } from '../../core/multicast.js';

describe('Multicast', () => {
  it('gives every value to every subscriber, in order', () => {
    const source = new Multicast<number>();
    const a: number[] = [];
    const b: number[] = [];
    source.observable.subscribe((v) => a.push(v));
    source.deliver(1);
    source.observable.subscribe((v) => b.push(v));
    source.deliver(2);
    expect(a).toEqual([1, 2]);
    expect(b).toEqual([2]);
  });

  it('loops over a snapshot: a subscriber that leaves or joins during next does not skip others', () => {
    const source = new Multicast<number>();
    const seen: string[] = [];
    source.observable.pipe(take(1)).subscribe((v) => seen.push(`once ${v}`));
    source.observable.subscribe((v) => {
      seen.push(`always ${v}`);
      if (v === 1) source.observable.subscribe((w) => seen.push(`late ${w}`));
    });
    source.deliver(1);
    source.deliver(2);
    expect(seen).toEqual(['once 1', 'always 1', 'always 2', 'late 2']);
  });

  it('completes its subscribers once, and a later subscriber at once', () => {
    const source = new Multicast<number>();
    let completed = 0;
    source.observable.subscribe({ complete: () => completed++ });
    source.end();
    source.end();
    source.deliver(3);
    source.observable.subscribe({ complete: () => completed++ });
    expect(completed).toBe(2);
  });

  it('forgets a subscriber that unsubscribed', () => {
    const source = new Multicast<number>();
    const seen: number[] = [];
    const subscription = source.observable.subscribe((v) => seen.push(v));
    source.deliver(1);
    subscription.unsubscribe();
    source.deliver(2);
    expect(seen).toEqual([1]);
  });
});
