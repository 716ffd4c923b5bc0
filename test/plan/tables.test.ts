// Addresses, the link, ipsets and iptables: one table per op kind.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, describeOp, normalizeIpsetEntry, referencedSets } from '../../src/plan/index.js';
import { byKind, ids, ipset, state } from './helpers.js';

test('addresses: desired ones are added after ensure-link, stale ones deleted', () => {
  const { ops } = computePlan(state({ addresses: ['10.96.0.10', 'fd00::a'] }), state({ addresses: ['10.96.0.9', '10.96.0.10'] }));
  assert.deepEqual(ops.map(describeOp), ['ensure link kube-ipvs0', '+ address kube-ipvs0 fd00::a', '- address kube-ipvs0 10.96.0.9']);
  assert.deepEqual(ops[1]!.dependsOn, ['ensure-link kube-ipvs0']);
});

test('addresses compare in canonical form (IPv6 case and zeros, host-length CIDRs)', () => {
  const { ops } = computePlan(state({ addresses: ['FD00:0::A', '10.96.0.10/32'] }), state({ addresses: ['fd00::a', '10.96.0.10'] }));
  assert.deepEqual(ops, []);
});

test('ensure-link is emitted only when addresses are added, or when asked for', () => {
  assert.deepEqual(computePlan(state(), state()).ops, []);
  assert.deepEqual(ids(computePlan(state(), state(), { ensureLink: true }).ops), ['ensure-link kube-ipvs0']);
});

test('ipsets: a missing set is created before its members; present members are not re-added', () => {
  const desired = state({
    ipsets: {
      'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,tcp:80', '10.96.0.10,udp:53']),
      'KUBE-6-CLUSTER-IP': ipset('hash:ip,port', ['fd00::a,tcp:80'], 'inet6'),
    },
  });
  const observed = state({ ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,tcp:80', '10.96.0.1,tcp:443']) } });
  const { ops } = computePlan(desired, observed);
  assert.deepEqual(ops.map(describeOp), [
    '+ ipset KUBE-6-CLUSTER-IP hash:ip,port family inet6',
    '+ KUBE-6-CLUSTER-IP fd00::a,tcp:80',
    '+ KUBE-CLUSTER-IP 10.96.0.10,udp:53',
    '- KUBE-CLUSTER-IP 10.96.0.1,tcp:443',
  ]);
  assert.deepEqual(ops[1]!.dependsOn, ['ipset-create KUBE-6-CLUSTER-IP']);
  assert.deepEqual(ops[2]!.dependsOn, []);
});

const entryCases: [type: string, input: string, canonical: string | undefined][] = [
  ['hash:ip', '10.96.0.10', '10.96.0.10'],
  ['hash:ip', 'FD00::000A', 'fd00::a'],
  ['hash:ip', '10.96.0.10/32', '10.96.0.10'],
  ['hash:ip', '10.96.0.0/24', undefined],
  ['hash:ip,port', '10.96.0.10,80', '10.96.0.10,tcp:80'],
  ['hash:ip,port', '10.96.0.10,UDP:53', '10.96.0.10,udp:53'],
  ['hash:ip,port', '10.96.0.10,tcp:99999', undefined],
  ['hash:ip,port,ip', '10.244.1.5,tcp:8080,10.244.1.5', '10.244.1.5,tcp:8080,10.244.1.5'],
  ['hash:ip,port,net', '1.2.3.4,tcp:80,10.0.0.0/8', '1.2.3.4,tcp:80,10.0.0.0/8'],
  ['hash:ip,port,net', '1.2.3.4,tcp:80,10.1.2.3/8', '1.2.3.4,tcp:80,10.0.0.0/8'],
  ['hash:ip,port,net', '1.2.3.4,tcp:80,10.0.0.1/32', '1.2.3.4,tcp:80,10.0.0.1'],
  ['bitmap:port', '08080', '8080'],
  ['bitmap:port', '70000', undefined],
  ['bitmap:port', 'tcp:80', undefined],
];
for (const [type, input, canonical] of entryCases) {
  test(`ipset entry ${type} ${JSON.stringify(input)} -> ${JSON.stringify(canonical)}`, () => {
    assert.equal(normalizeIpsetEntry(type, input), canonical);
  });
}

test('ipsets: members are compared in canonical form, so kernel spelling does not cause churn', () => {
  const desired = state({ ipsets: { 'KUBE-LOAD-BALANCER-SOURCE-CIDR': ipset('hash:ip,port,net', ['1.2.3.4,tcp:80,10.0.0.1/32']), 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,tcp:80']) } });
  const observed = state({ ipsets: { 'KUBE-LOAD-BALANCER-SOURCE-CIDR': ipset('hash:ip,port,net', ['1.2.3.4,tcp:80,10.0.0.1']), 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,80']) } });
  assert.deepEqual(computePlan(desired, observed).ops, []);
});

test('ipsets: an invalid desired member is a diagnostic, the rest is planned', () => {
  const plan = computePlan(state({ ipsets: { 'KUBE-NODE-PORT-TCP': ipset('bitmap:port', ['30080', 'junk']) } }), state({ ipsets: { 'KUBE-NODE-PORT-TCP': ipset('bitmap:port', []) } }));
  assert.deepEqual(ids(plan.ops), ['ipset-add KUBE-NODE-PORT-TCP 30080']);
  assert.equal(plan.diagnostics.length, 1);
  assert.match(plan.diagnostics[0]!.message, /"junk" does not fit type bitmap:port/);
});

test('ipsets: a set of the wrong type is planned as a create (the kernel refuses it) with a diagnostic, its members wait on it', () => {
  const plan = computePlan(state({ ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.10']) } }), state({ ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip,port', ['10.96.0.10,tcp:80']) } }));
  assert.deepEqual(ids(plan.ops), ['ipset-create KUBE-IPVS-IPS', 'ipset-add KUBE-IPVS-IPS 10.96.0.10']);
  assert.deepEqual(plan.ops[1]!.dependsOn, ['ipset-create KUBE-IPVS-IPS']);
  assert.match(plan.diagnostics[0]!.message, /observed: set is hash:ip,port inet, desired hash:ip inet/);
});

const NAT = '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n';
const FILTER = '*filter\n:KUBE-IPVS-FILTER - [0:0]\n-A KUBE-IPVS-FILTER -m set --match-set KUBE-IPVS-IPS dst -j REJECT\nCOMMIT\n';

test('iptables: a table whose text differs is restored in full, with its jump rules ensured after it', () => {
  const desired = state({ iptables: { ipv4: { nat: NAT, filter: FILTER } }, ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', []), 'KUBE-IPVS-IPS': ipset('hash:ip', []) } });
  const observed = state({ iptables: { ipv4: { nat: NAT, filter: '' } }, ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', []) } });
  const { ops } = computePlan(desired, observed);
  assert.deepEqual(ids(ops), ['ipset-create KUBE-IPVS-IPS', 'iptables-restore ipv4 filter', 'ensure-jump-rules ipv4 filter']);
  const [restore] = byKind(ops, 'iptables-restore');
  assert.equal(restore!.text, FILTER);
  assert.deepEqual(restore!.dependsOn, ['ipset-create KUBE-IPVS-IPS']);
  const [jumps] = byKind(ops, 'ensure-jump-rules');
  assert.deepEqual(jumps!.dependsOn, ['iptables-restore ipv4 filter']);
  assert.deepEqual(jumps!.rules.map((r) => `${r.from}->${r.to}`), [
    'FORWARD->KUBE-FORWARD',
    'INPUT->KUBE-NODE-PORT',
    'INPUT->KUBE-PROXY-FIREWALL',
    'FORWARD->KUBE-PROXY-FIREWALL',
    'INPUT->KUBE-IPVS-FILTER',
    'OUTPUT->KUBE-IPVS-OUT-FILTER',
  ]);
  assert.equal(describeOp(restore!), '~ iptables ipv4 filter (1 chains, 1 rules)');
});

test('iptables: the comparator decides equality; a throwing one means rewrite (with a diagnostic)', () => {
  const desired = state({ iptables: { ipv4: { nat: NAT, filter: '' } } });
  const observed = state({ iptables: { ipv4: { nat: NAT.replace('-j ACCEPT', '-j  ACCEPT'), filter: '' } } });
  assert.equal(computePlan(desired, observed).ops.length, 2);
  const squash = (s: string) => s.replace(/\s+/g, ' ');
  const seen: string[] = [];
  const equal = (a: string, b: string, where: { family: string; table: string }) => (seen.push(`${where.family} ${where.table}`), squash(a) === squash(b));
  assert.deepEqual(computePlan(desired, observed, { iptablesEqual: equal }).ops, []);
  assert.deepEqual(seen, ['ipv4 nat']);
  const plan = computePlan(desired, observed, { iptablesEqual: () => { throw new Error('nope'); } });
  assert.deepEqual(ids(plan.ops), ['iptables-restore ipv4 nat', 'ensure-jump-rules ipv4 nat']);
  assert.match(plan.diagnostics[0]!.message, /comparator failed: Error: nope/);
});

test('iptables: an empty desired table is not planned (cleanup removes chains), ensureJumpRules re-asserts jumps without a rewrite', () => {
  const observed = state({ iptables: { ipv4: { nat: NAT, filter: '' }, ipv6: { nat: NAT, filter: '' } } });
  const desired = state({ iptables: { ipv4: { nat: NAT, filter: '' } } });
  assert.deepEqual(computePlan(desired, observed).ops, []);
  const { ops } = computePlan(desired, observed, { ensureJumpRules: true });
  assert.deepEqual(ids(ops), ['ensure-jump-rules ipv4 nat']);
  assert.deepEqual(ops[0]!.dependsOn, []);
});

test('referencedSets finds the sets a restore text matches', () => {
  assert.deepEqual(referencedSets(NAT + FILTER + '-A X -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE\n'), ['KUBE-CLUSTER-IP', 'KUBE-IPVS-IPS', 'KUBE-LOOP-BACK']);
});
