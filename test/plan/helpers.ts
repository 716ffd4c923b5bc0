// Builders, a seeded random state generator and a convergence check shared by the plan tests.

import type { IpsetState, IpsetType, NodeState, Protocol, RealServer, VirtualServer } from '../../src/model/state.js';
import { emptyNodeState, realServerKey, virtualServerKey } from '../../src/model/state.js';
import type { Op, PlanOptions } from '../../src/plan/index.js';
import { normalizeIpsetEntry, ownershipOf } from '../../src/plan/index.js';

// ---- builders ----

export function rs(address: string, port: number, weight = 1, conns?: { active?: number; inactive?: number }): RealServer {
  const r: RealServer = { address, port, weight };
  if (conns) {
    r.activeConns = conns.active ?? 0;
    r.inactiveConns = conns.inactive ?? 0;
  }
  return r;
}

export function vs(
  protocol: Protocol,
  address: string,
  port: number,
  realServers: RealServer[] = [],
  params: { scheduler?: string; flags?: number; timeout?: number } = {},
): VirtualServer {
  return { protocol, address, port, scheduler: params.scheduler ?? 'rr', flags: params.flags ?? 0, timeout: params.timeout ?? 0, realServers };
}

export function ipset(type: IpsetType, entries: string[], family: 'inet' | 'inet6' = 'inet'): IpsetState {
  return { type, family, entries };
}

export function state(parts: { ipvs?: VirtualServer[]; addresses?: string[]; ipsets?: Record<string, IpsetState>; iptables?: Partial<NodeState['iptables']> } = {}): NodeState {
  const s = emptyNodeState();
  s.ipvs = parts.ipvs ?? [];
  s.addresses['kube-ipvs0'] = parts.addresses ?? [];
  s.ipsets = parts.ipsets ?? {};
  s.iptables = {
    ipv4: { nat: '', filter: '', ...(parts.iptables?.ipv4 ?? {}) },
    ipv6: { nat: '', filter: '', ...(parts.iptables?.ipv6 ?? {}) },
  };
  return s;
}

export const kinds = (ops: readonly Op[]): string[] => ops.map((o) => o.kind);
export const ids = (ops: readonly Op[]): string[] => ops.map((o) => o.id);

export function byKind<K extends Op['kind']>(ops: readonly Op[], kind: K): Extract<Op, { kind: K }>[] {
  return ops.filter((o): o is Extract<Op, { kind: K }> => o.kind === kind);
}

// ---- seeded randomness (tests only; src never uses randomness) ----

export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export class Gen {
  constructor(readonly next: () => number) {}
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)]!;
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  subset<T>(xs: readonly T[], p: number): T[] {
    return xs.filter(() => this.chance(p));
  }
  shuffle<T>(xs: readonly T[]): T[] {
    const a = [...xs];
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [a[i], a[j]] = [a[j]!, a[i]!];
    }
    return a;
  }
}

export const NODE_ADDRESS = '192.168.1.10';
export const EXCLUDED_ADDRESS = '172.16.0.1';
export const FOREIGN_ADDRESS = '203.0.113.5';
export const LINK_LOCAL = 'fe80::1';
export const GEN_OPTIONS: PlanOptions = { excludeCIDRs: ['172.16.0.0/16'], nodeAddresses: [NODE_ADDRESS] };

const SERVICE_V4 = ['10.96.0.1', '10.96.0.2', '10.96.0.10', '10.96.1.5'];
const SERVICE_V6 = ['fd00::1', 'fd00::a'];
const BACKENDS_V4 = ['10.244.0.1', '10.244.0.2', '10.244.1.3', '10.244.2.4'];
const BACKENDS_V6 = ['fd01::1', 'fd01::2'];
const PROTOCOLS: Protocol[] = ['TCP', 'UDP', 'SCTP'];
const PORTS = [53, 80, 443, 30080];
const PARAMS = [
  { scheduler: 'rr', flags: 0, timeout: 0 },
  { scheduler: 'wrr', flags: 0, timeout: 0 },
  { scheduler: 'rr', flags: 1, timeout: 10800 },
  { scheduler: 'mh', flags: 16, timeout: 0 },
];
const TEXTS = [
  '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n',
  '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\nCOMMIT\n',
];
const FILTER_TEXT = '*filter\n:KUBE-IPVS-FILTER - [0:0]\n-A KUBE-IPVS-FILTER -m set --match-set KUBE-IPVS-IPS dst -j REJECT\nCOMMIT\n';

function backendsFor(g: Gen, address: string, weights: () => number, conns: boolean): RealServer[] {
  const pool = address.includes(':') ? BACKENDS_V6 : BACKENDS_V4;
  return g.subset(pool, 0.5).map((a) => {
    const r = rs(a, g.pick([8080, 9090]), weights());
    if (conns) {
      r.activeConns = g.chance(0.4) ? g.int(5) : 0;
      r.inactiveConns = g.chance(0.3) ? g.int(3) : 0;
    }
    return r;
  });
}

/** A plausible desired state (what desired/ would build), random but self-consistent. */
export function genDesired(g: Gen): NodeState {
  const servers = new Map<string, VirtualServer>();
  const bound = new Set<string>();
  for (let i = g.int(7); i > 0; i--) {
    const nodePort = g.chance(0.2);
    const address = nodePort ? NODE_ADDRESS : g.pick(g.chance(0.25) ? SERVICE_V6 : SERVICE_V4);
    const v = vs(g.pick(PROTOCOLS), address, nodePort ? 30080 : g.pick(PORTS), backendsFor(g, address, () => 1, false), g.pick(PARAMS));
    servers.set(virtualServerKey(v), v);
    if (!nodePort) bound.add(address);
  }
  const ipvs = [...servers.values()];
  const clusterIP = ipvs.filter((v) => v.address.includes('.') && v.address !== NODE_ADDRESS).map((v) => `${v.address},${v.protocol.toLowerCase()}:${v.port}`);
  const nodePorts = ipvs.filter((v) => v.address === NODE_ADDRESS && v.protocol === 'TCP').map((v) => String(v.port));
  return state({
    ipvs,
    addresses: [...bound],
    ipsets: {
      'KUBE-CLUSTER-IP': ipset('hash:ip,port', [...new Set(clusterIP)]),
      'KUBE-IPVS-IPS': ipset('hash:ip', [...bound].filter((a) => a.includes('.'))),
      'KUBE-6-IPVS-IPS': ipset('hash:ip', [...bound].filter((a) => a.includes(':')), 'inet6'),
      'KUBE-NODE-PORT-TCP': ipset('bitmap:port', [...new Set(nodePorts)]),
    },
    iptables: { ipv4: { nat: g.pick(TEXTS), filter: FILTER_TEXT } },
  });
}

/** A kernel state loosely related to a desired one: another random desired state, drifted, plus objects
 *  kube-ipvs does not own (foreign and excluded virtual servers, link-local and excluded addresses,
 *  a non-KUBE set). */
export function genObserved(g: Gen, near: NodeState): NodeState {
  const base = g.chance(0.5) ? structuredClone(near) : genDesired(g);
  const other = genDesired(g);
  const ipvs = new Map<string, VirtualServer>();
  for (const v of [...base.ipvs, ...g.subset(other.ipvs, 0.5)]) {
    const copy = structuredClone(v);
    if (g.chance(0.2)) Object.assign(copy, g.pick(PARAMS));
    copy.realServers = g.chance(0.5) ? backendsFor(g, v.address, () => g.pick([0, 1, 1, 2]), true) : copy.realServers.map((r) => ({ ...r, weight: g.pick([0, 1, 1]), activeConns: g.int(3), inactiveConns: 0 }));
    ipvs.set(virtualServerKey(copy), copy);
  }
  if (g.chance(0.5)) ipvs.set(`TCP/${FOREIGN_ADDRESS}:443`, vs('TCP', FOREIGN_ADDRESS, 443, [rs('10.1.1.1', 443, 3)], { scheduler: 'wlc' }));
  if (g.chance(0.5)) ipvs.set(`UDP/${EXCLUDED_ADDRESS}:53`, vs('UDP', EXCLUDED_ADDRESS, 53, [rs('10.1.1.2', 53, 1)]));
  const addresses = new Set(g.subset([...base.addresses['kube-ipvs0'], ...other.addresses['kube-ipvs0']], 0.7));
  if (g.chance(0.4)) addresses.add(LINK_LOCAL);
  if (g.chance(0.4)) addresses.add(EXCLUDED_ADDRESS);
  const ipsets: Record<string, IpsetState> = {};
  for (const [name, s] of Object.entries(base.ipsets)) {
    if (g.chance(0.1)) continue; // set missing: must be created
    const extra = other.ipsets[name]?.entries ?? [];
    ipsets[name] = { ...s, entries: [...new Set([...g.subset(s.entries, 0.7), ...g.subset(extra, 0.5)])] };
  }
  if (g.chance(0.5)) ipsets['my-set'] = ipset('hash:ip', ['1.2.3.4']);
  const iptables = structuredClone(g.chance(0.6) ? base.iptables : other.iptables);
  return state({ ipvs: [...ipvs.values()], addresses: [...addresses], ipsets, iptables });
}

/** The same state with every list in another order (the planner must not care). */
export function shuffled(g: Gen, s: NodeState): NodeState {
  const c = structuredClone(s);
  c.ipvs = g.shuffle(c.ipvs).map((v) => ({ ...v, realServers: g.shuffle(v.realServers) }));
  c.addresses['kube-ipvs0'] = g.shuffle(c.addresses['kube-ipvs0']);
  const sets: Record<string, IpsetState> = {};
  for (const name of g.shuffle(Object.keys(c.ipsets))) sets[name] = { ...c.ipsets[name]!, entries: g.shuffle(c.ipsets[name]!.entries) };
  c.ipsets = sets;
  return c;
}

// ---- convergence: the applied state equals desired on everything kube-ipvs owns ----

function rsView(r: RealServer): string {
  return `${realServerKey(r)} w${r.weight}`;
}

/**
 * Differences between `result` (observed after applying the plan) and what the plan promised:
 * desired objects exactly as desired; objects kube-ipvs does not own exactly as observed.
 * With `allowDrains`, a desired virtual server may keep extra TCP real servers at weight 0 that still
 * had connections in `observed`.
 */
export function convergenceProblems(desired: NodeState, observed: NodeState, result: NodeState, options: PlanOptions, allowDrains = false): string[] {
  const problems: string[] = [];
  const own = ownershipOf(observed, options, desired);
  const dMap = new Map(desired.ipvs.map((v) => [virtualServerKey(v), v]));
  const oMap = new Map(observed.ipvs.map((v) => [virtualServerKey(v), v]));
  const rMap = new Map(result.ipvs.map((v) => [virtualServerKey(v), v]));
  for (const [key, d] of dMap) {
    const r = rMap.get(key);
    if (!r) {
      problems.push(`missing desired ${key}`);
      continue;
    }
    if (r.scheduler !== d.scheduler || r.flags !== d.flags || r.timeout !== d.timeout) problems.push(`params of ${key}`);
    const want = new Set(d.realServers.map(rsView));
    const oRs = new Map((oMap.get(key)?.realServers ?? []).map((x) => [realServerKey(x), x]));
    for (const x of r.realServers) {
      if (want.delete(rsView(x))) continue;
      const before = oRs.get(realServerKey(x));
      const drainable = allowDrains && d.protocol === 'TCP' && x.weight === 0 && before && (before.activeConns ?? 0) + (before.inactiveConns ?? 0) > 0;
      if (!drainable) problems.push(`unexpected real server ${key} ${rsView(x)}`);
    }
    for (const w of want) problems.push(`missing real server ${key} ${w}`);
  }
  for (const [key, r] of rMap) {
    if (dMap.has(key)) continue;
    const o = oMap.get(key);
    if (!o) problems.push(`appeared ${key}`);
    else if (own.ownsVirtualServerAddress(o.address)) problems.push(`owned ${key} not deleted`);
    else if (JSON.stringify(o.realServers.map(rsView).sort()) !== JSON.stringify(r.realServers.map(rsView).sort())) problems.push(`foreign ${key} touched`);
  }
  for (const [key, o] of oMap) if (!dMap.has(key) && !rMap.has(key) && !own.ownsVirtualServerAddress(o.address)) problems.push(`foreign ${key} deleted`);

  const wantAddrs = new Set([...desired.addresses['kube-ipvs0'], ...observed.addresses['kube-ipvs0'].filter((a) => own.isProtectedAddress(a))]);
  const gotAddrs = new Set(result.addresses['kube-ipvs0']);
  for (const a of wantAddrs) if (!gotAddrs.has(a)) problems.push(`address ${a} missing`);
  for (const a of gotAddrs) if (!wantAddrs.has(a)) problems.push(`address ${a} extra`);

  const names = new Set([...Object.keys(desired.ipsets), ...Object.keys(observed.ipsets), ...Object.keys(result.ipsets)]);
  for (const name of names) {
    const ref = name.startsWith('KUBE-') && desired.ipsets[name] ? desired.ipsets[name] : observed.ipsets[name];
    const got = result.ipsets[name];
    const norm = (s: IpsetState | undefined) => (s ? s.entries.map((e) => normalizeIpsetEntry(s.type, e) ?? e).sort().join(' ') : '<none>');
    if (norm(ref) !== norm(got)) problems.push(`set ${name}: want [${norm(ref)}] got [${norm(got)}]`);
  }
  for (const fam of ['ipv4', 'ipv6'] as const) {
    for (const table of ['nat', 'filter'] as const) {
      const want = desired.iptables[fam][table] || observed.iptables[fam][table];
      if (result.iptables[fam][table] !== want) problems.push(`iptables ${fam} ${table}`);
    }
  }
  return problems;
}
