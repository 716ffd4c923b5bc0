// `kube-ipvs --cleanup`: remove what kube-ipvs (or kube-proxy's IPVS mode) put on this node, and nothing else,
// then exit. kube-proxy flushes ALL of IPVS; kube-ipvs applies its ownership rules (src/plan/cleanup.ts):
//   removed: virtual servers on kube-ipvs0 addresses or node addresses (NodePorts) outside --ipvs-exclude-cidrs,
//            kube-ipvs0 (or only its own addresses when an excluded one is on it), the KUBE-* ipsets of both
//            families, the KUBE-* chains of the IPVS mode and their jump rules;
//   kept:    foreign IPVS services, virtual servers and addresses inside --ipvs-exclude-cidrs, every other set
//            and chain (KUBE-SVC-* of the iptables mode, kubelet's KUBE-FIREWALL, anything not KUBE-*).
// stdout: one line saying what was removed. Exit 0 when the kernel holds nothing of ours afterwards (checked by
// reading it again), 1 otherwise.

import { performance } from 'node:perf_hooks';
import { describeOp } from '../plan/ops.js';
import { planCleanup } from '../plan/cleanup.js';
import { formatCounts, countOps } from '../plan/summary.js';
import { executeOps } from '../runtime/executor.js';
import { observeKernel } from '../runtime/observe.js';
import { openKernelDrivers } from '../runtime/syncer-drivers.js';
import { createLogger } from '../util/log.js';
import type { CommandIO } from './plan.js';
import type { ResolvedInvocation } from './resolve.js';

export async function runCleanup(inv: ResolvedInvocation, io: CommandIO): Promise<number> {
  const t0 = performance.now();
  const { config } = inv;
  const base = createLogger(config.verbosity);
  const log = config.verbosity > 0 ? base : base.child({}, { level: 'warn' });
  let drivers;
  try {
    drivers = await openKernelDrivers({ log });
  } catch (e) {
    io.stderr(`kube-ipvs --cleanup: cannot open the kernel drivers: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  try {
    const before = await observeKernel(drivers);
    const options = { excludeCIDRs: config.ipvs.excludeCIDRs, nodeAddresses: before.nodeAddresses ?? [] };
    const plan = planCleanup(before.state, options);
    for (const d of plan.diagnostics) io.stderr(`warning: ${d.object}: ${d.message}\n`);
    const exec = await executeOps(plan.ops, drivers);
    for (const f of exec.failed) io.stderr(`failed: ${describeOp(f.op)}: ${f.error.message}\n`);
    if (exec.skipped.length) io.stderr(`skipped ${exec.skipped.length} operation(s) that depend on a failed one, first: ${describeOp(exec.skipped[0]!)}\n`);

    // What is left of ours: a second cleanup plan must be empty.
    const after = await observeKernel(drivers);
    const remaining = planCleanup(after.state, { excludeCIDRs: config.ipvs.excludeCIDRs, nodeAddresses: after.nodeAddresses ?? [] }).ops;
    for (const op of remaining.slice(0, 50)) io.stderr(`still present: ${describeOp(op)}\n`);
    const removed = formatCounts(countOps(exec.changed));
    const secs = ((performance.now() - t0) / 1000).toFixed(2);
    io.stdout(`cleanup: ${exec.changed.length ? removed : 'nothing of kube-ipvs found'} (${secs} s)\n`);
    return exec.failed.length === 0 && exec.skipped.length === 0 && remaining.length === 0 ? 0 : 1;
  } catch (e) {
    io.stderr(`kube-ipvs --cleanup: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    drivers.close();
  }
}
