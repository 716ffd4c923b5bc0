// A multimap from a group key to member keys ("ns/service" -> its "ns/slice" keys) for groups that almost always
// have exactly one member. A one-member group is stored as the member string itself and becomes a Set only from
// the second member on: at 10,000 Services a Set per Service costs about 1.5 MB per index, the string nothing
// (the member key is already held by the tracker).

export class GroupIndex {
  private readonly groups = new Map<string, string | Set<string>>();

  add(group: string | undefined, key: string): void {
    if (group === undefined) return;
    const g = this.groups.get(group);
    if (g === undefined) this.groups.set(group, key);
    else if (typeof g === 'string') {
      if (g !== key) this.groups.set(group, new Set([g, key]));
    } else g.add(key);
  }

  remove(group: string | undefined, key: string): void {
    if (group === undefined) return;
    const g = this.groups.get(group);
    if (g === undefined) return;
    if (typeof g === 'string') {
      if (g === key) this.groups.delete(group);
      return;
    }
    g.delete(key);
    // Back to the compact form when one member is left.
    if (g.size === 1) this.groups.set(group, g.values().next().value as string);
    else if (g.size === 0) this.groups.delete(group);
  }

  /** The members of a group, in insertion order ([] for an unknown group). */
  members(group: string): string[] {
    const g = this.groups.get(group);
    if (g === undefined) return [];
    return typeof g === 'string' ? [g] : [...g];
  }

  /** Number of groups. */
  get size(): number {
    return this.groups.size;
  }
}
