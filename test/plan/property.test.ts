// Property tests over seeded random (desired, observed) pairs: the plan converges, is empty when there is
// nothing to do, is deterministic and blind to input order, respects ownership and scope.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, computePlan, opsToSkip, ownershipOf, scopeOf } from '../../src/plan/index.js';
import type { Op, PlanOptions, PlanScope } from '../../src/plan/index.js';
import { virtualServerKey } from '../../src/model/state.js';
import { convergenceProblems, Gen, GEN_OPTIONS, genDesired, genObserved, rng, shuffled } from './helpers.js';

const RUNS = 250;

function* pairs(base: number) {
  for (let i = 0; i < RUNS; i++) {
    const g = new Gen(rng(base + i));
    const desired = genDesired(g);
    const observed = genObserved(g, desired);
    yield { seed: base + i, g, desired, observed };
  }
}

const PHASE: Record<string, number> = {
  'ensure-link': 0, 'ipset-create': 1, 'ipset-add': 2, 'iptables-restore': 3, 'ensure-jump-rules': 4, 'add-address': 5,
  'add-service': 6, 'edit-service': 6, 'add-real-server': 7, 'del-real-server': 8, 'del-service': 9, 'del-address': 10, 'ipset-del': 11,
};
function phaseOf(op: Op): number {
  if (op.kind === 'edit-real-server') return op.reason === 'drain' ? 8 : 7;
  return PHASE[op.kind]!;
}

test('property: applying plan(d, o) to o gives d on everything kube-ipvs owns, and a second plan is empty (graceful off)', () => {
  const options: PlanOptions = { ...GEN_OPTIONS, gracefulTermination: false };
  let nonEmpty = 0;
  for (const { seed, desired, observed } of pairs(1000)) {
    const plan = computePlan(desired, observed, options);
    if (plan.ops.length) nonEmpty++;
    const r = applyOps(observed, plan.ops);
    assert.deepEqual(r.errors, [], `seed ${seed}`);
    assert.deepEqual(convergenceProblems(desired, observed, r.state, options), [], `seed ${seed}`);
    assert.deepEqual(computePlan(desired, r.state, options).ops, [], `seed ${seed}: second plan`);
  }
  assert.ok(nonEmpty > RUNS * 0.8, `the generator must produce work (${nonEmpty}/${RUNS})`);
});

test('property: with graceful termination the only leftovers are draining TCP real servers, and re-planning is quiet', () => {
  const options: PlanOptions = { ...GEN_OPTIONS, gracefulTermination: true };
  let drains = 0;
  for (const { seed, desired, observed } of pairs(5000)) {
    const plan = computePlan(desired, observed, options);
    drains += plan.draining.length;
    const r = applyOps(observed, plan.ops);
    assert.deepEqual(r.errors, [], `seed ${seed}`);
    assert.deepEqual(convergenceProblems(desired, observed, r.state, options, true), [], `seed ${seed}`);
    const again = computePlan(desired, r.state, options);
    assert.deepEqual(again.ops, [], `seed ${seed}: second plan`);
    assert.deepEqual(again.draining.map((x) => x.key), plan.draining.map((x) => x.key), `seed ${seed}: still draining`);
    assert.ok(again.draining.every((x) => !x.started));
  }
  assert.ok(drains > 20, `the generator must produce drains (${drains})`);
});

test('property: once every drain expires, the plan deletes them and converges exactly', () => {
  const options: PlanOptions = { ...GEN_OPTIONS, gracefulTermination: true };
  for (const { seed, desired, observed } of pairs(7000)) {
    const first = applyOps(observed, computePlan(desired, observed, options).ops).state;
    const expire = { ...options, drainExpired: () => true };
    const r = applyOps(first, computePlan(desired, first, expire).ops);
    assert.deepEqual(convergenceProblems(desired, first, r.state, options), [], `seed ${seed}`);
  }
});

test('property: plan(d, d) is empty whatever the options', () => {
  const variants: PlanOptions[] = [{}, GEN_OPTIONS, { ...GEN_OPTIONS, gracefulTermination: false }, { ...GEN_OPTIONS, initialSync: true }, { prune: false }];
  for (const { seed, desired } of pairs(9000)) {
    for (const v of variants) assert.deepEqual(computePlan(desired, desired, v), { ops: [], draining: [], diagnostics: [] }, `seed ${seed} ${JSON.stringify(v)}`);
  }
});

test('property: the plan is deterministic and does not depend on input order', () => {
  for (const { seed, g, desired, observed } of pairs(11000)) {
    const a = computePlan(desired, observed, GEN_OPTIONS);
    assert.deepEqual(computePlan(desired, observed, GEN_OPTIONS), a, `seed ${seed}: same input`);
    assert.deepEqual(computePlan(shuffled(g, desired), shuffled(g, observed), GEN_OPTIONS), a, `seed ${seed}: shuffled input`);
  }
});

test('property: ids are unique, dependencies point backwards, kinds come in phase order', () => {
  for (const { seed, desired, observed } of pairs(13000)) {
    const { ops } = computePlan(desired, observed, GEN_OPTIONS);
    const seen = new Set<string>();
    let phase = -1;
    for (const op of ops) {
      assert.ok(!seen.has(op.id), `seed ${seed}: duplicate ${op.id}`);
      for (const d of op.dependsOn) assert.ok(seen.has(d), `seed ${seed}: ${op.id} -> ${d}`);
      assert.ok(phaseOf(op) >= phase, `seed ${seed}: ${op.id} out of phase`);
      phase = phaseOf(op);
      seen.add(op.id);
    }
  }
});

test('property: nothing kube-ipvs does not own is ever deleted or changed', () => {
  for (const { seed, desired, observed } of pairs(15000)) {
    const own = ownershipOf(observed, GEN_OPTIONS, desired);
    const desiredKeys = new Set(desired.ipvs.map(virtualServerKey));
    for (const op of computePlan(desired, observed, GEN_OPTIONS).ops) {
      const where = `seed ${seed}: ${op.id}`;
      if (op.kind === 'del-service') assert.ok(own.ownsVirtualServerAddress(op.service.address), where);
      if (op.kind === 'del-real-server' || op.kind === 'edit-real-server' || op.kind === 'edit-service') assert.ok(desiredKeys.has(virtualServerKey(op.service)), where);
      if (op.kind === 'del-address') assert.ok(!own.isProtectedAddress(op.address), where);
      if (op.kind === 'ipset-del' || op.kind === 'ipset-add' || op.kind === 'ipset-create') assert.ok(op.set.startsWith('KUBE-'), where);
      assert.notEqual(op.kind, 'ipset-destroy', where);
    }
  }
});

test('property: after random failures, re-planning from what is left converges (ops are idempotent)', () => {
  const options: PlanOptions = { ...GEN_OPTIONS, gracefulTermination: false };
  for (const { seed, g, desired, observed } of pairs(17000)) {
    const plan = computePlan(desired, observed, options);
    const failing = new Set(plan.ops.filter(() => g.chance(0.15)).map((o) => o.id));
    const partial = applyOps(observed, plan.ops, { fail: failing });
    assert.deepEqual(partial.skipped, opsToSkip(plan.ops, partial.failed).map((o) => o.id), `seed ${seed}`);
    const healed = applyOps(partial.state, computePlan(desired, partial.state, options).ops);
    assert.deepEqual(healed.errors, [], `seed ${seed}`);
    // Ownership evidence is kept when a delete fails, so nothing of ours leaks: converge as from scratch.
    assert.deepEqual(convergenceProblems(desired, observed, healed.state, options), [], `seed ${seed}`);
  }
});

function opScopeKey(op: Op): string | undefined {
  switch (op.kind) {
    case 'add-service': case 'edit-service': case 'del-service': case 'add-real-server': case 'edit-real-server': case 'del-real-server':
      return `vs ${virtualServerKey(op.service)}`;
    case 'add-address': case 'del-address':
      return `addr ${op.address}`;
    case 'ipset-add': case 'ipset-del':
      return `entry ${op.set} ${op.entry}`;
    default:
      return undefined;
  }
}
const withoutDeps = (op: Op) => ({ ...op, dependsOn: [] });

test('property: a scoped plan is the full plan restricted to the scope', () => {
  for (const { seed, g, desired, observed } of pairs(19000)) {
    const full = computePlan(desired, observed, GEN_OPTIONS);
    assert.deepEqual(computePlan(desired, observed, { ...GEN_OPTIONS, scope: scopeOf(desired, observed) }), full, `seed ${seed}: whole scope`);

    const everything = scopeOf(desired, observed);
    const scope: PlanScope = {
      virtualServers: g.subset([...everything.virtualServers!], 0.4),
      addresses: g.subset([...everything.addresses!], 0.4),
      ipsetEntries: g.subset([...everything.ipsetEntries!], 0.4),
    };
    const keys = new Set([
      ...[...scope.virtualServers!].map((k) => `vs ${k}`),
      ...[...scope.addresses!].map((a) => `addr ${a}`),
      ...[...scope.ipsetEntries!].map((e) => `entry ${e}`),
    ]);
    const part = computePlan(desired, observed, { ...GEN_OPTIONS, scope });
    const restricted = full.ops.filter((op) => {
      const k = opScopeKey(op);
      return k === undefined ? op.kind !== 'ensure-link' : keys.has(k);
    });
    const partOps = part.ops.filter((op) => op.kind !== 'ensure-link');
    assert.deepEqual(partOps.map(withoutDeps), restricted.map(withoutDeps), `seed ${seed}: restricted`);
    assert.equal(part.ops.some((op) => op.kind === 'ensure-link'), part.ops.some((op) => op.kind === 'add-address'), `seed ${seed}: link`);
    const partIds = new Set(part.ops.map((o) => o.id));
    for (const op of part.ops) for (const d of op.dependsOn) assert.ok(partIds.has(d), `seed ${seed}: ${op.id} -> ${d}`);
  }
});
