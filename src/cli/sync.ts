// `kube-ipvs sync --objects FILE ...`: one full sync of this node's kernel to the objects in the files, then exit.
// The same path the controller takes for each sync (desired state -> observe -> plan -> execute), once:
//   - node addresses: read from the kernel (every interface but kube-ipvs0) unless --node-addresses is given;
//   - the input is complete, so what kube-ipvs owns and is no longer desired is removed (prune on); foreign
//     IPVS services, addresses inside --ipvs-exclude-cidrs and non-KUBE sets and chains are never touched;
//   - a removed TCP real server with connections is left at weight 0 (graceful termination), unless
//     --ipvs-graceful-termination-period is 0; a later sync deletes it once its connections are gone;
//   - stdout: ONE line saying what changed ("sync: nothing to change (0.05 s)" when nothing did);
//     --output json prints the whole result instead;
//   - stderr: the objects' diagnostics (a malformed Service is skipped, the rest is programmed), and what failed.
// Exit 0 when the kernel now equals the desired state: verified by reading the kernel again and planning again
// (an empty plan); skipped when the sync found nothing to change (that plan was the verification). Exit 1 when
// something failed or the kernel still differs, 2 for bad flags or unreadable objects files.

import { performance } from 'node:perf_hooks';
import { computeDesiredState } from '../desired/index.js';
import type { NodeState } from '../model/state.js';
import { describeOp } from '../plan/ops.js';
import { totalWrites } from '../runtime/executor.js';
import { Syncer, type SyncResult } from '../runtime/syncer.js';
import { openKernelDrivers } from '../runtime/syncer-drivers.js';
import { createLogger, type Logger } from '../util/log.js';
import { readObjectsOption } from './objects-input.js';
import type { CommandIO } from './plan.js';
import type { ResolvedInvocation } from './resolve.js';

/** Logs for one-shot commands: warnings and errors only, unless -v asks for more. */
export function cliLogger(verbosity: number): Logger {
  const log = createLogger(verbosity);
  return verbosity > 0 ? log : log.child({}, { level: 'warn' });
}

function seconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** The one stdout line of a sync. */
export function syncSummaryLine(result: SyncResult): string {
  const time = seconds(result.durations.totalMs);
  if (result.error) return `sync: aborted before any change: ${result.error.message} (${time})`;
  const failed = result.failed.length ? `; ${result.failed.length} failed, ${result.skipped.length} skipped` : '';
  if (result.changed.length === 0) return `sync: nothing to change${failed} (${time})`;
  return `sync: ${result.summary}${failed} (${time})`;
}

function diagnosticLines(state: NodeState): string[] {
  return state.diagnostics.map((d) => `warning: ${d.kind ? `${d.kind} ` : ''}${d.object}: ${d.message}\n`);
}

export function syncResultJson(result: SyncResult, verifyOps: string[] | undefined): string {
  return `${JSON.stringify(
    {
      ok: result.ok && (verifyOps?.length ?? 0) === 0,
      summary: result.changed.length ? result.summary : 'nothing to change',
      changed: result.counts,
      writes: { ...result.writes, total: totalWrites(result.writes) },
      failed: result.failed.map((f) => ({ op: f.op.id, error: f.error.message })),
      skipped: result.skipped.map((op) => op.id),
      remaining: verifyOps ?? [],
      error: result.error?.message,
      durations: result.durations,
    },
    null,
    2,
  )}\n`;
}

export async function runSync(inv: ResolvedInvocation, io: CommandIO): Promise<number> {
  const t0 = performance.now();
  const { config, options } = inv;
  const objects = readObjectsOption(options.objects, io, 'sync');
  const log = cliLogger(config.verbosity);

  let drivers;
  try {
    drivers = await openKernelDrivers({ log });
  } catch (e) {
    io.stderr(`kube-ipvs sync: cannot open the kernel drivers: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  try {
    const nodeName = config.hostnameOverride;
    const node = objects.nodes.find((n) => n.metadata?.name === nodeName);
    let nodeAddresses: string[];
    try {
      nodeAddresses = options.nodeAddresses.length > 0 ? options.nodeAddresses : await drivers.link.localAddressesExcept();
    } catch (e) {
      io.stderr(`kube-ipvs sync: cannot read the node's addresses: ${e instanceof Error ? e.message : String(e)}\n`);
      return 1;
    }
    const desired = computeDesiredState({
      services: objects.services,
      endpointSlices: objects.endpointSlices,
      node: { nodeName, node, nodeAddresses, iptablesRandomFully: drivers.iptables.hasRandomFully },
      config,
    });
    for (const line of diagnosticLines(desired)) io.stderr(line);

    const syncer = new Syncer({ drivers, config, log });
    // With a zero period nothing drains: removed real servers go at once (planner: drainExpired always true).
    const drain = config.gracefulTerminationPeriodMs === 0 ? { drainExpired: () => true } : {};
    const request = { desired, nodeAddresses, prune: true, ...drain };
    const result = await syncer.sync(request);
    for (const d of result.plan.diagnostics) io.stderr(`warning: ${d.kind ? `${d.kind} ` : ''}${d.object}: ${d.message}\n`);
    for (const f of result.failed) io.stderr(`failed: ${describeOp(f.op)}: ${f.error.message}\n`);
    if (result.skipped.length) {
      io.stderr(`skipped ${result.skipped.length} operation(s) that depend on a failed one, first: ${describeOp(result.skipped[0]!)}\n`);
    }
    if (result.error) io.stderr(`kube-ipvs sync: ${result.error.message}\n`);

    // Verify: the kernel must now equal the desired state. A sync that planned nothing (but the jump rules a full
    // sync always re-asserts, which are not part of the state) already proved it.
    let remaining: string[] | undefined;
    if (!result.error && result.plan.ops.some((op) => op.kind !== 'ensure-jump-rules')) {
      try {
        const verify = await syncer.verify(desired, request);
        remaining = verify.plan.ops.map(describeOp);
      } catch (e) {
        io.stderr(`kube-ipvs sync: cannot read the kernel back: ${e instanceof Error ? e.message : String(e)}\n`);
        return 1;
      }
      if (remaining.length) {
        io.stderr(`kube-ipvs sync: the kernel still differs from the desired state in ${remaining.length} place(s):\n`);
        for (const line of remaining.slice(0, 50)) io.stderr(`  ${line}\n`);
        if (remaining.length > 50) io.stderr(`  ... and ${remaining.length - 50} more\n`);
      }
    }
    io.stdout(options.output === 'json' ? syncResultJson(result, remaining) : `${syncSummaryLine(result)}\n`);
    log.debug({ totalMs: Math.round(performance.now() - t0) }, 'sync command done');
    return result.ok && !result.error && (remaining?.length ?? 0) === 0 ? 0 : 1;
  } finally {
    drivers.close();
  }
}
