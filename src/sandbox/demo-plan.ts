// The sandbox demo's decisions, as pure functions of the objects (host-tested; no I/O, no clock):
//   - which node kube-ipvs runs as, and its Node object when the objects have none;
//   - which pods to start: one per endpoint address found in the EndpointSlices (grouped by targetRef), with the
//     ports its slices name;
//   - which requests to send: one target per virtual server of the desired state (ClusterIPs from the node,
//     NodePorts, load-balancer and external IPs from the outside client), and which pods may answer each;
//   - what each target's answers prove (every request answered, only by pods behind the virtual server, one pod
//     for session affinity, every pod for round robin);
//   - which Service to scale down and up, and the EndpointSlice edits that do it.

import type { ApiEndpoint, ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import { LABEL_SERVICE_NAME } from '../model/api.js';
import { canonicalIP, cidrContains, compareIPs, formatIP, ipFamilyOf, joinHostPort, parseCIDR, parseIP } from '../model/ip.js';
import { IPVS_SVC_FLAGS, type NodeState, type Protocol, type VirtualServer } from '../model/state.js';

/** The sandbox node's network: an outside link to the client, and the pod bridge. */
export const SANDBOX_NETWORK = {
  /** The node's link to the outside client (a veth named nodeLink, the other end in the client namespace). */
  nodeLink: 'eth0',
  nodeIP: '192.168.50.1',
  clientIP: '192.168.50.2',
  linkPrefix: 24,
  bridge: 'kipvs-br0',
  podCidr4: '10.244.0.0/24',
  podGateway4: '10.244.0.1',
  podCidr6: 'fd00:10:244::/64',
  podGateway6: 'fd00:10:244::1',
} as const;

export const DEFAULT_NODE_NAME = 'sandbox-node';

export interface DemoObjects {
  services: ApiService[];
  endpointSlices: ApiEndpointSlice[];
  nodes: ApiNode[];
}

// ---------------------------------------------------------------- the node

/**
 * The node kube-ipvs runs as: the one asked for; else the only Node among the objects; else the node named by
 * most endpoints (so their traffic policies see local endpoints); else "sandbox-node".
 */
export function chooseNodeName(objects: DemoObjects, explicit?: string): string {
  if (explicit) return explicit;
  const named = objects.nodes.map((n) => n.metadata?.name).filter((n): n is string => !!n);
  if (named.length === 1) return named[0]!;
  const counts = new Map<string, number>();
  for (const s of objects.endpointSlices) {
    for (const e of s.endpoints ?? []) if (e.nodeName) counts.set(e.nodeName, (counts.get(e.nodeName) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [name, n] of [...counts].sort((a, b) => a[0].localeCompare(b[0]))) {
    if (best === undefined || n > counts.get(best)!) best = name;
  }
  return best ?? DEFAULT_NODE_NAME;
}

/** A Node object for the sandbox node (added when the objects have none of that name). */
export function sandboxNodeObject(name: string): ApiNode {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels: { 'kubernetes.io/hostname': name } },
    spec: { podCIDR: SANDBOX_NETWORK.podCidr4, podCIDRs: [SANDBOX_NETWORK.podCidr4] },
    status: { addresses: [{ type: 'InternalIP', address: SANDBOX_NETWORK.nodeIP }, { type: 'Hostname', address: name }] },
  };
}

// ---------------------------------------------------------------- pods

export interface PodSpec {
  name: string;
  ipv4?: string;
  ipv6?: string;
  /** TCP ports (served as HTTP) and UDP ports, sorted. */
  tcp: number[];
  udp: number[];
  /** The endpoint's nodeName ("" when none): only decides what kube-ipvs treats as local. */
  nodeName: string;
}

export interface PodPlan {
  pods: PodSpec[];
  /** What was left out and why (SCTP ports, FQDN slices, addresses that clash with the sandbox network). */
  notes: string[];
}

function sliceService(slice: ApiEndpointSlice): string {
  return slice.metadata?.labels?.[LABEL_SERVICE_NAME] ?? slice.metadata?.name ?? 'endpoints';
}

const RESERVED: ReadonlyMap<string, string> = new Map([
  [SANDBOX_NETWORK.nodeIP, "the sandbox node's address"],
  [SANDBOX_NETWORK.clientIP, "the outside client's address"],
  [SANDBOX_NETWORK.podGateway4, "the sandbox node's pod gateway"],
  [SANDBOX_NETWORK.podGateway6, "the sandbox node's pod gateway"],
]);

/**
 * One pod per endpoint: endpoints with the same targetRef (namespace/name) are one pod (its IPv4 and IPv6
 * addresses), and so are endpoints with the same address in several slices (Services sharing pods). Only the
 * first address of an endpoint is used, as kube-proxy does. Pods are named after their targetRef, else
 * "<service>-<n>".
 */
export function planPods(objects: DemoObjects): PodPlan {
  const notes: string[] = [];
  const byKey = new Map<string, PodSpec>();
  const keyOfAddress = new Map<string, string>();
  const names = new Set<string>();
  const generated = new Map<string, number>();
  const sctp = new Set<string>();
  for (const slice of objects.endpointSlices) {
    const svc = sliceService(slice);
    const sliceName = `${slice.metadata?.namespace ?? 'default'}/${slice.metadata?.name ?? '?'}`;
    if (slice.addressType !== 'IPv4' && slice.addressType !== 'IPv6') {
      notes.push(`EndpointSlice ${sliceName}: addressType ${String(slice.addressType)} is not served by kube-proxy; no pods for it`);
      continue;
    }
    const tcp: number[] = [];
    const udp: number[] = [];
    for (const p of slice.ports ?? []) {
      const proto = (p.protocol ?? 'TCP').toUpperCase();
      if (typeof p.port !== 'number') continue;
      if (proto === 'TCP') tcp.push(p.port);
      else if (proto === 'UDP') udp.push(p.port);
      else sctp.add(`${sliceName} port ${p.port}/${proto}`);
    }
    for (const ep of slice.endpoints ?? []) {
      const address = canonicalIP(ep.addresses?.[0]);
      if (!address) continue;
      const reserved = RESERVED.get(address);
      if (reserved) {
        notes.push(`EndpointSlice ${sliceName}: endpoint ${address} is ${reserved}; no pod for it (requests to it will fail)`);
        continue;
      }
      const ref = ep.targetRef?.name ? `${ep.targetRef.namespace ?? slice.metadata?.namespace ?? 'default'}/${ep.targetRef.name}` : undefined;
      const key = keyOfAddress.get(address) ?? ref ?? `address/${address}`;
      let pod = byKey.get(key);
      if (!pod) {
        let name = ep.targetRef?.name;
        if (!name || names.has(name)) {
          // No pod name (or two namespaces with the same one): "<service>-<n>", unique.
          let n = generated.get(svc) ?? 0;
          do name = `${svc}-${++n}`;
          while (names.has(name));
          generated.set(svc, n);
        }
        names.add(name);
        pod = { name, tcp: [], udp: [], nodeName: ep.nodeName ?? '' };
        byKey.set(key, pod);
      }
      keyOfAddress.set(address, key);
      if (ipFamilyOf(address) === 6) pod.ipv6 ??= address;
      else pod.ipv4 ??= address;
      for (const p of tcp) if (!pod.tcp.includes(p)) pod.tcp.push(p);
      for (const p of udp) if (!pod.udp.includes(p)) pod.udp.push(p);
    }
  }
  if (sctp.size) notes.push(`SCTP is not served by the sandbox pods (${[...sctp].join(', ')}): those ports get no server`);
  const pods = [...byKey.values()];
  for (const p of pods) {
    p.tcp.sort((a, b) => a - b);
    p.udp.sort((a, b) => a - b);
  }
  return { pods: pods.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true })), notes };
}

/** Pod name by address (IPv4 and IPv6). */
export function podsByAddress(pods: readonly PodSpec[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const p of pods) {
    if (p.ipv4) m.set(p.ipv4, p.name);
    if (p.ipv6) m.set(p.ipv6, p.name);
  }
  return m;
}

// ---------------------------------------------------------------- targets

export type TargetKind = 'ClusterIP' | 'NodePort' | 'LoadBalancer' | 'ExternalIP';

export interface DemoTarget {
  /** "namespace/name:port" of the Service port (the virtual server's `service`). */
  service: string;
  kind: TargetKind;
  protocol: Protocol;
  address: string;
  port: number;
  /** ClusterIPs are requested from the node itself, everything else from the outside client. */
  from: 'node' | 'client';
  scheduler: string;
  /** Session affinity (ClientIP): a persistent virtual server. */
  sticky: boolean;
  /** externalTrafficPolicy / internalTrafficPolicy Local made this virtual server use local endpoints only. */
  localOnly: boolean;
  /** Pods behind the virtual server (real servers with weight > 0), sorted. */
  pods: string[];
  /** Real servers without a pod (no answer possible). */
  unknownRealServers: string[];
  requests: number;
}

export interface TargetPlan {
  targets: DemoTarget[];
  /** Virtual servers not requested, and why. */
  skipped: string[];
}

function serviceKey(svc: ApiService): string {
  return `${svc.metadata?.namespace ?? 'default'}/${svc.metadata?.name ?? '?'}`;
}

function addressesOf(list: readonly (string | undefined)[] | undefined): Set<string> {
  return new Set((list ?? []).map((a) => canonicalIP(a)).filter((a): a is string => !!a));
}

/** How many requests a target gets: enough to see round robin go around three times, or affinity hold. */
export function requestCount(sticky: boolean, pods: number): number {
  return sticky ? 6 : Math.max(4, 3 * pods);
}

/**
 * The targets to request: one per virtual server of the desired state that belongs to a Service. NodePorts are
 * requested on the node address the client reaches (the other node addresses carry the same ports); SCTP and
 * virtual servers without a pod behind them are listed as skipped.
 */
export function planTargets(desired: NodeState, services: readonly ApiService[], pods: readonly PodSpec[], nodeName: string,
  slices: readonly ApiEndpointSlice[] = []): TargetPlan {
  const byName = new Map(services.map((s) => [serviceKey(s), s] as const));
  const podOf = podsByAddress(pods);
  const clientFacing = new Set<string>([SANDBOX_NETWORK.nodeIP]);
  const targets: DemoTarget[] = [];
  const skipped: string[] = [];
  for (const vs of desired.ipvs) {
    const what = `${vs.protocol} ${joinHostPort(vs.address, vs.port)}`;
    if (!vs.service) continue;
    const svcName = vs.service.slice(0, vs.service.lastIndexOf(':'));
    const svc = byName.get(svcName);
    if (!svc) continue;
    const kind = targetKind(vs, svc);
    if (!kind) continue;
    if (kind === 'NodePort' && !clientFacing.has(vs.address)) continue; // same port on another node address
    if (vs.protocol === 'SCTP') {
      skipped.push(`${what} (${vs.service}): SCTP is not requested by the sandbox`);
      continue;
    }
    const live = vs.realServers.filter((rs) => rs.weight > 0);
    const podNames = [...new Set(live.map((rs) => podOf.get(rs.address)).filter((p): p is string => !!p))].sort();
    const unknown = live.filter((rs) => !podOf.has(rs.address)).map((rs) => joinHostPort(rs.address, rs.port));
    if (live.length === 0) {
      skipped.push(`${what} (${vs.service} ${kind}): no endpoints, not requested`);
      continue;
    }
    const sticky = (vs.flags & IPVS_SVC_FLAGS.PERSISTENT) !== 0;
    const external = kind !== 'ClusterIP';
    const policy = external ? svc.spec?.externalTrafficPolicy : svc.spec?.internalTrafficPolicy;
    targets.push({
      service: vs.service,
      kind,
      protocol: vs.protocol,
      address: vs.address,
      port: vs.port,
      from: kind === 'ClusterIP' ? 'node' : 'client',
      scheduler: vs.scheduler,
      sticky,
      localOnly: policy === 'Local' && onlyLocal(live.map((rs) => rs.address), slices, svc, nodeName),
      pods: podNames,
      unknownRealServers: unknown,
      requests: requestCount(sticky, podNames.length + unknown.length),
    });
  }
  return { targets, skipped };
}

/** True when every address is an endpoint of this node in the Service's slices. */
function onlyLocal(addresses: string[], slices: readonly ApiEndpointSlice[], svc: ApiService, nodeName: string): boolean {
  const local = new Set<string>();
  for (const s of slicesOf(svc, slices)) {
    for (const e of s.endpoints ?? []) {
      const a = canonicalIP(e.addresses?.[0]);
      if (a && e.nodeName === nodeName) local.add(a);
    }
  }
  return addresses.every((a) => local.has(a));
}

function targetKind(vs: VirtualServer, svc: ApiService): TargetKind | undefined {
  const spec = svc.spec ?? {};
  const ports = spec.ports ?? [];
  const cluster = addressesOf([spec.clusterIP, ...(spec.clusterIPs ?? [])]);
  if (cluster.has(vs.address) && ports.some((p) => p.port === vs.port)) return 'ClusterIP';
  if (addressesOf(spec.externalIPs).has(vs.address)) return 'ExternalIP';
  if (addressesOf((svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip)).has(vs.address)) return 'LoadBalancer';
  if (ports.some((p) => p.nodePort === vs.port)) return 'NodePort';
  return undefined;
}

export function slicesOf(svc: ApiService, slices: readonly ApiEndpointSlice[]): ApiEndpointSlice[] {
  const ns = svc.metadata?.namespace ?? 'default';
  return slices.filter((s) => (s.metadata?.namespace ?? 'default') === ns && s.metadata?.labels?.[LABEL_SERVICE_NAME] === svc.metadata?.name);
}

// ---------------------------------------------------------------- health check node ports

export interface HealthCheckTarget {
  service: string;
  port: number;
  /** Distinct addresses of this node's ready endpoints (kube-proxy's LocalReadyEndpoints). */
  localEndpoints: number;
  /** 200 when there are local endpoints, else 503. */
  expectedStatus: number;
}

/** Services that need a health check node port: type LoadBalancer with externalTrafficPolicy Local. */
export function planHealthChecks(services: readonly ApiService[], slices: readonly ApiEndpointSlice[], nodeName: string): HealthCheckTarget[] {
  const out: HealthCheckTarget[] = [];
  for (const svc of services) {
    const spec = svc.spec ?? {};
    if (spec.type !== 'LoadBalancer' || spec.externalTrafficPolicy !== 'Local' || !spec.healthCheckNodePort) continue;
    const local = new Set<string>();
    for (const s of slicesOf(svc, slices)) {
      for (const e of s.endpoints ?? []) {
        const a = canonicalIP(e.addresses?.[0]);
        const ready = e.conditions?.ready ?? true;
        if (a && e.nodeName === nodeName && ready !== false) local.add(a);
      }
    }
    out.push({ service: serviceKey(svc), port: spec.healthCheckNodePort, localEndpoints: local.size, expectedStatus: local.size > 0 ? 200 : 503 });
  }
  return out.sort((a, b) => a.service.localeCompare(b.service));
}

// ---------------------------------------------------------------- answers

export interface Answer {
  pod?: string;
  /** The client address the pod saw. */
  client?: string;
  error?: string;
}

export interface TargetResult {
  target: DemoTarget;
  /** Answers per pod, every pod of the target listed (0 when it never answered), then unexpected ones. */
  counts: Map<string, number>;
  failed: number;
  /** Distinct client addresses the pods saw. */
  clients: string[];
  /** What is wrong (empty: the target behaved as kube-proxy's IPVS mode does). */
  problems: string[];
}

/** What a target's answers prove; problems name the first offending answer. */
export function judgeTarget(target: DemoTarget, answers: readonly Answer[]): TargetResult {
  const counts = new Map<string, number>(target.pods.map((p) => [p, 0]));
  const clients = new Set<string>();
  const problems: string[] = [];
  const errors = answers.filter((a) => a.error);
  for (const a of answers) {
    if (!a.pod) continue;
    counts.set(a.pod, (counts.get(a.pod) ?? 0) + 1);
    if (a.client) clients.add(a.client);
  }
  const name = `${target.kind} ${joinHostPort(target.address, target.port)} (${target.service})`;
  if (errors.length) problems.push(`${name}: ${errors.length} of ${answers.length} requests failed: ${errors[0]!.error}`);
  const strangers = [...counts.keys()].filter((p) => !target.pods.includes(p));
  if (strangers.length) problems.push(`${name}: answered by ${strangers.join(', ')}, which is not behind this virtual server (${target.pods.join(', ')})`);
  const answered = [...counts].filter(([, n]) => n > 0).map(([p]) => p);
  if (target.sticky && answered.length > 1) problems.push(`${name}: session affinity broken: ${answered.join(', ')} all answered one client`);
  if (!target.sticky && target.scheduler === 'rr' && errors.length === 0 && answers.length >= target.pods.length) {
    const silent = target.pods.filter((p) => (counts.get(p) ?? 0) === 0);
    if (silent.length) problems.push(`${name}: round robin never reached ${silent.join(', ')} in ${answers.length} requests`);
  }
  return { target, counts, failed: errors.length, clients: [...clients].sort(compareIPs), problems };
}

// ---------------------------------------------------------------- scaling

export interface ScalePlan {
  service: string;
  target: DemoTarget;
  /** namespace/name of the EndpointSlice edited. */
  slice: { namespace: string; name: string };
  /** The pod scaled away (its endpoint goes terminating, then away). */
  remove: { pod: string; address: string };
  /** The pod added afterwards. */
  add: { pod: string; address: string; nodeName: string; tcp: number[]; udp: number[] };
}

/** The next free address of a CIDR (from .2: .1 is the gateway), not among `used`. */
export function nextFreeAddress(cidr: string, used: ReadonlySet<string>): string | undefined {
  const c = parseCIDR(cidr);
  if (!c) return undefined;
  const size = c.bytes.length === 4 ? 2 ** Math.min(32 - c.prefix, 16) : 65536;
  for (let n = 2; n < size - 1; n++) {
    const bytes = c.bytes.slice();
    let carry = n;
    for (let i = bytes.length - 1; i >= 0 && carry > 0; i--) {
      const v = bytes[i]! + carry;
      bytes[i] = v & 0xff;
      carry = v >> 8;
    }
    const a = formatIP(bytes);
    if (!used.has(a)) return a;
  }
  return undefined;
}

/** "web-3" -> "web-4" (the next number not taken); "db" -> "db-2". */
export function nextPodName(names: readonly string[], like: string): string {
  const m = /^(.*?)-?(\d+)$/.exec(like);
  const base = m ? m[1]! : like;
  let n = 0;
  for (const name of names) {
    const mm = /^(.*?)-?(\d+)$/.exec(name);
    if (mm && mm[1] === base) n = Math.max(n, Number(mm[2]));
  }
  let candidate: string;
  do candidate = `${base}-${++n}`;
  while (names.includes(candidate));
  return candidate;
}

/**
 * The Service to scale: a round-robin ClusterIP target requested from the node, with at least two pods that all
 * sit in one IPv4 EndpointSlice; the one with the most pods (then by name). Undefined when none qualifies.
 */
export function planScale(targets: readonly DemoTarget[], services: readonly ApiService[], slices: readonly ApiEndpointSlice[],
  pods: readonly PodSpec[], nodeName: string): ScalePlan | undefined {
  const candidates = targets
    .filter((t) => t.kind === 'ClusterIP' && t.protocol === 'TCP' && !t.sticky && t.pods.length >= 2 && t.unknownRealServers.length === 0 && ipFamilyOf(t.address) === 4)
    .sort((a, b) => b.pods.length - a.pods.length || a.service.localeCompare(b.service));
  const byName = new Map(services.map((s) => [serviceKey(s), s] as const));
  const podByName = new Map(pods.map((p) => [p.name, p] as const));
  for (const target of candidates) {
    const svc = byName.get(target.service.slice(0, target.service.lastIndexOf(':')));
    if (!svc) continue;
    const addresses = target.pods.map((p) => podByName.get(p)?.ipv4).filter((a): a is string => !!a);
    const slice = slicesOf(svc, slices).find((s) => s.addressType === 'IPv4' && addresses.every((a) => endpointIndex(s, a) >= 0));
    if (!slice || addresses.length !== target.pods.length) continue;
    const removePod = target.pods[target.pods.length - 1]!;
    const removeAddress = podByName.get(removePod)!.ipv4!;
    const used = new Set<string>(RESERVED.keys());
    for (const p of pods) for (const a of [p.ipv4, p.ipv6]) if (a) used.add(a);
    const inNet = parseCIDR(SANDBOX_NETWORK.podCidr4)!;
    const sameNet = addresses.every((a) => cidrContains(inNet, parseIP(a)!));
    const address = nextFreeAddress(sameNet ? SANDBOX_NETWORK.podCidr4 : `${addresses[0]}/24`, used);
    if (!address) continue;
    const template = podByName.get(removePod)!;
    const removed = slice.endpoints![endpointIndex(slice, removeAddress)]!;
    return {
      service: target.service,
      target,
      slice: { namespace: slice.metadata?.namespace ?? 'default', name: slice.metadata?.name ?? '' },
      remove: { pod: removePod, address: removeAddress },
      add: {
        pod: nextPodName(pods.map((p) => p.name), removePod),
        address,
        nodeName: removed.nodeName ?? nodeName,
        tcp: template.tcp,
        udp: template.udp,
      },
    };
  }
  return undefined;
}

function endpointIndex(slice: ApiEndpointSlice, address: string): number {
  return (slice.endpoints ?? []).findIndex((e) => canonicalIP(e.addresses?.[0]) === address);
}

function copySlice(slice: ApiEndpointSlice): ApiEndpointSlice {
  return JSON.parse(JSON.stringify(slice)) as ApiEndpointSlice;
}

/** The slice with the endpoint at `address` terminating (not ready, still serving), as when its pod is deleted. */
export function sliceWithTerminating(slice: ApiEndpointSlice, address: string): ApiEndpointSlice {
  const out = copySlice(slice);
  const e = out.endpoints?.[endpointIndex(out, address)];
  if (e) e.conditions = { ready: false, serving: true, terminating: true };
  return out;
}

/** The slice without the endpoint at `address` (its pod is gone). */
export function sliceWithout(slice: ApiEndpointSlice, address: string): ApiEndpointSlice {
  const out = copySlice(slice);
  out.endpoints = (out.endpoints ?? []).filter((e) => canonicalIP(e.addresses?.[0]) !== address);
  return out;
}

/** The slice with a new ready endpoint for a pod. */
export function sliceWith(slice: ApiEndpointSlice, pod: { pod: string; address: string; nodeName: string }): ApiEndpointSlice {
  const out = copySlice(slice);
  const endpoint: ApiEndpoint = {
    addresses: [pod.address],
    conditions: { ready: true, serving: true, terminating: false },
    nodeName: pod.nodeName,
    targetRef: { kind: 'Pod', namespace: out.metadata?.namespace ?? 'default', name: pod.pod },
  };
  out.endpoints = [...(out.endpoints ?? []), endpoint];
  return out;
}
