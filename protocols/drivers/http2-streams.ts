import type { ServerHttp2Session } from 'node:http2';
import { isMap } from 'node:util/types';
import { StreamTable } from '../../core/table.js';

/**
 * node:http2 keeps each session's open streams in a private `Map`, which V8 chains into
 * promoting every stream of a long session (docs/internals.md, "Stream tables").
 * {@link unchainStreams} gives a session a Map-shaped table built on {@link StreamTable}
 * instead. It reaches into node's private state, so it does so only on the node versions the
 * suite runs on ({@link TESTED}), where node uses the field as a `Map` through
 * {@link StreamMap}'s interface; elsewhere node keeps its own.
 */
/** The node majors whose http2 internals the suite checks this against. */
const TESTED = new Set([20, 22, 24]);
const MAJOR = Number(process.versions.node.split('.')[0]);

interface Entry<V> {
  readonly id: number;
  readonly value: V;
}

/** A `Map` by stream id, with a `Map`'s interface, on a {@link StreamTable}. */
export class StreamMap<V> implements Map<number, V> {
  private readonly table = new StreamTable<Entry<V>>();

  get size(): number {
    return this.table.size;
  }

  get [Symbol.toStringTag](): string {
    return 'StreamMap';
  }

  get(id: number): V | undefined {
    return this.table.get(id)?.value;
  }

  has(id: number): boolean {
    return this.table.has(id);
  }

  set(id: number, value: V): this {
    this.table.set({ id, value });
    return this;
  }

  delete(id: number): boolean {
    return this.table.delete(id);
  }

  clear(): void {
    for (const entry of this.table.values()) this.table.delete(entry.id);
  }

  /** Visits the entries present when it starts, skipping those deleted before their turn. */
  forEach(callback: (value: V, id: number, map: Map<number, V>) => void, self?: unknown): void {
    for (const entry of this.table.values()) {
      if (this.table.get(entry.id) === entry) callback.call(self, entry.value, entry.id, this);
    }
  }

  *entries(): MapIterator<[number, V]> {
    for (const entry of this.table.values()) {
      if (this.table.get(entry.id) === entry) yield [entry.id, entry.value];
    }
  }

  *keys(): MapIterator<number> {
    for (const [id] of this.entries()) yield id;
  }

  *values(): MapIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  [Symbol.iterator](): MapIterator<[number, V]> {
    return this.entries();
  }
}

/**
 * Replaces node's stream `Map` of a session just created (before it has read a frame) by a
 * {@link StreamMap}. Returns whether it did: not on an untested node version, nor where the
 * private field is not what it was.
 */
export function unchainStreams(session: ServerHttp2Session): boolean {
  if (!TESTED.has(MAJOR)) return false;
  const key = Object.getOwnPropertySymbols(session).find(
    (symbol) => symbol.description === 'state',
  );
  if (key === undefined) return false;
  const state = (session as unknown as Record<symbol, unknown>)[key];
  if (typeof state !== 'object' || state === null || !('streams' in state)) return false;
  const streams = state.streams;
  // node's Map is a primordials `SafeMap`, whose prototype chain does not reach `Map`.
  if (!isMap(streams) || streams.size !== 0) return false;
  state.streams = new StreamMap();
  return true;
}
