// The embedded API server over raw HTTP: the protocol details client-node and kube-ipvs rely on.

import assert from 'node:assert/strict';
import * as net from 'node:net';
import { after, before, describe, it } from 'node:test';
import type { EmbeddedApiServer } from '../../src/k8s/apiserver/index.js';
import { endpointSlice, HEADLESS, node, PROXY_NAME, RawWatch, request, service, startServer } from './helpers.js';

const PROXY_SELECTOR = encodeURIComponent(`!${HEADLESS},!${PROXY_NAME}`);

describe('embedded apiserver: reads', () => {
  let server: EmbeddedApiServer;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ server, cleanup } = await startServer());
    server.store.apply(service('web', { clusterIP: '10.96.0.20' }));
    server.store.apply(service('dns', { namespace: 'kube-system', clusterIP: '10.96.0.10' }));
    server.store.apply(service('headless', { labels: { [HEADLESS]: '' } }));
    server.store.apply(service('other-proxy', { labels: { [PROXY_NAME]: 'cilium' } }));
    server.store.apply(endpointSlice('web-abc', 'web', ['10.244.1.5']));
    server.store.apply(endpointSlice('web-hl', 'headless', ['10.244.1.6'], { labels: { [HEADLESS]: '' } }));
    server.store.apply(node('node-a'));
    server.store.apply(node('node-b'));
  });
  after(() => cleanup());

  it('lists with the list kind, the current resourceVersion, and items without apiVersion/kind', async () => {
    const r = await request(server, 'GET', '/api/v1/services');
    assert.equal(r.status, 200);
    assert.equal(r.body.kind, 'ServiceList');
    assert.equal(r.body.apiVersion, 'v1');
    assert.equal(r.body.metadata.resourceVersion, String(server.store.resourceVersion));
    assert.deepEqual(
      r.body.items.map((i: any) => `${i.metadata.namespace}/${i.metadata.name}`),
      ['default/headless', 'default/other-proxy', 'default/web', 'kube-system/dns'],
    );
    assert.equal(r.body.items[0].kind, undefined);
    assert.equal(r.body.items[0].apiVersion, undefined);
  });

  it("applies kube-proxy's label selector to Services and EndpointSlices", async () => {
    const svcs = await request(server, 'GET', `/api/v1/services?labelSelector=${PROXY_SELECTOR}`);
    assert.deepEqual(svcs.body.items.map((i: any) => i.metadata.name).sort(), ['dns', 'web']);
    const slices = await request(server, 'GET', `/apis/discovery.k8s.io/v1/endpointslices?labelSelector=${PROXY_SELECTOR}`);
    assert.equal(slices.body.kind, 'EndpointSliceList');
    assert.deepEqual(slices.body.items.map((i: any) => i.metadata.name), ['web-abc']);
  });

  it('supports =, !=, in, notin and exists label requirements', async () => {
    const names = async (sel: string) =>
      (await request(server, 'GET', `/api/v1/services?labelSelector=${encodeURIComponent(sel)}`)).body.items.map((i: any) => i.metadata.name).sort();
    assert.deepEqual(await names(`${PROXY_NAME}=cilium`), ['other-proxy']);
    assert.deepEqual(await names(`${PROXY_NAME}!=cilium`), ['dns', 'headless', 'web']);
    assert.deepEqual(await names(`${PROXY_NAME} in (cilium, kube-router)`), ['other-proxy']);
    assert.deepEqual(await names(`${PROXY_NAME} notin (cilium)`), ['dns', 'headless', 'web']);
    assert.deepEqual(await names(HEADLESS), ['headless']);
  });

  it('answers 400 for a malformed selector or an unsupported field label', async () => {
    const bad = await request(server, 'GET', `/api/v1/services?labelSelector=${encodeURIComponent('a in (b')}`);
    assert.equal(bad.status, 400);
    assert.equal(bad.body.kind, 'Status');
    assert.equal(bad.body.reason, 'BadRequest');
    const field = await request(server, 'GET', '/api/v1/nodes?fieldSelector=spec.podCIDR%3Dx');
    assert.equal(field.status, 400);
    assert.match(field.body.message, /field label not supported: spec.podCIDR/);
  });

  it('filters by field selector metadata.name and metadata.namespace', async () => {
    const nodes = await request(server, 'GET', '/api/v1/nodes?fieldSelector=metadata.name%3Dnode-b');
    assert.deepEqual(nodes.body.items.map((i: any) => i.metadata.name), ['node-b']);
    const ns = await request(server, 'GET', '/api/v1/services?fieldSelector=metadata.namespace!%3Ddefault');
    assert.deepEqual(ns.body.items.map((i: any) => i.metadata.name), ['dns']);
    const scoped = await request(server, 'GET', '/api/v1/namespaces/kube-system/services');
    assert.deepEqual(scoped.body.items.map((i: any) => i.metadata.name), ['dns']);
  });

  it('gets single objects with apiVersion/kind, and 404 NotFound as a Status', async () => {
    const r = await request(server, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/web-abc');
    assert.equal(r.status, 200);
    assert.equal(r.body.apiVersion, 'discovery.k8s.io/v1');
    assert.equal(r.body.kind, 'EndpointSlice');
    const missing = await request(server, 'GET', '/api/v1/namespaces/default/services/nope');
    assert.equal(missing.status, 404);
    assert.deepEqual(
      { kind: missing.body.kind, status: missing.body.status, reason: missing.body.reason, code: missing.body.code, message: missing.body.message },
      { kind: 'Status', status: 'Failure', reason: 'NotFound', code: 404, message: 'services "nope" not found' },
    );
    assert.deepEqual(missing.body.details, { name: 'nope', kind: 'services' });
  });

  it('pages lists with limit/continue, every page at the first page’s resourceVersion', async () => {
    const p1 = await request(server, 'GET', '/api/v1/services?limit=3');
    assert.equal(p1.body.items.length, 3);
    assert.ok(p1.body.metadata.continue);
    assert.equal(p1.body.metadata.remainingItemCount, 1);
    server.store.apply(service('zzz-added-between-pages'));
    const p2 = await request(server, 'GET', `/api/v1/services?limit=3&continue=${encodeURIComponent(p1.body.metadata.continue)}`);
    assert.deepEqual(p2.body.items.map((i: any) => i.metadata.name), ['dns']);
    assert.equal(p2.body.metadata.resourceVersion, p1.body.metadata.resourceVersion);
    assert.equal(p2.body.metadata.continue, undefined);
    server.store.remove('Service', 'zzz-added-between-pages', 'default');
    const expired = await request(server, 'GET', '/api/v1/services?limit=1&continue=bogus');
    assert.equal(expired.status, 410);
    assert.equal(expired.body.reason, 'Expired');
  });

  it('serves discovery and health endpoints', async () => {
    const version = await request(server, 'GET', '/version');
    assert.equal(version.body.major, '1');
    const api = await request(server, 'GET', '/api');
    assert.deepEqual(api.body.versions, ['v1']);
    const apis = await request(server, 'GET', '/apis');
    assert.ok(apis.body.groups.some((g: any) => g.name === 'discovery.k8s.io'));
    const core = await request(server, 'GET', '/api/v1');
    const names = core.body.resources.map((r: any) => r.name);
    for (const n of ['services', 'services/status', 'nodes', 'events']) assert.ok(names.includes(n), n);
    const disc = await request(server, 'GET', '/apis/discovery.k8s.io/v1');
    assert.equal(disc.body.resources[0].name, 'endpointslices');
    for (const p of ['/healthz', '/readyz', '/livez']) {
      const h = await request(server, 'GET', p);
      assert.equal(h.status, 200);
      assert.equal(h.body, 'ok');
    }
    const unknown = await request(server, 'GET', '/api/v1/pods');
    assert.equal(unknown.status, 404);
  });
});

describe('embedded apiserver: writes', () => {
  let server: EmbeddedApiServer;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ server, cleanup } = await startServer());
  });
  after(() => cleanup());

  it('creates with server-set uid, creationTimestamp, generation and resourceVersion', async () => {
    const before = server.store.resourceVersion;
    const r = await request(server, 'POST', '/api/v1/namespaces/default/services', service('created'));
    assert.equal(r.status, 201);
    const m = r.body.metadata;
    assert.match(m.uid, /^[0-9a-f-]{36}$/);
    assert.match(m.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(m.generation, 1);
    assert.equal(m.resourceVersion, String(before + 1));
    assert.equal(m.namespace, 'default');
  });

  it('defaults Services and allocates ClusterIPs and NodePorts like the real server', async () => {
    const r = await request(server, 'POST', '/api/v1/namespaces/default/services', {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'np' },
      spec: { type: 'NodePort', ports: [{ port: 80 }] },
    });
    assert.equal(r.status, 201);
    const spec = r.body.spec;
    assert.ok(spec.clusterIP.startsWith('10.'), spec.clusterIP);
    assert.deepEqual(spec.clusterIPs, [spec.clusterIP]);
    assert.deepEqual(spec.ipFamilies, ['IPv4']);
    assert.equal(spec.ipFamilyPolicy, 'SingleStack');
    assert.equal(spec.ports[0].protocol, 'TCP');
    assert.equal(spec.ports[0].targetPort, 80);
    assert.ok(spec.ports[0].nodePort >= 30000 && spec.ports[0].nodePort <= 32767);
    assert.equal(spec.externalTrafficPolicy, 'Cluster');
    assert.equal(spec.sessionAffinity, 'None');
    const dup = await request(server, 'POST', '/api/v1/namespaces/default/services', service('dup-ip', { clusterIP: spec.clusterIP }));
    assert.equal(dup.status, 422);
    assert.match(dup.body.message, /already allocated/);
  });

  it('POST of an existing name is 409 AlreadyExists', async () => {
    await request(server, 'POST', '/api/v1/namespaces/default/services', service('twice'));
    const r = await request(server, 'POST', '/api/v1/namespaces/default/services', service('twice'));
    assert.equal(r.status, 409);
    assert.equal(r.body.reason, 'AlreadyExists');
    assert.equal(r.body.message, 'services "twice" already exists');
    assert.deepEqual(r.body.details, { name: 'twice', kind: 'services' });
  });

  it('PUT with a stale resourceVersion is 409 Conflict; with the current one it succeeds', async () => {
    const created = (await request(server, 'POST', '/api/v1/namespaces/default/services', service('put-me'))).body;
    const first = structuredClone(created);
    first.spec.ports[0].port = 81;
    const ok = await request(server, 'PUT', '/api/v1/namespaces/default/services/put-me', first);
    assert.equal(ok.status, 200);
    assert.equal(ok.body.metadata.generation, 2);
    assert.notEqual(ok.body.metadata.resourceVersion, created.metadata.resourceVersion);
    const stale = structuredClone(created);
    stale.spec.ports[0].port = 82;
    const conflict = await request(server, 'PUT', '/api/v1/namespaces/default/services/put-me', stale);
    assert.equal(conflict.status, 409);
    assert.equal(conflict.body.reason, 'Conflict');
    assert.match(conflict.body.message, /^Operation cannot be fulfilled on services "put-me": the object has been modified/);
    const missing = await request(server, 'PUT', '/api/v1/namespaces/default/services/absent', service('absent'));
    assert.equal(missing.status, 404);
  });

  it('a no-op update does not bump the resourceVersion', async () => {
    const created = (await request(server, 'POST', '/api/v1/namespaces/default/services', service('noop'))).body;
    const rv = server.store.resourceVersion;
    const again = await request(server, 'PUT', '/api/v1/namespaces/default/services/noop', created);
    assert.equal(again.status, 200);
    assert.equal(again.body.metadata.resourceVersion, created.metadata.resourceVersion);
    assert.equal(server.store.resourceVersion, rv);
  });

  it('keeps status on main-resource writes and changes only status through /status', async () => {
    const created = (await request(server, 'POST', '/api/v1/namespaces/default/services', service('lb', { type: 'LoadBalancer' }))).body;
    const withStatus = { ...created, status: { loadBalancer: { ingress: [{ ip: '192.0.2.10' }] } } };
    const main = await request(server, 'PUT', '/api/v1/namespaces/default/services/lb', withStatus);
    assert.equal(main.body.status, undefined);
    const st = await request(server, 'PUT', '/api/v1/namespaces/default/services/lb/status', { ...main.body, spec: { ...main.body.spec, sessionAffinity: 'ClientIP' }, status: withStatus.status });
    assert.equal(st.status, 200);
    assert.deepEqual(st.body.status, withStatus.status);
    assert.equal(st.body.spec.sessionAffinity, 'None');
  });

  it('PATCH: merge, strategic (as merge), JSON patch, resourceVersion precondition, bad content type', async () => {
    await request(server, 'POST', '/api/v1/namespaces/default/services', service('patch-me', { labels: { a: '1', b: '2' } }));
    const merge = await request(server, 'PATCH', '/api/v1/namespaces/default/services/patch-me', { metadata: { labels: { a: null, c: '3' } } }, 'application/merge-patch+json');
    assert.equal(merge.status, 200);
    assert.deepEqual(merge.body.metadata.labels, { b: '2', c: '3' });
    const smp = await request(server, 'PATCH', '/api/v1/namespaces/default/services/patch-me', { spec: { sessionAffinity: 'ClientIP' } }, 'application/strategic-merge-patch+json');
    assert.equal(smp.body.spec.sessionAffinity, 'ClientIP');
    assert.equal(smp.body.spec.ports.length, 1);
    const jp = await request(
      server,
      'PATCH',
      '/api/v1/namespaces/default/services/patch-me',
      [{ op: 'replace', path: '/spec/ports/0/port', value: 8443 }, { op: 'add', path: '/metadata/labels/d', value: '4' }],
      'application/json-patch+json',
    );
    assert.equal(jp.body.spec.ports[0].port, 8443);
    assert.equal(jp.body.metadata.labels.d, '4');
    const stale = await request(server, 'PATCH', '/api/v1/namespaces/default/services/patch-me', { metadata: { resourceVersion: '1' } }, 'application/merge-patch+json');
    assert.equal(stale.status, 409);
    const ct = await request(server, 'PATCH', '/api/v1/namespaces/default/services/patch-me', {}, 'application/apply-patch+yaml');
    assert.equal(ct.status, 415);
    const missing = await request(server, 'PATCH', '/api/v1/namespaces/default/services/ghost', {}, 'application/merge-patch+json');
    assert.equal(missing.status, 404);
  });

  it('DELETE: Service returns the object, EndpointSlice a Success Status, missing is 404 NotFound', async () => {
    await request(server, 'POST', '/api/v1/namespaces/default/services', service('del-me'));
    const d = await request(server, 'DELETE', '/api/v1/namespaces/default/services/del-me');
    assert.equal(d.status, 200);
    assert.equal(d.body.kind, 'Service');
    assert.equal(d.body.metadata.resourceVersion, String(server.store.resourceVersion));
    await request(server, 'POST', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices', endpointSlice('es', 'x', ['10.0.0.1']));
    const ds = await request(server, 'DELETE', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/es');
    assert.equal(ds.body.kind, 'Status');
    assert.equal(ds.body.status, 'Success');
    assert.equal(ds.body.details.name, 'es');
    const again = await request(server, 'DELETE', '/api/v1/namespaces/default/services/del-me');
    assert.equal(again.status, 404);
    assert.equal(again.body.kind, 'Status');
    assert.equal(again.body.reason, 'NotFound');
    assert.equal(again.body.message, 'services "del-me" not found');
    const node404 = await request(server, 'DELETE', '/api/v1/nodes/ghost');
    assert.equal(node404.status, 404);
  });

  it('DELETE with a stale resourceVersion precondition is 409', async () => {
    const created = (await request(server, 'POST', '/api/v1/namespaces/default/services', service('precond'))).body;
    await request(server, 'PATCH', '/api/v1/namespaces/default/services/precond', { metadata: { labels: { x: 'y' } } }, 'application/merge-patch+json');
    const r = await request(server, 'DELETE', '/api/v1/namespaces/default/services/precond', { preconditions: { resourceVersion: created.metadata.resourceVersion } });
    assert.equal(r.status, 409);
  });

  it('accepts and stores Events (core/v1 and events.k8s.io/v1)', async () => {
    const core = await request(server, 'POST', '/api/v1/namespaces/default/events', {
      metadata: { name: 'node-a.1' },
      involvedObject: { kind: 'Node', name: 'node-a' },
      reason: 'Starting',
      message: 'Starting kube-ipvs.',
      type: 'Normal',
    });
    assert.equal(core.status, 201);
    const ev = await request(server, 'POST', '/apis/events.k8s.io/v1/namespaces/default/events', {
      metadata: { generateName: 'node-a.' },
      regarding: { kind: 'Node', name: 'node-a' },
      reason: 'Starting',
      note: 'Starting kube-ipvs.',
      type: 'Normal',
      action: 'StartKubeIPVS',
      reportingController: 'kube-ipvs',
      reportingInstance: 'kube-ipvs-node-a',
      eventTime: '2025-01-01T00:00:00.000000Z',
    });
    assert.equal(ev.status, 201);
    assert.match(ev.body.metadata.name, /^node-a\.[a-z0-9]{5}$/);
    const list = await request(server, 'GET', '/api/v1/events?fieldSelector=involvedObject.name%3Dnode-a');
    assert.deepEqual(list.body.items.map((i: any) => i.reason), ['Starting']);
  });

  it('rejects a body whose namespace differs from the URL', async () => {
    const r = await request(server, 'POST', '/api/v1/namespaces/default/services', service('ns', { namespace: 'other' }));
    assert.equal(r.status, 400);
  });
});

describe('embedded apiserver: Service allocation', () => {
  it('allocates free ClusterIPs (both families when asked), frees them on delete, reports a full range', async () => {
    const { server, cleanup } = await startServer({ serviceCIDRs: ['10.96.0.0/29', 'fd00:96::/125'] });
    try {
      const post = (body: unknown) => request(server, 'POST', '/api/v1/namespaces/default/services', body);
      await post(service('fixed', { clusterIP: '10.96.0.2' }));
      const a = (await post(service('a'))).body.spec;
      const b = (await post(service('b'))).body.spec;
      assert.deepEqual([a.clusterIP, b.clusterIP], ['10.96.0.1', '10.96.0.3'], 'the taken 10.96.0.2 is skipped');
      const dual = await post({ ...service('dual'), spec: { ipFamilyPolicy: 'PreferDualStack', ports: [{ port: 53, protocol: 'UDP' }] } });
      assert.deepEqual(dual.body.spec.ipFamilies, ['IPv4', 'IPv6']);
      assert.deepEqual(dual.body.spec.clusterIPs, ['10.96.0.4', 'fd00:96::1']);
      const v6 = await post({ ...service('v6'), spec: { ipFamilies: ['IPv6'], ports: [{ port: 80 }] } });
      assert.deepEqual(v6.body.spec.clusterIPs, ['fd00:96::2']);
      await post(service('c'));
      await post(service('d'));
      const full = await post(service('e')); // a /29 has 6 usable addresses
      assert.equal(full.status, 500);
      assert.match(full.body.message, /range is full/);
      await request(server, 'DELETE', '/api/v1/namespaces/default/services/a');
      const again = await post(service('e'));
      assert.equal(again.body.spec.clusterIP, '10.96.0.1');
      const headless = await post(service('hl', { clusterIP: 'None' }));
      assert.deepEqual(headless.body.spec.clusterIPs, ['None']);
      const ext = await post({ ...service('ext'), spec: { type: 'ExternalName', externalName: 'example.com' } });
      assert.equal(ext.body.spec.clusterIP, undefined);
    } finally {
      await cleanup();
    }
  });

  it('keeps the ClusterIP on an update that leaves it out, and refuses to change it', async () => {
    const { server, cleanup } = await startServer();
    try {
      const created = (await request(server, 'POST', '/api/v1/namespaces/default/services', service('keep', { type: 'NodePort' }))).body;
      const without = { ...created, spec: { ...created.spec, clusterIP: undefined, clusterIPs: undefined, ports: [{ port: 80 }] } };
      const updated = await request(server, 'PUT', '/api/v1/namespaces/default/services/keep', without);
      assert.equal(updated.body.spec.clusterIP, created.spec.clusterIP);
      assert.equal(updated.body.spec.ports[0].nodePort, created.spec.ports[0].nodePort, 'the NodePort of the same port is kept');
      const changed = await request(server, 'PUT', '/api/v1/namespaces/default/services/keep', { ...updated.body, spec: { ...updated.body.spec, clusterIP: '10.96.99.99', clusterIPs: ['10.96.99.99'] } });
      assert.equal(changed.status, 422);
      assert.match(changed.body.message, /immutable/);
    } finally {
      await cleanup();
    }
  });
});

describe('embedded apiserver: watch', () => {
  let server: EmbeddedApiServer;
  let cleanup: () => Promise<void>;
  before(async () => {
    ({ server, cleanup } = await startServer({ bookmarkIntervalMs: 100 }));
  });
  after(() => cleanup());

  it('replays history after the given resourceVersion, then streams live events', async () => {
    server.store.apply(node('first')); // resourceVersion "0" would mean "any": start above it
    const rv = server.store.resourceVersion;
    server.store.apply(service('w1'));
    server.store.apply(service('w1', { labels: { v: '2' } }));
    const w = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${rv}`);
    await w.ready;
    assert.equal(w.status, 200);
    const a = await w.next();
    assert.equal(a.type, 'ADDED');
    assert.equal(a.object.kind, 'Service');
    assert.equal(a.object.metadata.resourceVersion, String(rv + 1));
    const m = await w.next();
    assert.equal(m.type, 'MODIFIED');
    assert.equal(m.object.metadata.labels.v, '2');
    server.store.remove('Service', 'w1', 'default');
    const d = await w.next();
    assert.equal(d.type, 'DELETED');
    assert.equal(d.object.metadata.resourceVersion, String(server.store.resourceVersion));
    w.close();
  });

  it('a watch without resourceVersion starts with ADDED for existing objects', async () => {
    server.store.apply(node('existing'));
    const w = new RawWatch(server, '/api/v1/nodes?watch=1&fieldSelector=metadata.name%3Dexisting');
    const e = await w.next();
    assert.equal(e.type, 'ADDED');
    assert.equal(e.object.metadata.name, 'existing');
    w.close();
  });

  it('sends DELETED when an object leaves the selector and ADDED when it enters', async () => {
    const rv = server.store.resourceVersion;
    server.store.apply(service('sel'));
    const w = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${rv}&labelSelector=${PROXY_SELECTOR}`);
    assert.equal((await w.next()).type, 'ADDED');
    const leaving = server.store.apply(service('sel', { labels: { [PROXY_NAME]: 'other' } }));
    const d = await w.next();
    assert.equal(d.type, 'DELETED');
    assert.equal(d.object.metadata.name, 'sel');
    assert.equal(d.object.metadata.labels, undefined, 'DELETED carries the last state that matched');
    assert.equal(d.object.metadata.resourceVersion, leaving.metadata.resourceVersion);
    server.store.apply(service('sel', { labels: { [PROXY_NAME]: 'other', x: '1' } })); // stays out: nothing
    server.store.apply(service('sel'));
    const a = await w.next();
    assert.equal(a.type, 'ADDED');
    assert.equal(a.object.metadata.resourceVersion, String(server.store.resourceVersion));
    assert.deepEqual(
      w.events.map((e) => e.type),
      ['ADDED', 'DELETED', 'ADDED'],
    );
    w.close();
  });

  it('sends BOOKMARKs with the current resourceVersion only when allowWatchBookmarks=true', async () => {
    const rv = server.store.resourceVersion;
    const plain = new RawWatch(server, `/api/v1/nodes?watch=true&resourceVersion=${rv}`);
    const w = new RawWatch(server, `/api/v1/nodes?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
    await Promise.all([w.ready, plain.ready]);
    server.store.apply(service('unrelated-change'));
    const b = await w.next((e) => e.type === 'BOOKMARK' && e.object.metadata.resourceVersion === String(server.store.resourceVersion));
    assert.equal(b.object.kind, 'Node');
    assert.equal(b.object.apiVersion, 'v1');
    server.store.apply(node('after-bookmark'));
    await plain.next((e) => e.type === 'ADDED');
    assert.ok(!plain.events.some((e) => e.type === 'BOOKMARK'));
    w.close();
    plain.close();
  });

  it('after compact(): ERROR 410 Expired event, then the stream ends', async () => {
    const rv = server.store.resourceVersion;
    server.store.apply(service('c1'));
    server.compact();
    const w = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${rv}`);
    const e = await w.next();
    assert.equal(w.status, 200);
    assert.equal(e.type, 'ERROR');
    assert.equal(e.object.kind, 'Status');
    assert.equal(e.object.code, 410);
    assert.equal(e.object.reason, 'Expired');
    assert.match(e.object.message, /too old resource version/);
    await w.end();
    // From the current version it works.
    const ok = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${server.store.resourceVersion}`);
    await ok.ready;
    server.store.apply(service('c2'));
    assert.equal((await ok.next()).type, 'ADDED');
    ok.close();
  });

  it('a resourceVersion newer than the server is ERROR 504 "Too large resource version"', async () => {
    const w = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${server.store.resourceVersion + 100}`);
    const e = await w.next();
    assert.equal(e.type, 'ERROR');
    assert.equal(e.object.code, 504);
    assert.equal(e.object.details.causes[0].reason, 'ResourceVersionTooLarge');
    await w.end();
  });

  it('honours timeoutSeconds by ending the stream', async () => {
    const w = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${server.store.resourceVersion}&timeoutSeconds=1`);
    await w.ready;
    await w.end(5000);
    assert.equal(w.status, 200);
  });

  it('sendInitialEvents ends the initial ADDED events with an annotated BOOKMARK', async () => {
    server.store.apply(node('initial-1'));
    const w = new RawWatch(
      server,
      '/api/v1/nodes?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&allowWatchBookmarks=true&fieldSelector=metadata.name%3Dinitial-1',
    );
    assert.equal((await w.next()).type, 'ADDED');
    const b = await w.next();
    assert.equal(b.type, 'BOOKMARK');
    assert.equal(b.object.metadata.annotations['k8s.io/initial-events-end'], 'true');
    w.close();
  });
});

describe('embedded apiserver: test controls', () => {
  it('HTTP 410 mode refuses an expired watch with a 410 response', async () => {
    const { server, cleanup } = await startServer({ expiredWatchResponse: 'http' });
    try {
      server.store.apply(service('a'));
      server.store.apply(service('b'));
      server.compact();
      const r = await request(server, 'GET', '/api/v1/services?watch=true&resourceVersion=1');
      assert.equal(r.status, 410);
      assert.equal(r.body.reason, 'Expired');
      assert.equal(server.stats.expired, 1);
    } finally {
      await cleanup();
    }
  });

  it('history window: watches older than the window get 410', async () => {
    const { server, cleanup } = await startServer({ historySize: 10 });
    try {
      for (let i = 0; i < 30; i++) server.store.apply(node(`n${i}`));
      assert.ok(server.store.oldestWatchableResourceVersion > 1);
      const w = new RawWatch(server, '/api/v1/nodes?watch=true&resourceVersion=1');
      assert.equal((await w.next()).object.code, 410);
      const recent = new RawWatch(server, `/api/v1/nodes?watch=true&resourceVersion=${server.store.resourceVersion - 3}`);
      assert.deepEqual([(await recent.next()).type, (await recent.next()).type, (await recent.next()).type], ['ADDED', 'ADDED', 'ADDED']);
      recent.close();
    } finally {
      await cleanup();
    }
  });

  it('pause() resets watches and refuses connections; resume() serves again on the same port', async () => {
    const { server, cleanup } = await startServer();
    try {
      const port = server.port;
      const w = new RawWatch(server, '/api/v1/services?watch=true&resourceVersion=0');
      await w.ready;
      await server.pause();
      await w.end();
      assert.equal(server.stats.activeWatches, 0);
      const refused = await new Promise<string>((resolve) => {
        const s = net.connect(port, '127.0.0.1');
        s.on('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
      });
      assert.equal(refused, 'ECONNREFUSED');
      server.store.apply(service('while-paused'));
      await server.resume();
      assert.equal(server.port, port);
      const r = await request(server, 'GET', '/api/v1/namespaces/default/services/while-paused');
      assert.equal(r.status, 200);
    } finally {
      await cleanup();
    }
  });

  it('freezeWatches() silences open watches while new ones work', async () => {
    // No periodic bookmarks: the frozen watch can have received nothing before the freeze.
    const { server, cleanup } = await startServer({ bookmarkIntervalMs: 600_000 });
    try {
      const rv = server.store.resourceVersion;
      const frozen = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
      await frozen.ready;
      assert.equal(server.freezeWatches(), 1);
      const fresh = new RawWatch(server, `/api/v1/services?watch=true&resourceVersion=${rv}&allowWatchBookmarks=true`);
      await fresh.ready;
      server.store.apply(service('after-freeze'));
      assert.equal((await fresh.next()).type, 'ADDED');
      server.sendBookmarks();
      assert.equal((await fresh.next()).type, 'BOOKMARK');
      assert.equal(frozen.events.length, 0);
      assert.equal(frozen.ended, false);
      frozen.close();
      fresh.close();
    } finally {
      await cleanup();
    }
  });
});
