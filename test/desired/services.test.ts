// Service types, addresses, ports and protocols -> virtual servers, kube-ipvs0 addresses and ipset entries
// (reference §2 and §4.2).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, diags, entries, ep, rs, slice, svc, vs, vsKeys } from './helpers.js';

const webSlice = slice('web', [ep('10.244.2.7', { node: 'node-2' }), ep('10.244.1.5', { node: 'node-1' }), ep('10.244.10.1', { node: 'node-3' })]);

test('ClusterIP: one virtual server, rr, real servers sorted by address, cluster IP bound and in the sets', () => {
  const st = compute([svc('web')], [webSlice]);
  assert.deepEqual(st.ipvs, [
    {
      protocol: 'TCP',
      address: '10.96.0.10',
      port: 80,
      scheduler: 'rr',
      flags: 0,
      timeout: 0,
      realServers: [
        { address: '10.244.1.5', port: 8080, weight: 1 },
        { address: '10.244.2.7', port: 8080, weight: 1 },
        { address: '10.244.10.1', port: 8080, weight: 1 },
      ],
      service: 'default/web:http',
    },
  ]);
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.10']);
  assert.deepEqual(entries(st, 'KUBE-CLUSTER-IP'), ['10.96.0.10,tcp:80']);
  assert.deepEqual(entries(st, 'KUBE-IPVS-IPS'), ['10.96.0.10']);
  // Only the local endpoint is in the hairpin set.
  assert.deepEqual(entries(st, 'KUBE-LOOP-BACK'), ['10.244.1.5,tcp:8080,10.244.1.5']);
  assert.deepEqual(st.diagnostics, []);
});

test('every one of the 17 sets of both families is present, empty ones included, with type and family', () => {
  const st = compute([], []);
  assert.equal(Object.keys(st.ipsets).length, 34);
  assert.deepEqual(st.ipsets['KUBE-NODE-PORT-TCP'], { type: 'bitmap:port', family: 'inet', entries: [] });
  assert.deepEqual(st.ipsets['KUBE-6-NODE-PORT-TCP'], { type: 'bitmap:port', family: 'inet6', entries: [] });
  assert.deepEqual(st.ipsets['KUBE-6-LOAD-BALANCER-SOURCE-CID'], { type: 'hash:ip,port,net', family: 'inet6', entries: [] });
  assert.deepEqual(st.ipsets['KUBE-6-NODE-PORT-LOCAL-SCTP-HAS'], { type: 'hash:ip,port', family: 'inet6', entries: [] });
  assert.deepEqual(st.ipsets['KUBE-LOOP-BACK']!.type, 'hash:ip,port,ip');
  assert.deepEqual(st.ipsets['KUBE-IPVS-IPS']!.type, 'hash:ip');
  assert.deepEqual(st.ipvs, []);
  assert.deepEqual(st.addresses, { 'kube-ipvs0': [] });
});

test('an unnamed port is "ns/name" (kube-proxy ServicePortName); endpoints match by (name, protocol)', () => {
  const s = svc('dns', {
    ns: 'kube-system',
    ports: [
      { name: 'dns', protocol: 'UDP', port: 53 },
      { name: 'dns-tcp', protocol: 'TCP', port: 53 },
      { name: 'metrics', protocol: 'TCP', port: 9153 },
    ],
  });
  const sl = slice('dns', [ep('10.244.0.2'), ep('10.244.0.3')], {
    ns: 'kube-system',
    ports: [
      { name: 'dns-tcp', protocol: 'TCP', port: 53 },
      { name: 'dns', protocol: 'UDP', port: 5353 },
      { name: 'metrics', protocol: 'UDP', port: 9153 }, // protocol differs: no match
    ],
  });
  const st = compute([s], [sl]);
  // Sorted by family, address, protocol (TCP, UDP, SCTP), port.
  assert.deepEqual(vsKeys(st), ['TCP/10.96.0.10:53', 'TCP/10.96.0.10:9153', 'UDP/10.96.0.10:53']);
  assert.deepEqual(rs(st, 'UDP/10.96.0.10:53'), ['10.244.0.2:5353', '10.244.0.3:5353']);
  assert.deepEqual(rs(st, 'TCP/10.96.0.10:53'), ['10.244.0.2:53', '10.244.0.3:53']);
  assert.deepEqual(rs(st, 'TCP/10.96.0.10:9153'), []);
  assert.equal(vs(st, 'UDP/10.96.0.10:53')!.service, 'kube-system/dns:dns');
  assert.deepEqual(entries(st, 'KUBE-CLUSTER-IP'), ['10.96.0.10,tcp:53', '10.96.0.10,tcp:9153', '10.96.0.10,udp:53']);

  const unnamed = compute([svc('web', { ports: [{ port: 80 }] })], [slice('web', [ep('10.244.0.9')], { ports: [{ port: 8080 }] })]);
  assert.equal(unnamed.ipvs[0]!.service, 'default/web');
  assert.deepEqual(rs(unnamed, 'TCP/10.96.0.10:80'), ['10.244.0.9:8080']);
});

test('NodePort: one virtual server per node address of the family (no loopback, no IPv6 link-local), node IPs never bound', () => {
  const s = svc('np', { type: 'NodePort', ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }] });
  const st = compute([s], [slice('np', [ep('10.244.1.5')])], { node: { nodeAddresses: ['192.168.1.10', '10.0.0.5', '127.0.0.1', '169.254.3.3', 'fd00::10', 'fe80::1'] } });
  assert.deepEqual(vsKeys(st), ['TCP/10.0.0.5:30080', 'TCP/10.96.0.10:80', 'TCP/169.254.3.3:30080', 'TCP/192.168.1.10:30080']);
  assert.deepEqual(rs(st, 'TCP/192.168.1.10:30080'), ['10.244.1.5:8080']);
  assert.equal(vs(st, 'TCP/192.168.1.10:30080')!.service, 'default/np:http');
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.10']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-TCP'), ['30080']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-LOCAL-TCP'), []);
  assert.deepEqual(entries(st, 'KUBE-6-NODE-PORT-TCP'), [], 'a single-stack IPv4 Service has no IPv6 node ports');
});

test('NodePort UDP and SCTP: bitmap for UDP, one hash:ip,port entry per node IP for SCTP; ETP Local fills the LOCAL sets too', () => {
  const s = svc('np', {
    type: 'NodePort',
    externalTrafficPolicy: 'Local',
    ports: [
      { name: 'u', protocol: 'UDP', port: 53, nodePort: 30053 },
      { name: 's', protocol: 'SCTP', port: 3868, nodePort: 30868 },
    ],
  });
  const st = compute([s], [], { node: { nodeAddresses: ['192.168.1.10', '10.0.0.5'] } });
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-UDP'), ['30053']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-LOCAL-UDP'), ['30053']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-SCTP-HASH'), ['10.0.0.5,sctp:30868', '192.168.1.10,sctp:30868']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-LOCAL-SCTP-HASH'), ['10.0.0.5,sctp:30868', '192.168.1.10,sctp:30868']);
  assert.deepEqual(entries(st, 'KUBE-CLUSTER-IP'), ['10.96.0.10,udp:53', '10.96.0.10,sctp:3868']);
  assert.deepEqual(vsKeys(st), ['UDP/10.0.0.5:30053', 'SCTP/10.0.0.5:30868', 'UDP/10.96.0.10:53', 'SCTP/10.96.0.10:3868', 'UDP/192.168.1.10:30053', 'SCTP/192.168.1.10:30868']);
});

test('LoadBalancer: VIP virtual server bound to kube-ipvs0, LB set, node ports; ETP Local adds LOCAL sets and the health check port', () => {
  const s = svc('lb', {
    type: 'LoadBalancer',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32000,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    ingress: [{ ip: '203.0.113.7' }, { hostname: 'lb.example.com' }, { ip: '203.0.113.8', ipMode: 'Proxy' }, { ip: '203.0.113.9', ipMode: 'VIP' }],
  });
  const st = compute([s], [slice('lb', [ep('10.244.1.5', { node: 'node-1' }), ep('10.244.2.5', { node: 'node-2' })])]);
  assert.deepEqual(vsKeys(st), ['TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080', 'TCP/203.0.113.7:80', 'TCP/203.0.113.9:80']);
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.10', '203.0.113.7', '203.0.113.9']);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER'), ['203.0.113.7,tcp:80', '203.0.113.9,tcp:80']);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-LOCAL'), ['203.0.113.7,tcp:80', '203.0.113.9,tcp:80']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-LOCAL-TCP'), ['30080']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-TCP'), ['30080']);
  assert.deepEqual(entries(st, 'KUBE-HEALTH-CHECK-NODE-PORT'), ['32000']);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-FW'), []);
  // External traffic policy Local: external virtual servers get the local endpoint only, the cluster IP all.
  assert.deepEqual(rs(st, 'TCP/203.0.113.7:80'), ['10.244.1.5:8080']);
  assert.deepEqual(rs(st, 'TCP/192.168.1.10:30080'), ['10.244.1.5:8080']);
  assert.deepEqual(rs(st, 'TCP/10.96.0.10:80'), ['10.244.1.5:8080', '10.244.2.5:8080']);
  assert.deepEqual(entries(st, 'KUBE-IPVS-IPS'), ['10.96.0.10', '203.0.113.7', '203.0.113.9']);
});

test('an ExternalIP or LB VIP that is already a node address gets its virtual server but is not bound', () => {
  const s = svc('x', {
    type: 'LoadBalancer',
    externalIPs: ['192.168.1.10', '198.51.100.1'],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    ingress: [{ ip: '192.168.1.10' }],
  });
  const st = compute([s], []);
  assert.ok(vs(st, 'TCP/192.168.1.10:80'));
  assert.ok(vs(st, 'TCP/198.51.100.1:80'));
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.10', '198.51.100.1']);
  assert.deepEqual(entries(st, 'KUBE-EXTERNAL-IP'), ['192.168.1.10,tcp:80', '198.51.100.1,tcp:80']);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER'), ['192.168.1.10,tcp:80']);
});

test('ExternalIPs: EXTERNAL-IP set, or EXTERNAL-IP-LOCAL with ETP Local (ClusterIP with external IPs is externally accessible)', () => {
  const cluster = compute([svc('e', { externalIPs: ['198.51.100.1'] })], [slice('e', [ep('10.244.2.5', { node: 'node-2' })])]);
  assert.deepEqual(entries(cluster, 'KUBE-EXTERNAL-IP'), ['198.51.100.1,tcp:80']);
  assert.deepEqual(entries(cluster, 'KUBE-EXTERNAL-IP-LOCAL'), []);
  assert.deepEqual(rs(cluster, 'TCP/198.51.100.1:80'), ['10.244.2.5:8080']);
  assert.deepEqual(cluster.addresses['kube-ipvs0'], ['10.96.0.10', '198.51.100.1']);

  const local = compute([svc('e', { externalIPs: ['198.51.100.1'], externalTrafficPolicy: 'Local' })], [slice('e', [ep('10.244.2.5', { node: 'node-2' }), ep('10.244.1.5', { node: 'node-1' })])]);
  assert.deepEqual(entries(local, 'KUBE-EXTERNAL-IP'), []);
  assert.deepEqual(entries(local, 'KUBE-EXTERNAL-IP-LOCAL'), ['198.51.100.1,tcp:80']);
  assert.deepEqual(rs(local, 'TCP/198.51.100.1:80'), ['10.244.1.5:8080']);
  assert.deepEqual(rs(local, 'TCP/10.96.0.10:80'), ['10.244.1.5:8080', '10.244.2.5:8080']);
});

test('Services kube-proxy skips: ExternalName, headless (None and ""), service-proxy-name and headless labels; slices with those labels', () => {
  const skipped = [
    svc('a', { type: 'ExternalName', externalName: 'example.com', clusterIP: '10.96.0.1' }),
    svc('b', { clusterIP: 'None' }),
    svc('c', { clusterIP: '' }),
    svc('d', { labels: { 'service.kubernetes.io/service-proxy-name': 'other-proxy' } }),
    svc('e', { labels: { 'service.kubernetes.io/headless': '' } }),
  ];
  const st = compute(skipped, [slice('b', [ep('10.244.0.1')])]);
  assert.deepEqual(st.ipvs, []);
  assert.deepEqual(st.addresses['kube-ipvs0'], []);
  assert.deepEqual(st.diagnostics, [], 'skipping is not an error');

  const withProxyNameSlice = compute(
    [svc('web')],
    [slice('web', [ep('10.244.0.1')], { labels: { 'kubernetes.io/service-name': 'web', 'service.kubernetes.io/service-proxy-name': 'x' } })],
  );
  assert.deepEqual(rs(withProxyNameSlice, 'TCP/10.96.0.10:80'), []);
});

test('session affinity ClientIP: persistent flag, timeout from the config or the API default 10800', () => {
  const def = compute([svc('s', { sessionAffinity: 'ClientIP' })]);
  assert.equal(def.ipvs[0]!.flags, 1);
  assert.equal(def.ipvs[0]!.timeout, 10800);
  const custom = compute([svc('s', { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } }, externalIPs: ['198.51.100.1'] })]);
  assert.deepEqual(custom.ipvs.map((v) => [v.address, v.flags, v.timeout]), [['10.96.0.10', 1, 600], ['198.51.100.1', 1, 600]]);
  const none = compute([svc('s', { sessionAffinity: 'None', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } })]);
  assert.equal(none.ipvs[0]!.flags, 0);
  assert.equal(none.ipvs[0]!.timeout, 0);
});

test('global scheduler: the configured one on every virtual server; mh adds flag 0x10 (with affinity 0x11)', () => {
  const ipvs = (scheduler: string) => ({ scheduler, excludeCIDRs: [], strictARP: false, tcpTimeoutMs: 0, tcpFinTimeoutMs: 0, udpTimeoutMs: 0 });
  const wrr = compute([svc('s')], [], { config: { ipvs: ipvs('wrr') } });
  assert.deepEqual([wrr.ipvs[0]!.scheduler, wrr.ipvs[0]!.flags], ['wrr', 0]);
  const mh = compute([svc('s', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] }), svc('t', { clusterIP: '10.96.0.11', sessionAffinity: 'ClientIP' })], [], { config: { ipvs: ipvs('mh') } });
  assert.deepEqual(mh.ipvs.map((v) => [v.address, v.scheduler, v.flags]), [['10.96.0.10', 'mh', 0x10], ['10.96.0.11', 'mh', 0x11], ['192.168.1.10', 'mh', 0x10]]);
  const empty = compute([svc('s')], [], { config: { ipvs: ipvs('') } });
  assert.equal(empty.ipvs[0]!.scheduler, 'rr', 'an empty scheduler means rr');
});

test('dual-stack Service: one virtual server per family, endpoints per family, IPv6 sets and node ports on IPv6 node addresses', () => {
  const s = svc('ds', {
    type: 'NodePort',
    clusterIP: 'fd00:10:96::a',
    clusterIPs: ['fd00:10:96::a', '10.96.0.10'],
    ipFamilies: ['IPv6', 'IPv4'],
    ipFamilyPolicy: 'PreferDualStack',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
  });
  const v4 = slice('ds', [ep('10.244.1.5', { node: 'node-1' })], { name: 'ds-v4' });
  const v6 = slice('ds', [ep('fd00:244::5', { node: 'node-1' }), ep('FD00:0244:0000::6')], { name: 'ds-v6', addressType: 'IPv6' });
  const st = compute([s], [v4, v6], { node: { nodeAddresses: ['192.168.1.10', '2001:db8::10', 'fe80::1', '::1'] } });
  assert.deepEqual(vsKeys(st), ['TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080', 'TCP/[2001:db8::10]:30080', 'TCP/[fd00:10:96::a]:80']);
  assert.deepEqual(rs(st, 'TCP/[fd00:10:96::a]:80'), ['[fd00:244::5]:8080', '[fd00:244::6]:8080']);
  assert.deepEqual(rs(st, 'TCP/10.96.0.10:80'), ['10.244.1.5:8080']);
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.10', 'fd00:10:96::a']);
  assert.deepEqual(entries(st, 'KUBE-6-CLUSTER-IP'), ['fd00:10:96::a,tcp:80']);
  assert.deepEqual(entries(st, 'KUBE-6-IPVS-IPS'), ['fd00:10:96::a']);
  assert.deepEqual(entries(st, 'KUBE-6-NODE-PORT-TCP'), ['30080']);
  assert.deepEqual(entries(st, 'KUBE-6-LOOP-BACK'), ['fd00:244::5,tcp:8080,fd00:244::5']);
  assert.deepEqual(entries(st, 'KUBE-CLUSTER-IP'), ['10.96.0.10,tcp:80']);
  assert.equal(st.ipsets['KUBE-6-CLUSTER-IP']!.family, 'inet6');
});

test('IPv6 set names are truncated to 31 characters like kube-proxy (SOURCE-CID, LOCAL-SCTP-HAS)', () => {
  const s = svc('v6', {
    type: 'LoadBalancer',
    clusterIP: 'fd00::a',
    ipFamilies: ['IPv6'],
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32001,
    loadBalancerSourceRanges: ['2001:db8:1::/48'],
    ports: [{ name: 's', protocol: 'SCTP', port: 3868, nodePort: 30868 }],
    ingress: [{ ip: '2001:db8:ff::1' }],
  });
  const st = compute([s], [], { node: { nodeAddresses: ['2001:db8::10'] } });
  assert.deepEqual(entries(st, 'KUBE-6-LOAD-BALANCER-SOURCE-CID'), ['2001:db8:ff::1,sctp:3868,2001:db8:1::/48']);
  assert.deepEqual(entries(st, 'KUBE-6-NODE-PORT-LOCAL-SCTP-HAS'), ['2001:db8::10,sctp:30868']);
  assert.deepEqual(entries(st, 'KUBE-6-NODE-PORT-SCTP-HASH'), ['2001:db8::10,sctp:30868']);
  assert.deepEqual(entries(st, 'KUBE-6-HEALTH-CHECK-NODE-PORT'), ['32001']);
  assert.ok(st.iptables.ipv6.filter.includes('--match-set KUBE-6-LOAD-BALANCER-SOURCE-CID dst,dst,src -j RETURN'));
  assert.ok(st.iptables.ipv6.nat.includes('--match-set KUBE-6-NODE-PORT-LOCAL-SCTP-HAS dst,dst -j RETURN'));
});

test('no node address for node ports: kube-proxy skips the node ports and the health check port of that port', () => {
  const s = svc('lb', {
    type: 'LoadBalancer',
    externalTrafficPolicy: 'Local',
    healthCheckNodePort: 32000,
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    ingress: [{ ip: '203.0.113.7' }],
  });
  const st = compute([s], [], { node: { nodeAddresses: ['127.0.0.1'] } });
  assert.deepEqual(vsKeys(st), ['TCP/10.96.0.10:80', 'TCP/203.0.113.7:80']);
  assert.deepEqual(entries(st, 'KUBE-NODE-PORT-TCP'), []);
  assert.deepEqual(entries(st, 'KUBE-HEALTH-CHECK-NODE-PORT'), []);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER'), ['203.0.113.7,tcp:80']);
});

test('--nodeport-addresses: CIDRs select node addresses; "primary" = the Node object\'s primary IPs, else all addresses', () => {
  const s = svc('np', { type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] });
  const addrs = { nodeAddresses: ['192.168.1.10', '10.0.0.5', '127.0.0.1'] };
  const cidr = compute([s], [], { node: addrs, config: { nodePortAddresses: ['10.0.0.0/8'] } });
  assert.deepEqual(vsKeys(cidr), ['TCP/10.0.0.5:30080', 'TCP/10.96.0.10:80']);
  const loop = compute([s], [], { node: addrs, config: { nodePortAddresses: ['127.0.0.0/8'] } });
  assert.deepEqual(vsKeys(loop), ['TCP/10.96.0.10:80'], 'loopback never carries node ports');
  assert.deepEqual(entries(loop, 'KUBE-NODE-PORT-TCP'), []);
  const zero = compute([s], [], { node: addrs, config: { nodePortAddresses: ['0.0.0.0/0', '10.0.0.0/8'] } });
  assert.deepEqual(vsKeys(zero), ['TCP/10.0.0.5:30080', 'TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080']);
  const node = { metadata: { name: 'node-1' }, status: { addresses: [{ type: 'Hostname', address: 'node-1' }, { type: 'ExternalIP', address: '192.168.1.10' }, { type: 'InternalIP', address: '10.0.0.5' }] } };
  const primary = compute([s], [], { node: { ...addrs, node }, config: { nodePortAddresses: ['primary'] } });
  assert.deepEqual(vsKeys(primary), ['TCP/10.0.0.5:30080', 'TCP/10.96.0.10:80'], 'InternalIP comes before ExternalIP');
  const noNode = compute([s], [], { node: addrs, config: { nodePortAddresses: ['primary'] } });
  assert.deepEqual(vsKeys(noNode), ['TCP/10.0.0.5:30080', 'TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080'], 'no primary IP (loopback) = all addresses');
  const bind = compute([s], [], { node: { ...addrs, node }, config: { nodePortAddresses: ['primary'], bindAddress: '192.168.1.10' } });
  assert.deepEqual(vsKeys(bind), ['TCP/10.96.0.10:80', 'TCP/192.168.1.10:30080'], 'bindAddress overrides the primary IP');
});

test('external and LB virtual servers of one port share the real servers of the external policy', () => {
  const s = svc('m', {
    type: 'LoadBalancer',
    externalIPs: ['198.51.100.1'],
    ports: [{ name: 'http', protocol: 'TCP', port: 80, nodePort: 30080 }],
    ingress: [{ ip: '203.0.113.7' }],
  });
  const st = compute([s], [slice('m', [ep('10.244.3.3'), ep('10.244.4.4')])]);
  for (const key of ['TCP/10.96.0.10:80', 'TCP/198.51.100.1:80', 'TCP/203.0.113.7:80', 'TCP/192.168.1.10:30080']) {
    assert.deepEqual(rs(st, key), ['10.244.3.3:8080', '10.244.4.4:8080'], key);
  }
  assert.deepEqual(diags(st), []);
});
