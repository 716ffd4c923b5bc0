// Service validation: an untrusted ApiService becomes a NormalizedService holding exactly what kube-proxy's
// service change tracker keeps (pkg/proxy/servicechangetracker.go, serviceport.go newBaseServiceInfo), for both
// IP families. Bad parts become diagnostics and are left out; nothing here throws.

import { LABEL_HEADLESS, LABEL_SERVICE_PROXY_NAME, type ApiService } from '../model/api.js';
import type { IPFamily } from '../model/ip.js';
import type { Diagnostic, Protocol } from '../model/state.js';
import { toAddr, toCidr, type Addr, type Cidr } from './address.js';
import { isPortNumber, isRecord, show, stringMap } from './json.js';
import { schedulerFromAnnotations, type SchedulerOverride } from './scheduler.js';

/** API default of sessionAffinityConfig.clientIP.timeoutSeconds (v1.DefaultClientIPServiceAffinitySeconds). */
export const DEFAULT_AFFINITY_TIMEOUT = 10800;
/** API maximum of sessionAffinityConfig.clientIP.timeoutSeconds (v1.MaxClientIPServiceAffinitySeconds). */
export const MAX_AFFINITY_TIMEOUT = 86400;

export interface ServicePortSpec {
  /** spec.ports[].name ("" when unnamed). */
  name: string;
  protocol: Protocol;
  port: number;
  /** 0 when the port has no node port. */
  nodePort: number;
  /** kube-proxy's ServicePortName.String(): "ns/name:port", or "ns/name" for an unnamed port. */
  portName: string;
}

export interface PerFamily<T> {
  4: T;
  6: T;
}

export interface NormalizedService {
  key: string;
  namespace: string;
  name: string;
  type: string;
  clusterIP: { 4?: Addr; 6?: Addr };
  ports: ServicePortSpec[];
  externalIPs: PerFamily<Addr[]>;
  /** status.loadBalancer.ingress IPs in VIP mode. */
  lbVIPs: PerFamily<Addr[]>;
  sourceRanges: PerFamily<Cidr[]>;
  externalPolicyLocal: boolean;
  internalPolicyLocal: boolean;
  /** 0 when the Service needs no health check node port. */
  healthCheckNodePort: number;
  /** ClientIP session affinity timeout in seconds; 0 without affinity. */
  affinityTimeout: number;
  /** Per-Service scheduler from annotations; undefined = global scheduler. */
  scheduler: SchedulerOverride | undefined;
}

export type ServiceNormalization =
  | { status: 'invalid'; key: string | undefined; diagnostics: Diagnostic[] }
  | { status: 'skipped'; key: string; reason: ServiceSkipReason; diagnostics: Diagnostic[] }
  | { status: 'ok'; key: string; service: NormalizedService; diagnostics: Diagnostic[] };

/** Why a valid Service is not proxied (for explain): kube-proxy never sees it, or it has no service ports. */
export type ServiceSkipReason = 'service-proxy-name' | 'headless-label' | 'external-name' | 'headless';

const SERVICE_TYPES = new Set(['ClusterIP', 'NodePort', 'LoadBalancer', 'ExternalName']);
const PROTOCOLS = new Set(['TCP', 'UDP', 'SCTP']);

export function objectName(namespace: unknown, name: unknown): string {
  const ns = typeof namespace === 'string' && namespace !== '' ? namespace : '<no namespace>';
  const n = typeof name === 'string' && name !== '' ? name : '<no name>';
  return `${ns}/${n}`;
}

/** kube-proxy's ServicePortName.String(). */
export function servicePortName(key: string, portName: string): string {
  return portName === '' ? key : `${key}:${portName}`;
}

export function normalizeService(obj: ApiService | unknown): ServiceNormalization {
  const diagnostics: Diagnostic[] = [];
  const meta = isRecord(obj) ? obj.metadata : undefined;
  const namespace = isRecord(meta) ? meta.namespace : undefined;
  const name = isRecord(meta) ? meta.name : undefined;
  const object = objectName(namespace, name);
  const warn = (message: string) => diagnostics.push({ object, kind: 'Service', message });
  if (!isRecord(obj)) {
    warn(`not an object: ${show(obj)}`);
    return { status: 'invalid', key: undefined, diagnostics };
  }
  if (!isRecord(meta) || typeof namespace !== 'string' || namespace === '' || typeof name !== 'string' || name === '') {
    warn('metadata.namespace and metadata.name must be non-empty strings; Service ignored');
    return { status: 'invalid', key: undefined, diagnostics };
  }
  const key = `${namespace}/${name}`;
  // kube-proxy's informer selector: !service.kubernetes.io/headless, !service.kubernetes.io/service-proxy-name.
  if (isRecord(meta.labels) && (LABEL_SERVICE_PROXY_NAME in meta.labels || LABEL_HEADLESS in meta.labels)) {
    return { status: 'skipped', key, reason: LABEL_SERVICE_PROXY_NAME in meta.labels ? 'service-proxy-name' : 'headless-label', diagnostics };
  }
  const spec = obj.spec;
  if (!isRecord(spec)) {
    warn(`spec is not an object (${show(spec)}); Service ignored`);
    return { status: 'invalid', key, diagnostics };
  }

  let type = 'ClusterIP';
  if (spec.type !== undefined && spec.type !== null) {
    if (typeof spec.type === 'string' && SERVICE_TYPES.has(spec.type)) type = spec.type;
    else warn(`spec.type ${show(spec.type)} is not one of ClusterIP, NodePort, LoadBalancer, ExternalName; treated as ClusterIP`);
  }
  if (type === 'ExternalName') return { status: 'skipped', key, reason: 'external-name', diagnostics };

  // Headless: kube-proxy's IsServiceIPSet looks at spec.clusterIP only ("None" or "" = headless).
  let primary: unknown = spec.clusterIP;
  const clusterIPsRaw = spec.clusterIPs;
  if (primary !== undefined && primary !== null && typeof primary !== 'string') {
    warn(`spec.clusterIP ${show(primary)} is not a string; Service ignored`);
    return { status: 'invalid', key, diagnostics };
  }
  if ((primary === undefined || primary === null) && Array.isArray(clusterIPsRaw) && typeof clusterIPsRaw[0] === 'string') {
    primary = clusterIPsRaw[0]; // hand-written objects: the API server would have copied clusterIPs[0]
  }
  if (primary === undefined || primary === null || primary === '' || primary === 'None') return { status: 'skipped', key, reason: 'headless', diagnostics };

  const clusterIP: { 4?: Addr; 6?: Addr } = {};
  const clusterIPs: unknown[] = Array.isArray(clusterIPsRaw) && clusterIPsRaw.length > 0 ? clusterIPsRaw : [primary];
  if (Array.isArray(spec.ipFamilies) && spec.ipFamilies.length > 0) {
    // kube-proxy's GetClusterIPByFamily: the family's index in ipFamilies selects clusterIPs[index].
    spec.ipFamilies.forEach((fam: unknown, idx: number) => {
      const family: IPFamily | undefined = fam === 'IPv4' ? 4 : fam === 'IPv6' ? 6 : undefined;
      if (family === undefined) {
        warn(`spec.ipFamilies[${idx}] ${show(fam)} is not IPv4 or IPv6`);
        return;
      }
      if (clusterIP[family]) return;
      if (idx >= clusterIPs.length) {
        warn(`spec.ipFamilies[${idx}] is ${fam} but spec.clusterIPs has no entry ${idx}`);
        return;
      }
      const a = toAddr(clusterIPs[idx]);
      if (!a) warn(`spec.clusterIPs[${idx}] ${show(clusterIPs[idx])} is not an IP address`);
      else if (a.family !== family) warn(`spec.clusterIPs[${idx}] ${a.text} is not an ${fam} address (spec.ipFamilies[${idx}])`);
      else clusterIP[family] = a;
    });
  } else {
    clusterIPs.forEach((raw, idx) => {
      const a = toAddr(raw);
      if (!a) warn(`spec.clusterIPs[${idx}] ${show(raw)} is not an IP address`);
      else if (!clusterIP[a.family]) clusterIP[a.family] = a;
    });
  }
  if (!clusterIP[4] && !clusterIP[6]) {
    warn('no usable cluster IP; Service ignored');
    return { status: 'invalid', key, diagnostics };
  }

  // Ports.
  if (!Array.isArray(spec.ports)) {
    warn(`spec.ports ${show(spec.ports)} is not a list; Service ignored`);
    return { status: 'invalid', key, diagnostics };
  }
  const ports: ServicePortSpec[] = [];
  const seen = new Set<string>();
  spec.ports.forEach((p: unknown, i: number) => {
    const where = `spec.ports[${i}]`;
    if (!isRecord(p)) {
      warn(`${where} is not an object; port ignored`);
      return;
    }
    let portNameValue = '';
    if (p.name !== undefined && p.name !== null) {
      if (typeof p.name !== 'string') {
        warn(`${where}.name ${show(p.name)} is not a string; port ignored`);
        return;
      }
      portNameValue = p.name;
    }
    let protocol: Protocol = 'TCP';
    if (p.protocol !== undefined && p.protocol !== null) {
      if (typeof p.protocol !== 'string' || !PROTOCOLS.has(p.protocol)) {
        warn(`${where}.protocol ${show(p.protocol)} is not TCP, UDP or SCTP; port ignored`);
        return;
      }
      protocol = p.protocol as Protocol;
    }
    if (!isPortNumber(p.port)) {
      warn(`${where}.port ${show(p.port)} is not a port number (1-65535); port ignored`);
      return;
    }
    let nodePort = 0;
    if (p.nodePort !== undefined && p.nodePort !== null && p.nodePort !== 0) {
      if (isPortNumber(p.nodePort)) nodePort = p.nodePort;
      else warn(`${where}.nodePort ${show(p.nodePort)} is not a port number (1-65535); node port ignored`);
    }
    const id = `${portNameValue}/${protocol}`;
    if (seen.has(id)) {
      warn(`${where} duplicates the port name ${JSON.stringify(portNameValue)} with protocol ${protocol}; port ignored`);
      return;
    }
    seen.add(id);
    ports.push({ name: portNameValue, protocol, port: p.port, nodePort, portName: servicePortName(key, portNameValue) });
  });

  // External IPs (kube-proxy's MapIPsByIPFamily: invalid entries are dropped).
  const externalIPs: PerFamily<Addr[]> = { 4: [], 6: [] };
  let externalIPCount = 0;
  if (spec.externalIPs !== undefined && spec.externalIPs !== null) {
    if (!Array.isArray(spec.externalIPs)) warn(`spec.externalIPs ${show(spec.externalIPs)} is not a list; ignored`);
    else {
      externalIPCount = spec.externalIPs.length;
      spec.externalIPs.forEach((raw: unknown, i: number) => {
        const a = toAddr(raw);
        if (!a) warn(`spec.externalIPs[${i}] ${show(raw)} is not an IP address; ignored`);
        else if (!clusterIP[a.family]) warn(`spec.externalIPs[${i}] ${a.text} ignored: the Service has no IPv${a.family} cluster IP`);
        else if (!externalIPs[a.family].some((x) => x.text === a.text)) externalIPs[a.family].push(a);
      });
    }
  }

  // Load balancer ingress: IP set, VIP mode (ipMode unset or VIP; Proxy is skipped, like proxyutil.IsVIPMode).
  const lbVIPs: PerFamily<Addr[]> = { 4: [], 6: [] };
  const status = obj.status;
  const lb = isRecord(status) ? status.loadBalancer : undefined;
  const ingress = isRecord(lb) ? lb.ingress : undefined;
  if (ingress !== undefined && ingress !== null) {
    if (!Array.isArray(ingress)) warn(`status.loadBalancer.ingress ${show(ingress)} is not a list; ignored`);
    else {
      ingress.forEach((ing: unknown, i: number) => {
        const where = `status.loadBalancer.ingress[${i}]`;
        if (!isRecord(ing)) {
          warn(`${where} is not an object; ignored`);
          return;
        }
        if (ing.ip === undefined || ing.ip === null || ing.ip === '') return; // hostname-only ingress
        if (ing.ipMode !== undefined && ing.ipMode !== null && ing.ipMode !== 'VIP') {
          if (ing.ipMode !== 'Proxy') warn(`${where}.ipMode ${show(ing.ipMode)} is not VIP or Proxy; ingress ignored`);
          return;
        }
        const a = toAddr(ing.ip);
        if (!a) warn(`${where}.ip ${show(ing.ip)} is not an IP address; ignored`);
        else if (!clusterIP[a.family]) warn(`${where}.ip ${a.text} ignored: the Service has no IPv${a.family} cluster IP`);
        else if (!lbVIPs[a.family].some((x) => x.text === a.text)) lbVIPs[a.family].push(a);
      });
    }
  }

  // loadBalancerSourceRanges: trimmed (validation allows padding), invalid entries dropped (MapCIDRsByIPFamily).
  const sourceRanges: PerFamily<Cidr[]> = { 4: [], 6: [] };
  if (spec.loadBalancerSourceRanges !== undefined && spec.loadBalancerSourceRanges !== null) {
    if (!Array.isArray(spec.loadBalancerSourceRanges)) warn(`spec.loadBalancerSourceRanges ${show(spec.loadBalancerSourceRanges)} is not a list; ignored`);
    else {
      spec.loadBalancerSourceRanges.forEach((raw: unknown, i: number) => {
        const c = typeof raw === 'string' ? toCidr(raw.trim()) : undefined;
        if (!c) {
          warn(`spec.loadBalancerSourceRanges[${i}] ${show(raw)} is not a CIDR; ignored`);
          return;
        }
        // The kernel's hash:ip,port,net sets refuse a /0 net, so kube-proxy's "allow everyone" range would leave
        // KUBE-LOAD-BALANCER-SOURCE-CIDR without it and drop every client. Two /1 halves cover exactly the same
        // addresses and are accepted.
        for (const part of c.net.prefix === 0 ? splitZeroCidr(c) : [c]) {
          if (!sourceRanges[part.family].some((x) => x.text === part.text)) sourceRanges[part.family].push(part);
        }
      });
    }
  }

  // Traffic policies (pkg/api/v1/service: ExternallyAccessible, ExternalPolicyLocal, InternalPolicyLocal).
  const externallyAccessible = type === 'LoadBalancer' || type === 'NodePort' || (type === 'ClusterIP' && externalIPCount > 0);
  let etpLocal = false;
  const etp = spec.externalTrafficPolicy;
  if (etp !== undefined && etp !== null && etp !== '') {
    if (etp === 'Local') etpLocal = true;
    else if (etp !== 'Cluster') warn(`spec.externalTrafficPolicy ${show(etp)} is not Cluster or Local; treated as Cluster`);
  }
  const externalPolicyLocal = externallyAccessible && etpLocal;
  let internalPolicyLocal = false;
  const itp = spec.internalTrafficPolicy;
  if (itp !== undefined && itp !== null && itp !== '') {
    if (itp === 'Local') internalPolicyLocal = true;
    else if (itp !== 'Cluster') warn(`spec.internalTrafficPolicy ${show(itp)} is not Cluster or Local; treated as Cluster`);
  }

  // Health check node port: only for type LoadBalancer with externalTrafficPolicy Local (NeedsHealthCheck).
  let healthCheckNodePort = 0;
  if (type === 'LoadBalancer' && externalPolicyLocal) {
    const hc = spec.healthCheckNodePort;
    if (hc === undefined || hc === null || hc === 0) warn('type LoadBalancer with externalTrafficPolicy Local has no spec.healthCheckNodePort');
    else if (!isPortNumber(hc)) warn(`spec.healthCheckNodePort ${show(hc)} is not a port number (1-65535); ignored`);
    else healthCheckNodePort = hc;
  }

  // Session affinity.
  let affinityTimeout = 0;
  const sa = spec.sessionAffinity;
  if (sa === 'ClientIP') {
    affinityTimeout = DEFAULT_AFFINITY_TIMEOUT;
    const cfg = spec.sessionAffinityConfig;
    const clientIP = isRecord(cfg) ? cfg.clientIP : undefined;
    const t = isRecord(clientIP) ? clientIP.timeoutSeconds : undefined;
    if (cfg !== undefined && cfg !== null && !isRecord(cfg)) warn(`spec.sessionAffinityConfig ${show(cfg)} is not an object; timeout ${DEFAULT_AFFINITY_TIMEOUT}s used`);
    else if (clientIP !== undefined && clientIP !== null && !isRecord(clientIP)) warn(`spec.sessionAffinityConfig.clientIP ${show(clientIP)} is not an object; timeout ${DEFAULT_AFFINITY_TIMEOUT}s used`);
    else if (t !== undefined && t !== null) {
      if (typeof t === 'number' && Number.isInteger(t) && t >= 1 && t <= MAX_AFFINITY_TIMEOUT) affinityTimeout = t;
      else warn(`spec.sessionAffinityConfig.clientIP.timeoutSeconds ${show(t)} is not an integer in 1-${MAX_AFFINITY_TIMEOUT}; timeout ${DEFAULT_AFFINITY_TIMEOUT}s used`);
    }
  } else if (sa !== undefined && sa !== null && sa !== '' && sa !== 'None') {
    warn(`spec.sessionAffinity ${show(sa)} is not None or ClientIP; treated as None`);
  }

  const trafficDistribution = spec.trafficDistribution;
  if (trafficDistribution !== undefined && trafficDistribution !== null && typeof trafficDistribution !== 'string') {
    warn(`spec.trafficDistribution ${show(trafficDistribution)} is not a string; ignored`);
  }

  const scheduler = schedulerFromAnnotations(stringMap(meta.annotations), warn);

  return {
    status: 'ok',
    key,
    diagnostics,
    service: {
      key,
      namespace,
      name,
      type,
      clusterIP: compactClusterIP(clusterIP),
      ports: ports.slice(), // exact size: a list grown by push keeps spare capacity
      externalIPs: compactPerFamily(externalIPs),
      lbVIPs: compactPerFamily(lbVIPs),
      sourceRanges: compactPerFamily(sourceRanges),
      externalPolicyLocal,
      internalPolicyLocal,
      healthCheckNodePort,
      affinityTimeout,
      scheduler,
    },
  };
}

// A node keeps one NormalizedService per Service for as long as it runs. An object keyed 4 and 6 that was filled
// in place carries a grown elements store (~1 KB for the three lists together), so the lists are copied into a
// fresh literal, and the common case, no entries at all, shares one frozen object: 10 MB less at 10,000 Services.
const NO_ADDRS: PerFamily<Addr[]> = Object.freeze({ 4: Object.freeze([]) as unknown as Addr[], 6: Object.freeze([]) as unknown as Addr[] });

function compactPerFamily<T>(x: PerFamily<T[]>): PerFamily<T[]> {
  if (x[4].length === 0 && x[6].length === 0) return NO_ADDRS as unknown as PerFamily<T[]>;
  return { 4: x[4], 6: x[6] };
}

function compactClusterIP(x: { 4?: Addr; 6?: Addr }): { 4?: Addr; 6?: Addr } {
  if (x[4] && x[6]) return { 4: x[4], 6: x[6] };
  return x[4] ? { 4: x[4] } : x[6] ? { 6: x[6] } : {};
}

/** 0.0.0.0/0 -> 0.0.0.0/1 + 128.0.0.0/1 (::/0 -> ::/1 + 8000::/1). */
function splitZeroCidr(c: Cidr): Cidr[] {
  const zero = c.family === 4 ? '0.0.0.0' : '::';
  const high = c.family === 4 ? '128.0.0.0' : '8000::';
  return [toCidr(`${zero}/1`), toCidr(`${high}/1`)].filter((x): x is Cidr => x !== undefined);
}
