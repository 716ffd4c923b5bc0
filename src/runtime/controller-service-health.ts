// What the health check node ports and the no-local-endpoints gauges need per Service, kept incrementally:
// only the Services a sync changed are recomputed (from the informer caches), so the cost follows the change.
//
//   healthCheckNodePort   kube-proxy's NeedsHealthCheck: type LoadBalancer, externalTrafficPolicy Local, and a
//                         valid spec.healthCheckNodePort (the health server opens it on every node)
//   localReadyEndpoints   kube-proxy's LocalReadyEndpoints: distinct IPs of ready endpoints on this node
//                         (terminating ones do not count); per family, the larger count
//   noLocal internal / external   a Local traffic policy, endpoints somewhere, none (ready, or serving and
//                         terminating) on this node: kubeproxy_sync_proxy_rules_no_local_endpoints_total

import type { ApiEndpointSlice, ApiService } from '../model/api.js';
import { LABEL_SERVICE_NAME } from '../model/api.js';
import { canonicalIP, ipFamilyOf } from '../model/ip.js';

export interface ServiceHealthFacts {
  healthCheckNodePort: number;
  localReadyEndpoints: number;
  /** Families (4, 6) the Service has a cluster IP in. */
  families: (4 | 6)[];
  noLocalInternal: boolean;
  noLocalExternal: boolean;
}

/** Where the index reads current objects (the informer caches). */
export interface ServiceLookup {
  service(namespace: string, name: string): ApiService | undefined;
  slicesFor(namespace: string, name: string): ApiEndpointSlice[];
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function clusterIPFamilies(svc: ApiService): (4 | 6)[] {
  const spec = svc.spec ?? {};
  const ips = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length ? spec.clusterIPs : [spec.clusterIP];
  const out = new Set<4 | 6>();
  for (const ip of ips) {
    const f = typeof ip === 'string' ? ipFamilyOf(ip) : undefined;
    if (f) out.add(f);
  }
  return [...out].sort();
}

function isPort(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

/** Pure: the facts of one Service given its slices and this node's name. */
export function serviceHealthFacts(svc: ApiService, slices: readonly ApiEndpointSlice[], nodeName: string): ServiceHealthFacts {
  const spec = isRecord(svc.spec) ? svc.spec : {};
  const families = clusterIPFamilies(svc);
  const type = spec.type ?? 'ClusterIP';
  const externalLocal = spec.externalTrafficPolicy === 'Local';
  const internalLocal = spec.internalTrafficPolicy === 'Local';
  const externallyAccessible =
    type === 'NodePort' || type === 'LoadBalancer' || (Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
  const needsHealthCheck = type === 'LoadBalancer' && externalLocal && isPort(spec.healthCheckNodePort);

  const readyLocal = new Map<4 | 6, Set<string>>();
  let anyEndpoint = false;
  let localUsable = false;
  for (const slice of slices) {
    if (!isRecord(slice) || !Array.isArray(slice.endpoints)) continue;
    for (const ep of slice.endpoints) {
      if (!isRecord(ep) || !Array.isArray(ep.addresses) || ep.addresses.length === 0) continue;
      const ip = canonicalIP(ep.addresses[0]);
      const family = ip ? ipFamilyOf(ip) : undefined;
      if (!ip || !family || !families.includes(family)) continue;
      const c = isRecord(ep.conditions) ? ep.conditions : {};
      const ready = c.ready === undefined || c.ready === null || c.ready === true;
      const serving = c.serving === undefined || c.serving === null || c.serving === true;
      const terminating = c.terminating === true;
      if (ready || (serving && terminating)) anyEndpoint = true;
      if (ep.nodeName !== nodeName) continue;
      if (ready || (serving && terminating)) localUsable = true;
      if (ready && !terminating) {
        let set = readyLocal.get(family);
        if (!set) readyLocal.set(family, (set = new Set()));
        set.add(ip);
      }
    }
  }
  let localReadyEndpoints = 0;
  for (const s of readyLocal.values()) localReadyEndpoints = Math.max(localReadyEndpoints, s.size);
  return {
    healthCheckNodePort: needsHealthCheck ? (spec.healthCheckNodePort as number) : 0,
    localReadyEndpoints,
    families,
    noLocalInternal: internalLocal && anyEndpoint && !localUsable,
    noLocalExternal: externalLocal && externallyAccessible && anyEndpoint && !localUsable,
  };
}

export class ServiceHealthIndex {
  private readonly facts = new Map<string, ServiceHealthFacts>();
  private changedPorts = true;

  constructor(
    private readonly nodeName: string,
    private readonly lookup: ServiceLookup,
  ) {}

  /** Recomputes the given Services ("ns/name"). Returns true when the set of health check ports changed. */
  update(keys: Iterable<string>): boolean {
    let portsChanged = false;
    for (const key of keys) {
      const slash = key.indexOf('/');
      if (slash < 0) continue;
      const ns = key.slice(0, slash);
      const name = key.slice(slash + 1);
      const svc = this.lookup.service(ns, name);
      const before = this.facts.get(key);
      if (!svc) {
        this.facts.delete(key);
        if (before?.healthCheckNodePort) portsChanged = true;
        continue;
      }
      const slices = this.lookup.slicesFor(ns, name).filter((s) => s.metadata?.labels?.[LABEL_SERVICE_NAME] === name);
      const f = serviceHealthFacts(svc, slices, this.nodeName);
      if ((before?.healthCheckNodePort ?? 0) !== f.healthCheckNodePort) portsChanged = true;
      if (f.healthCheckNodePort || f.noLocalExternal || f.noLocalInternal) this.facts.set(key, f);
      else this.facts.delete(key);
    }
    if (portsChanged) this.changedPorts = true;
    return portsChanged;
  }

  /** True once after the health check ports changed (so the caller re-syncs the servers only then). */
  takePortsChanged(): boolean {
    const c = this.changedPorts;
    this.changedPorts = false;
    return c;
  }

  healthCheckNodePorts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, f] of this.facts) if (f.healthCheckNodePort) out.set(k, f.healthCheckNodePort);
    return out;
  }

  localReadyEndpoints(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, f] of this.facts) if (f.healthCheckNodePort) out.set(k, f.localReadyEndpoints);
    return out;
  }

  noLocalEndpoints(family: 4 | 6): { internal: number; external: number } {
    let internal = 0;
    let external = 0;
    for (const f of this.facts.values()) {
      if (!f.families.includes(family)) continue;
      if (f.noLocalInternal) internal++;
      if (f.noLocalExternal) external++;
    }
    return { internal, external };
  }
}
