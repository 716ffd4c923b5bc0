// Bad input never throws: each malformed object becomes a diagnostic {object, kind, message}, the bad part (or
// the whole object) is left out, and every other Service is still computed.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import type { NodeState } from '../../src/model/state.js';
import { compute, config, diags, ep, nodeCtx, rs, slice, svc, vsKeys } from './helpers.js';
import { computeDesiredState } from '../../src/desired/index.js';

const good = svc('good', { clusterIP: '10.96.0.1' });
const goodSlice = slice('good', [ep('10.244.0.1'), ep('10.244.0.2')]);

function assertGoodIntact(st: NodeState): void {
  assert.deepEqual(rs(st, 'TCP/10.96.0.1:80'), ['10.244.0.1:8080', '10.244.0.2:8080'], 'the good Service is intact');
  assert.ok(st.ipsets['KUBE-CLUSTER-IP']!.entries.includes('10.96.0.1,tcp:80'));
  assert.ok(st.addresses['kube-ipvs0'].includes('10.96.0.1'));
}

interface Case {
  name: string;
  services?: unknown[];
  slices?: unknown[];
  expect: RegExp;
  kind: string;
  /** Extra check on the state (what of the bad object survived). */
  check?: (st: NodeState) => void;
}

const cases: Case[] = [
  { name: 'Service that is not an object', services: [null], kind: 'Service', expect: /^<no namespace>\/<no name>: not an object: null$/ },
  { name: 'Service without metadata.name', services: [{ metadata: { namespace: 'x' }, spec: { clusterIP: '10.96.0.5', ports: [{ port: 80 }] } }], kind: 'Service', expect: /^x\/<no name>: metadata\.namespace and metadata\.name must be non-empty strings; Service ignored$/ },
  { name: 'Service without metadata', services: [{ spec: { clusterIP: '10.96.0.5' } }], kind: 'Service', expect: /Service ignored/ },
  {
    name: 'invalid cluster IP',
    services: [svc('bad', { clusterIP: '10.96.0.999' })],
    kind: 'Service',
    expect: /^default\/bad: spec\.clusterIPs\[0\] "10\.96\.0\.999" is not an IP address$/,
    check: (st) => assert.equal(st.ipvs.length, 1),
  },
  {
    name: 'port out of range (the other port is kept)',
    services: [svc('bad', { clusterIP: '10.96.0.5', ports: [{ name: 'a', port: 70000 }, { name: 'b', port: 81 }] })],
    kind: 'Service',
    expect: /^default\/bad: spec\.ports\[0\]\.port 70000 is not a port number \(1-65535\); port ignored$/,
    check: (st) => assert.ok(vsKeys(st).includes('TCP/10.96.0.5:81') && !vsKeys(st).some((k) => k.startsWith('TCP/10.96.0.5:7'))),
  },
  { name: 'unknown protocol', services: [svc('bad', { clusterIP: '10.96.0.5', ports: [{ name: 'a', protocol: 'ICMP', port: 80 }] })], kind: 'Service', expect: /spec\.ports\[0\]\.protocol "ICMP" is not TCP, UDP or SCTP; port ignored/ },
  {
    name: 'duplicate port name and protocol',
    services: [svc('bad', { clusterIP: '10.96.0.5', ports: [{ name: 'a', port: 80 }, { name: 'a', port: 81 }] })],
    kind: 'Service',
    expect: /spec\.ports\[1\] duplicates the port name "a" with protocol TCP; port ignored/,
    check: (st) => assert.ok(vsKeys(st).includes('TCP/10.96.0.5:80') && !vsKeys(st).includes('TCP/10.96.0.5:81')),
  },
  {
    name: 'bad sessionAffinity timeout (default used)',
    services: [svc('bad', { clusterIP: '10.96.0.5', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } })],
    kind: 'Service',
    expect: /timeoutSeconds 0 is not an integer in 1-86400; timeout 10800s used/,
    check: (st) => assert.deepEqual(st.ipvs.filter((v) => v.address === '10.96.0.5').map((v) => [v.flags, v.timeout]), [[1, 10800]]),
  },
  {
    name: 'sessionAffinity timeout of the wrong type',
    services: [svc('bad', { clusterIP: '10.96.0.5', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: '600' as unknown as number } } })],
    kind: 'Service',
    expect: /timeoutSeconds "600" is not an integer/,
  },
  {
    name: 'bad loadBalancerSourceRanges entry (the others are used)',
    services: [svc('bad', { clusterIP: '10.96.0.5', type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33', '10.1.0.0/16'], ports: [{ port: 80, nodePort: 30080 }], ingress: [{ ip: '203.0.113.5' }] })],
    kind: 'Service',
    expect: /spec\.loadBalancerSourceRanges\[0\] "10\.0\.0\.0\/33" is not a CIDR; ignored/,
    check: (st) => assert.deepEqual(st.ipsets['KUBE-LOAD-BALANCER-SOURCE-CIDR']!.entries, ['203.0.113.5,tcp:80,10.1.0.0/16']),
  },
  {
    name: 'bad external IP',
    services: [svc('bad', { clusterIP: '10.96.0.5', externalIPs: ['1.2.3', '198.51.100.5'] })],
    kind: 'Service',
    expect: /spec\.externalIPs\[0\] "1\.2\.3" is not an IP address; ignored/,
    check: (st) => assert.ok(vsKeys(st).includes('TCP/198.51.100.5:80')),
  },
  { name: 'spec.ports not a list', services: [svc('bad', { clusterIP: '10.96.0.5', ports: 'http' as unknown as [] })], kind: 'Service', expect: /spec\.ports "http" is not a list; Service ignored/ },
  { name: 'spec of the wrong type', services: [{ metadata: { namespace: 'default', name: 'bad' }, spec: 'ClusterIP' }], kind: 'Service', expect: /^default\/bad: spec is not an object \("ClusterIP"\); Service ignored$/ },
  {
    name: 'node port out of range (cluster IP kept)',
    services: [svc('bad', { clusterIP: '10.96.0.5', type: 'NodePort', ports: [{ port: 80, nodePort: 99999 }] })],
    kind: 'Service',
    expect: /spec\.ports\[0\]\.nodePort 99999 is not a port number \(1-65535\); node port ignored/,
    check: (st) => assert.deepEqual(vsKeys(st).filter((k) => k.includes('10.96.0.5') || k.includes(':99999')), ['TCP/10.96.0.5:80']),
  },
  { name: 'unknown Service type', services: [svc('bad', { clusterIP: '10.96.0.5', type: 'Magic' })], kind: 'Service', expect: /spec\.type "Magic" is not one of ClusterIP, NodePort, LoadBalancer, ExternalName; treated as ClusterIP/ },
  {
    name: 'ipFamilies that do not match clusterIPs',
    services: [svc('bad', { clusterIP: '10.96.0.5', clusterIPs: ['10.96.0.5'], ipFamilies: ['IPv6'] })],
    kind: 'Service',
    expect: /spec\.clusterIPs\[0\] 10\.96\.0\.5 is not an IPv6 address \(spec\.ipFamilies\[0\]\)/,
  },
  { name: 'LB ingress with an unknown ipMode', services: [svc('bad', { clusterIP: '10.96.0.5', type: 'LoadBalancer', ports: [{ port: 80, nodePort: 30080 }], ingress: [{ ip: '203.0.113.5', ipMode: 'Tunnel' }] })], kind: 'Service', expect: /ingress\[0\]\.ipMode "Tunnel" is not VIP or Proxy; ingress ignored/ },
  { name: 'bad traffic policy', services: [svc('bad', { clusterIP: '10.96.0.5', internalTrafficPolicy: 'Nearby' })], kind: 'Service', expect: /spec\.internalTrafficPolicy "Nearby" is not Cluster or Local; treated as Cluster/ },
  { name: 'LB with ETP Local and no health check node port', services: [svc('bad', { clusterIP: '10.96.0.5', type: 'LoadBalancer', externalTrafficPolicy: 'Local', ports: [{ port: 80, nodePort: 30080 }] })], kind: 'Service', expect: /has no spec\.healthCheckNodePort/ },
  { name: 'EndpointSlice without the service-name label', slices: [slice('good', [ep('10.244.0.9')], { name: 'orphan', labels: {} })], kind: 'EndpointSlice', expect: /^default\/orphan: no kubernetes\.io\/service-name label; EndpointSlice ignored$/ },
  { name: 'EndpointSlice with an unknown addressType', slices: [slice('good', [ep('10.244.0.9')], { name: 'weird', addressType: 'IPv5' })], kind: 'EndpointSlice', expect: /addressType "IPv5" is not IPv4, IPv6 or FQDN; EndpointSlice ignored/ },
  { name: 'EndpointSlice without metadata.namespace', slices: [{ metadata: { name: 'x', labels: { 'kubernetes.io/service-name': 'good' } }, addressType: 'IPv4', endpoints: [ep('10.244.0.9')] }], kind: 'EndpointSlice', expect: /^<no namespace>\/x: metadata\.namespace and metadata\.name must be non-empty strings/ },
  { name: 'endpoint with an invalid IP', slices: [slice('good', [ep('10.244.0.300')], { name: 'bad-ip' })], kind: 'EndpointSlice', expect: /^default\/bad-ip: endpoints\[0\]\.addresses\[0\] "10\.244\.0\.300" is not an IP address; ignored$/ },
  { name: 'endpoint of the wrong family', slices: [slice('good', [ep('fd00::9')], { name: 'bad-family' })], kind: 'EndpointSlice', expect: /endpoints\[0\]\.addresses\[0\] fd00::9 is not an IPv4 address; ignored/ },
  { name: 'endpoint without addresses', slices: [slice('good', [{ addresses: [] }], { name: 'no-addr' })], kind: 'EndpointSlice', expect: /endpoints\[0\] has no addresses; ignored/ },
  { name: 'slice port 0', slices: [slice('good', [ep('10.244.0.9')], { name: 'port0', ports: [{ name: 'http', protocol: 'TCP', port: 0 }] })], kind: 'EndpointSlice', expect: /ports\[0\]\.port 0 is not a port number \(1-65535\); ignored/ },
  { name: 'slice port with an unknown protocol', slices: [slice('good', [ep('10.244.0.9')], { name: 'proto', ports: [{ name: 'http', protocol: 'tcp', port: 8080 }] })], kind: 'EndpointSlice', expect: /ports\[0\]\.protocol "tcp" is not TCP, UDP or SCTP; ignored/ },
  {
    name: 'endpoint conditions of the wrong type (treated as unset)',
    slices: [slice('other', [{ addresses: ['10.244.0.9'], conditions: { ready: 'yes' as unknown as boolean } }], { name: 'cond' })],
    services: [svc('other', { clusterIP: '10.96.0.5' })],
    kind: 'EndpointSlice',
    expect: /endpoints\[0\]\.conditions\.ready "yes" is not a boolean; treated as unset/,
    check: (st) => assert.deepEqual(rs(st, 'TCP/10.96.0.5:80'), ['10.244.0.9:8080']),
  },
  { name: 'hints of the wrong type', slices: [slice('good', [{ addresses: ['10.244.0.1'], hints: { forZones: 'zone-a' } as never }], { name: 'hints' })], kind: 'EndpointSlice', expect: /endpoints\[0\]\.hints\.forZones "zone-a" is not a list; ignored/ },
];

for (const c of cases) {
  test(`malformed: ${c.name}`, () => {
    const services = [good, ...((c.services ?? []) as ApiService[])];
    const slices = [goodSlice, ...((c.slices ?? []) as ApiEndpointSlice[])];
    let st: NodeState | undefined;
    assert.doesNotThrow(() => {
      st = compute(services, slices);
    });
    const lines = diags(st!);
    assert.ok(lines.some((l) => c.expect.test(l)), `expected a diagnostic matching ${c.expect}, got ${JSON.stringify(lines)}`);
    assert.ok(st!.diagnostics.every((d) => d.kind === c.kind), `kind ${c.kind}: ${JSON.stringify(st!.diagnostics)}`);
    assertGoodIntact(st!);
    c.check?.(st!);
  });
}

test('malformed node context and config: diagnostics, defaults used, Services intact', () => {
  const st = computeDesiredState({
    services: [good],
    endpointSlices: [goodSlice],
    node: nodeCtx({ nodeAddresses: ['192.168.1.10', 'not-an-ip'], node: { metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '1.2.3.4.5' }] } } }),
    config: config({ clusterCIDRs: ['10.244.0.0/99'], masqueradeBit: 40, nodePortAddresses: ['primary', '10.0.0.0/8'], detectLocalMode: 'Magic' as never }),
  });
  assert.deepEqual(diags(st), [
    'Config/detectLocalMode: detectLocalMode "Magic" is not ClusterCIDR, NodeCIDR, BridgeInterface or InterfaceNamePrefix; no local traffic detection',
    'Config/masqueradeBit: masqueradeBit 40 is not an integer in 0-31; 14 used',
    'Config/nodePortAddresses: nodePortAddresses entry "primary" is not a CIDR ("primary" must be the only entry); ignored',
    'Node/node-1: node address "not-an-ip" is not an IP address; ignored',
    'Node/node-1: status.addresses InternalIP "1.2.3.4.5" is not an IP address; ignored',
  ]);
  assert.ok(st.iptables.ipv4.nat.includes('--or-mark 0x00004000'));
  assertGoodIntact(st);
});

test('the same object twice in the input: one copy used, whatever the order, with a diagnostic', () => {
  const a = svc('dup', { clusterIP: '10.96.0.7' });
  const b = svc('dup', { clusterIP: '10.96.0.8' });
  const one = compute([good, a, b], [goodSlice]);
  const two = compute([b, good, a], [goodSlice]);
  assert.deepEqual(one, two);
  assert.deepEqual(diags(one), ['default/dup: 2 Service objects named default/dup in the input; one is used']);
  assert.equal(one.ipvs.length, 2);
  assertGoodIntact(one);
});

test('input lists of the wrong type and wildly wrong objects never throw', () => {
  const junk: unknown[] = [undefined, 42, 'svc', [], { metadata: 'x' }, { metadata: { namespace: 1, name: {} } }, { metadata: { namespace: 'a', name: 'b' }, spec: { clusterIP: 7, ports: [null, 5] } }];
  const st = computeDesiredState({ services: junk as ApiService[], endpointSlices: junk as ApiEndpointSlice[], node: nodeCtx(), config: config() });
  assert.ok(st.diagnostics.length >= junk.length);
  const st2 = computeDesiredState({ services: 'nope' as never, endpointSlices: null as never, node: nodeCtx(), config: config() });
  assert.deepEqual(diags(st2), ['Service/<input>: the Service list is not a list: "nope"']);
  // Diagnostics are sorted and unique.
  const keys = st.diagnostics.map((d) => `${d.object}\u0000${d.kind}\u0000${d.message}`);
  assert.deepEqual(keys, [...new Set(keys)].sort());
});
