/**
 * The open streams of one connection, by id. HTTP/1.1 has one stream open at a time almost
 * always, so the first lives in a slot of its own and a Map is made only for the others: a Map
 * that gains and loses a key on every request costs more than the rest of the bookkeeping.
 */
export class StreamTable<S extends { readonly id: number }> {
  private first: S | null = null;
  private others: Map<number, S> | null = null;

  get size(): number {
    return (this.first === null ? 0 : 1) + (this.others?.size ?? 0);
  }

  get(id: number): S | undefined {
    const first = this.first;
    if (first !== null && first.id === id) return first;
    return this.others?.get(id);
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  set(value: S): void {
    if (this.first === null || this.first.id === value.id) {
      this.first = value;
      return;
    }
    this.others ??= new Map();
    this.others.set(value.id, value);
  }

  delete(id: number): void {
    if (this.first !== null && this.first.id === id) this.first = null;
    else this.others?.delete(id);
  }

  /** A snapshot of the open streams, safe to iterate while they close. */
  values(): S[] {
    const list = this.others === null ? [] : [...this.others.values()];
    if (this.first !== null) list.unshift(this.first);
    return list;
  }
}
