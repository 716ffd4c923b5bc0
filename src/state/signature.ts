// "Did this object really change?" — the content of a Service / EndpointSlice that can change what
// kube-ipvs programs, as one comparable string (the trackers keep only its contentDigest()). resourceVersion,
// managedFields, timestamps and other
// bookkeeping are left out, so an update that only touches them (a status heartbeat, a label
// controller re-applying the same value) is no change, and an update back to the synced content
// cancels the pending change. What is left out is listed explicitly (rather than picking what is
// kept) so that a field desired/ starts reading later is compared without anyone remembering this file.

import * as crypto from 'node:crypto';
import type { ApiEndpointSlice, ApiService } from '../model/api.js';

/** Annotations that never affect the proxy but change on every `kubectl apply` / endpoint change. */
export const IGNORED_ANNOTATIONS: readonly string[] = [
  'kubectl.kubernetes.io/last-applied-configuration',
  'endpoints.kubernetes.io/last-change-trigger-time',
];

/** One-shot hashing (Node >= 20.12) is about 1.5x faster than a Hash object per call; engines allow 20.11. */
const oneShotHash = (crypto as { hash?: (algorithm: string, data: string, encoding: 'buffer') => Buffer }).hash;

/**
 * What the trackers keep of a signature: the first 128 bits of its SHA-256, as 24 base64 characters (~40 bytes
 * on the heap, where a signature string is hundreds of bytes: at 10,000 Services x 10 endpoints the trackers held
 * ~14 MB of them).
 * The trade-off: two different signatures with the same digest would make a real change look like none (it would
 * be missed until the object changes again). For unrelated contents the chance is 2^-128 per comparison, i.e. never
 * in practice; constructing such a pair on purpose takes ~2^64 SHA-256 work, and only someone who can already write
 * the objects could use it, to hide a change of their own object. Equal signatures always give equal digests, so
 * "changes that cancel out are dropped" is exact.
 */
export function contentDigest(signature: string): string {
  const digest = oneShotHash ? oneShotHash('sha256', signature, 'buffer') : crypto.createHash('sha256').update(signature).digest();
  return digest.toString('base64', 0, 16);
}

/** Deterministic JSON: object keys sorted, undefined dropped, array order kept. Never throws. */
export function stableStringify(value: unknown): string {
  const seen = new Set<object>();
  const walk = (v: unknown): string => {
    if (v === null || typeof v !== 'object') {
      if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'string') return JSON.stringify(v);
      if (typeof v === 'bigint') return JSON.stringify(String(v));
      return 'null'; // undefined, functions, symbols inside arrays
    }
    if (seen.has(v)) return '"[cycle]"';
    seen.add(v);
    let out: string;
    if (Array.isArray(v)) out = `[${v.map(walk).join(',')}]`;
    else {
      const rec = v as Record<string, unknown>;
      const keys = Object.keys(rec)
        .filter((k) => rec[k] !== undefined && typeof rec[k] !== 'function')
        .sort();
      out = `{${keys.map((k) => `${JSON.stringify(k)}:${walk(rec[k])}`).join(',')}}`;
    }
    seen.delete(v);
    return out;
  };
  return walk(value);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function annotationsThatMatter(a: unknown): unknown {
  if (!isRecord(a)) return a === undefined ? undefined : { invalid: a };
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(a)) if (!IGNORED_ANNOTATIONS.includes(k)) out[k] = v;
  return emptyToUndefined(out);
}

/** No labels and an empty label map are the same thing. */
function emptyToUndefined(v: unknown): unknown {
  return isRecord(v) && Object.keys(v).length === 0 ? undefined : v;
}

function without(obj: unknown, keys: readonly string[]): unknown {
  if (!isRecord(obj)) return obj;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (!keys.includes(k)) out[k] = v;
  return out;
}

/**
 * A Service's proxy-relevant content: labels, annotations (minus IGNORED_ANNOTATIONS), the spec
 * without the pod selector (the endpoint controller's business; endpoints arrive as slices) and
 * the load-balancer status. Malformed shapes are kept as they are: they compare, they do not throw.
 */
export function serviceSignature(svc: ApiService): string {
  const o = svc as Record<string, unknown>;
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const status = isRecord(o.status) ? o.status : undefined;
  return stableStringify({
    labels: emptyToUndefined(meta.labels),
    annotations: annotationsThatMatter(meta.annotations),
    spec: without(o.spec, ['selector', 'publishNotReadyAddresses']),
    loadBalancer: status?.loadBalancer,
  });
}

/** Endpoint fields the proxy never reads (pod reference, DNS hostname, the deprecated topology map). */
const IGNORED_ENDPOINT_FIELDS = ['targetRef', 'hostname', 'deprecatedTopology'];

/** An EndpointSlice's proxy-relevant content: labels, annotations that matter, address type, ports, endpoints. */
export function endpointSliceSignature(slice: ApiEndpointSlice): string {
  const o = slice as Record<string, unknown>;
  const meta = isRecord(o.metadata) ? o.metadata : {};
  const endpoints = Array.isArray(o.endpoints) ? o.endpoints.map((e) => without(e, IGNORED_ENDPOINT_FIELDS)) : o.endpoints;
  return stableStringify({
    labels: emptyToUndefined(meta.labels),
    annotations: annotationsThatMatter(meta.annotations),
    addressType: o.addressType,
    ports: o.ports,
    endpoints,
  });
}
