// The planner never throws on odd input (principle 5): malformed objects become diagnostics.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, computePlan, describeOp, opsToSkip, planCleanup, scopeOf, summarizeOps } from '../../src/plan/index.js';
import type { PlanOptions } from '../../src/plan/index.js';
import type { NodeState } from '../../src/model/state.js';
import { Gen, GEN_OPTIONS, genDesired, genObserved, ids, rng, state, vs } from './helpers.js';

const anyState = (x: unknown) => x as NodeState;

test('garbage states and options give an empty plan with diagnostics, not a throw', () => {
  for (const junk of [null, undefined, 42, 'x', [], { ipvs: 'no', addresses: 5, ipsets: [], iptables: { ipv4: 7 } }]) {
    const plan = computePlan(anyState(junk), anyState(junk), junk as PlanOptions);
    assert.deepEqual(plan.ops, []);
    assert.ok(Array.isArray(plan.diagnostics));
    assert.doesNotThrow(() => planCleanup(anyState(junk), junk as PlanOptions));
  }
  assert.deepEqual(opsToSkip(null as never, null as never), []);
  assert.deepEqual(scopeOf(anyState({ ipvs: [{ protocol: 'TCP' }, null] })).virtualServers, []);
});

test('malformed virtual servers and real servers are skipped with a diagnostic, the rest is planned', () => {
  const desired = anyState({
    ipvs: [
      { protocol: 'ICMP', address: '10.96.0.1', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [] },
      { protocol: 'TCP', address: 'not-an-ip', port: 80, realServers: [] },
      { protocol: 'TCP', address: '10.96.0.1', port: 70000, realServers: [] },
      { protocol: 'tcp', address: '10.96.0.2', port: 80, realServers: [{ address: '10.244.0.1', port: 80 }, { address: 'fd01::1', port: 80, weight: 1 }, { address: '10.244.0.2', port: -1, weight: 1 }, { address: '10.244.0.3', port: 80, weight: -5 }] },
    ],
    addresses: { 'kube-ipvs0': ['10.96.0.2', 'bogus'] },
  });
  const plan = computePlan(desired, state());
  assert.deepEqual(ids(plan.ops), ['ensure-link kube-ipvs0', 'add-address kube-ipvs0 10.96.0.2', 'add-service TCP/10.96.0.2:80', 'add-real-server TCP/10.96.0.2:80/10.244.0.1:80']);
  assert.equal(plan.diagnostics.length, 7);
  assert.ok(plan.diagnostics.every((d) => d.kind === 'Plan' && d.message.startsWith('desired: ')));
});

test('duplicate virtual servers resolve the same way whatever their order', () => {
  const a = vs('TCP', '10.96.0.1', 80, [], { scheduler: 'wrr' });
  const b = vs('TCP', '10.96.0.1', 80, [], { scheduler: 'lc' });
  const p1 = computePlan(state({ ipvs: [a, b] }), state());
  const p2 = computePlan(state({ ipvs: [b, a] }), state());
  assert.deepEqual(p1, p2);
  assert.match(p1.diagnostics[0]!.message, /duplicate virtual server/);
});

function corrupt(g: Gen, x: unknown, depth = 0): unknown {
  if (depth > 6) return x;
  if (g.chance(0.03)) return g.pick([null, undefined, 0, -1, 'junk', [], {}, 1e9, NaN, '::ffff:10.0.0.1']);
  if (Array.isArray(x)) return x.map((v) => corrupt(g, v, depth + 1));
  if (x && typeof x === 'object') return Object.fromEntries(Object.entries(x).map(([k, v]) => [k, corrupt(g, v, depth + 1)]));
  return x;
}

test('fuzz: corrupted random states never throw; the plan stays well-formed and applies', () => {
  for (let i = 0; i < 300; i++) {
    const g = new Gen(rng(21000 + i));
    const desired = genDesired(g);
    const observed = genObserved(g, desired);
    const d = anyState(corrupt(g, desired));
    const o = anyState(corrupt(g, observed));
    const plan = computePlan(d, o, GEN_OPTIONS);
    const seen = new Set<string>();
    for (const op of plan.ops) {
      assert.ok(!seen.has(op.id), `seed ${21000 + i}: duplicate ${op.id}`);
      for (const dep of op.dependsOn) assert.ok(seen.has(dep));
      seen.add(op.id);
      assert.equal(typeof describeOp(op), 'string');
    }
    assert.equal(typeof summarizeOps(plan.ops), 'string');
    assert.deepEqual(computePlan(d, o, GEN_OPTIONS), plan, 'deterministic on odd input too');
    const r = applyOps(o, plan.ops);
    assert.ok(Array.isArray(r.failed));
  }
});
