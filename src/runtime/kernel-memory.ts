// What a partial sync takes as "the kernel's" sets and tables without reading them: what the previous sync left,
// updated with the ops the kernel accepted since. Pure.
//
// Copy-on-write per set: a set no op touched keeps the very same frozen entries array, which the planner has
// already normalised (plan/normalize.ts remembers frozen arrays), so an event-driven sync costs what changed and
// not the 10^4-10^5 members the node holds. A touched set gets a new sorted array whose canonical members are
// handed to the planner with it (no parse). Replaces a whole-state re-simulation that cost 20-45 ms per sync at
// 10,000 Services.

import { normaliseRestoreTable } from '../kernel/iptables-normalise.js';
import type { IpsetState, IptablesTables } from '../model/state.js';
import type { Op } from '../plan/ops.js';
import { canonicalEntries, freezeCanonicalEntries, normalizeIpsetEntry } from '../model/canonical.js';
import { compareStrings } from '../plan/normalize.js';
import { lowerBound } from '../util/sorted.js';

export interface KernelMemory {
  ipsets: Record<string, IpsetState>;
  iptables: { ipv4: IptablesTables; ipv6: IptablesTables };
}

interface SetChange {
  created?: { type: IpsetState['type']; family: IpsetState['family'] };
  add: string[];
  del: string[];
}

/** Entries arrays made here: frozen, sorted, canonical. */
const made = new WeakSet<readonly string[]>();

function canonicalList(type: string, sorted: string[], members: ReadonlySet<string>): string[] {
  const list = freezeCanonicalEntries(type, sorted, members);
  made.add(list);
  return list;
}

/**
 * The memory after `applied` (ops the kernel accepted, in order) ran on `before`. Only ipset and
 * iptables-restore ops matter; others are ignored. `before` is not modified.
 */
export function rememberApplied(before: KernelMemory, applied: readonly Op[]): KernelMemory {
  const changes = new Map<string, SetChange>();
  const change = (set: string): SetChange => {
    let c = changes.get(set);
    if (!c) changes.set(set, (c = { add: [], del: [] }));
    return c;
  };
  const iptables = { ipv4: { ...before.iptables.ipv4 }, ipv6: { ...before.iptables.ipv6 } };
  for (const op of applied) {
    if (op.kind === 'ipset-create') {
      // `ipset create -exist` of a set that exists with this type and family changes nothing.
      if (!before.ipsets[op.set] && !changes.get(op.set)?.created) change(op.set).created = { type: op.type, family: op.family };
    } else if (op.kind === 'ipset-add') change(op.set).add.push(op.entry);
    else if (op.kind === 'ipset-del') change(op.set).del.push(op.entry);
    else if (op.kind === 'iptables-restore') {
      // Kept in the form iptables-save prints (what observe returns), so equal tables compare equal next time.
      const norm = normaliseRestoreTable(op.text, op.family === 'ipv4' ? 4 : 6);
      iptables[op.family][op.table] = norm.problems.length === 0 ? norm.text : op.text;
    }
  }
  if (changes.size === 0) return { ipsets: before.ipsets, iptables };

  const ipsets = { ...before.ipsets };
  for (const [name, c] of changes) {
    const prev = ipsets[name] ?? (c.created ? { ...c.created, entries: [] } : undefined);
    if (!prev) continue; // members of a set the kernel does not have cannot have been applied
    const type = prev.type;
    const members = new Set(canonicalEntries(type, prev.entries));
    // Arrays this module made are canonical and sorted: copy one; anything else is rebuilt from its members.
    const list = made.has(prev.entries) ? [...prev.entries] : [...members].sort(compareStrings);
    // Adds and deletes apply in op order; the planner never emits both for one member in a sync.
    const edits = c.add.length + c.del.length;
    for (const raw of c.del) {
      const e = normalizeIpsetEntry(type, raw) ?? raw.trim();
      if (!members.delete(e)) continue;
      if (edits <= 64) {
        const i = lowerBound(list, e);
        if (list[i] === e) list.splice(i, 1);
      }
    }
    for (const raw of c.add) {
      const e = normalizeIpsetEntry(type, raw) ?? raw.trim();
      if (members.has(e)) continue;
      members.add(e);
      if (edits <= 64) list.splice(lowerBound(list, e), 0, e);
    }
    const entries = edits <= 64 ? list : [...members].sort(compareStrings);
    ipsets[name] = { type, family: prev.family, entries: canonicalList(type, entries, members) };
  }
  return { ipsets, iptables };
}

/** The memory a full sync starts from: what it observed (copied, so the caller's arrays stay unfrozen). */
export function memoryFromObserved(ipsets: Record<string, IpsetState>, iptables: KernelMemory['iptables']): KernelMemory {
  const out: Record<string, IpsetState> = {};
  for (const [name, s] of Object.entries(ipsets)) {
    const members = canonicalEntries(s.type, s.entries);
    out[name] = { type: s.type, family: s.family, entries: canonicalList(s.type, [...members].sort(compareStrings), members) };
  }
  return { ipsets: out, iptables: { ipv4: { ...iptables.ipv4 }, ipv6: { ...iptables.ipv6 } } };
}
