/**
 * The open streams of one connection, by id: a lone stream kept as it is (HTTP/1.1 has one open
 * at a time), and from the second on a {@link Streams}, in one field. A class that keeps one
 * table for its whole life (a connection, a router: an idle WebSocket holds one of each)
 * extends this one and uses its protected methods, so the table costs it that field alone,
 * not an object of its own and a field pointing to it; {@link StreamTable} is the same table
 * as an object.
 */
export abstract class StreamSlots<S extends { readonly id: number }> {
  private entries: S | Streams<S> | null = null;

  /** The number of open streams. */
  protected get streamCount(): number {
    const entries = this.entries;
    if (entries === null) return 0;
    return entries instanceof Streams ? entries.size : 1;
  }

  /** The stream with `id`, if open. */
  protected streamOf(id: number): S | undefined {
    const entries = this.entries;
    if (entries === null) return undefined;
    // A `Streams` has no id (NaN), so one comparison finds a lone stream.
    if (entries.id === id) return entries as S;
    return entries instanceof Streams ? entries.get(id) : undefined;
  }

  /** Whether a stream with `id` is open. */
  protected hasStream(id: number): boolean {
    return this.streamOf(id) !== undefined;
  }

  /** Adds `value`, or replaces the stream with its id. */
  protected addStream(value: S): void {
    const entries = this.entries;
    if (entries === null || entries.id === value.id) {
      this.entries = value;
      return;
    }
    if (entries instanceof Streams) {
      entries.set(value);
      return;
    }
    // A second stream: the table grows its array, and keeps it (HTTP/2 opens and closes many).
    const streams = new Streams<S>();
    streams.set(entries);
    streams.set(value);
    this.entries = streams;
  }

  /** Removes the stream with `id`; says whether there was one. */
  protected dropStream(id: number): boolean {
    const entries = this.entries;
    if (entries === null) return false;
    if (entries.id === id) {
      this.entries = null;
      return true;
    }
    return entries instanceof Streams ? entries.delete(id) : false;
  }

  /** A snapshot of the open streams, safe to iterate while they close. */
  protected streamList(): S[] {
    const entries = this.entries;
    if (entries === null) return [];
    return entries instanceof Streams ? entries.values() : [entries];
  }
}

/** A {@link StreamSlots} table as an object of its own. */
export class StreamTable<S extends { readonly id: number }> extends StreamSlots<S> {
  get size(): number {
    return this.streamCount;
  }

  get(id: number): S | undefined {
    return this.streamOf(id);
  }

  has(id: number): boolean {
    return this.hasStream(id);
  }

  set(value: S): void {
    this.addStream(value);
  }

  /** Removes the stream with `id`; says whether there was one. */
  delete(id: number): boolean {
    return this.dropStream(id);
  }

  /** A snapshot of the open streams, safe to iterate while they close. */
  values(): S[] {
    return this.streamList();
  }
}

/**
 * The streams of a table that has had more than one: the first in a slot of its own, the others
 * in an open-addressed array (linear probing, deletion by backward shift), not a `Map`, which V8
 * would chain into promoting every stream (docs/internals.md, "Stream tables"). Its length
 * stays under eight times the number of open streams (and at least {@link MIN_CAPACITY}), which
 * the drivers bound.
 */
class Streams<S extends { readonly id: number }> {
  /** Never a stream's: `StreamTable` tells this object from a stream by it. */
  readonly id = Number.NaN;
  private first: S | null = null;
  private slots: (S | null)[] | null = null;
  private count = 0;

  get size(): number {
    return (this.first === null ? 0 : 1) + this.count;
  }

  get(id: number): S | undefined {
    const first = this.first;
    if (first !== null && first.id === id) return first;
    const slots = this.slots;
    if (slots === null) return undefined;
    const mask = slots.length - 1;
    for (let i = slotOf(id, slots.length); ; i = (i + 1) & mask) {
      const entry = slots[i];
      if (entry === null) return undefined;
      if (entry.id === id) return entry;
    }
  }

  set(value: S): void {
    if (this.first === null || this.first.id === value.id) {
      if (this.first === null && this.count > 0) this.remove(value.id);
      this.first = value;
      return;
    }
    let slots = this.slots;
    if (slots === null || (this.count + 1) * 2 > slots.length) {
      slots = this.resize(slots === null ? MIN_CAPACITY : slots.length * 2);
    }
    const mask = slots.length - 1;
    let i = slotOf(value.id, slots.length);
    for (let entry = slots[i]; entry !== null; entry = slots[i]) {
      if (entry.id === value.id) {
        slots[i] = value;
        return;
      }
      i = (i + 1) & mask;
    }
    slots[i] = value;
    this.count++;
  }

  /** Removes the stream with `id`; says whether there was one. */
  delete(id: number): boolean {
    if (this.first !== null && this.first.id === id) {
      this.first = null;
      return true;
    }
    return this.remove(id);
  }

  /** A snapshot of the open streams, safe to iterate while they close. */
  values(): S[] {
    const list: S[] = this.first === null ? [] : [this.first];
    if (this.slots !== null) {
      for (const entry of this.slots) if (entry !== null) list.push(entry);
    }
    return list;
  }

  private remove(id: number): boolean {
    const slots = this.slots;
    if (slots === null) return false;
    const mask = slots.length - 1;
    let hole = slotOf(id, slots.length);
    for (let entry = slots[hole]; ; entry = slots[hole]) {
      if (entry === null) return false;
      if (entry.id === id) break;
      hole = (hole + 1) & mask;
    }
    // Backward shift: later entries of the same probe run move up into the hole, so a lookup
    // never stops early at an emptied slot.
    for (let i = (hole + 1) & mask; ; i = (i + 1) & mask) {
      const entry = slots[i];
      if (entry === null) break;
      const home = slotOf(entry.id, slots.length);
      // The entry may move to the hole unless its home lies cyclically in (hole, i].
      if (hole <= i ? home <= hole || home > i : home <= hole && home > i) {
        slots[hole] = entry;
        hole = i;
      }
    }
    slots[hole] = null;
    this.count--;
    if (slots.length > MIN_CAPACITY && this.count * 8 <= slots.length) {
      this.resize(slots.length / 2);
    }
    return true;
  }

  private resize(capacity: number): (S | null)[] {
    const old = this.slots;
    const slots = new Array<S | null>(capacity).fill(null);
    this.slots = slots;
    if (old !== null) {
      const mask = capacity - 1;
      for (const entry of old) {
        if (entry === null) continue;
        let i = slotOf(entry.id, capacity);
        while (slots[i] !== null) i = (i + 1) & mask;
        slots[i] = entry;
      }
    }
    return slots;
  }
}

/** The smallest array the table makes; a power of two, as every capacity is. */
const MIN_CAPACITY = 16;

/**
 * Fibonacci hashing: ids that step by 1 or 2 (HTTP/2's odd and even ids) spread evenly. The
 * slot is the hash's top log2(`capacity`) bits (a power of two: `clz32` gives 32 minus its log2,
 * less one), so the table keeps no shift of its own.
 */
function slotOf(id: number, capacity: number): number {
  return Math.imul(id, 0x9e3779b1) >>> (Math.clz32(capacity) + 1);
}

/**
 * A member's place in a {@link Roster}: what `add` returns and `delete` takes. A class, not an
 * object literal: V8 may allocate a literal's objects straight in the old generation once they
 * are seen to outlive a minor collection (allocation-site pretenuring), and an old entry holds
 * its member, and all the member holds, through every minor collection until a mark-compact.
 * docs/internals.md, "Per-connection objects are class instances".
 */
export class RosterEntry<T> {
  constructor(
    readonly value: T,
    /** Where it is in the roster's array; -1 once deleted. */
    public index: number,
  ) {}
}

/**
 * The live members of a server (its sockets, its connections), to count, iterate and remove
 * one by one. Not a `Set`, for the reason {@link StreamTable} is not a `Map`: a server that
 * opens and closes a connection per request would otherwise promote every connection's objects
 * once a mark-compact has run. An array with each member's index in its entry; removal moves
 * the last member into the gap.
 */
export class Roster<T> {
  private readonly entries: RosterEntry<T>[] = [];

  get size(): number {
    return this.entries.length;
  }

  add(value: T): RosterEntry<T> {
    const entry = new RosterEntry(value, this.entries.length);
    this.entries.push(entry);
    return entry;
  }

  /** Removes a member; removing one twice does nothing. */
  delete(entry: RosterEntry<T>): void {
    const index = entry.index;
    if (index < 0) return;
    entry.index = -1;
    const last = this.entries.pop()!;
    if (last !== entry) {
      this.entries[index] = last;
      last.index = index;
    }
  }

  /** The first member's entry (in no set order) that `test` accepts. */
  find(test: (value: T) => boolean): RosterEntry<T> | undefined {
    return this.entries.find((entry) => test(entry.value));
  }

  /** A snapshot of the members, safe to iterate while they leave. */
  values(): T[] {
    return this.entries.map((entry) => entry.value);
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }
}

/**
 * A {@link Roster} whose members keep their own place in it, as a number under `key`: no entry
 * object per member (40 bytes held for as long as it is a member, which for a socket, a
 * connection or a WebSocket session is its whole life). A member may belong to several such
 * rosters under different keys.
 */
export class IndexedRoster<T extends object> {
  private readonly members: T[] = [];

  constructor(private readonly key: PropertyKey) {}

  get size(): number {
    return this.members.length;
  }

  add(value: T): void {
    this.place(value, this.members.length);
    this.members.push(value);
  }

  /** Removes a member; removing one twice, or one that is not a member, does nothing. */
  delete(value: T): void {
    const index = this.placeOf(value);
    if (index === undefined || index < 0 || this.members[index] !== value) return;
    this.place(value, -1);
    const last = this.members.pop()!;
    if (last !== value) {
      this.members[index] = last;
      this.place(last, index);
    }
  }

  /** A snapshot of the members, safe to iterate while they leave. */
  values(): T[] {
    return this.members.slice();
  }

  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }

  /**
   * The member's place, under `key`. A subclass whose members are all of one kind may read and
   * write its own constant key instead: this store is shared by every roster, so it sees every
   * kind of member, and V8 handles it generically (megamorphic).
   */
  protected placeOf(member: T): number | undefined {
    return (member as Record<PropertyKey, number | undefined>)[this.key];
  }

  protected place(member: T, index: number): void {
    (member as Record<PropertyKey, number>)[this.key] = index;
  }
}
