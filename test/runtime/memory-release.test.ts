// MemoryRelease (runtime/memory-release.ts): one collection a moment after a large sync, never during one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { garbageCollector, MemoryRelease } from '../../src/runtime/memory-release.js';

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(pred: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !pred(); i++) await sleep(5);
  assert.ok(pred(), 'condition not reached');
}

test('requests made before the collection runs are one collection', async () => {
  let calls = 0;
  const m = new MemoryRelease({ quietMs: 5, busy: () => false, collect: () => calls++ });
  m.request();
  m.request();
  m.request();
  await until(() => m.collections === 1);
  await sleep(30);
  assert.equal(calls, 1);
  m.request();
  await until(() => m.collections === 2);
  assert.equal(calls, 2);
});

test('while a sync runs, and until nothing has synced for the quiet period, the collection waits', async () => {
  let busy = true;
  let calls = 0;
  let now = 0;
  const m = new MemoryRelease({ quietMs: 1000, busy: () => busy, collect: () => calls++, now: () => now });
  m.request(); // at t=0
  await sleep(20);
  now = 1500;
  await sleep(1100); // the timer fired while busy: rescheduled
  assert.equal(calls, 0, 'not during a sync');
  busy = false;
  m.activity(); // a sync at t=1500: quiet again only from then
  now = 2000;
  await sleep(1100);
  assert.equal(calls, 0, 'not before the quiet period is over');
  now = 2600;
  await until(() => calls === 1);
});

test('cancel drops a pending collection', async () => {
  let calls = 0;
  const m = new MemoryRelease({ quietMs: 5, busy: () => false, collect: () => calls++ });
  m.request();
  m.cancel();
  await sleep(40);
  assert.equal(calls, 0);
});

test('garbageCollector() is V8\'s collector even when node was started without --expose-gc', async () => {
  const gc = garbageCollector();
  assert.equal(typeof gc, 'function');
  let ref: WeakRef<object> | undefined = (() => new WeakRef({ big: new Array(1000).fill(1) }))();
  await sleep(0); // WeakRef targets live until the end of the job that made them
  gc!();
  assert.equal(ref.deref(), undefined, 'an unreachable object is gone after the collection');
  ref = undefined;
});

test('the collection compacts: pages where a few survivors sit among garbage are given back', () => {
  // Survivors interleaved with objects that lived long enough to reach the old generation, then died: the shape
  // of what a large sync leaves. A collection without compaction keeps ~80% of these pages.
  const keep: object[] = [];
  let transient: object[] | null = [];
  for (let i = 0; i < 1_500_000; i++) {
    const o = { a: i, b: `y${i}` };
    if (i % 8 === 0) keep.push(o);
    else transient.push(o);
  }
  transient = null;
  const before = process.memoryUsage().heapTotal;
  garbageCollector()!();
  const after = process.memoryUsage().heapTotal;
  assert.ok(after < before * 0.5, `heap kept ${Math.round(after / 1048576)} of ${Math.round(before / 1048576)} MB`);
  assert.equal(keep.length, 187_500);
});
