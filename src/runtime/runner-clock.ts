// Time as the runtime sees it: "now" and one-shot timers, injected so that the sync runner, the health
// servers and the drain tracker can be tested without waiting on wall time. Production code uses
// systemClock; tests use FakeClock and move time by hand.

export interface TimerHandle {
  /** Opaque; only passed back to clearTimeout. */
  readonly id: number;
}

import type { NowSource } from '../state/clock.js';

/** Milliseconds since the epoch, as Date.now(). */
export type { NowSource };

export interface Clock extends NowSource {
  setTimeout(fn: () => void, ms: number): TimerHandle;
  clearTimeout(handle: TimerHandle | undefined): void;
}

let nextSystemId = 1;
const systemTimers = new Map<number, NodeJS.Timeout>();

/** The real clock. Timers are unref'd: a pending sync timer alone never keeps the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const id = nextSystemId++;
    const t = setTimeout(() => {
      systemTimers.delete(id);
      fn();
    }, Math.max(0, ms));
    t.unref?.();
    systemTimers.set(id, t);
    return { id };
  },
  clearTimeout(handle) {
    if (!handle) return;
    const t = systemTimers.get(handle.id);
    if (t) clearTimeout(t);
    systemTimers.delete(handle.id);
  },
};

interface FakeTimer {
  id: number;
  at: number;
  seq: number;
  fn: () => void;
}

/** Lets pending promise callbacks and I/O callbacks run (a few turns of the event loop). */
export async function settle(turns = 3): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * A clock that only moves when told to. advance() fires due timers in time order (ties in creation
 * order), setting now() to each timer's due time first, and lets promise chains settle after each, so
 * async code driven by the timers (the runner awaiting its function) completes in fake time.
 */
export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private nextId = 1;
  private readonly timers = new Map<number, FakeTimer>();

  constructor(startMs = Date.UTC(2025, 0, 1, 0, 0, 0)) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.t + Math.max(0, ms), seq: this.seq++, fn });
    return { id };
  }

  clearTimeout(handle: TimerHandle | undefined): void {
    if (handle) this.timers.delete(handle.id);
  }

  /** A promise resolved after `ms` of fake time (for functions under test that take time). */
  sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.setTimeout(resolve, ms));
  }

  /** Number of armed timers. */
  pendingTimers(): number {
    return this.timers.size;
  }

  /** Due time of the earliest armed timer. */
  nextTimerAt(): number | undefined {
    let best: number | undefined;
    for (const t of this.timers.values()) if (best === undefined || t.at < best) best = t.at;
    return best;
  }

  /** Moves time forward by `ms`, firing every timer that falls due on the way (also ones armed meanwhile). */
  async advance(ms: number): Promise<void> {
    await this.advanceTo(this.t + ms);
  }

  async advanceTo(target: number): Promise<void> {
    await settle();
    for (;;) {
      const due = this.earliestDue(target);
      if (!due) break;
      this.timers.delete(due.id);
      this.t = Math.max(this.t, due.at);
      due.fn();
      await settle();
    }
    this.t = Math.max(this.t, target);
    await settle();
  }

  private earliestDue(target: number): FakeTimer | undefined {
    let best: FakeTimer | undefined;
    for (const t of this.timers.values()) {
      if (t.at > target) continue;
      if (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq)) best = t;
    }
    return best;
  }
}
