// compactObject(): what the informers keep of an API object. Dropped fields never reach the controller, kept ones
// are intact, repeated parts are shared, and the desired state of compacted objects equals that of the originals.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Compactor, compactObject, DROPPED_ENDPOINT, DROPPED_METADATA, DROPPED_NODE_STATUS } from '../../src/k8s/compact.js';
import { computeDesiredState, type NodeContext } from '../../src/desired/index.js';
import { defaultProxyConfig, type ProxyConfig } from '../../src/model/config.js';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../../src/model/api.js';

const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
const TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';
const SCHEDULER = 'kube-ipvs.io/scheduler';

const managedFields = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'v1', time: '2026-01-01T00:00:00Z', fieldsType: 'FieldsV1', fieldsV1: { 'f:spec': { 'f:ports': {} } } }];

/** Every field compaction drops, added to an object of `kind` (a copy: the input is not touched). */
function withClutter<T>(kind: 'Service' | 'EndpointSlice' | 'Node', o: T): T {
  const obj = structuredClone(o) as Record<string, any>;
  const meta = (obj.metadata ??= {});
  if (typeof meta === 'object' && meta !== null) {
    meta.managedFields = managedFields;
    meta.uid = '6f1c2a4e-1111-2222-3333-444455556666';
    meta.selfLink = `/x/${meta.name}`;
    meta.ownerReferences = [{ apiVersion: 'v1', kind: 'Service', name: 'x', uid: 'u', controller: true }];
    if (meta.annotations === undefined || (typeof meta.annotations === 'object' && meta.annotations !== null)) {
      meta.annotations = { ...(meta.annotations ?? {}), [LAST_APPLIED]: JSON.stringify({ huge: 'x'.repeat(500) }) };
    }
  }
  if (kind === 'Service' && typeof obj.spec === 'object' && obj.spec !== null) {
    obj.spec.selector = { app: 'web', tier: 'frontend' };
    obj.status = { ...(obj.status ?? {}), conditions: [{ type: 'Ready', status: 'True' }] };
  }
  if (kind === 'EndpointSlice' && Array.isArray(obj.endpoints)) {
    obj.endpoints = obj.endpoints.map((e: unknown, i: number) =>
      typeof e === 'object' && e !== null && !Array.isArray(e)
        ? { ...e, targetRef: { kind: 'Pod', namespace: 'ns', name: `pod-${i}`, uid: `uid-${i}` }, deprecatedTopology: { 'kubernetes.io/hostname': `h-${i}` } }
        : e,
    );
  }
  if (kind === 'Node') {
    obj.status = { ...(obj.status ?? {}), images: [{ names: ['registry/app:1'], sizeBytes: 123 }], conditions: [{ type: 'Ready', status: 'True' }], nodeInfo: { kubeletVersion: 'v1.34.0' }, capacity: { cpu: '4' } };
  }
  return obj as T;
}

function service(): ApiService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: 'web', namespace: 'default', resourceVersion: '42', generation: 3, creationTimestamp: '2026-01-01T00:00:00Z', labels: { app: 'web' }, annotations: { [SCHEDULER]: 'wrr' } },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10'], ipFamilies: ['IPv4'], ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 60 } } },
    status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } },
  };
}

function slice(name: string, ports = [{ name: 'http', protocol: 'TCP', port: 8080 }]): ApiEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', resourceVersion: '7', labels: { 'kubernetes.io/service-name': 'web' }, annotations: { [TRIGGER]: '2026-01-01T00:00:01Z' } },
    addressType: 'IPv4',
    ports,
    endpoints: [
      { addresses: ['10.244.1.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-a', zone: 'zone-a', hostname: 'web-0', hints: { forZones: [{ name: 'zone-a' }] } },
      { addresses: ['10.244.2.5'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-b', zone: 'zone-b' },
    ],
  };
}

function node(): ApiNode {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'node-a', resourceVersion: '9', labels: { 'topology.kubernetes.io/zone': 'zone-a' }, deletionTimestamp: '2026-01-02T00:00:00Z' },
    spec: { podCIDR: '10.244.1.0/24', podCIDRs: ['10.244.1.0/24'], taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] },
  };
}

describe('compactObject', () => {
  it('drops exactly the listed fields of a Service and keeps everything else as it was', () => {
    const compacted = compactObject('Service', withClutter('Service', service()), new Compactor());
    const expected = service();
    assert.deepEqual(compacted, expected);
    const meta = compacted.metadata as Record<string, unknown>;
    for (const f of DROPPED_METADATA) assert.equal(f in meta, false, `metadata.${f}`);
    assert.equal(LAST_APPLIED in (meta.annotations as object), false);
    assert.equal('selector' in (compacted.spec as object), false);
  });

  it('drops an annotation map that held only the last-applied configuration', () => {
    const svc = service();
    delete svc.metadata!.annotations;
    const compacted = compactObject('Service', withClutter('Service', svc), new Compactor());
    assert.equal('annotations' in (compacted.metadata as object), false);
    assert.deepEqual(compacted, svc);
  });

  it('drops pod references and the deprecated topology of endpoints; keeps hostname, zone, hints and the trigger time', () => {
    const compacted = compactObject('EndpointSlice', withClutter('EndpointSlice', slice('web-1')), new Compactor());
    assert.deepEqual(compacted, slice('web-1'));
    for (const ep of compacted.endpoints!) for (const f of DROPPED_ENDPOINT) assert.equal(f in ep, false, f);
    assert.equal(compacted.metadata!.annotations![TRIGGER], '2026-01-01T00:00:01Z');
    assert.equal(compacted.metadata!.resourceVersion, '7', 'ListWatch compares and resumes from it');
  });

  it("keeps of a Node what desired/ and the health check read, and drops the status' bulk", () => {
    const compacted = compactObject('Node', withClutter('Node', node()), new Compactor());
    assert.deepEqual(compacted, node());
    for (const f of DROPPED_NODE_STATUS) assert.equal(f in (compacted.status as object), false, f);
  });

  it('shares equal port lists and endpoint conditions between slices, frozen', () => {
    const c = new Compactor();
    const a = compactObject('EndpointSlice', slice('web-1'), c);
    const b = compactObject('EndpointSlice', slice('web-2'), c);
    const other = compactObject('EndpointSlice', slice('web-3', [{ name: 'http', protocol: 'TCP', port: 9090 }]), c);
    assert.equal(a.ports, b.ports);
    assert.notEqual(a.ports, other.ports);
    assert.deepEqual(other.ports, [{ name: 'http', protocol: 'TCP', port: 9090 }]);
    assert.ok(Object.isFrozen(a.ports) && Object.isFrozen(a.ports![0]));
    assert.equal(a.endpoints![0]!.conditions, b.endpoints![1]!.conditions);
    assert.ok(Object.isFrozen(a.endpoints![0]!.conditions));
    assert.deepEqual(c.sizes, { strings: c.sizes.strings, conditions: 1, portLists: 2 });
  });

  it('stops sharing at its limits without changing content', () => {
    const c = new Compactor({ portLists: 1, strings: 1 });
    compactObject('EndpointSlice', slice('web-1'), c);
    const b = compactObject('EndpointSlice', slice('web-2', [{ name: 'grpc', protocol: 'TCP', port: 9000 }]), c);
    assert.deepEqual(b.ports, [{ name: 'grpc', protocol: 'TCP', port: 9000 }]);
    assert.equal(Object.isFrozen(b.ports), false, 'not a shared copy');
    assert.deepEqual(c.sizes, { strings: 1, conditions: 1, portLists: 1 });
    assert.deepEqual(b, slice('web-2', [{ name: 'grpc', protocol: 'TCP', port: 9000 }]));
  });

  it('passes malformed shapes through untouched', () => {
    const c = new Compactor();
    const weird = [
      { metadata: 'not-an-object', spec: 7 },
      { metadata: { name: 'x', annotations: 'text' }, endpoints: 'none', ports: [{ port: { nested: true } }] },
      { metadata: { name: 'y' }, endpoints: [null, 5, { addresses: ['10.0.0.1'], conditions: { ready: 'yes' } }], ports: 'all' },
    ];
    for (const w of weird) {
      for (const kind of ['Service', 'EndpointSlice', 'Node'] as const) {
        assert.deepEqual(compactObject(kind, structuredClone(w), c), w);
      }
    }
    assert.equal(compactObject('Service', null, c), null);
    assert.equal(compactObject('EndpointSlice', 'text', c), 'text');
  });
});

// The contract behind the lists: kube-ipvs computes the same desired state from compacted objects as from the
// objects the API server sent, for every golden scenario (including its malformed objects).
describe('compactObject: the desired state does not change', () => {
  const dir = fileURLToPath(new URL('../../../test/desired/golden/', import.meta.url));
  interface Scenario {
    node: NodeContext;
    config?: Partial<ProxyConfig> & { ipvs?: Partial<ProxyConfig['ipvs']> };
    services?: ApiService[];
    endpointSlices?: ApiEndpointSlice[];
  }
  const configOf = (o: Scenario['config'] = {}): ProxyConfig => {
    const def = defaultProxyConfig();
    return { ...def, ...o, ipvs: { ...def.ipvs, ...(o.ipvs ?? {}) } };
  };
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

  it('has golden scenarios to check', () => assert.ok(files.length >= 5));

  for (const file of files) {
    it(file, () => {
      const s = parse(readFileSync(join(dir, file), 'utf8')) as Scenario;
      const c = new Compactor();
      const original = {
        services: (s.services ?? []).map((o) => withClutter('Service', o)),
        endpointSlices: (s.endpointSlices ?? []).map((o) => withClutter('EndpointSlice', o)),
        node: { ...s.node, ...(s.node.node ? { node: withClutter('Node', s.node.node) } : {}) },
      };
      const compacted = {
        services: original.services.map((o) => compactObject('Service', structuredClone(o), c)),
        endpointSlices: original.endpointSlices.map((o) => compactObject('EndpointSlice', structuredClone(o), c)),
        node: { ...original.node, ...(original.node.node ? { node: compactObject('Node', structuredClone(original.node.node), c) } : {}) },
      };
      const config = configOf(s.config);
      const expected = computeDesiredState({ ...original, config });
      assert.ok(expected.ipvs.length > 0 || expected.diagnostics.length > 0, 'the scenario programs something');
      assert.deepEqual(computeDesiredState({ ...compacted, config }), expected);
    });
  }
});
