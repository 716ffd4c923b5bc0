import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, decideRealServerRemoval, describeOp } from '../../src/plan/index.js';
import type { PlanOptions } from '../../src/plan/index.js';
import { byKind, ids, kinds, rs, state, vs } from './helpers.js';

const VIP = '10.96.0.10';
const bound = (ipvs: ReturnType<typeof vs>[]) => state({ ipvs, addresses: [VIP] });

test('a new virtual server is added with its real servers, the service first', () => {
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.6', 8080), rs('10.244.1.5', 8080)])]);
  const observed = state({ addresses: [VIP] });
  const { ops } = computePlan(desired, observed);
  assert.deepEqual(ids(ops), [
    'add-service TCP/10.96.0.10:80',
    'add-real-server TCP/10.96.0.10:80/10.244.1.5:8080',
    'add-real-server TCP/10.96.0.10:80/10.244.1.6:8080',
  ]);
  const [svc, rs1] = ops;
  assert.deepEqual(svc, { kind: 'add-service', id: 'add-service TCP/10.96.0.10:80', dependsOn: [], service: { protocol: 'TCP', address: VIP, port: 80, scheduler: 'rr', flags: 0, timeout: 0 } });
  assert.deepEqual(rs1!.dependsOn, ['add-service TCP/10.96.0.10:80']);
  assert.equal(describeOp(svc!), '+ service TCP/10.96.0.10:80 scheduler rr flags 0 timeout 0');
  assert.equal(describeOp(rs1!), '+ real server TCP/10.96.0.10:80 10.244.1.5:8080 weight 1');
});

test('IPv6 virtual servers use bracketed canonical keys', () => {
  const desired = state({ ipvs: [vs('UDP', 'FD00:0:0::A', 53, [rs('fd01::0:5', 53)])], addresses: ['fd00::a'] });
  const { ops } = computePlan(desired, state({ addresses: ['fd00::a'] }));
  assert.deepEqual(ids(ops), ['add-service UDP/[fd00::a]:53', 'add-real-server UDP/[fd00::a]:53/[fd01::5]:53']);
});

const editCases: { name: string; from: Parameters<typeof vs>[4]; to: Parameters<typeof vs>[4]; text: string }[] = [
  { name: 'scheduler', from: { scheduler: 'rr' }, to: { scheduler: 'wrr' }, text: 'scheduler rr -> wrr' },
  { name: 'session affinity on', from: {}, to: { flags: 1, timeout: 10800 }, text: 'flags 0 -> 1, timeout 0 -> 10800' },
  { name: 'affinity timeout', from: { flags: 1, timeout: 10800 }, to: { flags: 1, timeout: 60 }, text: 'timeout 10800 -> 60' },
  { name: 'mh port flag', from: { scheduler: 'mh' }, to: { scheduler: 'mh', flags: 16 }, text: 'flags 0 -> 16' },
];
for (const c of editCases) {
  test(`a changed ${c.name} is edited in place, never deleted and re-added`, () => {
    const backends = [rs('10.244.1.5', 8080)];
    const { ops } = computePlan(bound([vs('TCP', VIP, 80, backends, c.to)]), bound([vs('TCP', VIP, 80, backends, c.from)]));
    assert.deepEqual(kinds(ops), ['edit-service']);
    assert.equal(describeOp(ops[0]!), `~ service TCP/10.96.0.10:80 ${c.text}`);
  });
}

test('the HASHED flag the kernel may report does not count as a difference', () => {
  const { ops } = computePlan(bound([vs('TCP', VIP, 80, [], { flags: 1, timeout: 5 })]), bound([vs('TCP', VIP, 80, [], { flags: 3, timeout: 5 })]));
  assert.deepEqual(ops, []);
});

test('real servers: new added, changed weight edited, removed deleted (graceful off)', () => {
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80), rs('10.244.1.2', 80, 3)])]);
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.2', 80, 1), rs('10.244.1.3', 80, 1, { active: 4 })])]);
  const { ops } = computePlan(desired, observed, { gracefulTermination: false });
  assert.deepEqual(ops.map(describeOp), [
    '+ real server TCP/10.96.0.10:80 10.244.1.1:80 weight 1',
    '~ real server TCP/10.96.0.10:80 10.244.1.2:80 weight 1 -> 3 (weight)',
    '- real server TCP/10.96.0.10:80 10.244.1.3:80 (removed)',
  ]);
});

test('a virtual server that is no longer desired goes at once, without per-real-server ops', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 1, { active: 9 })])]);
  const plan = computePlan(state({ addresses: [VIP] }), observed);
  assert.deepEqual(ids(plan.ops), ['del-service TCP/10.96.0.10:80']);
  assert.deepEqual(plan.draining, []);
});

// ---- graceful termination (kube-proxy §4.4) ----

interface GraceCase {
  name: string;
  protocol: 'TCP' | 'UDP' | 'SCTP';
  weight: number;
  active: number;
  inactive: number;
  options?: PlanOptions;
  want: string[];
  draining?: boolean;
}
const graceCases: GraceCase[] = [
  { name: 'TCP with active connections drains to weight 0', protocol: 'TCP', weight: 1, active: 3, inactive: 0, want: ['~ real server TCP/10.96.0.10:80 10.244.1.9:80 weight 1 -> 0 (drain)'], draining: true },
  { name: 'TCP with only inactive connections drains too', protocol: 'TCP', weight: 1, active: 0, inactive: 2, want: ['~ real server TCP/10.96.0.10:80 10.244.1.9:80 weight 1 -> 0 (drain)'], draining: true },
  { name: 'TCP with no connections is deleted', protocol: 'TCP', weight: 1, active: 0, inactive: 0, want: ['- real server TCP/10.96.0.10:80 10.244.1.9:80 (no-connections)'] },
  { name: 'UDP is deleted at once even with connections', protocol: 'UDP', weight: 1, active: 5, inactive: 5, want: ['- real server UDP/10.96.0.10:80 10.244.1.9:80 (not-tcp)'] },
  { name: 'SCTP is deleted at once even with connections', protocol: 'SCTP', weight: 1, active: 5, inactive: 0, want: ['- real server SCTP/10.96.0.10:80 10.244.1.9:80 (not-tcp)'] },
  { name: 'weight 0 and no connections: the drain is over, delete', protocol: 'TCP', weight: 0, active: 0, inactive: 0, want: ['- real server TCP/10.96.0.10:80 10.244.1.9:80 (no-connections)'] },
  { name: 'weight 0 with connections keeps draining: no op', protocol: 'TCP', weight: 0, active: 1, inactive: 0, want: [], draining: true },
  {
    name: 'weight 0 with connections past its deadline (function) is deleted',
    protocol: 'TCP', weight: 0, active: 1, inactive: 0,
    options: { drainExpired: (v, r) => v === 'TCP/10.96.0.10:80' && r === '10.244.1.9:80' },
    want: ['- real server TCP/10.96.0.10:80 10.244.1.9:80 (drain-expired)'],
  },
  {
    name: 'weight 0 with connections past its deadline (key set) is deleted',
    protocol: 'TCP', weight: 0, active: 1, inactive: 0,
    options: { expiredDrains: new Set(['TCP/10.96.0.10:80/10.244.1.9:80']) },
    want: ['- real server TCP/10.96.0.10:80 10.244.1.9:80 (drain-expired)'],
  },
  {
    name: 'a throwing deadline function counts as not expired',
    protocol: 'TCP', weight: 0, active: 1, inactive: 0,
    options: { drainExpired: () => { throw new Error('boom'); } },
    want: [], draining: true,
  },
  { name: 'graceful termination off deletes TCP with connections', protocol: 'TCP', weight: 1, active: 3, inactive: 0, options: { gracefulTermination: false }, want: ['- real server TCP/10.96.0.10:80 10.244.1.9:80 (removed)'] },
];
for (const c of graceCases) {
  test(`graceful termination: ${c.name}`, () => {
    const keep = rs('10.244.1.1', 80);
    const desired = bound([vs(c.protocol, VIP, 80, [keep])]);
    const observed = bound([vs(c.protocol, VIP, 80, [keep, rs('10.244.1.9', 80, c.weight, { active: c.active, inactive: c.inactive })])]);
    const plan = computePlan(desired, observed, { gracefulTermination: true, ...c.options });
    assert.deepEqual(plan.ops.map(describeOp), c.want);
    assert.deepEqual(plan.draining.map((d) => d.key), c.draining ? [`${c.protocol}/10.96.0.10:80/10.244.1.9:80`] : []);
    if (c.draining) assert.equal(plan.draining[0]!.started, c.weight !== 0);
  });
}

test('graceful termination is on by default (kube-proxy behaviour)', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.9', 80, 1, { active: 1 })])]);
  const { ops } = computePlan(bound([vs('TCP', VIP, 80, [])]), observed);
  assert.deepEqual(byKind(ops, 'edit-real-server').map((o) => [o.realServer.weight, o.reason]), [[0, 'drain']]);
});

test('an endpoint coming back while draining gets its weight back (edited, not re-added)', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.9', 80, 0, { active: 2 })])]);
  const { ops } = computePlan(bound([vs('TCP', VIP, 80, [rs('10.244.1.9', 80)])]), observed);
  assert.deepEqual(ops.map(describeOp), ['~ real server TCP/10.96.0.10:80 10.244.1.9:80 weight 0 -> 1 (undrain)']);
});

test('new backends are added before old ones are drained or deleted (rolling update)', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 1, { active: 1 }), rs('10.244.1.2', 80, 1)])]);
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.3', 80), rs('10.244.1.4', 80)])]);
  const { ops } = computePlan(desired, observed);
  assert.deepEqual(kinds(ops), ['add-real-server', 'add-real-server', 'edit-real-server', 'del-real-server']);
});

test('decideRealServerRemoval only asks for the deadline when it matters', () => {
  let asked = 0;
  const expired = () => (asked++, true);
  assert.deepEqual(decideRealServerRemoval('UDP', { weight: 1, activeConns: 1, inactiveConns: 0 }, true, expired), { action: 'delete', reason: 'not-tcp' });
  assert.deepEqual(decideRealServerRemoval('TCP', { weight: 1, activeConns: 0, inactiveConns: 0 }, true, expired), { action: 'delete', reason: 'no-connections' });
  assert.equal(asked, 0);
  assert.deepEqual(decideRealServerRemoval('TCP', { weight: 1, activeConns: 1, inactiveConns: 0 }, true, expired), { action: 'delete', reason: 'drain-expired' });
  assert.equal(asked, 1);
});

// ---- initialSync (kube-proxy issues #92019 #108319) ----

test('initialSync resets weights of existing desired real servers to 1', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 0), rs('10.244.1.2', 80, 1), rs('10.244.1.3', 80, 5)])]);
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80), rs('10.244.1.2', 80), rs('10.244.1.3', 80)])]);
  const { ops } = computePlan(desired, observed, { initialSync: true });
  assert.deepEqual(ops.map(describeOp), [
    '~ real server TCP/10.96.0.10:80 10.244.1.1:80 weight 0 -> 1 (initial-sync)',
    '~ real server TCP/10.96.0.10:80 10.244.1.3:80 weight 5 -> 1 (initial-sync)',
  ]);
});

test('initialSync still drains real servers that are no longer desired', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 0, { active: 1 }), rs('10.244.1.2', 80, 1, { active: 1 })])]);
  const plan = computePlan(bound([vs('TCP', VIP, 80, [])]), observed, { initialSync: true });
  assert.deepEqual(plan.ops.map(describeOp), ['~ real server TCP/10.96.0.10:80 10.244.1.2:80 weight 1 -> 0 (drain)']);
  assert.deepEqual(plan.draining.map((d) => [d.realServer, d.started]), [['10.244.1.1:80', false], ['10.244.1.2:80', true]]);
});

test('initialSync ignores a scope: the first sync after a restart covers the whole node', () => {
  const observed = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 0)]), vs('TCP', VIP, 443, [])]);
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.1', 80)]), vs('TCP', VIP, 443, [rs('10.244.1.1', 443)])]);
  const scoped = computePlan(desired, observed, { scope: { virtualServers: ['TCP/10.96.0.10:443'] } });
  assert.deepEqual(ids(scoped.ops), ['add-real-server TCP/10.96.0.10:443/10.244.1.1:443']);
  const initial = computePlan(desired, observed, { scope: { virtualServers: ['TCP/10.96.0.10:443'] }, initialSync: true });
  assert.deepEqual(ids(initial.ops), ['edit-real-server TCP/10.96.0.10:80/10.244.1.1:80', 'add-real-server TCP/10.96.0.10:443/10.244.1.1:443']);
});

test('prune: false adds and edits but never deletes or drains', () => {
  const observed = state({
    ipvs: [vs('TCP', VIP, 80, [rs('10.244.1.1', 80, 1, { active: 1 }), rs('10.244.1.2', 80)]), vs('TCP', VIP, 81, [])],
    addresses: [VIP, '10.96.0.99'],
  });
  const desired = bound([vs('TCP', VIP, 80, [rs('10.244.1.3', 80)], { scheduler: 'wrr' })]);
  const plan = computePlan(desired, observed, { prune: false });
  assert.deepEqual(kinds(plan.ops), ['edit-service', 'add-real-server']);
  assert.deepEqual(plan.draining, []);
});
