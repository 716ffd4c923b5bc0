// DesiredStateBuilder: the desired state of one node, kept up to date incrementally.
//
// Services and EndpointSlices are validated once when they arrive. Each Service's contribution (virtual servers,
// set entries, addresses, OUT-FILTER rules) is computed from the Service, its slices (indexed by service name)
// and the node environment, cached, and merged into shared indexes with reference counts. A change to one object
// recomputes one Service; a change to the node environment (Node labels/addresses, local addresses, config)
// recomputes all of them. build() returns the whole NodeState; takeDelta() says what changed since the previous
// takeDelta(), for event-driven syncs. Pure: no I/O, no clock, no randomness.

import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';
import { KUBE_IPSETS, type IpsetId } from '../model/ipsets.js';
import { diagnosticSortKey } from '../model/order.js';
import { DUMMY_INTERFACE, virtualServerKey, type Diagnostic, type IpsetState, type IptablesTables, type NodeState, type VirtualServer } from '../model/state.js';
import { computeContribution, EMPTY_CONTRIBUTION, sameVirtualServer, type ServiceContribution, type VsClaim } from './contribution.js';
import { resolveEnv, type Env } from './env.js';
import { IPTABLES_CONDITIONAL_SETS, renderIptables } from './iptables.js';
import { isRecord } from './json.js';
import { normalizeService, type NormalizedService } from './service.js';
import { normalizeEndpointSlice, type NormalizedSlice } from './slice.js';
import { MemberIndex } from './member-index.js';
import { RefCountedIndex, SortedIndex } from './sorted-index.js';
import { freezeCanonicalAddresses, freezeCanonicalEntries, normalizeAddress, normalizeIpsetEntry } from '../model/canonical.js';
import type { NodeContext } from './types.js';

/** What changed between two takeDelta() calls. Every list is sorted. */
export interface DesiredDelta {
  /** First delta, or the node environment / config changed so every Service was recomputed: a full sync is advised. */
  full: boolean;
  /** "namespace/name" of the Services whose contribution changed (added, changed or deleted). */
  services: string[];
  virtualServers: { added: VirtualServer[]; updated: VirtualServer[]; removed: VirtualServer[] };
  /** Only sets with changes, by set name. */
  ipsets: Record<string, { added: string[]; removed: string[] }>;
  /** kube-ipvs0 addresses. */
  addresses: { added: string[]; removed: string[] };
  /** Families whose iptables-restore text changed. */
  iptables: { ipv4: boolean; ipv6: boolean };
  diagnostics: { added: Diagnostic[]; removed: Diagnostic[] };
  /** True when nothing at all changed. */
  empty: boolean;
}

export interface BuilderOptions {
  /** Remember changes for takeDelta() (default true). Off for one-shot computations. */
  trackChanges?: boolean;
}

const FAMILIES = [4, 6] as const;
const SET_IDS = Object.keys(KUBE_IPSETS) as IpsetId[];

function keyOfRef(ref: unknown): string | undefined {
  if (typeof ref === 'string') return ref;
  const meta = isRecord(ref) ? ref.metadata : undefined;
  if (isRecord(meta) && typeof meta.namespace === 'string' && typeof meta.name === 'string') return `${meta.namespace}/${meta.name}`;
  return undefined;
}

/** An EndpointSlice the builder holds: the object as given (never modified) and what indexes it. */
interface SliceRef {
  key: string;
  serviceKey: string;
  object: ApiEndpointSlice;
  /** The normalisation made at upsert, until the next flush uses it (then dropped: see `slices`). */
  normalized: NormalizedSlice | undefined;
}

export class DesiredStateBuilder {
  private ctx: NodeContext;
  private config: ProxyConfig;
  private env: Env;
  private readonly tracking: boolean;

  private readonly services = new Map<string, NormalizedService>();
  // Slices are kept as the objects they came as (informer objects are frozen and cached by the informer anyway) and
  // normalised again when their Service's contribution is recomputed: a normalised copy of every endpoint costs
  // ~300 bytes each (30 MB at 100,000 endpoints) for a computation that takes microseconds per slice.
  private readonly slices = new Map<string, SliceRef>();
  private readonly slicesByService = new Map<string, Map<string, SliceRef>>();
  private readonly contributions = new Map<string, ServiceContribution>();
  private readonly dirty = new Set<string>();

  /** Virtual server key -> the claim on it, or all claims when several ports want it. */
  private readonly claims = new Map<string, VsClaim | VsClaim[]>();
  /** Virtual server keys with a conflict diagnostic. */
  private readonly conflicted = new Set<string>();
  private readonly vs: SortedIndex<VirtualServer>;
  private readonly sets = new Map<string, MemberIndex>();
  private readonly addresses: MemberIndex;
  private readonly outFilter: { 4: RefCountedIndex<string>; 6: RefCountedIndex<string> };
  private readonly diagnostics: RefCountedIndex<Diagnostic>;
  private readonly diagnosticSources = new Map<string, Diagnostic[]>();

  private readonly ipsetCache = new Map<string, IpsetState>();
  private readonly iptablesCache: { 4: { sig: string; tables: IptablesTables } | undefined; 6: { sig: string; tables: IptablesTables } | undefined } = { 4: undefined, 6: undefined };
  private deliveredIptables: { 4: IptablesTables | undefined; 6: IptablesTables | undefined } = { 4: undefined, 6: undefined };
  private readonly changedServices = new Set<string>();
  private full = true;

  constructor(node: NodeContext, config: ProxyConfig, options: BuilderOptions = {}) {
    this.tracking = options.trackChanges !== false;
    this.vs = new SortedIndex<VirtualServer>(this.tracking);
    this.addresses = new MemberIndex(normalizeAddress, (list, members) => freezeCanonicalAddresses(list, members), this.tracking);
    this.outFilter = { 4: new RefCountedIndex<string>(this.tracking), 6: new RefCountedIndex<string>(this.tracking) };
    this.diagnostics = new RefCountedIndex<Diagnostic>(this.tracking);
    this.ctx = node;
    this.config = config;
    this.env = resolveEnv(node, config);
    this.setDiagnostics('env', this.env.diagnostics);
    for (const fam of FAMILIES) {
      for (const id of SET_IDS) {
        const type = KUBE_IPSETS[id].type;
        const members = new MemberIndex((t) => normalizeIpsetEntry(type, t), (list, m) => freezeCanonicalEntries(type, list, m), this.tracking);
        this.sets.set(this.env.families[fam].setNames[id], members);
      }
    }
  }

  // ---- inputs -------------------------------------------------------------------------------------------------

  /** Adds or replaces a Service (an invalid one becomes diagnostics and removes the previous version). */
  upsertService(service: ApiService): void {
    const r = normalizeService(service);
    if (r.key === undefined) {
      this.noteUnkeyed(r.diagnostics);
      return;
    }
    this.setDiagnostics(`service:${r.key}`, r.diagnostics);
    if (r.status === 'ok') this.services.set(r.key, r.service);
    else this.services.delete(r.key);
    this.dirty.add(r.key);
  }

  /** Removes a Service, given as the object or as "namespace/name". */
  deleteService(service: ApiService | string): void {
    const key = keyOfRef(service);
    if (key === undefined) return;
    this.services.delete(key);
    this.setDiagnostics(`service:${key}`, []);
    this.dirty.add(key);
  }

  upsertEndpointSlice(slice: ApiEndpointSlice): void {
    const r = normalizeEndpointSlice(slice);
    if (r.key === undefined) {
      this.noteUnkeyed(r.diagnostics);
      return;
    }
    this.setDiagnostics(`slice:${r.key}`, r.diagnostics);
    this.removeSlice(r.key);
    if (r.status === 'ok') {
      const s: SliceRef = { key: r.slice.key, serviceKey: r.slice.serviceKey, object: slice, normalized: r.slice };
      this.slices.set(s.key, s);
      let bySvc = this.slicesByService.get(s.serviceKey);
      if (!bySvc) this.slicesByService.set(s.serviceKey, (bySvc = new Map()));
      bySvc.set(s.key, s);
      this.dirty.add(s.serviceKey);
    }
  }

  /** Removes an EndpointSlice, given as the object or as "namespace/sliceName". */
  deleteEndpointSlice(slice: ApiEndpointSlice | string): void {
    const key = keyOfRef(slice);
    if (key === undefined) return;
    this.setDiagnostics(`slice:${key}`, []);
    this.removeSlice(key);
  }

  /** Replaces the whole node context (Node object, local addresses, iptables capabilities). */
  setNodeContext(node: NodeContext): void {
    this.ctx = node;
    this.refreshEnv();
  }

  /** This node's Node object was added or updated. */
  upsertNode(node: ApiNode): void {
    this.setNodeContext({ ...this.ctx, node });
  }

  deleteNode(): void {
    const { node: _gone, ...rest } = this.ctx;
    this.setNodeContext(rest);
  }

  /** The addresses on every local interface except kube-ipvs0 changed. */
  setNodeAddresses(addresses: string[]): void {
    this.setNodeContext({ ...this.ctx, nodeAddresses: addresses });
  }

  setConfig(config: ProxyConfig): void {
    this.config = config;
    this.refreshEnv();
  }

  /** Diagnostics from outside (e.g. duplicate objects in a file); replaces the previous list of that source. */
  setDiagnostics(source: string, list: readonly Diagnostic[]): void {
    const prev = this.diagnosticSources.get(source) ?? [];
    if (prev.length === 0 && list.length === 0) return;
    for (const d of list) this.diagnostics.add(diagnosticSortKey(d), d);
    for (const d of prev) this.diagnostics.remove(diagnosticSortKey(d));
    if (list.length > 0) this.diagnosticSources.set(source, [...list]);
    else this.diagnosticSources.delete(source);
  }

  // ---- outputs ------------------------------------------------------------------------------------------------

  /** The whole desired state. Lists are shared with later builds where unchanged: treat the result as read-only. */
  build(): NodeState {
    this.flush();
    const ipsets: Record<string, IpsetState> = {};
    for (const fam of FAMILIES) {
      for (const id of SET_IDS) {
        const name = this.env.families[fam].setNames[id];
        const members = this.sets.get(name)!;
        let state = this.ipsetCache.get(name);
        if (!state || members.index.dirty) {
          state = { type: KUBE_IPSETS[id].type, family: fam === 4 ? 'inet' : 'inet6', entries: members.list() };
          this.ipsetCache.set(name, state);
        }
        ipsets[name] = state;
      }
    }
    return {
      ipvs: this.vs.list(),
      addresses: { [DUMMY_INTERFACE]: this.addresses.list() },
      ipsets,
      iptables: { ipv4: this.iptablesOf(4), ipv6: this.iptablesOf(6) },
      diagnostics: this.diagnostics.index.list(),
    };
  }

  /** What changed since the previous takeDelta() (or since the builder was made). */
  takeDelta(): DesiredDelta {
    this.flush();
    const vs = this.vs.takeChanges(sameVirtualServer);
    const ipsets: DesiredDelta['ipsets'] = {};
    for (const [name, idx] of this.sets) {
      const ch = idx.index.takeChanges((a, b) => a === b);
      if (ch.added.length > 0 || ch.removed.length > 0) ipsets[name] = { added: ch.added, removed: ch.removed };
    }
    const addr = this.addresses.index.takeChanges((a, b) => a === b);
    const diag = this.diagnostics.index.takeChanges(() => true);
    const ipt = { 4: this.iptablesOf(4), 6: this.iptablesOf(6) };
    const iptables = {
      ipv4: !sameTables(ipt[4], this.deliveredIptables[4]),
      ipv6: !sameTables(ipt[6], this.deliveredIptables[6]),
    };
    this.deliveredIptables = ipt;
    const services = [...this.changedServices].sort();
    this.changedServices.clear();
    const full = this.full || !this.tracking;
    this.full = false;
    return {
      full,
      services,
      virtualServers: { added: vs.added, updated: vs.updated, removed: vs.removed },
      ipsets,
      addresses: { added: addr.added, removed: addr.removed },
      iptables,
      diagnostics: { added: diag.added, removed: diag.removed },
      empty:
        services.length === 0 &&
        vs.added.length + vs.updated.length + vs.removed.length === 0 &&
        Object.keys(ipsets).length === 0 &&
        addr.added.length + addr.removed.length === 0 &&
        !iptables.ipv4 &&
        !iptables.ipv6 &&
        diag.added.length + diag.removed.length === 0,
    };
  }

  /** What one Service currently puts on the node (for explain / debugging); undefined when nothing. */
  serviceContribution(key: string): ServiceContribution | undefined {
    this.flush();
    return this.contributions.get(key);
  }

  // ---- internals ----------------------------------------------------------------------------------------------

  /** An object without namespace/name cannot be updated or deleted later: its diagnostics stay (deduplicated). */
  private noteUnkeyed(list: Diagnostic[]): void {
    this.setDiagnostics(`unkeyed:${list.map(diagnosticSortKey).join('\u0001')}`, list);
  }

  private removeSlice(key: string): void {
    const old = this.slices.get(key);
    if (!old) return;
    this.slices.delete(key);
    const bySvc = this.slicesByService.get(old.serviceKey);
    if (bySvc) {
      bySvc.delete(key);
      if (bySvc.size === 0) this.slicesByService.delete(old.serviceKey);
    }
    this.dirty.add(old.serviceKey);
  }

  private refreshEnv(): void {
    const env = resolveEnv(this.ctx, this.config);
    this.setDiagnostics('env', env.diagnostics);
    if (env.contributionSignature !== this.env.contributionSignature) {
      for (const key of this.services.keys()) this.dirty.add(key);
      for (const key of this.contributions.keys()) this.dirty.add(key);
      this.full = true;
    }
    this.env = env;
  }

  /** Recomputes the contribution of every Service marked dirty. */
  private flush(): void {
    if (this.dirty.size === 0) return;
    for (const key of this.dirty) {
      const svc = this.services.get(key);
      let next = EMPTY_CONTRIBUTION;
      if (svc) {
        const bySvc = this.slicesByService.get(key);
        const refs = bySvc ? [...bySvc.values()] : [];
        if (refs.length > 1) refs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
        const slices: NormalizedSlice[] = [];
        for (const ref of refs) {
          if (ref.normalized) slices.push(ref.normalized);
          else {
            // Same object, same result as at upsert (its diagnostics were reported then).
            const r = normalizeEndpointSlice(ref.object);
            if (r.status === 'ok') slices.push(r.slice);
          }
          ref.normalized = undefined;
        }
        next = computeContribution(svc, slices, this.env);
      }
      const prev = this.contributions.get(key) ?? EMPTY_CONTRIBUTION;
      if (prev === EMPTY_CONTRIBUTION && next === EMPTY_CONTRIBUTION) continue;
      if (this.apply(prev, next) && this.tracking) this.changedServices.add(key);
      if (next === EMPTY_CONTRIBUTION) this.contributions.delete(key);
      else this.contributions.set(key, next);
    }
    this.dirty.clear();
  }

  /** Merges a Service's new contribution in place of its previous one; true when anything visible changed. */
  private apply(prev: ServiceContribution, next: ServiceContribution): boolean {
    let changed = false;
    // Add before remove, so what both contain never leaves the indexes.
    for (const e of next.entries) if (this.sets.get(e.set)!.add(e.key, e.text)) changed = true;
    for (const e of prev.entries) if (this.sets.get(e.set)!.remove(e.key)) changed = true;
    for (const a of next.addresses) if (this.addresses.add(a.key, a.text)) changed = true;
    for (const a of prev.addresses) if (this.addresses.remove(a.key)) changed = true;
    for (const r of next.outFilter) if (this.outFilter[r.family].add(r.key, r.text)) changed = true;
    for (const r of prev.outFilter) if (this.outFilter[r.family].remove(r.key)) changed = true;

    if (prev.claims.length === 0 && next.claims.length === 0) return changed;
    const affected = new Set<string>();
    for (const c of next.claims) {
      const cur = this.claims.get(c.key);
      if (cur === undefined) this.claims.set(c.key, c);
      else if (Array.isArray(cur)) cur.push(c);
      else this.claims.set(c.key, [cur, c]);
      affected.add(c.key);
    }
    for (const c of prev.claims) {
      const cur = this.claims.get(c.key);
      if (cur === c) this.claims.delete(c.key);
      else if (Array.isArray(cur)) {
        const i = cur.indexOf(c);
        if (i !== -1) cur.splice(i, 1);
        if (cur.length === 1) this.claims.set(c.key, cur[0]!);
        else if (cur.length === 0) this.claims.delete(c.key);
      }
      affected.add(c.key);
    }
    for (const key of affected) if (this.resolveClaims(key)) changed = true;
    return changed;
  }

  /** Picks the virtual server of one key among the ports that want it; true when the chosen one changed. */
  private resolveClaims(key: string): boolean {
    const cur = this.claims.get(key);
    if (cur === undefined) {
      if (this.conflicted.delete(key)) this.setDiagnostics(`conflict:${key}`, []);
      if (!this.vs.has(key)) return false;
      this.vs.delete(key);
      return true;
    }
    const list = Array.isArray(cur) ? cur : [cur];
    let winner = list[0]!;
    for (const c of list) if (c.portName < winner.portName) winner = c;
    const conflicts: Diagnostic[] = [];
    if (list.length > 1) for (const c of list) {
      if (c.portName === winner.portName) continue;
      conflicts.push({
        object: c.serviceKey,
        kind: 'Service',
        message: `virtual server ${virtualServerKey(c.vs)} of service port ${c.portName} is also wanted by ${winner.portName}, which has it; left out`,
      });
    }
    if (conflicts.length > 0 || this.conflicted.has(key)) {
      this.setDiagnostics(`conflict:${key}`, conflicts);
      if (conflicts.length > 0) this.conflicted.add(key);
      else this.conflicted.delete(key);
    }
    const current = this.vs.get(key);
    if (current && sameVirtualServer(current, winner.vs)) return false;
    this.vs.set(key, freezeVirtualServer(winner.vs));
    return true;
  }

  private iptablesOf(fam: 4 | 6): IptablesTables {
    const fe = this.env.families[fam];
    const out = this.outFilter[fam].index;
    let sig = this.env.iptablesSignature;
    for (const id of IPTABLES_CONDITIONAL_SETS) sig += this.sets.get(fe.setNames[id])!.size > 0 ? '1' : '0';
    const cached = this.iptablesCache[fam];
    if (cached && cached.sig === sig && !out.dirty) return cached.tables;
    const tables = renderIptables(this.env, fe, (id) => this.sets.get(fe.setNames[id])!.size > 0, out.list());
    this.iptablesCache[fam] = { sig, tables };
    return tables;
  }
}

/** Deep-freezes a virtual server before it is handed out: build() shares it with every later build, and the
 *  planner remembers its key for as long as it is the same object (plan/normalize.ts). */
function freezeVirtualServer(vs: VirtualServer): VirtualServer {
  if (Object.isFrozen(vs)) return vs;
  for (const rs of vs.realServers) Object.freeze(rs);
  Object.freeze(vs.realServers);
  return Object.freeze(vs);
}

function sameTables(a: IptablesTables | undefined, b: IptablesTables | undefined): boolean {
  return a !== undefined && b !== undefined && a.nat === b.nat && a.filter === b.filter;
}
