// Canonical text of what the planner compares: protocols, addresses, ipset members. The same object must compare
// equal whoever printed it (desired/ builds text, kernel/ reads it back, a file or a test writes it by hand).
// Pure.
//
// Also a memo of frozen lists: an event-driven (scoped) plan must cost what changed, not what the node holds, yet
// it is handed the whole desired state and the syncer's memory of the kernel, both with sets of 10^4-10^5
// members. Their producers (desired/builder.ts, runtime/kernel-memory.ts) hand out FROZEN arrays, keep handing
// out the same ones while nothing changed, and say what their canonical members are when they know it; what
// normalising a frozen list yields is remembered for as long as the list lives. Unfrozen input (tests, files,
// tools) is normalised every time, so a caller that mutates its state in place still gets a correct plan.

import type { Protocol } from './state.js';
import { canonicalIP, formatCIDR, formatIP, parseCIDR, parseIP } from './ip.js';

export type Role = 'desired' | 'observed';

export function normalizeProtocol(x: unknown): Protocol | undefined {
  if (typeof x !== 'string') return undefined;
  const p = x.toUpperCase();
  return p === 'TCP' || p === 'UDP' || p === 'SCTP' ? p : undefined;
}

const CANONICAL_V4 = /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])$/;

/**
 * Canonical host address; a host-length CIDR ("10.0.0.1/32") counts as its address. The fast path
 * (already canonical IPv4, the common case by far) skips the full parse: plans of 100k real servers
 * spend their time here.
 */
export function normalizeAddress(x: unknown): string | undefined {
  if (typeof x !== 'string') return undefined;
  if (CANONICAL_V4.test(x)) return x;
  let t = x.trim();
  const slash = t.indexOf('/');
  if (slash !== -1) {
    const c = parseCIDR(t);
    if (!c || c.prefix !== c.bytes.length * 8) return undefined;
    t = t.slice(0, slash);
  }
  const ip = parseIP(t);
  return ip ? formatIP(ip.bytes) : undefined;
}

function normalizePortPart(part: string): string | undefined {
  const colon = part.indexOf(':');
  const proto = colon === -1 ? 'tcp' : part.slice(0, colon).toLowerCase();
  const portText = colon === -1 ? part : part.slice(colon + 1);
  if (!/^[a-z0-9-]+$/.test(proto) || !/^[0-9]{1,5}$/.test(portText)) return undefined;
  const port = Number(portText);
  return port <= 65535 ? `${proto}:${port}` : undefined;
}

function normalizeNet(part: string): string | undefined {
  if (!part.includes('/')) return canonicalIP(part);
  const c = parseCIDR(part);
  if (!c) return undefined;
  // ipset prints a host-length net as the bare address; use that form on both sides.
  return c.prefix === c.bytes.length * 8 ? formatCIDR(c).replace(/\/[0-9]+$/, '') : formatCIDR(c);
}

/**
 * The canonical text of one set member as `ipset save` prints it: addresses canonical, protocol lower
 * case and explicit ("10.0.0.1,80" is "10.0.0.1,tcp:80"), host-length nets without their prefix.
 * Undefined when the entry does not fit the set type.
 */
export function normalizeIpsetEntry(type: string, entry: unknown): string | undefined {
  if (typeof entry !== 'string') return undefined;
  const e = entry.trim();
  if (e === '') return undefined;
  const parts = e.split(',');
  switch (type) {
    case 'bitmap:port': {
      if (!/^[0-9]{1,5}$/.test(e)) return undefined;
      const n = Number(e);
      return n <= 65535 ? String(n) : undefined;
    }
    case 'hash:ip':
      return parts.length === 1 ? normalizeAddress(e) : undefined;
    case 'hash:ip,port': {
      if (parts.length !== 2) return undefined;
      const ip = normalizeAddress(parts[0]);
      const port = normalizePortPart(parts[1]!);
      return ip && port ? `${ip},${port}` : undefined;
    }
    case 'hash:ip,port,ip': {
      if (parts.length !== 3) return undefined;
      const ip = normalizeAddress(parts[0]);
      const port = normalizePortPart(parts[1]!);
      const ip2 = normalizeAddress(parts[2]);
      return ip && port && ip2 ? `${ip},${port},${ip2}` : undefined;
    }
    case 'hash:ip,port,net': {
      if (parts.length !== 3) return undefined;
      const ip = normalizeAddress(parts[0]);
      const port = normalizePortPart(parts[1]!);
      const net = normalizeNet(parts[2]!);
      return ip && port && net ? `${ip},${port},${net}` : undefined;
    }
    default:
      return undefined;
  }
}

// ---- memo of frozen lists ----------------------------------------------------------------------------------

export interface NormalizedList {
  /** Canonical members. Shared by every plan of the same list: never mutate. */
  values: ReadonlySet<string>;
  /** Raw members that did not normalise (each plan that reads the list diagnoses them again). */
  rejected: unknown[];
}

/** list -> "role type" -> its normalisation. */
const entryMemo = new WeakMap<readonly unknown[], Map<string, NormalizedList>>();
const addressMemo = new WeakMap<readonly unknown[], NormalizedList>();
const vsKeyMemo = new WeakMap<object, string>();

function normalizeEntries(type: string, role: Role, raw: readonly unknown[]): NormalizedList {
  const values = new Set<string>();
  const rejected: unknown[] = [];
  for (const e of raw) {
    const c = normalizeIpsetEntry(type, e);
    if (c !== undefined) values.add(c);
    else if (role === 'observed' && typeof e === 'string' && e.trim() !== '') values.add(e.trim()); // still ours to remove
    else rejected.push(e);
  }
  return { values, rejected };
}

/** The members of one set's entries list as a plan compares them (remembered when the list is frozen). */
export function normalizedEntries(type: string, role: Role, raw: readonly unknown[]): NormalizedList {
  if (!Object.isFrozen(raw)) return normalizeEntries(type, role, raw);
  let byKind = entryMemo.get(raw);
  if (!byKind) entryMemo.set(raw, (byKind = new Map()));
  const kind = `${role} ${type}`;
  let hit = byKind.get(kind);
  if (!hit) byKind.set(kind, (hit = normalizeEntries(type, role, raw)));
  return hit;
}

/** kube-ipvs0 addresses as a plan compares them (remembered when the list is frozen). */
export function normalizedAddresses(raw: readonly unknown[]): NormalizedList {
  const frozen = Object.isFrozen(raw);
  const hit = frozen ? addressMemo.get(raw) : undefined;
  if (hit) return hit;
  const values = new Set<string>();
  const rejected: unknown[] = [];
  for (const a of raw) {
    const c = normalizeAddress(a);
    if (c) values.add(c);
    else rejected.push(a);
  }
  const out = { values, rejected };
  if (frozen) addressMemo.set(raw, out);
  return out;
}

/** The canonical members of an (observed) entries list, as a plan would see them. */
export function canonicalEntries(type: string, list: readonly unknown[]): ReadonlySet<string> {
  return normalizedEntries(type, 'observed', list).values;
}

/**
 * Freezes `list` and records that its canonical members are `members`, for either role: the caller knows them
 * (it normalised each member when it added it), so a set that changed costs the next plan a lookup, not a parse.
 * `members` must not be changed afterwards.
 */
export function freezeCanonicalEntries<T extends readonly string[]>(type: string, list: T, members: ReadonlySet<string>): T {
  Object.freeze(list);
  const known: NormalizedList = { values: members, rejected: [] };
  entryMemo.set(list, new Map([[`observed ${type}`, known], [`desired ${type}`, known]]));
  return list;
}

/** The same for a list of kube-ipvs0 addresses whose canonical forms are `members`. */
export function freezeCanonicalAddresses<T extends readonly string[]>(list: T, members: ReadonlySet<string>): T {
  Object.freeze(list);
  addressMemo.set(list, { values: members, rejected: [] });
  return list;
}

/** The canonical key remembered for a frozen virtual server object (see rememberVirtualServerKey). */
export function knownVirtualServerKey(vs: object): string | undefined {
  return vsKeyMemo.get(vs);
}

/** Remembers a frozen virtual server's canonical key, so a plan whose scope leaves it out skips it at once. */
export function rememberVirtualServerKey(vs: object, key: string): void {
  if (Object.isFrozen(vs)) vsKeyMemo.set(vs, key);
}
