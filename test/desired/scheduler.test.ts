// Per-Service schedulers (beyond kube-proxy): kube-ipvs.io/scheduler(-flags) and kube-router's annotations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compute, diags, svc } from './helpers.js';

function sched(annotations: Record<string, string>, o: Parameters<typeof svc>[1] = {}) {
  const st = compute([svc('s', { annotations, ...o }), svc('other', { clusterIP: '10.96.0.99' })], []);
  const v = st.ipvs.find((x) => x.service?.startsWith('default/s'))!;
  const other = st.ipvs.find((x) => x.service?.startsWith('default/other'))!;
  return { scheduler: v.scheduler, flags: v.flags, diags: diags(st), other: [other.scheduler, other.flags] };
}

test('kube-ipvs.io/scheduler overrides the global scheduler for that Service only', () => {
  const r = sched({ 'kube-ipvs.io/scheduler': 'lc' });
  assert.deepEqual([r.scheduler, r.flags, r.diags], ['lc', 0, []]);
  assert.deepEqual(r.other, ['rr', 0]);
  for (const s of ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'twos']) {
    assert.deepEqual([sched({ 'kube-ipvs.io/scheduler': s }).scheduler, sched({ 'kube-ipvs.io/scheduler': s }).flags], [s, 0], s);
  }
  assert.equal(sched({ 'kube-ipvs.io/scheduler': ' WLC ' }).scheduler, 'wlc', 'trimmed, case-insensitive');
});

test('scheduler flags: flag-1 0x08, flag-2 0x10, flag-3 0x20; mh without flags gets 0x10 like kube-proxy; "" = none', () => {
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'mh' }).flags, 0x10);
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'mh', 'kube-ipvs.io/scheduler-flags': 'flag-1' }).flags, 0x08);
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'mh', 'kube-ipvs.io/scheduler-flags': 'flag-1, flag-2' }).flags, 0x18);
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'mh', 'kube-ipvs.io/scheduler-flags': '' }).flags, 0);
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'sh', 'kube-ipvs.io/scheduler-flags': 'flag-2' }).flags, 0x10);
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'sh', 'kube-ipvs.io/scheduler-flags': 'flag-1,flag-2,flag-3' }).flags, 0x38);
  // With ClientIP affinity the persistent bit is added.
  assert.equal(sched({ 'kube-ipvs.io/scheduler': 'mh' }, { sessionAffinity: 'ClientIP' }).flags, 0x11);
});

test('kube-router annotations are honoured so kube-router users migrate unchanged; kube-ipvs\'s own win', () => {
  const kr = sched({ 'kube-router.io/service.scheduler': 'mh', 'kube-router.io/service.schedflags': 'flag-1,flag-2' });
  assert.deepEqual([kr.scheduler, kr.flags, kr.diags], ['mh', 0x18, []]);
  assert.deepEqual([sched({ 'kube-router.io/service.scheduler': 'dh' }).scheduler, sched({ 'kube-router.io/service.scheduler': 'dh' }).flags], ['dh', 0]);
  const both = sched({ 'kube-ipvs.io/scheduler': 'sh', 'kube-router.io/service.scheduler': 'lc', 'kube-router.io/service.schedflags': 'flag-2' });
  assert.deepEqual([both.scheduler, both.flags], ['sh', 0x10], 'kube-ipvs scheduler, kube-router flags');
  const mixed = sched({ 'kube-router.io/service.scheduler': 'sh', 'kube-ipvs.io/scheduler-flags': 'flag-1', 'kube-router.io/service.schedflags': 'flag-2' });
  assert.deepEqual([mixed.scheduler, mixed.flags], ['sh', 0x08], 'kube-ipvs flags win');
});

test('unknown scheduler or flag: a diagnostic naming Service, annotation and value, and the global scheduler', () => {
  const bad = sched({ 'kube-ipvs.io/scheduler': 'fastest' });
  assert.deepEqual([bad.scheduler, bad.flags], ['rr', 0]);
  assert.equal(bad.diags.length, 1);
  assert.match(bad.diags[0]!, /^default\/s: annotation kube-ipvs\.io\/scheduler="fastest": unknown IPVS scheduler/);
  assert.match(bad.diags[0]!, /using the global scheduler/);

  const badFlag = sched({ 'kube-router.io/service.scheduler': 'mh', 'kube-router.io/service.schedflags': 'flag-1,flag-9' });
  assert.deepEqual([badFlag.scheduler, badFlag.flags], ['rr', 0]);
  assert.match(badFlag.diags[0]!, /^default\/s: annotation kube-router\.io\/service\.schedflags="flag-1,flag-9": unknown scheduler flag "flag-9"/);

  const flagsOnly = sched({ 'kube-ipvs.io/scheduler-flags': 'flag-1' });
  assert.deepEqual([flagsOnly.scheduler, flagsOnly.flags], ['rr', 0]);
  assert.match(flagsOnly.diags[0]!, /kube-ipvs\.io\/scheduler-flags="flag-1" ignored: it needs a scheduler annotation/);

  const rrFlags = sched({ 'kube-ipvs.io/scheduler': 'wrr', 'kube-ipvs.io/scheduler-flags': 'flag-2' });
  assert.deepEqual([rrFlags.scheduler, rrFlags.flags], ['wrr', 0]);
  assert.match(rrFlags.diags[0]!, /ignored: scheduler wrr has no flags \(only sh and mh use them\)/);
});

test('a per-Service scheduler applies to every virtual server of the Service (cluster IP, external, LB, node ports)', () => {
  const st = compute(
    [
      svc('s', {
        type: 'LoadBalancer',
        annotations: { 'kube-ipvs.io/scheduler': 'sh', 'kube-ipvs.io/scheduler-flags': 'flag-1' },
        externalIPs: ['198.51.100.1'],
        ports: [{ name: 'h', protocol: 'TCP', port: 80, nodePort: 30080 }],
        ingress: [{ ip: '203.0.113.7' }],
      }),
    ],
    [],
  );
  assert.equal(st.ipvs.length, 4);
  assert.ok(st.ipvs.every((v) => v.scheduler === 'sh' && v.flags === 0x08));
});
