// Turns a NodeState (desired or observed; trusted by type, not at run time) into indexed, canonical maps
// the diff works on. Nothing here throws: a malformed object becomes a diagnostic and is left out.
// Canonical forms matter because the two sides come from different writers (desired/ builds text,
// kernel/ reads it back): the same address or set entry must compare equal however it was printed.
// Frozen lists and virtual servers are normalised once and remembered (model/canonical.ts): that is what
// makes a scoped plan cost what changed.

import type { Diagnostic, IpsetType, Protocol } from '../model/state.js';
import { DUMMY_INTERFACE, realServerKey, virtualServerKey } from '../model/state.js';
import { parseIP } from '../model/ip.js';
import { knownVirtualServerKey, normalizedAddresses, normalizedEntries, normalizeAddress, normalizeProtocol, rememberVirtualServerKey, type Role } from '../model/canonical.js';
import type { FamilyName, TableName } from './ops.js';
import { FAMILY_NAMES, TABLE_NAMES } from './ops.js';

// Canonical forms live in model/canonical.ts (desired/ and runtime/ use them too); re-exported for plan's users.
export { normalizeAddress, normalizeIpsetEntry, normalizeProtocol, type Role } from '../model/canonical.js';

export interface NormalRealServer {
  key: string;
  address: string;
  port: number;
  weight: number;
  activeConns: number;
  inactiveConns: number;
}

export interface NormalVirtualServer {
  key: string;
  protocol: Protocol;
  address: string;
  port: number;
  scheduler: string;
  flags: number;
  timeout: number;
  realServers: Map<string, NormalRealServer>;
}

export interface NormalIpset {
  name: string;
  type: IpsetType | string;
  family: string;
  /** Shared with later plans of the same (frozen) entries array: never mutate (simulate.ts copies). */
  entries: ReadonlySet<string>;
}

export interface NormalState {
  virtualServers: Map<string, NormalVirtualServer>;
  /** Shared like NormalIpset.entries: never mutate. */
  addresses: ReadonlySet<string>;
  ipsets: Map<string, NormalIpset>;
  iptables: Record<FamilyName, Record<TableName, string>>;
}


const HASHED_FLAG = 0x2;
const IPSET_TYPES: readonly string[] = ['hash:ip', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'];

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

function asArray(x: unknown): unknown[] {
  return Array.isArray(x) ? x : [];
}

function isPort(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 && x <= 65535;
}

function nonNegativeInt(x: unknown, fallback: number): number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : fallback;
}

/** Fixed-width sort key of a canonical address: orders like compareIPs (IPv4 first, then bytes). */
export function addressOrder(address: string): string {
  const ip = parseIP(address);
  if (!ip) return `9${address}`;
  let out = String(ip.family);
  for (const b of ip.bytes) out += (b < 16 ? '0' : '') + b.toString(16);
  return out;
}

function portOrder(port: number): string {
  return String(port).padStart(5, '0');
}

/** state.ts order of virtual servers: family, address, protocol, port. */
export function virtualServerOrder(vs: { address: string; protocol: string; port: number }): string {
  return `${addressOrder(vs.address)}/${vs.protocol}/${portOrder(vs.port)}`;
}

export function realServerOrder(rs: { address: string; port: number }): string {
  return `${addressOrder(rs.address)}/${portOrder(rs.port)}`;
}

/** Sorts by a string key computed once per item (decorate, sort, undecorate): parsing inside a
 *  comparator would parse n log n times. */
export function sortByKey<T>(items: Iterable<T>, key: (item: T) => string): T[] {
  return [...items]
    .map((item) => ({ item, k: key(item) }))
    .sort((a, b) => cmpStr(a.k, b.k))
    .map((x) => x.item);
}

export function sortAddresses(addresses: Iterable<string>): string[] {
  return sortByKey(addresses, addressOrder);
}

/** Deterministic choice among duplicates, whatever their input order: the smallest canonical JSON. */
function pickCanonical<T>(a: T, b: T): T {
  return JSON.stringify(a) <= JSON.stringify(b) ? a : b;
}

function normalizeRealServer(x: unknown, role: Role): NormalRealServer | string {
  if (!isRecord(x)) return 'real server is not an object';
  const address = normalizeAddress(x.address);
  if (!address) return `real server address ${JSON.stringify(x.address)} is not an IP address`;
  if (!isPort(x.port)) return `real server port ${JSON.stringify(x.port)} is not a port`;
  let weight: number;
  if (typeof x.weight === 'number' && Number.isInteger(x.weight) && x.weight >= 0) weight = x.weight;
  else if (role === 'desired' && x.weight === undefined) weight = 1; // kube-proxy's only weight
  else if (role === 'desired') return `real server weight ${JSON.stringify(x.weight)} is not a non-negative integer`;
  else weight = 0; // unreadable kernel weight: treat as drained, the diff then restores the desired one
  return {
    key: realServerKey({ address, port: x.port }),
    address,
    port: x.port,
    weight,
    activeConns: nonNegativeInt(x.activeConns, 0),
    inactiveConns: nonNegativeInt(x.inactiveConns, 0),
  };
}

function normalizeVirtualServer(
  x: unknown,
  role: Role,
  diag: (object: string, message: string) => void,
  accept: (key: string) => boolean,
): NormalVirtualServer | undefined {
  if (!isRecord(x)) {
    diag('ipvs', 'virtual server is not an object');
    return undefined;
  }
  // A frozen virtual server seen before: its key is known, so one outside the scope costs a lookup.
  const known = knownVirtualServerKey(x);
  if (known !== undefined && !accept(known)) return undefined;
  const protocol = normalizeProtocol(x.protocol);
  const address = normalizeAddress(x.address);
  const label = `${String(x.protocol)}/${String(x.address)}:${String(x.port)}`;
  if (!protocol) return void diag(label, `protocol ${JSON.stringify(x.protocol)} is not TCP, UDP or SCTP`);
  if (!address) return void diag(label, `address ${JSON.stringify(x.address)} is not an IP address`);
  if (!isPort(x.port)) return void diag(label, `port ${JSON.stringify(x.port)} is not a port`);
  const key = virtualServerKey({ protocol, address, port: x.port });
  rememberVirtualServerKey(x, key);
  if (!accept(key)) return undefined;
  const scheduler = typeof x.scheduler === 'string' && x.scheduler !== '' ? x.scheduler : 'rr';
  const vs: NormalVirtualServer = {
    key,
    protocol,
    address,
    port: x.port,
    scheduler,
    flags: nonNegativeInt(x.flags, 0) & ~HASHED_FLAG,
    timeout: nonNegativeInt(x.timeout, 0),
    realServers: new Map(),
  };
  // Canonical IPv6 text always has a colon and canonical IPv4 never does.
  const v6 = address.includes(':');
  const rsList: NormalRealServer[] = [];
  for (const r of asArray(x.realServers)) {
    const rs = normalizeRealServer(r, role);
    if (typeof rs === 'string') diag(key, rs);
    else if (rs.address.includes(':') !== v6) diag(key, `real server ${rs.key} is not of the virtual server's IP family`);
    else rsList.push(rs);
  }
  for (const rs of rsList) {
    const prev = vs.realServers.get(rs.key);
    if (prev) diag(key, `duplicate real server ${rs.key}`);
    vs.realServers.set(rs.key, prev ? pickCanonical(prev, rs) : rs);
  }
  return vs;
}

function vsForDuplicateChoice(vs: NormalVirtualServer): unknown {
  return { ...vs, realServers: sortByKey(vs.realServers.values(), (r) => r.key) };
}

/**
 * Indexes and canonicalises a NodeState; problems go to `diagnostics` (object = canonical key where known).
 * `acceptVirtualServer` lets a scoped plan skip (and not pay for) the real servers of virtual servers
 * outside its scope.
 */
export function normalizeState(state: unknown, role: Role, diagnostics: Diagnostic[], acceptVirtualServer: (key: string) => boolean = () => true): NormalState {
  const diag = (object: string, message: string): void => {
    diagnostics.push({ object, message: `${role}: ${message}`, kind: 'Plan' });
  };
  const s = isRecord(state) ? state : {};
  if (!isRecord(state)) diag('state', 'state is not an object');

  const virtualServers = new Map<string, NormalVirtualServer>();
  for (const x of asArray(s.ipvs)) {
    const vs = normalizeVirtualServer(x, role, diag, acceptVirtualServer);
    if (!vs) continue;
    const prev = virtualServers.get(vs.key);
    if (prev) {
      diag(vs.key, 'duplicate virtual server');
      virtualServers.set(vs.key, JSON.stringify(vsForDuplicateChoice(prev)) <= JSON.stringify(vsForDuplicateChoice(vs)) ? prev : vs);
    } else virtualServers.set(vs.key, vs);
  }

  const addrBlock = isRecord(s.addresses) ? s.addresses : {};
  const rawAddresses = asArray(addrBlock[DUMMY_INTERFACE]);
  const addressList = normalizedAddresses(rawAddresses);
  const addresses = addressList.values;
  for (const a of addressList.rejected) diag(DUMMY_INTERFACE, `address ${JSON.stringify(a)} is not an IP address`);

  const ipsets = new Map<string, NormalIpset>();
  const setBlock = isRecord(s.ipsets) ? s.ipsets : {};
  for (const name of Object.keys(setBlock).sort()) {
    const raw = setBlock[name];
    if (!isRecord(raw)) {
      diag(name, 'ipset is not an object');
      continue;
    }
    const type = typeof raw.type === 'string' ? raw.type : '';
    if (role === 'desired' && !IPSET_TYPES.includes(type)) {
      diag(name, `ipset type ${JSON.stringify(raw.type)} is not one kube-ipvs uses`);
      continue;
    }
    const family = raw.family === 'inet6' ? 'inet6' : raw.family === 'inet' ? 'inet' : String(raw.family ?? 'inet');
    const list = normalizedEntries(type, role, asArray(raw.entries));
    for (const e of list.rejected) diag(name, `entry ${JSON.stringify(e)} does not fit type ${type}`);
    ipsets.set(name, { name, type, family, entries: list.values });
  }

  const iptables = { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } } as Record<FamilyName, Record<TableName, string>>;
  const ipt = isRecord(s.iptables) ? s.iptables : {};
  for (const fam of FAMILY_NAMES) {
    const f = isRecord(ipt[fam]) ? (ipt[fam] as Record<string, unknown>) : {};
    for (const table of TABLE_NAMES) {
      const text = f[table];
      if (typeof text === 'string') iptables[fam][table] = text;
      else if (text !== undefined) diag(`iptables ${fam} ${table}`, 'table text is not a string');
    }
  }

  return { virtualServers, addresses, ipsets, iptables };
}


function cmpStr(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export { cmpStr as compareStrings };

export function isIPv6LinkLocal(address: string): boolean {
  const ip = parseIP(address);
  return ip !== undefined && ip.family === 6 && ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}
