// The syncer's memory of the kernel's sets and tables between partial syncs (runtime/kernel-memory.ts): it must
// equal what the whole-state simulation (plan/simulate.ts applyOps) gives, touch only the sets ops changed, and
// never modify what it started from.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, computePlan, ops } from '../../src/plan/index.js';
import type { Op } from '../../src/plan/index.js';
import { normalizedEntries } from '../../src/model/canonical.js';
import { memoryFromObserved, rememberApplied } from '../../src/runtime/kernel-memory.js';
import { emptyNodeState } from '../../src/model/state.js';
import { Gen, GEN_OPTIONS, genDesired, genObserved, rng } from '../plan/helpers.js';

const sets = (m: { ipsets: Record<string, { type: string; family: string; entries: readonly string[] }> }) =>
  Object.fromEntries(Object.entries(m.ipsets).map(([k, s]) => [k, { type: s.type, family: s.family, entries: [...s.entries].sort() }]));

test('property: memory after a plan equals the simulated kernel, set for set', () => {
  let touched = 0;
  for (let i = 0; i < 200; i++) {
    const g = new Gen(rng(41_000 + i));
    const desired = genDesired(g);
    const observed = genObserved(g, desired);
    const plan = computePlan(desired, observed, { ...GEN_OPTIONS, gracefulTermination: false });
    // Every third ipset op "failed" in the kernel: the memory holds only what was applied.
    const applied = plan.ops.filter((op, k) => !(op.kind.startsWith('ipset-') && k % 3 === 0));
    const appliedIds = new Set(applied.map((o) => o.id));
    const sim = applyOps({ ...emptyNodeState(), ipsets: observed.ipsets, iptables: observed.iptables }, plan.ops.filter((op) => appliedIds.has(op.id)), {});
    const before = memoryFromObserved(observed.ipsets, observed.iptables);
    const snapshot = JSON.stringify(before);
    const after = rememberApplied(before, applied);
    assert.equal(JSON.stringify(before), snapshot, `seed ${41_000 + i}: the starting memory is not modified`);
    assert.deepEqual(sets(after), sets(sim.state), `seed ${41_000 + i}`);
    for (const [name, s] of Object.entries(after.ipsets)) {
      const changed = applied.some((op) => (op.kind === 'ipset-add' || op.kind === 'ipset-del' || op.kind === 'ipset-create') && op.set === name);
      if (!changed) assert.equal(s.entries, before.ipsets[name]!.entries, `seed ${41_000 + i}: ${name} untouched keeps its array`);
      else {
        touched++;
        assert.ok(Object.isFrozen(s.entries));
        assert.deepEqual([...s.entries], [...s.entries].sort(), `${name} stays sorted`);
        // The planner is told the members: they equal what parsing the list gives.
        assert.deepEqual([...normalizedEntries(s.type, 'observed', s.entries).values].sort(), [...s.entries]);
      }
    }
  }
  assert.ok(touched > 100, `the generator must change sets (${touched})`);
});

test('members are kept canonical and in order; an add of a present member and a delete of an absent one change nothing', () => {
  const m0 = memoryFromObserved({ 'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: ['10.96.0.2,tcp:80', '10.96.0.1,80'] } }, { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } });
  assert.deepEqual(m0.ipsets['KUBE-CLUSTER-IP']!.entries, ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80']);
  const applied: Op[] = [ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.15,tcp:80'), ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.1,tcp:80'), ops.ipsetDel('KUBE-CLUSTER-IP', '10.96.0.99,tcp:80')];
  const m1 = rememberApplied(m0, applied);
  assert.deepEqual(m1.ipsets['KUBE-CLUSTER-IP']!.entries, ['10.96.0.1,tcp:80', '10.96.0.15,tcp:80', '10.96.0.2,tcp:80']);
  const m2 = rememberApplied(m1, [ops.ipsetDel('KUBE-CLUSTER-IP', '10.96.0.15,tcp:80'), ops.ipsetCreate('KUBE-NODE-PORT-TCP', 'bitmap:port', 'inet'), ops.ipsetAdd('KUBE-NODE-PORT-TCP', '30080')]);
  assert.deepEqual(m2.ipsets['KUBE-CLUSTER-IP']!.entries, ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80']);
  assert.deepEqual(m2.ipsets['KUBE-NODE-PORT-TCP'], { type: 'bitmap:port', family: 'inet', entries: ['30080'] });
  assert.equal(rememberApplied(m2, []).ipsets, m2.ipsets, 'no ipset op: the same sets object');
});

test('an applied iptables-restore is remembered in the form iptables-save prints', () => {
  const m0 = memoryFromObserved({}, { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } });
  const text = '*filter\n:KUBE-FORWARD - [0:0]\n-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP\nCOMMIT\n';
  const m1 = rememberApplied(m0, [ops.iptablesRestore('ipv4', 'filter', text)]);
  assert.notEqual(m1.iptables.ipv4.filter, '');
  assert.match(m1.iptables.ipv4.filter, /-A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP/);
  assert.equal(m1.iptables.ipv6.filter, '', 'other tables unchanged');
  assert.equal(m0.iptables.ipv4.filter, '', 'the starting memory is not modified');
});
