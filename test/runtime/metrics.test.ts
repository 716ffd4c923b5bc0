import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { IpvsStats } from '../../src/model/state.js';
import { createMetrics, parseServicePortName } from '../../src/runtime/metrics.js';
import { startMetricsServer } from '../../src/runtime/metrics-server.js';
import { ProxyHealthServer } from '../../src/runtime/health.js';
import { get } from './http-helpers.js';

/** name -> { type, help } from the exposition text. */
function families(text: string): Map<string, { type: string; help: string }> {
  const out = new Map<string, { type: string; help: string }>();
  for (const line of text.split('\n')) {
    const m = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const e = out.get(m[2]) ?? { type: '', help: '' };
    if (m[1] === 'HELP') e.help = m[3];
    else e.type = m[3];
    out.set(m[2], e);
  }
  return out;
}

function samples(text: string, name: string): string[] {
  return text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));
}

test('kube-proxy metric names, types and help texts (IPVS mode, v1.34)', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const f = families(await m.registry.metrics());
  const want: [string, string, string][] = [
    ['kubeproxy_sync_proxy_rules_duration_seconds', 'histogram', 'SyncProxyRules latency in seconds'],
    ['kubeproxy_network_programming_duration_seconds', 'histogram', 'In Cluster Network Programming Latency in seconds'],
    ['kubeproxy_sync_proxy_rules_last_timestamp_seconds', 'gauge', 'The last time proxy rules were successfully synced'],
    ['kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds', 'gauge', 'The last time a sync of proxy rules was queued'],
    ['kubeproxy_sync_proxy_rules_endpoint_changes_pending', 'gauge', 'Pending proxy rules Endpoint changes'],
    ['kubeproxy_sync_proxy_rules_endpoint_changes_total', 'counter', 'Cumulative proxy rules Endpoint changes'],
    ['kubeproxy_sync_proxy_rules_service_changes_pending', 'gauge', 'Pending proxy rules Service changes'],
    ['kubeproxy_sync_proxy_rules_service_changes_total', 'counter', 'Cumulative proxy rules Service changes'],
    ['kubeproxy_sync_proxy_rules_no_local_endpoints_total', 'gauge', 'Number of services with a Local traffic policy and no endpoints'],
    ['kubeproxy_sync_proxy_rules_iptables_restore_failures_total', 'counter', 'Cumulative proxy iptables restore failures'],
    ['kubeproxy_proxy_healthz_total', 'counter', 'Cumulative proxy healthz HTTP status'],
    ['kubeproxy_proxy_livez_total', 'counter', 'Cumulative proxy livez HTTP status'],
    ['kubeproxy_conntrack_reconciler_sync_duration_seconds', 'histogram', 'ReconcileConntrackFlowsLatency latency in seconds'],
    ['kubeproxy_conntrack_reconciler_deleted_entries_total', 'counter', 'Cumulative conntrack flows deleted by conntrack reconciler'],
  ];
  for (const [name, type, help] of want) {
    assert.deepEqual(f.get(name), { type, help }, name);
  }
  for (const name of f.keys()) assert.match(name, /^(kubeproxy|kubeipvs)_/, `unexpected family ${name}`);
  // Without labels these two are plain series from the start, as in kube-proxy.
  const text = await m.registry.metrics();
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_service_changes_total'), ['kubeproxy_sync_proxy_rules_service_changes_total 0']);
});

test('histogram buckets: ExponentialBuckets(0.001,2,15) and the network programming list (with its 0 bucket)', async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.observeSync(['IPv4'], { seconds: 0.003, full: true, ok: true, nowMs: 1_700_000_000_000 });
  m.observeNetworkProgramming('IPv4', [1_700_000_000_000 - 1500], 1_700_000_000_000);
  const text = await m.registry.metrics();
  const le = (name: string) => samples(text, `${name}_bucket`).map((l) => /le="([^"]+)"/.exec(l)![1]);
  assert.deepEqual(le('kubeproxy_sync_proxy_rules_duration_seconds'), [
    '0.001', '0.002', '0.004', '0.008', '0.016', '0.032', '0.064', '0.128', '0.256', '0.512', '1.024', '2.048', '4.096', '8.192', '16.384', '+Inf',
  ]);
  const np = le('kubeproxy_network_programming_duration_seconds');
  assert.equal(np.length, 82);
  assert.deepEqual(np.slice(0, 5), ['0', '0.25', '0.5', '1', '2']);
  assert.deepEqual(np.slice(60, 64), ['58', '59', '60', '65']);
  assert.deepEqual(np.slice(-9), ['115', '120', '150', '180', '210', '240', '270', '300', '+Inf']);
  assert.ok(text.includes('kubeproxy_network_programming_duration_seconds_bucket{le="1",ip_family="IPv4"} 0'));
  assert.ok(text.includes('kubeproxy_network_programming_duration_seconds_bucket{le="2",ip_family="IPv4"} 1'));
});

test('sync helpers: ip_family labels, full/partial, last timestamps only on success, syncs counted', async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.markQueued(['IPv4', 'IPv6'], 1_700_000_000_500);
  m.observeSync(['IPv4', 'IPv6'], { seconds: 0.01, full: false, ok: false, nowMs: 1_700_000_001_000 });
  m.observeSync(['IPv4'], { seconds: 0.02, full: true, ok: true, nowMs: 1_700_000_002_000 });
  m.setPendingChanges({ services: 3, endpoints: 7 });
  m.setNoLocalEndpoints('IPv4', { internal: 1, external: 2 });
  const text = await m.registry.metrics();
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds').sort(), [
    'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv4"} 1700000000.5',
    'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family="IPv6"} 1700000000.5',
  ]);
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_last_timestamp_seconds'), ['kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family="IPv4"} 1700000002']);
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_duration_seconds_count').sort(), [
    'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv4"} 2',
    'kubeproxy_sync_proxy_rules_duration_seconds_count{ip_family="IPv6"} 1',
  ]);
  assert.deepEqual(samples(text, 'kubeproxy_sync_partial_proxy_rules_duration_seconds_count').length, 2);
  assert.deepEqual(samples(text, 'kubeproxy_sync_full_proxy_rules_duration_seconds_count'), ['kubeproxy_sync_full_proxy_rules_duration_seconds_count{ip_family="IPv4"} 1']);
  assert.deepEqual(samples(text, 'kubeipvs_syncs_total').sort(), ['kubeipvs_syncs_total{type="full",result="success"} 1', 'kubeipvs_syncs_total{type="partial",result="error"} 1']);
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_service_changes_pending'), ['kubeproxy_sync_proxy_rules_service_changes_pending 3']);
  assert.deepEqual(samples(text, 'kubeproxy_sync_proxy_rules_no_local_endpoints_total').sort(), [
    'kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="external"} 2',
    'kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family="IPv4",traffic_policy="internal"} 1',
  ]);
});

function stats(conns: number, inPkts = 0, outPkts = 0, inBytes = 0, outBytes = 0): IpvsStats {
  return { conns, inPkts, outPkts, inBytes, outBytes, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
}

test('per-Service IPVS traffic comes from the last observation and never outlives it', async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.setIpvsObservation([
    { protocol: 'TCP', address: '10.96.0.10', port: 80, service: 'shop/web:http', stats: stats(12, 100, 90, 6400, 128000) },
    { protocol: 'TCP', address: '192.168.1.10', port: 30080, service: 'shop/web:http', stats: stats(3) },
    { protocol: 'UDP', address: '10.96.0.53', port: 53, service: 'kube-system/dns', stats: stats(0) },
    { protocol: 'TCP', address: '172.16.0.1', port: 443, stats: stats(999) }, // foreign: not ours to report
  ]);
  let text = await m.registry.metrics();
  assert.deepEqual(samples(text, 'kubeipvs_service_connections_total'), [
    'kubeipvs_service_connections_total{namespace="shop",service="web",port_name="http",port="80",protocol="TCP",vip="10.96.0.10"} 12',
    'kubeipvs_service_connections_total{namespace="shop",service="web",port_name="http",port="30080",protocol="TCP",vip="192.168.1.10"} 3',
    'kubeipvs_service_connections_total{namespace="kube-system",service="dns",port_name="",port="53",protocol="UDP",vip="10.96.0.53"} 0',
  ]);
  assert.ok(text.includes('kubeipvs_service_bytes_total{namespace="shop",service="web",port_name="http",port="80",protocol="TCP",vip="10.96.0.10",direction="out"} 128000'));
  assert.ok(text.includes('kubeipvs_service_packets_total{namespace="shop",service="web",port_name="http",port="80",protocol="TCP",vip="10.96.0.10",direction="in"} 100'));
  m.setIpvsObservation([{ protocol: 'UDP', address: '10.96.0.53', port: 53, service: 'kube-system/dns', stats: stats(4) }]);
  text = await m.registry.metrics();
  assert.equal(samples(text, 'kubeipvs_service_connections_total').length, 1, 'a Service that went away is gone from the scrape');
  assert.equal(samples(text, 'kubeipvs_service_bytes_total').length, 2);
  m.setIpvsObservation([]);
  assert.equal(samples(await m.registry.metrics(), 'kubeipvs_service_packets_total').length, 0);
});

test('a scrape served over HTTP releases the per-Service series it built; the next scrape builds them again', async () => {
  const m = createMetrics({ defaultMetrics: false });
  m.setIpvsObservation([{ protocol: 'TCP', address: '10.96.0.10', port: 80, service: 'shop/web:http', stats: stats(12, 100, 90, 6400, 128000) }]);
  const srv = (await startMetricsServer({ bindAddress: '127.0.0.1:0', registry: m.registry, afterScrape: () => m.releaseScrapeState() }))!;
  try {
    const url = `http://127.0.0.1:${srv.address.port}/metrics`;
    for (let i = 0; i < 2; i++) {
      const text = await (await fetch(url)).text();
      assert.equal(samples(text, 'kubeipvs_service_connections_total').length, 1, `scrape ${i + 1}`);
      assert.equal(samples(text, 'kubeipvs_service_bytes_total').length, 2, `scrape ${i + 1}`);
      // Between scrapes nothing per Service is held in the counters' series (prom-client's internal map: get()
      // would collect them again).
      const series = (c: unknown) => Object.keys((c as { hashMap: object }).hashMap).length;
      assert.equal(series(m.serviceConnectionsTotal) + series(m.servicePacketsTotal) + series(m.serviceBytesTotal), 0, `after scrape ${i + 1}`);
    }
  } finally {
    await srv.close();
  }
});

test('parseServicePortName', () => {
  assert.deepEqual(parseServicePortName('ns/name:port'), { namespace: 'ns', service: 'name', portName: 'port' });
  assert.deepEqual(parseServicePortName('ns/name'), { namespace: 'ns', service: 'name', portName: '' });
  assert.equal(parseServicePortName('no-slash'), undefined);
  assert.equal(parseServicePortName(undefined), undefined);
});

test('health counters feed kubeproxy_proxy_healthz_total / livez_total by code', async () => {
  const m = createMetrics({ defaultMetrics: false });
  const hs = new ProxyHealthServer({ bindAddress: '', healthTimeoutMs: 1000, counters: m.healthCounters() });
  hs.healthzResponse();
  hs.syncNode({ metadata: { name: 'n' } });
  hs.healthzResponse();
  hs.healthzResponse();
  hs.livezResponse();
  const text = await m.registry.metrics();
  assert.deepEqual(samples(text, 'kubeproxy_proxy_healthz_total').sort(), ['kubeproxy_proxy_healthz_total{code="200"} 2', 'kubeproxy_proxy_healthz_total{code="503"} 1']);
  assert.deepEqual(samples(text, 'kubeproxy_proxy_livez_total'), ['kubeproxy_proxy_livez_total{code="200"} 1']);
});

test('metrics server: /metrics with process metrics, /healthz, /proxyMode, /configz, 404; disabled when empty', async () => {
  const m = createMetrics();
  assert.equal(await startMetricsServer({ bindAddress: '', registry: m.registry }), undefined);
  const srv = (await startMetricsServer({ bindAddress: '127.0.0.1:0', registry: m.registry, configz: () => ({ mode: 'ipvs' }) }))!;
  try {
    const port = srv.address.port;
    const r = await get(port, '/metrics');
    assert.equal(r.status, 200);
    assert.match(String(r.headers['content-type']), /^text\/plain; version=0\.0\.4/);
    assert.match(r.body, /^# TYPE process_cpu_seconds_total counter$/m);
    assert.match(r.body, /^# TYPE kubeproxy_sync_proxy_rules_duration_seconds histogram$/m);
    assert.deepEqual([(await get(port, '/healthz')).body, (await get(port, '/proxyMode')).body], ['ok', 'ipvs']);
    assert.deepEqual(JSON.parse((await get(port, '/configz')).body), { 'kubeproxy.config.k8s.io': { mode: 'ipvs' } });
    assert.equal((await get(port, '/nope')).status, 404);
  } finally {
    await srv.close();
  }
  await assert.rejects(startMetricsServer({ bindAddress: 'x:y:z', registry: m.registry }), /invalid metrics bind address/);
});

test('withServiceNames labels observed virtual servers from the desired state and drops foreign ones', async () => {
  const { withServiceNames } = await import('../../src/runtime/metrics.js');
  const base = { scheduler: 'rr', flags: 0, timeout: 0, realServers: [] };
  const observed = [
    { ...base, protocol: 'TCP' as const, address: '10.96.0.10', port: 80, stats: stats(5) },
    { ...base, protocol: 'TCP' as const, address: '172.16.0.1', port: 80, stats: stats(7) },
  ];
  const desired = [{ ...base, protocol: 'TCP' as const, address: '10.96.0.10', port: 80, service: 'shop/web:http' }];
  assert.deepEqual(withServiceNames(observed, desired), [{ protocol: 'TCP', address: '10.96.0.10', port: 80, service: 'shop/web:http', stats: stats(5) }]);
});
