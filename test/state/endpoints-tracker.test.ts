import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice } from '../../src/model/api.js';
import { EndpointSliceChangeTracker, LAST_CHANGE_TRIGGER_TIME } from '../../src/state/index.js';
import { FakeClock } from '../../src/runtime/runner-clock.js';

const T0 = Date.UTC(2025, 0, 1);

interface SliceOpts {
  svc?: string | null;
  ips?: string[];
  ready?: boolean;
  rv?: string;
  proto?: string;
  addressType?: string;
  trigger?: number;
  pod?: string;
  ns?: string;
}

function slice(name: string, o: SliceOpts = {}): ApiEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: {
      name,
      namespace: o.ns ?? 'default',
      resourceVersion: o.rv ?? '1',
      labels: o.svc === null ? { other: 'x' } : { 'kubernetes.io/service-name': o.svc ?? 'web' },
      annotations: o.trigger !== undefined ? { [LAST_CHANGE_TRIGGER_TIME]: new Date(o.trigger).toISOString() } : undefined,
    },
    addressType: o.addressType ?? 'IPv4',
    ports: [{ name: 'http', protocol: o.proto ?? 'TCP', port: 8080 }],
    endpoints: (o.ips ?? ['10.244.1.5']).map((ip) => ({
      addresses: [ip],
      conditions: { ready: o.ready ?? true },
      nodeName: 'node-1',
      targetRef: { kind: 'Pod', name: o.pod ?? 'pod-1', uid: `uid-${o.pod ?? 'pod-1'}` },
    })),
  };
}

type Step = ['upsert', ApiEndpointSlice] | ['remove', ApiEndpointSlice | string] | ['sync'];
interface Case {
  name: string;
  steps: Step[];
  pending: string[];
  total: number;
}

const a = slice('web-abc');
const cases: Case[] = [
  { name: 'a new slice makes its Service pending', steps: [['upsert', a]], pending: ['default/web'], total: 1 },
  { name: 'two slices of one Service: one pending Service', steps: [['upsert', a], ['upsert', slice('web-def', { ips: ['10.244.2.2'] })]], pending: ['default/web'], total: 2 },
  { name: 'add then delete before a sync cancels out', steps: [['upsert', a], ['remove', a]], pending: [], total: 2 },
  { name: 'update and update back cancels out', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { ready: false, rv: '2' })], ['upsert', slice('web-abc', { rv: '3' })]], pending: [], total: 3 },
  { name: 'readiness change is pending', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { ready: false, rv: '2' })]], pending: ['default/web'], total: 2 },
  { name: 'resourceVersion and pod reference only: no change', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { rv: '2', pod: 'pod-2' })]], pending: [], total: 2 },
  { name: 'trigger-time annotation alone: no change', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { rv: '2', trigger: T0 + 5 })]], pending: [], total: 2 },
  { name: 'deleting a synced slice is pending', steps: [['upsert', a], ['sync'], ['remove', 'default/web-abc']], pending: ['default/web'], total: 2 },
  { name: 'a slice moving to another Service makes both pending', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { svc: 'api' })]], pending: ['default/api', 'default/web'], total: 2 },
  { name: 'moving away and back before a sync cancels out', steps: [['upsert', a], ['sync'], ['upsert', slice('web-abc', { svc: 'api' })], ['upsert', slice('web-abc')]], pending: [], total: 3 },
  { name: 'FQDN slices are ignored and not counted (kube-proxy)', steps: [['upsert', slice('f', { addressType: 'FQDN' })], ['remove', slice('f', { addressType: 'FQDN' })]], pending: [], total: 0 },
  { name: 'a slice without the service-name label belongs to no Service', steps: [['upsert', slice('orphan', { svc: null })]], pending: [], total: 1 },
  { name: 'same slice name in two namespaces: two Services', steps: [['upsert', slice('s', { ns: 'x' })], ['upsert', slice('s', { ns: 'y' })]], pending: ['x/web', 'y/web'], total: 2 },
];

for (const c of cases) {
  test(`endpoints tracker: ${c.name}`, () => {
    const t = new EndpointSliceChangeTracker();
    for (const s of c.steps) {
      if (s[0] === 'upsert') t.upsert(s[1]);
      else if (s[0] === 'remove') t.remove(s[1]);
      else t.take();
    }
    assert.deepEqual(t.pendingKeys(), c.pending);
    assert.equal(t.pendingCount, c.pending.length);
    assert.equal(t.totalEvents, c.total);
  });
}

test('endpoints tracker: take() gives each Service its slices as synced and now, and every changed slice once', () => {
  const t = new EndpointSliceChangeTracker();
  t.upsert(slice('web-1'));
  t.upsert(slice('web-2', { ips: ['10.244.2.2'] }));
  t.upsert(slice('orphan', { svc: null }));
  const first = t.take();
  assert.deepEqual(
    first.services.map((s) => [s.service, s.previous.length, s.current.map((x) => x.metadata?.name)]),
    [['default/web', 0, ['web-1', 'web-2']]],
  );
  assert.deepEqual(
    first.slices.map((s) => s.key),
    ['default/orphan', 'default/web-1', 'default/web-2'],
  );
  // Move web-2 to api.
  t.upsert(slice('web-2', { ips: ['10.244.2.2'], svc: 'api' }));
  const second = t.take();
  assert.deepEqual(
    second.services.map((s) => [s.service, s.previous.map((x) => x.metadata?.name), s.current.map((x) => x.metadata?.name)]),
    [
      ['default/api', [], ['web-2']],
      ['default/web', ['web-1', 'web-2'], ['web-1']],
    ],
  );
  assert.deepEqual(
    second.slices.map((s) => [s.key, s.previous?.metadata?.labels?.['kubernetes.io/service-name'], s.current?.metadata?.labels?.['kubernetes.io/service-name']]),
    [['default/web-2', 'web', 'api']],
  );
  assert.deepEqual(t.slicesFor('default/api').map((s) => s.metadata?.name), ['web-2']);
  assert.equal(t.pendingCount, 0);
});

test('endpoints tracker: udp flag covers previous and current slices', () => {
  const t = new EndpointSliceChangeTracker();
  t.upsert(slice('dns-1', { svc: 'dns', proto: 'UDP' }));
  t.upsert(slice('web-1'));
  t.take();
  t.remove('default/dns-1');
  t.upsert(slice('web-1', { ips: ['10.244.9.9'] }));
  const taken = t.take();
  assert.deepEqual(
    taken.services.map((s) => [s.service, s.udp]),
    [
      ['default/dns', true],
      ['default/web', false],
    ],
  );
});

test('endpoints tracker: trigger times of changes after start; deletions and cancelled changes drop them', () => {
  const clock = new FakeClock(T0);
  const t = new EndpointSliceChangeTracker({ clock });
  t.upsert(slice('web-1', { trigger: T0 - 1000 })); // before the tracker started: not measured
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 10 }));
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 20, ips: ['10.244.3.3'] }));
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 30, ips: ['10.244.3.3'], rv: '5' })); // no content change: not measured
  let taken = t.take();
  assert.deepEqual(
    taken.services.map((s) => [s.service, s.triggerTimes.map((x) => x - T0)]),
    [
      ['default/api', [10, 20]],
      ['default/web', []],
    ],
  );
  // Deleted slice: its trigger times go.
  t.upsert(slice('web-1', { trigger: T0 + 50, ips: ['10.244.5.5'] }));
  t.remove('default/web-1');
  // Cancelled: change and change back.
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 60, ips: ['10.244.4.4'] }));
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 70, ips: ['10.244.3.3'] }));
  taken = t.take();
  assert.deepEqual(
    taken.services.map((s) => [s.service, s.triggerTimes]),
    [['default/web', []]],
  );
  t.upsert(slice('api-1', { svc: 'api', trigger: T0 + 80, ips: ['10.244.8.8'] }));
  assert.deepEqual(t.take().services[0].triggerTimes.map((x) => x - T0), [80], 'cancelled times do not leak into later syncs');
});

test('endpoints tracker: requeue() after a failed sync restores pending Services and trigger times', () => {
  const clock = new FakeClock(T0);
  const t = new EndpointSliceChangeTracker({ clock });
  t.upsert(slice('web-1'));
  t.take();
  t.upsert(slice('web-1', { svc: 'api', trigger: T0 + 5 }));
  const batch = t.take();
  assert.equal(t.pendingCount, 0);
  t.requeue(batch);
  assert.deepEqual(t.pendingKeys(), ['default/api', 'default/web']);
  const again = t.take();
  assert.deepEqual(
    again.services.map((s) => [s.service, s.previous.length, s.current.length, s.triggerTimes.map((x) => x - T0)]),
    [
      ['default/api', 0, 1, [5]],
      ['default/web', 1, 0, []],
    ],
  );
  // A requeue of a change that was undone meanwhile leaves nothing pending.
  t.upsert(slice('web-1', { svc: 'web', ips: ['10.244.7.7'] }));
  const b2 = t.take();
  t.upsert(slice('web-1', { svc: 'api' }));
  t.requeue(b2);
  assert.deepEqual(t.pendingKeys(), []);
});
