// Invalid objects, reported the way an operator can live with: ONE log line when a diagnostic first appears
// (or its message changes), one line when it goes away, never one per sync; kubeipvs_skipped_objects_total
// counts appearances and kubeipvs_skipped_objects{kind} says how many are reported right now.
// Fed with the desired-state builder's delta (diagnostics.added / removed) after every build.

import type { Diagnostic } from '../model/state.js';
import type { Logger } from '../util/log.js';
import type { ProxyMetrics } from './metrics.js';

const KINDS = ['Service', 'EndpointSlice', 'Node', 'Config'] as const;

export interface DiagnosticsDelta {
  added: readonly Diagnostic[];
  removed: readonly Diagnostic[];
}

export class DiagnosticsReporter {
  private readonly current = new Map<string, number>();

  constructor(
    private readonly log: Logger,
    private readonly metrics?: Pick<ProxyMetrics, 'skippedObjectsTotal' | 'skippedObjects'>,
  ) {
    for (const k of KINDS) this.metrics?.skippedObjects.set({ kind: k }, 0);
  }

  report(delta: DiagnosticsDelta): void {
    const addedObjects = new Set(delta.added.map(objectOf));
    for (const d of delta.removed) {
      const kind = kindOf(d);
      this.current.set(kind, Math.max(0, (this.current.get(kind) ?? 0) - 1));
      // A changed message arrives as removed + added for the same object: only the new one is worth a line.
      if (!addedObjects.has(objectOf(d))) {
        this.log.info({ kind, object: d.object }, 'Object is no longer skipped');
      }
    }
    for (const d of delta.added) {
      const kind = kindOf(d);
      this.current.set(kind, (this.current.get(kind) ?? 0) + 1);
      this.metrics?.skippedObjectsTotal.inc({ kind });
      this.log.warn({ kind, object: d.object, reason: d.message }, `Skipping invalid ${kind === 'Config' ? 'setting' : kind}`);
    }
    for (const [kind, n] of this.current) this.metrics?.skippedObjects.set({ kind }, n);
  }

  /** Diagnostics reported right now, by kind. */
  counts(): Record<string, number> {
    return Object.fromEntries(this.current);
  }
}

function kindOf(d: Diagnostic): string {
  return d.kind ?? 'Service';
}

function objectOf(d: Diagnostic): string {
  return `${kindOf(d)}\u0000${d.object}`;
}
