import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, planCleanup } from '../../src/plan/index.js';
import { ids, ipset, rs, state, vs } from './helpers.js';

const NAT = '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SVC-ABC - [0:0]\n-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n';

function node() {
  return state({
    ipvs: [
      vs('TCP', '10.96.0.10', 80, [rs('10.244.0.1', 80)]),
      vs('TCP', '192.168.1.10', 30080),
      vs('TCP', '203.0.113.5', 443, [rs('10.1.1.1', 443)]),
      vs('UDP', '172.16.0.1', 53),
    ],
    addresses: ['10.96.0.10', 'fe80::1'],
    ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,tcp:80']), 'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.10']), 'my-set': ipset('hash:ip', []) },
    iptables: { ipv4: { nat: NAT, filter: '' } },
  });
}
const options = { excludeCIDRs: ['172.16.0.0/16'], nodeAddresses: ['192.168.1.10'] };

test('cleanup removes only what kube-ipvs owns, in an order the kernel accepts', () => {
  const plan = planCleanup(node(), options);
  assert.deepEqual(ids(plan.ops), [
    'del-service TCP/10.96.0.10:80',
    'del-service TCP/192.168.1.10:30080',
    'delete-link kube-ipvs0',
    'delete-jump-rules ipv4 nat',
    'iptables-restore ipv4 nat',
    'ipset-destroy KUBE-CLUSTER-IP',
    'ipset-destroy KUBE-IPVS-IPS',
  ]);
  const restore = plan.ops.find((o) => o.kind === 'iptables-restore');
  assert.equal(restore?.kind === 'iptables-restore' && restore.text, '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-X KUBE-SERVICES\n-X KUBE-MARK-MASQ\nCOMMIT\n');
  assert.deepEqual(restore?.dependsOn, ['delete-jump-rules ipv4 nat']);
  assert.deepEqual(plan.ops.find((o) => o.id === 'ipset-destroy KUBE-CLUSTER-IP')?.dependsOn, ['iptables-restore ipv4 nat']);
});

test('cleanup keeps kube-ipvs0 when an excluded address is on it, deleting only ours', () => {
  const n = node();
  n.addresses['kube-ipvs0'].push('172.16.0.1');
  const plan = planCleanup(n, options);
  assert.deepEqual(ids(plan.ops).filter((id) => id.includes('kube-ipvs0')), ['del-address kube-ipvs0 10.96.0.10']);
  assert.deepEqual(plan.ops.find((o) => o.id === 'del-address kube-ipvs0 10.96.0.10')?.dependsOn, ['del-service TCP/10.96.0.10:80']);
});

test('after cleanup only foreign objects remain (simulated)', () => {
  const r = applyOps(node(), planCleanup(node(), options).ops);
  assert.deepEqual(r.failed, []);
  assert.deepEqual(r.state.ipvs.map((v) => `${v.protocol}/${v.address}:${v.port}`), ['UDP/172.16.0.1:53', 'TCP/203.0.113.5:443']);
  assert.deepEqual(Object.keys(r.state.ipsets), ['my-set']);
  assert.equal(r.state.iptables.ipv4.nat, '');
});
