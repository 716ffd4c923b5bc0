// kube-ipvs as it runs on a node: informers -> change trackers -> desired-state builder -> syncer, driven by
// kube-proxy's bounded-frequency runner, with the proxy health server, the health check node ports, the
// metrics server, graceful-termination deadlines and the UDP conntrack cleanup around it.
//
// The rules that keep a node serving (design principles 3 and 6, reference §5.1):
//   - nothing is synced (so nothing is deleted) before every informer has listed once: an empty cache must
//     never flush the node; after that the caches only change with real data (informers restart on their
//     own and keep their cache while the API server is away), and periodic syncs go on with what they hold;
//   - the first sync adopts what the kernel holds (kube-ipvs's own earlier state, or kube-proxy IPVS mode's):
//     no flush, only differences are written, and it is kube-proxy's initialSync (weights reset to 1);
//   - an event-driven sync plans only what the builder's delta says changed (cost follows the change); the
//     periodic sync (--ipvs-sync-period), retries after a failure and node changes re-read the whole kernel
//     and heal drift;
//   - removed TCP real servers drain at weight 0 until their connections end or
//     --ipvs-graceful-termination-period passes (DrainTracker + runner.runAfter); UDP ones go at once and
//     their conntrack entries are cleared;
//   - stop() leaves the kernel exactly as it is.

import { performance } from 'node:perf_hooks';
import { DesiredStateBuilder, type DesiredDelta } from '../desired/builder.js';
import type { InformerEvent, ProxyInformers, ResourceKind } from '../k8s/informers.js';
import type { ProxyConfig } from '../model/config.js';
import { cidrContains, parseCIDR, parseIP } from '../model/ip.js';
import { virtualServerKey, type NodeState } from '../model/state.js';
import type { PlanScope } from '../plan/options.js';
import { ChangeTracker, type SyncBatch } from '../state/changes.js';
import { silentLogger, type Logger } from '../util/log.js';
import { ConntrackCleaner, PendingUdpCleanups } from './controller-conntrack.js';
import { DiagnosticsReporter } from './controller-diagnostics.js';
import { KernelCache } from './controller-kernel-cache.js';
import { MemoryRelease } from './memory-release.js';
import { ServiceHealthIndex } from './controller-service-health.js';
import { DrainTracker } from './drain.js';
import { ProxyHealthServer, proxyHealthOptionsFromConfig, type IPFamilyName } from './health.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import { createMetrics, withServiceNames, type IpvsTrafficSample, type ProxyMetrics } from './metrics.js';
import { BoundedFrequencyRunner, runnerOptionsFromConfig, type RetryOptions, type RunInfo, type RunResult } from './runner.js';
import { systemClock, type Clock } from './runner-clock.js';
import { ServiceHealthServer } from './service-health.js';
import type { KernelDrivers } from './syncer-drivers.js';
import { Syncer, type SyncerOptions, type SyncResult } from './syncer.js';

/** What the controller needs from the informers (src/k8s/informers.ts ProxyInformers fits). */
export type ControllerInformers = Pick<ProxyInformers, 'start' | 'stop' | 'hasSynced' | 'onEvent' | 'counters' | 'currentNode'> & {
  services: Pick<ProxyInformers['services'], 'get'>;
  endpointSlices: Pick<ProxyInformers['endpointSlices'], 'slicesFor'>;
};

export interface ControllerOptions {
  config: ProxyConfig;
  informers: ControllerInformers;
  drivers: KernelDrivers;
  log?: Logger;
  clock?: Clock;
  metrics?: ProxyMetrics;
  /** Passed to the Syncer: false skips the IPVS sysctls (host tests). */
  sysctls?: SyncerOptions['sysctls'];
  /** UDP conntrack cleanup; false disables it (host tests without the tool). */
  conntrack?: ConntrackCleaner | false;
  /** Open the HTTP servers (--healthz-bind-address, --metrics-bind-address, health check node ports). Default true. */
  servers?: boolean;
  /** Retry after a failed sync (default 1 s doubling up to the sync period). */
  retry?: RetryOptions | false;
  /** Called after every run of the sync function (tests, debugging). Must not throw. */
  onSync?: (report: ControllerSyncReport) => void;
  /** /configz of the metrics server. */
  configz?: () => unknown;
  /** Answer the IPVS service listing and kube-ipvs0's addresses from memory in partial syncs (default true). */
  kernelCache?: boolean;
}

/** One run of the sync function. */
export interface ControllerSyncReport {
  info: RunInfo;
  /** 'skipped': the informers have not all listed yet; 'none': nothing changed, the kernel was not touched. */
  kind: 'full' | 'partial' | 'none' | 'skipped';
  /** Why a full sync (the first reason that applied). */
  fullBecause?: string;
  /** Services ("ns/name") whose objects or endpoints changed since the previous run. */
  services: string[];
  scope?: PlanScope;
  result?: SyncResult;
  ok: boolean;
  error?: Error;
  ms: number;
}

const FAMILIES: IPFamilyName[] = ['IPv4', 'IPv6'];
const round = (ms: number) => Math.round(ms * 10) / 10;
const RETRY_LISTEN_MS = 5000;
/** Plans at least this big are followed by a garbage collection once the sync is over (./memory-release.ts). */
const LARGE_SYNC_OPS = 5000;

function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000}m0s`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

/** The plan scope that applies exactly a builder delta (plus the virtual servers of drains whose deadline passed). */
export function scopeOfDelta(delta: DesiredDelta, extraVirtualServers: Iterable<string> = []): PlanScope {
  const virtualServers = new Set<string>(extraVirtualServers);
  for (const list of [delta.virtualServers.added, delta.virtualServers.updated, delta.virtualServers.removed]) {
    for (const vs of list) virtualServers.add(virtualServerKey(vs));
  }
  const ipsetEntries: string[] = [];
  for (const [name, ch] of Object.entries(delta.ipsets)) {
    for (const e of ch.added) ipsetEntries.push(`${name} ${e}`);
    for (const e of ch.removed) ipsetEntries.push(`${name} ${e}`);
  }
  return {
    virtualServers: [...virtualServers].sort(),
    addresses: [...delta.addresses.added, ...delta.addresses.removed],
    ipsetEntries,
    iptables: delta.iptables.ipv4 || delta.iptables.ipv6,
  };
}

export function isEmptyScope(scope: PlanScope): boolean {
  const size = (x: Iterable<string> | undefined) => (x ? [...x].length : 0);
  return size(scope.virtualServers) === 0 && size(scope.addresses) === 0 && size(scope.ipsetEntries) === 0 && scope.iptables === false;
}

/** The node IPs --nodeport-addresses selects (kube-proxy GetNodeIPs); [] = every address. */
export function nodePortIPs(nodePortAddresses: readonly string[], nodeAddresses: readonly string[]): string[] {
  const cidrs = nodePortAddresses.map((c) => parseCIDR(c)).filter((c): c is NonNullable<typeof c> => c !== undefined);
  if (cidrs.length === 0 || cidrs.some((c) => c.prefix === 0)) return [];
  const out: string[] = [];
  for (const a of nodeAddresses) {
    const ip = parseIP(a);
    if (ip && cidrs.some((c) => cidrContains(c, ip))) out.push(a);
  }
  return out;
}

export class Controller {
  readonly config: ProxyConfig;
  readonly metrics: ProxyMetrics;
  readonly health: ProxyHealthServer;
  readonly changes: ChangeTracker;
  readonly builder: DesiredStateBuilder;
  readonly syncer: Syncer;
  readonly drains: DrainTracker;
  readonly runner: BoundedFrequencyRunner;

  private readonly informers: ControllerInformers;
  private readonly drivers: KernelDrivers;
  private readonly kernelCache: KernelCache | undefined;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly conntrack: ConntrackCleaner | undefined;
  private readonly diagnostics: DiagnosticsReporter;
  private readonly healthIndex: ServiceHealthIndex;
  private readonly servers: boolean;
  private readonly onSync: ControllerOptions['onSync'];
  private readonly configz: ControllerOptions['configz'];

  private serviceHealth: ServiceHealthServer | undefined;
  private metricsServer: MetricsServer | undefined;
  private offEvents: (() => void) | undefined;
  private listenTimers: NodeJS.Timeout[] = [];
  private started = false;
  private stopped = false;
  private synced = false;
  private everSynced = false;
  private forceFull: string | undefined = undefined;
  private nodeAddresses: string[] | undefined;
  /** UDP virtual servers whose stale conntrack entries are still to be cleared (kept across a failed sync). */
  private readonly pendingConntrack = new PendingUdpCleanups();
  private readonly trafficSamples = new Map<string, IpvsTrafficSample>();
  /** Collects the garbage of a large sync once it is over (./memory-release.ts). */
  private readonly memoryRelease: MemoryRelease;
  private readonly restartsSeen = new Map<ResourceKind, number>();
  private readonly planDiagnosticsSeen = new Set<string>();
  private disconnected = new Set<ResourceKind>();
  private fatal: ((e: Error) => void) | undefined;

  constructor(options: ControllerOptions) {
    this.config = options.config;
    this.informers = options.informers;
    this.kernelCache = options.kernelCache === false ? undefined : new KernelCache(options.drivers);
    this.drivers = this.kernelCache?.drivers ?? options.drivers;
    this.log = options.log ?? silentLogger;
    this.clock = options.clock ?? systemClock;
    this.metrics = options.metrics ?? createMetrics();
    this.servers = options.servers !== false;
    this.onSync = options.onSync;
    this.configz = options.configz;
    const nodeName = this.config.hostnameOverride;
    this.changes = new ChangeTracker({ nodeName, clock: this.clock });
    this.builder = new DesiredStateBuilder(
      { nodeName, nodeAddresses: [], iptablesRandomFully: this.drivers.iptables.hasRandomFully ?? true },
      this.config,
    );
    this.syncer = new Syncer({ drivers: this.drivers, config: this.config, log: this.log.child({ component: 'syncer' }), ...(options.sysctls !== undefined ? { sysctls: options.sysctls } : {}) });
    this.drains = new DrainTracker({ periodMs: this.config.gracefulTerminationPeriodMs, clock: this.clock });
    this.health = new ProxyHealthServer({
      ...proxyHealthOptionsFromConfig(this.config),
      clock: this.clock,
      counters: this.metrics.healthCounters(),
      log: this.log.child({ component: 'healthz' }),
    });
    this.conntrack = options.conntrack === false ? undefined : (options.conntrack ?? new ConntrackCleaner({ log: this.log.child({ component: 'conntrack' }) }));
    this.diagnostics = new DiagnosticsReporter(this.log, this.metrics);
    this.healthIndex = new ServiceHealthIndex(nodeName, {
      service: (ns, name) => this.informers.services.get(name, ns),
      slicesFor: (ns, name) => this.informers.endpointSlices.slicesFor(ns, name),
    });
    this.memoryRelease = new MemoryRelease({
      busy: () => this.runner.running,
      onCollected: (r) =>
        this.log.info({ heapUsedMB: Math.round(r.heapUsedBefore / 1048576), heapUsedAfterMB: Math.round(r.heapUsedAfter / 1048576), ms: Math.round(r.ms) }, 'Released the memory of a large sync'),
    });
    this.runner = new BoundedFrequencyRunner((info) => this.syncFn(info), {
      ...runnerOptionsFromConfig(this.config),
      clock: this.clock,
      retry: options.retry ?? { initialMs: 1000, maxMs: this.config.syncPeriodMs, factor: 2 },
      onResult: (r) => this.onRunResult(r),
    });
  }

  /** Resolves once the servers are up (or scheduled for retry) and the informers are started. */
  async start(onFatal?: (e: Error) => void): Promise<void> {
    if (this.started) return;
    this.started = true;
    this.fatal = onFatal;
    const c = this.config;
    this.log.info({ ipFamily: 'IPv4' }, 'Using ipvs Proxier');
    this.log.info({ ipFamily: 'IPv4', minSyncPeriod: formatDuration(c.minSyncPeriodMs), syncPeriod: formatDuration(c.syncPeriodMs), burstSyncs: 2 }, 'ipvs sync params');
    this.log.info({ ipFamily: 'IPv6', minSyncPeriod: formatDuration(c.minSyncPeriodMs), syncPeriod: formatDuration(c.syncPeriodMs), burstSyncs: 2 }, 'ipvs sync params');
    this.log.info({ scheduler: c.ipvs.scheduler, excludeCIDRs: c.ipvs.excludeCIDRs, gracefulTerminationPeriod: formatDuration(c.gracefulTerminationPeriodMs), nodeName: c.hostnameOverride }, 'Starting ipvs proxier');
    this.offEvents = this.informers.onEvent((e) => this.onInformerEvent(e));
    if (this.servers) {
      await this.listen('healthz', () => this.health.listen());
      await this.listen('metrics', async () => {
        this.metricsServer = await startMetricsServer({
          bindAddress: c.metricsBindAddress,
          registry: this.metrics.registry,
          afterScrape: () => this.metrics.releaseScrapeState(),
          log: this.log.child({ component: 'metrics' }),
          ...(this.configz ? { configz: this.configz } : {}),
        });
      });
    }
    this.runner.start();
    this.log.info({ controller: 'service config' }, 'Starting service config controller');
    this.log.info({ controller: 'endpoint slice config' }, 'Starting endpoint slice config controller');
    this.log.info({ controller: 'node config' }, 'Starting node config controller');
    this.informers.start();
  }

  /** Stops watching, syncing and serving. The kernel is left exactly as it is. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.listenTimers) clearTimeout(t);
    this.listenTimers = [];
    this.memoryRelease.cancel();
    this.offEvents?.();
    await this.informers.stop();
    await this.runner.stop();
    await Promise.all([this.health.close(), this.metricsServer?.close(), this.serviceHealth?.close()]);
    this.log.info('Stopped; the kernel state is left as it is');
  }

  /** Whether every informer has listed once (syncs run only after that). */
  get initialized(): boolean {
    return this.synced;
  }

  /** Resolves when no sync is running or about to start. */
  idle(): Promise<void> {
    return this.runner.idle();
  }

  /** The health check node ports currently open (tests, debugging). */
  serviceHealthPorts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const [k, v] of this.serviceHealth?.listening() ?? []) out.set(k, v.port);
    return out;
  }

  // ---- servers ----------------------------------------------------------------------------------------------

  /** kube-proxy: a server that cannot bind is retried every 5 s, unless --bind-address-hard-fail makes it fatal. */
  private async listen(what: string, open: () => Promise<unknown>): Promise<void> {
    try {
      await open();
    } catch (e) {
      const err = e instanceof Error ? e : new Error(String(e));
      if (this.config.bindAddressHardFail) {
        this.log.error({ err: err.message }, `Failed to start ${what} server`);
        this.fatal?.(err);
        return;
      }
      this.log.error({ err: err.message, retryInMs: RETRY_LISTEN_MS }, `Failed to start ${what} server; will retry`);
      if (this.stopped) return;
      const t = setTimeout(() => {
        this.listenTimers = this.listenTimers.filter((x) => x !== t);
        if (!this.stopped) void this.listen(what, open);
      }, RETRY_LISTEN_MS);
      t.unref();
      this.listenTimers.push(t);
    }
  }

  // ---- events -----------------------------------------------------------------------------------------------

  private onInformerEvent(e: InformerEvent): void {
    if (this.stopped) return;
    switch (e.type) {
      case 'add':
      case 'update':
      case 'delete':
        this.onObjectEvent(e);
        return;
      case 'synced':
        this.log.info({ controller: `${e.kind} config` }, 'Caches are synced');
        if (!this.synced && this.informers.hasSynced()) {
          this.synced = true;
          // kube-proxy syncs directly once Services and EndpointSlices have synced.
          this.requestSync();
        }
        return;
      case 'connection':
        this.onConnection(e.kind, e.state, e.error);
        return;
      default:
        return;
    }
  }

  private onObjectEvent(e: Extract<InformerEvent, { type: 'add' | 'update' | 'delete' }>): void {
    if (e.kind === 'Node') {
      const c = e.type === 'delete' ? this.changes.node.remove(e.object) : this.changes.node.upsert(e.object);
      if (!c) return;
      this.health.syncNode(this.changes.node.node);
      if (c.resync) this.requestSync();
      return;
    }
    const r =
      e.kind === 'Service'
        ? e.type === 'delete'
          ? this.changes.services.remove(e.object)
          : this.changes.services.upsert(e.object)
        : e.type === 'delete'
          ? this.changes.endpointSlices.remove(e.object)
          : this.changes.endpointSlices.upsert(e.object);
    if (!r.ignored) (e.kind === 'Service' ? this.metrics.serviceChangesTotal : this.metrics.endpointChangesTotal).inc();
    const p = this.changes.pending();
    this.metrics.setPendingChanges(p);
    // kube-proxy: Sync() whenever changes are pending after the event (requests coalesce in the runner).
    if (r.pending > 0) this.requestSync();
  }

  private onConnection(kind: ResourceKind, state: string, error: unknown): void {
    const restarts = this.informers.counters()[kind]?.restarts ?? 0;
    const seen = this.restartsSeen.get(kind) ?? 0;
    if (restarts > seen) this.metrics.informerRestartsTotal.inc({ resource: kind }, restarts - seen);
    this.restartsSeen.set(kind, restarts);
    if (state === 'disconnected' && !this.disconnected.has(kind)) {
      this.disconnected.add(kind);
      this.log.warn({ kind, err: error instanceof Error ? error.message : String(error ?? '') }, 'Lost the API server; serving the cached state until it is back');
    } else if (state === 'connected' && this.disconnected.delete(kind)) {
      this.log.info({ kind }, 'API server connection restored');
    }
  }

  /** kube-proxy Sync(): mark the health update as queued, then ask the runner (coalescing, rate-limited). */
  private requestSync(): void {
    if (!this.synced || this.stopped) return;
    for (const f of FAMILIES) this.health.queuedUpdate(f);
    this.metrics.markQueued(FAMILIES, this.clock.now());
    this.runner.run();
  }

  // ---- the sync function ------------------------------------------------------------------------------------

  private feed(batch: SyncBatch): void {
    for (const c of batch.serviceChanges) {
      if (c.current) this.builder.upsertService(c.current);
      else this.builder.deleteService(c.key);
    }
    for (const s of batch.endpoints.slices) {
      if (s.current) this.builder.upsertEndpointSlice(s.current);
      else this.builder.deleteEndpointSlice(s.key);
    }
    if (batch.full) {
      const node = this.changes.node.node;
      if (node) this.builder.upsertNode(node);
      else this.builder.deleteNode();
    }
  }

  /** The node's addresses (every interface but kube-ipvs0): where NodePorts are served. Kept on a read error. */
  private async refreshNodeAddresses(): Promise<void> {
    let addrs: string[];
    try {
      addrs = await this.drivers.link.localAddressesExcept();
    } catch (e) {
      this.log.warn({ err: (e as Error).message }, 'Failed to read the node addresses; using the previous ones');
      return;
    }
    const prev = this.nodeAddresses;
    if (prev && prev.length === addrs.length && prev.every((a, i) => a === addrs[i])) return;
    this.nodeAddresses = addrs;
    this.builder.setNodeAddresses(addrs);
    if (prev) this.log.info({ nodeAddresses: addrs }, 'Node addresses changed');
  }

  private async syncFn(info: RunInfo): Promise<Error | undefined> {
    const t0 = performance.now();
    this.memoryRelease.activity();
    const report = (r: Omit<ControllerSyncReport, 'info' | 'ms'>): void => {
      try {
        this.onSync?.({ ...r, info, ms: performance.now() - t0 });
      } catch {
        // a reporting hook never breaks the loop
      }
    };
    if (!this.synced) {
      // "Not syncing ipvs rules until Services and Endpoints have been received from master"
      report({ kind: 'skipped', services: [], ok: true });
      return undefined;
    }
    const batch = this.changes.take();
    this.metrics.setPendingChanges(this.changes.pending());
    this.feed(batch);
    if (batch.full) this.health.syncNode(this.changes.node.node);
    // kube-proxy reads the node's addresses every sync; here every sync that re-reads the kernel anyway (first,
    // periodic, retry, node change): with thousands of service IPs on kube-ipvs0 the address dump costs what the
    // cluster costs, and an event-driven sync must cost what the change costs. A new node IP is picked up by the
    // next periodic sync at the latest.
    if (!this.everSynced || info.periodic || info.retry || this.forceFull || batch.full || !this.nodeAddresses) await this.refreshNodeAddresses();
    const delta = this.builder.takeDelta();
    this.diagnostics.report(delta.diagnostics);
    const desired = this.builder.build();
    const portsChanged = this.healthIndex.update(batch.services);
    this.pendingConntrack.record(delta.virtualServers);

    const expired = this.drains.expiredDrains();
    const fullBecause = !this.everSynced
      ? 'first sync'
      : info.retry
        ? 'retry after a failure'
        : info.periodic
          ? 'sync period'
          : this.forceFull
            ? this.forceFull
            : batch.full || delta.full
              ? 'node or configuration changed'
              : undefined;
    let scope: PlanScope | undefined;
    if (!fullBecause) {
      scope = scopeOfDelta(delta, expired.map((k) => this.drains.get(k)?.service).filter((s): s is string => !!s));
      if (isEmptyScope(scope)) {
        // Nothing the kernel holds has to change (e.g. a slice change that does not alter the desired state).
        this.afterSuccess(batch);
        await this.syncServiceHealth(portsChanged);
        // Cleanups still pending from an earlier sync are due now too (none is recorded by this one).
        await this.cleanConntrack();
        report({ kind: 'none', services: batch.services, scope, ok: true });
        return undefined;
      }
    }

    const prepMs = performance.now() - t0;
    this.kernelCache?.beginSync(fullBecause ? 'full' : 'partial', scope);
    const result = await this.syncer.sync({
      desired,
      kind: fullBecause ? 'full' : 'partial',
      ...(scope ? { scope } : {}),
      prune: this.informers.hasSynced(),
      ...(this.nodeAddresses ? { nodeAddresses: this.nodeAddresses } : {}),
      drainExpired: this.drains.drainExpired,
      expiredDrains: expired,
    });
    this.log.debug(
      { kind: result.kind, services: batch.services.length, prepMs: round(prepMs), ...Object.fromEntries(Object.entries(result.durations).map(([k, v]) => [k, round(v)])) },
      'Sync timing',
    );
    this.account(result, scope, desired, delta);
    // A sync that wrote at this scale (first sync of a big node, recovery) leaves ~100 MB of garbage behind.
    if (result.plan.ops.length >= LARGE_SYNC_OPS) this.memoryRelease.request();
    const ok = result.ok && !result.error;
    const families = FAMILIES;
    this.metrics.observeSync(families, { seconds: result.durations.totalMs / 1000, full: result.kind === 'full', ok, nowMs: this.clock.now() });
    if (!ok) {
      this.changes.requeue(batch);
      this.metrics.setPendingChanges(this.changes.pending());
      this.forceFull = 'previous sync failed';
      const error = result.error ?? new Error(`sync failed: ${result.failed.length} operation(s) failed, ${result.skipped.length} skipped; first: ${result.failed[0]?.error.message ?? result.skipped[0]?.id ?? ''}`);
      report({ kind: result.kind, ...(result.fullBecause || fullBecause ? { fullBecause: result.fullBecause ?? fullBecause } : {}), services: batch.services, ...(scope ? { scope } : {}), result, ok: false, error });
      return error;
    }
    this.afterSuccess(batch);
    await this.syncServiceHealth(portsChanged);
    await this.cleanConntrack();
    report({ kind: result.kind, ...(result.fullBecause || fullBecause ? { fullBecause: result.fullBecause ?? fullBecause } : {}), services: batch.services, ...(scope ? { scope } : {}), result, ok: true });
    return undefined;
  }

  /** Bookkeeping every sync that reached the planner does: drains, op counters, traffic samples, plan diagnostics. */
  private account(result: SyncResult, scope: PlanScope | undefined, desired: NodeState, delta: DesiredDelta): void {
    if (!result.error) {
      const failedOps = [...result.failed.map((f) => f.op), ...result.skipped];
      this.drains.record(result.plan.draining, { ...(result.kind === 'partial' && scope ? { scope } : {}), failedOps });
      const next = this.drains.nextDeadline();
      if (next !== undefined) this.runner.runAfter(next - this.clock.now());
    }
    this.metrics.drainingRealServers.set(this.drains.size);
    const counts = new Map<string, number>();
    const bump = (kind: string, res: string) => counts.set(`${kind}\u0000${res}`, (counts.get(`${kind}\u0000${res}`) ?? 0) + 1);
    for (const op of result.applied) bump(op.kind, 'success');
    for (const f of result.failed) bump(f.op.kind, 'error');
    for (const op of result.skipped) bump(op.kind, 'skipped');
    for (const [k, n] of counts) {
      const [kind, res] = k.split('\u0000') as [string, string];
      this.metrics.syncOpsTotal.inc({ kind, result: res }, n);
    }
    const expired = result.changed.filter((op) => op.kind === 'del-real-server' && op.reason === 'drain-expired').length;
    if (expired) this.metrics.drainExpiredTotal.inc(expired);
    for (const f of result.failed) {
      if (f.op.kind === 'iptables-restore') this.metrics.iptablesRestoreFailuresTotal.inc({ ip_family: f.op.family === 'ipv4' ? 'IPv4' : 'IPv6' });
    }
    for (const d of result.plan.diagnostics) {
      const key = `${d.object}\u0000${d.message}`;
      if (this.planDiagnosticsSeen.has(key)) continue;
      this.planDiagnosticsSeen.add(key);
      this.log.warn({ object: d.object, reason: d.message }, 'Planner skipped an object');
    }
    if (result.error) return;
    // Per-Service IPVS traffic counters from what the sync observed (full: every virtual server; partial: the scoped ones).
    if (result.kind === 'full') {
      this.trafficSamples.clear();
      for (const s of withServiceNames(result.observed.ipvs, desired.ipvs)) this.trafficSamples.set(virtualServerKey(s), s);
    } else {
      const names = new Map<string, string>();
      for (const vs of [...delta.virtualServers.added, ...delta.virtualServers.updated]) if (vs.service) names.set(virtualServerKey(vs), vs.service);
      for (const vs of delta.virtualServers.removed) this.trafficSamples.delete(virtualServerKey(vs));
      for (const vs of result.observed.ipvs) {
        const key = virtualServerKey(vs);
        const service = names.get(key) ?? this.trafficSamples.get(key)?.service;
        // A partial sync may not have read the counters (they come with full dumps): keep the last ones.
        const counters = vs.stats ?? this.trafficSamples.get(key)?.stats;
        if (service) this.trafficSamples.set(key, { protocol: vs.protocol, address: vs.address, port: vs.port, service, ...(counters ? { stats: counters } : {}) });
      }
    }
    this.metrics.setIpvsObservation([...this.trafficSamples.values()]);
  }

  private afterSuccess(batch: SyncBatch): void {
    this.everSynced = true;
    this.forceFull = undefined;
    for (const f of FAMILIES) this.health.updated(f);
    const now = this.clock.now();
    const triggers: number[] = [];
    for (const s of batch.endpoints.services) triggers.push(...s.triggerTimes);
    if (triggers.length) for (const f of FAMILIES) this.metrics.observeNetworkProgramming(f, triggers, now);
    this.metrics.setNoLocalEndpoints('IPv4', this.healthIndex.noLocalEndpoints(4));
    this.metrics.setNoLocalEndpoints('IPv6', this.healthIndex.noLocalEndpoints(6));
  }

  /** Health check node ports: opened/closed when the set changed; counts updated every sync. */
  private async syncServiceHealth(portsChanged: boolean): Promise<void> {
    if (!this.servers || this.stopped) return;
    if (!this.serviceHealth) {
      const addresses = nodePortIPs(this.config.nodePortAddresses, this.nodeAddresses ?? []);
      this.serviceHealth = new ServiceHealthServer({
        addresses,
        isProxyHealthy: () => this.health.isHealthy(),
        hostname: this.config.hostnameOverride,
        log: this.log.child({ component: 'service-health' }),
      });
    }
    if (portsChanged || this.healthIndex.takePortsChanged()) await this.serviceHealth.syncServices(this.healthIndex.healthCheckNodePorts());
    this.serviceHealth.syncEndpoints(this.healthIndex.localReadyEndpoints());
  }

  private async cleanConntrack(): Promise<void> {
    if (this.pendingConntrack.size === 0) return;
    if (!this.conntrack) {
      this.pendingConntrack.clear();
      return;
    }
    const targets = this.pendingConntrack.take();
    const t0 = performance.now();
    const r = await this.conntrack.clean(targets);
    const seconds = (performance.now() - t0) / 1000;
    for (const f of [4, 6] as const) {
      const family: IPFamilyName = f === 4 ? 'IPv4' : 'IPv6';
      if (r.families.includes(f)) this.metrics.conntrackReconcilerSyncDuration.observe({ ip_family: family }, seconds);
      if (r.deletedFlowsByFamily[f]) this.metrics.conntrackReconcilerDeletedEntriesTotal.inc({ ip_family: family }, r.deletedFlowsByFamily[f]);
    }
  }

  private onRunResult(r: RunResult): void {
    if (!r.ok) {
      const err = r.error instanceof Error ? r.error.message : String(r.error);
      this.log.error({ err, retryInMs: r.retryAt !== undefined ? r.retryAt - r.finishedAt : undefined, failures: this.runner.consecutiveFailures }, 'Sync failed; will retry');
    }
  }
}
