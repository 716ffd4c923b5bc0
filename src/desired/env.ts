// The node-wide environment every Service is computed in: this node's name and zone, the node IPs kube-proxy
// would use (proxier.nodeIP for loadBalancerSourceRanges, NodePort addresses, addresses already on other
// interfaces), the local-traffic detector and the masquerade mark, per IP family.
//
// Sources read (kubernetes/kubernetes): cmd/kube-proxy/app/server.go detectNodeIPs and the "primary"
// nodePortAddresses expansion, server_linux.go getLocalDetectors, pkg/proxy/util/nodeport_addresses.go,
// pkg/proxy/ipvs/netlink_linux.go isValidForSet, pkg/proxy/ipvs/proxier.go NewProxier.

import type { ApiNode } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';
import { cidrContains, formatIP, isLinkLocalUnicast, isLoopback, isUnspecified, parseIP, type IPFamily, type ParsedIP } from '../model/ip.js';
import { ipsetName, KUBE_IPSETS, type IpsetId } from '../model/ipsets.js';
import type { Diagnostic } from '../model/state.js';
import { toAddr, toCidr, type Addr, type Cidr } from './address.js';
import { isRecord, show, stringMap } from './json.js';
import { defaultSchedulerFlags } from './scheduler.js';
import type { PerFamily } from './service.js';
import type { NodeContext } from './types.js';

export const LABEL_TOPOLOGY_ZONE = 'topology.kubernetes.io/zone';

export interface FamilyEnv {
  family: IPFamily;
  /** proxier.nodeIP: bindAddress, else the Node object's first InternalIP/ExternalIP of the family, else loopback. */
  nodeIP: ParsedIP;
  /** Addresses NodePort virtual servers are made on, sorted. */
  nodePortIPs: Addr[];
  /** Addresses on interfaces other than kube-ipvs0 (no loopback, no IPv6 link-local): never bound to kube-ipvs0. */
  nodeAddressSet: ReadonlySet<string>;
  /** `IfNotLocal()` arguments of the local traffic detector; undefined for the no-op detector. */
  localDetector: string[] | undefined;
  /** Per-family set names (IPv6: KUBE-6-..., truncated to 31 characters). */
  setNames: Record<IpsetId, string>;
}

export interface Env {
  nodeName: string;
  zone: string;
  families: PerFamily<FamilyEnv>;
  /** Global scheduler (config.ipvs.scheduler, "" = rr) and the flags kube-proxy adds for it. */
  scheduler: string;
  schedulerFlags: number;
  masqueradeAll: boolean;
  /** fmt.Sprintf("%#08x", 1<<masqueradeBit), e.g. "0x00004000". */
  masqueradeMark: string;
  randomFully: boolean;
  diagnostics: Diagnostic[];
  /** Identity of everything a Service's contribution depends on: contributions are recomputed when it changes. */
  contributionSignature: string;
  /** Identity of the environment parts of the iptables text. */
  iptablesSignature: string;
}

const LOOPBACK: PerFamily<ParsedIP> = { 4: parseIP('127.0.0.1')!, 6: parseIP('::1')! };

function setNamesOf(family: IPFamily): Record<IpsetId, string> {
  const out = {} as Record<IpsetId, string>;
  for (const id of Object.keys(KUBE_IPSETS) as IpsetId[]) out[id] = ipsetName(KUBE_IPSETS[id].name, family);
  return out;
}
const SET_NAMES: PerFamily<Record<IpsetId, string>> = { 4: setNamesOf(4), 6: setNamesOf(6) };

export function masqueradeMarkOf(bit: number): string {
  return `0x${((1 << bit) >>> 0).toString(16).padStart(8, '0')}`;
}

export function resolveEnv(ctx: NodeContext, config: ProxyConfig): Env {
  const diagnostics: Diagnostic[] = [];
  const c: Partial<ProxyConfig> = isRecord(config) ? config : {};
  const configWarn = (field: string, message: string) => diagnostics.push({ object: `Config/${field}`, kind: 'Config', message });
  const nodeName = isRecord(ctx) && typeof ctx.nodeName === 'string' ? ctx.nodeName : '';
  const nodeWarn = (message: string) => diagnostics.push({ object: `Node/${nodeName || '<no name>'}`, kind: 'Node', message });

  // The Node object: kube-proxy ignores events for other nodes.
  let node: ApiNode | undefined = isRecord(ctx) && isRecord(ctx.node) ? ctx.node : undefined;
  if (isRecord(ctx) && ctx.node !== undefined && ctx.node !== null && !node) nodeWarn(`Node object ${show(ctx.node)} is not an object; ignored`);
  if (node) {
    const name = isRecord(node.metadata) ? node.metadata.name : undefined;
    if (name !== nodeName) {
      nodeWarn(`Node object ${show(name)} is not this node; ignored`);
      node = undefined;
    }
  }
  const labels = node && isRecord(node.metadata) ? stringMap(node.metadata.labels) : {};
  const zone = labels[LABEL_TOPOLOGY_ZONE] ?? '';

  // proxier.nodeIP per family (detectNodeIPs): node addresses InternalIP first, then ExternalIP; bindAddress wins.
  const nodeIP: PerFamily<ParsedIP> = { ...LOOPBACK };
  const found: PerFamily<boolean> = { 4: false, 6: false };
  const addresses = node && isRecord(node.status) && Array.isArray(node.status.addresses) ? node.status.addresses : [];
  for (const wanted of ['InternalIP', 'ExternalIP']) {
    for (const a of addresses) {
      if (!isRecord(a) || a.type !== wanted) continue;
      const ip = parseIP(a.address);
      if (!ip) {
        nodeWarn(`status.addresses ${wanted} ${show(a.address)} is not an IP address; ignored`);
        continue;
      }
      if (!found[ip.family]) {
        found[ip.family] = true;
        nodeIP[ip.family] = ip;
      }
    }
  }
  const bindAddress = c.bindAddress;
  if (typeof bindAddress === 'string' && bindAddress !== '') {
    const ip = parseIP(bindAddress);
    if (!ip) configWarn('bindAddress', `bindAddress ${show(bindAddress)} is not an IP address; ignored`);
    else if (!isUnspecified(ip)) nodeIP[ip.family] = ip;
  }

  // --nodeport-addresses: CIDRs, or ["primary"] = the primary node IPs as /32 and /128 (loopback left out).
  let npaCidrs: Cidr[] = [];
  const npa = Array.isArray(c.nodePortAddresses) ? c.nodePortAddresses : [];
  if (npa.length === 1 && npa[0] === 'primary') {
    for (const fam of [4, 6] as const) {
      if (!isLoopback(nodeIP[fam])) npaCidrs.push(toCidr(`${formatParsed(nodeIP[fam])}/${fam === 4 ? 32 : 128}`)!);
    }
  } else {
    for (const raw of npa) {
      const cidr = toCidr(raw);
      if (!cidr) configWarn('nodePortAddresses', `nodePortAddresses entry ${show(raw)} is not a CIDR${raw === 'primary' ? ' ("primary" must be the only entry)' : ''}; ignored`);
      else npaCidrs.push(cidr);
    }
  }
  npaCidrs = npaCidrs.filter((x, i) => npaCidrs.findIndex((y) => y.text === x.text) === i);

  // Local interface addresses (all interfaces except kube-ipvs0).
  const local: { addr: Addr; ip: ParsedIP; family: IPFamily }[] = [];
  const rawAddrs = isRecord(ctx) && Array.isArray(ctx.nodeAddresses) ? ctx.nodeAddresses : [];
  for (const raw of rawAddrs) {
    const a = toAddr(raw);
    if (!a) nodeWarn(`node address ${show(raw)} is not an IP address; ignored`);
    else if (!local.some((x) => x.addr.text === a.text)) local.push({ addr: a, ip: parseIP(a.text)!, family: a.family });
  }
  local.sort((a, b) => (a.addr.key < b.addr.key ? -1 : a.addr.key > b.addr.key ? 1 : 0));

  // Local traffic detector (getLocalDetectors; "" means ClusterCIDR).
  const detector: PerFamily<string[] | undefined> = { 4: undefined, 6: undefined };
  const mode = c.detectLocalMode ?? '';
  const firstPerFamily = (list: unknown, field: string) => {
    const items = Array.isArray(list) ? list : [];
    for (const raw of items) {
      if (raw === '') continue;
      const cidr = toCidr(raw);
      if (!cidr) {
        configWarn(field, `${field} entry ${show(raw)} is not a CIDR; ignored`);
        continue;
      }
      if (!detector[cidr.family]) detector[cidr.family] = ['!', '-s', cidr.text];
    }
  };
  if (mode === '' || mode === 'ClusterCIDR') firstPerFamily(c.clusterCIDRs, 'clusterCIDRs');
  else if (mode === 'NodeCIDR') {
    const spec = node && isRecord(node.spec) ? node.spec : undefined;
    const podCIDRs = spec && Array.isArray(spec.podCIDRs) && spec.podCIDRs.length > 0 ? spec.podCIDRs : spec && typeof spec.podCIDR === 'string' ? [spec.podCIDR] : [];
    if (podCIDRs.length === 0) nodeWarn('detectLocalMode NodeCIDR, but the Node object has no spec.podCIDRs; no local traffic detection');
    firstPerFamily(podCIDRs, 'podCIDRs');
  } else if (mode === 'BridgeInterface') {
    if (typeof c.podBridgeInterface === 'string' && c.podBridgeInterface !== '') detector[4] = detector[6] = ['!', '-i', c.podBridgeInterface];
    else configWarn('podBridgeInterface', 'detectLocalMode BridgeInterface needs podBridgeInterface; no local traffic detection');
  } else if (mode === 'InterfaceNamePrefix') {
    if (typeof c.podInterfaceNamePrefix === 'string' && c.podInterfaceNamePrefix !== '') detector[4] = detector[6] = ['!', '-i', `${c.podInterfaceNamePrefix}+`];
    else configWarn('podInterfaceNamePrefix', 'detectLocalMode InterfaceNamePrefix needs podInterfaceNamePrefix; no local traffic detection');
  } else configWarn('detectLocalMode', `detectLocalMode ${show(mode)} is not ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix; no local traffic detection`);

  const families = {} as PerFamily<FamilyEnv>;
  for (const fam of [4, 6] as const) {
    // isValidForSet: family, no loopback, no IPv6 link-local.
    const valid = local.filter((a) => a.family === fam && !isLoopback(a.ip) && !(fam === 6 && isLinkLocalUnicast(a.ip))).map((a) => a.addr);
    const cidrs = npaCidrs.filter((x) => x.family === fam);
    const matchAll = cidrs.length === 0 || cidrs.some((x) => x.net.prefix === 0);
    const nodePortIPs = matchAll ? valid : local.filter((a) => a.family === fam && !isLoopback(a.ip) && cidrs.some((x) => cidrContains(x.net, a.ip))).map((a) => a.addr);
    families[fam] = {
      family: fam,
      nodeIP: nodeIP[fam],
      nodePortIPs,
      nodeAddressSet: new Set(valid.map((a) => a.text)),
      localDetector: detector[fam],
      setNames: SET_NAMES[fam],
    };
  }

  const scheduler = typeof c.ipvs?.scheduler === 'string' && c.ipvs.scheduler !== '' ? c.ipvs.scheduler : 'rr';
  let bit = 14;
  if (c.masqueradeBit !== undefined) {
    if (typeof c.masqueradeBit === 'number' && Number.isInteger(c.masqueradeBit) && c.masqueradeBit >= 0 && c.masqueradeBit <= 31) bit = c.masqueradeBit;
    else configWarn('masqueradeBit', `masqueradeBit ${show(c.masqueradeBit)} is not an integer in 0-31; 14 used`);
  }
  const masqueradeAll = c.masqueradeAll === true;
  const masqueradeMark = masqueradeMarkOf(bit);
  const randomFully = !(isRecord(ctx) && ctx.iptablesRandomFully === false);

  const contributionSignature = JSON.stringify([
    nodeName,
    zone,
    scheduler,
    [4, 6].map((f) => {
      const fe = families[f as IPFamily];
      return [formatParsed(fe.nodeIP), fe.nodePortIPs.map((a) => a.text), [...fe.nodeAddressSet]];
    }),
  ]);
  const iptablesSignature = JSON.stringify([masqueradeAll, masqueradeMark, randomFully, detector[4] ?? null, detector[6] ?? null]);
  return {
    nodeName,
    zone,
    families,
    scheduler,
    schedulerFlags: defaultSchedulerFlags(scheduler),
    masqueradeAll,
    masqueradeMark,
    randomFully,
    diagnostics,
    contributionSignature,
    iptablesSignature,
  };
}

function formatParsed(ip: ParsedIP): string {
  return formatIP(ip.bytes);
}
