import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { ApiNode } from '../../src/model/api.js';
import { ProxyHealthServer, formatGoTime } from '../../src/runtime/health.js';
import { FakeClock } from '../../src/runtime/runner-clock.js';
import { get } from './http-helpers.js';

const T0 = Date.UTC(2025, 0, 1, 0, 0, 0);
const node: ApiNode = { metadata: { name: 'node-1' }, spec: {} };

function server(timeout = 60_000) {
  const clock = new FakeClock(T0);
  const counted: string[] = [];
  const hs = new ProxyHealthServer({
    bindAddress: '127.0.0.1:0',
    healthTimeoutMs: timeout,
    clock,
    counters: { healthz: (c) => counted.push(`healthz ${c}`), livez: (c) => counted.push(`livez ${c}`) },
  });
  return { clock, hs, counted };
}

test('formatGoTime prints time.Time as encoding/json does (RFC 3339, trailing zeros dropped, zero time)', () => {
  const table: [number | undefined, string][] = [
    [undefined, '0001-01-01T00:00:00Z'],
    [T0, '2025-01-01T00:00:00Z'],
    [T0 + 120, '2025-01-01T00:00:00.12Z'],
    [T0 + 5, '2025-01-01T00:00:00.005Z'],
    [T0 + 61_500, '2025-01-01T00:01:01.5Z'],
  ];
  for (const [ms, want] of table) assert.equal(formatGoTime(ms), want);
});

test('starting up: healthy with no family synced; /healthz needs the Node', () => {
  const { hs } = server();
  const live = hs.livezResponse();
  assert.equal(live.status, 200);
  assert.equal(live.body, '{"lastUpdated":"2025-01-01T00:00:00Z","currentTime":"2025-01-01T00:00:00Z","healthy":true}');
  const hz = hs.healthzResponse();
  assert.equal(hz.status, 503, 'Node not known yet: not eligible');
  assert.equal(hz.body, '{"lastUpdated":"0001-01-01T00:00:00Z","currentTime":"2025-01-01T00:00:00Z","nodeEligible":false,"healthy":true}');
  hs.syncNode(node);
  assert.equal(hs.healthzResponse().status, 200);
});

test('a queued update is tolerated for healthTimeout, then the family is unhealthy until updated()', async () => {
  const { clock, hs } = server(60_000);
  hs.syncNode(node);
  hs.updated('IPv4'); // synced at T0
  await clock.advance(5000);
  hs.queuedUpdate('IPv4'); // queued at T0+5s
  await clock.advance(30_000);
  hs.queuedUpdate('IPv4'); // a later queue does not move the oldest one
  await clock.advance(29_999); // 59.999 s after the first queue
  assert.equal(hs.isHealthy(), true);
  const ok = hs.healthzResponse();
  assert.equal(ok.status, 200);
  assert.equal(
    ok.body,
    '{"lastUpdated":"2025-01-01T00:01:04.999Z","currentTime":"2025-01-01T00:01:04.999Z","nodeEligible":true,"healthy":true,"status":{"IPv4":{"lastUpdated":"2025-01-01T00:00:00Z","healthy":true}}}',
  );
  await clock.advance(1);
  assert.equal(hs.isHealthy(), false);
  const bad = hs.healthzResponse();
  assert.equal(bad.status, 503);
  assert.equal(
    bad.body,
    '{"lastUpdated":"2025-01-01T00:00:00Z","currentTime":"2025-01-01T00:01:05Z","nodeEligible":true,"healthy":false,"status":{"IPv4":{"lastUpdated":"2025-01-01T00:00:00Z","healthy":false}}}',
    'unhealthy: lastUpdated is the real last sync',
  );
  assert.equal(hs.livezResponse().status, 503);
  hs.updated('IPv4');
  assert.equal(hs.healthzResponse().status, 200);
});

test('dual-stack: one late family makes the proxy unhealthy; status lists both, sorted', async () => {
  const { clock, hs } = server(1000);
  hs.syncNode(node);
  hs.updated('IPv6');
  hs.updated('IPv4');
  hs.queuedUpdate('IPv6');
  hs.queuedUpdate('IPv4');
  await clock.advance(500);
  hs.updated('IPv6');
  await clock.advance(500);
  const h = hs.health();
  assert.equal(h.healthy, false);
  assert.deepEqual(
    Object.entries(h.status).map(([f, s]) => [f, s!.healthy]),
    [
      ['IPv6', true],
      ['IPv4', false],
    ],
  );
  const body = JSON.parse(hs.livezResponse().body);
  assert.deepEqual(Object.keys(body.status), ['IPv4', 'IPv6']);
  assert.equal(body.status.IPv6.lastUpdated, '2025-01-01T00:00:00.5Z');
});

test('node eligibility: autoscaler taint or deletion fails /healthz only', () => {
  const { hs } = server();
  hs.syncNode({ ...node, spec: { taints: [{ key: 'ToBeDeletedByClusterAutoscaler', effect: 'NoSchedule' }] } });
  assert.equal(hs.healthzResponse().status, 503);
  assert.equal(hs.livezResponse().status, 200);
  hs.syncNode({ metadata: { name: 'node-1', deletionTimestamp: '2025-01-01T00:00:00Z' } });
  assert.equal(hs.healthzResponse().status, 503);
  hs.syncNode(node);
  assert.equal(hs.healthzResponse().status, 200);
  hs.syncNode(undefined);
  assert.equal(JSON.parse(hs.healthzResponse().body).nodeEligible, false);
});

test('over HTTP: /healthz and /livez with kube-proxy headers, other paths 404, counters by code', async () => {
  const { hs, counted } = server();
  const addr = await hs.listen();
  assert.ok(addr && addr.port > 0);
  try {
    const hz = await get(addr.port, '/healthz');
    assert.equal(hz.status, 503);
    assert.equal(hz.headers['content-type'], 'application/json');
    assert.equal(hz.headers['x-content-type-options'], 'nosniff');
    assert.equal(JSON.parse(hz.body).nodeEligible, false);
    hs.syncNode(node);
    const hz2 = await get(addr.port, '/healthz?verbose=1', '127.0.0.1', 'HEAD');
    assert.equal(hz2.status, 200);
    const lz = await get(addr.port, '/livez');
    assert.equal(lz.status, 200);
    assert.equal('nodeEligible' in JSON.parse(lz.body), false);
    const nf = await get(addr.port, '/metrics');
    assert.equal(nf.status, 404);
    assert.equal(nf.body, '404 page not found\n');
    assert.deepEqual(counted, ['healthz 503', 'healthz 200', 'livez 200']);
  } finally {
    await hs.close();
  }
});

test('listen: disabled with an empty address; a port in use rejects with the address in the message', async () => {
  assert.equal(await new ProxyHealthServer({ bindAddress: '', healthTimeoutMs: 1 }).listen(), undefined);
  const a = new ProxyHealthServer({ bindAddress: '127.0.0.1:0', healthTimeoutMs: 1 });
  const addr = (await a.listen())!;
  try {
    const b = new ProxyHealthServer({ bindAddress: `127.0.0.1:${addr.port}`, healthTimeoutMs: 1 });
    await assert.rejects(b.listen(), new RegExp(`failed to start proxy healthz on 127.0.0.1:${addr.port}`));
    await assert.rejects(new ProxyHealthServer({ bindAddress: 'nonsense:x', healthTimeoutMs: 1 }).listen(), /invalid healthz bind address/);
  } finally {
    await a.close();
  }
});

test('proxyHealthOptionsFromConfig: healthTimeout is 2 x sync period', async () => {
  const { proxyHealthOptionsFromConfig } = await import('../../src/runtime/health.js');
  assert.deepEqual(proxyHealthOptionsFromConfig({ healthzBindAddress: '0.0.0.0:10256', syncPeriodMs: 30_000 }), { bindAddress: '0.0.0.0:10256', healthTimeoutMs: 60_000 });
});

test('parseBindAddress: kube-proxy bind address forms; unspecified hosts listen on every address', async () => {
  const { parseBindAddress } = await import('../../src/runtime/health-http.js');
  const table: [string, object | undefined][] = [
    ['', undefined],
    ['0.0.0.0:10256', { host: undefined, port: 10256 }],
    ['[::]:10256', { host: undefined, port: 10256 }],
    [':10249', { host: undefined, port: 10249 }],
    ['127.0.0.1:10249', { host: '127.0.0.1', port: 10249 }],
    ['127.0.0.1', { host: '127.0.0.1', port: 7 }],
    ['::1', { host: '::1', port: 7 }],
    ['[fd00::1]:80', { host: 'fd00::1', port: 80 }],
    ['1.2.3.4:99999', undefined],
    ['host.example:80', undefined],
    ['1.2.3.4:x', undefined],
  ];
  for (const [text, want] of table) assert.deepEqual(parseBindAddress(text, 7), want, text);
});
