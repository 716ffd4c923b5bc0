// Prometheus metrics: kube-proxy's (subsystem kubeproxy, reference §5.6) with the names, types, help
// texts, buckets and labels of current upstream (v1.34 metrics reference: per-sync metrics carry
// ip_family = "IPv4" | "IPv6" since v1.33, PR #129173), plus kube-ipvs's own (prefix kubeipvs_).
// One Registry per process (createMetrics), served by metrics-server.ts.
//
// kube-proxy metrics registered in IPVS mode:
//   kubeproxy_sync_proxy_rules_duration_seconds{ip_family}            histogram ExponentialBuckets(0.001,2,15)
//   kubeproxy_network_programming_duration_seconds{ip_family}         histogram 0, 0.25, 0.5, 1..59, 60..115/5, 120..300/30
//   kubeproxy_sync_proxy_rules_last_timestamp_seconds{ip_family}      gauge
//   kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds{ip_family} gauge
//   kubeproxy_sync_proxy_rules_endpoint_changes_pending / _total      gauge / counter
//   kubeproxy_sync_proxy_rules_service_changes_pending / _total       gauge / counter
//   kubeproxy_sync_proxy_rules_no_local_endpoints_total{ip_family,traffic_policy} gauge
//   kubeproxy_sync_proxy_rules_iptables_restore_failures_total{ip_family} counter
//   kubeproxy_proxy_healthz_total{code} / kubeproxy_proxy_livez_total{code} counters
//   kubeproxy_conntrack_reconciler_sync_duration_seconds{ip_family}   histogram (buckets as the sync duration)
//   kubeproxy_conntrack_reconciler_deleted_entries_total{ip_family}   counter
// plus, because kube-ipvs has partial syncs (upstream registers them for iptables/nftables only):
//   kubeproxy_sync_full_proxy_rules_duration_seconds{ip_family} / kubeproxy_sync_partial_proxy_rules_duration_seconds{ip_family}
// and the process_* / nodejs_* default metrics (kube-proxy has process_* and go_*).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, exponentialBuckets, linearBuckets } from 'prom-client';
import type { IpvsStats, VirtualServer } from '../model/state.js';
import { virtualServerKey } from '../model/state.js';
import type { HealthCounters, IPFamilyName } from './health.js';

export type { IPFamilyName };

const SYNC_BUCKETS = exponentialBuckets(0.001, 2, 15);
/** component-base MergeBuckets starts with a 0 bucket, so kube-proxy exposes le="0" too. */
const NETWORK_PROGRAMMING_BUCKETS = [0, ...linearBuckets(0.25, 0.25, 2), ...linearBuckets(1, 1, 59), ...linearBuckets(60, 5, 12), ...linearBuckets(120, 30, 7)];

/** A virtual server as observed from the kernel, with the Service it implements ("ns/name" or "ns/name:port"). */
export interface IpvsTrafficSample {
  protocol: string;
  address: string;
  port: number;
  service?: string;
  stats?: IpvsStats;
}

export type SyncOpResult = 'success' | 'error' | 'skipped';

export interface ProxyMetrics {
  readonly registry: Registry;

  // kube-proxy
  readonly syncProxyRulesDuration: Histogram<'ip_family'>;
  readonly syncFullProxyRulesDuration: Histogram<'ip_family'>;
  readonly syncPartialProxyRulesDuration: Histogram<'ip_family'>;
  readonly networkProgrammingDuration: Histogram<'ip_family'>;
  readonly syncProxyRulesLastTimestamp: Gauge<'ip_family'>;
  readonly syncProxyRulesLastQueuedTimestamp: Gauge<'ip_family'>;
  readonly endpointChangesPending: Gauge<string>;
  readonly endpointChangesTotal: Counter<string>;
  readonly serviceChangesPending: Gauge<string>;
  readonly serviceChangesTotal: Counter<string>;
  readonly noLocalEndpointsTotal: Gauge<'ip_family' | 'traffic_policy'>;
  readonly iptablesRestoreFailuresTotal: Counter<'ip_family'>;
  readonly proxyHealthzTotal: Counter<'code'>;
  readonly proxyLivezTotal: Counter<'code'>;
  readonly conntrackReconcilerSyncDuration: Histogram<'ip_family'>;
  readonly conntrackReconcilerDeletedEntriesTotal: Counter<'ip_family'>;

  // kube-ipvs
  readonly syncsTotal: Counter<'type' | 'result'>;
  readonly syncOpsTotal: Counter<'kind' | 'result'>;
  readonly skippedObjectsTotal: Counter<'kind'>;
  readonly skippedObjects: Gauge<'kind'>;
  readonly informerRestartsTotal: Counter<'resource'>;
  readonly drainingRealServers: Gauge<string>;
  readonly drainExpiredTotal: Counter<string>;
  readonly serviceConnectionsTotal: Counter<ServiceTrafficLabel>;
  readonly servicePacketsTotal: Counter<ServiceTrafficLabel | 'direction'>;
  readonly serviceBytesTotal: Counter<ServiceTrafficLabel | 'direction'>;

  // helpers for the syncer
  /** A sync request was queued (kube-proxy Sync()). */
  markQueued(families: readonly IPFamilyName[], nowMs: number): void;
  /** One attempted sync: duration (also the full/partial histogram) and, when ok, the last-sync timestamp. */
  observeSync(families: readonly IPFamilyName[], o: { seconds: number; full: boolean; ok: boolean; nowMs: number }): void;
  /** After a successful sync: now - t for every last-change-trigger-time of the synced endpoint changes. */
  observeNetworkProgramming(family: IPFamilyName, triggerTimesMs: readonly number[], nowMs: number): void;
  /** Change tracker counts (call after every event and after take()). */
  setPendingChanges(p: { services: number; endpoints: number }): void;
  /** Services with a Local policy and no local endpoints, per family. */
  setNoLocalEndpoints(family: IPFamilyName, counts: { internal: number; external: number }): void;
  /** Replace the IPVS traffic sample served on scrape (services that went away disappear). */
  setIpvsObservation(virtualServers: readonly IpvsTrafficSample[]): void;
  /** Counters for ProxyHealthServer. */
  healthCounters(): HealthCounters;
  /**
   * Drops the per-Service traffic series a scrape built (they are rebuilt from the last observation at every
   * scrape): at 10,000 Services they are ~40 MB of label sets that would otherwise stay until the next scrape.
   */
  releaseScrapeState(): void;
}

export type ServiceTrafficLabel = 'namespace' | 'service' | 'port_name' | 'port' | 'protocol' | 'vip';

export interface CreateMetricsOptions {
  /** Register process_* and nodejs_* default metrics (default true). */
  defaultMetrics?: boolean;
  registry?: Registry;
}

/** "ns/name:port" -> parts; undefined for anything else. */
export function parseServicePortName(s: string | undefined): { namespace: string; service: string; portName: string } | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash <= 0) return undefined;
  const rest = s.slice(slash + 1);
  const colon = rest.indexOf(':');
  const service = colon < 0 ? rest : rest.slice(0, colon);
  if (service === '') return undefined;
  return { namespace: s.slice(0, slash), service, portName: colon < 0 ? '' : rest.slice(colon + 1) };
}

/**
 * Observed virtual servers (with kernel stats, without `service`) labelled with the Service port the
 * desired state says each implements. Virtual servers the desired state does not have are dropped.
 */
export function withServiceNames(observed: readonly VirtualServer[], desired: readonly VirtualServer[]): IpvsTrafficSample[] {
  const names = new Map<string, string>();
  for (const vs of desired) if (vs && typeof vs.service === 'string') names.set(virtualServerKey(vs), vs.service);
  const out: IpvsTrafficSample[] = [];
  for (const vs of observed) {
    const service = vs ? names.get(virtualServerKey(vs)) : undefined;
    if (service !== undefined) out.push({ protocol: vs.protocol, address: vs.address, port: vs.port, service, stats: vs.stats });
  }
  return out;
}

export function createMetrics(options: CreateMetricsOptions = {}): ProxyMetrics {
  const registry = options.registry ?? new Registry();
  const registers = [registry];
  if (options.defaultMetrics !== false) collectDefaultMetrics({ register: registry });

  const hist = (name: string, help: string, buckets: number[]) =>
    new Histogram<'ip_family'>({ name, help, buckets, labelNames: ['ip_family'], registers });

  const syncProxyRulesDuration = hist('kubeproxy_sync_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds', SYNC_BUCKETS);
  const syncFullProxyRulesDuration = hist('kubeproxy_sync_full_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for full resyncs', SYNC_BUCKETS);
  const syncPartialProxyRulesDuration = hist('kubeproxy_sync_partial_proxy_rules_duration_seconds', 'SyncProxyRules latency in seconds for partial resyncs', SYNC_BUCKETS);
  const networkProgrammingDuration = hist('kubeproxy_network_programming_duration_seconds', 'In Cluster Network Programming Latency in seconds', NETWORK_PROGRAMMING_BUCKETS);
  const conntrackReconcilerSyncDuration = hist('kubeproxy_conntrack_reconciler_sync_duration_seconds', 'ReconcileConntrackFlowsLatency latency in seconds', SYNC_BUCKETS);

  const syncProxyRulesLastTimestamp = new Gauge<'ip_family'>({
    name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
    help: 'The last time proxy rules were successfully synced',
    labelNames: ['ip_family'],
    registers,
  });
  const syncProxyRulesLastQueuedTimestamp = new Gauge<'ip_family'>({
    name: 'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
    help: 'The last time a sync of proxy rules was queued',
    labelNames: ['ip_family'],
    registers,
  });
  const endpointChangesPending = new Gauge({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_pending', help: 'Pending proxy rules Endpoint changes', registers });
  const endpointChangesTotal = new Counter({ name: 'kubeproxy_sync_proxy_rules_endpoint_changes_total', help: 'Cumulative proxy rules Endpoint changes', registers });
  const serviceChangesPending = new Gauge({ name: 'kubeproxy_sync_proxy_rules_service_changes_pending', help: 'Pending proxy rules Service changes', registers });
  const serviceChangesTotal = new Counter({ name: 'kubeproxy_sync_proxy_rules_service_changes_total', help: 'Cumulative proxy rules Service changes', registers });
  const noLocalEndpointsTotal = new Gauge<'ip_family' | 'traffic_policy'>({
    name: 'kubeproxy_sync_proxy_rules_no_local_endpoints_total',
    help: 'Number of services with a Local traffic policy and no endpoints',
    labelNames: ['ip_family', 'traffic_policy'],
    registers,
  });
  const iptablesRestoreFailuresTotal = new Counter<'ip_family'>({
    name: 'kubeproxy_sync_proxy_rules_iptables_restore_failures_total',
    help: 'Cumulative proxy iptables restore failures',
    labelNames: ['ip_family'],
    registers,
  });
  const proxyHealthzTotal = new Counter<'code'>({ name: 'kubeproxy_proxy_healthz_total', help: 'Cumulative proxy healthz HTTP status', labelNames: ['code'], registers });
  const proxyLivezTotal = new Counter<'code'>({ name: 'kubeproxy_proxy_livez_total', help: 'Cumulative proxy livez HTTP status', labelNames: ['code'], registers });
  const conntrackReconcilerDeletedEntriesTotal = new Counter<'ip_family'>({
    name: 'kubeproxy_conntrack_reconciler_deleted_entries_total',
    help: 'Cumulative conntrack flows deleted by conntrack reconciler',
    labelNames: ['ip_family'],
    registers,
  });

  // ---- kube-ipvs ----
  const syncsTotal = new Counter<'type' | 'result'>({
    name: 'kubeipvs_syncs_total',
    help: 'Syncs attempted, by type (full: kernel re-read and every Service; partial: the changed Services) and result (success, error)',
    labelNames: ['type', 'result'],
    registers,
  });
  const syncOpsTotal = new Counter<'kind' | 'result'>({
    name: 'kubeipvs_sync_ops_total',
    help: 'Kernel operations applied by syncs, by op kind (add-service, del-real-server, ipset-add, iptables-restore, ...) and result (success, error, skipped)',
    labelNames: ['kind', 'result'],
    registers,
  });
  const skippedObjectsTotal = new Counter<'kind'>({
    name: 'kubeipvs_skipped_objects_total',
    help: 'Objects (or parts of them) skipped as invalid, counted when first reported, by kind (Service, EndpointSlice, Node, Config)',
    labelNames: ['kind'],
    registers,
  });
  const skippedObjects = new Gauge<'kind'>({
    name: 'kubeipvs_skipped_objects',
    help: 'Diagnostics currently reported for invalid objects, by kind',
    labelNames: ['kind'],
    registers,
  });
  const informerRestartsTotal = new Counter<'resource'>({
    name: 'kubeipvs_informer_restarts_total',
    help: 'List/watch restarts after an error, by resource (Service, EndpointSlice, Node)',
    labelNames: ['resource'],
    registers,
  });
  const drainingRealServers = new Gauge({
    name: 'kubeipvs_draining_real_servers',
    help: 'Removed TCP real servers kept at weight 0 until their connections end or the graceful termination period passes',
    registers,
  });
  const drainExpiredTotal = new Counter({
    name: 'kubeipvs_drain_expired_total',
    help: 'Draining real servers deleted because the graceful termination period passed with connections left',
    registers,
  });

  // IPVS traffic per Service: counters collected on scrape from the last kernel observation.
  let observation: readonly IpvsTrafficSample[] = [];
  const trafficLabels: ServiceTrafficLabel[] = ['namespace', 'service', 'port_name', 'port', 'protocol', 'vip'];
  const eachSample = (fn: (labels: Record<ServiceTrafficLabel, string>, stats: IpvsStats) => void): void => {
    for (const vs of observation) {
      const svc = parseServicePortName(vs?.service);
      if (!svc || !vs.stats) continue; // foreign virtual servers and ones without counters are not reported
      fn({ namespace: svc.namespace, service: svc.service, port_name: svc.portName, port: String(vs.port), protocol: String(vs.protocol), vip: String(vs.address) }, vs.stats);
    }
  };
  const nonNegative = (v: unknown): number => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : 0);
  const serviceConnectionsTotal: Counter<ServiceTrafficLabel> = new Counter<ServiceTrafficLabel>({
    name: 'kubeipvs_service_connections_total',
    help: 'Connections scheduled by the IPVS virtual server of a Service port (kernel counter; restarts when the virtual server is re-created)',
    labelNames: trafficLabels,
    registers,
    collect() {
      this.reset();
      eachSample((l, s) => this.inc(l, nonNegative(s.conns)));
    },
  });
  const servicePacketsTotal: Counter<ServiceTrafficLabel | 'direction'> = new Counter<ServiceTrafficLabel | 'direction'>({
    name: 'kubeipvs_service_packets_total',
    help: 'Packets through the IPVS virtual server of a Service port, by direction (in: client to server, out: server to client)',
    labelNames: [...trafficLabels, 'direction'],
    registers,
    collect() {
      this.reset();
      eachSample((l, s) => {
        this.inc({ ...l, direction: 'in' }, nonNegative(s.inPkts));
        this.inc({ ...l, direction: 'out' }, nonNegative(s.outPkts));
      });
    },
  });
  const serviceBytesTotal: Counter<ServiceTrafficLabel | 'direction'> = new Counter<ServiceTrafficLabel | 'direction'>({
    name: 'kubeipvs_service_bytes_total',
    help: 'Bytes through the IPVS virtual server of a Service port, by direction (in: client to server, out: server to client)',
    labelNames: [...trafficLabels, 'direction'],
    registers,
    collect() {
      this.reset();
      eachSample((l, s) => {
        this.inc({ ...l, direction: 'in' }, nonNegative(s.inBytes));
        this.inc({ ...l, direction: 'out' }, nonNegative(s.outBytes));
      });
    },
  });

  const seconds = (ms: number) => ms / 1000;

  return {
    registry,
    syncProxyRulesDuration,
    syncFullProxyRulesDuration,
    syncPartialProxyRulesDuration,
    networkProgrammingDuration,
    syncProxyRulesLastTimestamp,
    syncProxyRulesLastQueuedTimestamp,
    endpointChangesPending,
    endpointChangesTotal,
    serviceChangesPending,
    serviceChangesTotal,
    noLocalEndpointsTotal,
    iptablesRestoreFailuresTotal,
    proxyHealthzTotal,
    proxyLivezTotal,
    conntrackReconcilerSyncDuration,
    conntrackReconcilerDeletedEntriesTotal,
    syncsTotal,
    syncOpsTotal,
    skippedObjectsTotal,
    skippedObjects,
    informerRestartsTotal,
    drainingRealServers,
    drainExpiredTotal,
    serviceConnectionsTotal,
    servicePacketsTotal,
    serviceBytesTotal,

    markQueued(families, nowMs) {
      for (const f of families) syncProxyRulesLastQueuedTimestamp.set({ ip_family: f }, seconds(nowMs));
    },
    observeSync(families, o) {
      const s = Math.max(0, o.seconds);
      for (const f of families) {
        syncProxyRulesDuration.observe({ ip_family: f }, s);
        (o.full ? syncFullProxyRulesDuration : syncPartialProxyRulesDuration).observe({ ip_family: f }, s);
        if (o.ok) syncProxyRulesLastTimestamp.set({ ip_family: f }, seconds(o.nowMs));
      }
      syncsTotal.inc({ type: o.full ? 'full' : 'partial', result: o.ok ? 'success' : 'error' });
    },
    observeNetworkProgramming(family, triggerTimesMs, nowMs) {
      for (const t of triggerTimesMs) {
        const latency = seconds(nowMs - t);
        if (Number.isFinite(latency) && latency >= 0) networkProgrammingDuration.observe({ ip_family: family }, latency);
      }
    },
    setPendingChanges(p) {
      serviceChangesPending.set(p.services);
      endpointChangesPending.set(p.endpoints);
    },
    setNoLocalEndpoints(family, counts) {
      noLocalEndpointsTotal.set({ ip_family: family, traffic_policy: 'internal' }, counts.internal);
      noLocalEndpointsTotal.set({ ip_family: family, traffic_policy: 'external' }, counts.external);
    },
    setIpvsObservation(virtualServers) {
      observation = Array.isArray(virtualServers) ? [...virtualServers] : [];
    },
    releaseScrapeState() {
      serviceConnectionsTotal.reset();
      servicePacketsTotal.reset();
      serviceBytesTotal.reset();
    },
    healthCounters() {
      return {
        healthz: (code: string) => proxyHealthzTotal.inc({ code }),
        livez: (code: string) => proxyLivezTotal.inc({ code }),
      };
    },
  };
}
