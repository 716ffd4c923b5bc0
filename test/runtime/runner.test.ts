import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFrequencyRunner, type RunInfo, type RunResult, type RunnerOptions } from '../../src/runtime/runner.js';
import { FakeClock, settle } from '../../src/runtime/runner-clock.js';

const T0 = Date.UTC(2025, 0, 1);

/** A runner whose function records (fake) start times relative to T0 and may fail or take time. */
function harness(opts: Partial<RunnerOptions> & { fail?: (n: number) => unknown; durationMs?: number } = {}) {
  const clock = new FakeClock(T0);
  const runs: { at: number; info: RunInfo }[] = [];
  const results: RunResult[] = [];
  const runner = new BoundedFrequencyRunner(
    async (info) => {
      const n = runs.length;
      runs.push({ at: clock.now() - T0, info });
      if (opts.durationMs) await clock.sleep(opts.durationMs);
      const f = opts.fail?.(n);
      if (f instanceof Error) return f;
      if (f) throw f;
      return undefined;
    },
    { minIntervalMs: 1000, maxIntervalMs: 30_000, clock, onResult: (r) => results.push(r), ...opts },
  );
  return { clock, runs, results, runner, at: () => runs.map((r) => r.at) };
}

test('rejects maxInterval < minInterval like upstream', () => {
  assert.throws(() => new BoundedFrequencyRunner(() => {}, { minIntervalMs: 10_000, maxIntervalMs: 5000 }), /maxInterval/);
});

test('synchronous run() calls coalesce into one run', async () => {
  const h = harness();
  h.runner.start();
  for (let i = 0; i < 5; i++) h.runner.run();
  await h.clock.advance(0);
  assert.deepEqual(h.at(), [0]);
  assert.equal(h.runs[0].info.trigger, 'request');
  assert.equal(h.runs[0].info.requested, true);
});

test('requests made during a run coalesce into exactly one follow-up run', async () => {
  const h = harness({ durationMs: 500, minIntervalMs: 0 });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(100); // first run in progress (until 500)
  assert.equal(h.runner.running, true);
  h.runner.run();
  h.runner.run();
  h.runner.run();
  await h.clock.advance(2000);
  assert.deepEqual(h.at(), [0, 500]);
});

test('burst of 2: two immediate runs, the third waits for minInterval after the last run ended', async () => {
  const h = harness({ minIntervalMs: 1000 });
  h.runner.start();
  for (let i = 0; i < 3; i++) {
    h.runner.run();
    await h.clock.advance(0);
  }
  assert.deepEqual(h.at(), [0, 0], 'third request is rate-limited');
  assert.equal(h.runner.nextTimerAt! - T0, 1000, 'timer re-armed for minInterval - elapsed');
  await h.clock.advance(999);
  assert.deepEqual(h.at(), [0, 0]);
  await h.clock.advance(1);
  assert.deepEqual(h.at(), [0, 0, 1000], 'throttled request is not lost');
});

test('after the bucket drains, requested runs are at least minInterval apart', async () => {
  const h = harness({ minIntervalMs: 1000 });
  h.runner.start();
  // A request every 100 ms for 5 s.
  for (let t = 0; t < 5000; t += 100) {
    h.runner.run();
    await h.clock.advance(100);
  }
  // 0 and 100 use the burst (0.1 token left); the bucket refills one token per second, so the next
  // whole token exists at 1000 and a run every 1000 ms after that. Refused requests re-arm the timer
  // (for minInterval - time since the last run), which is what serves the request at 5000.
  assert.deepEqual(h.at(), [0, 100, 1000, 2000, 3000, 4000, 5000]);
});

test('the bucket refills: after an idle minInterval*2 two immediate runs are allowed again', async () => {
  const h = harness({ minIntervalMs: 1000 });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(0);
  h.runner.run();
  await h.clock.advance(0);
  await h.clock.advance(2000);
  h.runner.run();
  await h.clock.advance(0);
  h.runner.run();
  await h.clock.advance(0);
  assert.deepEqual(h.at(), [0, 0, 2000, 2000]);
});

test('minInterval 0 means no rate limit', async () => {
  const h = harness({ minIntervalMs: 0 });
  h.runner.start();
  for (let i = 0; i < 5; i++) {
    h.runner.run();
    await h.clock.advance(0);
  }
  assert.deepEqual(h.at(), [0, 0, 0, 0, 0]);
});

test('maxInterval: runs periodically with no requests at all', async () => {
  const h = harness({ maxIntervalMs: 30_000 });
  h.runner.start();
  await h.clock.advance(29_999);
  assert.deepEqual(h.at(), []);
  await h.clock.advance(1);
  assert.deepEqual(h.at(), [30_000]);
  assert.equal(h.runs[0].info.trigger, 'periodic');
  assert.equal(h.runs[0].info.periodic, true);
  assert.equal(h.runs[0].info.requested, false);
  await h.clock.advance(60_000);
  assert.deepEqual(h.at(), [30_000, 60_000, 90_000]);
});

test('the periodic timer restarts after every run (measured from its end)', async () => {
  const h = harness({ maxIntervalMs: 30_000, durationMs: 200 });
  h.runner.start();
  await h.clock.advance(10_000);
  h.runner.run();
  await h.clock.advance(30_199);
  assert.deepEqual(h.at(), [10_000]);
  await h.clock.advance(1);
  assert.deepEqual(h.at(), [10_000, 40_200]);
});

test('requests before start() are served at start', async () => {
  const h = harness();
  h.runner.run();
  await h.clock.advance(5000);
  assert.deepEqual(h.at(), []);
  h.runner.start();
  await h.clock.advance(0);
  assert.deepEqual(h.at(), [5000]);
});

test('failure is retried with exponential backoff, capped, and reset by a success', async () => {
  // Runs 0..3 fail, 4 succeeds, 5 fails again.
  const h = harness({
    minIntervalMs: 0,
    maxIntervalMs: 30_000,
    retry: { initialMs: 1000, maxMs: 4000, factor: 2 },
    fail: (n) => (n <= 3 || n === 5 ? new Error(`boom ${n}`) : undefined),
  });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(0);
  await h.clock.advance(20_000);
  // 0 fails -> +1000; 1000 fails -> +2000; 3000 fails -> +4000; 7000 fails -> +4000 (cap); 11000 ok.
  assert.deepEqual(h.at().slice(0, 5), [0, 1000, 3000, 7000, 11_000]);
  assert.deepEqual(
    h.runs.slice(0, 5).map((r) => [r.info.trigger, r.info.failures]),
    [
      ['request', 0],
      ['retry', 1],
      ['retry', 2],
      ['retry', 3],
      ['retry', 4],
    ],
  );
  assert.equal(h.runner.consecutiveFailures, 0);
  assert.equal(h.results[4].ok, true);
  assert.equal(h.results[0].retryAt! - T0, 1000);
  // After the success only the periodic run comes (41 000); it fails and the backoff starts over at 1000.
  await h.clock.advance(30_000);
  assert.deepEqual(h.at().slice(5), [41_000, 42_000]);
  assert.equal(h.runs[6].info.failures, 1);
});

test('a thrown error and a rejected promise both count as failures', async () => {
  const h = harness({ minIntervalMs: 0, retry: { initialMs: 500 }, fail: (n) => (n < 2 ? 'string thrown' : undefined) });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(5000);
  assert.deepEqual(h.at(), [0, 500, 1500]);
  assert.deepEqual(
    h.results.map((r) => r.ok),
    [false, false, true],
  );
  assert.equal(h.results[0].error, 'string thrown');
});

test('retries respect the rate limiter', async () => {
  const h = harness({ minIntervalMs: 5000, retry: { initialMs: 100 }, fail: (n) => (n < 3 ? new Error('x') : undefined) });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(0);
  await h.clock.advance(20_000);
  // Burst: 0 and the first retry at 100; then the bucket is empty and the next waits for a token.
  const at = h.at();
  assert.deepEqual(at.slice(0, 2), [0, 100]);
  assert.ok(at[2] - at[1] >= 4900, `third run at ${at[2]}`);
});

test('retry: false leaves a failure to the next request or period', async () => {
  const h = harness({ minIntervalMs: 0, retry: false, fail: (n) => (n === 0 ? new Error('x') : undefined) });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(29_999);
  assert.deepEqual(h.at(), [0]);
  await h.clock.advance(1);
  assert.deepEqual(h.at(), [0, 30_000]);
});

test('stop(): waits for the run in progress, then nothing runs any more', async () => {
  const h = harness({ durationMs: 1000, minIntervalMs: 0 });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(10);
  let stopped = false;
  const p = h.runner.stop().then(() => (stopped = true));
  await settle();
  assert.equal(stopped, false, 'stop waits for the in-flight run');
  await h.clock.advance(1000);
  await p;
  assert.equal(stopped, true);
  h.runner.run();
  await h.clock.advance(120_000);
  assert.deepEqual(h.at(), [0]);
  assert.equal(h.clock.pendingTimers(), 0);
});

test('onResult receives timing in fake time and a throwing hook does not break the loop', async () => {
  const clock = new FakeClock(T0);
  let n = 0;
  const runner = new BoundedFrequencyRunner(
    async () => {
      n++;
      await clock.sleep(250);
    },
    {
      minIntervalMs: 0,
      maxIntervalMs: 1000,
      clock,
      onResult: (r) => {
        assert.equal(r.finishedAt - r.startedAt, 250);
        throw new Error('hook');
      },
    },
  );
  runner.start();
  await clock.advance(3000);
  // Periodic runs start at 1000 (ends 1250) and 2250 (ends 2500); the next is due at 3500.
  assert.equal(n, 2);
  assert.equal(runner.nextTimerAt! - T0, 3500);
});

test('runAfter(): a delayed request (drain deadline) fires once at the earliest time asked, rate limit applies', async () => {
  const h = harness({ minIntervalMs: 1000, maxIntervalMs: 30_000 });
  h.runner.start();
  h.runner.runAfter(5000);
  h.runner.runAfter(8000); // later: the earlier one wins
  h.runner.run(); // an unrelated run in between does not cancel it
  await h.clock.advance(4999);
  assert.deepEqual(h.at(), [0]);
  await h.clock.advance(1);
  assert.deepEqual(h.at(), [0, 5000]);
  assert.equal(h.runs[1].info.trigger, 'request');
  await h.clock.advance(10_000);
  assert.deepEqual(h.at(), [0, 5000], 'fired once; next is the periodic run at 35 000');
});

test('runnerOptionsFromConfig: kube-proxy IPVS settings', async () => {
  const { runnerOptionsFromConfig } = await import('../../src/runtime/runner.js');
  assert.deepEqual(runnerOptionsFromConfig({ minSyncPeriodMs: 1000, syncPeriodMs: 30_000 }), { minIntervalMs: 1000, maxIntervalMs: 30_000, burst: 2 });
});

test('a request that comes before the retry timer carries the retry (and the backoff timer is dropped)', async () => {
  const h = harness({ minIntervalMs: 0, retry: { initialMs: 10_000 }, fail: (n) => (n === 0 ? new Error('x') : undefined) });
  h.runner.start();
  h.runner.run();
  await h.clock.advance(0);
  await h.clock.advance(2000);
  h.runner.run();
  await h.clock.advance(20_000);
  assert.deepEqual(h.at(), [0, 2000]);
  assert.deepEqual([h.runs[1].info.trigger, h.runs[1].info.retry, h.runs[1].info.failures], ['request', true, 1]);
});
