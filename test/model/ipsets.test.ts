import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ipsetName, allKubeIpsetNames, KUBE_IPSETS } from '../../src/model/ipsets.js';
import { virtualServerKey, realServerKey } from '../../src/model/state.js';

test('IPv6 ipset names follow kube-proxy: KUBE-6- prefix, truncated to 31 characters', () => {
  assert.equal(ipsetName('KUBE-CLUSTER-IP', 4), 'KUBE-CLUSTER-IP');
  assert.equal(ipsetName('KUBE-CLUSTER-IP', 6), 'KUBE-6-CLUSTER-IP');
  // The two truncated names confirmed by real kube-proxy logs (reference §2).
  assert.equal(ipsetName('KUBE-LOAD-BALANCER-SOURCE-CIDR', 6), 'KUBE-6-LOAD-BALANCER-SOURCE-CID');
  assert.equal(ipsetName('KUBE-NODE-PORT-LOCAL-SCTP-HASH', 6), 'KUBE-6-NODE-PORT-LOCAL-SCTP-HAS');
  const names = allKubeIpsetNames();
  assert.equal(names.length, 34);
  assert.equal(new Set(names).size, 34);
  assert.ok(names.every((n) => n.length <= 31 && n.startsWith('KUBE-')));
  assert.equal(Object.keys(KUBE_IPSETS).length, 17);
});

test('canonical keys', () => {
  assert.equal(virtualServerKey({ protocol: 'TCP', address: '10.96.0.10', port: 80 }), 'TCP/10.96.0.10:80');
  assert.equal(virtualServerKey({ protocol: 'UDP', address: 'fd00::a', port: 53 }), 'UDP/[fd00::a]:53');
  assert.equal(realServerKey({ address: '10.244.1.5', port: 8080 }), '10.244.1.5:8080');
});
