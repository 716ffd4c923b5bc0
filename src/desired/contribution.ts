// What one Service puts on this node: its IPVS virtual servers (with real servers), ipset entries, kube-ipvs0
// addresses and KUBE-IPVS-OUT-FILTER rules, for both IP families. This is the body of kube-proxy's per
// service-port loop in syncProxyRules (pkg/proxy/ipvs/proxier.go), in the same order:
//   1 hairpin (KUBE-LOOP-BACK)  2 cluster IP  3 external IPs  4 load balancer ingress  5 node ports  6 health check.
// It depends only on the Service, its EndpointSlices and the node environment, so it can be cached per Service.

import type { IPFamily } from '../model/ip.js';
import { cidrContains } from '../model/ip.js';
import { protocolSortKey } from '../model/order.js';
import { IPVS_SVC_FLAGS, type Protocol, type RealServer, type VirtualServer } from '../model/state.js';
import { portKey as portKeyOf, type Addr } from './address.js';
import { endpointsByPort, portId } from './endpoints.js';
import type { Env } from './env.js';
import type { NormalizedService } from './service.js';
import type { NormalizedSlice } from './slice.js';
import { categorizeEndpoints, isLocalEndpoint, type ServiceEndpoint } from './topology.js';

/** A virtual server a service port wants; when two ports want the same one, the smaller portName wins. */
export interface VsClaim {
  /** Sort key of the virtual server (address key + protocol + portKey): same order as model/order.ts. */
  key: string;
  /** "ns/name" of the Service. */
  serviceKey: string;
  portName: string;
  /** Which address of the service port this virtual server is on (explain): step 2, 3, 4 or 5 of the loop. */
  kind: VsKind;
  vs: VirtualServer;
}

export type VsKind = 'clusterIP' | 'externalIP' | 'loadBalancer' | 'nodePort';

export interface KeyedText {
  key: string;
  text: string;
}

export interface SetEntry extends KeyedText {
  /** The per-family set name. */
  set: string;
}

export interface OutFilterRule extends KeyedText {
  family: IPFamily;
}

export interface ServiceContribution {
  claims: VsClaim[];
  entries: SetEntry[];
  /** kube-ipvs0 addresses. */
  addresses: KeyedText[];
  outFilter: OutFilterRule[];
}

export const EMPTY_CONTRIBUTION: ServiceContribution = Object.freeze({
  claims: [],
  entries: [],
  addresses: [],
  outFilter: [],
}) as ServiceContribution;

const LOWER: Record<Protocol, string> = { TCP: 'tcp', UDP: 'udp', SCTP: 'sctp' };

function realServersOf(eps: readonly ServiceEndpoint[]): RealServer[] {
  const out: RealServer[] = new Array(eps.length);
  for (let i = 0; i < eps.length; i++) out[i] = eps[i]!.rs;
  return out;
}

export function computeContribution(svc: NormalizedService, slices: readonly NormalizedSlice[], env: Env): ServiceContribution {
  const claims: VsClaim[] = [];
  const entries: SetEntry[] = [];
  const addresses: KeyedText[] = [];
  const outFilter: OutFilterRule[] = [];
  const scheduler = svc.scheduler?.scheduler ?? env.scheduler;
  const schedFlags = svc.scheduler ? svc.scheduler.flags : env.schedulerFlags;
  const flags = schedFlags | (svc.affinityTimeout > 0 ? IPVS_SVC_FLAGS.PERSISTENT : 0);
  const timeout = svc.affinityTimeout;

  for (const family of [4, 6] as const) {
    const clusterIP = svc.clusterIP[family];
    if (!clusterIP) continue;
    const fe = env.families[family];
    const names = fe.setNames;
    const eps = endpointsByPort(slices, family);
    const externalIPs = svc.externalIPs[family];
    const lbVIPs = svc.lbVIPs[family];
    const sourceRanges = svc.sourceRanges[family];
    const bound = new Set<string>();
    const bind = (a: Addr) => {
      if (bound.has(a.text)) return;
      bound.add(a.text);
      addresses.push({ key: a.key, text: a.text });
      entries.push({ set: names.ipvsIPs, key: a.key, text: a.text });
    };

    for (const sp of svc.ports) {
      const proto = LOWER[sp.protocol];
      const protoKey = protocolSortKey(sp.protocol);
      const portKey = portKeyOf(sp.port);
      const endpoints = eps.get(portId(sp.name, sp.protocol)) ?? [];

      // Which endpoints the virtual servers get (syncEndpoint + CategorizeEndpoints).
      const externallyAccessible = sp.nodePort !== 0 || lbVIPs.length > 0 || externalIPs.length > 0;
      const usesCluster = !svc.internalPolicyLocal || externallyAccessible;
      const usesLocal = svc.internalPolicyLocal || (svc.externalPolicyLocal && externallyAccessible);
      const cat = categorizeEndpoints(endpoints, usesCluster, usesLocal, env.nodeName, env.zone);
      const clusterRS = realServersOf(cat.cluster ?? []);
      // Local policy with no usable local endpoint falls back to the cluster endpoints (kubernetes PR #97081).
      const localOrCluster = cat.local && cat.local.length > 0 ? realServersOf(cat.local) : clusterRS;
      const internalRS = svc.internalPolicyLocal ? localOrCluster : clusterRS;
      const externalRS = svc.externalPolicyLocal ? localOrCluster : clusterRS;
      const claim = (kind: VsKind, addr: Addr, port: number, realServers: RealServer[]) => {
        claims.push({
          key: addr.key + protoKey + portKeyOf(port),
          serviceKey: svc.key,
          portName: sp.portName,
          kind,
          vs: { protocol: sp.protocol, address: addr.text, port, scheduler, flags, timeout, realServers, service: sp.portName },
        });
      };
      const ipPortKey = (a: Addr) => a.key + protoKey + portKey;
      const ipPortText = (a: Addr) => `${a.text},${proto}:${sp.port}`;

      // 1. Hairpin: every local endpoint, whatever its readiness.
      for (const ep of endpoints) {
        if (!isLocalEndpoint(ep, env.nodeName)) continue;
        entries.push({ set: names.loopBack, key: ep.ipKey + protoKey + portKeyOf(ep.port) + ep.ipKey, text: `${ep.ip},${proto}:${ep.port},${ep.ip}` });
      }

      // 2. Cluster IP (always bound to kube-ipvs0).
      entries.push({ set: names.clusterIP, key: ipPortKey(clusterIP), text: ipPortText(clusterIP) });
      claim('clusterIP', clusterIP, sp.port, internalRS);
      bind(clusterIP);

      // 3. External IPs (bound unless the address is already on another interface).
      for (const ext of externalIPs) {
        entries.push({ set: svc.externalPolicyLocal ? names.externalIPLocal : names.externalIP, key: ipPortKey(ext), text: ipPortText(ext) });
        claim('externalIP', ext, sp.port, externalRS);
        if (!fe.nodeAddressSet.has(ext.text)) bind(ext);
      }

      // 4. Load balancer ingress IPs.
      for (const vip of lbVIPs) {
        const e = { key: ipPortKey(vip), text: ipPortText(vip) };
        entries.push({ set: names.loadBalancer, key: e.key, text: e.text });
        if (svc.externalPolicyLocal) entries.push({ set: names.loadBalancerLocal, key: e.key, text: e.text });
        if (sourceRanges.length > 0) {
          entries.push({ set: names.loadBalancerFW, key: e.key, text: e.text });
          let allowFromNode = false;
          for (const cidr of sourceRanges) {
            entries.push({ set: names.loadBalancerSourceCIDR, key: e.key + cidr.key, text: `${e.text},${cidr.text}` });
            if (cidrContains(cidr.net, fe.nodeIP)) allowFromNode = true;
          }
          if (allowFromNode) entries.push({ set: names.loadBalancerSourceIP, key: e.key + vip.key, text: `${e.text},${vip.text}` });
          else {
            // The node's own traffic to the VIP would have the VIP as source (it is on kube-ipvs0): drop it in OUTPUT.
            outFilter.push({
              family,
              key: e.key,
              text: `-A KUBE-IPVS-OUT-FILTER -s ${vip.text} -m ipvs --vaddr ${vip.text} --vproto ${proto} --vport ${sp.port} -j DROP`,
            });
          }
        }
        claim('loadBalancer', vip, sp.port, externalRS);
        if (!fe.nodeAddressSet.has(vip.text)) bind(vip);
      }

      // 5. Node ports: one virtual server per node IP, never bound. Without node IPs kube-proxy `continue`s,
      //    which also skips step 6 for this port.
      if (sp.nodePort !== 0) {
        if (fe.nodePortIPs.length === 0) continue;
        const npKey = portKeyOf(sp.nodePort);
        const npEntries: KeyedText[] =
          sp.protocol === 'SCTP'
            ? fe.nodePortIPs.map((ip) => ({ key: ip.key + protoKey + npKey, text: `${ip.text},${proto}:${sp.nodePort}` }))
            : [{ key: npKey, text: String(sp.nodePort) }];
        const [set, localSet] =
          sp.protocol === 'TCP' ? [names.nodePortTCP, names.nodePortLocalTCP] : sp.protocol === 'UDP' ? [names.nodePortUDP, names.nodePortLocalUDP] : [names.nodePortSCTP, names.nodePortLocalSCTP];
        for (const e of npEntries) entries.push({ set, key: e.key, text: e.text });
        if (svc.externalPolicyLocal) for (const e of npEntries) entries.push({ set: localSet, key: e.key, text: e.text });
        for (const ip of fe.nodePortIPs) claim('nodePort', ip, sp.nodePort, externalRS);
      }

      // 6. Health check node port.
      if (svc.healthCheckNodePort !== 0) {
        entries.push({ set: names.healthCheckNodePort, key: portKeyOf(svc.healthCheckNodePort), text: String(svc.healthCheckNodePort) });
      }
    }
  }
  return { claims, entries, addresses, outFilter };
}

export function sameRealServers(a: readonly RealServer[], b: readonly RealServer[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x !== y && (x.address !== y.address || x.port !== y.port || x.weight !== y.weight)) return false;
  }
  return true;
}

export function sameVirtualServer(a: VirtualServer, b: VirtualServer): boolean {
  return (
    a === b ||
    (a.protocol === b.protocol &&
      a.address === b.address &&
      a.port === b.port &&
      a.scheduler === b.scheduler &&
      a.flags === b.flags &&
      a.timeout === b.timeout &&
      a.service === b.service &&
      sameRealServers(a.realServers, b.realServers))
  );
}
