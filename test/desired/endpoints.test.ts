// Endpoint selection: kube-proxy's CategorizeEndpoints (ready / serving-terminating fallback, traffic policies
// with the IPVS fallback, topology hints), slice merging and the hairpin set (reference §4.3).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, entries, ep, rs, slice, svc } from './helpers.js';

const CIP = 'TCP/10.96.0.10:80';
const NP = 'TCP/192.168.1.10:30080';
const nodePortSvc = (o: Parameters<typeof svc>[1] = {}) => svc('s', { type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }], ...o });

test('ready endpoints only; without ready ones anywhere, serving+terminating ones (cluster-wide)', () => {
  const mixed = compute([svc('s')], [slice('s', [ep('10.0.0.1'), ep('10.0.0.2', { ready: false }), ep('10.0.0.3', { ready: false, serving: true, terminating: true })])]);
  assert.deepEqual(rs(mixed, CIP), ['10.0.0.1:8080']);
  const noneReady = compute([svc('s')], [slice('s', [ep('10.0.0.2', { ready: false, serving: false, terminating: true }), ep('10.0.0.3', { ready: false, serving: true, terminating: true }), ep('10.0.0.4', { ready: false })])]);
  assert.deepEqual(rs(noneReady, CIP), ['10.0.0.3:8080'], 'terminating but not serving, and not-ready-not-terminating, are never used');
  const unset = compute([svc('s')], [slice('s', [ep('10.0.0.5', { ready: null, serving: null, terminating: null })])]);
  assert.deepEqual(rs(unset, CIP), ['10.0.0.5:8080'], 'unset conditions: ready');
});

test('internalTrafficPolicy Local: ClusterIP gets local endpoints; none local -> no real servers (ClusterIP-only Service)', () => {
  const eps = [ep('10.0.0.1', { node: 'node-1' }), ep('10.0.0.2', { node: 'node-2' })];
  const local = compute([svc('s', { internalTrafficPolicy: 'Local' })], [slice('s', eps)]);
  assert.deepEqual(rs(local, CIP), ['10.0.0.1:8080']);
  const none = compute([svc('s', { internalTrafficPolicy: 'Local' })], [slice('s', [ep('10.0.0.2', { node: 'node-2' })])]);
  assert.deepEqual(rs(none, CIP), []);
  // Externally accessible: cluster endpoints exist, so the ClusterIP falls back to them (IPVS, PR #97081).
  const np = compute([nodePortSvc({ internalTrafficPolicy: 'Local' })], [slice('s', [ep('10.0.0.2', { node: 'node-2' })])]);
  assert.deepEqual(rs(np, CIP), ['10.0.0.2:8080']);
  assert.deepEqual(rs(np, NP), ['10.0.0.2:8080']);
  // Local terminating endpoint preferred to remote ready ones for internal Local.
  const term = compute([svc('s', { internalTrafficPolicy: 'Local' })], [slice('s', [ep('10.0.0.1', { node: 'node-1', ready: false, serving: true, terminating: true }), ep('10.0.0.2', { node: 'node-2' })])]);
  assert.deepEqual(rs(term, CIP), ['10.0.0.1:8080']);
});

test('externalTrafficPolicy Local: external virtual servers get local endpoints, else all cluster endpoints; ClusterIP always all', () => {
  const eps = [ep('10.0.0.1', { node: 'node-1' }), ep('10.0.0.2', { node: 'node-2' }), ep('10.0.0.3', { node: 'node-1', ready: false })];
  const st = compute([nodePortSvc({ externalTrafficPolicy: 'Local' })], [slice('s', eps)]);
  assert.deepEqual(rs(st, NP), ['10.0.0.1:8080']);
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080', '10.0.0.2:8080']);
  const noLocal = compute([nodePortSvc({ externalTrafficPolicy: 'Local' })], [slice('s', [ep('10.0.0.2', { node: 'node-2' })])]);
  assert.deepEqual(rs(noLocal, NP), ['10.0.0.2:8080'], 'IPVS falls back to cluster endpoints so local pods keep access');
  // Local serving+terminating endpoints are used before falling back to remote ones.
  const localTerm = compute([nodePortSvc({ externalTrafficPolicy: 'Local' })], [slice('s', [ep('10.0.0.1', { node: 'node-1', ready: false, serving: true, terminating: true }), ep('10.0.0.2', { node: 'node-2' })])]);
  assert.deepEqual(rs(localTerm, NP), ['10.0.0.1:8080']);
  assert.deepEqual(rs(localTerm, CIP), ['10.0.0.2:8080']);
  // ETP Local on a ClusterIP Service without external IPs means nothing (not externally accessible).
  const cip = compute([svc('s', { externalTrafficPolicy: 'Local' })], [slice('s', eps)]);
  assert.deepEqual(rs(cip, CIP), ['10.0.0.1:8080', '10.0.0.2:8080']);
  assert.deepEqual(entries(cip, 'KUBE-EXTERNAL-IP-LOCAL'), []);
});

test('both policies Local', () => {
  const eps = [ep('10.0.0.1', { node: 'node-1' }), ep('10.0.0.2', { node: 'node-2' })];
  const st = compute([nodePortSvc({ externalTrafficPolicy: 'Local', internalTrafficPolicy: 'Local' })], [slice('s', eps)]);
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080']);
  assert.deepEqual(rs(st, NP), ['10.0.0.1:8080']);
});

test('zone hints: used only when every ready endpoint has one and one matches this node\'s zone label', () => {
  const node = { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } };
  const hinted = [ep('10.0.0.1', { zones: ['zone-a'] }), ep('10.0.0.2', { zones: ['zone-b'] }), ep('10.0.0.3', { zones: ['zone-a', 'zone-c'] })];
  const st = compute([svc('s', { trafficDistribution: 'PreferSameZone' })], [slice('s', hinted)], { node: { node } });
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080', '10.0.0.3:8080']);
  // One ready endpoint without hints: topology off.
  const partial = compute([svc('s')], [slice('s', [...hinted, ep('10.0.0.4')])], { node: { node } });
  assert.deepEqual(rs(partial, CIP), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080', '10.0.0.4:8080']);
  // A not-ready endpoint without hints does not matter.
  const notReady = compute([svc('s')], [slice('s', [...hinted, ep('10.0.0.4', { ready: false })])], { node: { node } });
  assert.deepEqual(rs(notReady, CIP), ['10.0.0.1:8080', '10.0.0.3:8080']);
  // No endpoint for this zone, or the node has no zone label: all endpoints.
  const other = compute([svc('s')], [slice('s', hinted)], { node: { node: { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-z' } } } } });
  assert.deepEqual(rs(other, CIP), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  const noLabel = compute([svc('s')], [slice('s', hinted)]);
  assert.deepEqual(rs(noLabel, CIP), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  // A Node object of another node is ignored (kube-proxy ignores events for other nodes).
  const wrongNode = compute([svc('s')], [slice('s', hinted)], { node: { node: { metadata: { name: 'node-9', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } } } });
  assert.deepEqual(rs(wrongNode, CIP), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  assert.equal(wrongNode.diagnostics.length, 1);
});

test('node hints (PreferSameNode) win over zone hints; trafficDistribution alone changes nothing', () => {
  const node = { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } };
  const eps = [
    ep('10.0.0.1', { node: 'node-1', nodes: ['node-1'], zones: ['zone-a'] }),
    ep('10.0.0.2', { node: 'node-2', nodes: ['node-2'], zones: ['zone-a'] }),
    ep('10.0.0.3', { node: 'node-3', nodes: ['node-3'], zones: ['zone-b'] }),
  ];
  const st = compute([svc('s', { trafficDistribution: 'PreferSameNode' })], [slice('s', eps)], { node: { node } });
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080']);
  // No endpoint hinted for this node: zone hints apply.
  const noNodeHint = compute([svc('s')], [slice('s', eps.slice(1))], { node: { node } });
  assert.deepEqual(rs(noNodeHint, CIP), ['10.0.0.2:8080']);
  const plain = compute([svc('s', { trafficDistribution: 'PreferSameZone' })], [slice('s', [ep('10.0.0.1', { node: 'node-9' }), ep('10.0.0.2')])], { node: { node } });
  assert.deepEqual(rs(plain, CIP), ['10.0.0.1:8080', '10.0.0.2:8080']);
});

test('topology filters ready endpoints only: no ready endpoint -> serving-terminating ones, hints ignored', () => {
  const node = { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } } };
  const st = compute([svc('s')], [slice('s', [ep('10.0.0.1', { ready: false, serving: true, terminating: true, zones: ['zone-b'] }), ep('10.0.0.2', { ready: false, serving: true, terminating: true, zones: ['zone-a'] })])], { node: { node } });
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080', '10.0.0.2:8080']);
});

test('slices: merged per port, one endpoint per ip:port (a ready copy wins over a terminating one), other family ignored, addresses[0] only', () => {
  const a = slice('s', [ep('10.0.0.1', { ready: false, serving: true, terminating: true }), ep('10.0.0.2')], { name: 's-a' });
  const b = slice('s', [ep('10.0.0.1'), ep('10.0.0.3', { addresses: ['10.0.0.3', '10.0.0.33'] })], { name: 's-b' });
  const v6 = slice('s', [ep('fd00::1')], { name: 's-c', addressType: 'IPv6' });
  const fqdn = slice('s', [ep('example.com')], { name: 's-d', addressType: 'FQDN' });
  const st = compute([svc('s')], [a, b, v6, fqdn]);
  assert.deepEqual(rs(st, CIP), ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080']);
  assert.deepEqual(st.diagnostics, []);
  // Same in the other slice order (slice names decide, not arrival order).
  const st2 = compute([svc('s')], [fqdn, v6, b, a]);
  assert.deepEqual(st2, st);
  // Two slices with different port numbers for the same port name: both endpoints sets.
  const p1 = slice('s', [ep('10.0.0.1')], { name: 'p1', ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] });
  const p2 = slice('s', [ep('10.0.0.1')], { name: 'p2', ports: [{ name: 'http', protocol: 'TCP', port: 9090 }] });
  assert.deepEqual(rs(compute([svc('s')], [p1, p2]), CIP), ['10.0.0.1:8080', '10.0.0.1:9090']);
});

test('hairpin set: every local endpoint of every port, whatever its readiness; IPv6 in KUBE-6-LOOP-BACK', () => {
  const s = svc('s', { ports: [{ name: 'http', protocol: 'TCP', port: 80 }, { name: 'q', protocol: 'UDP', port: 81 }] });
  const sl = slice('s', [ep('10.0.0.1', { node: 'node-1' }), ep('10.0.0.2', { node: 'node-1', ready: false, serving: false }), ep('10.0.0.3', { node: 'node-2' })], {
    ports: [
      { name: 'http', protocol: 'TCP', port: 8080 },
      { name: 'q', protocol: 'UDP', port: 8181 },
    ],
  });
  const st = compute([s], [sl]);
  assert.deepEqual(entries(st, 'KUBE-LOOP-BACK'), ['10.0.0.1,tcp:8080,10.0.0.1', '10.0.0.1,udp:8181,10.0.0.1', '10.0.0.2,tcp:8080,10.0.0.2', '10.0.0.2,udp:8181,10.0.0.2']);
  // Without a node name nothing is local.
  const anonymous = compute([s], [sl], { node: { nodeName: '' } });
  assert.deepEqual(entries(anonymous, 'KUBE-LOOP-BACK'), []);
});

test('endpoints of a port the Service does not have are not used, and slices of unknown Services do nothing', () => {
  const st = compute([svc('s')], [slice('s', [ep('10.0.0.1')], { ports: [{ name: 'other', protocol: 'TCP', port: 8080 }] }), slice('ghost', [ep('10.0.0.9', { node: 'node-1' })])]);
  assert.deepEqual(rs(st, CIP), []);
  assert.deepEqual(entries(st, 'KUBE-LOOP-BACK'), []);
  assert.equal(st.ipvs.length, 1);
});
