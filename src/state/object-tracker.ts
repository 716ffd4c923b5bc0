// The generic half of the change trackers: the latest object per key, the object as of the last sync
// ("synced"), and the set of keys where the two differ in content. A change that is undone before a
// sync (added then deleted, updated then updated back) leaves no pending key behind.

import type { ObjectMeta } from '../model/api.js';
import { contentDigest } from './signature.js';

/** One object's change since the last sync. previous: as synced (undefined = did not exist); current: now. */
export interface ObjectChange<T> {
  key: string;
  previous: T | undefined;
  current: T | undefined;
}

export interface Entry<T> {
  obj: T;
  /** contentDigest() of the object's signature: compared, never read back. */
  sig: string;
}

/** "namespace/name" of an API object, or undefined when it has no usable name. */
export function objectKey(obj: unknown): string | undefined {
  if (typeof obj !== 'object' || obj === null) return undefined;
  const meta = (obj as { metadata?: ObjectMeta }).metadata;
  if (typeof meta !== 'object' || meta === null) return undefined;
  const name = meta.name;
  if (typeof name !== 'string' || name === '') return undefined;
  const ns = typeof meta.namespace === 'string' ? meta.namespace : '';
  return `${ns}/${name}`;
}

export class ObjectTracker<T> {
  private readonly current = new Map<string, Entry<T>>();
  private readonly synced = new Map<string, Entry<T>>();
  private readonly pendingKeys = new Set<string>();
  private unsignable = 0;

  constructor(private readonly signature: (obj: T) => string) {}

  /** Records the object's latest state (undefined = deleted). Returns whether its content changed. */
  set(key: string, obj: T | undefined): boolean {
    const before = this.current.get(key);
    let changed: boolean;
    if (obj === undefined) {
      changed = before !== undefined;
      this.current.delete(key);
    } else {
      const entry = { obj, sig: this.sign(obj) };
      changed = before === undefined || before.sig !== entry.sig;
      this.current.set(key, entry);
    }
    this.refresh(key);
    return changed;
  }

  get(key: string): T | undefined {
    return this.current.get(key)?.obj;
  }
  entry(key: string): Entry<T> | undefined {
    return this.current.get(key);
  }
  syncedEntry(key: string): Entry<T> | undefined {
    return this.synced.get(key);
  }
  values(): T[] {
    return [...this.current.values()].map((e) => e.obj);
  }
  keys(): string[] {
    return [...this.current.keys()];
  }
  get size(): number {
    return this.current.size;
  }

  isPending(key: string): boolean {
    return this.pendingKeys.has(key);
  }
  pending(): string[] {
    return [...this.pendingKeys].sort();
  }
  get pendingCount(): number {
    return this.pendingKeys.size;
  }

  /** The change of one key (pending or not). */
  change(key: string): ObjectChange<T> {
    return { key, previous: this.synced.get(key)?.obj, current: this.current.get(key)?.obj };
  }

  /** Marks the current content of these keys as synced. */
  commit(keys: Iterable<string>): void {
    for (const key of keys) {
      const cur = this.current.get(key);
      if (cur) this.synced.set(key, cur);
      else this.synced.delete(key);
      this.pendingKeys.delete(key);
    }
  }

  /** Undoes commit() for a change whose sync failed: its `previous` becomes the synced state again. */
  restore(change: ObjectChange<T>): void {
    if (change.previous === undefined) this.synced.delete(change.key);
    else this.synced.set(change.key, { obj: change.previous, sig: this.sign(change.previous) });
    this.refresh(change.key);
  }

  private refresh(key: string): void {
    const a = this.current.get(key);
    const b = this.synced.get(key);
    const same = a === undefined ? b === undefined : b !== undefined && a.sig === b.sig;
    if (same) this.pendingKeys.delete(key);
    else this.pendingKeys.add(key);
  }

  private sign(obj: T): string {
    try {
      return contentDigest(this.signature(obj));
    } catch {
      // A signature must never break tracking: an unsignable object always counts as changed.
      return `unsignable:${++this.unsignable}`;
    }
  }
}
