// Applies a plan's ops (src/plan) to the kernel through the drivers, in plan order, batched:
//   - consecutive IPVS ops          -> ONE IpvsClient.apply() (many netlink messages per sendmsg);
//   - consecutive ipset-* ops       -> ONE `ipset -exist restore` (./executor-ipset.ts);
//   - iptables-restore ops          -> one `iptables-restore --noflush` per family and table (families in
//                                      parallel, tables of a family one after the other);
//   - add-address / del-address     -> pipelined on the rtnetlink socket (LinkDriver batches);
//   - ensure-jump-rules             -> ONE IptablesDriver.ensureJumpRules() (which needs no process at all
//                                      when the last observe() showed every rule in place).
// A plan orders ipset adds before the rules and ipset deletes after the IPVS deletes, so a sync that both
// adds and removes members runs two restores; everything else is one batch per kind.
//
// Results are per op. "Already exists" on add and "no such" on delete are success (principle 3). A failed op
// is recorded with its KernelError and every op that depends on it (opsToSkip) is skipped, not attempted;
// unrelated ops still run (principle 5). An op that depended on a failure but was already on its way in the
// same batch (an add-real-server behind its failed add-service) is reported as skipped too. Nothing is
// reported applied before the kernel said yes.

import { performance } from 'node:perf_hooks';
import { KernelError } from '../kernel/errors.js';
import type { IpvsClient } from '../kernel/ipvs/client.js';
import type { IpvsOp } from '../kernel/ipvs/ops.js';
import type { IptablesDriver } from '../kernel/iptables.js';
import type { LinkDriver } from '../kernel/link.js';
import { canonicalIP } from '../model/ip.js';
import type { Op, VirtualServerRef } from '../plan/ops.js';
import { opsToSkip } from '../plan/skip.js';
import { IpsetOpsRunner, type IpsetOp } from './executor-ipset.js';

/** What execution needs from the drivers (the real ones fit; host tests pass fakes). */
export interface ExecutorDrivers {
  ipvs: Pick<IpvsClient, 'apply'>;
  link: Pick<LinkDriver, 'ensureLink' | 'deleteLink' | 'addAddresses' | 'deleteAddresses'>;
  ipset: Pick<IpsetOpsRunner, 'apply'>;
  iptables: Pick<IptablesDriver, 'restore' | 'ensureJumpRules' | 'cleanup'>;
}

export interface OpFailure {
  op: Op;
  error: KernelError;
}

/** Kernel writes an execution made (reads such as `iptables -C` or dumps are not counted). */
export interface KernelWrites {
  /** IPVS netlink requests sent (one per IPVS op). */
  ipvsRequests: number;
  /** IpvsClient.apply() calls (each is one or a few sendmsg calls). */
  ipvsBatches: number;
  /** rtnetlink address requests (add / delete). */
  addressRequests: number;
  /** `ipset restore` processes. */
  ipsetRestores: number;
  /** `iptables-restore` / `ip6tables-restore` processes. */
  iptablesRestores: number;
  /** Jump rules inserted and KUBE chains created by ensureJumpRules. */
  jumpRuleWrites: number;
  /** kube-ipvs0 created or deleted. */
  linkWrites: number;
}

export function noWrites(): KernelWrites {
  return { ipvsRequests: 0, ipvsBatches: 0, addressRequests: 0, ipsetRestores: 0, iptablesRestores: 0, jumpRuleWrites: 0, linkWrites: 0 };
}

export function totalWrites(w: KernelWrites): number {
  return w.ipvsRequests + w.addressRequests + w.ipsetRestores + w.iptablesRestores + w.jumpRuleWrites + w.linkWrites;
}

export function addWrites(a: KernelWrites, b: KernelWrites): KernelWrites {
  const out = noWrites();
  for (const k of Object.keys(out) as (keyof KernelWrites)[]) out[k] = a[k] + b[k];
  return out;
}

export interface ExecutionDurations {
  ipvsMs: number;
  addressesMs: number;
  ipsetMs: number;
  iptablesMs: number;
  linkMs: number;
  totalMs: number;
}

export interface ExecutionResult {
  /** Ops the kernel accepted (including "already so"), in plan order. */
  applied: Op[];
  /** The applied ops that changed the kernel (not "already exists" / "no such" / a jump rule already there). */
  changed: Op[];
  failed: OpFailure[];
  /** Ops not attempted (or whose attempt does not count) because something they depend on failed. */
  skipped: Op[];
  writes: KernelWrites;
  durations: ExecutionDurations;
}

export interface ExecuteOptions {
  /** Called after each batch (progress logs, tests). */
  onBatch?: (kind: BatchKind, ops: readonly Op[], ms: number) => void;
}

export type BatchKind = 'ipvs' | 'ipset' | 'iptables' | 'jump-rules' | 'addresses' | 'link';

function batchKindOf(op: Op): BatchKind {
  switch (op.kind) {
    case 'add-service':
    case 'edit-service':
    case 'del-service':
    case 'add-real-server':
    case 'edit-real-server':
    case 'del-real-server':
      return 'ipvs';
    case 'ipset-create':
    case 'ipset-add':
    case 'ipset-del':
    case 'ipset-destroy':
      return 'ipset';
    case 'iptables-restore':
      return 'iptables';
    case 'ensure-jump-rules':
    case 'delete-jump-rules':
      return 'jump-rules';
    case 'add-address':
    case 'del-address':
      return 'addresses';
    case 'ensure-link':
    case 'delete-link':
      return 'link';
  }
}

/** The driver's form of an IPVS op (the plan's ops carry the same model shapes). */
export function toIpvsOp(op: Op): IpvsOp {
  switch (op.kind) {
    case 'add-service':
      return { kind: 'add-virtual-server', vs: op.service };
    case 'edit-service':
      return { kind: 'update-virtual-server', vs: op.service };
    case 'del-service':
      return { kind: 'delete-virtual-server', vs: op.service };
    case 'add-real-server':
      return { kind: 'add-real-server', vs: op.service, rs: op.realServer };
    case 'edit-real-server':
      return { kind: 'update-real-server', vs: op.service, rs: op.realServer };
    case 'del-real-server':
      return { kind: 'delete-real-server', vs: op.service, rs: op.realServer };
    default:
      throw new Error(`not an IPVS op: ${op.kind}`);
  }
}

function asKernelError(op: string, e: unknown): KernelError {
  if (e instanceof KernelError) return e;
  return new KernelError(op, e instanceof Error ? e.message : String(e));
}

const FAMILY_NUMBER = { ipv4: 4, ipv6: 6 } as const;

/** Splits ops into runs of the same batch kind, keeping plan order. */
function batches(ops: readonly Op[]): { kind: BatchKind; ops: Op[] }[] {
  const out: { kind: BatchKind; ops: Op[] }[] = [];
  for (const op of ops) {
    const kind = batchKindOf(op);
    const last = out[out.length - 1];
    if (last && last.kind === kind) last.ops.push(op);
    else out.push({ kind, ops: [op] });
  }
  return out;
}

/** Applies ops in order; never throws for a kernel refusal (those are per-op failures). */
export async function executeOps(ops: readonly Op[], drivers: ExecutorDrivers, options: ExecuteOptions = {}): Promise<ExecutionResult> {
  const t0 = performance.now();
  const result: ExecutionResult = {
    applied: [],
    changed: [],
    failed: [],
    skipped: [],
    writes: noWrites(),
    durations: { ipvsMs: 0, addressesMs: 0, ipsetMs: 0, iptablesMs: 0, linkMs: 0, totalMs: 0 },
  };
  // Ops that did not succeed (failed or skipped): their dependants are skipped.
  const notOk = new Set<string>();
  const blocked = (op: Op) => op.dependsOn.some((d) => notOk.has(d));
  const dependantsOf = (id: string) => opsToSkip(ops, [id]).map((o) => o.id);
  let cleanupRan: Promise<Awaited<ReturnType<ExecutorDrivers['iptables']['cleanup']>>> | undefined;

  const ok = (op: Op, changed: boolean) => {
    result.applied.push(op);
    if (changed) result.changed.push(op);
  };
  const fail = (op: Op, error: KernelError) => {
    result.failed.push({ op, error });
    notOk.add(op.id);
  };
  const skip = (op: Op) => {
    result.skipped.push(op);
    notOk.add(op.id);
  };

  for (const batch of batches(ops)) {
    const runnable: Op[] = [];
    for (const op of batch.ops) {
      if (blocked(op)) skip(op);
      else runnable.push(op);
    }
    if (runnable.length === 0) continue;
    const b0 = performance.now();
    switch (batch.kind) {
      case 'ipvs': {
        // One object per virtual server: the client encodes a service's identity once per object it sees.
        const refs = new Map<string, VirtualServerRef>();
        const intern = (vs: VirtualServerRef): VirtualServerRef => {
          const key = `${vs.protocol}/${vs.address}/${vs.port}`;
          const known = refs.get(key);
          if (known) return known;
          refs.set(key, vs);
          return vs;
        };
        const answers = await drivers.ipvs.apply(
          runnable.map((op) => {
            const x = toIpvsOp(op);
            return x.kind === 'add-virtual-server' || x.kind === 'update-virtual-server' ? x : { ...x, vs: intern(x.vs) };
          }),
        );
        result.writes.ipvsRequests += runnable.length;
        result.writes.ipvsBatches++;
        runnable.forEach((op, i) => {
          const a = answers[i];
          if (a?.ok) {
            ok(op, !a.alreadyDone);
          } else if (blocked(op)) {
            // Sent in the same batch as the failure it depends on: that failure is the reason.
            skip(op);
          } else {
            fail(op, a && !a.ok ? a.error : new KernelError(op.id, 'no answer from the kernel'));
          }
        });
        result.durations.ipvsMs += performance.now() - b0;
        break;
      }
      case 'ipset': {
        const report = await drivers.ipset.apply(runnable as IpsetOp[], dependantsOf);
        result.writes.ipsetRestores += report.restores;
        const byId = new Map(report.results.map((r) => [r.op.id, r]));
        for (const op of runnable) {
          const r = byId.get(op.id);
          if (!r) skip(op);
          else if (r.ok) ok(op, true);
          else fail(op, r.error ?? new KernelError(op.id, 'ipset restore failed'));
        }
        result.durations.ipsetMs += performance.now() - b0;
        break;
      }
      case 'iptables': {
        // Families in parallel; within a family one table after the other (same xtables lock anyway).
        const byFamily = new Map<string, Op[]>();
        for (const op of runnable) {
          if (op.kind !== 'iptables-restore') continue;
          const l = byFamily.get(op.family) ?? [];
          l.push(op);
          byFamily.set(op.family, l);
        }
        const outcomes = new Map<string, { error?: KernelError }>();
        await Promise.all(
          [...byFamily.values()].map(async (list) => {
            for (const op of list) {
              if (op.kind !== 'iptables-restore') continue;
              try {
                if (/^-X /m.test(op.text)) {
                  // A chain-deleting text (cleanup plan): the driver's cleanup() removes jump rules and chains
                  // together, keeping chains another component still uses.
                  cleanupRan ??= drivers.iptables.cleanup();
                  const report = await cleanupRan;
                  const bad = report.errors.find((e) => e.includes(`${op.family} ${op.table}:`));
                  if (bad) throw new KernelError(op.id, bad);
                } else {
                  await drivers.iptables.restore(FAMILY_NUMBER[op.family], op.table, op.text);
                  result.writes.iptablesRestores++;
                }
                outcomes.set(op.id, {});
              } catch (e) {
                outcomes.set(op.id, { error: asKernelError(op.id, e) });
              }
            }
          }),
        );
        for (const op of runnable) {
          const o = outcomes.get(op.id);
          if (o && !o.error) ok(op, true);
          else fail(op, o?.error ?? new KernelError(op.id, 'not an iptables-restore op'));
        }
        result.durations.iptablesMs += performance.now() - b0;
        break;
      }
      case 'jump-rules': {
        const ensures = runnable.filter((op) => op.kind === 'ensure-jump-rules');
        const deletes = runnable.filter((op) => op.kind === 'delete-jump-rules');
        if (ensures.length) {
          try {
            const report = await drivers.iptables.ensureJumpRules();
            result.writes.jumpRuleWrites += report.inserted.length + report.chainsCreated.length;
            for (const op of ensures) {
              if (op.kind !== 'ensure-jump-rules') continue;
              const here = `${op.family} ${op.table} `;
              ok(op, report.inserted.some((s) => s.startsWith(here)) || report.chainsCreated.some((s) => s.startsWith(here)));
            }
          } catch (e) {
            const error = asKernelError('ensure-jump-rules', e);
            for (const op of ensures) fail(op, error);
          }
        }
        if (deletes.length) {
          cleanupRan ??= drivers.iptables.cleanup();
          try {
            const report = await cleanupRan;
            for (const op of deletes) {
              if (op.kind !== 'delete-jump-rules') continue;
              const bad = report.errors.find((e) => e.includes(`${op.family} ${op.table}:`));
              if (bad) fail(op, new KernelError(op.id, bad));
              else ok(op, report.jumpRulesDeleted.some((s) => s.includes(` ${op.family} ${op.table} `)));
            }
          } catch (e) {
            const error = asKernelError('delete-jump-rules', e);
            for (const op of deletes) fail(op, error);
          }
        }
        result.durations.iptablesMs += performance.now() - b0;
        break;
      }
      case 'addresses': {
        const adds = runnable.filter((op) => op.kind === 'add-address');
        const dels = runnable.filter((op) => op.kind === 'del-address');
        const outcome = new Map<string, { changed: boolean } | { error: KernelError }>();
        const record = async (list: Op[], run: (addresses: string[]) => ReturnType<ExecutorDrivers['link']['addAddresses']>) => {
          if (list.length === 0) return;
          const addressOf = (op: Op) => ('address' in op ? op.address : '');
          try {
            const r = await run(list.map(addressOf));
            result.writes.addressRequests += list.length;
            const changed = new Set(r.changed);
            const unchanged = new Set(r.unchanged);
            const failed = new Map(r.failed.map((f) => [f.address, f.error]));
            for (const op of list) {
              const a = canonicalIP(addressOf(op)) ?? addressOf(op);
              const err = failed.get(a) ?? failed.get(addressOf(op));
              if (err) outcome.set(op.id, { error: err });
              else if (changed.has(a)) outcome.set(op.id, { changed: true });
              else if (unchanged.has(a)) outcome.set(op.id, { changed: false });
              else outcome.set(op.id, { error: new KernelError(op.id, 'no result from the link driver') });
            }
          } catch (e) {
            for (const op of list) outcome.set(op.id, { error: asKernelError(op.id, e) });
          }
        };
        await record(adds, (a) => drivers.link.addAddresses(a));
        await record(dels, (a) => drivers.link.deleteAddresses(a));
        for (const op of runnable) {
          const o = outcome.get(op.id)!;
          if ('error' in o) fail(op, o.error);
          else ok(op, o.changed);
        }
        result.durations.addressesMs += performance.now() - b0;
        break;
      }
      case 'link': {
        for (const op of runnable) {
          try {
            if (op.kind === 'ensure-link') {
              const r = await drivers.link.ensureLink();
              if (r.created) result.writes.linkWrites++;
              ok(op, r.created);
            } else {
              const deleted = await drivers.link.deleteLink();
              if (deleted) result.writes.linkWrites++;
              ok(op, deleted);
            }
          } catch (e) {
            fail(op, asKernelError(op.id, e));
          }
        }
        result.durations.linkMs += performance.now() - b0;
        break;
      }
    }
    options.onBatch?.(batch.kind, runnable, performance.now() - b0);
  }
  result.durations.totalMs = performance.now() - t0;
  return result;
}
