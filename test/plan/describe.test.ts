// Every op kind: its id and its printable line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeOp, OP_KINDS, ops } from '../../src/plan/index.js';
import type { Op } from '../../src/plan/index.js';

const vs4 = { protocol: 'TCP' as const, address: '10.96.0.10', port: 80 };
const vs6 = { protocol: 'UDP' as const, address: 'fd00::a', port: 53 };
const spec = { ...vs4, scheduler: 'rr', flags: 1, timeout: 10800 };
const NAT = '*nat\n:KUBE-SERVICES - [0:0]\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\nCOMMIT\n';

const table: [Op, string, string][] = [
  [ops.ensureLink(), 'ensure-link kube-ipvs0', 'ensure link kube-ipvs0'],
  [ops.deleteLink(), 'delete-link kube-ipvs0', '- link kube-ipvs0'],
  [ops.addAddress('10.96.0.10'), 'add-address kube-ipvs0 10.96.0.10', '+ address kube-ipvs0 10.96.0.10'],
  [ops.delAddress('fd00::a'), 'del-address kube-ipvs0 fd00::a', '- address kube-ipvs0 fd00::a'],
  [ops.ipsetCreate('KUBE-6-CLUSTER-IP', 'hash:ip,port', 'inet6'), 'ipset-create KUBE-6-CLUSTER-IP', '+ ipset KUBE-6-CLUSTER-IP hash:ip,port family inet6'],
  [ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.10,tcp:80'), 'ipset-add KUBE-CLUSTER-IP 10.96.0.10,tcp:80', '+ KUBE-CLUSTER-IP 10.96.0.10,tcp:80'],
  [ops.ipsetDel('KUBE-NODE-PORT-TCP', '30080'), 'ipset-del KUBE-NODE-PORT-TCP 30080', '- KUBE-NODE-PORT-TCP 30080'],
  [ops.ipsetDestroy('KUBE-LOOP-BACK'), 'ipset-destroy KUBE-LOOP-BACK', '- ipset KUBE-LOOP-BACK'],
  [ops.iptablesRestore('ipv4', 'nat', NAT), 'iptables-restore ipv4 nat', '~ iptables ipv4 nat (2 chains, 1 rules)'],
  [ops.ensureJumpRules('ipv6', 'nat', [{ from: 'OUTPUT', to: 'KUBE-SERVICES', comment: 'c' }, { from: 'PREROUTING', to: 'KUBE-SERVICES', comment: 'c' }]), 'ensure-jump-rules ipv6 nat', 'ensure jumps ipv6 nat: OUTPUT -> KUBE-SERVICES, PREROUTING -> KUBE-SERVICES'],
  [ops.deleteJumpRules('ipv4', 'filter', [{ from: 'INPUT', to: 'KUBE-IPVS-FILTER', comment: 'c' }]), 'delete-jump-rules ipv4 filter', '- jumps ipv4 filter: INPUT -> KUBE-IPVS-FILTER'],
  [ops.addService(spec), 'add-service TCP/10.96.0.10:80', '+ service TCP/10.96.0.10:80 scheduler rr flags 1 timeout 10800'],
  [ops.editService({ ...spec, scheduler: 'sh' }, { scheduler: 'rr', flags: 1, timeout: 10800 }), 'edit-service TCP/10.96.0.10:80', '~ service TCP/10.96.0.10:80 scheduler rr -> sh'],
  [ops.delService(vs6), 'del-service UDP/[fd00::a]:53', '- service UDP/[fd00::a]:53'],
  [ops.addRealServer(vs6, { address: 'fd01::5', port: 53, weight: 1 }), 'add-real-server UDP/[fd00::a]:53/[fd01::5]:53', '+ real server UDP/[fd00::a]:53 [fd01::5]:53 weight 1'],
  [ops.editRealServer(vs4, { address: '10.244.1.5', port: 8080, weight: 0 }, 1, 'drain'), 'edit-real-server TCP/10.96.0.10:80/10.244.1.5:8080', '~ real server TCP/10.96.0.10:80 10.244.1.5:8080 weight 1 -> 0 (drain)'],
  [ops.delRealServer(vs4, { address: '10.244.1.5', port: 8080 }, 'drain-expired'), 'del-real-server TCP/10.96.0.10:80/10.244.1.5:8080', '- real server TCP/10.96.0.10:80 10.244.1.5:8080 (drain-expired)'],
];

test('the table covers every op kind', () => {
  assert.deepEqual(new Set(table.map(([op]) => op.kind)), new Set(OP_KINDS));
});

for (const [op, id, line] of table) {
  test(`${op.kind}: id and printable line`, () => {
    assert.equal(op.id, id);
    assert.equal(describeOp(op), line);
    assert.deepEqual(op.dependsOn, []);
    assert.deepEqual(JSON.parse(JSON.stringify(op)), op, 'ops are plain JSON data');
  });
}

test('constructors copy their inputs (a later change to the caller object does not leak into the op)', () => {
  const s = { ...spec };
  const op = ops.addService(s);
  s.scheduler = 'wlc';
  assert.equal(op.service.scheduler, 'rr');
});
