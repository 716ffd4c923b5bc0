// Host side of the kernel tests: finds the compiled dist/test/**/*.ktest.js files, boots one or more guests
// (src/sandbox/uml.ts), runs ./guest-main.js in each over its share of the files, and reads back one
// FileOutcome per file. Never throws for a guest that fails: that becomes a boot error plus "not run" outcomes.

import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GUEST_OUT_DIR, GuestBootError, removeWorkDir, runInGuest, type GuestResult } from '../../../src/sandbox/uml.js';
import { parseReporterLines, tailLines, type FileOutcome, type FileRunRecord } from './results.js';

export const KTEST_SUFFIX = '.ktest.js';
const LOG_TAIL_LINES = 30;

/** Comma-separated path substrings from KUBE_IPVS_KTEST_FILTER (set by scripts/run-tests.mjs), or undefined. */
export function parseFilter(value: string | undefined): string[] | undefined {
  const parts = (value ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  return parts.length ? parts : undefined;
}

/** test/x/y.ktest.ts for dist/test/x/y.ktest.js (what people type and see). */
export function sourcePathOf(root: string, distFile: string): string {
  const rel = relative(join(root, 'dist'), distFile);
  return rel.endsWith(KTEST_SUFFIX) ? rel.slice(0, -KTEST_SUFFIX.length) + '.ktest.ts' : rel;
}

/** Sorted absolute paths of the compiled ktest files, keeping those whose dist or source path contains a filter. */
export function findKtestFiles(root: string, filter?: readonly string[]): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    if (!existsSync(dir)) return;
    for (const name of readdirSync(dir)) {
      const p = join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith(KTEST_SUFFIX)) out.push(p);
    }
  };
  walk(join(root, 'dist', 'test'));
  out.sort();
  if (!filter) return out;
  return out.filter((f) => {
    const names = [relative(root, f), sourcePathOf(root, f)];
    return filter.some((x) => names.some((n) => n.includes(x)));
  });
}

/** Splits items over n guests, alternating so that neighbouring (similar) files land on different guests. */
export function shard<T>(items: readonly T[], n: number): T[][] {
  const out: T[][] = Array.from({ length: Math.max(1, Math.min(n, items.length)) }, () => []);
  items.forEach((x, i) => out[i % out.length]!.push(x));
  return out;
}

/**
 * Splits items over n guests by expected duration (longest first onto the least loaded guest), from the
 * timings of the previous run; without any timing this is shard(). Each guest keeps the items' original order.
 */
export function balance<T>(items: readonly T[], n: number, estimateMs: (x: T) => number | undefined): T[][] {
  const known = items.map(estimateMs).filter((v): v is number => v !== undefined);
  if (known.length === 0) return shard(items, n);
  const fallback = known.reduce((a, b) => a + b, 0) / known.length;
  const guests = Math.max(1, Math.min(n, items.length));
  const load = new Array<number>(guests).fill(0);
  const owner = new Map<T, number>();
  const byCost = [...items].sort((a, b) => (estimateMs(b) ?? fallback) - (estimateMs(a) ?? fallback));
  for (const x of byCost) {
    const g = load.indexOf(Math.min(...load));
    load[g]! += estimateMs(x) ?? fallback;
    owner.set(x, g);
  }
  return Array.from({ length: guests }, (_, g) => items.filter((x) => owner.get(x) === g));
}

/** Durations of the last run per source path, kept in dist/ (not committed; a fresh clone simply has none). */
function timingsFile(root: string): string {
  return join(root, 'dist', '.ktest-timings.json');
}

function readTimings(root: string): Record<string, number> {
  try {
    return JSON.parse(readFileSync(timingsFile(root), 'utf8')) as Record<string, number>;
  } catch {
    return {};
  }
}

function writeTimings(root: string, files: readonly FileOutcome[]): void {
  const t = readTimings(root);
  for (const f of files) if (f.record && !f.record.timedOut) t[f.display] = f.record.durationMs;
  try {
    mkdirSync(join(root, 'dist'), { recursive: true });
    writeFileSync(timingsFile(root), JSON.stringify(t, null, 1) + '\n');
  } catch {
    /* only an optimisation */
  }
}

export interface GuestRunInfo {
  index: number;
  files: number;
  result?: GuestResult;
  error?: GuestBootError | Error;
}

export interface KtestRun {
  guests: GuestRunInfo[];
  files: FileOutcome[];
  totalMs: number;
}

export interface KtestRunOptions {
  root: string;
  files: readonly string[];
  /** Guests booted in parallel (default: KUBE_IPVS_KTEST_GUESTS, else 2 when there are 2+ cores and files). */
  guests?: number;
  /** Per-file limit inside the guest (default 10 min). */
  fileTimeoutMs?: number;
  /** Whole-guest limit (default 30 min). */
  guestTimeoutMs?: number;
  /** Progress lines (runner lines and guest markers; every console line when verbose). */
  onProgress?: (line: string) => void;
  verbose?: boolean;
  /** Keep guest work folders even when everything passed. */
  keep?: boolean;
}

export function defaultGuestCount(files: number): number {
  const env = Number(process.env.KUBE_IPVS_KTEST_GUESTS);
  if (Number.isInteger(env) && env > 0) return env;
  return Math.min(files, cpus().length >= 2 ? 2 : 1);
}

function readText(p: string): string | undefined {
  try {
    return readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

function outcomeOf(root: string, file: string, index: number, resultsDir: string | undefined, notRun?: string): FileOutcome {
  const display = sourcePathOf(root, file);
  if (!resultsDir) return { display, logTail: '', notRunReason: notRun };
  const recordText = readText(join(resultsDir, `${index}.json`));
  const jsonl = readText(join(resultsDir, `${index}.jsonl`));
  const log = readText(join(resultsDir, `${index}.log`)) ?? '';
  let record: FileRunRecord | undefined;
  try {
    record = recordText ? (JSON.parse(recordText) as FileRunRecord) : undefined;
  } catch {
    record = undefined;
  }
  return {
    display,
    record,
    events: jsonl === undefined ? undefined : parseReporterLines(jsonl),
    logTail: tailLines(log, LOG_TAIL_LINES),
    notRunReason: record ? undefined : notRun,
  };
}

/** Boots the guests, runs every file, and returns what came back. */
export async function runKtests(opts: KtestRunOptions): Promise<KtestRun> {
  const t0 = Date.now();
  const guestMain = join(fileURLToPath(new URL('.', import.meta.url)), 'guest-main.js');
  const indexed = opts.files.map((file, i) => ({ file, index: i + 1 }));
  const timings = readTimings(opts.root);
  const shards = balance(indexed, opts.guests ?? defaultGuestCount(opts.files.length), (x) => timings[sourcePathOf(opts.root, x.file)]);
  const guests: GuestRunInfo[] = [];
  const files: FileOutcome[] = [];
  await Promise.all(shards.map(async (items, g) => {
    const info: GuestRunInfo = { index: g + 1, files: items.length };
    guests[g] = info;
    const tag = shards.length > 1 ? `[guest ${g + 1}] ` : '[guest] ';
    try {
      info.result = await runInGuest({
        command: [process.execPath, guestMain, '--out', `${GUEST_OUT_DIR}/ktest`,
          '--timeout', String(opts.fileTimeoutMs ?? 10 * 60_000), ...items.map((x) => `${x.index}:${x.file}`)],
        cwd: opts.root,
        env: { CI: process.env.CI ?? '' },
        timeoutMs: opts.guestTimeoutMs ?? 30 * 60_000,
        onConsoleLine: (line) => {
          if (opts.verbose || line.startsWith('ktest ') || line.startsWith('KIPVS: ') || line.startsWith('guest-main:') ||
            /Kernel panic|Out of memory/.test(line)) {
            opts.onProgress?.(tag + line);
          }
        },
      });
      if (info.result.exitCode !== 0) {
        info.error = new Error(`the in-guest runner exited with code ${info.result.exitCode} (console: ${info.result.consoleLog})`);
      }
    } catch (e) {
      info.error = e instanceof Error ? e : new Error(String(e));
    }
    const resultsDir = info.result ? join(info.result.outDir, 'ktest') : undefined;
    const workDir = info.result?.workDir ?? (info.error instanceof GuestBootError ? info.error.workDir : undefined);
    const notRun = info.error ? `not run to completion: guest ${g + 1} failed: ${info.error.message.split('\n')[0]}` : undefined;
    for (const x of items) files[x.index - 1] = outcomeOf(opts.root, x.file, x.index, resultsDir ?? (workDir ? join(workDir, 'out', 'ktest') : undefined), notRun);
    const allGood = !info.error && items.every((x) => {
      const fo = files[x.index - 1]!;
      return fo.record?.exitCode === 0;
    });
    if (workDir && allGood && !opts.keep) removeWorkDir(workDir);
    else if (workDir) opts.onProgress?.(`${tag}work folder kept for inspection: ${workDir}`);
  }));
  writeTimings(opts.root, files);
  return { guests, files, totalMs: Date.now() - t0 };
}
