// The planner: (desired, observed, options) -> ordered, idempotent ops with their dependencies.
// Pure: no I/O, no clock, no randomness; never throws for odd input (it becomes a diagnostic).
//
// Apply order (each phase sorted by canonical key):
//   1 ensure-link                      kube-ipvs0 must exist before addresses go on it
//   2 ipset-create, ipset-add          sets and members before the rules that match them
//   3 iptables-restore, ensure-jump-rules
//   4 add-address                      addresses before the virtual servers on them
//   5 add-service, edit-service        virtual servers before their real servers
//   6 add-real-server, edit-real-server (weights of desired real servers)
//   7 del-real-server, edit-real-server (drain to weight 0)   new backends are in before old ones leave
//   8 del-service
//   9 del-address                      after the virtual servers on the address are gone
//  10 ipset-del                        after the rules and virtual servers no longer need the members
//
// dependsOn says "skip me if that failed" (skip.ts); it only ever points at earlier ops.

import type { Diagnostic, NodeState, Protocol } from '../model/state.js';
import { virtualServerKey } from '../model/state.js';
import type { Op } from './ops.js';
import { opIds, ops as makeOp } from './ops.js';
import type { NormalState } from './normalize.js';
import { compareStrings, normalizeAddress, normalizeProtocol, normalizeState } from './normalize.js';
import type { PlanOptions } from './options.js';
import { drainExpiryTest, entryScopeOf, resolveScope } from './options.js';
import { buildOwnership, IPVS_IPS_SETS } from './ownership.js';
import type { DrainingRealServer } from './diff-ipvs.js';
import { diffIpvs } from './diff-ipvs.js';
import { diffAddresses } from './diff-addresses.js';
import { diffIpsets } from './diff-ipsets.js';
import { diffIptables, referencedSets } from './diff-iptables.js';

export interface Plan {
  ops: Op[];
  /** Removed TCP real servers kept at weight 0 while connections drain (started now or earlier). */
  draining: DrainingRealServer[];
  /** Odd input the planner skipped or could not reconcile, sorted. */
  diagnostics: Diagnostic[];
}

export function computePlan(desired: NodeState, observed: NodeState, options: PlanOptions = {}): Plan {
  const opts: PlanOptions = options !== null && typeof options === 'object' ? options : {};
  const diagnostics: Diagnostic[] = [];
  const scope = opts.scope && !opts.initialSync ? resolveScope(opts.scope) : undefined;
  const vsInScope = scope ? (k: string) => scope.virtualServers.has(k) : () => true;
  // Out-of-scope virtual servers are not even normalised: a scoped plan costs what changed.
  const d = normalizeState(desired, 'desired', diagnostics, vsInScope);
  const o = normalizeState(observed, 'observed', diagnostics, vsInScope);
  const ownership = buildOwnership(o, opts, d.addresses);
  const prune = opts.prune !== false;

  const ipsets = diffIpsets(d, o, prune, entryScopeOf(scope), diagnostics);
  const iptables = diffIptables(d, o, opts.iptablesEqual, scope ? scope.iptables : true, opts.ensureJumpRules === true, diagnostics);
  const addresses = diffAddresses(d, o, ownership, prune, scope?.addresses);
  const ipvs = diffIpvs(d, o, {
    ownership,
    prune,
    graceful: opts.gracefulTermination !== false,
    initialSync: opts.initialSync === true,
    drainExpired: drainExpiryTest(opts),
    inScope: vsInScope,
  });
  const link = addresses.adds.length > 0 || opts.ensureLink === true ? [makeOp.ensureLink()] : [];

  const all: Op[] = [
    ...link,
    ...ipsets.creates,
    ...ipsets.adds,
    ...iptables.restores,
    ...iptables.jumps,
    ...addresses.adds,
    ...ipvs.services,
    ...ipvs.realServerUpdates,
    ...ipvs.realServerRemovals,
    ...ipvs.serviceDeletes,
    ...addresses.dels,
    ...ipsets.dels,
  ];
  wireDependencies(all, d);

  diagnostics.sort((a, b) => compareStrings(a.object, b.object) || compareStrings(a.message, b.message));
  return { ops: all, draining: ipvs.draining, diagnostics };
}

/** Fills dependsOn. Every id it names belongs to an op placed earlier in `all`. */
function wireDependencies(all: Op[], desired: NormalState): void {
  const ids = new Set(all.map((op) => op.id));
  const has = (id: string): string[] => (ids.has(id) ? [id] : []);
  const link = opIds.ensureLink();

  // Deleted virtual servers, indexed the ways set members refer to them.
  const delByKey = new Map<string, string>();
  const delByAddress = new Map<string, string[]>();
  const delByProtoPort = new Map<string, string[]>();
  for (const op of all) {
    if (op.kind !== 'del-service') continue;
    const s = op.service;
    delByKey.set(virtualServerKey(s), op.id);
    push(delByAddress, s.address, op.id);
    push(delByProtoPort, `${s.protocol}/${s.port}`, op.id);
  }

  for (const op of all) {
    switch (op.kind) {
      case 'add-address':
        op.dependsOn = has(link);
        break;
      case 'ipset-add':
        op.dependsOn = has(opIds.ipsetCreate(op.set));
        break;
      case 'iptables-restore':
        op.dependsOn = referencedSets(op.text).flatMap((set) => has(opIds.ipsetCreate(set)));
        break;
      case 'ensure-jump-rules':
        op.dependsOn = has(opIds.iptablesRestore(op.family, op.table));
        break;
      case 'add-service':
        op.dependsOn = has(opIds.addAddress(op.service.address));
        break;
      case 'del-service':
        // Ours only because this plan binds its address (ownership.ts): keep it if the bind failed.
        op.dependsOn = has(opIds.addAddress(op.service.address));
        break;
      case 'add-real-server':
        op.dependsOn = has(opIds.addService(op.service));
        break;
      case 'del-address':
        // If a virtual server on the address could not be deleted, the address stays with it: it is also
        // what marks that virtual server as ours for the next sync.
        op.dependsOn = [...(delByAddress.get(op.address) ?? [])];
        break;
      case 'ipset-del':
        op.dependsOn = memberDependencies(op.set, op.entry, desired, { delByKey, delByAddress, delByProtoPort }, has);
        break;
      default:
        break;
    }
    op.dependsOn.sort(compareStrings);
  }
}

function push(m: Map<string, string[]>, k: string, v: string): void {
  const l = m.get(k);
  if (l) l.push(v);
  else m.set(k, [v]);
}

/**
 * A member stays while the virtual server it describes could not be deleted: KUBE-IPVS-IPS entries
 * (ownership evidence) wait for the address and its virtual servers, "ip,proto:port" members for that
 * virtual server, node-port bitmap members for the NodePort virtual servers on that port.
 */
function memberDependencies(
  set: string,
  entry: string,
  desired: NormalState,
  idx: { delByKey: Map<string, string>; delByAddress: Map<string, string[]>; delByProtoPort: Map<string, string[]> },
  has: (id: string) => string[],
): string[] {
  const type = desired.ipsets.get(set)?.type ?? '';
  if (IPVS_IPS_SETS.includes(set)) {
    const address = normalizeAddress(entry) ?? entry;
    return [...has(opIds.delAddress(address)), ...(idx.delByAddress.get(address) ?? [])];
  }
  if (/LOOP-BACK$/.test(set)) return []; // endpoint addresses, not virtual servers
  if (type === 'bitmap:port') {
    const protocol: Protocol | undefined = /-TCP$/.test(set) ? 'TCP' : /-UDP$/.test(set) ? 'UDP' : undefined;
    return protocol ? [...(idx.delByProtoPort.get(`${protocol}/${entry}`) ?? [])] : [];
  }
  if (type.startsWith('hash:ip,port')) {
    const [ip, portPart] = entry.split(',');
    const [proto, port] = (portPart ?? '').split(':');
    const protocol = normalizeProtocol(proto);
    const address = normalizeAddress(ip);
    if (!protocol || !address || !/^[0-9]+$/.test(port ?? '')) return [];
    const id = idx.delByKey.get(virtualServerKey({ protocol, address, port: Number(port) }));
    return id ? [id] : [];
  }
  return [];
}
