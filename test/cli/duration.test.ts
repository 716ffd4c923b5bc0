import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatGoDuration, formatGoDurationNs, parseGoDuration } from '../../src/cli/duration.js';

test('parseGoDuration accepts every Go duration form', () => {
  const cases: [string, number][] = [
    ['0', 0],
    ['-0', 0],
    ['+0', 0],
    ['0s', 0],
    ['30s', 30_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['2h22m', 2 * 3_600_000 + 22 * 60_000],
    ['500ms', 500],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['1.s', 1_000],
    ['1h0m0s', 3_600_000],
    ['24h0m0s', 86_400_000],
    ['100us', 0.1],
    ['100µs', 0.1],
    ['100μs', 0.1],
    ['1000000ns', 1],
    ['-5s', -5_000],
    ['+5s', 5_000],
    ['1h1m1s1ms', 3_661_001],
  ];
  for (const [text, ms] of cases) {
    const r = parseGoDuration(text);
    assert.ok(r.ok, `${text} should parse`);
    assert.equal(r.ms, ms, text);
  }
});

test('parseGoDuration rejects what Go rejects, with Go\'s reason', () => {
  const cases: [string, RegExp][] = [
    ['', /invalid duration ""/],
    ['30', /missing unit in duration "30"/],
    ['30x', /unknown unit "x" in duration "30x"/],
    ['s', /invalid duration/],
    ['.s', /invalid duration/],
    ['1.2.3s', /missing unit in duration "1.2.3s"/],
    ['-', /invalid duration/],
    ['1 s', /unknown unit " s"/],
    ['9999999999999999999h', /invalid duration/],
    ['3000000h', /invalid duration/], // > int64 nanoseconds (about 2562047h)
  ];
  for (const [text, reason] of cases) {
    const r = parseGoDuration(text);
    assert.equal(r.ok, false, `${JSON.stringify(text)} should be rejected`);
    if (!r.ok) assert.match(r.error, reason, text);
  }
  assert.ok(parseGoDuration('2562047h').ok, 'just below the int64 limit');
});

test('formatGoDuration prints what Go\'s Duration.String() prints', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [30_000, '30s'],
    [1_000, '1s'],
    [90_000, '1m30s'],
    [15 * 60_000, '15m0s'],
    [3_600_000, '1h0m0s'],
    [86_400_000, '24h0m0s'],
    [2 * 3_600_000 + 22 * 60_000, '2h22m0s'],
    [500, '500ms'],
    [1_500, '1.5s'],
    [1.5, '1.5ms'],
    [0.1, '100µs'],
    [-5_000, '-5s'],
  ];
  for (const [ms, text] of cases) assert.equal(formatGoDuration(ms), text, String(ms));
  assert.equal(formatGoDurationNs(1n), '1ns');
  assert.equal(formatGoDurationNs(1_000_000_001n), '1.000000001s');
});

test('parse then format round-trips to Go\'s canonical form', () => {
  for (const [input, canonical] of [['90s', '1m30s'], ['2h22m', '2h22m0s'], ['0', '0s'], ['1500ms', '1.5s']]) {
    const r = parseGoDuration(input!);
    assert.ok(r.ok);
    assert.equal(formatGoDurationNs(r.ns), canonical);
  }
});
