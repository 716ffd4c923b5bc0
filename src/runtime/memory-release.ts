// Gives back the memory a large sync used once it is over.
//
// A full sync at 10,000 Services builds and drops a 140k-op plan, a whole-kernel observation and their indexes:
// ~150 MB of garbage on top of a ~130 MB live heap. V8 only returns those pages when its memory reducer decides
// the process is idle, which in measurements took 27-35 s or did not happen before the next burst, so the node
// carried ~360-410 MB RSS instead of ~250 MB, and the first endpoint change after the sync paid for the major GC
// One compacting collection at the first quiet moment after such a sync (nothing synced for a few seconds) gives
// the memory back. It is only requested after syncs that wrote at that scale (see Controller), not after the small
// event-driven ones, and it waits for quiet, so it does not land in a burst of changes.
//
// The collector is V8's own gc(), made available at run time if node was not started with --expose-gc.

import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

type Collect = () => void;

let collect: Collect | undefined | null;

/**
 * V8's full garbage collection with compaction, or undefined when it cannot be had (never throws).
 * Compaction matters: what a sync leaves behind is interleaved with what lives on (informer objects, the
 * builder's indexes were allocated during the same sync), so after a plain collection almost every page still
 * holds a few live objects and V8 keeps them all (guest bench: 297 -> 141 MB heap used, yet 254 MB of heap kept).
 * Compacting this one collection moves the survivors together and lets the emptied pages go.
 */
export function garbageCollector(): Collect | undefined {
  if (collect !== undefined) return collect ?? undefined;
  try {
    const exposed = (globalThis as { gc?: Collect }).gc;
    let gc: Collect | undefined = typeof exposed === 'function' ? exposed : undefined;
    if (!gc) {
      setFlagsFromString('--expose-gc');
      const fn = runInNewContext('gc') as unknown;
      gc = typeof fn === 'function' ? (fn as Collect) : undefined;
    }
    const full = gc;
    collect = full
      ? () => {
          setFlagsFromString('--compact-on-every-full-gc');
          try {
            full();
          } finally {
            setFlagsFromString('--no-compact-on-every-full-gc');
          }
        }
      : null;
  } catch {
    collect = null;
  }
  return collect ?? undefined;
}

export interface MemoryReleaseOptions {
  /** How long nothing must have synced before collecting (ms, default 5000). Compaction pauses the process
   *  (hundreds of ms on a node, seconds under user-mode Linux), so it waits for a quiet moment: never in a burst. */
  quietMs?: number;
  /** True while a sync runs. */
  busy: () => boolean;
  /** Default: V8's collector. */
  collect?: Collect;
  /** Told after each collection: heap used before and after (bytes) and how long it took (ms). */
  onCollected?: (report: { heapUsedBefore: number; heapUsedAfter: number; ms: number }) => void;
  /** Default Date.now. */
  now?: () => number;
}

/** At most one collection per request, once the process has been quiet for `quietMs`. */
export class MemoryRelease {
  private timer: NodeJS.Timeout | undefined;
  private readonly quietMs: number;
  private readonly now: () => number;
  private lastActivity = 0;
  /** Collections done (tests, logs). */
  collections = 0;

  constructor(private readonly options: MemoryReleaseOptions) {
    this.quietMs = options.quietMs ?? 5000;
    this.now = options.now ?? Date.now;
  }

  /** A sync ran (or is about to): the quiet period starts again. */
  activity(): void {
    this.lastActivity = this.now();
  }

  /** Ask for a collection at the next quiet moment; repeated requests before it runs are one collection. */
  request(): void {
    this.activity();
    this.schedule(this.quietMs);
  }

  cancel(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(ms: number): void {
    if (this.timer) return;
    this.timer = setTimeout(() => this.fire(), Math.max(1, ms));
    this.timer.unref();
  }

  private fire(): void {
    this.timer = undefined;
    const quietFor = this.now() - this.lastActivity;
    if (this.options.busy() || quietFor < this.quietMs) {
      this.schedule(this.quietMs - Math.max(0, quietFor));
      return;
    }
    const collect = this.options.collect ?? garbageCollector();
    if (!collect) return;
    const before = process.memoryUsage().heapUsed;
    const t0 = performance.now();
    collect();
    this.collections++;
    this.options.onCollected?.({ heapUsedBefore: before, heapUsedAfter: process.memoryUsage().heapUsed, ms: performance.now() - t0 });
  }
}
