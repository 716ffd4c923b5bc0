// explainService: a table of every endpoint reason and service-level reason, schedulers, virtual server conflicts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import type { ProxyConfig } from '../../src/model/config.js';
import { explainService, type EndpointExplanation, type Explanation } from '../../src/desired/explain.js';
import type { NodeContext } from '../../src/desired/index.js';
import { config, ep, nodeCtx, slice, svc } from './helpers.js';

function explain(
  key: string,
  services: ApiService[],
  slices: ApiEndpointSlice[] = [],
  o: { node?: Partial<NodeContext>; config?: Partial<ProxyConfig> } = {},
): Explanation {
  return explainService({ services, endpointSlices: slices, node: nodeCtx(o.node), config: config(o.config) }, key);
}

/** "address:port reason" per endpoint row (port omitted for whole-endpoint rows). */
function reasons(x: Explanation): string[] {
  return x.endpoints.map((e) => `${e.port === null ? e.address : `${e.address}:${e.port}`} ${e.reason}`);
}

function row(x: Explanation, address: string, port?: number): EndpointExplanation {
  const r = x.endpoints.find((e) => e.address === address && (port === undefined || e.port === port));
  assert.ok(r, `row for ${address}`);
  return r;
}

const ZONE_NODE = { node: { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-b' } } } };

test('endpoint reasons: ready, not-ready, terminating with ready endpoints around, terminating-not-serving', () => {
  const x = explain('default/web', [svc('web')], [
    slice('web', [
      ep('10.244.1.1', { node: 'node-2' }),
      ep('10.244.1.2', { ready: false, serving: false, terminating: false }),
      ep('10.244.1.3', { ready: false, serving: true, terminating: true }),
      ep('10.244.1.4', { ready: false, serving: false, terminating: true }),
    ]),
  ]);
  assert.equal(x.status, 'proxied');
  assert.deepEqual(reasons(x), ['10.244.1.1:8080 ready', '10.244.1.2:8080 not-ready', '10.244.1.3:8080 terminating', '10.244.1.4:8080 terminating-not-serving']);
  assert.match(row(x, '10.244.1.3').message, /ready endpoints exist in the cluster, so the serving-terminating fallback does not apply/);
  assert.deepEqual(x.ports[0]!.selection.internal.realServers, ['10.244.1.1:8080']);
  assert.equal(x.ports[0]!.selection.cluster, 'ready');
  assert.equal(row(x, '10.244.1.1').external, undefined, 'a ClusterIP-only port has no external verdict');
});

test('endpoint reasons: no ready endpoint -> serving-terminating fallback applies', () => {
  const x = explain('default/web', [svc('web')], [
    slice('web', [ep('10.244.1.3', { ready: false, serving: true, terminating: true }), ep('10.244.1.4', { ready: false, serving: false, terminating: true })]),
  ]);
  assert.deepEqual(reasons(x), ['10.244.1.3:8080 serving-terminating', '10.244.1.4:8080 terminating-not-serving']);
  assert.equal(row(x, '10.244.1.3').included, true);
  assert.match(row(x, '10.244.1.3').message, /fallback applies/);
  assert.equal(x.ports[0]!.selection.cluster, 'serving-terminating');
});

test('endpoint reasons: internalTrafficPolicy Local keeps this node, other-node for the rest', () => {
  const x = explain('default/web', [svc('web', { internalTrafficPolicy: 'Local' })], [
    slice('web', [ep('10.244.1.1', { node: 'node-1' }), ep('10.244.2.1', { node: 'node-2' }), ep('10.244.3.1')]),
  ]);
  assert.deepEqual(reasons(x), ['10.244.1.1:8080 ready', '10.244.2.1:8080 other-node', '10.244.3.1:8080 other-node']);
  assert.match(row(x, '10.244.2.1').message, /internalTrafficPolicy Local: the endpoint is on node "node-2", not this node \("node-1"\)/);
  assert.match(row(x, '10.244.3.1').message, /has no nodeName/);
  assert.equal(x.ports[0]!.selection.internal.uses, 'local');
  assert.equal(x.ports[0]!.selection.internal.policy, 'Local');
});

test('endpoint reasons: internalTrafficPolicy Local on a ClusterIP-only Service without a local endpoint -> no real servers', () => {
  const x = explain('default/web', [svc('web', { internalTrafficPolicy: 'Local' })], [slice('web', [ep('10.244.2.1', { node: 'node-2' }), ep('10.244.1.9', { node: 'node-1', ready: false })])]);
  assert.deepEqual(reasons(x), ['10.244.2.1:8080 other-node', '10.244.1.9:8080 not-ready'], 'rows in slice order');
  assert.match(row(x, '10.244.2.1').message, /no usable endpoint, so the cluster IP has no real servers/);
  assert.equal(x.ports[0]!.selection.internal.uses, 'none');
  assert.equal(x.ports[0]!.selection.cluster, 'unused');
  assert.deepEqual(x.virtualServers[0]!.realServers, []);
});

test('endpoint reasons: externalTrafficPolicy Local: external other-node while internal uses every node; fallback to cluster without local endpoints', () => {
  const np = svc('web', { type: 'NodePort', externalTrafficPolicy: 'Local', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }] });
  const x = explain('default/web', [np], [slice('web', [ep('10.244.1.1', { node: 'node-1' }), ep('10.244.2.1', { node: 'node-2' })])]);
  const remote = row(x, '10.244.2.1');
  assert.equal(remote.internal?.reason, 'ready');
  assert.equal(remote.external?.reason, 'other-node');
  assert.match(remote.external!.message, /^externalTrafficPolicy Local: /);
  assert.equal(remote.included, true, 'still a real server of the cluster IP');
  assert.equal(remote.reason, 'ready');
  assert.deepEqual(
    x.ports[0]!.virtualServers.map((v) => [v.key, v.kind, v.traffic, v.programmed]),
    [
      ['TCP/10.96.0.10:80', 'clusterIP', 'internal', true],
      ['TCP/192.168.1.10:30080', 'nodePort', 'external', true],
    ],
  );

  const noLocal = explain('default/web', [np], [slice('web', [ep('10.244.2.1', { node: 'node-2' })])]);
  const r = row(noLocal, '10.244.2.1');
  assert.equal(r.external?.included, true);
  assert.match(r.external!.message, /kubernetes PR #97081/);
  assert.equal(noLocal.ports[0]!.selection.external?.uses, 'cluster-fallback');
  assert.deepEqual(noLocal.ports[0]!.selection.external?.realServers, ['10.244.2.1:8080']);
});

test('endpoint reasons: local pool prefers ready; a local terminating endpoint is left out while a local ready one exists', () => {
  const x = explain('default/web', [svc('web', { internalTrafficPolicy: 'Local' })], [
    slice('web', [ep('10.244.1.1', { node: 'node-1' }), ep('10.244.1.2', { node: 'node-1', ready: false, serving: true, terminating: true })]),
  ]);
  assert.deepEqual(reasons(x), ['10.244.1.1:8080 ready', '10.244.1.2:8080 terminating']);
  assert.match(row(x, '10.244.1.2').message, /ready endpoints exist on this node/);
});

test('endpoint reasons: topology zone and node hints', () => {
  const zonal = explain(
    'default/web',
    [svc('web')],
    [slice('web', [ep('10.244.1.1', { node: 'node-1', zones: ['zone-b'] }), ep('10.244.2.1', { node: 'node-2', zones: ['zone-a'] })])],
    { node: ZONE_NODE },
  );
  assert.deepEqual(reasons(zonal), ['10.244.1.1:8080 ready', '10.244.2.1:8080 topology-zone']);
  assert.match(row(zonal, '10.244.2.1').message, /zone hints and this one's are for \["zone-a"\], not this node's zone \("zone-b"\)/);
  assert.equal(zonal.ports[0]!.selection.topology, 'PreferSameZone');
  assert.equal(zonal.node.zone, 'zone-b');

  const sticky = explain(
    'default/web',
    [svc('web')],
    [slice('web', [ep('10.244.1.1', { node: 'node-1', nodes: ['node-1'] }), ep('10.244.2.1', { node: 'node-2', nodes: ['node-2'] })])],
    { node: ZONE_NODE },
  );
  assert.deepEqual(reasons(sticky), ['10.244.1.1:8080 ready', '10.244.2.1:8080 topology-node']);
  assert.equal(sticky.ports[0]!.selection.topology, 'PreferSameNode');
});

test('endpoint reasons before selection: other family, port mismatch, no ports, FQDN, slice label, invalid slice, invalid endpoint', () => {
  const slices = [
    slice('web', [ep('fd00::1')], { name: 'web-v6', addressType: 'IPv6' }),
    slice('web', [ep('10.244.1.1')], { name: 'web-ports', ports: [{ name: 'web', protocol: 'TCP', port: 8080 }, { name: 'http', protocol: 'UDP', port: 8081 }] }),
    slice('web', [ep('10.244.1.2')], { name: 'web-noports', ports: [] }),
    slice('web', [ep('db.example.com')], { name: 'web-fqdn', addressType: 'FQDN' }),
    slice('web', [ep('10.244.1.3')], { name: 'web-other', labels: { 'kubernetes.io/service-name': 'web', 'service.kubernetes.io/service-proxy-name': 'other' } }),
    slice('web', [ep('10.244.1.4')], { name: 'web-bad', addressType: 'IPv5' }),
    slice('web', [ep('10.244.1.5', { addresses: ['not-an-ip'] }), ep('10.244.1.6')], { name: 'web-x' }),
  ];
  const x = explain('default/web', [svc('web')], slices);
  const by = (s: string) => x.endpoints.filter((e) => e.slice === `default/${s}`).map((e) => `${e.reason}${e.port === null ? '' : `@${e.port}`}`);
  assert.deepEqual(by('web-v6'), ['other-ip-family']);
  assert.deepEqual(by('web-ports'), ['port-mismatch@8080', 'port-mismatch@8081']);
  assert.match(row(x, '10.244.1.1', 8081).message, /slice port "http"\/UDP matches no service port by name and protocol \(service ports: "http"\/TCP\)/);
  assert.deepEqual(by('web-noports'), ['no-ports']);
  assert.deepEqual(by('web-fqdn'), ['fqdn-slice']);
  assert.equal(row(x, 'db.example.com').address, 'db.example.com');
  assert.deepEqual(by('web-other'), ['slice-label']);
  assert.deepEqual(by('web-bad'), ['invalid-slice']);
  assert.match(row(x, '10.244.1.4').message, /addressType "IPv5"/);
  assert.deepEqual(by('web-x'), ['invalid-endpoint', 'ready@8080']);
  assert.match(row(x, 'not-an-ip').message, /endpoints\[0\]\.addresses\[0\] "not-an-ip" is not an IP address/);
  assert.deepEqual(x.virtualServers[0]!.realServers.map((r) => r.address), ['10.244.1.6']);
  assert.ok(x.diagnostics.some((d) => d.object === 'default/web-bad'), 'slice diagnostics are included');
});

test('endpoint reasons: duplicate across slices names the copy that is used', () => {
  const x = explain('default/web', [svc('web')], [
    slice('web', [ep('10.244.1.1', { ready: false, serving: true, terminating: true })], { name: 'web-a' }),
    slice('web', [ep('10.244.1.1', { node: 'node-2' })], { name: 'web-b' }),
  ]);
  assert.deepEqual(
    x.endpoints.map((e) => `${e.slice} ${e.reason}`),
    ['default/web-a duplicate', 'default/web-b ready'],
  );
  assert.match(x.endpoints[0]!.message, /10\.244\.1\.1:8080 appears more than once; the copy in default\/web-b endpoints\[0\] is used/);
});

test('dual-stack: rows per family, ports per family', () => {
  const ds = svc('web', { clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00::10'], ipFamilies: ['IPv4', 'IPv6'] });
  const x = explain('default/web', [ds], [slice('web', [ep('10.244.1.1')], { name: 'web-4' }), slice('web', [ep('fd00:244::1')], { name: 'web-6', addressType: 'IPv6' })]);
  assert.deepEqual(x.ports.map((p) => `${p.servicePort}/${p.family}`), ['default/web:http/4', 'default/web:http/6']);
  assert.deepEqual(reasons(x), ['10.244.1.1:8080 ready', 'fd00:244::1:8080 ready']);
  assert.deepEqual(x.spec?.clusterIPs, ['10.96.0.10', 'fd00::10']);
  assert.deepEqual(x.addresses, ['10.96.0.10', 'fd00::10']);
});

test('service-level reasons: skipped and invalid Services, with their slices explained', () => {
  const cases: [ApiService, string, RegExp][] = [
    [svc('web', { clusterIP: 'None' }), 'headless', /headless/],
    [svc('web', { clusterIP: '' }), 'headless', /headless/],
    [svc('web', { labels: { 'service.kubernetes.io/headless': '' } }), 'headless-label', /headless/],
    [svc('web', { labels: { 'service.kubernetes.io/service-proxy-name': 'cilium' } }), 'service-proxy-name', /"cilium": another proxy/],
    [svc('web', { type: 'ExternalName', externalName: 'db.example.com' }), 'external-name', /ExternalName/],
    [svc('web', { clusterIP: '10.96.0.300' }), 'invalid', /not an IP address/],
    [{ metadata: { namespace: 'default', name: 'web' }, spec: 'nope' } as unknown as ApiService, 'invalid', /spec is not an object/],
  ];
  for (const [service, code, message] of cases) {
    const x = explain('default/web', [service], [slice('web', [ep('10.244.1.1')])]);
    assert.equal(x.reason?.code, code, JSON.stringify(service));
    assert.match(x.reason!.message, message);
    assert.equal(x.status, code === 'invalid' ? 'invalid' : 'skipped');
    assert.deepEqual(x.virtualServers, []);
    assert.deepEqual(x.ipsetEntries, []);
    assert.deepEqual(reasons(x), ['10.244.1.1 service-not-proxied']);
  }
});

test('service-level reasons: not found, with the slices that name it', () => {
  const x = explain('default/gone', [svc('web')], [slice('gone', [ep('10.244.1.1')])]);
  assert.equal(x.status, 'not-found');
  assert.equal(x.reason?.code, 'not-found');
  assert.match(x.reason!.message, /1 EndpointSlice names it/);
  assert.equal(x.endpoints[0]!.local, false);
  assert.deepEqual(reasons(x), ['10.244.1.1 no-service']);
  assert.equal(explain('other/web', [svc('web')]).status, 'not-found', 'namespace counts');
  assert.equal(explain('nonsense', [svc('web')]).status, 'not-found');
});

test('scheduler: global, kube-ipvs annotation, kube-router annotation, bad annotation falls back with the reason', () => {
  assert.deepEqual(
    (({ scheduler, flags, source }) => ({ scheduler, flags, source }))(explain('default/web', [svc('web')], [], { config: { ipvs: { ...config().ipvs, scheduler: 'mh' } } }).scheduler!),
    { scheduler: 'mh', flags: ['flag-2'], source: 'global' },
  );
  const ann = explain('default/web', [svc('web', { annotations: { 'kube-ipvs.io/scheduler': 'sh', 'kube-ipvs.io/scheduler-flags': 'flag-1,flag-2' } })]).scheduler!;
  assert.equal(ann.source, 'annotation');
  assert.equal(ann.annotation, 'kube-ipvs.io/scheduler');
  assert.equal(ann.flagsAnnotation, 'kube-ipvs.io/scheduler-flags');
  assert.deepEqual(ann.flags, ['flag-1', 'flag-2']);
  assert.match(ann.message, /sh-fallback,sh-port/);
  const router = explain('default/web', [svc('web', { annotations: { 'kube-router.io/service.scheduler': 'mh' } })]).scheduler!;
  assert.equal(router.annotation, 'kube-router.io/service.scheduler');
  assert.deepEqual(router.flags, ['flag-2']);
  assert.match(router.message, /kube-proxy's default for mh/);
  const bad = explain('default/web', [svc('web', { annotations: { 'kube-ipvs.io/scheduler': 'fastest' } })]).scheduler!;
  assert.equal(bad.source, 'global');
  assert.equal(bad.scheduler, 'rr');
  assert.match(bad.message, /unknown IPVS scheduler/);
});

test('a virtual server wanted by two Services: the loser sees who holds it', () => {
  const a = svc('a', { clusterIP: '10.96.0.1', externalIPs: ['203.0.113.7'] });
  const b = svc('b', { clusterIP: '10.96.0.2', externalIPs: ['203.0.113.7'] });
  const x = explain('default/b', [a, b], [slice('b', [ep('10.244.1.1')])]);
  const ext = x.ports[0]!.virtualServers.find((v) => v.kind === 'externalIP')!;
  const r = row(x, '10.244.1.1');
  assert.equal(r.internal?.reason, 'ready');
  assert.equal(r.external?.reason, 'vs-conflict');
  assert.match(r.external!.message, /every external virtual server of this port is held by default\/a:http/);
  assert.equal(r.included, true, 'still a real server of its cluster IP');
  assert.deepEqual(ext, { key: 'TCP/203.0.113.7:80', kind: 'externalIP', traffic: 'external', programmed: false, heldBy: 'default/a:http' });
  assert.deepEqual(x.virtualServers.map((v) => v.address), ['10.96.0.2']);
  assert.ok(x.diagnostics.some((d) => /also wanted by default\/a:http/.test(d.message)));
});

test('node port without node addresses of the family: note, no virtual server; notes for proxy-mode ingress and no Node object', () => {
  const lb = svc('web', {
    type: 'LoadBalancer',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32000,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    ingress: [{ ip: '198.51.100.1', ipMode: 'Proxy' }, { hostname: 'lb.example.com' }],
  });
  const x = explain('default/web', [lb], [], { node: { nodeAddresses: [] } });
  assert.deepEqual(x.ports[0]!.virtualServers.map((v) => v.kind), ['clusterIP']);
  assert.match(x.ports[0]!.notes[0]!, /node port 30080: this node has no IPv4 address for node ports.*health check node port 32000/);
  assert.ok(x.notes.some((n) => /198\.51\.100\.1 has ipMode Proxy/.test(n)));
  assert.ok(x.notes.some((n) => /only a hostname \(lb\.example\.com\)/.test(n)));
  assert.ok(x.notes.some((n) => /no Node object named "node-1"/.test(n)));
  assert.equal(x.ipsetEntries.some((e) => e.set === 'KUBE-HEALTH-CHECK-NODE-PORT'), false, 'kube-proxy skips the health check port too');
});

test('iptables: rules matching the sets that hold the Service entries, and its OUT-FILTER rule', () => {
  const lb = svc('web', { type: 'LoadBalancer', loadBalancerSourceRanges: ['203.0.113.0/24'], ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }], ingress: [{ ip: '198.51.100.1' }] });
  const x = explain('default/web', [lb]);
  const rules = x.iptables.map((r) => r.rule);
  assert.ok(rules.some((r) => r.includes('--match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL')));
  assert.ok(rules.includes('-A KUBE-IPVS-OUT-FILTER -s 198.51.100.1 -m ipvs --vaddr 198.51.100.1 --vproto tcp --vport 80 -j DROP'));
  assert.ok(!rules.some((r) => r.includes('KUBE-EXTERNAL-IP ')), 'no rule of a set the Service has nothing in');
  assert.ok(x.iptables.every((r) => r.family === 'ipv4'));
  assert.deepEqual(
    x.ipsetEntries.filter((e) => e.set === 'KUBE-LOAD-BALANCER-SOURCE-CIDR'),
    [{ set: 'KUBE-LOAD-BALANCER-SOURCE-CIDR', entry: '198.51.100.1,tcp:80,203.0.113.0/24' }],
  );
});

test('endpoint warnings: a non-boolean condition is reported on its row', () => {
  const bad = slice('web', [{ addresses: ['10.244.1.1'], conditions: { ready: 'yes' as unknown as boolean } }, ep('10.244.1.2')]);
  const x = explain('default/web', [svc('web')], [bad]);
  assert.deepEqual(row(x, '10.244.1.1').warnings, ['endpoints[0].conditions.ready "yes" is not a boolean; treated as unset']);
  const second = slice('web', [ep('10.244.1.2'), { addresses: ['10.244.1.1'], conditions: { ready: 'yes' as unknown as boolean } }]);
  assert.deepEqual(row(explain('default/web', [svc('web')], [second]), '10.244.1.1').warnings, ['endpoints[1].conditions.ready "yes" is not a boolean; treated as unset']);
});
