// Small builders for desired/ tests: Services, EndpointSlices, nodes, config, and lookups in a NodeState.
import type { ApiEndpoint, ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import { defaultProxyConfig, type ProxyConfig } from '../../src/model/config.js';
import type { NodeState, VirtualServer } from '../../src/model/state.js';
import { computeDesiredState, type NodeContext } from '../../src/desired/index.js';

export type Spec = NonNullable<ApiService['spec']>;

export interface SvcOptions extends Partial<Spec> {
  ns?: string;
  annotations?: Record<string, string>;
  labels?: Record<string, string>;
  ingress?: { ip?: string; hostname?: string; ipMode?: string }[];
}

/** A Service; single-stack IPv4 ClusterIP with one TCP port 80 "http" unless told otherwise. */
export function svc(name: string, o: SvcOptions = {}): ApiService {
  const { ns = 'default', annotations, labels, ingress, ...spec } = o;
  const clusterIP = spec.clusterIP ?? '10.96.0.10';
  const s: ApiService = {
    metadata: { namespace: ns, name, ...(annotations ? { annotations } : {}), ...(labels ? { labels } : {}) },
    spec: {
      type: 'ClusterIP',
      clusterIP,
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
      ...spec,
    },
  };
  if (ingress) s.status = { loadBalancer: { ingress } };
  return s;
}

export interface EpOptions {
  node?: string;
  ready?: boolean | null;
  serving?: boolean | null;
  terminating?: boolean | null;
  zones?: string[];
  nodes?: string[];
  addresses?: string[];
}

export function ep(ip: string, o: EpOptions = {}): ApiEndpoint {
  const e: ApiEndpoint = { addresses: o.addresses ?? [ip] };
  if (o.node !== undefined) e.nodeName = o.node;
  const conditions: ApiEndpoint['conditions'] = {};
  if (o.ready !== undefined) conditions.ready = o.ready;
  if (o.serving !== undefined) conditions.serving = o.serving;
  if (o.terminating !== undefined) conditions.terminating = o.terminating;
  e.conditions = conditions;
  if (o.zones || o.nodes) {
    e.hints = {};
    if (o.zones) e.hints.forZones = o.zones.map((name) => ({ name }));
    if (o.nodes) e.hints.forNodes = o.nodes.map((name) => ({ name }));
  }
  return e;
}

export interface SliceOptions {
  ns?: string;
  name?: string;
  addressType?: string;
  ports?: { name?: string; protocol?: string; port?: number }[];
  labels?: Record<string, string>;
}

/** An EndpointSlice of `service` (IPv4, port "http"/TCP/8080 unless told otherwise). */
export function slice(service: string, endpoints: ApiEndpoint[], o: SliceOptions = {}): ApiEndpointSlice {
  return {
    metadata: { namespace: o.ns ?? 'default', name: o.name ?? `${service}-abc`, labels: o.labels ?? { 'kubernetes.io/service-name': service } },
    addressType: o.addressType ?? 'IPv4',
    ports: o.ports ?? [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints,
  };
}

export const NODE_NAME = 'node-1';

export function nodeCtx(o: Partial<NodeContext> = {}): NodeContext {
  return { nodeName: NODE_NAME, nodeAddresses: ['192.168.1.10', '127.0.0.1'], ...o };
}

export function config(o: Partial<ProxyConfig> = {}): ProxyConfig {
  return { ...defaultProxyConfig(), ...o };
}

export function compute(services: ApiService[], slices: ApiEndpointSlice[] = [], o: { node?: Partial<NodeContext>; config?: Partial<ProxyConfig> } = {}): NodeState {
  return computeDesiredState({ services, endpointSlices: slices, node: nodeCtx(o.node), config: config(o.config) });
}

/** The virtual server with this key ("TCP/10.96.0.10:80"), or undefined. */
export function vs(state: NodeState, key: string): VirtualServer | undefined {
  return state.ipvs.find((v) => `${v.protocol}/${v.address.includes(':') ? `[${v.address}]` : v.address}:${v.port}` === key);
}

export function vsKeys(state: NodeState): string[] {
  return state.ipvs.map((v) => `${v.protocol}/${v.address.includes(':') ? `[${v.address}]` : v.address}:${v.port}`);
}

/** "ip:port" of a virtual server's real servers, in order. */
export function rs(state: NodeState, key: string): string[] | undefined {
  return vs(state, key)?.realServers.map((r) => (r.address.includes(':') ? `[${r.address}]:${r.port}` : `${r.address}:${r.port}`));
}

export function entries(state: NodeState, set: string): string[] {
  const s = state.ipsets[set];
  if (!s) throw new Error(`no set ${set}`);
  return s.entries;
}

export function lines(text: string): string[] {
  return text.split('\n').filter((l) => l !== '');
}

/** Diagnostics as "object: message" lines. */
export function diags(state: NodeState): string[] {
  return state.diagnostics.map((d) => `${d.object}: ${d.message}`);
}

/** Deterministic PRNG (mulberry32) for property tests. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function shuffle<T>(list: readonly T[], rand: () => number): T[] {
  const a = [...list];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}
