// The trackers keep a fixed-size digest of each object's signature instead of the signature string: changes that
// cancel out are still dropped, real changes (however deep inside a big object) are still seen. Also the
// one-string-per-group index behind the endpoints tracker.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiEndpointSlice } from '../../src/model/api.js';
import { EndpointSliceChangeTracker, endpointSliceSignature } from '../../src/state/index.js';
import { GroupIndex } from '../../src/state/key-index.js';
import { ObjectTracker } from '../../src/state/object-tracker.js';
import { contentDigest } from '../../src/state/signature.js';

/** A slice with `n` endpoints; `swap` replaces the address of endpoint `swap.at`. */
function bigSlice(n: number, o: { rv?: string; swap?: { at: number; ip: string }; pod?: string } = {}): ApiEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'web-1', namespace: 'default', resourceVersion: o.rv ?? '1', labels: { 'kubernetes.io/service-name': 'web' } },
    addressType: 'IPv4',
    ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
    endpoints: Array.from({ length: n }, (_, i) => ({
      addresses: [o.swap?.at === i ? o.swap.ip : `10.244.${i >> 8}.${i & 255}`],
      conditions: { ready: true },
      nodeName: `node-${i % 7}`,
      targetRef: { kind: 'Pod', name: `${o.pod ?? 'pod'}-${i}` },
    })),
  };
}

test('contentDigest: 24 characters whatever the input, equal for equal input, different for a one-character change', () => {
  const long = 'x'.repeat(100_000);
  for (const s of ['', 'a', long, `${long}y`]) assert.equal(contentDigest(s).length, 24);
  assert.equal(contentDigest(long), contentDigest('x'.repeat(100_000)));
  const seen = new Set<string>();
  const inputs = ['', 'a', 'b', 'ab', 'ba', long, `${long}y`, `y${long}`, '{"ready":true}', '{"ready":false}'];
  for (const s of inputs) seen.add(contentDigest(s));
  assert.equal(seen.size, inputs.length);
});

test('a tracker keeps a fixed-size digest, not the signature (which grows with the object)', () => {
  const t = new ObjectTracker<ApiEndpointSlice>(endpointSliceSignature);
  const s = bigSlice(1000);
  assert.ok(endpointSliceSignature(s).length > 50_000);
  t.set('default/web-1', s);
  assert.equal(t.entry('default/web-1')!.sig.length, 24);
  t.commit(t.pending());
  assert.equal(t.syncedEntry('default/web-1')!.sig.length, 24);
});

test('hashed signatures: one address deep inside a 1000-endpoint slice is a change, and changing it back cancels out', () => {
  const t = new EndpointSliceChangeTracker();
  t.upsert(bigSlice(1000));
  t.take();
  assert.equal(t.upsert(bigSlice(1000, { rv: '2', swap: { at: 777, ip: '10.250.0.1' } })).changed, true);
  assert.deepEqual(t.pendingKeys(), ['default/web']);
  assert.equal(t.upsert(bigSlice(1000, { rv: '3' })).changed, true);
  assert.deepEqual(t.pendingKeys(), [], 'back to the synced content: nothing pending');
  // Bookkeeping and pod references only: the same digest.
  assert.equal(t.upsert(bigSlice(1000, { rv: '4', pod: 'other' })).changed, false);
  assert.deepEqual(t.pendingKeys(), []);
  // A real change taken, then put back by a failed sync, is pending again.
  t.upsert(bigSlice(1000, { rv: '5', swap: { at: 0, ip: '10.250.0.2' } }));
  const batch = t.take();
  assert.equal(batch.slices.length, 1);
  assert.deepEqual(t.pendingKeys(), []);
  t.requeue(batch);
  assert.deepEqual(t.pendingKeys(), ['default/web']);
});

test('GroupIndex: one member is a string, more a set, and back', () => {
  const g = new GroupIndex();
  assert.deepEqual(g.members('ns/web'), []);
  g.add('ns/web', 'ns/web-1');
  g.add('ns/web', 'ns/web-1');
  assert.deepEqual(g.members('ns/web'), ['ns/web-1']);
  g.add('ns/web', 'ns/web-2');
  g.add('ns/web', 'ns/web-3');
  assert.deepEqual(g.members('ns/web').sort(), ['ns/web-1', 'ns/web-2', 'ns/web-3']);
  g.remove('ns/web', 'ns/web-2');
  g.remove('ns/web', 'ns/web-1');
  assert.deepEqual(g.members('ns/web'), ['ns/web-3']);
  g.remove('ns/web', 'ns/other');
  assert.deepEqual(g.members('ns/web'), ['ns/web-3'], 'removing a non-member changes nothing');
  g.add(undefined, 'ns/x');
  g.remove(undefined, 'ns/x');
  g.add('ns/api', 'ns/api-1');
  assert.equal(g.size, 2);
  g.remove('ns/web', 'ns/web-3');
  assert.deepEqual(g.members('ns/web'), []);
  assert.equal(g.size, 1);
});

test('endpoints tracker: Services with several slices that move between Services stay exact', () => {
  const sl = (name: string, svc: string, ip: string): ApiEndpointSlice => ({
    metadata: { name, namespace: 'd', labels: { 'kubernetes.io/service-name': svc } },
    addressType: 'IPv4',
    ports: [{ port: 80 }],
    endpoints: [{ addresses: [ip] }],
  });
  const t = new EndpointSliceChangeTracker();
  t.upsert(sl('a-1', 'a', '10.0.0.1'));
  t.upsert(sl('a-2', 'a', '10.0.0.2'));
  t.upsert(sl('a-3', 'a', '10.0.0.3'));
  t.take();
  assert.deepEqual(t.slicesFor('d/a').map((s) => s.metadata!.name), ['a-1', 'a-2', 'a-3']);
  t.upsert(sl('a-2', 'b', '10.0.0.2'));
  assert.deepEqual(t.pendingKeys(), ['d/a', 'd/b']);
  const batch = t.take();
  const a = batch.services.find((s) => s.service === 'd/a')!;
  assert.deepEqual(a.previous.map((s) => s.metadata!.name), ['a-1', 'a-2', 'a-3']);
  assert.deepEqual(a.current.map((s) => s.metadata!.name), ['a-1', 'a-3']);
  assert.deepEqual(batch.services.find((s) => s.service === 'd/b')!.current.map((s) => s.metadata!.name), ['a-2']);
  t.remove('d/a-1');
  t.remove('d/a-3');
  t.upsert(sl('a-2', 'a', '10.0.0.2'));
  assert.deepEqual(t.slicesFor('d/a').map((s) => s.metadata!.name), ['a-2']);
  assert.deepEqual(t.slicesFor('d/b'), []);
  assert.deepEqual(t.pendingKeys(), ['d/a', 'd/b']);
});
