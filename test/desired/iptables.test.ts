// The iptables-restore text per family (reference §3.2): fixed chains and rules, conditional rules only for
// non-empty sets, masquerade modes (masquerade-all / each detect-local mode / none), mark, --random-fully,
// KUBE-IPVS-OUT-FILTER, and loadBalancerSourceRanges vs the node IP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, entries, ep, lines, slice, svc } from './helpers.js';

const EMPTY_NAT_V4 = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
COMMIT
`;

const EMPTY_FILTER_V6 = `*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-6-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-6-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-6-IPVS-IPS dst -j REJECT
COMMIT
`;

test('no Services: only the unconditional lines; IPv6 uses ::1/128 and the KUBE-6- set names', () => {
  const st = compute([], []);
  assert.equal(st.iptables.ipv4.nat, EMPTY_NAT_V4);
  assert.equal(st.iptables.ipv6.filter, EMPTY_FILTER_V6);
  assert.equal(st.iptables.ipv6.nat, EMPTY_NAT_V4.replace('-s 127.0.0.0/8', '-s ::1/128'));
  assert.equal(st.iptables.ipv4.filter, EMPTY_FILTER_V6.replaceAll('KUBE-6-', 'KUBE-'));
});

// Every conditional rule of the IPv4 payload (reference §3.2), with --cluster-cidr 10.244.0.0/16.
const FULL_NAT = `*nat
:KUBE-SERVICES - [0:0]
:KUBE-POSTROUTING - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-LOAD-BALANCER - [0:0]
:KUBE-MARK-MASQ - [0:0]
-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN
-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE
-A KUBE-SERVICES -m comment --comment "Kubernetes service lb portal" -m set --match-set KUBE-LOAD-BALANCER dst,dst -j KUBE-LOAD-BALANCER
-A KUBE-LOAD-BALANCER -m comment --comment "Kubernetes service load balancer ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-LOAD-BALANCER-LOCAL dst,dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN
-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ
-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-UDP dst -j RETURN
-A KUBE-NODE-PORT -p udp -m comment --comment "Kubernetes nodeport UDP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-UDP dst -j KUBE-MARK-MASQ
-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port with externalTrafficPolicy=local with type 'hash ip:port'" -m set --match-set KUBE-NODE-PORT-LOCAL-SCTP-HASH dst,dst -j RETURN
-A KUBE-NODE-PORT -p sctp -m comment --comment "Kubernetes nodeport SCTP port for masquerade purpose with type 'hash ip:port'" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port for masquerade and filter purpose" -m set --match-set KUBE-EXTERNAL-IP dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m comment --comment "Kubernetes service external ip + port with externalTrafficPolicy=local" -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -m addrtype --dst-type LOCAL -j ACCEPT
-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT
-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ
-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT
-A KUBE-SERVICES -m set --match-set KUBE-LOAD-BALANCER dst,dst -j ACCEPT
-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN
-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000
-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully
-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000
COMMIT
`;

const FULL_FILTER = `*filter
:KUBE-FORWARD - [0:0]
:KUBE-NODE-PORT - [0:0]
:KUBE-PROXY-FIREWALL - [0:0]
:KUBE-SOURCE-RANGES-FIREWALL - [0:0]
:KUBE-IPVS-FILTER - [0:0]
:KUBE-IPVS-OUT-FILTER - [0:0]
-A KUBE-PROXY-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port for load balancer with sourceRange" -m set --match-set KUBE-LOAD-BALANCER-FW dst,dst -j KUBE-SOURCE-RANGES-FIREWALL
-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source cidr for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-CIDR dst,dst,src -j RETURN
-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment "Kubernetes service load balancer ip + port + source IP for packet filter purpose" -m set --match-set KUBE-LOAD-BALANCER-SOURCE-IP dst,dst,src -j RETURN
-A KUBE-SOURCE-RANGES-FIREWALL -j DROP
-A KUBE-IPVS-OUT-FILTER -s 203.0.113.20 -m ipvs --vaddr 203.0.113.20 --vproto tcp --vport 443 -j DROP
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark 0x00004000/0x00004000 -j ACCEPT
-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT
-A KUBE-NODE-PORT -m comment --comment "Kubernetes health check node port" -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j ACCEPT
-A KUBE-IPVS-FILTER -m set --match-set KUBE-LOAD-BALANCER dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-EXTERNAL-IP-LOCAL dst,dst -j RETURN
-A KUBE-IPVS-FILTER -m set --match-set KUBE-HEALTH-CHECK-NODE-PORT dst -j RETURN
-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT
COMMIT
`;

const node = { metadata: { name: 'node-1' }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] } };

function everything() {
  return [
    svc('lb', {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      loadBalancerSourceRanges: ['192.168.0.0/16', ' 10.0.0.0/8 '],
      ports: [
        { name: 't', protocol: 'TCP', port: 80, nodePort: 30080 },
        { name: 'u', protocol: 'UDP', port: 53, nodePort: 30053 },
        { name: 's', protocol: 'SCTP', port: 3868, nodePort: 30868 },
      ],
      ingress: [{ ip: '203.0.113.10' }],
    }),
    svc('closed', {
      clusterIP: '10.96.0.20',
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['198.51.100.0/24'],
      ports: [{ name: 'https', protocol: 'TCP', port: 443, nodePort: 30443 }],
      ingress: [{ ip: '203.0.113.20' }],
    }),
    svc('ext', { clusterIP: '10.96.0.30', externalIPs: ['198.51.100.30'] }),
    svc('extlocal', { clusterIP: '10.96.0.40', externalIPs: ['198.51.100.40'], externalTrafficPolicy: 'Local' }),
  ];
}

test('every conditional rule, in kube-proxy\'s order, when every set has entries (cluster CIDR detector)', () => {
  const st = compute(everything(), [slice('lb', [ep('10.244.1.5', { node: 'node-1' })], { ports: [{ name: 't', protocol: 'TCP', port: 8080 }] })], {
    node: { node },
    config: { clusterCIDRs: ['10.244.0.0/16'] },
  });
  assert.equal(st.iptables.ipv4.nat, FULL_NAT);
  assert.equal(st.iptables.ipv4.filter, FULL_FILTER);
  // The node IP 192.168.1.10 is inside 192.168.0.0/16: SOURCE-IP entry for the first VIP, none for the second.
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.10,tcp:80,203.0.113.10', '203.0.113.10,udp:53,203.0.113.10', '203.0.113.10,sctp:3868,203.0.113.10']);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), [
    '203.0.113.10,tcp:80,10.0.0.0/8',
    '203.0.113.10,tcp:80,192.168.0.0/16',
    '203.0.113.10,udp:53,10.0.0.0/8',
    '203.0.113.10,udp:53,192.168.0.0/16',
    '203.0.113.10,sctp:3868,10.0.0.0/8',
    '203.0.113.10,sctp:3868,192.168.0.0/16',
    '203.0.113.20,tcp:443,198.51.100.0/24',
  ]);
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-FW'), ['203.0.113.10,tcp:80', '203.0.113.10,udp:53', '203.0.113.10,sctp:3868', '203.0.113.20,tcp:443']);
  // The IPv6 payload has none of it.
  assert.equal(st.iptables.ipv6.filter, EMPTY_FILTER_V6);
});

test('masquerade of cluster IP traffic: masquerade-all, each detect-local mode, or src,dst without a detector', () => {
  const one = [svc('s', { clusterIP: '10.96.0.10' }), svc('v6', { clusterIP: 'fd00::10', ipFamilies: ['IPv6'] })];
  const rule = (cfg: Parameters<typeof compute>[2], fam: 'ipv4' | 'ipv6' = 'ipv4') =>
    lines(compute(one, [], cfg).iptables[fam].nat).find((l) => l.includes('--match-set KUBE-CLUSTER-IP ') || l.includes('--match-set KUBE-6-CLUSTER-IP '))!;
  const head = '-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set';
  assert.equal(rule({}), `${head} KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { masqueradeAll: true, clusterCIDRs: ['10.244.0.0/16'] } }), `${head} KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ`);
  // ClusterCIDR (also the "" default): the first CIDR of each family, in network form.
  assert.equal(rule({ config: { clusterCIDRs: ['10.0.0.1/14', '10.8.0.0/16', 'fd00:244::/56'] } }), `${head} KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/14 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { clusterCIDRs: ['10.0.0.0/14', 'fd00:244::/56'] } }, 'ipv6'), `${head} KUBE-6-CLUSTER-IP dst,dst ! -s fd00:244::/56 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { clusterCIDRs: ['10.0.0.0/14'] } }, 'ipv6'), `${head} KUBE-6-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`, 'no IPv6 cluster CIDR: no-op detector');
  assert.equal(rule({ config: { detectLocalMode: 'ClusterCIDR', clusterCIDRs: ['10.244.0.0/16'] } }), `${head} KUBE-CLUSTER-IP dst,dst ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ`);
  // NodeCIDR: the Node object's podCIDRs.
  const withPodCIDRs = { metadata: { name: 'node-1' }, spec: { podCIDR: '10.244.3.0/24', podCIDRs: ['10.244.3.0/24', 'fd00:244:3::/64'] } };
  assert.equal(rule({ node: { node: withPodCIDRs }, config: { detectLocalMode: 'NodeCIDR', clusterCIDRs: ['10.244.0.0/16'] } }), `${head} KUBE-CLUSTER-IP dst,dst ! -s 10.244.3.0/24 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ node: { node: withPodCIDRs }, config: { detectLocalMode: 'NodeCIDR' } }, 'ipv6'), `${head} KUBE-6-CLUSTER-IP dst,dst ! -s fd00:244:3::/64 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { detectLocalMode: 'NodeCIDR' } }), `${head} KUBE-CLUSTER-IP src,dst -j KUBE-MARK-MASQ`, 'no Node object yet');
  // BridgeInterface and InterfaceNamePrefix: same for both families.
  assert.equal(rule({ config: { detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cni0' } }), `${head} KUBE-CLUSTER-IP dst,dst ! -i cni0 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { detectLocalMode: 'BridgeInterface', podBridgeInterface: 'cni0' } }, 'ipv6'), `${head} KUBE-6-CLUSTER-IP dst,dst ! -i cni0 -j KUBE-MARK-MASQ`);
  assert.equal(rule({ config: { detectLocalMode: 'InterfaceNamePrefix', podInterfaceNamePrefix: 'veth' } }), `${head} KUBE-CLUSTER-IP dst,dst ! -i veth+ -j KUBE-MARK-MASQ`);
});

test('mark from masqueradeBit, --random-fully only when iptables has it', () => {
  const bit0 = compute([], [], { config: { masqueradeBit: 0 } });
  assert.ok(bit0.iptables.ipv4.nat.includes('-A KUBE-MARK-MASQ -j MARK --or-mark 0x00000001\n'));
  assert.ok(bit0.iptables.ipv4.filter.includes('-m mark --mark 0x00000001/0x00000001 -j ACCEPT'));
  const bit31 = compute([], [], { config: { masqueradeBit: 31 } });
  assert.ok(bit31.iptables.ipv6.nat.includes('-A KUBE-POSTROUTING -m mark ! --mark 0x80000000/0x80000000 -j RETURN\n'));
  const noRandom = compute([], [], { node: { iptablesRandomFully: false } });
  assert.ok(noRandom.iptables.ipv4.nat.includes('"kubernetes service traffic requiring SNAT" -j MASQUERADE\n'));
  assert.ok(!noRandom.iptables.ipv4.nat.includes('random-fully'));
});

test('loadBalancerSourceRanges vs the node IP: SOURCE-IP entry when a range contains it, else an OUT-FILTER DROP', () => {
  const lb = (ranges: string[]) =>
    svc('lb', { type: 'LoadBalancer', loadBalancerSourceRanges: ranges, ports: [{ name: 'h', protocol: 'TCP', port: 80, nodePort: 30080 }], ingress: [{ ip: '203.0.113.7' }] });
  const nodeWith = (ip: string) => ({ metadata: { name: 'node-1' }, status: { addresses: [{ type: 'ExternalIP', address: '203.0.113.99' }, { type: 'InternalIP', address: ip }] } });
  const drop = '-A KUBE-IPVS-OUT-FILTER -s 203.0.113.7 -m ipvs --vaddr 203.0.113.7 --vproto tcp --vport 80 -j DROP';

  const inside = compute([lb(['10.0.0.0/8'])], [], { node: { node: nodeWith('10.1.2.3') } });
  assert.deepEqual(entries(inside, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.7,tcp:80,203.0.113.7']);
  assert.ok(!inside.iptables.ipv4.filter.includes('KUBE-IPVS-OUT-FILTER -s'));

  const outside = compute([lb(['10.0.0.0/8'])], [], { node: { node: nodeWith('192.168.1.10') } });
  assert.deepEqual(entries(outside, 'KUBE-LOAD-BALANCER-SOURCE-IP'), []);
  assert.ok(lines(outside.iptables.ipv4.filter).includes(drop));

  // bindAddress overrides the Node object; without either the node IP is 127.0.0.1.
  const bound = compute([lb(['10.0.0.0/8'])], [], { node: { node: nodeWith('192.168.1.10') }, config: { bindAddress: '10.9.9.9' } });
  assert.deepEqual(entries(bound, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.7,tcp:80,203.0.113.7']);
  const loop = compute([lb(['127.0.0.0/8'])], []);
  assert.deepEqual(entries(loop, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.7,tcp:80,203.0.113.7']);

  // Only ranges of the VIP's family count; no usable range means no firewall at all.
  const otherFamily = compute([lb(['2001:db8::/32'])], [], { node: { node: nodeWith('192.168.1.10') } });
  assert.deepEqual(entries(otherFamily, 'KUBE-LOAD-BALANCER-FW'), []);
  assert.ok(!otherFamily.iptables.ipv4.filter.includes('KUBE-IPVS-OUT-FILTER -s'));

  // IPv6 VIP, node IPv6 address outside the range.
  const v6 = compute(
    [svc('v6', { clusterIP: 'fd00::10', ipFamilies: ['IPv6'], type: 'LoadBalancer', loadBalancerSourceRanges: ['2001:db8:1::/48'], ports: [{ name: 'h', protocol: 'UDP', port: 53, nodePort: 30053 }], ingress: [{ ip: '2001:db8:ff::7' }] })],
    [],
    { node: { node: nodeWith('2001:db8:2::10') } },
  );
  assert.ok(lines(v6.iptables.ipv6.filter).includes('-A KUBE-IPVS-OUT-FILTER -s 2001:db8:ff::7 -m ipvs --vaddr 2001:db8:ff::7 --vproto udp --vport 53 -j DROP'));
});

test('OUT-FILTER rules are sorted (kube-proxy writes them in map order) and shared VIPs appear once per port', () => {
  const mk = (name: string, ip: string, port: number, vip: string) =>
    svc(name, { clusterIP: ip, type: 'LoadBalancer', loadBalancerSourceRanges: ['198.51.100.0/24'], ports: [{ name: 'h', protocol: 'TCP', port, nodePort: 30000 + port }], ingress: [{ ip: vip }] });
  const st = compute([mk('b', '10.96.0.2', 443, '203.0.113.9'), mk('a', '10.96.0.1', 80, '203.0.113.10'), mk('c', '10.96.0.3', 80, '203.0.113.9')], []);
  const out = lines(st.iptables.ipv4.filter).filter((l) => l.startsWith('-A KUBE-IPVS-OUT-FILTER'));
  assert.deepEqual(out, [
    '-A KUBE-IPVS-OUT-FILTER -s 203.0.113.9 -m ipvs --vaddr 203.0.113.9 --vproto tcp --vport 80 -j DROP',
    '-A KUBE-IPVS-OUT-FILTER -s 203.0.113.9 -m ipvs --vaddr 203.0.113.9 --vproto tcp --vport 443 -j DROP',
    '-A KUBE-IPVS-OUT-FILTER -s 203.0.113.10 -m ipvs --vaddr 203.0.113.10 --vproto tcp --vport 80 -j DROP',
  ]);
  assert.deepEqual(st.addresses['kube-ipvs0'], ['10.96.0.1', '10.96.0.2', '10.96.0.3', '203.0.113.9', '203.0.113.10']);
});

test('an "allow everyone" source range (0.0.0.0/0, ::/0) becomes two /1 halves the kernel accepts in a hash:ip,port,net set', () => {
  const st = compute(
    [
      svc('open', {
        clusterIP: '10.96.0.50',
        type: 'LoadBalancer',
        loadBalancerSourceRanges: ['0.0.0.0/0', '::/0'],
        ports: [{ name: 'h', protocol: 'TCP', port: 80, nodePort: 30050 }],
        ingress: [{ ip: '203.0.113.50' }],
      }),
    ],
    [],
    { node: { node } },
  );
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-SOURCE-CIDR'), ['203.0.113.50,tcp:80,0.0.0.0/1', '203.0.113.50,tcp:80,128.0.0.0/1']);
  // The node IP lies inside the range, so node-originated traffic is allowed by address, not dropped by OUT-FILTER.
  assert.deepEqual(entries(st, 'KUBE-LOAD-BALANCER-SOURCE-IP'), ['203.0.113.50,tcp:80,203.0.113.50']);
  assert.ok(!st.iptables.ipv4.filter.includes('-A KUBE-IPVS-OUT-FILTER'));
});
