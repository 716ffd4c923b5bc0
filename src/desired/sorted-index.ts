// Keyed collections that keep a sorted list cheaply under small changes, and remember what changed.
//
// SortedIndex: key -> value, keys are sort keys (model/order.ts). `list()` returns the values in key order; a
// list handed out is never mutated afterwards, and is handed out again as long as nothing changed. A few changes
// are applied by binary search; many (a full rebuild) by one sort. `takeChanges()` reports what was added,
// removed or updated since the previous call, net of changes that cancelled out.
// RefCountedIndex: the same for values several owners may put in (ipset entries, addresses, diagnostics).

import { lowerBound } from '../util/sorted.js';

export interface IndexChanges<V> {
  added: V[];
  removed: V[];
  updated: V[];
}

export class SortedIndex<V> {
  /** @param tracking remember changes for takeChanges() (off: less memory and time for one-shot builds). */
  constructor(private readonly tracking = true) {}

  private readonly map = new Map<string, V>();
  private keys: string[] = [];
  private values: V[] = [];
  private readonly pending = new Set<string>();
  /** Too many pending changes to apply one by one: list() re-sorts everything (and `pending` is not kept). */
  private rebuild = false;
  private snapshot: V[] = [];
  /** Value of each key touched since the last takeChanges() (undefined = was absent). */
  private readonly before = new Map<string, V | undefined>();

  get size(): number {
    return this.map.size;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  get(key: string): V | undefined {
    return this.map.get(key);
  }

  set(key: string, value: V): void {
    if (this.tracking && !this.before.has(key)) this.before.set(key, this.map.get(key));
    this.map.set(key, value);
    this.touch(key);
  }

  private touch(key: string): void {
    if (this.rebuild) return;
    this.pending.add(key);
    if (this.pending.size > 64 && this.pending.size * 8 > this.keys.length) {
      this.rebuild = true;
      this.pending.clear();
    }
  }

  delete(key: string): void {
    if (!this.map.has(key)) return;
    if (this.tracking && !this.before.has(key)) this.before.set(key, this.map.get(key));
    this.map.delete(key);
    this.touch(key);
  }

  /** True when list() would return a different list than last time. */
  get dirty(): boolean {
    return this.rebuild || this.pending.size > 0;
  }

  /** Values in key order (frozen; the same array until something changes). */
  list(): V[] {
    if (!this.dirty) return this.snapshot;
    if (this.rebuild) {
      this.keys = [...this.map.keys()].sort();
      this.values = this.keys.map((k) => this.map.get(k)!);
      this.rebuild = false;
    } else {
      for (const k of this.pending) {
        const i = lowerBound(this.keys, k);
        const present = i < this.keys.length && this.keys[i] === k;
        const v = this.map.get(k);
        if (v !== undefined) {
          if (present) this.values[i] = v;
          else {
            this.keys.splice(i, 0, k);
            this.values.splice(i, 0, v);
          }
        } else if (present) {
          this.keys.splice(i, 1);
          this.values.splice(i, 1);
        }
      }
    }
    this.pending.clear();
    // Frozen: the planner remembers what it derived from a frozen list (plan/normalize.ts) for as long as the
    // same list is handed out, which is what lets an event-driven plan skip the unchanged sets.
    this.snapshot = Object.freeze(this.values.slice()) as V[];
    return this.snapshot;
  }

  /** Net changes since the previous call, each list in key order. */
  takeChanges(same: (a: V, b: V) => boolean): IndexChanges<V> {
    const changes: IndexChanges<V> = { added: [], removed: [], updated: [] };
    const touched = [...this.before.keys()].sort();
    for (const k of touched) {
      const was = this.before.get(k);
      const now = this.map.get(k);
      if (was === undefined && now !== undefined) changes.added.push(now);
      else if (was !== undefined && now === undefined) changes.removed.push(was);
      else if (was !== undefined && now !== undefined && !same(was, now)) changes.updated.push(now);
    }
    this.before.clear();
    return changes;
  }
}

export class RefCountedIndex<V> {
  readonly index: SortedIndex<V>;
  /** Owner counts above 1 (a key in the index and not here has one owner). */
  private readonly extra = new Map<string, number>();

  constructor(tracking = true) {
    this.index = new SortedIndex<V>(tracking);
  }

  get size(): number {
    return this.index.size;
  }

  /** Returns true when the value became present. */
  add(key: string, value: V): boolean {
    if (!this.index.has(key)) {
      this.index.set(key, value);
      return true;
    }
    this.extra.set(key, (this.extra.get(key) ?? 1) + 1);
    return false;
  }

  /** Returns true when the value disappeared. */
  remove(key: string): boolean {
    const c = this.extra.get(key);
    if (c !== undefined) {
      if (c > 2) this.extra.set(key, c - 1);
      else this.extra.delete(key);
      return false;
    }
    if (!this.index.has(key)) return false;
    this.index.delete(key);
    return true;
  }
}
