// The ipset driver: reads kube-proxy's KUBE-* sets (both families) and brings them to the desired state
// with ONE `ipset -exist restore` per sync (nothing at all when nothing differs). Only the 34 names of
// src/model/ipsets.ts are ever read, written or destroyed; every other set on the node is left alone.
//
// A set that exists with another header (type, family, maxelem, range or an extension) would make
// kube-proxy's `create ... -exist` fail on every sync. We replace it instead:
//   - not referenced by any iptables rule: destroy + create + fill, inside the same restore;
//   - referenced, same type and family (e.g. another maxelem): create a temporary set with the right
//     header, fill it, `swap` it in (references follow the name) and destroy the temporary set;
//   - referenced and of another type or family: the kernel cannot swap those, and destroying would break
//     the referencing rules, so apply fails with an error that says what to do.
//
// Text formats and the script itself are built by the pure ./ipset-format.ts.

import { performance } from 'node:perf_hooks';
import { allKubeIpsetNames } from '../model/ipsets.js';
import type { IpsetState } from '../model/state.js';
import { silentLogger, type Logger } from '../util/log.js';
import { KernelError } from './errors.js';
import { runTool, type RunOptions, type ToolResult } from './exec.js';
import {
  buildIpsetRestoreScript,
  EntryCanonicaliser,
  ipsetRestoreErrorLine,
  ipsetVersionSupported,
  MIN_IPSET_VERSION,
  mismatchedSets,
  observedIpsetState,
  parseIpsetSave,
  parseIpsetVersionOutput,
  ipsetOpLines,
  type IpsetOp,
  type IpsetReplacement,
  type SavedIpset,
} from './ipset-format.js';

export type ToolRunner = (command: string, args: readonly string[], opts?: RunOptions) => Promise<ToolResult>;

export interface IpsetDriverOptions {
  /** Run ipset inside this network namespace (`ip netns exec NAME ipset ...`): sandboxes and tests. */
  netns?: string;
  /** The ipset program (default "ipset", found on PATH). */
  command?: string;
  /**
   * Kill an `ipset save`/`ipset restore` that runs longer than this (default 5 minutes): a restore killed
   * half way leaves half of its lines applied, so a slow one is better waited for.
   */
  restoreTimeoutMs?: number;
  /** Replaces runTool (host tests). */
  run?: ToolRunner;
  log?: Logger;
}

export interface IpsetApplyReport {
  /** Whether `ipset restore` ran at all (false when nothing differed). */
  restoreRan: boolean;
  /** Number of script lines fed to it. */
  lines: number;
  created: string[];
  replaced: { name: string; how: IpsetReplacement }[];
  added: number;
  deleted: number;
  /** Desired entries skipped because they are invalid for their set ("SET entry"), as kube-proxy skips them. */
  invalid: string[];
  /** Desired sets ignored because their name is not one of kube-proxy's KUBE-* sets. */
  rejected: string[];
  durationMs: number;
}

export interface IpsetDestroyReport {
  destroyed: string[];
  failed: { name: string; error: string }[];
}

const OWNED = new Set(allKubeIpsetNames());
/** Temporary sets for swaps: "KUBE-IPVS-SWAP-<index of the real name>" (at most 17 characters). */
const SWAP_PREFIX = 'KUBE-IPVS-SWAP-';
const SWAP_NAME = /^KUBE-IPVS-SWAP-[0-9]+$/;
const OWNED_ORDER = allKubeIpsetNames();

function swapName(name: string): string {
  return `${SWAP_PREFIX}${OWNED_ORDER.indexOf(name)}`;
}

/** kube-proxy's bitmap:port sets have no family in the kernel; the KUBE-6- name says which proxier owns it. */
function withNameFamily(name: string, state: IpsetState): IpsetState {
  if (state.type !== 'bitmap:port') return state;
  return { ...state, family: name.startsWith('KUBE-6-') ? 'inet6' : 'inet' };
}

export class IpsetDriver {
  private readonly run: ToolRunner;
  private readonly command: string;
  private readonly netns: string | undefined;
  private readonly log: Logger;
  private readonly restoreTimeoutMs: number;
  /** Canonical forms of entry texts, remembered across syncs (observe() starts a new generation). */
  private readonly canon = new EntryCanonicaliser();
  /** The saved headers behind each observe() result, so apply can tell whether `create -exist` would fail. */
  private readonly snapshots = new WeakMap<object, { saved: Map<string, SavedIpset>; leftovers: string[] }>();

  constructor(opts: IpsetDriverOptions = {}) {
    this.run = opts.run ?? runTool;
    this.command = opts.command ?? 'ipset';
    this.netns = opts.netns;
    this.log = opts.log ?? silentLogger;
    this.restoreTimeoutMs = opts.restoreTimeoutMs ?? 5 * 60_000;
  }

  private ipset(args: string[], stdin?: string, timeoutMs?: number): Promise<ToolResult> {
    const opts = timeoutMs === undefined ? { stdin } : { stdin, timeoutMs };
    if (this.netns) return this.run('ip', ['netns', 'exec', this.netns, this.command, ...args], opts);
    return this.run(this.command, args, opts);
  }

  /** The version word kube-proxy reads from `ipset --version`, e.g. "v7.17". */
  async version(): Promise<string> {
    const r = await this.ipset(['--version']);
    const v = parseIpsetVersionOutput(r.stdout + r.stderr);
    if (r.exitCode !== 0 || !v) {
      throw new KernelError('ipset --version', `no ipset version found in: ${(r.stdout + r.stderr).trim()}`, {
        exitCode: r.exitCode,
        stderr: r.stderr,
      });
    }
    return v;
  }

  /** kube-proxy's CanUseIPVSProxier ipset check: version >= 6.0, else an error with kube-proxy's wording. */
  async checkVersion(): Promise<string> {
    const v = await this.version();
    if (!ipsetVersionSupported(v)) {
      throw new KernelError('ipset --version', `ipset version: ${v} is less than min required version: ${MIN_IPSET_VERSION}`);
    }
    return v;
  }

  private async save(): Promise<Map<string, SavedIpset>> {
    const r = await this.ipset(['save'], undefined, this.restoreTimeoutMs);
    if (r.exitCode !== 0) {
      throw new KernelError('ipset save', r.stderr.trim() || `exit code ${r.exitCode}`, { exitCode: r.exitCode, stderr: r.stderr });
    }
    return parseIpsetSave(r.stdout);
  }

  /**
   * kube-proxy's sets that exist now, by name, in the same canonical form as desired state.
   * Sets of other components are not read. (A set with one of our names but a type kube-proxy never
   * uses is left out here; apply still sees it and replaces it.)
   */
  async observe(): Promise<Record<string, IpsetState>> {
    const all = await this.save();
    this.canon.rotate();
    const saved = new Map<string, SavedIpset>();
    const leftovers: string[] = [];
    const result: Record<string, IpsetState> = {};
    for (const [name, set] of all) {
      if (SWAP_NAME.test(name)) leftovers.push(name);
      if (!OWNED.has(name)) continue;
      saved.set(name, set);
      const state = observedIpsetState(set, this.canon);
      if (state) result[name] = withNameFamily(name, state);
    }
    this.snapshots.set(result, { saved, leftovers });
    return result;
  }

  /** "References: N" of one set (`ipset list -t NAME`): how many iptables rules use it. */
  async references(name: string): Promise<number> {
    const r = await this.ipset(['list', '-t', name]);
    const m = /^References:\s*(\d+)/m.exec(r.stdout);
    if (r.exitCode !== 0 || !m) {
      throw new KernelError(`ipset list -t ${name}`, r.stderr.trim() || 'no References line', { exitCode: r.exitCode, stderr: r.stderr });
    }
    return Number(m[1]);
  }

  /**
   * Brings kube-proxy's sets to `desired` with at most one `ipset -exist restore`. `observed` should be
   * the result of this driver's observe() in the same sync (it carries the set headers); without it, or
   * with a state built elsewhere, the driver observes first. Desired sets not named like kube-proxy's are
   * ignored (reported); sets observed but not desired are left as they are (a proxier of the other family,
   * or one that is being turned off, is not ours to empty: cleanup destroys them). When the restore fails,
   * the KernelError names the script line; the lines before it have been applied (ipset restore is not a
   * transaction) and the next sync's observe() sees that.
   */
  async apply(desired: Record<string, IpsetState>, observed?: Record<string, IpsetState>): Promise<IpsetApplyReport> {
    const start = performance.now();
    let snap = observed ? this.snapshots.get(observed) : undefined;
    if (!snap) {
      const fresh = await this.observe();
      snap = this.snapshots.get(fresh)!;
    }
    const owned: Record<string, IpsetState> = {};
    const rejected: string[] = [];
    for (const [name, state] of Object.entries(desired)) {
      if (OWNED.has(name)) owned[name] = state;
      else rejected.push(name);
    }
    if (rejected.length) this.log.warn({ sets: rejected }, 'ignoring desired ipsets that are not kube-proxy sets');

    const replacement = new Map<string, IpsetReplacement>();
    for (const name of mismatchedSets(owned, snap.saved)) {
      const have = snap.saved.get(name)!;
      const want = owned[name]!;
      const refs = await this.references(name);
      const sameKind = have.type === want.type && (want.type === 'bitmap:port' || have.family === want.family);
      if (refs === 0) replacement.set(name, 'recreate');
      else if (sameKind) replacement.set(name, 'swap');
      else {
        throw new KernelError(
          `ipset replace ${name}`,
          `set exists as ${have.type}${have.family ? ` family ${have.family}` : ''} but must be ${want.type} family ${want.family}, ` +
            `and ${refs} iptables rule(s) reference it, so it can be neither swapped nor destroyed; ` +
            `delete the rules that use it (iptables-save | grep -- '--match-set ${name} ') or run kube-ipvs --cleanup`,
        );
      }
      this.log.info({ set: name, how: replacement.get(name), header: `${have.type} ${have.options.join(' ')}` }, 'replacing ipset with a wrong header');
    }

    const script = buildIpsetRestoreScript({ desired: owned, saved: snap.saved, replacement, swapName, leftovers: snap.leftovers, canon: this.canon });
    if (script.invalid.length) this.log.warn({ entries: script.invalid.slice(0, 20), count: script.invalid.length }, 'skipping invalid ipset entries');
    const report: IpsetApplyReport = {
      restoreRan: false,
      lines: script.lines.length,
      created: script.created,
      replaced: script.replaced,
      added: script.added,
      deleted: script.deleted,
      invalid: script.invalid,
      rejected,
      durationMs: 0,
    };
    if (script.lines.length > 0) {
      report.restoreRan = true;
      await this.restore(script.lines);
    }
    report.durationMs = performance.now() - start;
    this.log.debug({ ...report, invalid: report.invalid.length }, 'ipset sync');
    return report;
  }

  /**
   * Runs planned operations (src/plan's ipset-create/-add/-del/-destroy ops, in plan order) as one
   * `ipset -exist restore`. Operations on sets that are not kube-proxy's are dropped and reported. Unlike
   * apply(), nothing is checked against the kernel first: a create over a set with another header fails
   * (apply() replaces such a set).
   */
  async applyOps(ops: readonly IpsetOp[]): Promise<{ restoreRan: boolean; lines: number; rejected: string[] }> {
    const rejected = [...new Set(ops.filter((o) => !OWNED.has(o.set)).map((o) => o.set))];
    const lines = ipsetOpLines(ops.filter((o) => OWNED.has(o.set)));
    if (lines.length) await this.restore(lines);
    return { restoreRan: lines.length > 0, lines: lines.length, rejected };
  }

  private async restore(lines: readonly string[]): Promise<void> {
    const r = await this.ipset(['-exist', 'restore'], lines.join('\n') + '\n', this.restoreTimeoutMs);
    if (r.exitCode !== 0) {
      // ipset restore is not a transaction: the lines before the failing one have been applied.
      const n = ipsetRestoreErrorLine(r.stderr);
      const at = n !== undefined && lines[n - 1] !== undefined ? ` at line ${n} "${lines[n - 1]}"` : '';
      throw new KernelError('ipset restore', `failed${at}: ${r.stderr.trim()}`, { exitCode: r.exitCode, stderr: r.stderr });
    }
  }

  /**
   * Destroys kube-proxy's sets (and our leftover temporary sets) and nothing else. Call it after the
   * iptables rules that reference them are gone; a set still referenced is reported, not forced, and the
   * others are destroyed all the same.
   */
  async destroyAll(): Promise<IpsetDestroyReport> {
    const r = await this.ipset(['list', '-n']);
    if (r.exitCode !== 0) {
      throw new KernelError('ipset list -n', r.stderr.trim() || `exit code ${r.exitCode}`, { exitCode: r.exitCode, stderr: r.stderr });
    }
    const names = r.stdout.split('\n').map((s) => s.trim()).filter((n) => OWNED.has(n) || SWAP_NAME.test(n));
    const report: IpsetDestroyReport = { destroyed: [], failed: [] };
    // One restore of `destroy` lines; a set still in use stops it at its line, so note that one and go on
    // with the rest. (One process per set would cost seconds on a slow machine.)
    let pending = names;
    while (pending.length > 0) {
      const d = await this.ipset(['restore'], pending.map((n) => `destroy ${n}`).join('\n') + '\n');
      if (d.exitCode === 0) {
        report.destroyed.push(...pending);
        break;
      }
      const n = ipsetRestoreErrorLine(d.stderr);
      if (n === undefined || n < 1 || n > pending.length) {
        for (const name of pending) {
          const one = await this.ipset(['destroy', name]);
          if (one.exitCode === 0) report.destroyed.push(name);
          else report.failed.push({ name, error: one.stderr.trim() });
        }
        break;
      }
      report.destroyed.push(...pending.slice(0, n - 1));
      report.failed.push({ name: pending[n - 1]!, error: d.stderr.trim() });
      pending = pending.slice(n);
    }
    if (report.failed.length) this.log.warn({ failed: report.failed }, 'some ipsets could not be destroyed');
    return report;
  }
}
