// One sync: make the kernel equal to a desired NodeState, and say exactly what that took.
//
//   1. first sync only: kube-proxy's IPVS sysctls and IPVS timeouts (reference §5.4)
//   2. ensure kube-ipvs0 exists (kube-proxy's EnsureDummyDevice every sync; failure aborts the sync)
//   3. observe the kernel: everything (full sync: heals drift), or only what the scope touches (partial)
//   4. computePlan(desired, observed, options): the planner's ownership rules decide what may be deleted;
//      nothing is ever flushed
//   5. execute the ops (./executor.ts), batched per driver
//   6. remember what the kernel now holds for the next partial sync (./kernel-memory.ts: copy-on-write per set)
//
// The syncer decides nothing about WHEN (the runner does) or WHAT is desired (desired/ does). It never
// throws: a sync that could not even start (link, sysctls, observe) returns ok: false with `error`; op
// failures are per op (`failed`, `skipped`) and the next sync retries them. After any failure the next
// partial request runs as a full sync, which re-reads the kernel.
//
// Partial syncs (event-driven): pass `kind: 'partial'` and a `scope` built from the desired builder's delta
// (controller.ts scopeOfDelta, or plan/options.ts scopeOf / mergeScopes). They re-read only the scoped virtual
// servers (one service dump + one destination dump each: fresh connection counters for graceful termination) and
// kube-ipvs0's addresses (one rtnetlink dump); ipsets and iptables are taken from what the previous sync left (no
// process at all).
// `desired` must still be the whole node's desired state.

import { performance } from 'node:perf_hooks';
import { KernelError } from '../kernel/errors.js';
import { iptablesTextEqual } from '../kernel/iptables-normalise.js';
import { applyIpvsSysctls, type SysctlChange } from '../kernel/sysctl.js';
import type { ProxyConfig } from '../model/config.js';
import type { NodeState } from '../model/state.js';
import { emptyNodeState } from '../model/state.js';
import type { Op } from '../plan/ops.js';
import type { PlanOptions, PlanScope } from '../plan/options.js';
import { resolveScope } from '../plan/options.js';
import { computePlan, type Plan } from '../plan/plan.js';
import { countOps, formatCounts, summarizeOps, type PlanCounts } from '../plan/summary.js';
import { silentLogger, type Logger } from '../util/log.js';
import { addWrites, executeOps, noWrites, type ExecutionResult, type KernelWrites, type OpFailure } from './executor.js';
import { observeKernel, type ObserveDurations, type Observation } from './observe.js';
import { memoryFromObserved, rememberApplied, type KernelMemory } from './kernel-memory.js';
import type { KernelDrivers } from './syncer-drivers.js';

export type SyncKind = 'full' | 'partial';

export interface SyncerOptions {
  drivers: KernelDrivers;
  config: ProxyConfig;
  log?: Logger;
  /** Sysctls on the first sync: false skips them (tools that must not change the node), or a /proc/sys root. */
  sysctls?: false | { root?: string };
}

export interface SyncRequest {
  /** The whole node's desired state (also for partial syncs). */
  desired: NodeState;
  /** Default 'full'. A partial request runs as full when the syncer has no trustworthy memory of the kernel. */
  kind?: SyncKind;
  /** Partial syncs: what changed (ignored by full syncs). */
  scope?: PlanScope;
  /** Deletions and drains allowed (default true). False until every informer has synced once. */
  prune?: boolean;
  /** The node's addresses; default: read from the kernel on full syncs, the last ones read on partial syncs. */
  nodeAddresses?: readonly string[];
  /** Default: true on the first sync of this syncer (kube-proxy's initialSync). */
  initialSync?: boolean;
  gracefulTermination?: boolean;
  /** Drain deadlines (runtime/drain.ts DrainTracker.planOptions()). */
  drainExpired?: PlanOptions['drainExpired'];
  expiredDrains?: PlanOptions['expiredDrains'];
}

export interface SyncDurations {
  sysctlMs: number;
  linkMs: number;
  observeMs: number;
  planMs: number;
  executeMs: number;
  ipvsMs: number;
  ipsetMs: number;
  iptablesMs: number;
  addressesMs: number;
  totalMs: number;
}

export interface SyncResult {
  /** True when every planned op was applied (and the sync could start at all). */
  ok: boolean;
  kind: SyncKind;
  /** Why a partial request ran as a full sync. */
  fullBecause?: string;
  /** Set when the sync stopped before applying anything (link, sysctls or observe failed). */
  error?: KernelError;
  plan: Plan;
  /** Ops the kernel accepted, those that changed it, failures, and ops skipped because of a failure. */
  applied: Op[];
  changed: Op[];
  failed: OpFailure[];
  skipped: Op[];
  /** What changed, as countOps / formatCounts of `changed` ("no changes" when nothing did). */
  counts: PlanCounts;
  summary: string;
  /** The plan's own summary (what was attempted). */
  planned: string;
  writes: KernelWrites;
  /** The state the plan was computed against (with IPVS counters on full syncs: metrics). */
  observed: NodeState;
  nodeAddresses: string[];
  sysctlChanges: SysctlChange[];
  linkCreated: boolean;
  durations: SyncDurations;
  /** How long each read of the observation took (they run concurrently: observeMs is about the longest). */
  observeDurations?: ObserveDurations;
}

export interface VerifyResult {
  /** Empty when the kernel equals the desired state (on everything kube-ipvs owns). */
  plan: Plan;
  observation: Observation;
}

function emptyDurations(): SyncDurations {
  return { sysctlMs: 0, linkMs: 0, observeMs: 0, planMs: 0, executeMs: 0, ipvsMs: 0, ipsetMs: 0, iptablesMs: 0, addressesMs: 0, totalMs: 0 };
}

function asKernelError(op: string, e: unknown): KernelError {
  return e instanceof KernelError ? e : new KernelError(op, e instanceof Error ? e.message : String(e));
}

/** The planner's iptablesEqual: the iptables driver's normalised comparison. */
export function iptablesEqual(desired: string, observed: string, where: { family: 'ipv4' | 'ipv6' }): boolean {
  return iptablesTextEqual(desired, observed, where.family === 'ipv4' ? 4 : 6);
}

export class Syncer {
  private readonly drivers: KernelDrivers;
  private readonly config: ProxyConfig;
  private readonly log: Logger;
  private readonly sysctls: false | { root?: string };
  private sysctlsDone = false;
  private syncs = 0;
  private memory: KernelMemory | undefined;
  /** Set after a sync with failures: the memory may not match the kernel. */
  private dirty = true;
  private lastNodeAddresses: string[] | undefined;

  constructor(opts: SyncerOptions) {
    this.drivers = opts.drivers;
    this.config = opts.config;
    this.log = opts.log ?? silentLogger;
    this.sysctls = opts.sysctls ?? {};
  }

  /** Number of syncs that reached the kernel (the first one is kube-proxy's initialSync). */
  get completedSyncs(): number {
    return this.syncs;
  }

  private planOptions(req: SyncRequest, nodeAddresses: readonly string[], kind: SyncKind, initialSync: boolean): PlanOptions {
    const o: PlanOptions = {
      excludeCIDRs: this.config.ipvs.excludeCIDRs,
      nodeAddresses,
      prune: req.prune !== false,
      initialSync,
      iptablesEqual,
      // Full syncs re-assert the jump rules from the built-in chains (free when the observe saw them all).
      ensureJumpRules: kind === 'full',
    };
    if (req.gracefulTermination !== undefined) o.gracefulTermination = req.gracefulTermination;
    if (req.drainExpired) o.drainExpired = req.drainExpired;
    if (req.expiredDrains) o.expiredDrains = req.expiredDrains;
    if (kind === 'partial' && req.scope) o.scope = req.scope;
    return o;
  }

  /** kube-proxy's NewProxier settings, once: sysctls (error aborts) and IPVS timeouts (error only logged). */
  private async ensureSysctls(): Promise<SysctlChange[]> {
    if (this.sysctlsDone || this.sysctls === false) return [];
    const r = await applyIpvsSysctls({ strictARP: this.config.ipvs.strictARP, ...(this.sysctls.root ? { root: this.sysctls.root } : {}), logger: this.log });
    const { tcpTimeoutMs, tcpFinTimeoutMs, udpTimeoutMs } = this.config.ipvs;
    if ((tcpTimeoutMs > 0 || tcpFinTimeoutMs > 0 || udpTimeoutMs > 0) && this.drivers.ipvs.setTimeouts) {
      try {
        await this.drivers.ipvs.setTimeouts({ tcp: Math.floor(tcpTimeoutMs / 1000), tcpFin: Math.floor(tcpFinTimeoutMs / 1000), udp: Math.floor(udpTimeoutMs / 1000) });
      } catch (e) {
        this.log.error({ err: String(e) }, 'Failed to configure IPVS timeouts');
      }
    }
    this.sysctlsDone = true;
    return r.changes;
  }

  /** One sync (see the file header). Never throws. */
  async sync(req: SyncRequest): Promise<SyncResult> {
    const t0 = performance.now();
    const durations = emptyDurations();
    let kind: SyncKind = req.kind ?? 'full';
    let fullBecause: string | undefined;
    if (kind === 'partial' && (!this.memory || this.dirty)) {
      kind = 'full';
      fullBecause = this.memory ? 'the previous sync had failures' : 'no previous sync';
    }
    const initialSync = req.initialSync ?? this.syncs === 0;
    const result: SyncResult = {
      ok: false,
      kind,
      plan: { ops: [], draining: [], diagnostics: [] },
      applied: [],
      changed: [],
      failed: [],
      skipped: [],
      counts: countOps([]),
      summary: 'no changes',
      planned: 'no changes',
      writes: noWrites(),
      observed: emptyNodeState(),
      nodeAddresses: [],
      sysctlChanges: [],
      linkCreated: false,
      durations,
    };
    if (fullBecause) result.fullBecause = fullBecause;
    const finish = () => {
      durations.totalMs = performance.now() - t0;
      return result;
    };

    let step = 'sysctls';
    try {
      let s0 = performance.now();
      result.sysctlChanges = await this.ensureSysctls();
      durations.sysctlMs = performance.now() - s0;

      step = 'ensure-link';
      s0 = performance.now();
      const link = await this.drivers.link.ensureLink();
      result.linkCreated = link.created;
      if (link.created) result.writes.linkWrites++;
      durations.linkMs = performance.now() - s0;

      step = 'observe';
      s0 = performance.now();
      const observation = await this.observe(kind, req);
      durations.observeMs = performance.now() - s0;
      result.observeDurations = observation.durations;
      result.observed = observation.state;
      // Frozen so the planner's normalisation of the kernel's sets is remembered and reused for the memory.
      if (kind === 'full') for (const set of Object.values(observation.state.ipsets)) Object.freeze(set.entries);
      result.nodeAddresses = [...(req.nodeAddresses ?? observation.nodeAddresses ?? this.lastNodeAddresses ?? [])];
      if (kind === 'full' && !req.nodeAddresses && observation.nodeAddresses) this.lastNodeAddresses = observation.nodeAddresses;
    } catch (e) {
      result.error = asKernelError(step, e);
      this.dirty = true;
      this.log.error({ step, err: result.error.message }, 'Sync aborted');
      return finish();
    }

    let s0 = performance.now();
    const plan = computePlan(req.desired, result.observed, this.planOptions(req, result.nodeAddresses, kind, initialSync));
    durations.planMs = performance.now() - s0;
    result.plan = plan;
    result.planned = summarizeOps(plan.ops);

    s0 = performance.now();
    const exec = await executeOps(plan.ops, this.drivers);
    durations.executeMs = performance.now() - s0;
    this.syncs++;
    this.absorb(result, exec);
    this.remember(kind, result.observed, exec);
    result.ok = exec.failed.length === 0 && exec.skipped.length === 0;
    this.dirty = !result.ok;
    for (const f of exec.failed) this.log.error({ op: f.op.id, err: f.error.message }, 'Kernel refused an operation');
    if (exec.skipped.length) this.log.warn({ skipped: exec.skipped.length, first: exec.skipped[0]!.id }, 'Skipped operations that depend on a failed one');
    this.log.info({ kind, summary: result.summary, ops: plan.ops.length, failed: exec.failed.length, ms: Math.round(performance.now() - t0) }, 'Synced');
    return finish();
  }

  private absorb(result: SyncResult, exec: ExecutionResult): void {
    result.applied = exec.applied;
    result.changed = exec.changed;
    result.failed = exec.failed;
    result.skipped = exec.skipped;
    result.writes = addWrites(result.writes, exec.writes);
    result.counts = countOps(exec.changed);
    result.summary = formatCounts(result.counts);
    const d = result.durations;
    d.ipvsMs = exec.durations.ipvsMs;
    d.ipsetMs = exec.durations.ipsetMs;
    d.iptablesMs = exec.durations.iptablesMs;
    d.addressesMs = exec.durations.addressesMs;
  }

  private async observe(kind: SyncKind, req: SyncRequest): Promise<Observation> {
    if (kind === 'full') return observeKernel(this.drivers, { nodeAddresses: !req.nodeAddresses });
    const scope = resolveScope(req.scope ?? {});
    const observation = await observeKernel(this.drivers, { ipvs: scope.virtualServers, ipsets: false, iptables: false, nodeAddresses: false });
    const memory = this.memory!;
    observation.state.ipsets = memory.ipsets;
    observation.state.iptables = memory.iptables;
    return observation;
  }

  /** Keeps the sets and tables as the kernel holds them after this sync (only what it accepted). */
  private remember(kind: SyncKind, observed: NodeState, exec: ExecutionResult): void {
    const base = kind === 'full' || !this.memory ? memoryFromObserved(observed.ipsets, observed.iptables) : this.memory;
    this.memory = rememberApplied(base, exec.applied);
  }

  /**
   * Re-reads the whole kernel and plans again without writing anything: an empty plan means the kernel
   * equals `desired` on everything kube-ipvs owns. Throws KernelError when the kernel cannot be read.
   */
  async verify(desired: NodeState, opts: Pick<SyncRequest, 'nodeAddresses' | 'prune' | 'gracefulTermination' | 'drainExpired' | 'expiredDrains'> = {}): Promise<VerifyResult> {
    const observation = await observeKernel(this.drivers, { nodeAddresses: !opts.nodeAddresses });
    const nodeAddresses = opts.nodeAddresses ?? observation.nodeAddresses ?? [];
    const options = this.planOptions({ desired, ...opts }, nodeAddresses, 'full', false);
    options.ensureJumpRules = false;
    return { plan: computePlan(desired, observation.state, options), observation };
  }
}
