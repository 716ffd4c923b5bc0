import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, countOps, isEmptyPlan, ops, summarizeOps } from '../../src/plan/index.js';
import type { Op } from '../../src/plan/index.js';
import { rs, state, vs } from './helpers.js';

const S = (port: number) => ({ protocol: 'TCP' as const, address: '10.96.0.10', port, scheduler: 'rr', flags: 0, timeout: 0 });
const R = (n: number) => ({ address: `10.244.0.${n}`, port: 80, weight: 1 });

function times<T>(n: number, f: (i: number) => T): T[] {
  return Array.from({ length: n }, (_, i) => f(i + 1));
}

test('summary: the one-line form from the brief', () => {
  const list: Op[] = [
    ...times(3, (i) => ops.addService(S(i))),
    ops.editService(S(9), { scheduler: 'wrr', flags: 0, timeout: 0 }),
    ...times(2, (i) => ops.delService(S(100 + i))),
    ...times(30, (i) => ops.addRealServer(S(1), R(i))),
    ...times(2, (i) => ops.delRealServer(S(1), R(100 + i), 'removed')),
    ...times(3, (i) => ops.addAddress(`10.96.1.${i}`)),
    ops.delAddress('10.96.2.1'),
    ...times(40, (i) => ops.ipsetAdd('KUBE-CLUSTER-IP', `10.96.1.${i},tcp:80`)),
    ...times(2, (i) => ops.ipsetDel('KUBE-CLUSTER-IP', `10.96.2.${i},tcp:80`)),
    ops.iptablesRestore('ipv4', 'nat', ''),
  ];
  assert.equal(summarizeOps(list), 'ipvs: +3 ~1 -2 services, +30 -2 real servers; addresses +3 -1; ipset +40 -2 entries; iptables 1 table rewritten');
});

test('summary: drains, sets, jump rules, link and plurals', () => {
  const list: Op[] = [
    ops.ensureLink(),
    ops.ipsetCreate('KUBE-CLUSTER-IP', 'hash:ip,port', 'inet'),
    ops.editRealServer(S(1), { ...R(1), weight: 0 }, 1, 'drain'),
    ops.editRealServer(S(1), R(2), 0, 'undrain'),
    ops.iptablesRestore('ipv4', 'nat', ''),
    ops.iptablesRestore('ipv4', 'filter', ''),
    ops.ensureJumpRules('ipv4', 'nat', []),
  ];
  assert.equal(summarizeOps(list), 'ipvs: ~2 real servers (1 draining); ipset +1 sets; iptables 2 tables rewritten, jump rules ensured in 1 table; link ensured');
  assert.deepEqual(countOps(list).realServers, { add: 0, edit: 2, del: 0, drain: 1 });
});

test('summary and isEmptyPlan of an empty plan', () => {
  const same = state({ ipvs: [vs('TCP', '10.96.0.10', 80, [rs('10.244.0.1', 80)])], addresses: ['10.96.0.10'] });
  const plan = computePlan(same, same);
  assert.equal(isEmptyPlan(plan), true);
  assert.equal(isEmptyPlan(plan.ops), true);
  assert.equal(summarizeOps(plan.ops), 'no changes');
  assert.equal(isEmptyPlan([ops.ensureLink()]), false);
  assert.equal(isEmptyPlan({ ops: [ops.ensureLink()] }), false);
});
