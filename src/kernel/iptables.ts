// The iptables driver: kube-proxy IPVS mode's KUBE-* chains in the nat and filter tables, for IPv4 and
// IPv6, on the legacy or nf_tables backend (detected as kube-proxy's image does, or forced).
//
//   observe()         one iptables-save per table and family -> our chains as canonical text
//   ensureJumpRules() the jump rules from built-in chains, inserted at the top only when missing
//   apply()           one `iptables-restore -w 5 --noflush` per table and family, only for tables whose
//                     normalised desired text differs from what the kernel holds (a sync with nothing
//                     changed runs no restore at all)
//   cleanup()         our jump rules, then our chains (flushed and deleted in one restore per table);
//                     chains that another component still jumps to are kept and reported
//
// The comparison relies on ./iptables-normalise.ts, which turns kube-proxy's restore text into exactly
// what iptables-save prints. Order within a sync: ipsets first (rules name them), then apply.

import { performance } from 'node:perf_hooks';
import { KUBE_CHAINS, KUBE_JUMP_RULES } from '../model/ipsets.js';
import type { IptablesTables } from '../model/state.js';
import { silentLogger, type Logger } from '../util/log.js';
import { KernelError } from './errors.js';
import { runTool, type ToolResult } from './exec.js';
import {
  decideBackend,
  hasRandomFully,
  iptablesWaitFlags,
  parseIptablesVersion,
  programNames,
  restoreWaitFlags,
  versionBackend,
  type IptablesBackend,
  type IptablesPrograms,
} from './iptables-backend.js';
import {
  canonicalTableText,
  normaliseRestoreTable,
  normaliseRule,
  parseIptablesSave,
  restoreErrorLine,
  tableUpToDate,
  type NormalisedTable,
  type TableContent,
} from './iptables-normalise.js';
import type { ToolRunner } from './ipset.js';

export type { IptablesBackend } from './iptables-backend.js';
export type IpFamily = 4 | 6;
export type IptablesTable = 'nat' | 'filter';
export type IptablesState = { ipv4: IptablesTables; ipv6: IptablesTables };

const TABLES: readonly IptablesTable[] = ['nat', 'filter'];
const OWNED: Record<IptablesTable, ReadonlySet<string>> = { nat: new Set(KUBE_CHAINS.nat), filter: new Set(KUBE_CHAINS.filter) };
const famKey = (f: IpFamily) => (f === 4 ? 'ipv4' : 'ipv6') as 'ipv4' | 'ipv6';

export interface IptablesDriverOptions {
  /** "auto" (default) detects the node's backend as kube-proxy's iptables-wrapper does. */
  backend?: 'auto' | IptablesBackend;
  /** Families to manage (default both). An unmanaged family observes as "" and is never written. */
  families?: IpFamily[];
  /** Run the tools inside this network namespace (`ip netns exec NAME ...`): sandboxes and tests. */
  netns?: string;
  /** Seconds to wait for the xtables lock (-w), default 5 as kube-proxy. */
  waitSeconds?: number;
  /**
   * Kill an iptables-save/-restore that runs longer than this (default 5 minutes). A killed restore of a
   * table is rolled back by the kernel, but there is no reason to give up on a slow one early.
   */
  restoreTimeoutMs?: number;
  run?: ToolRunner;
  log?: Logger;
}

export interface IptablesApplyReport {
  /** The restores that ran (empty when everything was up to date). */
  restores: { family: IpFamily; table: IptablesTable; lines: number }[];
  upToDate: { family: IpFamily; table: IptablesTable }[];
  durationMs: number;
}

export interface JumpRulesReport {
  /** "ipv4 nat OUTPUT -> KUBE-SERVICES" for each rule inserted. */
  inserted: string[];
  chainsCreated: string[];
  /** How many `-C` checks ran (0 when the last observe() showed every rule in place). */
  checks: number;
}

export interface IptablesCleanupReport {
  jumpRulesDeleted: string[];
  chainsDeleted: string[];
  chainsKept: { where: string; chain: string; reason: string }[];
  errors: string[];
}

interface Runner {
  backend: IptablesBackend;
  programs: Record<IpFamily, IptablesPrograms>;
  version: number[];
}

function isMissingProgram(r: ToolResult): boolean {
  // `ip netns exec` reports a missing program as exit 255 with this text instead of a spawn error.
  return r.exitCode !== 0 && /No such file or directory|not found/.test(r.stderr) && !/Chain|table|rule/.test(r.stderr);
}

export class IptablesDriver {
  readonly backend: IptablesBackend;
  /** Why this backend was chosen. */
  readonly backendReason: string;
  /** "1.8.9" */
  readonly version: string;
  /** kube-proxy's HasRandomFully(): MASQUERADE --random-fully can be used. */
  readonly hasRandomFully: boolean;
  readonly families: readonly IpFamily[];
  private readonly runner: Runner;
  private readonly opts: IptablesDriverOptions;
  private readonly run: ToolRunner;
  private readonly log: Logger;
  private readonly waitSeconds: number;
  private readonly restoreTimeoutMs: number;
  /** Whole tables as the last observe() read them, for the next ensureJumpRules() (which uses them up). */
  private snapshot = new Map<string, TableContent>();

  private constructor(opts: IptablesDriverOptions, runner: Runner, reason: string) {
    this.opts = opts;
    this.run = opts.run ?? runTool;
    this.log = opts.log ?? silentLogger;
    this.waitSeconds = opts.waitSeconds ?? 5;
    this.restoreTimeoutMs = opts.restoreTimeoutMs ?? 5 * 60_000;
    this.families = opts.families ?? [4, 6];
    this.runner = runner;
    this.backend = runner.backend;
    this.backendReason = reason;
    this.version = runner.version.join('.');
    this.hasRandomFully = hasRandomFully(runner.version);
  }

  /** Detects (or takes) the backend, finds its programs and reads the iptables version. */
  static async create(opts: IptablesDriverOptions = {}): Promise<IptablesDriver> {
    const run = opts.run ?? runTool;
    const exec = (prog: string, args: string[], stdin?: string) => execIn(run, opts.netns, prog, args, stdin);
    let backend: IptablesBackend;
    let reason: string;
    if (!opts.backend || opts.backend === 'auto') {
      const out = async (prog: string, args: string[]) => {
        try {
          const r = await exec(prog, args);
          return r.exitCode === 0 ? r.stdout : '';
        } catch {
          return '';
        }
      };
      const [nftMangle4, nftMangle6, legacyAll4, legacyAll6] = await Promise.all([
        out(programNames('nft', 4).save, ['-t', 'mangle']),
        out(programNames('nft', 6).save, ['-t', 'mangle']),
        out(programNames('legacy', 4).save, []),
        out(programNames('legacy', 6).save, []),
      ]);
      ({ backend, reason } = decideBackend({ nftMangle4, nftMangle6, legacyAll4, legacyAll6 }));
    } else {
      backend = opts.backend;
      reason = 'configured';
    }
    const runner = await resolveRunner(exec, backend);
    const driver = new IptablesDriver(opts, runner, reason);
    driver.log.info({ backend, reason, version: driver.version, randomFully: driver.hasRandomFully }, 'iptables backend');
    return driver;
  }

  private exec(prog: string, args: string[], stdin?: string, timeoutMs?: number): Promise<ToolResult> {
    return execIn(this.run, this.opts.netns, prog, args, stdin, timeoutMs);
  }

  private async save(r: Runner, family: IpFamily, table: IptablesTable): Promise<TableContent> {
    const prog = r.programs[family].save;
    const res = await this.exec(prog, ['-t', table], undefined, this.restoreTimeoutMs);
    if (res.exitCode !== 0) {
      throw new KernelError(`${prog} -t ${table}`, res.stderr.trim() || `exit code ${res.exitCode}`, { exitCode: res.exitCode, stderr: res.stderr });
    }
    return parseIptablesSave(res.stdout).get(table) ?? { table, chains: new Map() };
  }

  /** Our chains per family and table as canonical text ("" for a family that is not managed or has none). */
  async observe(): Promise<IptablesState> {
    const out: IptablesState = { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } };
    const snapshot = new Map<string, TableContent>();
    await Promise.all(
      this.families.flatMap((f) =>
        TABLES.map(async (t) => {
          const content = await this.save(this.runner, f, t);
          snapshot.set(`${f}/${t}`, content);
          out[famKey(f)][t] = canonicalTableText(content, (c) => OWNED[t].has(c));
        }),
      ),
    );
    this.snapshot = snapshot;
    return out;
  }

  private iptables(r: Runner, family: IpFamily, args: string[]): Promise<ToolResult> {
    return this.exec(r.programs[family].iptables, [...iptablesWaitFlags(r.version, this.waitSeconds), ...args]);
  }

  /**
   * kube-proxy's createAndLinkKubeChain jump rules: `-m comment --comment C -j KUBE-...` at the top of the
   * built-in chain, only when missing (`-C`, then `-I`), creating the target chain first if needed. What
   * is missing comes from the tables the last observe() read (or one save per table when there was no
   * observe() since the last call), so a rule in place costs no process at all. Call observe() first in
   * each sync.
   */
  async ensureJumpRules(): Promise<JumpRulesReport> {
    const report: JumpRulesReport = { inserted: [], chainsCreated: [], checks: 0 };
    for (const f of this.families) {
      // Without a snapshot from observe(), one save per table is cheaper than a -C per rule.
      for (const t of TABLES) if (!this.snapshot.has(`${f}/${t}`)) this.snapshot.set(`${f}/${t}`, await this.save(this.runner, f, t));
      // Missing rules of a table go into ONE `iptables-restore --noflush` (a process per -C/-N/-I costs a
      // fresh node dozens of processes). Only chains the snapshot shows missing are declared: declaring an
      // existing chain in a --noflush restore would flush it. The -I lines run in kube-proxy's order, so the
      // built-in chains end up exactly as after its sequence of `iptables -I`.
      const pending = new Map<IptablesTable, { chains: string[]; rules: string[]; inserted: string[] }>();
      for (const j of KUBE_JUMP_RULES) {
        const snap = this.snapshot.get(`${f}/${j.table}`)!;
        const want = normaliseRule(`-A ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`, f);
        if (!('rule' in want)) {
          await this.ensureJumpRuleByCommands(f, j, report);
          continue;
        }
        if (snap.chains.get(j.from)?.rules.includes(want.rule)) continue;
        const batch = pending.get(j.table) ?? { chains: [], rules: [], inserted: [] };
        pending.set(j.table, batch);
        if (!snap.chains.has(j.to) && !batch.chains.includes(j.to)) batch.chains.push(j.to);
        batch.rules.push(`-I ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`);
        batch.inserted.push(`${famKey(f)} ${j.table} ${j.from} -> ${j.to}`);
      }
      for (const [t, batch] of pending) {
        const text = [`*${t}`, ...batch.chains.map((c) => `:${c} - [0:0]`), ...batch.rules, 'COMMIT', ''].join('\n');
        await this.restoreNormalised(f, t, text, batch.chains);
        report.chainsCreated.push(...batch.chains.map((c) => `${famKey(f)} ${t} ${c}`));
        report.inserted.push(...batch.inserted);
      }
    }
    // Used up: the next call reads the tables again unless an observe() comes first, so a rule deleted by
    // hand between syncs is never hidden by an old snapshot.
    this.snapshot.clear();
    if (report.inserted.length || report.chainsCreated.length) this.log.info(report, 'iptables jump rules ensured');
    return report;
  }

  /** The slow path for a rule the normaliser cannot express: -N, -C, then -I, one process each. */
  private async ensureJumpRuleByCommands(f: IpFamily, j: (typeof KUBE_JUMP_RULES)[number], report: JumpRulesReport): Promise<void> {
    const spec = ['-m', 'comment', '--comment', j.comment, '-j', j.to];
    const n = await this.iptables(this.runner, f, ['-t', j.table, '-N', j.to]);
    if (n.exitCode === 0) report.chainsCreated.push(`${famKey(f)} ${j.table} ${j.to}`);
    else if (n.exitCode !== 1) throw this.cmdError(f, ['-t', j.table, '-N', j.to], n);
    report.checks++;
    const c = await this.iptables(this.runner, f, ['-t', j.table, '-C', j.from, ...spec]);
    if (c.exitCode === 0) return;
    if (c.exitCode !== 1) throw this.cmdError(f, ['-t', j.table, '-C', j.from, ...spec], c);
    const i = await this.iptables(this.runner, f, ['-t', j.table, '-I', j.from, ...spec]);
    if (i.exitCode !== 0) throw this.cmdError(f, ['-t', j.table, '-I', j.from, ...spec], i);
    report.inserted.push(`${famKey(f)} ${j.table} ${j.from} -> ${j.to}`);
    this.snapshot.delete(`${f}/${j.table}`);
  }

  private cmdError(family: IpFamily, args: string[], r: ToolResult): KernelError {
    return new KernelError(`${this.runner.programs[family].iptables} ${args.join(' ')}`, r.stderr.trim() || `exit code ${r.exitCode}`, {
      exitCode: r.exitCode,
      stderr: r.stderr,
    });
  }

  /**
   * Restores each desired table (kube-proxy's restore text, one table per field) whose normalised form
   * differs from the kernel's. `observed` should come from observe() in the same sync; without it the
   * driver observes first. An empty desired text leaves that table alone. Throws KernelError naming the
   * failing line when a restore fails, or when the desired text is not something --noflush can converge
   * (rules for chains it does not declare).
   */
  async apply(desired: IptablesState, observed?: IptablesState): Promise<IptablesApplyReport> {
    const start = performance.now();
    const report: IptablesApplyReport = { restores: [], upToDate: [], durationMs: 0 };
    let obs = observed;
    for (const f of this.families) {
      for (const t of TABLES) {
        const text = desired[famKey(f)][t];
        if (!text || !text.trim()) continue;
        const norm = this.validated(f, t, text);
        obs ??= await this.observe();
        if (tableUpToDate(norm, obs[famKey(f)][t])) {
          report.upToDate.push({ family: f, table: t });
          continue;
        }
        const lines = await this.restoreNormalised(f, t, text, norm.chains);
        report.restores.push({ family: f, table: t, lines });
      }
    }
    report.durationMs = performance.now() - start;
    if (report.restores.length) this.log.debug(report, 'iptables restored');
    return report;
  }

  /**
   * One `iptables-restore -w 5 --noflush` of a table's restore text, whatever the kernel holds (the plan
   * decided it differs). Same checks and errors as apply(); returns the number of lines restored.
   */
  async restore(family: IpFamily | 'ipv4' | 'ipv6', table: IptablesTable, text: string): Promise<number> {
    const f: IpFamily = family === 'ipv4' ? 4 : family === 'ipv6' ? 6 : family;
    return this.restoreNormalised(f, table, text, this.validated(f, table, text).chains);
  }

  /** The normalised desired table, or a KernelError when --noflush could not converge on it. */
  private validated(f: IpFamily, t: IptablesTable, text: string): NormalisedTable {
    const norm = normaliseRestoreTable(text, f);
    if (norm.table && norm.table !== t) norm.problems.push(`declares table ${norm.table}, expected ${t}`);
    if (norm.problems.length) throw new KernelError(`${this.runner.programs[f].restore} ${t}`, `desired text rejected: ${norm.problems.join('; ')}`);
    return norm;
  }

  private async restoreNormalised(f: IpFamily, t: IptablesTable, text: string, chains: readonly string[]): Promise<number> {
    const op = `${this.runner.programs[f].restore} ${t}`;
    const input = text.endsWith('\n') ? text : `${text}\n`;
    const r = await this.exec(this.runner.programs[f].restore, [...restoreWaitFlags(this.runner.version, this.waitSeconds), '--noflush'], input, this.restoreTimeoutMs);
    // The restore touched only the chains it declares; what the snapshot is used for (built-in chains'
    // jump rules, which chains exist) stays true once those chains are known to exist.
    const snap = this.snapshot.get(`${f}/${t}`);
    if (r.exitCode !== 0) this.snapshot.delete(`${f}/${t}`);
    else for (const c of chains) if (snap && !snap.chains.has(c)) snap.chains.set(c, { policy: '-', rules: [] });
    if (r.exitCode !== 0) {
      const n = restoreErrorLine(r.stderr);
      const line = n !== undefined ? input.split('\n')[n - 1] : undefined;
      throw new KernelError(op, `failed${line !== undefined ? ` at line ${n} "${line}"` : ''}: ${r.stderr.trim()}`, {
        exitCode: r.exitCode,
        stderr: r.stderr,
      });
    }
    return input.split('\n').length - 1;
  }

  /**
   * Removes kube-proxy IPVS mode's jump rules and chains (src/model/ipsets.ts KUBE_CHAINS; chains of
   * kubelet such as KUBE-FIREWALL or KUBE-KUBELET-CANARY are not in that list) from both tables of every
   * managed family, on this driver's backend or on the ones given (to clean up after a backend switch).
   * A chain another component still jumps to (or one a kept chain jumps to) is kept and reported:
   * deleting it would fail and flushing it would change that component's behaviour. Errors are
   * collected, not thrown, so one bad table does not stop the rest (kube-proxy's --cleanup does the same).
   */
  async cleanup(opts: { backends?: IptablesBackend[] } = {}): Promise<IptablesCleanupReport> {
    const report: IptablesCleanupReport = { jumpRulesDeleted: [], chainsDeleted: [], chainsKept: [], errors: [] };
    for (const backend of opts.backends ?? [this.backend]) {
      let r: Runner;
      try {
        r = backend === this.backend ? this.runner : await resolveRunner((p, a, s) => this.exec(p, a, s), backend);
      } catch (e) {
        report.errors.push(`${backend}: ${(e as Error).message}`);
        continue;
      }
      for (const f of this.families) {
        for (const t of TABLES) {
          try {
            await this.cleanupTable(r, f, t, report);
          } catch (e) {
            report.errors.push(`${backend} ${famKey(f)} ${t}: ${(e as Error).message}`);
          }
        }
      }
    }
    this.snapshot.clear();
    this.log.info(report, 'iptables cleanup');
    return report;
  }

  private async cleanupTable(r: Runner, f: IpFamily, t: IptablesTable, report: IptablesCleanupReport): Promise<void> {
    const where = `${r.backend} ${famKey(f)} ${t}`;
    const content = await this.save(r, f, t);
    const owned = [...content.chains.keys()].filter((c) => OWNED[t].has(c));

    // Our jump rules, deleted in the same transaction as the chains (one -D per copy of the rule).
    const deletes: string[] = [];
    for (const j of KUBE_JUMP_RULES.filter((x) => x.table === t)) {
      const want = normaliseRule(`-A ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`, f);
      const rules = content.chains.get(j.from)?.rules;
      if (!rules || !('rule' in want)) continue;
      for (let k = rules.indexOf(want.rule); k !== -1; k = rules.indexOf(want.rule)) {
        rules.splice(k, 1);
        deletes.push(`-D ${j.from} -m comment --comment "${j.comment}" -j ${j.to}`);
      }
    }
    if (owned.length === 0 && deletes.length === 0) return;
    // Which of our chains must stay: referenced from a chain that is not ours, transitively.
    const targetsOf = (rules: string[]) => rules.map((x) => / -[jg] (\S+)/.exec(x)?.[1]).filter((x): x is string => !!x);
    const kept = new Map<string, string>();
    for (const [chain, c] of content.chains) {
      if (OWNED[t].has(chain)) continue;
      for (const target of targetsOf(c.rules)) if (OWNED[t].has(target) && !kept.has(target)) kept.set(target, `referenced from ${chain}`);
    }
    for (let grew = true; grew; ) {
      grew = false;
      for (const chain of [...kept.keys()]) {
        for (const target of targetsOf(content.chains.get(chain)?.rules ?? [])) {
          if (OWNED[t].has(target) && !kept.has(target)) {
            kept.set(target, `referenced from kept chain ${chain}`);
            grew = true;
          }
        }
      }
    }
    for (const [chain, reason] of kept) report.chainsKept.push({ where, chain, reason });
    const doomed = owned.filter((c) => !kept.has(c)).sort();
    if (doomed.length === 0 && deletes.length === 0) return;
    // One transaction per table: declaring a chain in a --noflush restore flushes it, -D removes our jump
    // rules, -X deletes the emptied chains.
    const text = [`*${t}`, ...doomed.map((c) => `:${c} - [0:0]`), ...deletes, ...doomed.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
    const res = await this.exec(r.programs[f].restore, [...restoreWaitFlags(r.version, this.waitSeconds), '--noflush'], text, this.restoreTimeoutMs);
    if (res.exitCode !== 0) {
      throw new KernelError(`${r.programs[f].restore} ${t}`, `cleanup failed: ${res.stderr.trim()}`, { exitCode: res.exitCode, stderr: res.stderr });
    }
    for (const d of deletes) report.jumpRulesDeleted.push(`${where} ${d.split(' ')[1]} -> ${d.split(' ').at(-1)}`);
    for (const c of doomed) report.chainsDeleted.push(`${where} ${c}`);
  }
}

function execIn(run: ToolRunner, netns: string | undefined, prog: string, args: string[], stdin?: string, timeoutMs?: number): Promise<ToolResult> {
  const opts = timeoutMs === undefined ? { stdin } : { stdin, timeoutMs };
  if (netns) return run('ip', ['netns', 'exec', netns, prog, ...args], opts);
  return run(prog, args, opts);
}

type Exec = (prog: string, args: string[], stdin?: string) => Promise<ToolResult>;

/**
 * The programs of a backend: the suffixed names (iptables-legacy, ip6tables-nft-save, ...) when they
 * exist, else the plain names when `iptables --version` says they are that backend (iptables < 1.8 is
 * legacy only).
 */
async function resolveRunner(exec: Exec, backend: IptablesBackend): Promise<Runner> {
  const probe = async (prog: string): Promise<ToolResult | undefined> => {
    try {
      const r = await exec(prog, ['--version']);
      return isMissingProgram(r) ? undefined : r;
    } catch {
      return undefined;
    }
  };
  const programs = (suffixed: boolean) => ({ 4: programNames(backend, 4, suffixed), 6: programNames(backend, 6, suffixed) });
  const suffixed = await probe(programNames(backend, 4).iptables);
  if (suffixed && suffixed.exitCode === 0) {
    const v = parseIptablesVersion(suffixed.stdout + suffixed.stderr);
    if (v) return { backend, programs: programs(true), version: v };
  }
  const plain = await probe('iptables');
  if (plain && plain.exitCode === 0) {
    const text = plain.stdout + plain.stderr;
    const v = parseIptablesVersion(text);
    if (v && versionBackend(text) === backend) return { backend, programs: programs(false), version: v };
  }
  throw new KernelError(`iptables-${backend} --version`, `no usable iptables ${backend} programs found`);
}
