// What the caller (the runtime syncer, `kube-ipvs plan`, tests) tells the planner beyond the two states.
// Everything is optional; the defaults are kube-proxy's behaviour for a full sync.

import type { NodeState } from '../model/state.js';
import { DUMMY_INTERFACE, virtualServerKey } from '../model/state.js';
import { normalizeAddress, normalizeIpsetEntry, normalizeProtocol } from './normalize.js';
import type { FamilyName, TableName } from './ops.js';
import { realServerRefKey } from './ops.js';

/**
 * What a partial (event-driven) plan considers. Objects outside the scope are neither added, changed nor
 * deleted, on either side. A category left out means "none of it" (iptables: compared unless false).
 * Build it with scopeOf() from the per-service slices of the previous and the new desired state: the
 * union of both covers what a changed Service added, changed and dropped.
 * The `desired` passed with a scope must still be the WHOLE node's desired state, so that an object two
 * Services share (an address, a set entry) is not deleted because one of them went away.
 */
export interface PlanScope {
  /** Virtual server keys ("TCP/10.96.0.10:80"), with all their real servers. */
  virtualServers?: Iterable<string>;
  /** kube-ipvs0 addresses. */
  addresses?: Iterable<string>;
  /** Set members as printable lines: "KUBE-CLUSTER-IP 10.96.0.10,tcp:80". */
  ipsetEntries?: Iterable<string>;
  /** Compare the iptables tables too (cheap: one text comparison per table). Default true. */
  iptables?: boolean;
}

export interface IptablesTableRef {
  family: FamilyName;
  table: TableName;
}

export interface PlanOptions {
  /** --ipvs-exclude-cidrs: virtual servers and kube-ipvs0 addresses inside them are never deleted. */
  excludeCIDRs?: readonly string[];
  /** The node's own addresses (all interfaces but kube-ipvs0): NodePort virtual servers live on them,
   *  so a virtual server on one of them is kube-ipvs's to delete. */
  nodeAddresses?: readonly string[];
  /** Weight-0 drain of removed TCP real servers with connections (kube-proxy §4.4). Default true. */
  gracefulTermination?: boolean;
  /** The controller's drain deadline: true when the drain of this real server must end now.
   *  Keys as virtualServerKey / realServerKey. Must be pure; a throw counts as "not expired". */
  drainExpired?: (vsKey: string, rsKey: string) => boolean;
  /** Same as drainExpired, as data: realServerRefKey(vsKey, rsKey) of every drain whose deadline passed. */
  expiredDrains?: Iterable<string>;
  /** First sync after start: kube-proxy's initialSync (reset weights of existing real servers). kube-ipvs
   *  compares weights on every sync anyway; initialSync also ignores `scope` (a restart heals everything)
   *  and labels the weight resets 'initial-sync'. */
  initialSync?: boolean;
  /** Partial plan; see PlanScope. Undefined = the whole node. */
  scope?: PlanScope;
  /** Decides whether the kernel's table text already equals the desired one (after whatever normalisation
   *  the iptables driver applies). Default: plain string equality. A throw counts as "differs". */
  iptablesEqual?: (desired: string, observed: string, where: IptablesTableRef) => boolean;
  /** Emit ensure-link even when no address is added (kube-proxy ensures kube-ipvs0 every sync). */
  ensureLink?: boolean;
  /** Emit ensure-jump-rules for every table kube-ipvs wants, even when no table is rewritten (full syncs:
   *  heals a jump rule someone deleted; the state has no field for built-in chains). */
  ensureJumpRules?: boolean;
  /** Allow deletions (and drains). False until every informer has synced once: an empty cache must
   *  never flush a node (principle 3). Default true. */
  prune?: boolean;
}

/** A scope with every category as a Set of canonical keys. */
export interface ResolvedScope {
  virtualServers: Set<string>;
  addresses: Set<string>;
  /** set name -> raw entries (normalised against the set type once it is known). */
  ipsetEntries: Map<string, Set<string>>;
  iptables: boolean;
}

function canonicalVirtualServerKey(key: string): string {
  // "TCP/10.96.0.10:80" or "UDP/[fd00::a]:53"; anything unparsable stays as given (then matches nothing).
  const m = /^([A-Za-z]+)\/(?:\[([^\]]+)\]|([^:/]+)):([0-9]{1,5})$/.exec(key.trim());
  if (!m) return key;
  const protocol = normalizeProtocol(m[1]);
  const address = normalizeAddress(m[2] ?? m[3]);
  const port = Number(m[4]);
  if (!protocol || !address || port > 65535) return key;
  return virtualServerKey({ protocol, address, port });
}

function safeIterate(x: unknown): string[] {
  if (x === undefined || x === null || typeof x === 'string') return [];
  try {
    const out: string[] = [];
    for (const v of x as Iterable<unknown>) if (typeof v === 'string') out.push(v);
    return out;
  } catch {
    return [];
  }
}

export function resolveScope(scope: PlanScope): ResolvedScope {
  const virtualServers = new Set(safeIterate(scope.virtualServers).map(canonicalVirtualServerKey));
  const addresses = new Set<string>();
  for (const a of safeIterate(scope.addresses)) addresses.add(normalizeAddress(a) ?? a);
  const ipsetEntries = new Map<string, Set<string>>();
  for (const line of safeIterate(scope.ipsetEntries)) {
    const t = line.trim();
    const sp = t.indexOf(' ');
    if (sp <= 0) continue;
    const set = t.slice(0, sp);
    const entry = t.slice(sp + 1).trim();
    let s = ipsetEntries.get(set);
    if (!s) ipsetEntries.set(set, (s = new Set()));
    s.add(entry);
  }
  return { virtualServers, addresses, ipsetEntries, iptables: scope.iptables !== false };
}

/** Which members of a set a plan considers: undefined = all of them (no scope). */
export type EntryScope = (set: string, type: string) => ReadonlySet<string> | undefined;

/** The scope's members of each set, in the set type's canonical form (an unparsable one as written,
 *  which can still match an unparsable kernel member). */
export function entryScopeOf(scope: ResolvedScope | undefined): EntryScope {
  if (!scope) return () => undefined;
  return (set, type) => {
    const out = new Set<string>();
    for (const raw of scope.ipsetEntries.get(set) ?? []) out.add(normalizeIpsetEntry(type, raw) ?? raw);
    return out;
  };
}

/**
 * The scope covering every object in the given (partial) states: pass the previous and the new desired
 * slices of the Services that changed. Keys are taken as written there (the planner canonicalises).
 */
export function scopeOf(...parts: readonly Partial<NodeState>[]): PlanScope {
  const virtualServers = new Set<string>();
  const addresses = new Set<string>();
  const ipsetEntries = new Set<string>();
  for (const p of parts) {
    if (!p || typeof p !== 'object') continue;
    for (const vs of Array.isArray(p.ipvs) ? p.ipvs : []) {
      if (vs && typeof vs === 'object' && typeof vs.address === 'string') virtualServers.add(virtualServerKey(vs));
    }
    const addrs = p.addresses?.[DUMMY_INTERFACE];
    for (const a of Array.isArray(addrs) ? addrs : []) if (typeof a === 'string') addresses.add(a);
    for (const [name, set] of Object.entries(p.ipsets ?? {})) {
      for (const e of Array.isArray(set?.entries) ? set.entries : []) if (typeof e === 'string') ipsetEntries.add(`${name} ${e}`);
    }
  }
  return { virtualServers: [...virtualServers].sort(), addresses: [...addresses].sort(), ipsetEntries: [...ipsetEntries].sort() };
}

/** Union of scopes (several changed Services in one sync). */
export function mergeScopes(...scopes: readonly PlanScope[]): PlanScope {
  const v = new Set<string>();
  const a = new Set<string>();
  const e = new Set<string>();
  let iptables = false;
  for (const s of scopes) {
    safeIterate(s.virtualServers).forEach((x) => v.add(x));
    safeIterate(s.addresses).forEach((x) => a.add(x));
    safeIterate(s.ipsetEntries).forEach((x) => e.add(x));
    if (s.iptables !== false) iptables = true;
  }
  return { virtualServers: [...v].sort(), addresses: [...a].sort(), ipsetEntries: [...e].sort(), iptables };
}

/** The drain-expiry test both option forms feed, never throwing. */
export function drainExpiryTest(options: PlanOptions): (vsKey: string, rsKey: string) => boolean {
  const expired = new Set(safeIterate(options.expiredDrains));
  const fn = options.drainExpired;
  return (vsKey, rsKey) => {
    if (expired.has(realServerRefKey(vsKey, rsKey))) return true;
    if (typeof fn !== 'function') return false;
    try {
      return fn(vsKey, rsKey) === true;
    } catch {
      return false;
    }
  };
}
