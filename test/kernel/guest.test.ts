// The kernel tests, seen from the host's `npm test`: boots user-mode Linux guest(s) with a real 6.1 kernel
// (src/sandbox/uml.ts), runs every dist/test/**/*.ktest.js inside, each in a fresh network namespace
// (./runner/guest-main.ts), and re-emits every guest test here as one host test named
// "test/x/y.ktest.ts › suite › test" that passes, fails with the guest's error, or is skipped with the guest's
// reason. A file that crashed, timed out or left no results, and a guest that did not boot, fail here with the
// reason: nothing is skipped silently.
//
// Environment: KUBE_IPVS_KTEST_FILTER (comma-separated path substrings, set by scripts/run-tests.mjs),
// KUBE_IPVS_KTEST_GUESTS (guests in parallel), KUBE_IPVS_KTEST_VERBOSE=1 (whole guest console),
// KUBE_IPVS_KTEST_KEEP=1 (keep the guests' work folders: console.log, per-file logs and results).

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GuestBootError, packageRoot, removeWorkDir, runInGuest } from '../../src/sandbox/uml.js';
import { findKtestFiles, parseFilter, runKtests } from './runner/host.js';
import { casesOfFile, countCases, NAME_SEPARATOR, type HostCase } from './runner/results.js';

const root = packageRoot();
const filter = parseFilter(process.env.KUBE_IPVS_KTEST_FILTER);
const files = findKtestFiles(root, filter);
const say = (line: string) => process.stderr.write(line + '\n');

function guestError(message: string, stack?: string): Error {
  const e = new Error(message);
  // The guest's own stack (source-mapped inside the guest) is the useful one; ours would point here.
  e.stack = stack ? (stack.startsWith(message) ? stack : `${message}\n${stack}`) : message;
  return e;
}

function emit(c: HostCase): void {
  const name = c.path.join(NAME_SEPARATOR);
  if (c.outcome === 'skip') test(name, { skip: c.reason ?? true }, () => {});
  else if (c.outcome === 'todo') test(name, { todo: c.reason ?? true }, () => {});
  else if (c.outcome === 'pass') test(name, () => {});
  else test(name, () => { throw guestError(c.error?.message ?? 'failed in the guest', c.error?.stack); });
}

// The launcher's own outcomes, on real guests booted alongside the test guests (skipped when filtering for
// something else): an exit code and output coming back from a job whose folder is under /tmp (hidden by the
// guest's tmpfs unless re-exposed), a guest-side boot failure, and a timeout.
if (!filter || filter.some((f) => 'test/kernel/guest.test.ts'.includes(f) || 'src/sandbox/uml.ts'.includes(f))) {
  const scratch = mkdtempSync(join(tmpdir(), 'kipvs-sandbox-'));
  writeFileSync(join(scratch, 'marker'), 'from-host-tmp');
  const job = runInGuest({ command: ['sh', '-c', 'cat marker > "$KIPVS_OUT/seen"; exit 7'], cwd: scratch, memory: '384M' });
  const bad = runInGuest({ command: ['true'], expose: ['/tmp/kipvs-no-such-folder-for-test'], memory: '384M' });
  const slow = runInGuest({ command: ['sleep', '1000'], timeoutMs: 1500, memory: '384M' });
  for (const p of [job, bad, slow]) p.catch(() => {}); // awaited by the tests below
  test('sandbox: a job under /tmp runs, its exit code and output come back', async () => {
    const r = await job;
    assert.equal(r.exitCode, 7);
    assert.equal(readFileSync(join(r.outDir, 'seen'), 'utf8'), 'from-host-tmp');
    assert.ok(r.bootMs > 0 && r.bootMs <= r.totalMs);
    removeWorkDir(r.workDir);
    rmSync(scratch, { recursive: true, force: true });
  });
  test('sandbox: a guest that cannot prepare the job says why, with the console', async () => {
    await assert.rejects(bad, (e: unknown) => {
      assert.ok(e instanceof GuestBootError);
      if (e.workDir) removeWorkDir(e.workDir);
      assert.match(e.reason, /cannot expose host folder \/tmp\/kipvs-no-such-folder-for-test/);
      assert.ok(e.consoleTail.includes('KIPVS: BOOT-FAILED'), e.consoleTail);
      return true;
    });
  });
  test('sandbox: a guest past its time limit is killed and reported', async () => {
    await assert.rejects(slow, (e: unknown) => {
      assert.ok(e instanceof GuestBootError);
      if (e.workDir) removeWorkDir(e.workDir);
      assert.match(e.reason, /timed out after 2 s/);
      return true;
    });
  });
}

if (files.length === 0) {
  if (filter) test(`kernel tests (no .ktest file matches ${filter.join(',')})`, { skip: 'filtered out' }, () => {});
  else test('kernel tests: dist/test/**/*.ktest.js exist', () => { throw new Error('no .ktest.js files under dist/test: nothing ran in the kernel'); });
} else {
  say(`kernel tests: ${files.length} file(s) in user-mode Linux`);
  const run = await runKtests({
    root,
    files,
    verbose: process.env.KUBE_IPVS_KTEST_VERBOSE === '1',
    keep: process.env.KUBE_IPVS_KTEST_KEEP === '1',
    onProgress: say,
  });
  for (const g of run.guests) {
    if (g.error) {
      const err = g.error;
      test(`kernel guest ${g.index} ran its ${g.files} file(s)`, () => { throw err; });
    }
  }
  const all: HostCase[] = [];
  for (const fo of run.files) for (const c of casesOfFile(fo)) all.push(c);
  for (const c of all) emit(c);

  const n = countCases(all);
  const boots = run.guests.map((g) => g.result ? `guest ${g.index}: boot ${(g.result.bootMs / 1000).toFixed(1)}s, total ${(g.result.totalMs / 1000).toFixed(1)}s` : `guest ${g.index}: failed`);
  say(`kernel tests: ${all.length} guest tests (pass ${n.pass}, fail ${n.fail}, skip ${n.skip}, todo ${n.todo}) in ${(run.totalMs / 1000).toFixed(1)}s; ${boots.join('; ')}`);
  for (const fo of run.files) {
    if (fo.record) say(`  ${(fo.record.durationMs / 1000).toFixed(1).padStart(6)}s  ${fo.display}`);
  }
}
