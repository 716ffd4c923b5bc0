// explainService: why one Service looks the way it does on this node — the virtual servers, real servers,
// kube-ipvs0 addresses, ipset entries and iptables rules it gets, and for every endpoint of every one of its
// EndpointSlices whether it became a real server and why (not). For `kube-ipvs explain` (src/cli/explain.ts).
//
// It computes nothing of its own: the state comes from the same builder computeDesiredState uses (so the lists
// are exactly the plan's), and endpoint selection is re-run with the same functions the contribution uses
// (normalizeEndpointSlice, dedupEndpoints, categorizeEndpoints); only the words saying WHY are made here, and an
// endpoint's inclusion is read from the very sets its virtual servers were given.
// Pure: no I/O, no clock; bad input becomes reasons and diagnostics.

import { LABEL_HEADLESS, LABEL_SERVICE_NAME, LABEL_SERVICE_PROXY_NAME, type ApiEndpointSlice, type ApiService } from '../model/api.js';
import { canonicalIP, ipFamilyOf, joinHostPort, type IPFamily } from '../model/ip.js';
import { DUMMY_INTERFACE, IPVS_SVC_FLAGS, virtualServerKey, type Diagnostic, type NodeState, type Protocol, type VirtualServer } from '../model/state.js';
import type { VsClaim, VsKind } from './contribution.js';
import { dedupEndpoints, portId } from './endpoints.js';
import { resolveEnv } from './env.js';
import { loadDesiredInput } from './index.js';
import { isRecord, show, stringMap } from './json.js';
import { ANNOTATION_KUBE_ROUTER_SCHEDFLAGS, ANNOTATION_KUBE_ROUTER_SCHEDULER, ANNOTATION_SCHEDULER, ANNOTATION_SCHEDULER_FLAGS, schedulerFromAnnotations } from './scheduler.js';
import { normalizeService, type NormalizedService, type ServicePortSpec, type ServiceSkipReason } from './service.js';
import { normalizeEndpointSlice } from './slice.js';
import { categorizeEndpoints, isLocalEndpoint, topologyMode, type Categorized, type ServiceEndpoint, type TopologyMode } from './topology.js';
import type { DesiredInput } from './types.js';

// ---- the Explanation (documented in README.md, "explain") -----------------------------------------------------

export type ServiceStatus = 'proxied' | 'skipped' | 'invalid' | 'not-found';
export type ServiceReason = ServiceSkipReason | 'invalid' | 'not-found';

/** Why an endpoint is (included) or is not a real server. */
export type EndpointReason =
  // included
  | 'ready'
  | 'serving-terminating'
  // left out by endpoint selection (CategorizeEndpoints)
  | 'not-ready'
  | 'terminating'
  | 'terminating-not-serving'
  | 'other-node'
  | 'topology-node'
  | 'topology-zone'
  // left out before selection
  | 'vs-conflict'
  | 'duplicate'
  | 'port-mismatch'
  | 'no-ports'
  | 'other-ip-family'
  | 'fqdn-slice'
  | 'slice-label'
  | 'invalid-slice'
  | 'invalid-endpoint'
  | 'service-not-proxied'
  | 'no-service';

export interface EndpointVerdict {
  included: boolean;
  reason: EndpointReason;
  message: string;
}

export interface EndpointExplanation {
  /** "namespace/sliceName". */
  slice: string;
  /** Index in the slice's endpoints. */
  index: number;
  /** addresses[0], canonical when it is an address, else as written ("" when missing). */
  address: string;
  /** The slice's address family; null for FQDN and unreadable slices. */
  family: IPFamily | null;
  /** The slice port this row is about; null when the row is about the whole endpoint. */
  port: number | null;
  portName: string | null;
  protocol: Protocol | null;
  /** The service port (kube-proxy's ServicePortName, "ns/name:port") the slice port feeds; null when none. */
  servicePort: string | null;
  nodeName: string;
  /** nodeName is this node's name. */
  local: boolean;
  /** As kube-proxy reads them (unset ready/serving = true, unset terminating = false); null when not read. */
  conditions: { ready: boolean; serving: boolean; terminating: boolean } | null;
  hints: { forZones: string[]; forNodes: string[] };
  /** A real server of at least one virtual server. */
  included: boolean;
  /** The internal verdict's reason, else the external one's, else why the row never reached selection. */
  reason: EndpointReason;
  message: string;
  /** For the cluster IP virtual server (internalTrafficPolicy). */
  internal?: EndpointVerdict;
  /** For the external IP / load balancer / node port virtual servers (externalTrafficPolicy), when the port has any. */
  external?: EndpointVerdict;
  /** Problems in the endpoint that did not stop it (diagnostics of this endpoint). */
  warnings: string[];
}

export type EndpointPool = 'ready' | 'serving-terminating' | 'none' | 'unused';

export interface TrafficSelection {
  policy: 'Cluster' | 'Local';
  /** local: this node's endpoints; cluster: all (topology-filtered); cluster-fallback: Local policy without a
   *  usable local endpoint (kubernetes PR #97081); none: no real servers (internalTrafficPolicy Local, ClusterIP only). */
  uses: 'local' | 'cluster' | 'cluster-fallback' | 'none';
  /** "ip:port" of the real servers, in order. */
  realServers: string[];
  message: string;
}

export interface VirtualServerClaim {
  /** "TCP/10.96.0.10:80". */
  key: string;
  kind: VsKind;
  /** internal = the cluster IP (internalTrafficPolicy); external = the others (externalTrafficPolicy). */
  traffic: 'internal' | 'external';
  /** This service port holds the virtual server. */
  programmed: boolean;
  /** When not programmed: the service port that holds it. */
  heldBy?: string;
}

export interface PortExplanation {
  /** kube-proxy's ServicePortName: "ns/name:port", or "ns/name" when unnamed. */
  servicePort: string;
  name: string;
  protocol: Protocol;
  port: number;
  nodePort: number;
  family: IPFamily;
  virtualServers: VirtualServerClaim[];
  selection: {
    externallyAccessible: boolean;
    usesClusterEndpoints: boolean;
    usesLocalEndpoints: boolean;
    topology: 'none' | 'PreferSameNode' | 'PreferSameZone';
    cluster: EndpointPool;
    local: EndpointPool;
    internal: TrafficSelection;
    external?: TrafficSelection;
  };
  notes: string[];
}

export interface SchedulerExplanation {
  scheduler: string;
  /** Scheduler flags as the annotations name them (flag-1 = 0x08, flag-2 = 0x10, flag-3 = 0x20). */
  flags: string[];
  source: 'annotation' | 'global';
  annotation?: string;
  flagsAnnotation?: string;
  message: string;
}

export interface ServiceSummary {
  type: string;
  clusterIPs: string[];
  externalIPs: string[];
  loadBalancerIPs: string[];
  loadBalancerSourceRanges: string[];
  /** Effective policies (externalTrafficPolicy Local counts only for externally accessible Services). */
  internalTrafficPolicy: 'Cluster' | 'Local';
  externalTrafficPolicy: 'Cluster' | 'Local';
  sessionAffinity: 'None' | 'ClientIP';
  sessionAffinityTimeoutSeconds: number;
  healthCheckNodePort: number;
}

export interface Explanation {
  /** "namespace/name". */
  service: string;
  status: ServiceStatus;
  /** Why the Service is not proxied (absent when it is). */
  reason?: { code: ServiceReason; message: string };
  node: { name: string; zone: string; nodeObject: boolean };
  spec?: ServiceSummary;
  scheduler?: SchedulerExplanation;
  ports: PortExplanation[];
  /** Exactly the plan's virtual servers of this Service (those whose `service` is one of its ports), plan order. */
  virtualServers: VirtualServer[];
  /** kube-ipvs0 addresses this Service needs (plan order). */
  addresses: string[];
  /** Set entries this Service puts, in the plan's set and entry order. */
  ipsetEntries: { set: string; entry: string }[];
  /** The plan's iptables rules matching a set that holds one of its entries, and its OUT-FILTER rules. */
  iptables: { family: 'ipv4' | 'ipv6'; table: 'nat' | 'filter'; rule: string }[];
  endpoints: EndpointExplanation[];
  notes: string[];
  /** The plan's diagnostics about this Service and its EndpointSlices. */
  diagnostics: Diagnostic[];
}

// ---- entry point ------------------------------------------------------------------------------------------------

/** Explains Service `key` ("namespace/name") for the same input computeDesiredState takes. Never throws on bad input. */
export function explainService(input: DesiredInput, key: string): Explanation {
  const loaded = loadDesiredInput(input);
  const state = loaded.builder.build();
  const ctx = isRecord(input) && isRecord(input.node) ? input.node : { nodeName: '', nodeAddresses: [] };
  const env = resolveEnv(ctx, isRecord(input) ? input.config : (undefined as never));
  const nodeObject = isRecord(ctx.node) && isRecord(ctx.node.metadata) && ctx.node.metadata.name === env.nodeName;
  const [namespace = '', name = ''] = splitKey(key);

  const raw = loaded.services.find((s) => metaOf(s).namespace === namespace && metaOf(s).name === name);
  const slices = loaded.endpointSlices
    .filter((s) => metaOf(s).namespace === namespace && stringMap(metaOf(s).labels)[LABEL_SERVICE_NAME] === name && typeof metaOf(s).name === 'string')
    .sort((a, b) => cmp(String(metaOf(a).name), String(metaOf(b).name)));
  const sliceKeys = new Set(slices.map((s) => `${namespace}/${String(metaOf(s).name)}`));

  const out: Explanation = {
    service: key,
    status: 'not-found',
    node: { name: env.nodeName, zone: env.zone, nodeObject },
    ports: [],
    virtualServers: [],
    addresses: [],
    ipsetEntries: [],
    iptables: [],
    endpoints: [],
    notes: [],
    diagnostics: state.diagnostics.filter((d) => d.object === key || sliceKeys.has(d.object)),
  };
  if (!nodeObject) out.notes.push(`no Node object named ${JSON.stringify(env.nodeName)}: the node's zone is unknown, so zone hints never match`);

  if (raw === undefined) {
    out.reason = { code: 'not-found', message: `no Service ${key}${slices.length > 0 ? ` (${slices.length === 1 ? '1 EndpointSlice names' : `${slices.length} EndpointSlices name`} it)` : ''}` };
    out.endpoints = sliceLevelRows(slices, 'no-service', `there is no Service ${key}`, env.nodeName);
    return out;
  }
  const norm = normalizeService(raw);
  if (norm.status !== 'ok') {
    out.status = norm.status;
    out.reason =
      norm.status === 'skipped'
        ? { code: norm.reason, message: skipMessage(norm.reason, raw) }
        : { code: 'invalid', message: norm.diagnostics.map((d) => d.message).join('; ') || 'the Service cannot be read' };
    out.endpoints = sliceLevelRows(slices, 'service-not-proxied', `the Service is not proxied: ${out.reason.message}`, env.nodeName);
    return out;
  }

  const svc = norm.service;
  out.status = 'proxied';
  out.spec = summaryOf(svc);
  out.scheduler = schedulerOf(raw, svc, env.scheduler);
  out.notes.push(...serviceNotes(raw, svc));

  // What the plan holds for this Service.
  const contribution = loaded.builder.serviceContribution(key);
  const ownsVs = (vs: VirtualServer) => vs.service === key || (vs.service?.startsWith(`${key}:`) ?? false);
  out.virtualServers = state.ipvs.filter(ownsVs);
  const stateVs = new Map(state.ipvs.map((vs) => [virtualServerKey(vs), vs]));
  const addrTexts = new Set(contribution?.addresses.map((a) => a.text));
  out.addresses = (state.addresses[DUMMY_INTERFACE] ?? []).filter((a) => addrTexts.has(a));
  const entriesBySet = new Map<string, Set<string>>();
  for (const e of contribution?.entries ?? []) {
    let set = entriesBySet.get(e.set);
    if (!set) entriesBySet.set(e.set, (set = new Set()));
    set.add(e.text);
  }
  for (const [set, ipset] of Object.entries(state.ipsets)) {
    const mine = entriesBySet.get(set);
    if (mine) for (const entry of ipset.entries) if (mine.has(entry)) out.ipsetEntries.push({ set, entry });
  }
  out.iptables = iptablesRulesOf(state, new Set(entriesBySet.keys()), new Set(contribution?.outFilter.map((r) => r.text)));

  // Endpoint rows, then selection per service port and family.
  const rows: EndpointExplanation[] = [];
  const groups = new Map<string, { row: EndpointExplanation; ep: ServiceEndpoint }[]>();
  for (const s of slices) collectSliceRows(s, svc, env.nodeName, rows, groups);
  const claims = contribution?.claims ?? [];
  for (const family of [4, 6] as const) {
    if (!svc.clusterIP[family]) continue;
    const fe = env.families[family];
    for (const sp of svc.ports) {
      const group = groups.get(groupKey(sp.name, sp.protocol, family)) ?? [];
      const portClaims = claims.filter((c) => c.portName === sp.portName && ipFamilyOf(c.vs.address) === family);
      out.ports.push(explainPort(svc, sp, family, group, portClaims, stateVs, env.nodeName, env.zone, fe.nodePortIPs.length > 0));
    }
  }
  out.endpoints = rows;
  return out;
}

// ---- service level ---------------------------------------------------------------------------------------------

function splitKey(key: string): [string, string] | [] {
  const i = typeof key === 'string' ? key.indexOf('/') : -1;
  return i > 0 ? [key.slice(0, i), key.slice(i + 1)] : [];
}

function metaOf(obj: unknown): { namespace?: unknown; name?: unknown; labels?: unknown; annotations?: unknown } {
  const m = isRecord(obj) ? obj.metadata : undefined;
  return isRecord(m) ? m : {};
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function skipMessage(reason: ServiceSkipReason, raw: ApiService): string {
  const labels = stringMap(metaOf(raw).labels);
  switch (reason) {
    case 'service-proxy-name':
      return `label ${LABEL_SERVICE_PROXY_NAME}=${JSON.stringify(labels[LABEL_SERVICE_PROXY_NAME] ?? '')}: another proxy handles this Service (kube-proxy's label selector leaves it out)`;
    case 'headless-label':
      return `label ${LABEL_HEADLESS}: a headless Service (kube-proxy's label selector leaves it out)`;
    case 'external-name':
      return 'type ExternalName: a DNS alias, nothing to proxy';
    case 'headless':
      return `headless (spec.clusterIP ${show(isRecord(raw.spec) ? (raw.spec.clusterIP ?? '') : '')}): clients reach the endpoints directly, nothing to proxy`;
  }
}

function summaryOf(svc: NormalizedService): ServiceSummary {
  const fams = [4, 6] as const;
  return {
    type: svc.type,
    clusterIPs: fams.flatMap((f) => (svc.clusterIP[f] ? [svc.clusterIP[f]!.text] : [])),
    externalIPs: fams.flatMap((f) => svc.externalIPs[f].map((a) => a.text)),
    loadBalancerIPs: fams.flatMap((f) => svc.lbVIPs[f].map((a) => a.text)),
    loadBalancerSourceRanges: fams.flatMap((f) => svc.sourceRanges[f].map((c) => c.text)),
    internalTrafficPolicy: svc.internalPolicyLocal ? 'Local' : 'Cluster',
    externalTrafficPolicy: svc.externalPolicyLocal ? 'Local' : 'Cluster',
    sessionAffinity: svc.affinityTimeout > 0 ? 'ClientIP' : 'None',
    sessionAffinityTimeoutSeconds: svc.affinityTimeout,
    healthCheckNodePort: svc.healthCheckNodePort,
  };
}

const FLAG_NAMES: readonly [number, string][] = [
  [IPVS_SVC_FLAGS.SCHED1, 'flag-1'],
  [IPVS_SVC_FLAGS.SCHED2, 'flag-2'],
  [IPVS_SVC_FLAGS.SCHED3, 'flag-3'],
];

function flagNames(flags: number): string[] {
  return FLAG_NAMES.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
}

/** What the flags mean for sh and mh (ipvsadm's names), for the message. */
function flagMeaning(scheduler: string, flags: number): string {
  const names = flagNames(flags);
  if (names.length === 0) return 'no scheduler flags';
  if (scheduler !== 'sh' && scheduler !== 'mh') return names.join(',');
  return names.map((n) => (n === 'flag-1' ? `${scheduler}-fallback` : n === 'flag-2' ? `${scheduler}-port` : n)).join(',');
}

function schedulerOf(raw: ApiService, svc: NormalizedService, globalScheduler: string): SchedulerExplanation {
  const annotations = stringMap(metaOf(raw).annotations);
  const o = svc.scheduler;
  if (o) {
    const annotation = annotations[ANNOTATION_SCHEDULER] !== undefined ? ANNOTATION_SCHEDULER : ANNOTATION_KUBE_ROUTER_SCHEDULER;
    const flagsAnnotation =
      annotations[ANNOTATION_SCHEDULER_FLAGS] !== undefined ? ANNOTATION_SCHEDULER_FLAGS : annotations[ANNOTATION_KUBE_ROUTER_SCHEDFLAGS] !== undefined ? ANNOTATION_KUBE_ROUTER_SCHEDFLAGS : undefined;
    const flagsWhy = flagsAnnotation
      ? `${flagMeaning(o.scheduler, o.flags)} from annotation ${flagsAnnotation}=${JSON.stringify(annotations[flagsAnnotation])}`
      : o.flags !== 0
        ? `${flagMeaning(o.scheduler, o.flags)} (no flags annotation: kube-proxy's default for ${o.scheduler})`
        : 'no scheduler flags';
    return {
      scheduler: o.scheduler,
      flags: flagNames(o.flags),
      source: 'annotation',
      annotation,
      ...(flagsAnnotation ? { flagsAnnotation } : {}),
      message: `per-Service scheduler from annotation ${annotation}=${JSON.stringify(annotations[annotation])}; ${flagsWhy}`,
    };
  }
  // Global: say why an annotation (if any) did not count.
  const problems: string[] = [];
  schedulerFromAnnotations(annotations, (m) => problems.push(m));
  const flags = globalScheduler === 'mh' ? IPVS_SVC_FLAGS.SCHED2 : 0;
  return {
    scheduler: globalScheduler,
    flags: flagNames(flags),
    source: 'global',
    message: `global scheduler (--ipvs-scheduler / ipvs.scheduler) ${globalScheduler}, ${flagMeaning(globalScheduler, flags)}${problems.length > 0 ? `; ${problems.join('; ')}` : ''}`,
  };
}

function serviceNotes(raw: ApiService, svc: NormalizedService): string[] {
  const notes: string[] = [];
  const ingress = isRecord(raw.status) && isRecord(raw.status.loadBalancer) ? raw.status.loadBalancer.ingress : undefined;
  if (Array.isArray(ingress)) {
    ingress.forEach((ing: unknown, i: number) => {
      if (!isRecord(ing)) return;
      const where = `status.loadBalancer.ingress[${i}]`;
      if (ing.ip === undefined || ing.ip === null || ing.ip === '') {
        if (typeof ing.hostname === 'string' && ing.hostname !== '') notes.push(`${where} has only a hostname (${ing.hostname}): nothing to program for it`);
      } else if (ing.ipMode === 'Proxy') {
        notes.push(`${where} ${String(ing.ip)} has ipMode Proxy: the load balancer proxies to the node ports, so no virtual server is made on it`);
      }
    });
  }
  const spec = isRecord(raw.spec) ? raw.spec : {};
  if (spec.externalTrafficPolicy === 'Local' && !svc.externalPolicyLocal) {
    notes.push('externalTrafficPolicy Local has no effect: the Service has no node port, load balancer or external IP');
  }
  return notes;
}

/** Rules of the plan's iptables text that match one of the given sets, plus the given OUT-FILTER rules. */
function iptablesRulesOf(state: NodeState, sets: ReadonlySet<string>, outFilter: ReadonlySet<string>): Explanation['iptables'] {
  const out: Explanation['iptables'] = [];
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const table of ['nat', 'filter'] as const) {
      for (const rule of state.iptables[family][table].split('\n')) {
        if (!rule.startsWith('-A ')) continue;
        const words = rule.split(' ');
        let hit = outFilter.has(rule);
        for (let i = 0; i < words.length - 1 && !hit; i++) if (words[i] === '--match-set' && sets.has(words[i + 1]!)) hit = true;
        if (hit) out.push({ family, table, rule });
      }
    }
  }
  return out;
}

// ---- endpoint rows -----------------------------------------------------------------------------------------------

function groupKey(name: string, protocol: string, family: IPFamily): string {
  return `${family}/${portId(name, protocol)}`;
}

function rawEndpoints(slice: unknown): unknown[] {
  return isRecord(slice) && Array.isArray(slice.endpoints) ? slice.endpoints : [];
}

function sliceKeyOf(slice: ApiEndpointSlice): string {
  return `${String(metaOf(slice).namespace)}/${String(metaOf(slice).name)}`;
}

/** A row read from the raw endpoint only (the endpoint never reached kube-proxy's endpoint selection). */
function rawRow(slice: ApiEndpointSlice, index: number, e: unknown, family: IPFamily | null, reason: EndpointReason, message: string, nodeName = ''): EndpointExplanation {
  const addresses = isRecord(e) ? e.addresses : undefined;
  const first: unknown = Array.isArray(addresses) ? addresses[0] : undefined;
  const address = typeof first === 'string' ? (family !== null ? (canonicalIP(first) ?? first) : first) : '';
  const epNode = isRecord(e) && typeof e.nodeName === 'string' ? e.nodeName : '';
  return {
    slice: sliceKeyOf(slice),
    index,
    address,
    family,
    port: null,
    portName: null,
    protocol: null,
    servicePort: null,
    nodeName: epNode,
    local: nodeName !== '' && epNode === nodeName,
    conditions: null,
    hints: { forZones: [], forNodes: [] },
    included: false,
    reason,
    message,
    warnings: [],
  };
}

/** Every endpoint of the given slices excluded for one reason (the Service itself is not proxied / absent). */
function sliceLevelRows(slices: readonly ApiEndpointSlice[], reason: EndpointReason, message: string, nodeName: string): EndpointExplanation[] {
  const rows: EndpointExplanation[] = [];
  for (const s of slices) {
    const family = s.addressType === 'IPv4' ? 4 : s.addressType === 'IPv6' ? 6 : null;
    rawEndpoints(s).forEach((e, i) => rows.push(rawRow(s, i, e, family, reason, message, nodeName)));
  }
  return rows;
}

const FAMILY_NAME: Record<IPFamily, string> = { 4: 'IPv4', 6: 'IPv6' };

/**
 * The rows of one EndpointSlice of a proxied Service. Endpoints that reach selection are added to `groups` (per
 * family and service port, in slice-key then index order: the order kube-proxy's endpoint cache merges them).
 */
function collectSliceRows(
  slice: ApiEndpointSlice,
  svc: NormalizedService,
  nodeName: string,
  rows: EndpointExplanation[],
  groups: Map<string, { row: EndpointExplanation; ep: ServiceEndpoint }[]>,
): void {
  const r = normalizeEndpointSlice(slice);
  const eps = rawEndpoints(slice);
  const whole = (reason: EndpointReason, message: string, family: IPFamily | null) => eps.forEach((e, i) => rows.push(rawRow(slice, i, e, family, reason, message, nodeName)));
  if (r.status === 'skipped') {
    if (r.reason === 'fqdn') whole('fqdn-slice', 'addressType FQDN: kube-proxy ignores FQDN EndpointSlices', null);
    else {
      const label = r.reason === 'service-proxy-name' ? LABEL_SERVICE_PROXY_NAME : LABEL_HEADLESS;
      whole('slice-label', `the EndpointSlice has label ${label}: kube-proxy's label selector leaves it out`, null);
    }
    return;
  }
  if (r.status === 'invalid') {
    whole('invalid-slice', `the EndpointSlice cannot be read: ${r.diagnostics.map((d) => d.message).join('; ')}`, null);
    return;
  }
  const { family, ports } = r.slice;
  if (!svc.clusterIP[family]) {
    const has = ([4, 6] as const).filter((f) => svc.clusterIP[f]).map((f) => FAMILY_NAME[f]);
    whole('other-ip-family', `an ${FAMILY_NAME[family]} EndpointSlice, but the Service has no ${FAMILY_NAME[family]} cluster IP (only ${has.join(', ')})`, family);
    return;
  }
  if (ports.length === 0) {
    whole('no-ports', 'the EndpointSlice has no ports: kube-proxy makes no endpoints from it', family);
    return;
  }
  const servicePorts = svc.ports.map((sp) => `${JSON.stringify(sp.name)}/${sp.protocol}`).join(', ') || 'none';
  eps.forEach((e, index) => {
    // The endpoint alone through the same validation: its ServiceEndpoint per port, and its own diagnostics.
    const single = normalizeEndpointSlice({ ...slice, endpoints: [e] });
    const warnings = single.diagnostics.filter((d) => d.message.startsWith('endpoints[0]')).map((d) => d.message.replace('endpoints[0]', `endpoints[${index}]`));
    const singlePorts = single.status === 'ok' ? single.slice.ports : [];
    if (singlePorts.every((p) => p.endpoints.length === 0)) {
      const row = rawRow(slice, index, e, family, 'invalid-endpoint', warnings.join('; ') || 'the endpoint cannot be read', nodeName);
      rows.push(row);
      return;
    }
    for (const p of singlePorts) {
      const ep = p.endpoints[0]!;
      const sp = svc.ports.find((x) => portId(x.name, x.protocol) === p.id);
      const row: EndpointExplanation = {
        slice: sliceKeyOf(slice),
        index,
        address: ep.ip,
        family,
        port: p.port,
        portName: p.name,
        protocol: p.protocol,
        servicePort: sp ? sp.portName : null,
        nodeName: ep.nodeName,
        local: isLocalEndpoint(ep, nodeName),
        conditions: { ready: ep.ready, serving: ep.serving, terminating: ep.terminating },
        hints: { forZones: [...(ep.zoneHints ?? [])].sort(), forNodes: [...(ep.nodeHints ?? [])].sort() },
        included: false,
        reason: 'port-mismatch',
        message: `slice port ${JSON.stringify(p.name)}/${p.protocol} matches no service port by name and protocol (service ports: ${servicePorts})`,
        warnings,
      };
      rows.push(row);
      if (!sp) continue;
      const k = groupKey(sp.name, sp.protocol, family);
      let list = groups.get(k);
      if (!list) groups.set(k, (list = []));
      list.push({ row, ep });
    }
  });
}

// ---- per service port: selection and verdicts ---------------------------------------------------------------

interface SelectionFacts {
  nodeName: string;
  zone: string;
  mode: TopologyMode;
  cat: Categorized;
  anyReady: boolean;
  anyLocalReady: boolean;
}

function explainPort(
  svc: NormalizedService,
  sp: ServicePortSpec,
  family: IPFamily,
  group: { row: EndpointExplanation; ep: ServiceEndpoint }[],
  claims: VsClaim[],
  stateVs: ReadonlyMap<string, VirtualServer>,
  nodeName: string,
  zone: string,
  hasNodePortIPs: boolean,
): PortExplanation {
  // Duplicates: one endpoint per ip:port survives, exactly as the endpoint cache merges them.
  const endpoints = dedupEndpoints(group.map((g) => g.ep));
  const survivors = new Set(endpoints);
  const byKey = new Map(group.filter((g) => survivors.has(g.ep)).map((g) => [g.ep.key, g.row]));
  for (const g of group) {
    if (survivors.has(g.ep)) continue;
    const winner = byKey.get(g.ep.key)!;
    g.row.reason = 'duplicate';
    g.row.message = `${joinHostPort(g.ep.ip, g.ep.port)} appears more than once; the copy in ${winner.slice} endpoints[${winner.index}] is used`;
  }

  // The same decisions as computeContribution.
  const externallyAccessible = sp.nodePort !== 0 || svc.lbVIPs[family].length > 0 || svc.externalIPs[family].length > 0;
  const usesCluster = !svc.internalPolicyLocal || externallyAccessible;
  const usesLocal = svc.internalPolicyLocal || (svc.externalPolicyLocal && externallyAccessible);
  const cat = categorizeEndpoints(endpoints, usesCluster, usesLocal, nodeName, zone);
  const facts: SelectionFacts = {
    nodeName,
    zone,
    mode: topologyMode(endpoints, nodeName, zone),
    cat,
    anyReady: endpoints.some((ep) => ep.ready),
    anyLocalReady: endpoints.some((ep) => ep.ready && isLocalEndpoint(ep, nodeName)),
  };
  const hasExternal = claims.some((c) => c.kind !== 'clusterIP');
  const internal = selectionFor(svc.internalPolicyLocal, cat);
  const external = hasExternal ? selectionFor(svc.externalPolicyLocal, cat) : undefined;

  // A traffic kind whose every virtual server went to another service port gives its endpoints nothing.
  const heldBy = (traffic: 'internal' | 'external'): string | undefined => {
    const mine = claims.filter((c) => (c.kind === 'clusterIP') === (traffic === 'internal'));
    if (mine.length === 0 || mine.some((c) => stateVs.get(virtualServerKey(c.vs))?.service === c.portName)) return undefined;
    return stateVs.get(virtualServerKey(mine[0]!.vs))?.service ?? 'another service port';
  };
  const lost = { internal: heldBy('internal'), external: heldBy('external') };
  const decide = (traffic: 'internal' | 'external', v: EndpointVerdict): EndpointVerdict =>
    v.included && lost[traffic] !== undefined
      ? { included: false, reason: 'vs-conflict', message: `selected (${v.message}), but every ${traffic} virtual server of this port is held by ${lost[traffic]}` }
      : v;
  for (const g of group) {
    if (!survivors.has(g.ep)) continue;
    const row = g.row;
    row.internal = decide('internal', verdict('internal', g.ep, internal, facts));
    if (external) row.external = decide('external', verdict('external', g.ep, external, facts));
    row.included = row.internal.included || (row.external?.included ?? false);
    const primary = row.internal.included || !row.external?.included ? row.internal : row.external;
    row.reason = primary.reason;
    row.message = primary.message;
  }

  const notes: string[] = [];
  if (sp.nodePort !== 0 && !hasNodePortIPs) {
    notes.push(
      `node port ${sp.nodePort}: this node has no ${FAMILY_NAME[family]} address for node ports (--node-addresses / nodePortAddresses), so no node port virtual server` +
        (svc.healthCheckNodePort !== 0 ? `; kube-proxy then also skips the health check node port ${svc.healthCheckNodePort} for this port` : ''),
    );
  }
  const pool = (list: ServiceEndpoint[] | undefined, used: boolean): EndpointPool => (!used ? 'unused' : !list || list.length === 0 ? 'none' : list[0]!.ready ? 'ready' : 'serving-terminating');
  return {
    servicePort: sp.portName,
    name: sp.name,
    protocol: sp.protocol,
    port: sp.port,
    nodePort: sp.nodePort,
    family,
    virtualServers: claims.map((c) => {
      const held = stateVs.get(virtualServerKey(c.vs));
      const programmed = held?.service === c.portName;
      return {
        key: virtualServerKey(c.vs),
        kind: c.kind,
        traffic: c.kind === 'clusterIP' ? 'internal' : 'external',
        programmed,
        ...(programmed || !held?.service ? {} : { heldBy: held.service }),
      };
    }),
    selection: {
      externallyAccessible,
      usesClusterEndpoints: usesCluster,
      usesLocalEndpoints: usesLocal,
      topology: facts.mode === '' ? 'none' : facts.mode,
      cluster: pool(cat.cluster, usesCluster),
      local: pool(cat.local, usesLocal),
      internal: trafficSelection('internal', internal, facts),
      ...(external ? { external: trafficSelection('external', external, facts) } : {}),
    },
    notes,
  };
}

interface Chosen {
  policyLocal: boolean;
  uses: TrafficSelection['uses'];
  set: ReadonlySet<ServiceEndpoint>;
  list: readonly ServiceEndpoint[];
}

/** Which endpoints a traffic kind's virtual servers get (computeContribution's internalRS / externalRS). */
function selectionFor(policyLocal: boolean, cat: Categorized): Chosen {
  let uses: Chosen['uses'];
  let list: readonly ServiceEndpoint[];
  if (policyLocal && cat.local && cat.local.length > 0) {
    uses = 'local';
    list = cat.local;
  } else {
    uses = !policyLocal ? 'cluster' : cat.cluster === undefined ? 'none' : 'cluster-fallback';
    list = cat.cluster ?? [];
  }
  return { policyLocal, uses, set: new Set(list), list };
}

function policyField(kind: 'internal' | 'external'): string {
  return kind === 'internal' ? 'internalTrafficPolicy' : 'externalTrafficPolicy';
}

function trafficSelection(kind: 'internal' | 'external', c: Chosen, f: SelectionFacts): TrafficSelection {
  const field = policyField(kind);
  const n = c.list.length;
  const what = n === 0 ? 'no real servers' : `${n} real server${n === 1 ? '' : 's'}`;
  const fallback = n > 0 && !c.list[0]!.ready ? ' (serving-terminating fallback: no ready endpoint)' : '';
  let message: string;
  switch (c.uses) {
    case 'local':
      message = `${field} Local: this node's endpoints, ${what}${fallback}`;
      break;
    case 'cluster':
      message = `${field} Cluster: endpoints on every node${f.mode === 'PreferSameNode' ? ' with node hints for this node' : f.mode === 'PreferSameZone' ? ` with zone hints for zone ${JSON.stringify(f.zone)}` : ''}, ${what}${fallback}`;
      break;
    case 'cluster-fallback':
      message = `${field} Local, but no usable endpoint on this node: falls back to the cluster's endpoints (kubernetes PR #97081), ${what}${fallback}`;
      break;
    case 'none':
      message = `${field} Local and no usable endpoint on this node: a Service reachable only through its cluster IP gets no real servers then`;
      break;
  }
  return { policy: c.policyLocal ? 'Local' : 'Cluster', uses: c.uses, realServers: c.list.map((ep) => joinHostPort(ep.ip, ep.port)), message };
}

function whereIs(ep: ServiceEndpoint): string {
  return ep.nodeName === '' ? 'the endpoint has no nodeName' : `the endpoint is on node ${JSON.stringify(ep.nodeName)}`;
}

/** Why an endpoint that is not ready was not picked, given whether ready endpoints exist in its scope. */
function conditionVerdict(ep: ServiceEndpoint, readyExists: boolean, scope: string): EndpointVerdict {
  if (ep.terminating && ep.serving) {
    return {
      included: false,
      reason: 'terminating',
      message: readyExists
        ? `terminating (still serving): ready endpoints exist ${scope}, so the serving-terminating fallback does not apply`
        : `terminating (still serving), not used ${scope}`,
    };
  }
  if (ep.terminating) return { included: false, reason: 'terminating-not-serving', message: 'terminating and no longer serving: never used' };
  return { included: false, reason: 'not-ready', message: `not ready${ep.serving ? '' : ' and not serving'}` };
}

function verdict(kind: 'internal' | 'external', ep: ServiceEndpoint, c: Chosen, f: SelectionFacts): EndpointVerdict {
  const field = policyField(kind);
  const local = isLocalEndpoint(ep, f.nodeName);
  if (c.set.has(ep)) {
    let message: string;
    if (c.uses === 'local') {
      message = ep.ready
        ? `ready, on this node (${field} Local)`
        : `serving and terminating, on this node: no ready endpoint here, so the serving-terminating fallback applies (${field} Local)`;
    } else {
      message = ep.ready
        ? `ready${f.mode === 'PreferSameNode' ? ', with a node hint for this node' : f.mode === 'PreferSameZone' ? `, with a zone hint for ${JSON.stringify(f.zone)}` : ''}`
        : 'serving and terminating: no ready endpoint in the cluster, so the serving-terminating fallback applies';
      if (c.uses === 'cluster-fallback') message = `${field} Local, but no usable endpoint on this node: every cluster endpoint is used (kubernetes PR #97081); ${message}`;
    }
    return { included: true, reason: ep.ready ? 'ready' : 'serving-terminating', message };
  }
  if (c.uses === 'local' || c.uses === 'none') {
    if (!local) {
      const tail = c.uses === 'none' ? '; this node has no usable endpoint, so the cluster IP has no real servers' : '';
      return { included: false, reason: 'other-node', message: `${field} Local: ${whereIs(ep)}, not this node (${JSON.stringify(f.nodeName)})${tail}` };
    }
    return conditionVerdict(ep, f.anyLocalReady, 'on this node');
  }
  if (ep.ready) {
    // Ready but filtered out: only topology hints do that.
    if (f.mode === 'PreferSameNode') {
      return { included: false, reason: 'topology-node', message: `ready, but every ready endpoint has node hints and this one's are for ${JSON.stringify(ep.nodeHints ? [...ep.nodeHints].sort() : [])}, not this node (${JSON.stringify(f.nodeName)})` };
    }
    return { included: false, reason: 'topology-zone', message: `ready, but every ready endpoint has zone hints and this one's are for ${JSON.stringify(ep.zoneHints ? [...ep.zoneHints].sort() : [])}, not this node's zone (${JSON.stringify(f.zone)})` };
  }
  return conditionVerdict(ep, f.anyReady, 'in the cluster');
}
