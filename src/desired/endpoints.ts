// A Service's endpoints per service port, from all its EndpointSlices of one family, the way kube-proxy's
// endpoint slice cache merges them (endpointslicecache.go addEndpoints): ports matched by (name, protocol),
// one endpoint per "ip:port" (a non-terminating copy wins over a terminating one), sorted.

import type { IPFamily } from '../model/ip.js';
import type { NormalizedSlice } from './slice.js';
import type { ServiceEndpoint } from './topology.js';

/** portId(name, protocol) -> endpoints sorted by (address, port). */
export type EndpointsByPort = Map<string, ServiceEndpoint[]>;

export function portId(name: string, protocol: string): string {
  return `${name}/${protocol}`;
}

/** Slices must be given in a fixed order (by slice key) so the result does not depend on arrival order. */
export function endpointsByPort(slices: readonly NormalizedSlice[], family: IPFamily): EndpointsByPort {
  const out: EndpointsByPort = new Map();
  let merged: Set<string> | undefined;
  for (const slice of slices) {
    if (slice.family !== family) continue;
    for (const p of slice.ports) {
      const list = out.get(p.id);
      if (!list) out.set(p.id, p.endpoints); // one slice: its list is already sorted and unique
      else {
        (merged ??= new Set()).add(p.id);
        out.set(p.id, list.concat(p.endpoints));
      }
    }
  }
  if (merged) for (const id of merged) out.set(id, dedupEndpoints(out.get(id)!));
  return out;
}

/** Sorts by (address, port) and keeps one endpoint per key (the list is sorted in place). */
export function dedupEndpoints(list: ServiceEndpoint[]): ServiceEndpoint[] {
  let sorted = true;
  for (let i = 1; i < list.length; i++) if (list[i]!.key < list[i - 1]!.key) sorted = false;
  if (!sorted) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  let dup = false;
  for (let i = 1; i < list.length; i++) if (list[i]!.key === list[i - 1]!.key) dup = true;
  if (!dup) return list;
  // The sort is stable, so equal keys keep arrival order: the last non-terminating copy wins, else the first
  // copy (kube-proxy replaces an endpoint when it is absent or when the new copy is not terminating).
  const out: ServiceEndpoint[] = [];
  for (const ep of list) {
    const last = out[out.length - 1];
    if (last && last.key === ep.key) {
      if (!ep.terminating) out[out.length - 1] = ep;
    } else out.push(ep);
  }
  return out;
}
