import { test } from 'node:test';
import assert from 'node:assert/strict';
import { emptyNodeState, type NodeState, type RealServer } from '../../src/model/state.js';
import { computePlan, type Op } from '../../src/plan/index.js';
import { DrainTracker } from '../../src/runtime/drain.js';
import { FakeClock } from '../../src/runtime/runner-clock.js';

const KEY = 'TCP/10.96.0.10:80/10.244.1.5:8080';
const VS = 'TCP/10.96.0.10:80';

function node(realServers: RealServer[], extraVs = false): NodeState {
  const s = emptyNodeState();
  s.addresses['kube-ipvs0'] = ['10.96.0.10', '10.96.0.11'];
  s.ipvs = [{ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers }];
  if (extraVs) s.ipvs.push({ protocol: 'TCP', address: '10.96.0.11', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [] });
  return s;
}
const keep = { address: '10.244.1.6', port: 8080, weight: 1 };
const gone = (weight: number, active = 3): RealServer => ({ address: '10.244.1.5', port: 8080, weight, activeConns: active, inactiveConns: 0 });
const desired = node([keep]);

function setup(periodMs = 30_000) {
  const clock = new FakeClock();
  const tracker = new DrainTracker({ periodMs, clock });
  const plan = (observed: NodeState, extra: object = {}) => computePlan(desired, observed, { ...tracker.planOptions(), ...extra });
  return { clock, tracker, plan };
}

function ops(p: { ops: Op[] }): string[] {
  return p.ops.filter((o) => o.kind === 'del-real-server' || o.kind === 'edit-real-server').map((o) => `${o.id} ${'reason' in o ? o.reason : ''}`);
}

test('a drain started by the plan expires after the period and the next plan deletes it', async () => {
  const { clock, tracker, plan } = setup(30_000);
  const p1 = plan(node([keep, gone(1)]));
  assert.deepEqual(ops(p1), [`edit-real-server ${KEY} drain`]);
  tracker.record(p1.draining);
  assert.equal(tracker.get(KEY)!.deadline - clock.now(), 30_000);
  assert.equal(tracker.nextDeadline()! - clock.now(), 30_000);

  await clock.advance(29_999);
  const p2 = plan(node([keep, gone(0)]));
  assert.deepEqual(ops(p2), [], 'still draining: no op');
  assert.equal(p2.draining[0].started, false);
  tracker.record(p2.draining);
  assert.deepEqual(tracker.expiredDrains(), []);

  await clock.advance(1);
  assert.deepEqual(tracker.expiredDrains(), [KEY]);
  const p3 = plan(node([keep, gone(0)]));
  assert.deepEqual(ops(p3), [`del-real-server ${KEY} drain-expired`]);
  tracker.record(p3.draining);
  assert.equal(tracker.size, 0, 'deleted: forgotten');
});

test('after a restart a real server found at weight 0 gets a fresh deadline, not an instant delete', async () => {
  const { clock, tracker, plan } = setup(30_000);
  const p1 = plan(node([keep, gone(0)]));
  assert.deepEqual(ops(p1), []);
  assert.equal(p1.draining[0].started, false);
  tracker.record(p1.draining);
  assert.equal(tracker.get(KEY)!.deadline - clock.now(), 30_000);
  await clock.advance(10_000);
  tracker.record(plan(node([keep, gone(0)])).draining);
  assert.equal(tracker.get(KEY)!.deadline - clock.now(), 20_000, 'a tracked drain keeps its deadline');
});

test('an endpoint that comes back is undrained and forgotten; a later removal starts a new period', async () => {
  const { clock, tracker, plan } = setup(30_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  await clock.advance(20_000);
  const back = computePlan(node([keep, { address: '10.244.1.5', port: 8080, weight: 1 }]), node([keep, gone(0)]), tracker.planOptions());
  assert.deepEqual(ops(back), [`edit-real-server ${KEY} undrain`]);
  tracker.record(back.draining);
  assert.equal(tracker.size, 0);
  await clock.advance(20_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  assert.equal(tracker.get(KEY)!.deadline - clock.now(), 30_000);
});

test('connections ending before the deadline: deleted by the planner, forgotten here', () => {
  const { tracker, plan } = setup(30_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  const p = plan(node([keep, gone(0, 0)]));
  assert.deepEqual(ops(p), [`del-real-server ${KEY} no-connections`]);
  tracker.record(p.draining);
  assert.equal(tracker.size, 0);
});

test('period 0: no drain at all, the real server is deleted at once', () => {
  const { tracker, plan } = setup(0);
  const p = plan(node([keep, gone(1)]));
  assert.deepEqual(ops(p), [`del-real-server ${KEY} drain-expired`]);
  tracker.record(p.draining);
  assert.equal(tracker.size, 0);
});

test('a failed delete keeps the entry and its original deadline', async () => {
  const { clock, tracker, plan } = setup(30_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  await clock.advance(30_000);
  const p = plan(node([keep, gone(0)]));
  assert.deepEqual(ops(p), [`del-real-server ${KEY} drain-expired`]);
  tracker.record(p.draining, { failedOps: p.ops });
  assert.deepEqual(tracker.expiredDrains(), [KEY], 'still expired: the next plan retries the delete');
  assert.deepEqual(ops(plan(node([keep, gone(0)]))), [`del-real-server ${KEY} drain-expired`]);
});

test('a drain reported as started again (its weight-0 edit failed) restarts its deadline', async () => {
  const { clock, tracker, plan } = setup(30_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  await clock.advance(10_000);
  tracker.record(plan(node([keep, gone(1)])).draining);
  assert.equal(tracker.get(KEY)!.deadline - clock.now(), 30_000);
});

test('scoped plans only forget entries of virtual servers in their scope', () => {
  const { tracker } = setup(30_000);
  tracker.record([
    { key: KEY, service: VS, started: true },
    { key: 'TCP/10.96.0.11:80/10.244.2.2:80', service: 'TCP/10.96.0.11:80', started: true },
  ]);
  tracker.record([], { scope: { virtualServers: ['TCP/10.96.0.11:80'] } });
  assert.deepEqual(
    tracker.list().map((e) => e.key),
    [KEY],
  );
  tracker.record([], { scope: { ipsetEntries: [] } as { virtualServers?: string[] } });
  assert.equal(tracker.size, 1, 'a scope without virtual servers looked at none');
  tracker.record([]);
  assert.equal(tracker.size, 0, 'an unscoped plan saw everything');
});

test('drainExpired answers the planner function form and never throws on unknown keys', async () => {
  const { clock, tracker } = setup(1000);
  tracker.record([{ key: KEY, service: VS, started: true }]);
  assert.equal(tracker.drainExpired(VS, '10.244.1.5:8080'), false);
  await clock.advance(1000);
  assert.equal(tracker.drainExpired(VS, '10.244.1.5:8080'), true);
  assert.equal(tracker.drainExpired('TCP/1.2.3.4:1', 'x'), false);
  assert.equal(tracker.nextDeadline(), undefined);
});
