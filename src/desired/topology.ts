// Which endpoints a service port uses on this node: kube-proxy's CategorizeEndpoints (pkg/proxy/topology.go),
// with the PreferSameTrafficDistribution feature (node hints) on, as it is by default since Kubernetes 1.34.
//
// - Cluster endpoints (only when the port uses them): Ready endpoints, filtered by topology hints; if there are
//   none, the Serving+Terminating ones (cluster-wide).
// - Local endpoints (only when the port uses them): local Ready endpoints, else local Serving+Terminating ones.
// - Topology: when every Ready endpoint has node hints and one names this node -> PreferSameNode; else when
//   every Ready endpoint has zone hints and one names this node's zone -> PreferSameZone; else none.
// The Service's spec.trafficDistribution is not read here: the EndpointSlice controller turns it into hints.

import type { RealServer } from '../model/state.js';

/** One endpoint of one service port (an EndpointSlice endpoint's addresses[0] with one of the slice's ports). */
export interface ServiceEndpoint {
  /** Canonical IP text. */
  ip: string;
  /** Sort key of the address. */
  ipKey: string;
  port: number;
  /** Sort key: address then port (address.ts portKey). */
  key: string;
  /** "" when the endpoint has no nodeName; local = equal to this node's name. */
  nodeName: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
  zoneHints: ReadonlySet<string> | undefined;
  nodeHints: ReadonlySet<string> | undefined;
  /** The real server this endpoint becomes (shared, read-only). */
  rs: RealServer;
}

/** kube-proxy's Endpoint.IsLocal(): the endpoint's nodeName is this node's (non-empty) name. */
export function isLocalEndpoint(ep: ServiceEndpoint, nodeName: string): boolean {
  return nodeName !== '' && ep.nodeName === nodeName;
}

export interface Categorized {
  /** undefined when the port never uses Cluster policy. */
  cluster: ServiceEndpoint[] | undefined;
  /** undefined when the port never uses Local policy. */
  local: ServiceEndpoint[] | undefined;
}

export type TopologyMode = '' | 'PreferSameNode' | 'PreferSameZone';

/** Exported for explain: which hints (if any) filter the cluster endpoints. */
export function topologyMode(endpoints: readonly ServiceEndpoint[], nodeName: string, zone: string): TopologyMode {
  let hasReady = false;
  let hasForNode = false;
  let allNodeHints = true;
  let hasForZone = false;
  let allZoneHints = true;
  for (const ep of endpoints) {
    if (!ep.ready) continue;
    hasReady = true;
    if (!ep.nodeHints || ep.nodeHints.size === 0) allNodeHints = false;
    else if (ep.nodeHints.has(nodeName)) hasForNode = true;
    if (!ep.zoneHints || ep.zoneHints.size === 0) allZoneHints = false;
    else if (ep.zoneHints.has(zone)) hasForZone = true;
  }
  if (!hasReady) return '';
  if (allNodeHints && hasForNode) return 'PreferSameNode';
  if (allZoneHints && hasForZone) return 'PreferSameZone';
  return '';
}

function availableForTopology(ep: ServiceEndpoint, mode: TopologyMode, nodeName: string, zone: string): boolean {
  if (mode === '') return true;
  if (mode === 'PreferSameNode') return ep.nodeHints?.has(nodeName) ?? false;
  return ep.zoneHints?.has(zone) ?? false;
}

export function categorizeEndpoints(
  endpoints: readonly ServiceEndpoint[],
  usesClusterEndpoints: boolean,
  usesLocalEndpoints: boolean,
  nodeName: string,
  zone: string,
): Categorized {
  if (endpoints.length === 0) return { cluster: undefined, local: undefined };
  let cluster: ServiceEndpoint[] | undefined;
  if (usesClusterEndpoints) {
    const mode = topologyMode(endpoints, nodeName, zone);
    cluster = endpoints.filter((ep) => ep.ready && availableForTopology(ep, mode, nodeName, zone));
    // No ready endpoint anywhere (topology was already ignored if none matched): serving-terminating fallback.
    if (cluster.length === 0) cluster = endpoints.filter((ep) => ep.serving && ep.terminating);
  }
  let local: ServiceEndpoint[] | undefined;
  if (usesLocalEndpoints) {
    let hasLocalReady = false;
    let hasLocalServingTerminating = false;
    for (const ep of endpoints) {
      if (!isLocalEndpoint(ep, nodeName)) continue;
      if (ep.ready) hasLocalReady = true;
      else if (ep.serving && ep.terminating) hasLocalServingTerminating = true;
    }
    if (hasLocalReady) local = endpoints.filter((ep) => isLocalEndpoint(ep, nodeName) && ep.ready);
    else if (hasLocalServingTerminating) local = endpoints.filter((ep) => isLocalEndpoint(ep, nodeName) && ep.serving && ep.terminating);
  }
  return { cluster, local };
}
