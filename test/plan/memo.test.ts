// The planner remembers what it derived from FROZEN lists and virtual servers (model/canonical.ts), which is what
// makes a scoped plan cost what changed. These tests pin down that the memo never changes a plan's result and
// that unfrozen input is never served from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, scopeOf } from '../../src/plan/index.js';
import type { PlanOptions } from '../../src/plan/index.js';
import { freezeCanonicalEntries, normalizedAddresses, normalizedEntries } from '../../src/model/canonical.js';
import type { NodeState } from '../../src/model/state.js';
import { Gen, GEN_OPTIONS, genDesired, genObserved, ids, ipset, rng, rs, state, vs } from './helpers.js';

function deepFreeze<T>(x: T): T {
  if (x && typeof x === 'object' && !Object.isFrozen(x)) {
    for (const v of Object.values(x)) deepFreeze(v);
    Object.freeze(x);
  }
  return x;
}

const clone = <T>(x: T): T => structuredClone(x);

test('property: frozen input, planned twice (the second time from the memo), gives the same plan as unfrozen input', () => {
  const options: PlanOptions = { ...GEN_OPTIONS, gracefulTermination: true };
  for (let i = 0; i < 150; i++) {
    const g = new Gen(rng(31_000 + i));
    const desired = genDesired(g);
    const observed = genObserved(g, desired);
    const plain = computePlan(clone(desired), clone(observed), options);
    const fd = deepFreeze(clone(desired));
    const fo = deepFreeze(clone(observed));
    assert.deepEqual(computePlan(fd, fo, options), plain, `seed ${31_000 + i}: first frozen plan`);
    assert.deepEqual(computePlan(fd, fo, options), plain, `seed ${31_000 + i}: memoised plan`);
    // Scoped by one virtual server: the memo of every other one must not leak into it.
    const one = desired.ipvs[0] ?? observed.ipvs[0];
    if (!one) continue;
    const scope = scopeOf({ ipvs: [one] });
    assert.deepEqual(computePlan(fd, fo, { ...options, scope }), computePlan(clone(desired), clone(observed), { ...options, scope }), `seed ${31_000 + i}: scoped`);
  }
});

test('a frozen entries list is normalised once; an unfrozen one every time (in-place edits are seen)', () => {
  const frozen = Object.freeze(['10.96.0.1,80', '10.96.0.2,udp:53']);
  const a = normalizedEntries('hash:ip,port', 'desired', frozen);
  assert.deepEqual([...a.values], ['10.96.0.1,tcp:80', '10.96.0.2,udp:53']);
  assert.equal(normalizedEntries('hash:ip,port', 'desired', frozen), a, 'the same result object: remembered');
  assert.notEqual(normalizedEntries('hash:ip,port', 'observed', frozen), a, 'remembered per role (observed keeps unparsable members)');

  const open = ['10.96.0.1,tcp:80'];
  const want = state({ ipsets: { 'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: open } } });
  const empty = state({ ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', []) } });
  assert.deepEqual(ids(computePlan(want, empty).ops), ['ipset-add KUBE-CLUSTER-IP 10.96.0.1,tcp:80']);
  open.push('10.96.0.9,tcp:80');
  assert.deepEqual(ids(computePlan(want, empty).ops), ['ipset-add KUBE-CLUSTER-IP 10.96.0.1,tcp:80', 'ipset-add KUBE-CLUSTER-IP 10.96.0.9,tcp:80']);
});

test('bad members of a frozen list are diagnosed by every plan, not only the first', () => {
  const want: NodeState = state({ ipsets: { 'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: Object.freeze(['10.96.0.1,tcp:80', 'nonsense']) as string[] } } });
  const empty = state({ ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', []) } });
  for (let i = 0; i < 2; i++) {
    const plan = computePlan(want, empty);
    assert.deepEqual(plan.diagnostics.map((d) => d.message), ['desired: entry "nonsense" does not fit type hash:ip,port'], `plan ${i + 1}`);
  }
  const addrs = Object.freeze(['10.96.0.1', 'not-an-ip']);
  assert.deepEqual(normalizedAddresses(addrs).rejected, ['not-an-ip']);
  assert.equal(normalizedAddresses(addrs), normalizedAddresses(addrs));
});

test('freezeCanonicalEntries: the planner takes the members it is told for that list (no parse), for both roles', () => {
  // Told members differ from what parsing would give: proof that the told ones are used.
  const list = freezeCanonicalEntries('hash:ip,port', ['10.96.0.1,tcp:80'], new Set(['10.96.0.1,tcp:80', '10.96.0.7,tcp:80']));
  assert.ok(Object.isFrozen(list));
  assert.deepEqual([...normalizedEntries('hash:ip,port', 'desired', list).values].sort(), ['10.96.0.1,tcp:80', '10.96.0.7,tcp:80']);
  assert.deepEqual([...normalizedEntries('hash:ip,port', 'observed', list).values].sort(), ['10.96.0.1,tcp:80', '10.96.0.7,tcp:80']);
});

test('a frozen virtual server changed by replacing it (not in place) is planned by its new key', () => {
  const obs = state({ ipvs: [vs('TCP', '10.96.0.1', 80, [rs('10.244.0.1', 80)])], addresses: ['10.96.0.1'] });
  const v1 = deepFreeze(vs('TCP', '10.96.0.1', 80, [rs('10.244.0.1', 80)]));
  const scope = { virtualServers: ['TCP/10.96.0.1:80'] };
  assert.deepEqual(computePlan(state({ ipvs: [v1], addresses: ['10.96.0.1'] }), obs, { scope }).ops, []);
  const v2 = deepFreeze(vs('TCP', '10.96.0.1', 80, [rs('10.244.0.2', 80)]));
  assert.deepEqual(ids(computePlan(state({ ipvs: [v2], addresses: ['10.96.0.1'] }), obs, { scope, gracefulTermination: false }).ops), [
    'add-real-server TCP/10.96.0.1:80/10.244.0.2:80',
    'del-real-server TCP/10.96.0.1:80/10.244.0.1:80',
  ]);
  // Out of scope, the remembered key keeps it out of the plan (it is in the kernel and desired: nothing to do either way).
  assert.deepEqual(computePlan(state({ ipvs: [v2], addresses: ['10.96.0.1'] }), obs, { scope: { virtualServers: ['TCP/10.96.0.2:80'] } }).ops, []);
});
