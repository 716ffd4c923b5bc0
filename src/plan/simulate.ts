// A pure in-memory model of the kernel, to check plans without one: applyOps(state, ops) is what the
// drivers would leave behind. It follows the drivers' contract (principle 3: add of an existing object
// and delete of a missing one succeed) and the kernel's refusals that matter to ordering: members need
// their set, rules need the sets they match, edits and real servers need their virtual server, a set
// that rules still match cannot be destroyed. It never replaces the kernel tests (design, testing layers).

import type { IpsetState, IpsetType, NodeState, RealServer, VirtualServer } from '../model/state.js';
import { DUMMY_INTERFACE, realServerKey, virtualServerKey } from '../model/state.js';
import type { Op } from './ops.js';
import { FAMILY_NAMES, TABLE_NAMES } from './ops.js';
import type { NormalState } from './normalize.js';
import { compareStrings, normalizeIpsetEntry, normalizeState, realServerOrder, sortAddresses, sortByKey, virtualServerOrder } from './normalize.js';
import { referencedSets } from './diff-iptables.js';

export interface SimulationOptions {
  /** Ops to fail on purpose (by id or predicate), as a driver error would. */
  fail?: ReadonlySet<string> | ((op: Op) => boolean);
}

export interface SimulationResult {
  state: NodeState;
  applied: string[];
  failed: string[];
  /** Ops not run because something they depend on failed or was skipped. */
  skipped: string[];
  errors: { id: string; message: string }[];
}

class Refused extends Error {}

function shouldFail(op: Op, fail: SimulationOptions['fail']): boolean {
  if (!fail) return false;
  return typeof fail === 'function' ? fail(op) : fail.has(op.id);
}

/** The simulator's kernel: a NormalState whose sets it may change (normalizeState's are shared, read-only). */
interface MutableState extends NormalState {
  addresses: Set<string>;
  ipsets: Map<string, NormalState['ipsets'] extends Map<string, infer I> ? Omit<I, 'entries'> & { entries: Set<string> } : never>;
}

function mutableCopy(n: NormalState): MutableState {
  const ipsets: MutableState['ipsets'] = new Map();
  for (const [name, set] of n.ipsets) ipsets.set(name, { ...set, entries: new Set(set.entries) });
  return { ...n, addresses: new Set(n.addresses), ipsets };
}

export function applyOps(state: NodeState, ops: readonly Op[], options: SimulationOptions = {}): SimulationResult {
  const k = mutableCopy(normalizeState(state, 'observed', []));
  const result: SimulationResult = { state: state, applied: [], failed: [], skipped: [], errors: [] };
  const notOk = new Set<string>();
  for (const op of ops) {
    if (op.dependsOn.some((d) => notOk.has(d))) {
      result.skipped.push(op.id);
      notOk.add(op.id);
      continue;
    }
    try {
      if (shouldFail(op, options.fail)) throw new Refused('injected failure');
      applyOne(k, op);
      result.applied.push(op.id);
    } catch (err) {
      result.failed.push(op.id);
      result.errors.push({ id: op.id, message: err instanceof Error ? err.message : String(err) });
      notOk.add(op.id);
    }
  }
  result.state = toNodeState(k);
  return result;
}

function applyOne(k: MutableState, op: Op): void {
  switch (op.kind) {
    case 'ensure-link':
    case 'ensure-jump-rules':
    case 'delete-jump-rules':
      return; // the state has no field for the link itself or built-in chains
    case 'delete-link':
      k.addresses.clear();
      return;
    case 'add-address':
      k.addresses.add(op.address);
      return;
    case 'del-address':
      k.addresses.delete(op.address);
      return;
    case 'ipset-create': {
      const s = k.ipsets.get(op.set);
      if (s && (s.type !== op.type || s.family !== op.family)) throw new Refused(`set ${op.set} exists with type ${s.type} ${s.family}`);
      if (!s) k.ipsets.set(op.set, { name: op.set, type: op.type, family: op.family, entries: new Set() });
      return;
    }
    case 'ipset-add': {
      const s = k.ipsets.get(op.set);
      if (!s) throw new Refused(`set ${op.set} does not exist`);
      s.entries.add(normalizeIpsetEntry(s.type, op.entry) ?? op.entry);
      return;
    }
    case 'ipset-del': {
      const s = k.ipsets.get(op.set);
      if (s) s.entries.delete(normalizeIpsetEntry(s.type, op.entry) ?? op.entry);
      return;
    }
    case 'ipset-destroy': {
      for (const fam of FAMILY_NAMES) {
        for (const table of TABLE_NAMES) {
          if (referencedSets(k.iptables[fam][table]).includes(op.set)) throw new Refused(`set ${op.set} is in use by ${fam} ${table} rules`);
        }
      }
      k.ipsets.delete(op.set);
      return;
    }
    case 'iptables-restore': {
      for (const set of referencedSets(op.text)) if (!k.ipsets.has(set)) throw new Refused(`set ${set} does not exist`);
      // A text that deletes its chains (-X, cleanup) leaves no KUBE-* chains behind.
      k.iptables[op.family][op.table] = /^-X /m.test(op.text) ? '' : op.text;
      return;
    }
    case 'add-service': {
      const key = virtualServerKey(op.service);
      if (!k.virtualServers.has(key)) k.virtualServers.set(key, { key, ...op.service, realServers: new Map() });
      return;
    }
    case 'edit-service': {
      const vs = k.virtualServers.get(virtualServerKey(op.service));
      if (!vs) throw new Refused(`no virtual server ${virtualServerKey(op.service)}`);
      vs.scheduler = op.service.scheduler;
      vs.flags = op.service.flags;
      vs.timeout = op.service.timeout;
      return;
    }
    case 'del-service':
      k.virtualServers.delete(virtualServerKey(op.service));
      return;
    case 'add-real-server': {
      const vs = k.virtualServers.get(virtualServerKey(op.service));
      if (!vs) throw new Refused(`no virtual server ${virtualServerKey(op.service)}`);
      const key = realServerKey(op.realServer);
      if (!vs.realServers.has(key)) vs.realServers.set(key, { key, ...op.realServer, activeConns: 0, inactiveConns: 0 });
      return;
    }
    case 'edit-real-server': {
      const vs = k.virtualServers.get(virtualServerKey(op.service));
      const rs = vs?.realServers.get(realServerKey(op.realServer));
      if (!rs) throw new Refused(`no real server ${realServerKey(op.realServer)} in ${virtualServerKey(op.service)}`);
      rs.weight = op.realServer.weight;
      return;
    }
    case 'del-real-server':
      k.virtualServers.get(virtualServerKey(op.service))?.realServers.delete(realServerKey(op.realServer));
      return;
  }
}

function toNodeState(k: NormalState): NodeState {
  const ipvs: VirtualServer[] = sortByKey(k.virtualServers.values(), virtualServerOrder).map((vs) => ({
    protocol: vs.protocol,
    address: vs.address,
    port: vs.port,
    scheduler: vs.scheduler,
    flags: vs.flags,
    timeout: vs.timeout,
    realServers: sortByKey(vs.realServers.values(), realServerOrder).map(
      (rs): RealServer => ({ address: rs.address, port: rs.port, weight: rs.weight, activeConns: rs.activeConns, inactiveConns: rs.inactiveConns }),
    ),
  }));
  const ipsets: Record<string, IpsetState> = {};
  for (const name of [...k.ipsets.keys()].sort(compareStrings)) {
    const s = k.ipsets.get(name)!;
    ipsets[name] = { type: s.type as IpsetType, family: s.family === 'inet6' ? 'inet6' : 'inet', entries: [...s.entries].sort(compareStrings) };
  }
  return {
    ipvs,
    addresses: { [DUMMY_INTERFACE]: sortAddresses(k.addresses) },
    ipsets,
    iptables: { ipv4: { ...k.iptables.ipv4 }, ipv6: { ...k.iptables.ipv6 } },
    diagnostics: [],
  };
}
