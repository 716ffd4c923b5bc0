// Graceful-termination deadlines (--ipvs-graceful-termination-period). The planner decides drains
// from the kernel itself (a removed TCP real server with connections goes to weight 0, reference
// §4.4) and reports them in plan.draining; this tracker only remembers since when each one drains
// and tells the next plan which drains are over (expiredDrains / drainExpired), so they are deleted
// even while connections remain. kube-proxy has no such bound (weight-0 servers could stay forever,
// issue #81775).
//
// Lifecycle of one entry (key = realServerRefKey, "TCP/10.96.0.10:80/10.244.1.5:8080"):
//   - reported with started: true  -> deadline = now + period (a drain this plan starts; also a
//                                      restart of a drain whose weight-0 edit failed last time)
//   - reported, not tracked        -> deadline = now + period (found at weight 0 after a restart of
//                                      kube-ipvs: a fresh deadline, never an instant delete)
//   - reported, tracked            -> unchanged
//   - not reported (within the plan's scope) -> forgotten: deleted, connections ended, or the
//     endpoint came back — unless the op that was to delete it failed (pass failedOps).
// Period 0 = no drain at all: every removal is deleted at once (drainExpired is always true).

import type { Op } from '../plan/ops.js';
import { realServerRefKey } from '../plan/ops.js';
import { realServerKey, virtualServerKey } from '../model/state.js';
import { systemNow, type NowSource } from '../state/clock.js';

/** The part of plan.draining this tracker reads (DrainingRealServer). */
export interface DrainReport {
  /** realServerRefKey(service, realServer) */
  key: string;
  /** virtualServerKey */
  service: string;
  started: boolean;
}

export interface DrainRecordOptions {
  /** The plan's scope: entries of virtual servers outside it were not looked at and are kept. */
  scope?: { virtualServers?: Iterable<string> };
  /** Ops of this plan that failed or were skipped: a real server whose delete failed keeps its deadline. */
  failedOps?: Iterable<Op>;
}

export interface DrainEntry {
  key: string;
  service: string;
  startedAt: number;
  deadline: number;
}

export interface DrainTrackerOptions {
  /** --ipvs-graceful-termination-period in ms; 0 = delete at once. */
  periodMs: number;
  clock?: NowSource;
}

function refKeyOfOp(op: Op): string | undefined {
  if (op.kind !== 'del-real-server' && op.kind !== 'edit-real-server') return undefined;
  return realServerRefKey(virtualServerKey(op.service), realServerKey(op.realServer));
}

export class DrainTracker {
  readonly periodMs: number;
  private readonly clock: NowSource;
  private readonly entries = new Map<string, DrainEntry>();

  constructor(options: DrainTrackerOptions) {
    this.periodMs = Math.max(0, options.periodMs);
    this.clock = options.clock ?? systemNow;
  }

  /** Feed plan.draining after the plan was applied (also when some ops failed; see failedOps). */
  record(draining: readonly DrainReport[], options: DrainRecordOptions = {}): void {
    const now = this.clock.now();
    const reported = new Set<string>();
    for (const d of draining) {
      if (!d || typeof d.key !== 'string') continue;
      reported.add(d.key);
      const cur = this.entries.get(d.key);
      if (!cur || d.started) this.entries.set(d.key, { key: d.key, service: d.service, startedAt: now, deadline: now + this.periodMs });
    }
    const inScope = scopeTest(options.scope);
    const keep = new Set<string>();
    for (const op of options.failedOps ?? []) {
      // A failed delete leaves the real server at weight 0: its old deadline still holds.
      if (op.kind === 'del-real-server') {
        const k = refKeyOfOp(op);
        if (k) keep.add(k);
      }
    }
    for (const [key, e] of this.entries) {
      if (reported.has(key) || keep.has(key) || !inScope(e.service)) continue;
      this.entries.delete(key);
    }
  }

  /** Keys whose deadline has passed: pass as computePlan's `expiredDrains`. */
  expiredDrains(): string[] {
    const now = this.clock.now();
    const out: string[] = [];
    for (const e of this.entries.values()) if (e.deadline <= now) out.push(e.key);
    return out.sort();
  }

  /** Same answer as a function (computePlan's `drainExpired`); with period 0 every drain is over at once. */
  readonly drainExpired = (vsKey: string, rsKey: string): boolean => {
    if (this.periodMs === 0) return true;
    const e = this.entries.get(realServerRefKey(vsKey, rsKey));
    return e !== undefined && e.deadline <= this.clock.now();
  };

  /** Both plan options at once. */
  planOptions(): { expiredDrains: string[]; drainExpired: (vsKey: string, rsKey: string) => boolean } {
    return { expiredDrains: this.expiredDrains(), drainExpired: this.drainExpired };
  }

  /** The earliest deadline still ahead (arm a timer to request a sync then), if any. */
  nextDeadline(): number | undefined {
    const now = this.clock.now();
    let best: number | undefined;
    for (const e of this.entries.values()) if (e.deadline > now && (best === undefined || e.deadline < best)) best = e.deadline;
    return best;
  }

  get size(): number {
    return this.entries.size;
  }
  list(): DrainEntry[] {
    return [...this.entries.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }
  get(key: string): DrainEntry | undefined {
    return this.entries.get(key);
  }
  clear(): void {
    this.entries.clear();
  }
}

function scopeTest(scope: DrainRecordOptions['scope']): (vsKey: string) => boolean {
  if (!scope) return () => true;
  // PlanScope: a category left out means "none of it", so no entry was looked at.
  if (scope.virtualServers === undefined) return () => false;
  const set = new Set<string>();
  try {
    for (const k of scope.virtualServers) if (typeof k === 'string') set.add(k);
  } catch {
    return () => true;
  }
  return (k) => set.has(k);
}
