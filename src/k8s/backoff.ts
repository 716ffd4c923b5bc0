// Exponential backoff with a cap and optional jitter, for reconnecting informers. Jitter spreads the
// reconnects of many nodes after an API server outage (a whole cluster of kube-ipvs restarting at once).

export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor?: number;
  /** Fraction of the delay added at random (0 = deterministic). */
  jitter?: number;
}

export class Backoff {
  private attempt = 0;

  constructor(private readonly opts: BackoffOptions) {}

  /** The delay before the next attempt; grows on every call until reset(). */
  next(): number {
    return this.delayFor(this.attempt++);
  }

  /** The delay of attempt `n` (0-based) without advancing. */
  delayFor(n: number): number {
    const factor = this.opts.factor ?? 2;
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * Math.pow(factor, n));
    const jitter = this.opts.jitter ?? 0;
    return Math.round(base * (1 + jitter * Math.random()));
  }

  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}
