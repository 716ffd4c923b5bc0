// The executor's ipset adapter: a run of consecutive ipset-* ops becomes ONE `ipset -exist restore` whose
// lines are exactly those ops, in order, so each op's fate is known:
//   - `-exist` makes the driver contract hold (create of a set with the same header, add of a member that is
//     there, del of one that is not: all succeed);
//   - ipset restore stops at the first failing line ("Error in line N"): lines before it are applied, line N
//     is that op's failure, and the rest is restored again without the ops that depend on the failed one.
// Why not IpsetDriver.apply(): it takes whole desired sets and decides itself what to write (so it cannot
// honour a scoped or non-pruning plan, and its failures are per restore, not per op). It is still used for
// the one thing a plain restore cannot do: a `create` refused because a set of that name exists with another
// header (type clash) is handed to the driver, which destroys + recreates it or swaps in a new one.

import { performance } from 'node:perf_hooks';
import { KernelError } from '../kernel/errors.js';
import { runTool } from '../kernel/exec.js';
import type { ToolRunner } from '../kernel/ipset.js';
import { ipsetOpLine as formatIpsetOpLine, ipsetRestoreErrorLine } from '../kernel/ipset-format.js';
import type { IpsetState } from '../model/state.js';
import type { IpsetAddOp, IpsetCreateOp, IpsetDelOp, IpsetDestroyOp } from '../plan/ops.js';

export type IpsetOp = IpsetCreateOp | IpsetAddOp | IpsetDelOp | IpsetDestroyOp;

export interface IpsetOpResult {
  op: IpsetOp;
  ok: boolean;
  error?: KernelError;
}

export interface IpsetOpsReport {
  results: IpsetOpResult[];
  /** `ipset restore` processes run (0 when there was nothing to do). */
  restores: number;
  /** Lines fed to them in total. */
  lines: number;
  /** Sets replaced through the driver after a header clash. */
  replaced: string[];
  durationMs: number;
}

export interface IpsetOpsRunnerOptions {
  /** Replaces runTool (host tests). */
  run?: ToolRunner;
  /** The ipset program (default "ipset"). */
  command?: string;
  /** Run inside this named network namespace (`ip netns exec NAME ipset ...`). */
  netns?: string;
  timeoutMs?: number;
  /** Replaces a set whose header clashes with the wanted one (IpsetDriver.apply with just that set). */
  replaceSet?: (name: string, state: IpsetState) => Promise<void>;
}

/** The restore line of one op (the ipset driver's own formatting). */
export const ipsetOpLine: (op: IpsetOp) => string = formatIpsetOpLine;

/** "Set cannot be created: set with the same name already exists" (and the older wording): a header clash. */
function isHeaderClash(stderr: string): boolean {
  return /already exists/i.test(stderr) && /same name|cannot be created/i.test(stderr);
}

export class IpsetOpsRunner {
  private readonly run: ToolRunner;
  private readonly command: string;
  private readonly netns: string | undefined;
  private readonly timeoutMs: number;
  private readonly replaceSet: IpsetOpsRunnerOptions['replaceSet'];

  constructor(opts: IpsetOpsRunnerOptions = {}) {
    this.run = opts.run ?? runTool;
    this.command = opts.command ?? 'ipset';
    this.netns = opts.netns;
    this.timeoutMs = opts.timeoutMs ?? 5 * 60_000;
    this.replaceSet = opts.replaceSet;
  }

  private restore(lines: string[]) {
    const args = ['-exist', 'restore'];
    const stdin = lines.join('\n') + '\n';
    if (this.netns) return this.run('ip', ['netns', 'exec', this.netns, this.command, ...args], { stdin, timeoutMs: this.timeoutMs });
    return this.run(this.command, args, { stdin, timeoutMs: this.timeoutMs });
  }

  /**
   * Applies the ops in order. `dependants(id)` names the ops (by id) that must not run once op `id` failed
   * (the executor passes opsToSkip); they get no result here and the executor reports them as skipped.
   * Never throws for a refused line; throws only when ipset cannot be started at all.
   */
  async apply(ops: readonly IpsetOp[], dependants: (failedId: string) => Iterable<string> = () => []): Promise<IpsetOpsReport> {
    const t0 = performance.now();
    const report: IpsetOpsReport = { results: [], restores: 0, lines: 0, replaced: [], durationMs: 0 };
    const dropped = new Set<string>();
    let pending = [...ops];
    while (pending.length > 0) {
      pending = pending.filter((op) => !dropped.has(op.id));
      if (pending.length === 0) break;
      const lines = pending.map(ipsetOpLine);
      const r = await this.restore(lines);
      report.restores++;
      report.lines += lines.length;
      if (r.exitCode === 0) {
        for (const op of pending) report.results.push({ op, ok: true });
        break;
      }
      const n = ipsetRestoreErrorLine(r.stderr);
      if (n === undefined || n < 1 || n > pending.length) {
        // Cannot tell which line: nothing is known to be applied.
        const error = new KernelError('ipset restore', r.stderr.trim() || `exit code ${r.exitCode}`, { exitCode: r.exitCode, stderr: r.stderr });
        for (const op of pending) report.results.push({ op, ok: false, error });
        break;
      }
      for (const op of pending.slice(0, n - 1)) report.results.push({ op, ok: true });
      const bad = pending[n - 1]!;
      let rest = pending.slice(n);
      if (bad.kind === 'ipset-create' && this.replaceSet && isHeaderClash(r.stderr)) {
        // Hand the set to the driver with the members this run adds to it; those adds are then done too.
        const adds = rest.filter((op): op is IpsetAddOp => op.kind === 'ipset-add' && op.set === bad.set);
        try {
          await this.replaceSet(bad.set, { type: bad.type, family: bad.family, entries: adds.map((a) => a.entry) });
          report.replaced.push(bad.set);
          report.results.push({ op: bad, ok: true }, ...adds.map((op) => ({ op, ok: true })));
          const done = new Set(adds.map((a) => a.id));
          rest = rest.filter((op) => !done.has(op.id));
          pending = rest;
          continue;
        } catch (e) {
          const error = e instanceof KernelError ? e : new KernelError(`ipset replace ${bad.set}`, String(e));
          report.results.push({ op: bad, ok: false, error });
        }
      } else {
        const error = new KernelError(`ipset restore: ${lines[n - 1]}`, r.stderr.trim() || `exit code ${r.exitCode}`, { exitCode: r.exitCode, stderr: r.stderr });
        report.results.push({ op: bad, ok: false, error });
      }
      for (const id of dependants(bad.id)) dropped.add(id);
      pending = rest;
    }
    report.durationMs = performance.now() - t0;
    return report;
  }
}
