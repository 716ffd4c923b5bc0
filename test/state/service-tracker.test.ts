import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiService } from '../../src/model/api.js';
import { ServiceChangeTracker } from '../../src/state/index.js';

function svc(name: string, patch: { port?: number; rv?: string; labels?: Record<string, string>; annotations?: Record<string, string>; selector?: Record<string, string>; ingress?: string; conditions?: unknown[]; ns?: string } = {}): ApiService {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: {
      name,
      namespace: patch.ns ?? 'default',
      resourceVersion: patch.rv ?? '1',
      uid: `uid-${name}`,
      labels: patch.labels,
      annotations: patch.annotations,
      ...({ managedFields: [{ manager: 'kubectl', time: `t${patch.rv ?? '1'}` }] } as object),
    },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', protocol: 'TCP', port: patch.port ?? 80 }], selector: patch.selector ?? { app: name } },
    status: { loadBalancer: patch.ingress ? { ingress: [{ ip: patch.ingress }] } : {}, ...(patch.conditions ? { conditions: patch.conditions } : {}) } as ApiService['status'],
  };
}

type Step = ['add' | 'update', ApiService] | ['delete', ApiService | string] | ['sync'];

interface Case {
  name: string;
  steps: Step[];
  pending: string[];
  total: number;
}

const base = svc('a');
const cases: Case[] = [
  { name: 'add is pending', steps: [['add', base]], pending: ['default/a'], total: 1 },
  { name: 'add then delete before a sync cancels out', steps: [['add', base], ['delete', base]], pending: [], total: 2 },
  { name: 'add, sync, delete is pending', steps: [['add', base], ['sync'], ['delete', 'default/a']], pending: ['default/a'], total: 2 },
  { name: 'delete then re-add with the same content cancels out', steps: [['add', base], ['sync'], ['delete', base], ['add', svc('a', { rv: '9' })]], pending: [], total: 3 },
  { name: 'resourceVersion / managedFields only: no change', steps: [['add', base], ['sync'], ['update', svc('a', { rv: '2' })]], pending: [], total: 2 },
  { name: 'update then update back to the synced content: no change', steps: [['add', base], ['sync'], ['update', svc('a', { port: 81, rv: '2' })], ['update', svc('a', { rv: '3' })]], pending: [], total: 3 },
  { name: 'a port change is pending', steps: [['add', base], ['sync'], ['update', svc('a', { port: 81, rv: '2' })]], pending: ['default/a'], total: 2 },
  { name: 'a label change is pending', steps: [['add', base], ['sync'], ['update', svc('a', { labels: { x: 'y' } })]], pending: ['default/a'], total: 2 },
  { name: 'an annotation change is pending (scheduler annotations live there)', steps: [['add', base], ['sync'], ['update', svc('a', { annotations: { 'kube-ipvs.io/scheduler': 'wrr' } })]], pending: ['default/a'], total: 2 },
  { name: 'last-applied-configuration alone: no change', steps: [['add', base], ['sync'], ['update', svc('a', { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{...}' } })]], pending: [], total: 2 },
  { name: 'selector change: no change (endpoints come as slices)', steps: [['add', base], ['sync'], ['update', svc('a', { selector: { app: 'other' } })]], pending: [], total: 2 },
  { name: 'load-balancer ingress change is pending', steps: [['add', base], ['sync'], ['update', svc('a', { ingress: '203.0.113.7' })]], pending: ['default/a'], total: 2 },
  { name: 'status conditions alone: no change', steps: [['add', base], ['sync'], ['update', svc('a', { conditions: [{ type: 'x' }] })]], pending: [], total: 2 },
  { name: 'keys are namespace/name', steps: [['add', svc('a', { ns: 'x' })], ['add', svc('a', { ns: 'y' })], ['add', svc('b', { ns: 'x' })]], pending: ['x/a', 'x/b', 'y/a'], total: 3 },
  { name: 'an object without a name is ignored and not counted', steps: [['add', { metadata: { namespace: 'x' } } as ApiService]], pending: [], total: 0 },
];

for (const c of cases) {
  test(`service tracker: ${c.name}`, () => {
    const t = new ServiceChangeTracker();
    for (const s of c.steps) {
      if (s[0] === 'add' || s[0] === 'update') t.upsert(s[1]);
      else if (s[0] === 'delete') t.remove(s[1]);
      else t.take();
    }
    assert.deepEqual(t.pendingKeys(), c.pending);
    assert.equal(t.pendingCount, c.pending.length);
    assert.equal(t.totalEvents, c.total);
  });
}

test('service tracker: take() hands previous (as synced) and current, then resets', () => {
  const t = new ServiceChangeTracker();
  t.upsert(svc('a'));
  t.upsert(svc('b'));
  const first = t.take();
  assert.deepEqual(
    first.map((c) => [c.key, c.previous, c.current?.metadata?.name]),
    [
      ['default/a', undefined, 'a'],
      ['default/b', undefined, 'b'],
    ],
  );
  assert.equal(t.pendingCount, 0);
  assert.deepEqual(t.take(), []);
  // Two updates before the next sync: previous is still the synced object, current the latest.
  t.upsert(svc('a', { port: 81, rv: '2' }));
  t.upsert(svc('a', { port: 82, rv: '3' }));
  t.remove(svc('b'));
  const second = t.take();
  assert.deepEqual(
    second.map((c) => [c.key, c.previous?.spec?.ports?.[0].port, c.current?.spec?.ports?.[0].port]),
    [
      ['default/a', 80, 82],
      ['default/b', 80, undefined],
    ],
  );
  assert.equal(t.get('default/b'), undefined);
  assert.equal(t.size, 1);
});

test('service tracker: update() returns what kube-proxy uses to decide on Sync()', () => {
  const t = new ServiceChangeTracker();
  const r1 = t.update(undefined, svc('a'));
  assert.deepEqual(r1, { key: 'default/a', ignored: false, changed: true, pending: 1 });
  const r2 = t.update(svc('a'), svc('a', { rv: '2' }));
  assert.deepEqual(r2, { key: 'default/a', ignored: false, changed: false, pending: 1 });
  const r3 = t.update(svc('a'), undefined);
  assert.deepEqual(r3, { key: 'default/a', ignored: false, changed: true, pending: 0 });
  assert.equal(t.update(undefined, undefined).ignored, true);
});

test('service tracker: requeue() after a failed sync restores the changes, merged with newer events', () => {
  const t = new ServiceChangeTracker();
  t.upsert(svc('a'));
  t.take();
  t.upsert(svc('a', { port: 81 }));
  t.upsert(svc('b'));
  const batch = t.take();
  // Meanwhile b is deleted again and a changes once more.
  t.remove('default/b');
  t.upsert(svc('a', { port: 82 }));
  t.requeue(batch);
  // b: synced state is "absent" again and it is absent now: nothing left to do.
  assert.deepEqual(t.pendingKeys(), ['default/a']);
  const again = t.take();
  assert.equal(again[0].previous?.spec?.ports?.[0].port, 80, 'previous is the content the kernel really has');
  assert.equal(again[0].current?.spec?.ports?.[0].port, 82);
});

test('service tracker: a signature that throws makes every event a change instead of breaking', () => {
  const t = new ServiceChangeTracker({
    signature: () => {
      throw new Error('bad');
    },
  });
  t.upsert(svc('a'));
  t.take();
  t.upsert(svc('a'));
  assert.deepEqual(t.pendingKeys(), ['default/a']);
});
