// What the informers keep of an API object. At 10,000 Services the informer cache is one of the biggest things in
// the process, and a real API server sends much that kube-ipvs never reads: managedFields (often more than the rest
// of the object), the last-applied annotation of `kubectl apply`, the pod reference of every endpoint, a Node's
// image list. compactObject() drops those and shares what repeats across thousands of objects (namespace, node and
// zone names, protocols, endpoint conditions, identical slice port lists), BEFORE the object is cached anywhere.
//
// Like state/signature.ts, it lists what is LEFT OUT (not what is kept): a field desired/ starts reading later
// arrives without anyone remembering this file. Everything left out is read by neither kube-proxy's IPVS mode nor
// kube-ipvs; the explicit lists below are the contract (test/k8s/compact.test.ts checks both directions).
// Kept on purpose: resourceVersion (client-node's ListWatch resumes its watch from it and compares it), name,
// namespace, generation, deletionTimestamp (Node eligibility), the last-change-trigger-time annotation (network
// programming latency metric); creationTimestamp and endpoint `hostname` are unread but small.
//
// Objects are rebuilt level by level only where something is dropped; levels with nothing to drop keep the parsed
// object. Shared parts (conditions, port lists) are frozen: informer objects are immutable anyway.
// Pure: no I/O; the only state is the Compactor's bounded tables.

import type { ResourceKind } from './informers.js';

/** metadata fields dropped from every object. */
export const DROPPED_METADATA: readonly string[] = ['managedFields', 'ownerReferences', 'selfLink', 'uid'];
/** Annotations dropped from every object (kubectl's copy of the whole object as applied). */
export const DROPPED_ANNOTATIONS: readonly string[] = ['kubectl.kubernetes.io/last-applied-configuration'];
/** Service spec fields dropped: the pod selector is the endpoint controller's business (endpoints arrive as slices). */
export const DROPPED_SERVICE_SPEC: readonly string[] = ['selector'];
/** Service status fields dropped (status.loadBalancer is what desired/ reads). */
export const DROPPED_SERVICE_STATUS: readonly string[] = ['conditions'];
/** EndpointSlice endpoint fields dropped: the pod reference and the deprecated topology map. */
export const DROPPED_ENDPOINT: readonly string[] = ['targetRef', 'deprecatedTopology'];
/** Node status fields dropped (status.addresses is what desired/ reads). */
export const DROPPED_NODE_STATUS: readonly string[] = [
  'images',
  'conditions',
  'nodeInfo',
  'capacity',
  'allocatable',
  'daemonEndpoints',
  'volumesInUse',
  'volumesAttached',
  'config',
  'runtimeHandlers',
  'features',
  'phase',
];

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isFlatRecord(v: unknown): v is Rec {
  return isRecord(v) && Object.values(v).every((x) => typeof x !== 'object' || x === null);
}

export interface CompactorLimits {
  /** Distinct shared strings (default 20,000: namespaces, node and zone names, port names). */
  strings: number;
  /** Distinct shared port lists (default 4,096; a cluster usually has a few hundred). */
  portLists: number;
}

/**
 * Tables of shared values, one per informer set. Entries are never removed (a value seen once is likely seen
 * again), so the tables are bounded: past the limit, new values are simply not shared.
 */
export class Compactor {
  private readonly strings = new Map<string, string>();
  private readonly conditions = new Map<string, Rec>();
  private readonly portLists = new Map<string, readonly unknown[]>();
  private readonly limits: CompactorLimits;

  constructor(limits: Partial<CompactorLimits> = {}) {
    this.limits = { strings: 20_000, portLists: 4_096, ...limits };
  }

  /** The one shared copy of a short, repeated string (namespace, node, zone, protocol, port name). */
  intern(v: unknown): unknown {
    if (typeof v !== 'string' || v.length > 253) return v;
    const known = this.strings.get(v);
    if (known !== undefined) return known;
    if (this.strings.size < this.limits.strings) this.strings.set(v, v);
    return v;
  }

  /** Endpoint conditions ({ready, serving, terminating} booleans): one frozen object per combination. */
  sharedConditions(c: unknown): unknown {
    if (!isRecord(c)) return c;
    let key = '';
    for (const k of Object.keys(c)) {
      const v = c[k];
      if ((k !== 'ready' && k !== 'serving' && k !== 'terminating') || (typeof v !== 'boolean' && v !== null)) return c;
      key += `${k}=${String(v)};`;
    }
    const known = this.conditions.get(key);
    if (known) return known;
    const frozen = Object.freeze({ ...c });
    this.conditions.set(key, frozen);
    return frozen;
  }

  /** A slice's port list: one frozen copy per distinct list (most slices of a cluster share a handful of lists). */
  sharedPorts(ports: unknown): unknown {
    // Only lists of flat records are shared: a shared copy must be immutable all the way down.
    if (!Array.isArray(ports) || ports.length > 16 || !ports.every(isFlatRecord)) return ports;
    let key: string;
    try {
      key = JSON.stringify(ports);
    } catch {
      return ports;
    }
    const known = this.portLists.get(key);
    if (known) return known;
    if (this.portLists.size >= this.limits.portLists) return ports;
    const frozen = Object.freeze(ports.map((p: Rec) => Object.freeze(this.internFields(p, ['name', 'protocol', 'appProtocol']))));
    this.portLists.set(key, frozen);
    return frozen;
  }

  /** Interns the named string fields of a record, in place (the record is a fresh, unshared parse result). */
  internFields(r: Rec, fields: readonly string[]): Rec {
    for (const f of fields) if (typeof r[f] === 'string') r[f] = this.intern(r[f]);
    return r;
  }

  /** Sizes of the tables (tests, debugging). */
  get sizes(): { strings: number; conditions: number; portLists: number } {
    return { strings: this.strings.size, conditions: this.conditions.size, portLists: this.portLists.size };
  }
}

/** A copy of `r` without `drop`, or `r` itself when it has none of them (no `delete`: it makes objects slow and big). */
function without(r: Rec, drop: readonly string[]): Rec {
  let found = false;
  for (const k of drop) if (k in r) found = true;
  if (!found) return r;
  const out: Rec = {};
  for (const k of Object.keys(r)) if (!drop.includes(k)) out[k] = r[k];
  return out;
}

function compactMetadata(meta: unknown, c: Compactor): unknown {
  if (!isRecord(meta)) return meta;
  let out = without(meta, DROPPED_METADATA);
  if (isRecord(out.annotations)) {
    const annotations = without(out.annotations, DROPPED_ANNOTATIONS);
    // An annotation map left empty is no map at all (an empty map and none mean the same everywhere).
    if (annotations !== out.annotations) out = Object.keys(annotations).length === 0 ? without(out, ['annotations']) : { ...out, annotations };
  }
  return c.internFields(out, ['namespace']);
}

function compactEndpoint(ep: unknown, c: Compactor): unknown {
  if (!isRecord(ep)) return ep;
  const out = c.internFields(without(ep, DROPPED_ENDPOINT), ['nodeName', 'zone']);
  if ('conditions' in out) out.conditions = c.sharedConditions(out.conditions);
  return out;
}

function compactServiceSpec(spec: unknown, c: Compactor): unknown {
  if (!isRecord(spec)) return spec;
  const out = c.internFields(without(spec, DROPPED_SERVICE_SPEC), [
    'type',
    'sessionAffinity',
    'ipFamilyPolicy',
    'externalTrafficPolicy',
    'internalTrafficPolicy',
    'trafficDistribution',
  ]);
  if (Array.isArray(out.ipFamilies)) out.ipFamilies = out.ipFamilies.map((f) => c.intern(f));
  if (Array.isArray(out.ports)) for (const p of out.ports) if (isRecord(p)) c.internFields(p, ['name', 'protocol', 'appProtocol']);
  return out;
}

/**
 * The informer's copy of one object of `kind`: what kube-ipvs reads, with shared parts shared. `o` must be a fresh
 * parse result (a list item or a watch event object): levels with nothing to drop are modified in place. Malformed
 * shapes are passed through as they are (desired/ reports them).
 */
export function compactObject<T>(kind: ResourceKind, o: T, c: Compactor): T {
  if (!isRecord(o)) return o;
  const out: Rec = o;
  if ('metadata' in out) out.metadata = compactMetadata(out.metadata, c);
  switch (kind) {
    case 'Service':
      if ('spec' in out) out.spec = compactServiceSpec(out.spec, c);
      if (isRecord(out.status)) out.status = without(out.status, DROPPED_SERVICE_STATUS);
      break;
    case 'EndpointSlice':
      if (typeof out.addressType === 'string') out.addressType = c.intern(out.addressType);
      if (Array.isArray(out.endpoints)) out.endpoints = out.endpoints.map((ep) => compactEndpoint(ep, c));
      if ('ports' in out) out.ports = c.sharedPorts(out.ports);
      break;
    case 'Node':
      if (isRecord(out.status)) out.status = without(out.status, DROPPED_NODE_STATUS);
      break;
  }
  return o;
}
