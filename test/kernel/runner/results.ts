// What travels from the guest back to the host, and how the host turns it into one test per guest test.
// Shared by the reporter (guest side), the in-guest runner and the host runner. Pure: no I/O.
//
// Per ktest file the guest writes <n>.jsonl (one ReporterEvent per line, from ./reporter.ts), <n>.log (the
// file's stdout+stderr) and <n>.json (a FileRunRecord written by ./guest-main.ts once the file ended).

export interface SerializedError {
  message: string;
  stack?: string;
  /** node:test's failureType: testCodeFailure, hookFailed, subtestsFailed, cancelledByParent, testTimeoutFailure... */
  failureType?: string;
}

/** One node:test event, reduced to what the host needs. */
export interface ReporterEvent {
  event: 'start' | 'pass' | 'fail';
  name: string;
  nesting: number;
  /** describe() blocks (node:test details.type === 'suite'). */
  suite?: boolean;
  skip?: string | boolean;
  todo?: string | boolean;
  durationMs?: number;
  error?: SerializedError;
}

export interface FileRunRecord {
  /** Absolute path of the compiled file that ran. */
  file: string;
  index: number;
  exitCode: number | null;
  signal: string | null;
  timedOut: boolean;
  durationMs: number;
  netns: string;
}

/** Everything the host knows about one ktest file after the guest stopped. */
export interface FileOutcome {
  /** Printable name: the source path, e.g. test/kernel/link/link.ktest.ts. */
  display: string;
  /** Absent when the guest never reported the file ended (it did not run, or the guest died meanwhile). */
  record?: FileRunRecord;
  /** Absent when there was no result file at all. */
  events?: ReporterEvent[];
  /** Last lines of the file's own output. */
  logTail: string;
  /** Why the file has no record, when known (e.g. the guest did not boot). */
  notRunReason?: string;
}

export type CaseOutcome = 'pass' | 'fail' | 'skip' | 'todo';

/** One test to re-emit on the host. */
export interface HostCase {
  /** [file, suite..., test] */
  path: string[];
  outcome: CaseOutcome;
  /** Skip/todo reason. */
  reason?: string;
  error?: SerializedError;
  durationMs?: number;
}

export const NAME_SEPARATOR = ' › ';

/** Events in node:test's reporting order (definition order) → the leaf tests with their outcome. */
export function casesFromEvents(display: string, events: readonly ReporterEvent[]): HostCase[] {
  const out: HostCase[] = [];
  const path: string[] = [];
  const hadChild: boolean[] = [];
  for (const ev of events) {
    const n = ev.nesting;
    if (ev.event === 'start') {
      path.length = n;
      path[n] = ev.name;
      hadChild[n] = false;
      if (n > 0) hadChild[n - 1] = true;
      continue;
    }
    const names = [display, ...path.slice(0, n), ev.name];
    const isLeaf = hadChild[n] !== true && ev.suite !== true;
    if (isLeaf) {
      if (ev.event === 'fail') out.push({ path: names, outcome: 'fail', error: ev.error, durationMs: ev.durationMs });
      else if (ev.todo !== undefined && ev.todo !== false) out.push({ path: names, outcome: 'todo', reason: reasonText(ev.todo) });
      else if (ev.skip !== undefined && ev.skip !== false) out.push({ path: names, outcome: 'skip', reason: reasonText(ev.skip) });
      else out.push({ path: names, outcome: 'pass', durationMs: ev.durationMs });
    } else if (ev.event === 'fail' && ev.error?.failureType !== 'subtestsFailed') {
      // A suite's own failure (a before/after hook threw): its children say "cancelled", this says why.
      out.push({ path: names, outcome: 'fail', error: ev.error, durationMs: ev.durationMs });
    }
    // Whatever happens next at this depth starts fresh.
    hadChild[n] = false;
    path.length = n;
  }
  return out;
}

function reasonText(x: string | boolean): string | undefined {
  return typeof x === 'string' && x !== '' ? x : undefined;
}

/** The host tests for one ktest file: its leaf tests, plus a failing "(file)" test whenever the file itself failed. */
export function casesOfFile(fo: FileOutcome): HostCase[] {
  const fileCase = (message: string): HostCase => ({
    path: [fo.display, '(file)'],
    outcome: 'fail',
    error: { message: fo.logTail ? `${message}\n--- output of the file (tail) ---\n${fo.logTail}` : message },
  });
  const cases = fo.events ? casesFromEvents(fo.display, fo.events) : [];
  const r = fo.record;
  if (!r) {
    cases.push(fileCase(fo.notRunReason ?? 'no result: the guest stopped before this file finished (see the guest console)'));
    return cases;
  }
  if (r.timedOut) {
    cases.push(fileCase(`timed out after ${Math.round(r.durationMs / 1000)} s and was killed`));
  } else if (r.exitCode !== 0 && !cases.some((c) => c.outcome === 'fail')) {
    cases.push(fileCase(`exited with ${r.exitCode === null ? `signal ${r.signal}` : `code ${r.exitCode}`} without a failing test (crash at import, unhandled error, or a leaked handle?)`));
  } else if (!fo.events) {
    cases.push(fileCase('no reporter output (result file missing)'));
  } else if (cases.length === 0) {
    cases.push(fileCase('the file declared no tests'));
  }
  return cases;
}

export interface Counts {
  pass: number;
  fail: number;
  skip: number;
  todo: number;
}

export function countCases(cases: readonly HostCase[]): Counts {
  const c: Counts = { pass: 0, fail: 0, skip: 0, todo: 0 };
  for (const x of cases) c[x.outcome]++;
  return c;
}

/** Parses a .jsonl reporter file; a torn last line (the file was killed mid-write) is ignored. */
export function parseReporterLines(text: string): ReporterEvent[] {
  const out: ReporterEvent[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const ev = JSON.parse(line) as ReporterEvent;
      if (ev && (ev.event === 'start' || ev.event === 'pass' || ev.event === 'fail')) out.push(ev);
    } catch {
      /* torn line */
    }
  }
  return out;
}

/** Keeps the last `lines` lines of a text. */
export function tailLines(text: string, lines: number): string {
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(Math.max(0, all.length - lines)).join('\n');
}
