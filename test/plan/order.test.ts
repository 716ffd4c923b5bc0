// Apply order, dependsOn and opsToSkip.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, computePlan, opsToSkip } from '../../src/plan/index.js';
import type { Op } from '../../src/plan/index.js';
import { ids, ipset, kinds, rs, state, vs } from './helpers.js';

const NAT = '*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\nCOMMIT\n';

/** A sync that does a bit of everything: one Service moves from 10.96.0.9 to 10.96.0.10. */
function scenario() {
  const observed = state({
    ipvs: [
      vs('TCP', '10.96.0.9', 80, [rs('10.244.1.1', 8080)]),
      vs('TCP', '10.96.0.20', 80, [rs('10.244.1.1', 8080, 1), rs('10.244.1.2', 8080, 1)]),
      vs('TCP', '192.168.1.10', 30080, [rs('10.244.1.1', 8080)]),
    ],
    addresses: ['10.96.0.9', '10.96.0.20'],
    ipsets: {
      'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.9', '10.96.0.20']),
      'KUBE-NODE-PORT-TCP': ipset('bitmap:port', ['30080']),
    },
  });
  const desired = state({
    ipvs: [
      vs('TCP', '10.96.0.10', 80, [rs('10.244.1.1', 8080)]),
      vs('TCP', '10.96.0.20', 80, [rs('10.244.1.1', 8080), rs('10.244.1.3', 8080)], { scheduler: 'wrr' }),
    ],
    addresses: ['10.96.0.10', '10.96.0.20'],
    ipsets: {
      'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.10', '10.96.0.20']),
      'KUBE-NODE-PORT-TCP': ipset('bitmap:port', []),
      'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.10,tcp:80', '10.96.0.20,tcp:80']),
    },
    iptables: { ipv4: { nat: NAT, filter: '' } },
  });
  return { desired, observed, plan: computePlan(desired, observed, { nodeAddresses: ['192.168.1.10'], gracefulTermination: false }) };
}

test('order: link, sets, rules, addresses, services, real servers, removals, service deletes, address deletes, member deletes', () => {
  const { plan } = scenario();
  assert.deepEqual(ids(plan.ops), [
    'ensure-link kube-ipvs0',
    'ipset-create KUBE-CLUSTER-IP',
    'ipset-add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'ipset-add KUBE-CLUSTER-IP 10.96.0.20,tcp:80',
    'ipset-add KUBE-IPVS-IPS 10.96.0.10',
    'iptables-restore ipv4 nat',
    'ensure-jump-rules ipv4 nat',
    'add-address kube-ipvs0 10.96.0.10',
    'add-service TCP/10.96.0.10:80',
    'edit-service TCP/10.96.0.20:80',
    'add-real-server TCP/10.96.0.10:80/10.244.1.1:8080',
    'add-real-server TCP/10.96.0.20:80/10.244.1.3:8080',
    'del-real-server TCP/10.96.0.20:80/10.244.1.2:8080',
    'del-service TCP/10.96.0.9:80',
    'del-service TCP/192.168.1.10:30080',
    'del-address kube-ipvs0 10.96.0.9',
    'ipset-del KUBE-IPVS-IPS 10.96.0.9',
    'ipset-del KUBE-NODE-PORT-TCP 30080',
  ]);
});

test('dependsOn: each op names the earlier ops it needs', () => {
  const { plan } = scenario();
  const deps = Object.fromEntries(plan.ops.filter((o) => o.dependsOn.length).map((o) => [o.id, o.dependsOn]));
  assert.deepEqual(deps, {
    'ipset-add KUBE-CLUSTER-IP 10.96.0.10,tcp:80': ['ipset-create KUBE-CLUSTER-IP'],
    'ipset-add KUBE-CLUSTER-IP 10.96.0.20,tcp:80': ['ipset-create KUBE-CLUSTER-IP'],
    'iptables-restore ipv4 nat': ['ipset-create KUBE-CLUSTER-IP'],
    'ensure-jump-rules ipv4 nat': ['iptables-restore ipv4 nat'],
    'add-address kube-ipvs0 10.96.0.10': ['ensure-link kube-ipvs0'],
    'add-service TCP/10.96.0.10:80': ['add-address kube-ipvs0 10.96.0.10'],
    'add-real-server TCP/10.96.0.10:80/10.244.1.1:8080': ['add-service TCP/10.96.0.10:80'],
    'del-address kube-ipvs0 10.96.0.9': ['del-service TCP/10.96.0.9:80'],
    'ipset-del KUBE-IPVS-IPS 10.96.0.9': ['del-address kube-ipvs0 10.96.0.9', 'del-service TCP/10.96.0.9:80'],
    'ipset-del KUBE-NODE-PORT-TCP 30080': ['del-service TCP/192.168.1.10:30080'],
  });
});

test('dependsOn: a cluster-ip member being deleted waits for its virtual server', () => {
  const observed = state({ ipvs: [vs('UDP', '10.96.0.9', 53)], addresses: ['10.96.0.9'], ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.9,udp:53']) } });
  const desired = state({ ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', []) } });
  const del = computePlan(desired, observed).ops.find((o) => o.kind === 'ipset-del')!;
  assert.deepEqual(del.dependsOn, ['del-service UDP/10.96.0.9:53']);
});

test('every dependency points at an earlier op in the plan', () => {
  const { plan } = scenario();
  const seen = new Set<string>();
  for (const op of plan.ops) {
    for (const d of op.dependsOn) assert.ok(seen.has(d), `${op.id} depends on later/missing ${d}`);
    seen.add(op.id);
  }
});

test('opsToSkip: a failed op skips its dependants transitively and nothing else', () => {
  const { plan } = scenario();
  assert.deepEqual(ids(opsToSkip(plan.ops, ['ensure-link kube-ipvs0'])), [
    'add-address kube-ipvs0 10.96.0.10',
    'add-service TCP/10.96.0.10:80',
    'add-real-server TCP/10.96.0.10:80/10.244.1.1:8080',
  ]);
  assert.deepEqual(ids(opsToSkip(plan.ops, ['del-service TCP/10.96.0.9:80'])), ['del-address kube-ipvs0 10.96.0.9', 'ipset-del KUBE-IPVS-IPS 10.96.0.9']);
  assert.deepEqual(ids(opsToSkip(plan.ops, ['ipset-create KUBE-CLUSTER-IP'])), [
    'ipset-add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'ipset-add KUBE-CLUSTER-IP 10.96.0.20,tcp:80',
    'iptables-restore ipv4 nat',
    'ensure-jump-rules ipv4 nat',
  ]);
  assert.deepEqual(opsToSkip(plan.ops, ['edit-service TCP/10.96.0.20:80']), []);
  assert.deepEqual(opsToSkip(plan.ops, []), []);
  assert.deepEqual(opsToSkip(plan.ops, ['no such op']), []);
});

test('opsToSkip: two failures union their dependants; a failed op is never listed as skipped', () => {
  const { plan } = scenario();
  const skipped = ids(opsToSkip(plan.ops, ['add-address kube-ipvs0 10.96.0.10', 'add-service TCP/10.96.0.10:80']));
  assert.deepEqual(skipped, ['add-real-server TCP/10.96.0.10:80/10.244.1.1:8080']);
});

test('opsToSkip survives a dependency cycle in hand-made input', () => {
  const a: Op = { kind: 'ensure-link', id: 'a', dependsOn: ['b'], link: 'kube-ipvs0' };
  const b: Op = { kind: 'ensure-link', id: 'b', dependsOn: ['a'], link: 'kube-ipvs0' };
  const c: Op = { kind: 'ensure-link', id: 'c', dependsOn: ['b'], link: 'kube-ipvs0' };
  assert.deepEqual(ids(opsToSkip([a, b, c], ['a'])), ['b', 'c']);
});

test('the simulator skips exactly what opsToSkip says', () => {
  const { plan, observed } = scenario();
  for (const failed of plan.ops) {
    const r = applyOps(observed, plan.ops, { fail: new Set([failed.id]) });
    assert.deepEqual(r.failed, [failed.id]);
    assert.deepEqual(r.skipped, ids(opsToSkip(plan.ops, [failed.id])), `failing ${failed.id}`);
  }
});

test('a failed virtual server delete leaves its address and KUBE-IPVS-IPS member: the next plan still owns and deletes it', () => {
  const { plan, observed, desired } = scenario();
  const r = applyOps(observed, plan.ops, { fail: new Set(['del-service TCP/10.96.0.9:80']) });
  assert.ok(r.state.addresses['kube-ipvs0'].includes('10.96.0.9'));
  assert.ok(r.state.ipsets['KUBE-IPVS-IPS']!.entries.includes('10.96.0.9'));
  const next = computePlan(desired, r.state, { nodeAddresses: ['192.168.1.10'], gracefulTermination: false });
  assert.deepEqual(ids(next.ops), ['del-service TCP/10.96.0.9:80', 'del-address kube-ipvs0 10.96.0.9', 'ipset-del KUBE-IPVS-IPS 10.96.0.9']);
});

test('kinds appear in phase order in any plan of the scenario family', () => {
  const phase: Record<string, number> = {
    'ensure-link': 0, 'ipset-create': 1, 'ipset-add': 1, 'iptables-restore': 2, 'ensure-jump-rules': 2, 'add-address': 3,
    'add-service': 4, 'edit-service': 4, 'add-real-server': 5, 'del-real-server': 6, 'del-service': 7, 'del-address': 8, 'ipset-del': 9,
  };
  const { plan } = scenario();
  const phases = kinds(plan.ops).map((k) => phase[k]!);
  assert.deepEqual(phases, [...phases].sort((a, b) => a - b));
});
