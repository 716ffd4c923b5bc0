// What the real API server does to a Service on create and update, as far as a proxy can see it:
// defaulting (type, protocol, targetPort, traffic policies, families) and allocation of ClusterIPs
// (from the service CIDRs), NodePorts and healthCheckNodePorts, with "already allocated" rejections.
// Deliberately lenient in one place: a ClusterIP given by the client may lie outside the service CIDRs
// (tests and demos pick arbitrary addresses); uniqueness is still enforced.

import { canonicalIP, formatIP, parseCIDR, parseIP, type ParsedCIDR } from '../../model/ip.js';
import type { ResourceType } from './resources.js';
import { errors } from './status.js';

type Obj = Record<string, any>;

export interface ServiceAllocatorOptions {
  /** One CIDR per family, primary first, as kube-apiserver's --service-cluster-ip-range. */
  serviceCIDRs: string[];
  /** "30000-32767" as --service-node-port-range. */
  nodePortRange: string;
}

export const DEFAULT_SERVICE_CIDRS = ['10.96.0.0/12'];
export const DEFAULT_NODE_PORT_RANGE = '30000-32767';

function familyName(f: 4 | 6): 'IPv4' | 'IPv6' {
  return f === 4 ? 'IPv4' : 'IPv6';
}

function toBig(bytes: Uint8Array): bigint {
  let n = 0n;
  for (const b of bytes) n = (n << 8n) | BigInt(b);
  return n;
}

function fromBig(n: bigint, len: number): Uint8Array {
  const out = new Uint8Array(len);
  for (let i = len - 1; i >= 0; i--) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

export class ServiceAllocator {
  private readonly cidrs: ParsedCIDR[];
  private readonly portMin: number;
  private readonly portMax: number;
  /** ClusterIP -> owning service key. */
  private readonly ips = new Map<string, string>();
  /** NodePort -> owning service key (one Service may reuse a port number across protocols). */
  private readonly ports = new Map<number, string>();
  /** Per CIDR: where the next ClusterIP search starts. */
  private readonly cursors = new Map<string, bigint>();

  constructor(private readonly resource: ResourceType, opts: ServiceAllocatorOptions) {
    this.cidrs = opts.serviceCIDRs.map((c) => {
      const p = parseCIDR(c);
      if (!p) throw new Error(`invalid service CIDR "${c}"`);
      return p;
    });
    if (this.cidrs.length === 0) throw new Error('at least one service CIDR is needed');
    const m = /^([0-9]+)-([0-9]+)$/.exec(opts.nodePortRange);
    if (!m || Number(m[1]) > Number(m[2])) throw new Error(`invalid node port range "${opts.nodePortRange}"`);
    this.portMin = Number(m[1]);
    this.portMax = Number(m[2]);
  }

  /** Record the allocations of a stored Service (objects loaded or replaced without defaulting). */
  reserve(key: string, svc: Obj): void {
    for (const ip of clusterIPsOf(svc)) this.ips.set(ip, key);
    for (const p of nodePortsOf(svc)) this.ports.set(p, key);
  }

  release(key: string, svc: Obj | undefined): void {
    if (!svc) return;
    for (const ip of clusterIPsOf(svc)) if (this.ips.get(ip) === key) this.ips.delete(ip);
    for (const p of nodePortsOf(svc)) if (this.ports.get(p) === key) this.ports.delete(p);
  }

  /**
   * Default and allocate a Service being created (old undefined) or updated. Mutates and returns `svc`.
   * Throws ApiError (422) when a requested IP or port is taken or an immutable field changes.
   * The caller must release(old) / reserve(new) around a successful write.
   */
  prepare(key: string, svc: Obj, old: Obj | undefined): Obj {
    const name = String(svc.metadata?.name ?? '');
    const spec: Obj = (svc.spec = svc.spec && typeof svc.spec === 'object' ? svc.spec : {});
    const oldSpec: Obj = old?.spec ?? {};
    spec.type ??= 'ClusterIP';
    spec.sessionAffinity ??= 'None';
    if (!Array.isArray(spec.ports)) spec.ports = spec.type === 'ExternalName' ? spec.ports : [];
    for (const p of spec.ports ?? []) {
      if (!p || typeof p !== 'object') continue;
      p.protocol ??= 'TCP';
      if (p.targetPort === undefined && typeof p.port === 'number') p.targetPort = p.port;
    }
    if (spec.type === 'ExternalName') {
      delete spec.clusterIP;
      delete spec.clusterIPs;
      delete spec.ipFamilies;
      delete spec.ipFamilyPolicy;
      return svc;
    }
    spec.internalTrafficPolicy ??= 'Cluster';
    if (spec.type === 'NodePort' || spec.type === 'LoadBalancer') spec.externalTrafficPolicy ??= 'Cluster';
    if (spec.type === 'LoadBalancer') spec.allocateLoadBalancerNodePorts ??= true;

    this.prepareClusterIPs(key, name, spec, old ? oldSpec : undefined);
    this.prepareNodePorts(key, name, spec, oldSpec);
    return svc;
  }

  private prepareClusterIPs(key: string, name: string, spec: Obj, oldSpec: Obj | undefined): void {
    // An update that leaves clusterIP(s) out keeps the allocated ones (as kubectl apply/replace flows expect).
    if (oldSpec && oldSpec.clusterIP && (spec.clusterIP === undefined || spec.clusterIP === '') && !spec.clusterIPs?.length) {
      spec.clusterIP = oldSpec.clusterIP;
      spec.clusterIPs = oldSpec.clusterIPs ? [...oldSpec.clusterIPs] : [oldSpec.clusterIP];
      spec.ipFamilies ??= oldSpec.ipFamilies;
      spec.ipFamilyPolicy ??= oldSpec.ipFamilyPolicy;
    }
    if (spec.clusterIP === undefined && Array.isArray(spec.clusterIPs) && spec.clusterIPs.length) spec.clusterIP = spec.clusterIPs[0];
    if (oldSpec && oldSpec.clusterIP && spec.clusterIP !== oldSpec.clusterIP) {
      throw errors.invalid(this.resource, name, 'spec.clusterIPs[0]', `Invalid value: "${spec.clusterIP}": field is immutable`);
    }
    spec.ipFamilyPolicy ??= 'SingleStack';
    if (spec.clusterIP === 'None') {
      spec.clusterIPs = ['None'];
      spec.ipFamilies ??= [familyName(this.cidrs[0]!.family)];
      return;
    }
    const requested: string[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length ? spec.clusterIPs : spec.clusterIP ? [spec.clusterIP] : [];
    const ips: string[] = [];
    for (const r of requested) {
      const c = canonicalIP(r);
      if (!c) throw errors.invalid(this.resource, name, 'spec.clusterIPs', `Invalid value: "${r}": must be a valid IP address`);
      const owner = this.ips.get(c);
      if (owner !== undefined && owner !== key) {
        throw errors.invalid(this.resource, name, 'spec.clusterIPs', `Invalid value: ["${c}"]: failed to allocate IP ${c}: provided IP is already allocated`);
      }
      ips.push(c);
    }
    let families: (4 | 6)[] = ips.map((ip) => parseIP(ip)!.family);
    if (families.length === 0) {
      const wanted = Array.isArray(spec.ipFamilies) ? spec.ipFamilies.map((f: unknown) => (f === 'IPv6' ? 6 : 4)) : [];
      families = wanted.length ? wanted : [this.cidrs[0]!.family];
    }
    const dual = spec.ipFamilyPolicy === 'PreferDualStack' || spec.ipFamilyPolicy === 'RequireDualStack';
    if (dual && families.length === 1) {
      const other = this.cidrs.find((c) => c.family !== families[0]);
      if (other) families.push(other.family);
    }
    for (let i = ips.length; i < families.length; i++) {
      const cidr = this.cidrs.find((c) => c.family === families[i]);
      if (!cidr) {
        if (spec.ipFamilyPolicy === 'RequireDualStack' || i === 0) {
          throw errors.invalid(this.resource, name, 'spec.ipFamilies', `Invalid value: "${familyName(families[i]!)}": not configured on this cluster`);
        }
        families.length = i;
        break;
      }
      ips.push(this.allocateIP(cidr, key));
    }
    spec.clusterIPs = ips;
    spec.clusterIP = ips[0];
    spec.ipFamilies = families.slice(0, ips.length).map(familyName);
  }

  private allocateIP(cidr: ParsedCIDR, key: string): string {
    const bits = cidr.bytes.length * 8;
    const size = 1n << BigInt(bits - cidr.prefix);
    const base = toBig(cidr.bytes);
    // Offsets 1..size-2 for IPv4 (no network/broadcast), 1..size-1 for IPv6. kube-apiserver prefers the
    // upper band and leaves the first min(max(16, size/16), 256) addresses for static assignment.
    const last = cidr.family === 4 ? size - 2n : size - 1n;
    let band = size / 16n;
    if (band < 16n) band = 16n;
    if (band > 256n) band = 256n;
    const start = band <= last ? band : 1n;
    // Scan on from the previous allocation (a cursor), so allocating n addresses costs O(n), not O(n^2).
    const cursorKey = formatIP(cidr.bytes);
    const from = this.cursors.get(cursorKey) ?? start;
    const tryRange = (lo: bigint, hi: bigint): [string, bigint] | undefined => {
      for (let off = lo; off <= hi; off++) {
        const ip = formatIP(fromBig(base + off, cidr.bytes.length));
        if (!this.ips.has(ip)) return [ip, off];
        if (off - lo > BigInt(this.ips.size) + 1n) break; // n taken addresses cannot fill n+2 slots
      }
      return undefined;
    };
    const found = tryRange(from, last) ?? tryRange(start, last) ?? tryRange(1n, last);
    if (!found) throw errors.internal(`range is full: ${formatIP(cidr.bytes)}/${cidr.prefix}`);
    const [ip, off] = found;
    this.cursors.set(cursorKey, off + 1n > last ? start : off + 1n);
    this.ips.set(ip, key); // reserved now so a dual-stack second family cannot pick it
    return ip;
  }

  private prepareNodePorts(key: string, name: string, spec: Obj, oldSpec: Obj): void {
    const wantsNodePorts = spec.type === 'NodePort' || (spec.type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
    const oldPorts: Obj[] = Array.isArray(oldSpec.ports) ? oldSpec.ports : [];
    const taken = new Set<number>();
    for (const p of spec.ports as Obj[]) {
      if (!p || typeof p !== 'object') continue;
      if (spec.type === 'ClusterIP') {
        delete p.nodePort;
        continue;
      }
      if (p.nodePort === undefined || p.nodePort === 0) {
        if (!wantsNodePorts) continue;
        // Keep the port this Service already had for the same port/protocol.
        const prev = oldPorts.find((o) => o && o.port === p.port && (o.protocol ?? 'TCP') === p.protocol && o.nodePort);
        p.nodePort = prev?.nodePort ?? this.allocatePort(key, taken);
      } else {
        const owner = this.ports.get(p.nodePort);
        if (typeof p.nodePort !== 'number' || p.nodePort < 1 || p.nodePort > 65535) {
          throw errors.invalid(this.resource, name, 'spec.ports.nodePort', `Invalid value: ${JSON.stringify(p.nodePort)}: must be a valid port number`);
        }
        if (owner !== undefined && owner !== key) {
          throw errors.invalid(this.resource, name, 'spec.ports.nodePort', `Invalid value: ${p.nodePort}: provided port is already allocated`);
        }
      }
      taken.add(p.nodePort);
    }
    if (spec.type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local') {
      if (!spec.healthCheckNodePort) spec.healthCheckNodePort = oldSpec.healthCheckNodePort || this.allocatePort(key, taken);
    } else delete spec.healthCheckNodePort;
  }

  private allocatePort(key: string, taken: Set<number>): number {
    for (let p = this.portMin; p <= this.portMax; p++) {
      if (!this.ports.has(p) && !taken.has(p)) {
        this.ports.set(p, key);
        return p;
      }
    }
    throw errors.internal(`range is full: ${this.portMin}-${this.portMax}`);
  }
}

function clusterIPsOf(svc: Obj): string[] {
  const s = svc?.spec;
  if (!s || typeof s !== 'object') return [];
  const list: unknown[] = Array.isArray(s.clusterIPs) && s.clusterIPs.length ? s.clusterIPs : [s.clusterIP];
  return list.map((x) => canonicalIP(x)).filter((x): x is string => !!x);
}

function nodePortsOf(svc: Obj): number[] {
  const s = svc?.spec;
  if (!s || typeof s !== 'object') return [];
  const out: number[] = [];
  for (const p of Array.isArray(s.ports) ? s.ports : []) if (p && typeof p.nodePort === 'number' && p.nodePort > 0) out.push(p.nodePort);
  if (typeof s.healthCheckNodePort === 'number' && s.healthCheckNodePort > 0) out.push(s.healthCheckNodePort);
  return out;
}
