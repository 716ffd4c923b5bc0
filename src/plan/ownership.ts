// Which kernel objects kube-ipvs may delete (design principle 4, reference §4.5 and §4.6). The planner
// never deletes anything this module does not call ours; adds and edits of DESIRED objects are not
// restricted (kube-proxy also adds a desired virtual server whatever its address).
//
//  * A virtual server is ours to delete only if its address is on kube-ipvs0 (observed addresses or a
//    member of KUBE-IPVS-IPS / KUBE-6-IPVS-IPS, which records what we bound even if the address is gone)
//    or is one of the node's addresses (NodePort virtual servers), and is not inside --ipvs-exclude-cidrs.
//    So IPVS services of other tools (keepalived, a second load balancer) survive. An address this very
//    plan binds to kube-ipvs0 counts too: after the sync it is on kube-ipvs0, so the next sync would
//    delete those virtual servers anyway; doing it now makes one plan converge (the delete depends on
//    the bind, so a failed bind keeps them).
//  * A kube-ipvs0 address is ours unless it is inside an exclude CIDR or is IPv6 link-local (the kernel's,
//    issue #70113).
//  * Only KUBE-* sets and chains: anything else is never in a plan.

import type { NodeState } from '../model/state.js';
import { ipsetName, KUBE_IPSETS } from '../model/ipsets.js';
import type { ParsedCIDR } from '../model/ip.js';
import { inAnyCIDR, parseCIDR } from '../model/ip.js';
import type { NormalState } from './normalize.js';
import { isIPv6LinkLocal, normalizeAddress, normalizeState } from './normalize.js';
import type { PlanOptions } from './options.js';

export const IPVS_IPS_SETS: readonly string[] = [ipsetName(KUBE_IPSETS.ipvsIPs.name, 4), ipsetName(KUBE_IPSETS.ipvsIPs.name, 6)];

/** kube-ipvs (and kube-proxy's IPVS mode) own every set and chain named KUBE-*. */
export function isKubeName(name: string): boolean {
  return name.startsWith('KUBE-');
}

export interface Ownership {
  /** Inside --ipvs-exclude-cidrs. */
  isExcluded(address: string): boolean;
  /** A kube-ipvs0 address the planner must never delete. */
  isProtectedAddress(address: string): boolean;
  /** May a virtual server on this address be deleted (when it is not desired)? */
  ownsVirtualServerAddress(address: string): boolean;
}

function safeList(x: unknown): string[] {
  if (!Array.isArray(x)) return [];
  return x.filter((v): v is string => typeof v === 'string');
}

/** `binding`: desired kube-ipvs0 addresses (the plan binds those not bound yet). Nothing here copies the
 *  address sets: a scoped plan asks about a few addresses and must not pay for the 10^4 the node holds. */
export function buildOwnership(observed: NormalState, options: PlanOptions, binding: ReadonlySet<string> | Iterable<string> = []): Ownership {
  const cidrs: ParsedCIDR[] = [];
  for (const c of safeList(options.excludeCIDRs)) {
    const p = parseCIDR(c.trim());
    if (p) cidrs.push(p);
  }
  const bound: ReadonlySet<string> = binding instanceof Set ? binding : new Set(binding);
  const nodeAddresses = new Set<string>();
  for (const a of safeList(options.nodeAddresses)) {
    const c = normalizeAddress(a);
    if (c) nodeAddresses.add(c);
  }
  // KUBE-IPVS-IPS members are canonical addresses once normalised (or kept as written when unparsable).
  const recorded = IPVS_IPS_SETS.map((set) => observed.ipsets.get(set)?.entries).filter((s): s is ReadonlySet<string> => s !== undefined);
  const isOurs = (address: string): boolean =>
    observed.addresses.has(address) || bound.has(address) || nodeAddresses.has(address) || recorded.some((s) => s.has(address));
  const isExcluded = (address: string): boolean => inAnyCIDR(address, cidrs);
  return {
    isExcluded,
    isProtectedAddress: (address) => isExcluded(address) || isIPv6LinkLocal(address),
    ownsVirtualServerAddress: (address) => isOurs(address) && !isExcluded(address),
  };
}

/** Ownership as a plan computes it, from plain states (for tools and tests); without `desired`, as cleanup does. */
export function ownershipOf(observed: NodeState, options: PlanOptions = {}, desired?: NodeState): Ownership {
  const binding = desired ? normalizeState(desired, 'desired', []).addresses : [];
  return buildOwnership(normalizeState(observed, 'observed', []), options, binding);
}
