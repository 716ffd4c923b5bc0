// When to sync: kube-proxy's BoundedFrequencyRunner (pkg/util/async, reference §5.1) plus retry with
// exponential backoff on failure.
//
//   - fn runs at least once per maxInterval (--sync-period) even when nothing asks for it;
//   - run() is a non-blocking request; requests made while a run is queued or in progress coalesce
//     into one later run;
//   - requested runs are rate-limited by a token bucket (rate 1/minInterval, burst 2, starting full;
//     minInterval 0 = unlimited). A refused request re-arms the timer for
//     minInterval - (time since the last run ended), as upstream does, so it is not lost;
//   - kube-ipvs adds: a run that fails (fn throws, rejects, or returns an Error) is retried after a
//     backoff that doubles per consecutive failure up to a cap and resets on success. Retries go
//     through the same rate limiter. (The IPVS proxier only retried at the next sync period.)
//   - runs never overlap: fn is awaited before the next one starts.
// All timing goes through an injected Clock, so tests drive it with FakeClock.

import type { Clock, TimerHandle } from './runner-clock.js';
import { systemClock } from './runner-clock.js';

/** Why a run happens. A run can have several reasons; `trigger` names the one that fired it. */
export interface RunInfo {
  trigger: 'request' | 'periodic' | 'retry';
  /** run() was called since the previous run started. */
  requested: boolean;
  /** maxInterval passed since the previous run ended (or this is the periodic timer). */
  periodic: boolean;
  /** The previous run failed and this run retries it (fired by the backoff timer, or a request that came first). */
  retry: boolean;
  /** Consecutive failed runs before this one (0 after a success). */
  failures: number;
}

export interface RunResult extends RunInfo {
  ok: boolean;
  error?: unknown;
  startedAt: number;
  finishedAt: number;
  /** When the next retry is due (failed runs only). */
  retryAt?: number;
}

export interface RetryOptions {
  /** First backoff after a failure (default 1000 ms). */
  initialMs?: number;
  /** Backoff cap (default maxIntervalMs, or 30 s when that is infinite). */
  maxMs?: number;
  /** Growth per consecutive failure (default 2). */
  factor?: number;
}

export interface RunnerOptions {
  /** For messages only. */
  name?: string;
  /** --min-sync-period: minimum time between runs (modulo burst), from the end of one to the start of the next. 0 = no limit. */
  minIntervalMs: number;
  /** --sync-period: the longest time without a run. Infinity = no periodic runs. Must be >= minIntervalMs. */
  maxIntervalMs: number;
  /** Token bucket burst (kube-proxy's IPVS proxier: 2). */
  burst?: number;
  /** Retry after failure; false disables (a failed run then waits for the next request or period). */
  retry?: RetryOptions | false;
  clock?: Clock;
  /** Called after every run (logging, metrics). Must not throw; a throw is swallowed. */
  onResult?: (result: RunResult) => void;
}

export type RunFunction = (info: RunInfo) => unknown;

/** kube-proxy's IPVS runner settings: minInterval --min-sync-period, maxInterval --sync-period, burst 2. */
export function runnerOptionsFromConfig(config: { minSyncPeriodMs: number; syncPeriodMs: number }): Pick<RunnerOptions, 'minIntervalMs' | 'maxIntervalMs' | 'burst'> {
  return { minIntervalMs: config.minSyncPeriodMs, maxIntervalMs: config.syncPeriodMs, burst: 2 };
}

/** Token bucket as golang.org/x/time/rate: starts full, refills continuously at `ratePerMs`. */
class TokenBucket {
  private tokens: number;
  private last: number;
  constructor(
    private readonly ratePerMs: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }
  tryAccept(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + (now - this.last) * this.ratePerMs);
      this.last = now;
    }
    // The epsilon absorbs float error from continuous refill (0.1 + 0.9 must make a whole token).
    if (this.tokens >= 1 - 1e-9) {
      this.tokens = Math.max(0, this.tokens - 1);
      return true;
    }
    return false;
  }
}

export class BoundedFrequencyRunner {
  readonly name: string;
  private readonly minIntervalMs: number;
  private readonly maxIntervalMs: number;
  private readonly clock: Clock;
  private readonly limiter: TokenBucket | undefined;
  private readonly retry: Required<RetryOptions> | undefined;
  private readonly onResult: ((r: RunResult) => void) | undefined;

  private started = false;
  private stopped = false;
  private inFlight: Promise<void> | undefined;
  private scheduled = false; // a microtask will call tryRun (coalesces synchronous run() calls)

  // Reasons waiting for the next run.
  private wantRequest = false;
  private wantRetry = false;

  // Deadlines; one physical timer is armed at the earliest.
  private lastRunEnd: number;
  private periodicAt: number;
  private retryAt: number | undefined;
  private throttledAt: number | undefined;
  private requestAt: number | undefined;
  private timer: TimerHandle | undefined;
  private timerAt: number | undefined;

  private failureCount = 0;
  private lastErr: unknown;
  private runs = 0;

  constructor(
    private readonly fn: RunFunction,
    options: RunnerOptions,
  ) {
    this.name = options.name ?? 'sync-runner';
    const min = options.minIntervalMs;
    const max = options.maxIntervalMs;
    if (!(min >= 0) || !(max > 0)) throw new RangeError(`${this.name}: minIntervalMs must be >= 0 and maxIntervalMs > 0`);
    // Upstream panics here; validation rejects such a configuration before it gets this far.
    if (max < min) throw new RangeError(`${this.name}: maxInterval (${max} ms) must be >= minInterval (${min} ms)`);
    this.minIntervalMs = min;
    this.maxIntervalMs = max;
    this.clock = options.clock ?? systemClock;
    const burst = options.burst ?? 2;
    this.limiter = min === 0 ? undefined : new TokenBucket(1 / min, Math.max(1, burst), this.clock.now());
    if (options.retry === false) this.retry = undefined;
    else {
      const r = options.retry ?? {};
      const cap = Number.isFinite(max) ? max : 30_000;
      this.retry = { initialMs: r.initialMs ?? 1000, maxMs: r.maxMs ?? cap, factor: r.factor ?? 2 };
    }
    this.onResult = options.onResult;
    this.lastRunEnd = this.clock.now();
    this.periodicAt = this.lastRunEnd + max;
  }

  /** Starts the periodic timer (upstream Loop). Requests made before start() are served now. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    this.periodicAt = this.clock.now() + this.maxIntervalMs;
    this.arm();
    if (this.wantRequest) this.schedule();
  }

  /** Asks for a run as soon as the rate limit allows. Never blocks; repeated calls coalesce. */
  run(): void {
    if (this.stopped) return;
    this.wantRequest = true;
    if (this.started) this.schedule();
  }

  /**
   * Asks for a run `delayMs` from now (e.g. when the next drain deadline passes). The earliest of
   * several pending delayed requests wins; a run in between does not cancel it.
   */
  runAfter(delayMs: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + Math.max(0, delayMs);
    if (this.requestAt === undefined || at < this.requestAt) this.requestAt = at;
    this.arm();
  }

  /** Stops timers and future runs; resolves when a run in progress has finished. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.clock.clearTimeout(this.timer);
    this.timer = undefined;
    this.timerAt = undefined;
    await this.inFlight;
  }

  /** Resolves when no run is in progress and none is about to start from a pending request. */
  async idle(): Promise<void> {
    while (this.inFlight || this.scheduled) {
      if (this.inFlight) await this.inFlight;
      else await Promise.resolve();
    }
  }

  get running(): boolean {
    return this.inFlight !== undefined;
  }
  /** Consecutive failed runs (0 after a success). */
  get consecutiveFailures(): number {
    return this.failureCount;
  }
  get lastError(): unknown {
    return this.lastErr;
  }
  /** Completed runs. */
  get completedRuns(): number {
    return this.runs;
  }
  /** When the timer fires next (periodic, retry or throttled request), if armed. */
  get nextTimerAt(): number | undefined {
    return this.timerAt;
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    queueMicrotask(() => {
      this.scheduled = false;
      this.tryRun();
    });
  }

  private onTimer(): void {
    this.timer = undefined;
    this.timerAt = undefined;
    const now = this.clock.now();
    if (this.retryAt !== undefined && now >= this.retryAt) {
      this.retryAt = undefined;
      this.wantRetry = true;
    }
    if (this.throttledAt !== undefined && now >= this.throttledAt) this.throttledAt = undefined;
    if (this.requestAt !== undefined && now >= this.requestAt) {
      this.requestAt = undefined;
      this.wantRequest = true;
    }
    this.tryRun();
  }

  private tryRun(): void {
    if (this.stopped || !this.started || this.inFlight) {
      // A run in progress picks the reasons up when it ends.
      return;
    }
    const now = this.clock.now();
    const periodic = now >= this.periodicAt;
    if (!periodic && !this.wantRequest && !this.wantRetry) {
      this.arm();
      return;
    }
    if (this.limiter && !this.limiter.tryAccept(now)) {
      // Upstream: re-arm for the earliest possible run unless the periodic run comes first anyway.
      const elapsed = now - this.lastRunEnd;
      const nextPossible = this.minIntervalMs - elapsed;
      const nextScheduled = this.maxIntervalMs - elapsed;
      if (nextPossible < nextScheduled) this.throttledAt = now + Math.max(0, nextPossible);
      else this.throttledAt = undefined;
      // A token can also be short after a burst although minInterval passed: never spin at 0 ms.
      if (this.throttledAt !== undefined && this.throttledAt <= now) this.throttledAt = now + 1;
      this.arm();
      return;
    }
    const info: RunInfo = {
      trigger: this.wantRetry ? 'retry' : this.wantRequest ? 'request' : 'periodic',
      requested: this.wantRequest,
      periodic,
      // A request that comes before the retry timer also carries the retry.
      retry: this.wantRetry || this.retryAt !== undefined,
      failures: this.failureCount,
    };
    this.wantRequest = false;
    this.wantRetry = false;
    this.throttledAt = undefined;
    this.retryAt = undefined;
    this.inFlight = this.execute(info, now).finally(() => {
      this.inFlight = undefined;
      if (this.stopped) return;
      if (this.wantRequest || this.wantRetry) this.tryRun();
      else this.arm();
    });
  }

  private async execute(info: RunInfo, startedAt: number): Promise<void> {
    let ok = true;
    let error: unknown;
    try {
      const r = await this.fn(info);
      if (r instanceof Error) {
        ok = false;
        error = r;
      }
    } catch (e) {
      ok = false;
      error = e;
    }
    const finishedAt = this.clock.now();
    this.runs++;
    this.lastRunEnd = finishedAt;
    this.periodicAt = finishedAt + this.maxIntervalMs;
    let retryAt: number | undefined;
    if (ok) {
      this.failureCount = 0;
      this.lastErr = undefined;
    } else {
      this.failureCount++;
      this.lastErr = error;
      if (this.retry) {
        const backoff = Math.min(this.retry.maxMs, this.retry.initialMs * this.retry.factor ** (this.failureCount - 1));
        retryAt = finishedAt + backoff;
        this.retryAt = retryAt;
      }
    }
    if (this.onResult) {
      try {
        this.onResult({ ...info, ok, error, startedAt, finishedAt, retryAt });
      } catch {
        // a reporting hook must not break the loop
      }
    }
  }

  private arm(): void {
    if (this.stopped || !this.started) return;
    let at = this.periodicAt;
    if (this.retryAt !== undefined) at = Math.min(at, this.retryAt);
    if (this.throttledAt !== undefined) at = Math.min(at, this.throttledAt);
    if (this.requestAt !== undefined) at = Math.min(at, this.requestAt);
    if (!Number.isFinite(at)) {
      this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = undefined;
      return;
    }
    if (this.timer && this.timerAt === at) return;
    this.clock.clearTimeout(this.timer);
    this.timerAt = at;
    this.timer = this.clock.setTimeout(() => this.onTimer(), at - this.clock.now());
  }
}
