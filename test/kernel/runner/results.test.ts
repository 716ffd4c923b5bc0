// Host tests of the kernel-test plumbing: the guest reporter run by a real `node` on a fixture file and folded
// back into host tests, the file-level failure rules (never a silent skip), file discovery and filtering.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { balance, findKtestFiles, parseFilter, shard, sourcePathOf } from './host.js';
import { casesFromEvents, casesOfFile, countCases, parseReporterLines, type FileRunRecord, type HostCase } from './results.js';

const REPORTER = fileURLToPath(new URL('./reporter.js', import.meta.url));

const FIXTURE = `
import { describe, it, test, before } from 'node:test';
import assert from 'node:assert/strict';
describe('suite A', () => {
  it('passes', () => {});
  it('fails', () => { assert.equal(1, 2); });
  it('skips', (t) => { t.skip('no nft here'); });
  it.todo('later');
  describe('inner', () => { it('deep', () => {}); });
});
describe('hooked', () => {
  before(() => { throw new Error('hook boom'); });
  it('never runs', () => {});
});
test('top with subtests', async (t) => { await t.test('sub', () => {}); });
test('throws a string', () => { throw 'plain'; });
`;

function brief(cases: HostCase[]): string[] {
  return cases.map((c) => `${c.outcome} ${c.path.join(' > ')}${c.reason ? ` (${c.reason})` : ''}`);
}

describe('guest reporter -> host tests', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kipvs-reporter-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('turns a real node:test run into one host test per leaf, with reasons and errors', () => {
    const file = join(dir, 'fixture.ktest.mjs');
    writeFileSync(file, FIXTURE);
    const out = join(dir, 'out.jsonl');
    // Without NODE_TEST_CONTEXT: under `node --test` a child would otherwise report to its parent, not to our reporter.
    const env = { ...process.env };
    delete env.NODE_TEST_CONTEXT;
    const r = spawnSync(process.execPath, [`--test-reporter=${REPORTER}`, `--test-reporter-destination=${out}`, file], { encoding: 'utf8', env });
    assert.equal(r.status, 1, 'the fixture has failures');
    const events = parseReporterLines(readFileSync(out, 'utf8'));
    const cases = casesFromEvents('f.ktest.ts', events);
    assert.deepEqual(brief(cases), [
      'pass f.ktest.ts > suite A > passes',
      'fail f.ktest.ts > suite A > fails',
      'skip f.ktest.ts > suite A > skips (no nft here)',
      'todo f.ktest.ts > suite A > later',
      'pass f.ktest.ts > suite A > inner > deep',
      'fail f.ktest.ts > hooked > never runs',
      'fail f.ktest.ts > hooked',
      'pass f.ktest.ts > top with subtests > sub',
      'fail f.ktest.ts > throws a string',
    ]);
    const failed = cases.find((c) => c.path.at(-1) === 'fails')!;
    assert.match(failed.error!.message, /1 !== 2/);
    assert.match(failed.error!.stack ?? '', /fixture\.ktest\.mjs:6/);
    assert.match(cases.find((c) => c.path.at(-1) === 'hooked')!.error!.message, /hook boom/);
    assert.match(cases.find((c) => c.path.at(-1) === 'throws a string')!.error!.message, /plain/);
    const record: FileRunRecord = { file, index: 1, exitCode: 1, signal: null, timedOut: false, durationMs: 10, netns: 'kt-1' };
    const all = casesOfFile({ display: 'f.ktest.ts', record, events, logTail: '' });
    assert.equal(all.length, cases.length, 'failing tests explain the exit code: no extra (file) failure');
    assert.deepEqual(countCases(all), { pass: 3, fail: 4, skip: 1, todo: 1 });
  });
});

describe('file-level outcomes', () => {
  const rec = (over: Partial<FileRunRecord>): FileRunRecord =>
    ({ file: '/x/a.ktest.js', index: 1, exitCode: 0, signal: null, timedOut: false, durationMs: 5000, netns: 'kt-1', ...over });
  const passing = parseReporterLines('{"event":"start","name":"t","nesting":0}\n{"event":"pass","name":"t","nesting":0}\n');

  it('passes cleanly when the file passed', () => {
    assert.deepEqual(brief(casesOfFile({ display: 'a', record: rec({}), events: passing, logTail: '' })), ['pass a > t']);
  });

  it('fails the file when it crashed without a failing test, and shows its output', () => {
    const cases = casesOfFile({ display: 'a', record: rec({ exitCode: 1 }), events: [], logTail: 'SyntaxError: nope' });
    assert.deepEqual(brief(cases), ['fail a > (file)']);
    assert.match(cases[0]!.error!.message, /exited with code 1[\s\S]*SyntaxError: nope/);
  });

  it('fails the file when it timed out, when it left no result, when it declared no test', () => {
    assert.match(casesOfFile({ display: 'a', record: rec({ timedOut: true, exitCode: null, signal: 'SIGKILL' }), events: passing, logTail: '' })
      .at(-1)!.error!.message, /timed out after 5 s/);
    assert.match(casesOfFile({ display: 'a', logTail: '', notRunReason: 'guest 2 failed: boom' })[0]!.error!.message, /guest 2 failed: boom/);
    assert.match(casesOfFile({ display: 'a', record: rec({}), logTail: '' })[0]!.error!.message, /no reporter output/);
    assert.match(casesOfFile({ display: 'a', record: rec({}), events: [], logTail: '' })[0]!.error!.message, /declared no tests/);
  });

  it('ignores a torn last reporter line', () => {
    assert.equal(parseReporterLines('{"event":"start","name":"t","nesting":0}\n{"event":"pa').length, 1);
  });
});

describe('ktest file discovery', () => {
  let root: string;
  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'kipvs-find-'));
    for (const f of ['dist/test/kernel/ipvs/ipvs.ktest.js', 'dist/test/kernel/link/link.ktest.js', 'dist/test/kernel/link/rtnl.test.js', 'dist/test/e2e/e2e.ktest.js']) {
      mkdirSync(join(root, f, '..'), { recursive: true });
      writeFileSync(join(root, f), '');
    }
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('finds compiled .ktest.js files, sorted, and filters by dist or source path substrings', () => {
    const rel = (fs: string[]) => fs.map((f) => sourcePathOf(root, f));
    assert.deepEqual(rel(findKtestFiles(root)), ['test/e2e/e2e.ktest.ts', 'test/kernel/ipvs/ipvs.ktest.ts', 'test/kernel/link/link.ktest.ts']);
    assert.deepEqual(rel(findKtestFiles(root, ['test/kernel'])), ['test/kernel/ipvs/ipvs.ktest.ts', 'test/kernel/link/link.ktest.ts']);
    assert.deepEqual(rel(findKtestFiles(root, ['link.ktest.ts', 'e2e'])), ['test/e2e/e2e.ktest.ts', 'test/kernel/link/link.ktest.ts']);
    assert.deepEqual(findKtestFiles(root, ['test/desired']), []);
  });

  it('parses the filter variable and shards files over guests', () => {
    assert.equal(parseFilter(undefined), undefined);
    assert.equal(parseFilter(' , '), undefined);
    assert.deepEqual(parseFilter('test/kernel, e2e'), ['test/kernel', 'e2e']);
    assert.deepEqual(shard([1, 2, 3, 4, 5], 2), [[1, 3, 5], [2, 4]]);
    assert.deepEqual(shard([1], 4), [[1]]);
    assert.deepEqual(shard([], 2), [[]]);
  });

  it('balances guests by the last run\'s durations, longest first', () => {
    const ms: Record<string, number> = { a: 60, b: 10, c: 25, d: 30 };
    assert.deepEqual(balance(['a', 'b', 'c', 'd'], 2, (x) => ms[x]), [['a'], ['b', 'c', 'd']]);
    // Unknown files cost the average of the known ones.
    assert.deepEqual(balance(['a', 'new', 'b'], 2, (x) => ms[x]), [['a'], ['new', 'b']]);
    assert.deepEqual(balance(['a', 'b', 'c'], 2, () => undefined), shard(['a', 'b', 'c'], 2));
  });
});
