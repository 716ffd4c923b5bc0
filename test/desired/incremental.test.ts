// Property tests: the incremental builder equals a from-scratch computation after any sequence of changes; its
// delta turns the previous state into the new one; output is deterministic and independent of input order.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../../src/model/api.js';
import type { ProxyConfig } from '../../src/model/config.js';
import type { NodeState, VirtualServer } from '../../src/model/state.js';
import { computeDesiredState, DesiredStateBuilder, type DesiredDelta, type NodeContext } from '../../src/desired/index.js';
import { normalizedAddresses, normalizedEntries } from '../../src/model/canonical.js';
import { config, ep, rng, shuffle, slice, svc } from './helpers.js';

const NAMES = ['a', 'b', 'c', 'd', 'e', 'f'];
const NODES = ['node-1', 'node-2', 'node-3'];

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

function randomService(rand: () => number, name: string): ApiService {
  const i = NAMES.indexOf(name);
  const type = pick(rand, ['ClusterIP', 'ClusterIP', 'NodePort', 'LoadBalancer']);
  const dual = rand() < 0.3;
  const v6only = !dual && rand() < 0.15;
  const v4 = `10.96.0.${10 + i}`;
  const v6 = `fd00::${10 + i}`;
  const protocol = pick(rand, ['TCP', 'TCP', 'UDP', 'SCTP']);
  const ports = [{ name: 'http', protocol, port: pick(rand, [80, 443]), ...(type !== 'ClusterIP' ? { nodePort: 30000 + i } : {}) }];
  if (rand() < 0.3) ports.push({ name: 'extra', protocol: 'TCP', port: 9000, ...(type !== 'ClusterIP' ? { nodePort: 31000 + i } : {}) });
  const annotations: Record<string, string> = {};
  if (rand() < 0.2) annotations['kube-ipvs.io/scheduler'] = pick(rand, ['lc', 'mh', 'sh', 'bogus']);
  if (rand() < 0.1) annotations['kube-router.io/service.schedflags'] = pick(rand, ['flag-1', 'flag-9', '']);
  const s = svc(name, {
    type,
    clusterIP: v6only ? v6 : v4,
    ...(dual ? { clusterIPs: [v4, v6], ipFamilies: ['IPv4', 'IPv6'] } : v6only ? { ipFamilies: ['IPv6'] } : {}),
    ports,
    ...(rand() < 0.3 ? { externalTrafficPolicy: 'Local' } : {}),
    ...(rand() < 0.2 ? { internalTrafficPolicy: 'Local' } : {}),
    ...(rand() < 0.25 ? { externalIPs: [pick(rand, ['198.51.100.1', '198.51.100.2', '192.168.1.10', '2001:db8::1'])] } : {}),
    ...(rand() < 0.2 ? { sessionAffinity: 'ClientIP' } : {}),
    ...(type === 'LoadBalancer'
      ? {
          healthCheckNodePort: 32000 + i,
          ...(rand() < 0.5 ? { loadBalancerSourceRanges: [pick(rand, ['192.168.0.0/16', '10.0.0.0/8', '2001:db8::/32', 'bad'])] } : {}),
          ingress: [{ ip: pick(rand, ['203.0.113.1', '203.0.113.2', '2001:db8:ff::1']), ...(rand() < 0.2 ? { ipMode: 'Proxy' } : {}) }],
        }
      : {}),
    ...(Object.keys(annotations).length ? { annotations } : {}),
  });
  if (rand() < 0.05) s.spec!.ports = [{ port: 0 }]; // malformed
  return s;
}

function randomSlice(rand: () => number, service: string, n: number, v6: boolean): ApiEndpointSlice {
  const eps = [];
  const count = Math.floor(rand() * 4);
  for (let k = 0; k < count; k++) {
    const host = 1 + Math.floor(rand() * 5);
    eps.push(
      ep(v6 ? `fd00:244::${host}` : `10.244.0.${host}`, {
        node: pick(rand, NODES),
        ...(rand() < 0.3 ? { ready: false, serving: rand() < 0.5, terminating: rand() < 0.7 } : {}),
        ...(rand() < 0.2 ? { zones: [pick(rand, ['zone-a', 'zone-b'])] } : {}),
      }),
    );
  }
  return slice(service, eps, {
    name: `${service}-${v6 ? 'v6' : 'v4'}-${n}`,
    addressType: v6 ? 'IPv6' : 'IPv4',
    ports: rand() < 0.8 ? [{ name: 'http', protocol: pick(rand, ['TCP', 'UDP', 'SCTP']), port: 8080 }, { name: 'extra', protocol: 'TCP', port: 9090 }] : [{ name: 'other', protocol: 'TCP', port: 1 }],
  });
}

function randomNode(rand: () => number): ApiNode {
  return {
    metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': pick(rand, ['zone-a', 'zone-b']) } },
    spec: { podCIDRs: ['10.244.1.0/24'] },
    status: { addresses: [{ type: 'InternalIP', address: pick(rand, ['192.168.1.10', '10.1.1.1']) }] },
  };
}

function randomConfig(rand: () => number): ProxyConfig {
  return config({
    clusterCIDRs: rand() < 0.5 ? ['10.244.0.0/16'] : [],
    masqueradeAll: rand() < 0.2,
    detectLocalMode: pick(rand, ['', 'NodeCIDR'] as const),
    nodePortAddresses: pick(rand, [[], ['192.168.0.0/16'], ['primary']]),
    ipvs: { scheduler: pick(rand, ['rr', 'mh']), excludeCIDRs: [], strictARP: false, tcpTimeoutMs: 0, tcpFinTimeoutMs: 0, udpTimeoutMs: 0 },
  });
}

interface World {
  services: Map<string, ApiService>;
  slices: Map<string, ApiEndpointSlice>;
  node: NodeContext;
  config: ProxyConfig;
}

function scratch(w: World): NodeState {
  return computeDesiredState({ services: [...w.services.values()], endpointSlices: [...w.slices.values()], node: w.node, config: w.config });
}

const vsKey = (v: VirtualServer) => `${v.protocol}/${v.address}:${v.port}`;

/** Applies a delta to the previous state's virtual servers, sets and addresses. */
function applyDelta(prev: NodeState, d: DesiredDelta): { ipvs: string[]; sets: Record<string, string[]>; addresses: string[] } {
  const vsMap = new Map(prev.ipvs.map((v) => [vsKey(v), JSON.stringify(v)]));
  for (const v of d.virtualServers.removed) assert.ok(vsMap.delete(vsKey(v)), `removed ${vsKey(v)} was present`);
  for (const v of d.virtualServers.updated) {
    assert.ok(vsMap.has(vsKey(v)), `updated ${vsKey(v)} was present`);
    vsMap.set(vsKey(v), JSON.stringify(v));
  }
  for (const v of d.virtualServers.added) {
    assert.ok(!vsMap.has(vsKey(v)), `added ${vsKey(v)} was absent`);
    vsMap.set(vsKey(v), JSON.stringify(v));
  }
  const sets: Record<string, string[]> = {};
  for (const [name, s] of Object.entries(prev.ipsets)) {
    const entries = new Set(s.entries);
    for (const e of d.ipsets[name]?.removed ?? []) assert.ok(entries.delete(e));
    for (const e of d.ipsets[name]?.added ?? []) entries.add(e);
    sets[name] = [...entries].sort();
  }
  const addresses = new Set(prev.addresses['kube-ipvs0']);
  for (const a of d.addresses.removed) assert.ok(addresses.delete(a));
  for (const a of d.addresses.added) addresses.add(a);
  return { ipvs: [...vsMap.values()].sort(), sets, addresses: [...addresses].sort() };
}

for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
  test(`incremental builder == from scratch after random changes, and its delta is exact (seed ${seed})`, () => {
    const rand = rng(seed);
    const w: World = { services: new Map(), slices: new Map(), node: { nodeName: 'node-1', nodeAddresses: ['192.168.1.10', '10.0.0.5', '2001:db8::10', 'fe80::1', '127.0.0.1'] }, config: config() };
    const b = new DesiredStateBuilder(w.node, w.config);
    let prev = b.build();
    const first = b.takeDelta();
    assert.equal(first.full, true);
    for (let step = 0; step < 120; step++) {
      const r = rand();
      const name = pick(rand, NAMES);
      if (r < 0.3) {
        const s = randomService(rand, name);
        w.services.set(name, s);
        b.upsertService(s);
      } else if (r < 0.4) {
        w.services.delete(name);
        b.deleteService(`default/${name}`);
      } else if (r < 0.75) {
        const sl = randomSlice(rand, name, Math.floor(rand() * 2), rand() < 0.3);
        w.slices.set(sl.metadata!.name!, sl);
        b.upsertEndpointSlice(sl);
      } else if (r < 0.85 && w.slices.size > 0) {
        const key = pick(rand, [...w.slices.keys()].sort());
        const sl = w.slices.get(key)!;
        w.slices.delete(key);
        b.deleteEndpointSlice(sl);
      } else if (r < 0.9) {
        w.node = { ...w.node, node: randomNode(rand) };
        b.upsertNode(w.node.node!);
      } else if (r < 0.94) {
        w.node = { ...w.node, nodeAddresses: pick(rand, [['192.168.1.10'], ['192.168.1.10', '10.0.0.5', '2001:db8::10'], ['127.0.0.1'], ['198.51.100.1', '192.168.1.10']]) };
        b.setNodeAddresses(w.node.nodeAddresses);
      } else {
        w.config = randomConfig(rand);
        b.setConfig(w.config);
      }
      if (step % 3 !== 2) continue; // several changes between builds, too
      const got = b.build();
      const want = scratch(w);
      assert.deepEqual(got, want, `seed ${seed} step ${step}`);
      const delta = b.takeDelta();
      const applied = applyDelta(prev, delta);
      assert.deepEqual(applied.ipvs, got.ipvs.map((v) => JSON.stringify(v)).sort(), `delta ipvs, step ${step}`);
      for (const [name, s] of Object.entries(got.ipsets)) assert.deepEqual(applied.sets[name], [...s.entries].sort(), `delta set ${name}`);
      assert.deepEqual(applied.addresses, [...got.addresses['kube-ipvs0']].sort());
      // The canonical members the builder tells the planner (model/canonical.ts memo) are what parsing gives.
      for (const [name, s] of Object.entries(got.ipsets)) {
        assert.ok(Object.isFrozen(s.entries), `${name} handed out frozen`);
        assert.deepEqual([...normalizedEntries(s.type, 'desired', s.entries).values].sort(), [...normalizedEntries(s.type, 'desired', [...s.entries]).values].sort(), `told members of ${name}`);
      }
      const addrList = got.addresses['kube-ipvs0']!;
      assert.deepEqual([...normalizedAddresses(addrList).values].sort(), [...normalizedAddresses([...addrList]).values].sort(), 'told addresses');
      assert.equal(delta.iptables.ipv4, prev.iptables.ipv4.nat !== got.iptables.ipv4.nat || prev.iptables.ipv4.filter !== got.iptables.ipv4.filter);
      assert.equal(delta.iptables.ipv6, prev.iptables.ipv6.nat !== got.iptables.ipv6.nat || prev.iptables.ipv6.filter !== got.iptables.ipv6.filter);
      const sameState = JSON.stringify(prev) === JSON.stringify(got);
      assert.equal(delta.empty, sameState && delta.services.length === 0, `delta.empty step ${step}`);
      prev = got;
    }
  });
}

test('one EndpointSlice change: the delta names the Service and only its virtual servers, and nothing else changes', () => {
  const node: NodeContext = { nodeName: 'node-1', nodeAddresses: ['192.168.1.10'] };
  const b = new DesiredStateBuilder(node, config());
  b.upsertService(svc('web'));
  b.upsertService(svc('api', { clusterIP: '10.96.0.20', type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }] }));
  b.upsertEndpointSlice(slice('web', [ep('10.244.0.1')]));
  b.upsertEndpointSlice(slice('api', [ep('10.244.0.2')]));
  const before = b.build();
  b.takeDelta();
  b.upsertEndpointSlice(slice('api', [ep('10.244.0.2'), ep('10.244.0.3', { node: 'node-1' })]));
  const after = b.build();
  const d = b.takeDelta();
  assert.equal(d.full, false);
  assert.deepEqual(d.services, ['default/api']);
  assert.deepEqual(d.virtualServers.added, []);
  assert.deepEqual(d.virtualServers.removed, []);
  assert.deepEqual(d.virtualServers.updated.map(vsKey), ['TCP/10.96.0.20:80', 'TCP/192.168.1.10:30080']);
  assert.deepEqual(d.ipsets, { 'KUBE-LOOP-BACK': { added: ['10.244.0.3,tcp:8080,10.244.0.3'], removed: [] } });
  assert.deepEqual(d.iptables, { ipv4: true, ipv6: false }, 'the first LOOP-BACK entry adds the hairpin rule');
  assert.equal(after.ipsets['KUBE-CLUSTER-IP'], before.ipsets['KUBE-CLUSTER-IP'], 'unchanged sets are shared, not copied');
  // The same object again: nothing at all.
  b.upsertEndpointSlice(slice('api', [ep('10.244.0.2'), ep('10.244.0.3', { node: 'node-1' })]));
  b.build();
  const none = b.takeDelta();
  assert.equal(none.empty, true);
  assert.deepEqual(none.services, []);
  // Node label change that matters to nobody's contribution: no recompute, not full.
  b.upsertNode({ metadata: { name: 'node-1', labels: { foo: 'bar' } } });
  assert.equal(b.takeDelta().full, false);
  b.setNodeAddresses(['192.168.1.10', '10.0.0.5']);
  const full = b.takeDelta();
  assert.equal(full.full, true);
  assert.deepEqual(full.virtualServers.added.map(vsKey), ['TCP/10.0.0.5:30080']);
});

test('two ports wanting the same virtual server: the smaller service port name has it, deterministically, with a diagnostic', () => {
  const a = svc('a', { clusterIP: '10.96.0.1', externalIPs: ['198.51.100.1'] });
  const z = svc('z', { clusterIP: '10.96.0.2', externalIPs: ['198.51.100.1'] });
  const st = computeDesiredState({ services: [z, a], endpointSlices: [slice('a', [ep('10.244.0.1')]), slice('z', [ep('10.244.0.26')])], node: { nodeName: 'node-1', nodeAddresses: [] }, config: config() });
  const ext = st.ipvs.find((v) => v.address === '198.51.100.1')!;
  assert.equal(ext.service, 'default/a:http');
  assert.deepEqual(ext.realServers.map((r) => r.address), ['10.244.0.1']);
  assert.deepEqual(st.diagnostics.map((d) => `${d.object}: ${d.message}`), ['default/z: virtual server TCP/198.51.100.1:80 of service port default/z:http is also wanted by default/a:http, which has it; left out']);
  // Deleting the winner hands the virtual server to the other one.
  const b = new DesiredStateBuilder({ nodeName: 'node-1', nodeAddresses: [] }, config());
  for (const s of [a, z]) b.upsertService(s);
  b.upsertEndpointSlice(slice('z', [ep('10.244.0.26')]));
  b.build();
  b.deleteService('default/a');
  const after = b.build();
  assert.equal(after.ipvs.find((v) => v.address === '198.51.100.1')!.service, 'default/z:http');
  assert.deepEqual(after.diagnostics, []);
});

test('output is deterministic and independent of the order of the input objects', () => {
  const rand = rng(99);
  const services = NAMES.map((n) => randomService(rand, n));
  const slices = NAMES.flatMap((n) => [randomSlice(rand, n, 0, false), randomSlice(rand, n, 1, false), randomSlice(rand, n, 0, true)]);
  const node: NodeContext = { nodeName: 'node-1', nodeAddresses: ['192.168.1.10', '2001:db8::10'], node: randomNode(rand) };
  const base = computeDesiredState({ services, endpointSlices: slices, node, config: config() });
  const text = JSON.stringify(base);
  for (let i = 0; i < 10; i++) {
    const st = computeDesiredState({ services: shuffle(services, rand), endpointSlices: shuffle(slices, rand), node: { ...node, nodeAddresses: shuffle(node.nodeAddresses, rand) }, config: config() });
    assert.equal(JSON.stringify(st), text);
  }
  // Sorted lists.
  const sorted = <T>(list: T[], key: (x: T) => string) => list.map(key).every((k, i, a) => i === 0 || a[i - 1]! <= k);
  assert.ok(base.ipvs.length > 0);
  assert.ok(sorted(base.ipvs, (v) => `${v.address.includes(':') ? 6 : 4}`));
  for (const v of base.ipvs) assert.equal(new Set(v.realServers.map((r) => `${r.address}:${r.port}`)).size, v.realServers.length);
});

test('builder API: deleteNode forgets labels and node IP, serviceContribution shows one Service, deletes by object', () => {
  const zoneNode: ApiNode = { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } }, status: { addresses: [{ type: 'InternalIP', address: '10.1.1.1' }] } };
  const b = new DesiredStateBuilder({ nodeName: 'node-1', nodeAddresses: ['192.168.1.10'], node: zoneNode }, config());
  const s = svc('web', { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8'], ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }], ingress: [{ ip: '203.0.113.7' }] });
  const sl = slice('web', [ep('10.244.0.1', { zones: ['zone-a'] }), ep('10.244.0.2', { zones: ['zone-b'] })]);
  b.upsertService(s);
  b.upsertEndpointSlice(sl);
  let st = b.build();
  assert.deepEqual(st.ipvs.find((v) => v.address === '10.96.0.10')!.realServers.map((r) => r.address), ['10.244.0.1']);
  assert.deepEqual(st.ipsets['KUBE-LOAD-BALANCER-SOURCE-IP']!.entries, ['203.0.113.7,tcp:80,203.0.113.7'], 'node IP 10.1.1.1 is in 10.0.0.0/8');
  const c = b.serviceContribution('default/web')!;
  assert.deepEqual(c.claims.map((x) => `${x.vs.protocol}/${x.vs.address}:${x.vs.port}`), ['TCP/10.96.0.10:80', 'TCP/203.0.113.7:80', 'TCP/192.168.1.10:30080']);
  assert.deepEqual(c.addresses.map((a) => a.text), ['10.96.0.10', '203.0.113.7']);
  b.deleteNode();
  st = b.build();
  assert.deepEqual(st.ipvs.find((v) => v.address === '10.96.0.10')!.realServers.map((r) => r.address), ['10.244.0.1', '10.244.0.2'], 'no zone label: no topology');
  assert.deepEqual(st.ipsets['KUBE-LOAD-BALANCER-SOURCE-IP']!.entries, [], 'node IP back to 127.0.0.1');
  assert.deepEqual(computeDesiredState({ services: [s], endpointSlices: [sl], node: { nodeName: 'node-1', nodeAddresses: ['192.168.1.10'] }, config: config() }), st);
  b.deleteEndpointSlice(sl);
  b.deleteService(s);
  st = b.build();
  assert.deepEqual(st.ipvs, []);
  assert.equal(b.serviceContribution('default/web'), undefined);
  b.setDiagnostics('file', [{ object: 'x/y', kind: 'Service', message: 'from outside' }]);
  assert.deepEqual(b.build().diagnostics, [{ object: 'x/y', kind: 'Service', message: 'from outside' }]);
});
