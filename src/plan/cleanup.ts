// `kube-ipvs --cleanup`: remove what kube-ipvs (or kube-proxy's IPVS mode) put on the node. kube-proxy
// flushes ALL of IPVS (`ipvs.Flush()`); kube-ipvs removes only what it owns (principle 4), with the same
// ownership rules as a sync: foreign and excluded virtual servers, excluded and link-local addresses,
// non-KUBE sets and chains, and the chains of other components (KUBE-SVC-*, kubelet's KUBE-FIREWALL) stay.
//
// Order: virtual servers, addresses (or the whole kube-ipvs0 when nothing protected is on it), jump rules,
// then the KUBE chains (flush + -X in one restore, as kube-proxy's cleanupIptablesLeftovers), then sets
// (the kernel refuses to destroy a set a rule still matches).

import type { Diagnostic, NodeState } from '../model/state.js';
import { allKubeIpsetNames, KUBE_CHAINS } from '../model/ipsets.js';
import type { Op, TableName } from './ops.js';
import { FAMILY_NAMES, ops, TABLE_NAMES } from './ops.js';
import { compareStrings, normalizeState, sortAddresses, sortByKey, virtualServerOrder } from './normalize.js';
import type { PlanOptions } from './options.js';
import { buildOwnership } from './ownership.js';
import { jumpRulesFor, referencedSets } from './diff-iptables.js';
import type { Plan } from './plan.js';

/** Chains of `table` kube-ipvs owns that the observed text declares, in KUBE_CHAINS order. */
function ownedChains(table: TableName, observedText: string): string[] {
  const declared = new Set<string>();
  for (const line of observedText.split('\n')) {
    const m = /^:(\S+)/.exec(line.trim());
    if (m) declared.add(m[1]!);
  }
  return KUBE_CHAINS[table].filter((c) => declared.has(c));
}

export function deleteChainsText(table: TableName, chains: readonly string[]): string {
  return [`*${table}`, ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

export function planCleanup(observed: NodeState, options: PlanOptions = {}): Plan {
  const diagnostics: Diagnostic[] = [];
  const o = normalizeState(observed, 'observed', diagnostics);
  const ownership = buildOwnership(o, options ?? {});
  const out: Op[] = [];

  const services = sortByKey(
    [...o.virtualServers.values()].filter((vs) => ownership.ownsVirtualServerAddress(vs.address)),
    virtualServerOrder,
  );
  const serviceDeletes = services.map((vs) => ops.delService(vs));
  out.push(...serviceDeletes);

  const addresses = sortAddresses(o.addresses);
  const protectedLeft = addresses.filter((a) => ownership.isExcluded(a));
  if (protectedLeft.length === 0) {
    // Link-local addresses are the kernel's, made for the link: they go with it.
    const link = ops.deleteLink();
    link.dependsOn = serviceDeletes.map((op) => op.id).sort(compareStrings);
    out.push(link);
  } else {
    for (const a of addresses) {
      if (ownership.isProtectedAddress(a)) continue;
      const del = ops.delAddress(a);
      del.dependsOn = serviceDeletes.filter((op) => op.service.address === a).map((op) => op.id).sort(compareStrings);
      out.push(del);
    }
  }

  const restoresBySet = new Map<string, string[]>();
  const jumpOps: Op[] = [];
  const restoreOps: Op[] = [];
  for (const family of FAMILY_NAMES) {
    for (const table of TABLE_NAMES) {
      const text = o.iptables[family][table];
      const chains = ownedChains(table, text);
      if (chains.length === 0) continue;
      const jumps = ops.deleteJumpRules(family, table, jumpRulesFor(table));
      const restore = ops.iptablesRestore(family, table, deleteChainsText(table, chains));
      restore.dependsOn = [jumps.id];
      jumpOps.push(jumps);
      restoreOps.push(restore);
      for (const set of referencedSets(text)) {
        const l = restoresBySet.get(set) ?? [];
        l.push(restore.id);
        restoresBySet.set(set, l);
      }
    }
  }
  out.push(...jumpOps, ...restoreOps);

  const owned = new Set(allKubeIpsetNames());
  for (const name of [...o.ipsets.keys()].sort(compareStrings)) {
    if (!owned.has(name)) continue;
    const destroy = ops.ipsetDestroy(name);
    destroy.dependsOn = [...(restoresBySet.get(name) ?? [])].sort(compareStrings);
    out.push(destroy);
  }

  diagnostics.sort((a, b) => compareStrings(a.object, b.object) || compareStrings(a.message, b.message));
  return { ops: out, draining: [], diagnostics };
}
