import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../../src/model/api.js';
import { ChangeTracker, NodeTracker, nodeEligible, type NodeChange } from '../../src/state/index.js';

function node(o: { name?: string; labels?: Record<string, string>; taints?: { key: string }[]; deleting?: boolean; rv?: string; podCIDRs?: string[]; ip?: string; heartbeat?: string } = {}): ApiNode {
  return {
    metadata: {
      name: o.name ?? 'node-1',
      resourceVersion: o.rv ?? '1',
      labels: o.labels ?? { 'topology.kubernetes.io/zone': 'a' },
      deletionTimestamp: o.deleting ? '2025-01-01T00:00:00Z' : undefined,
    },
    spec: { taints: o.taints, podCIDRs: o.podCIDRs ?? ['10.244.1.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: o.ip ?? '192.168.1.10' }], ...({ conditions: [{ type: 'Ready', lastHeartbeatTime: o.heartbeat ?? 't1' }] } as object) },
  };
}

test('nodeEligible: exists, no deletionTimestamp, no ToBeDeletedByClusterAutoscaler taint', () => {
  const table: [string, ApiNode | undefined, boolean][] = [
    ['plain node', node(), true],
    ['no node', undefined, false],
    ['being deleted', node({ deleting: true }), false],
    ['autoscaler taint', node({ taints: [{ key: 'ToBeDeletedByClusterAutoscaler' }] }), false],
    ['other taint', node({ taints: [{ key: 'node.kubernetes.io/unschedulable' }] }), true],
  ];
  for (const [name, n, want] of table) assert.equal(nodeEligible(n), want, name);
});

type Flags = Omit<NodeChange, 'exists'>;
const none: Flags = { existence: false, labels: false, podCIDRs: false, addresses: false, eligibility: false, resync: false };

test('node tracker: which changes need a full sync and which change eligibility', () => {
  const table: [string, ApiNode, Partial<Flags>][] = [
    ['heartbeat / resourceVersion only', node({ rv: '2', heartbeat: 't2' }), {}],
    ['label change (topology)', node({ labels: { 'topology.kubernetes.io/zone': 'b' } }), { labels: true, resync: true }],
    ['address change', node({ ip: '192.168.1.11' }), { addresses: true, resync: true }],
    ['podCIDRs change', node({ podCIDRs: ['10.244.9.0/24'] }), { podCIDRs: true, resync: true }],
    ['autoscaler taint', node({ taints: [{ key: 'ToBeDeletedByClusterAutoscaler' }] }), { eligibility: true }],
    ['deletion started', node({ deleting: true }), { eligibility: true }],
  ];
  for (const [name, next, want] of table) {
    const t = new NodeTracker('node-1');
    t.upsert(node());
    t.takeResync();
    const change = t.upsert(next)!;
    assert.deepEqual({ ...change, exists: undefined }, { ...none, ...want, exists: undefined }, name);
    assert.equal(t.takeResync(), want.resync ?? false, name);
  }
});

test('node tracker: appearance and deletion; other nodes ignored', () => {
  const t = new NodeTracker('node-1');
  assert.equal(t.eligible, false, 'no Node yet: not eligible');
  const add = t.upsert(node())!;
  assert.equal(add.existence && add.resync && add.eligibility && add.exists, true);
  assert.equal(t.eligible, true);
  assert.equal(t.upsert(node({ name: 'node-2', labels: {} })), undefined);
  assert.equal(t.remove(node({ name: 'node-2' })), undefined);
  assert.equal(t.node?.metadata?.name, 'node-1');
  t.takeResync();
  const del = t.remove(node())!;
  assert.deepEqual([del.exists, del.existence, del.eligibility, del.resync], [false, true, true, true]);
  assert.equal(t.eligible, false);
  assert.equal(t.takeResync(), true);
  t.requeueResync();
  assert.equal(t.resyncPending, true);
});

function svc(name: string, proto = 'TCP', port = 80): ApiService {
  return { metadata: { name, namespace: 'ns' }, spec: { clusterIP: '10.96.0.1', ports: [{ protocol: proto, port }] } };
}
function slice(name: string, service: string, ip: string, proto = 'TCP'): ApiEndpointSlice {
  return {
    metadata: { name, namespace: 'ns', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    ports: [{ protocol: proto, port: 53 }],
    endpoints: [{ addresses: [ip] }],
  };
}

test('change tracker: one batch with the union of changed Services, the UDP flag and the full flag', () => {
  const c = new ChangeTracker({ nodeName: 'node-1' });
  assert.equal(c.take().empty, true);
  c.services.upsert(svc('a'));
  c.endpointSlices.upsert(slice('b-1', 'b', '10.0.0.1'));
  c.endpointSlices.upsert(slice('a-1', 'a', '10.0.0.2'));
  assert.deepEqual(c.pending(), { services: 1, endpoints: 2, node: false });
  assert.equal(c.hasPending(), true);
  let batch = c.take();
  assert.deepEqual(batch.services, ['ns/a', 'ns/b']);
  assert.equal(batch.full, false);
  assert.equal(batch.conntrackCleanupRequired, false);
  assert.equal(batch.empty, false);
  assert.equal(c.hasPending(), false);

  c.services.upsert(svc('dns', 'UDP', 53));
  batch = c.take();
  assert.equal(batch.conntrackCleanupRequired, true, 'a UDP Service changed');
  c.endpointSlices.upsert(slice('dns-1', 'dns', '10.0.0.9', 'UDP'));
  batch = c.take();
  assert.equal(batch.conntrackCleanupRequired, true, 'UDP endpoints changed');

  c.node.upsert({ metadata: { name: 'node-1', labels: { a: 'b' } } });
  batch = c.take();
  assert.deepEqual([batch.full, batch.services, batch.empty], [true, [], false]);
});

test('change tracker: requeue() of a failed batch brings everything back, full flag included', () => {
  const c = new ChangeTracker({ nodeName: 'node-1' });
  c.node.upsert({ metadata: { name: 'node-1' } });
  c.services.upsert(svc('a'));
  c.endpointSlices.upsert(slice('a-1', 'a', '10.0.0.2'));
  const batch = c.take();
  c.requeue(batch);
  assert.deepEqual(c.pending(), { services: 1, endpoints: 1, node: true });
  const again = c.take();
  assert.deepEqual([again.full, again.services, again.endpoints.slices.length], [true, ['ns/a'], 1]);
});
