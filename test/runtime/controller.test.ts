// The controller against the embedded API server (real client-node informers over loopback HTTP) and an
// in-memory kernel behind the syncer's driver interfaces (the host kernel has no IPVS; the same controller runs
// against the real kernel in test/kernel/e2e). The runner's clock is a FakeClock, so which sync happens when is
// decided by the test, not by wall time: the first two requests pass the rate limiter (burst 2), later ones wait
// for the clock to move by --ipvs-min-sync-period.

import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { after, afterEach, describe, it } from 'node:test';
import type { EmbeddedApiServer } from '../../src/k8s/apiserver/index.js';
import { createProxyInformers, type InformerTiming } from '../../src/k8s/informers.js';
import { loadKubeConfig } from '../../src/k8s/kubeconfig.js';
import { defaultProxyConfig, type ProxyConfig } from '../../src/model/config.js';
import type { ConntrackCleaner, UdpCleanupTarget } from '../../src/runtime/controller-conntrack.js';
import { Controller, type ControllerSyncReport } from '../../src/runtime/controller.js';
import { FakeClock } from '../../src/runtime/runner-clock.js';
import { createLogger } from '../../src/util/log.js';
import { startServer, waitFor } from '../k8s/helpers.js';
import { FakeKernel, stats } from './controller-fake-kernel.js';

const FAST: InformerTiming = { watchdogMs: 2000, restartBackoff: { initialMs: 50, maxMs: 200 }, emptyWatchBackoff: { initialMs: 50, maxMs: 200 } };
const NODE = 'node-a';

// ---- objects ----------------------------------------------------------------------------------------------

function svc(name: string, clusterIP: string, ports: { name?: string; port: number; protocol?: string; targetPort?: number }[], extra: Record<string, any> = {}) {
  const { annotations, ...spec } = extra;
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default', ...(annotations ? { annotations } : {}) },
    spec: { clusterIP, clusterIPs: [clusterIP], ports: ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })), ...spec },
  };
}

function slice(name: string, service: string, addresses: string[], port: { name?: string; port: number; protocol?: string }, opts: { nodeName?: string; ready?: boolean } = {}) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: opts.ready ?? true }, nodeName: opts.nodeName ?? 'node-b' })),
    ports: [{ protocol: 'TCP', ...port }],
  };
}

function node(name = NODE) {
  return { apiVersion: 'v1', kind: 'Node', metadata: { name, labels: {} }, status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] } };
}

const WEB = svc('web', '10.96.0.10', [{ name: 'http', port: 80, targetPort: 8080 }]);
const WEB_SLICE = slice('web-1', 'web', ['10.244.0.2', '10.244.0.3'], { name: 'http', port: 8080 });
const DNS = svc('dns', '10.96.0.53', [{ name: 'dns', port: 53, protocol: 'UDP', targetPort: 5353 }]);
const DNS_SLICE = slice('dns-1', 'dns', ['10.244.0.4'], { name: 'dns', port: 5353, protocol: 'UDP' });

// ---- rig --------------------------------------------------------------------------------------------------

interface Rig {
  server: EmbeddedApiServer;
  kernel: FakeKernel;
  clock: FakeClock;
  controller: Controller;
  reports: ControllerSyncReport[];
  logLines: () => Record<string, any>[];
  conntrackCalls: UdpCleanupTarget[][];
  /** Waits (wall time, generous) until a report matches; returns it. */
  nextReport(pred?: (r: ControllerSyncReport) => boolean, from?: number): Promise<ControllerSyncReport>;
  stop(): Promise<void>;
}

const rigs: Rig[] = [];
afterEach(async () => {
  while (rigs.length) await rigs.pop()!.stop();
});
after(() => {
  // client-node keeps an HTTP agent alive for a moment; nothing of ours is left running.
});

async function rig(opts: {
  seed?: (s: EmbeddedApiServer) => void;
  kernel?: (k: FakeKernel) => void;
  config?: Partial<ProxyConfig>;
  pauseServer?: boolean;
} = {}): Promise<Rig> {
  const { server, kubeconfig, cleanup } = await startServer();
  server.store.apply(node());
  (opts.seed ?? ((s) => [WEB, WEB_SLICE, DNS, DNS_SLICE].forEach((o) => s.store.apply(o))))(server);
  if (opts.pauseServer) await server.pause();
  const { kubeConfig } = await loadKubeConfig({ kubeconfig });
  const informers = await createProxyInformers({ kubeConfig, nodeName: NODE, ...FAST });
  const kernel = new FakeKernel();
  opts.kernel?.(kernel);
  const clock = new FakeClock(Date.now());
  const reports: ControllerSyncReport[] = [];
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      lines.push(...String(chunk).split('\n').filter(Boolean));
      cb();
    },
  });
  const conntrackCalls: UdpCleanupTarget[][] = [];
  const conntrack = {
    clean: async (targets: readonly UdpCleanupTarget[]) => {
      conntrackCalls.push([...targets]);
      return { deleted: 0, staleFlows: 0, staleFlowsByFamily: { 4: 0, 6: 0 }, deletedFlowsByFamily: { 4: 0, 6: 0 }, families: [], errors: [] };
    },
  } as unknown as ConntrackCleaner;
  const config: ProxyConfig = {
    ...defaultProxyConfig(),
    hostnameOverride: NODE,
    healthzBindAddress: '',
    metricsBindAddress: '',
    minSyncPeriodMs: 1000,
    syncPeriodMs: 30_000,
    ...opts.config,
  };
  const controller = new Controller({
    config,
    informers,
    drivers: kernel.drivers(),
    log: createLogger(0, sink),
    clock,
    sysctls: false,
    conntrack,
    servers: false,
    onSync: (r) => reports.push(r),
  });
  await controller.start();
  const r: Rig = {
    server,
    kernel,
    clock,
    controller,
    reports,
    conntrackCalls,
    logLines: () => lines.map((l) => JSON.parse(l) as Record<string, any>),
    nextReport: async (pred = () => true, from = 0) => {
      let found: ControllerSyncReport | undefined;
      await waitFor(() => {
        found = reports.slice(from).find(pred);
        return found !== undefined;
      }, 15_000, 'a matching sync report');
      await controller.idle();
      return found!;
    },
    stop: async () => {
      await controller.stop();
      await server.resume().catch(() => {});
      await cleanup();
    },
  };
  rigs.push(r);
  return r;
}

const synced = (r: ControllerSyncReport) => r.kind === 'full' || r.kind === 'partial' || r.kind === 'none';
const vsKeysOf = (r: ControllerSyncReport) => [...(r.scope?.virtualServers ?? [])].sort();
const opTargets = (k: FakeKernel, fromBatch: number) =>
  [...new Set(k.ipvsBatches.slice(fromBatch).flat().map((op) => `${op.vs.protocol}/${op.vs.address}:${op.vs.port}`))].sort();

// ---- tests ------------------------------------------------------------------------------------------------

describe('controller: start and adoption', () => {
  it('programs every Service once the informers listed; keeps foreign and excluded virtual servers; prunes stale ones of ours', async () => {
    const r = await rig({
      config: { ipvs: { ...defaultProxyConfig().ipvs, excludeCIDRs: ['10.200.0.0/16'] } },
      kernel: (k) => {
        k.linkExists = true;
        for (const a of ['10.200.0.1', '10.96.0.99']) k.addresses.add(a);
        k.seed({ protocol: 'TCP', address: '10.1.2.3', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [{ address: '10.9.9.9', port: 80, weight: 1 }] });
        k.seed({ protocol: 'TCP', address: '10.200.0.1', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
        k.seed({ protocol: 'TCP', address: '10.96.0.99', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
      },
    });
    const first = await r.nextReport(synced);
    assert.equal(first.kind, 'full');
    assert.equal(first.fullBecause, 'first sync');
    assert.ok(first.ok);
    assert.deepEqual(r.kernel.table(), {
      'TCP/10.1.2.3:80': ['10.9.9.9:80 w1'],
      'TCP/10.200.0.1:80': [],
      'TCP/10.96.0.10:80': ['10.244.0.2:8080 w1', '10.244.0.3:8080 w1'],
      'UDP/10.96.0.53:53': ['10.244.0.4:5353 w1'],
    });
    assert.ok(r.kernel.addresses.has('10.96.0.10') && r.kernel.addresses.has('10.200.0.1') && !r.kernel.addresses.has('10.96.0.99'));
    assert.ok(r.kernel.ipsets['KUBE-CLUSTER-IP']?.entries.includes('10.96.0.10,tcp:80'));
    // healthz: both families updated by the sync
    assert.equal(r.controller.health.livezResponse().status, 200);
    assert.equal(r.controller.health.healthzResponse().status, 200, 'the Node is known and eligible');
  });

  it('syncs nothing (so deletes nothing) while the informers have not listed, then adopts the kernel without a flush', async () => {
    const r = await rig({
      pauseServer: true,
      kernel: (k) => {
        k.linkExists = true;
        k.addresses.add('10.96.0.10');
        k.addresses.add('10.96.0.77');
        // kube-proxy (or an earlier kube-ipvs) left web programmed with one endpoint at weight 0, plus a stale service.
        k.seed({ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [
          { address: '10.244.0.2', port: 8080, weight: 1, activeConns: 3 },
          { address: '10.244.0.3', port: 8080, weight: 0 },
        ] });
        k.seed({ protocol: 'TCP', address: '10.96.0.77', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
      },
    });
    const before = JSON.stringify(r.kernel.table());
    // Periodic runs come and go while the API server is unreachable: every one is skipped.
    for (let i = 0; i < 3; i++) await r.clock.advance(30_000);
    await r.controller.idle();
    assert.ok(r.reports.length >= 3, `periodic runs happened (${r.reports.length})`);
    assert.ok(r.reports.every((x) => x.kind === 'skipped'));
    assert.equal(r.kernel.ipvsBatches.length, 0, 'not one IPVS write before the first list');
    assert.equal(JSON.stringify(r.kernel.table()), before);
    assert.equal(r.controller.initialized, false);

    await r.server.resume();
    const first = await r.nextReport(synced);
    assert.equal(first.kind, 'full');
    const ops = r.kernel.allIpvsOps();
    // Adopted, not re-created: no delete/add of web's virtual server; the weight-0 endpoint is reset to 1.
    assert.ok(!ops.some((o) => o.vs.address === '10.96.0.10' && (o.kind === 'add-virtual-server' || o.kind === 'delete-virtual-server')), JSON.stringify(ops));
    assert.ok(ops.some((o) => o.kind === 'update-real-server' && o.rs.address === '10.244.0.3' && o.rs.weight === 1));
    assert.ok(!ops.some((o) => o.kind === 'add-real-server' && o.vs.address === '10.96.0.10' && o.rs.address === '10.244.0.2'), 'the endpoint with live connections is not touched');
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.10:80'], ['10.244.0.2:8080 w1', '10.244.0.3:8080 w1']);
    assert.equal(r.kernel.table()['TCP/10.96.0.77:80'], undefined, 'stale virtual server of ours removed once the caches are complete');
  });
});

describe('controller: event-driven syncs', () => {
  it('an endpoint change is a partial sync scoped to that Service; a burst of changes coalesces into one sync', async () => {
    const r = await rig();
    await r.nextReport(synced);
    const mark = r.reports.length;
    const batches = r.kernel.ipvsBatches.length;
    const dumpsBefore = r.kernel.dumps;
    const addressDumpsBefore = r.kernel.addressDumps;
    const destReadsBefore = r.kernel.destinationReads.length;

    r.server.store.apply(slice('web-1', 'web', ['10.244.0.2', '10.244.0.3', '10.244.0.5'], { name: 'http', port: 8080 }));
    const second = await r.nextReport(synced, mark);
    assert.equal(second.kind, 'partial');
    assert.deepEqual(second.services, ['default/web']);
    assert.deepEqual(vsKeysOf(second), ['TCP/10.96.0.10:80']);
    assert.deepEqual(opTargets(r.kernel, batches), ['TCP/10.96.0.10:80'], 'IPVS writes only for the changed Service');
    assert.deepEqual(r.kernel.allIpvsOps().slice(-1), [{ kind: 'add-real-server', vs: r.kernel.allIpvsOps().slice(-1)[0]!.vs, rs: { address: '10.244.0.5', port: 8080, weight: 1 } }]);
    // Cost follows the change: no whole-table dump, no kube-ipvs0 address dump; only the changed virtual server's
    // real servers are read (fresh connection counters for graceful termination).
    assert.equal(r.kernel.dumps - dumpsBefore, 0, 'no IPVS table dump in a partial sync');
    assert.equal(r.kernel.addressDumps - addressDumpsBefore, 0, 'no address dump in a partial sync');
    assert.deepEqual(r.kernel.destinationReads.slice(destReadsBefore), ['TCP/10.96.0.10:80']);

    // Burst: the rate limiter has no token left (burst 2 used), so three changes wait for one run.
    const mark2 = r.reports.length;
    r.server.store.apply(svc('api', '10.96.0.20', [{ name: 'http', port: 443, targetPort: 8443 }]));
    r.server.store.apply(slice('api-1', 'api', ['10.244.0.7'], { name: 'http', port: 8443 }));
    r.server.store.apply(slice('dns-1', 'dns', ['10.244.0.4', '10.244.0.6'], { name: 'dns', port: 5353, protocol: 'UDP' }));
    await waitFor(() => r.controller.changes.pending().services === 1 && r.controller.changes.pending().endpoints === 2, 10_000, 'events delivered');
    assert.equal(r.reports.length, mark2, 'no sync before the min sync period');
    await r.clock.advance(1000);
    const third = await r.nextReport(synced, mark2);
    assert.equal(r.reports.length, mark2 + 1, 'one sync for the whole burst');
    assert.equal(third.kind, 'partial');
    assert.deepEqual(third.services, ['default/api', 'default/dns']);
    assert.deepEqual(vsKeysOf(third), ['TCP/10.96.0.20:443', 'UDP/10.96.0.53:53']);
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.20:443'], ['10.244.0.7:8443 w1']);
    assert.deepEqual(r.kernel.table()['UDP/10.96.0.53:53'], ['10.244.0.4:5353 w1', '10.244.0.6:5353 w1']);
    // UDP Service changed: its conntrack entries are checked against the new real servers.
    const last = r.conntrackCalls.at(-1)!;
    assert.deepEqual(last.map((t) => `${t.address}:${t.port} ${[...(t.realServers ?? [])].sort().join(',')}`), ['10.96.0.53:53 10.244.0.4:5353,10.244.0.6:5353']);
  });

  it('a change that does not alter the desired state touches no kernel object', async () => {
    const r = await rig();
    await r.nextReport(synced);
    const mark = r.reports.length;
    const batches = r.kernel.ipvsBatches.length;
    // A not-ready endpoint added: not programmed (ready endpoints exist), so nothing to write.
    const s = slice('web-1', 'web', ['10.244.0.2', '10.244.0.3'], { name: 'http', port: 8080 });
    s.endpoints.push({ addresses: ['10.244.0.9'], conditions: { ready: false }, nodeName: 'node-b' });
    r.server.store.apply(s);
    const rep = await r.nextReport(synced, mark);
    assert.equal(rep.kind, 'none');
    assert.equal(r.kernel.ipvsBatches.length, batches);
  });

  it('the periodic sync re-reads the whole kernel and heals drift', async () => {
    const r = await rig();
    await r.nextReport(synced);
    // Someone deletes a real server and changes a weight behind our back.
    r.kernel.ipvs.get('TCP/10.96.0.10:80')!.realServers.delete('10.244.0.2:8080');
    r.kernel.ipvs.get('UDP/10.96.0.53:53')!.realServers.get('10.244.0.4:5353')!.weight = 7;
    const mark = r.reports.length;
    await r.clock.advance(30_000);
    const rep = await r.nextReport(synced, mark);
    assert.equal(rep.kind, 'full');
    assert.equal(rep.fullBecause, 'sync period');
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.10:80'], ['10.244.0.2:8080 w1', '10.244.0.3:8080 w1']);
    assert.deepEqual(r.kernel.table()['UDP/10.96.0.53:53'], ['10.244.0.4:5353 w1']);
  });
});

describe('controller: failures', () => {
  it('a partial sync that meets a kernel it did not expect fails, and the retry re-reads the whole kernel and heals it', async () => {
    const r = await rig();
    await r.nextReport(synced);
    // Someone deletes web's virtual server behind our back; a partial sync still believes it is there.
    r.kernel.ipvs.delete('TCP/10.96.0.10:80');
    const mark = r.reports.length;
    r.server.store.apply(slice('web-1', 'web', ['10.244.0.2', '10.244.0.3', '10.244.0.5'], { name: 'http', port: 8080 }));
    const failed = await r.nextReport(() => true, mark);
    assert.equal(failed.kind, 'partial');
    assert.equal(failed.ok, false);
    assert.match(String(failed.error?.message), /failed/);
    assert.equal(r.controller.health.livezResponse().status, 200, 'one failure does not make the proxy unhealthy');
    await r.clock.advance(1000); // the runner's first retry backoff
    const healed = await r.nextReport((x) => x.ok && x.kind === 'full', mark);
    assert.equal(healed.fullBecause, 'retry after a failure');
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.10:80'], ['10.244.0.2:8080 w1', '10.244.0.3:8080 w1', '10.244.0.5:8080 w1']);
    const m = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_syncs_total');
    assert.match(m, /type="partial",result="error"\} 1/);
  });
});

describe('controller: graceful termination', () => {
  it('a removed TCP endpoint with connections drains at weight 0 and is deleted when the period passes; UDP goes at once', async () => {
    const r = await rig({ config: { gracefulTerminationPeriodMs: 10_000 } });
    await r.nextReport(synced);
    r.kernel.setConnections('TCP/10.96.0.10:80', '10.244.0.3:8080', 2);
    let mark = r.reports.length;
    r.server.store.apply(slice('web-1', 'web', ['10.244.0.2'], { name: 'http', port: 8080 }));
    r.server.store.apply(slice('dns-1', 'dns', [], { name: 'dns', port: 5353, protocol: 'UDP' }));
    await waitFor(() => r.reports.length > mark && r.controller.changes.pending().endpoints === 0, 10_000, 'both changes synced');
    await r.controller.idle();
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.10:80'], ['10.244.0.2:8080 w1', '10.244.0.3:8080 w0'], 'draining at weight 0');
    assert.deepEqual(r.kernel.table()['UDP/10.96.0.53:53'], [], 'UDP real server deleted at once');
    assert.equal(r.controller.drains.size, 1);
    // Connections still open when the deadline passes: deleted anyway (drain-expired), by a partial sync.
    mark = r.reports.length;
    await r.clock.advance(10_000);
    const rep = await r.nextReport((x) => synced(x) && (x.result?.changed.some((op) => op.kind === 'del-real-server') ?? false), mark);
    assert.equal(rep.kind, 'partial');
    assert.ok(rep.result!.changed.some((op) => op.kind === 'del-real-server' && op.reason === 'drain-expired'));
    assert.deepEqual(r.kernel.table()['TCP/10.96.0.10:80'], ['10.244.0.2:8080 w1']);
    assert.equal(r.controller.drains.size, 0);
    const metrics = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_drain_expired_total');
    assert.match(metrics, /kubeipvs_drain_expired_total 1/);
  });
});

describe('controller: API server outage', () => {
  it('keeps serving the cached state (no deletions) while the API server is away, then applies later changes', async () => {
    const r = await rig();
    await r.nextReport(synced);
    const table = JSON.stringify(r.kernel.table());
    await r.server.pause();
    await waitFor(() => r.logLines().some((l) => /^Lost the API server/.test(l.msg)), 10_000, 'the informers notice the outage');
    const mark = r.reports.length;
    // Full periodic syncs run during the outage, with the cache as it was.
    await r.clock.advance(30_000);
    await r.clock.advance(30_000);
    await r.controller.idle();
    const during = r.reports.slice(mark).filter(synced);
    assert.ok(during.length >= 2 && during.every((x) => x.kind === 'full' && x.ok));
    assert.ok(!r.kernel.allIpvsOps().some((o) => o.kind.startsWith('delete')), 'nothing deleted');
    assert.equal(JSON.stringify(r.kernel.table()), table);

    await r.server.resume();
    r.server.store.remove('Service', 'dns', 'default');
    await waitFor(() => r.kernel.table()['UDP/10.96.0.53:53'] === undefined, 15_000, 'the deletion made after the outage is applied');
    assert.ok(r.kernel.table()['TCP/10.96.0.10:80']);
    const restarts = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_informer_restarts_total');
    assert.match(restarts, /kubeipvs_informer_restarts_total\{resource="(Service|EndpointSlice|Node)"\} [1-9]/);
    assert.ok(r.logLines().some((l) => l.msg === 'API server connection restored'));
  });
});

describe('controller: diagnostics', () => {
  it('logs a malformed object once (not once per sync), again when its problem changes, and counts it', async () => {
    const bad = svc('odd', '10.96.0.30', [{ name: 'http', port: 80 }], { annotations: { 'kube-ipvs.io/scheduler': 'bogus' } });
    const r = await rig({ seed: (s) => [WEB, WEB_SLICE, bad].forEach((o) => s.store.apply(o)) });
    await r.nextReport(synced);
    for (let i = 0; i < 3; i++) await r.clock.advance(30_000);
    await r.controller.idle();
    const skipLines = () => r.logLines().filter((l) => /^Skipping invalid/.test(l.msg) && l.object === 'default/odd');
    assert.equal(r.reports.filter(synced).length >= 4, true);
    assert.equal(skipLines().length, 1, JSON.stringify(skipLines()));
    assert.match(skipLines()[0]!.reason, /bogus/);
    assert.equal(r.kernel.table()['TCP/10.96.0.30:80']?.length, 0, 'the rest of the Service is still programmed (global scheduler)');

    const mark = r.reports.length;
    r.server.store.apply(svc('odd', '10.96.0.30', [{ name: 'http', port: 80 }], { annotations: { 'kube-ipvs.io/scheduler': 'weird' } }));
    await r.nextReport(synced, mark);
    assert.equal(skipLines().length, 2);
    assert.match(skipLines()[1]!.reason, /weird/);
    const m = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_skipped_objects_total');
    assert.match(m, /kubeipvs_skipped_objects_total\{kind="Service"\} 2/);
    const g = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_skipped_objects');
    assert.match(g, /kubeipvs_skipped_objects\{kind="Service"\} 1/);
  });
});

describe('controller: health and metrics', () => {
  it('kube-proxy metrics move with syncs; per-Service IPVS counters come from the observed kernel', async () => {
    const r = await rig();
    await r.nextReport(synced);
    const text = await r.controller.metrics.registry.metrics();
    assert.match(text, /kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} \d/);
    assert.match(text, /kubeproxy_sync_proxy_rules_duration_seconds_count\{ip_family="IPv4"\} 1/);
    assert.match(text, /kubeproxy_sync_proxy_rules_service_changes_total [1-9]/);
    assert.match(text, /kubeipvs_syncs_total\{type="full",result="success"\} 1/);
    assert.match(text, /kubeipvs_sync_ops_total\{kind="add-service",result="success"\} 2/);
    // Per-Service traffic: the kernel's counters of each virtual server, labelled with its Service port; a
    // foreign virtual server is not reported.
    r.kernel.ipvs.get('TCP/10.96.0.10:80')!.stats = stats(42, 4200);
    r.kernel.seed({ protocol: 'TCP', address: '10.1.2.3', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
    r.kernel.ipvs.get('TCP/10.1.2.3:80')!.stats = stats(5);
    const mark = r.reports.length;
    await r.clock.advance(30_000);
    await r.nextReport(synced, mark);
    const conns = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_service_connections_total');
    assert.match(conns, /kubeipvs_service_connections_total\{namespace="default",service="web",port_name="http",port="80",protocol="TCP",vip="10.96.0.10"\} 42/);
    assert.doesNotMatch(conns, /10\.1\.2\.3/);
    const bytes = await r.controller.metrics.registry.getSingleMetricAsString('kubeipvs_service_bytes_total');
    assert.match(bytes, /service="web".*direction="in"\} 4200/);
  });

  it('stop() leaves the kernel as it is and stops watching', async () => {
    const r = await rig();
    await r.nextReport(synced);
    const table = JSON.stringify(r.kernel.table());
    const addresses = [...r.kernel.addresses].sort();
    await waitFor(() => r.server.stats.activeWatches === 3, 10_000, 'three watches open');
    await r.controller.stop();
    const started = () => r.server.stats.lists + r.server.stats.watches;
    const requests = started();
    const logAt = r.server.requestLog.length;
    r.server.store.remove('Service', 'web', 'default');
    await new Promise((res) => setTimeout(res, 300));
    assert.equal(JSON.stringify(r.kernel.table()), table);
    assert.deepEqual([...r.kernel.addresses].sort(), addresses);
    assert.equal(started(), requests, `no list or watch after stop: ${JSON.stringify(r.server.requestLog.slice(logAt))}`);
    assert.equal(r.server.stats.activeWatches, 0);
  });
});
