// A RefCountedIndex of set members (or kube-ipvs0 addresses) that also knows their canonical forms
// (model/canonical.ts), kept up to date one member at a time. When build() hands out a new list, the planner is
// told its canonical members with it, so a plan after a Service change costs a copy of one set's members rather
// than a parse of every member of that set (about 1 us each: 12 ms for a 10,000-Service KUBE-CLUSTER-IP set).

import { RefCountedIndex, type SortedIndex } from './sorted-index.js';

export class MemberIndex {
  private readonly refs: RefCountedIndex<string>;
  /** canonical form -> how many members have it (1 unless two texts print the same member). */
  private readonly canonical = new Map<string, number>();
  /** Members without a canonical form: while there are any, the planner normalises (and diagnoses) itself. */
  private odd = 0;
  private lastList: readonly string[] | undefined;

  /**
   * @param canonicalize the member's canonical text, undefined when it has none
   * @param register records a frozen list's canonical members for the planner
   */
  constructor(
    private readonly canonicalize: (text: string) => string | undefined,
    private readonly register: (list: readonly string[], members: ReadonlySet<string>) => void,
    tracking = true,
  ) {
    this.refs = new RefCountedIndex<string>(tracking);
  }

  /** The sorted index underneath (changes, dirty flag). */
  get index(): SortedIndex<string> {
    return this.refs.index;
  }

  get size(): number {
    return this.refs.size;
  }

  /** Returns true when the member became present. */
  add(key: string, text: string): boolean {
    if (!this.refs.add(key, text)) return false;
    const c = this.canonicalize(text);
    if (c === undefined) this.odd++;
    else this.canonical.set(c, (this.canonical.get(c) ?? 0) + 1);
    return true;
  }

  /** Returns true when the member disappeared. */
  remove(key: string): boolean {
    const text = this.refs.index.get(key);
    if (!this.refs.remove(key)) return false;
    const c = text === undefined ? undefined : this.canonicalize(text);
    if (c === undefined) this.odd--;
    else {
      const n = this.canonical.get(c) ?? 0;
      if (n > 1) this.canonical.set(c, n - 1);
      else this.canonical.delete(c);
    }
    return true;
  }

  /** The members in key order (frozen, the same array until something changes). */
  list(): string[] {
    const list = this.refs.index.list();
    if (list !== this.lastList) {
      this.lastList = list;
      if (this.odd === 0) this.register(list, new Set(this.canonical.keys()));
    }
    return list;
  }
}
