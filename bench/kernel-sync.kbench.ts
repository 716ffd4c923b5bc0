// Kernel benchmark of a whole kube-ipvs sync (runs INSIDE the user-mode Linux guest: `npm run bench`, which runs
// every dist/bench/*.kbench.js in one guest, each in a fresh network namespace):
//   1. 1,000 Services x 10 endpoints (generated objects -> computeDesiredState) programmed by the syncer into an
//      EMPTY kernel: the whole sync (sysctls, kube-ipvs0, observe, plan, ipset restore, iptables-restore, jump
//      rules, 1,000 addresses, 11,000 IPVS requests) and its IPVS part alone;
//   2. the same IPVS table with `ipvsadm -R` (restore file generated from the same desired state), empty table
//      first, side by side in the same guest; both tables are checked equal (`ipvsadm -Sn`) before any figure;
//   3. a sync that finds nothing to change at that size: its time and the kernel writes it made (target: none).
// Target: kube-ipvs's IPVS time <= 0.25x ipvsadm -R's. UML makes every system call and process start slow: compare
// ratios, not absolute times, with a real node.
//
// Run by hand inside a guest:  node dist/bench/kernel-sync.kbench.js [services] [endpoints] [rounds]
// It re-runs itself in a network namespace of its own, so it never touches the caller's kernel state.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { rerunInOwnNetns } from './own-netns.js';
import { ipvsadmLines } from '../src/cli/format-text.js';
import { computeDesiredState } from '../src/desired/index.js';
import { runTool } from '../src/kernel/exec.js';
import type { ApiEndpointSlice, ApiService } from '../src/model/api.js';
import { defaultProxyConfig } from '../src/model/config.js';
import type { NodeState } from '../src/model/state.js';
import { totalWrites } from '../src/runtime/executor.js';
import { Syncer, type SyncResult } from '../src/runtime/syncer.js';
import { openKernelDrivers } from '../src/runtime/syncer-drivers.js';

const SERVICES = Number(process.argv[2] ?? 1000);
const ENDPOINTS = Number(process.argv[3] ?? 10);
const ROUNDS = Math.max(1, Number(process.argv[4] ?? 3));
const NETNS_MARK = 'KUBE_IPVS_KSYNC_BENCH_NETNS';
const self = fileURLToPath(import.meta.url);

async function must(command: string, args: string[], stdin?: string): Promise<string> {
  const r = await runTool(command, args, { stdin, timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim().slice(0, 500)}`);
  return r.stdout;
}

function objects(): { services: ApiService[]; endpointSlices: ApiEndpointSlice[] } {
  const services: ApiService[] = [];
  const endpointSlices: ApiEndpointSlice[] = [];
  let pod = 0;
  for (let i = 0; i < SERVICES; i++) {
    const name = `svc-${i}`;
    services.push({
      metadata: { namespace: `ns-${i % 20}`, name },
      spec: { type: 'ClusterIP', clusterIP: `10.96.${(i >> 8) & 255}.${i & 255}`, ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }] },
    });
    const endpoints = [];
    for (let j = 0; j < ENDPOINTS; j++, pod++) {
      endpoints.push({ addresses: [`10.${244 + ((pod >> 16) & 3)}.${(pod >> 8) & 255}.${pod & 255}`], nodeName: `node-${pod % 50}`, conditions: { ready: true } });
    }
    endpointSlices.push({
      metadata: { namespace: `ns-${i % 20}`, name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints,
    });
  }
  return { services, endpointSlices };
}

/** nat and filter with their built-in chains only (a restore without --noflush empties them). */
const PRISTINE_TABLES = [
  '*nat', ':PREROUTING ACCEPT [0:0]', ':INPUT ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', ':POSTROUTING ACCEPT [0:0]', 'COMMIT',
  '*filter', ':INPUT ACCEPT [0:0]', ':FORWARD ACCEPT [0:0]', ':OUTPUT ACCEPT [0:0]', 'COMMIT', '',
].join('\n');

/** Back to an empty kernel: no IPVS services, no kube-ipvs0, empty iptables (legacy), no sets. */
async function emptyKernel(): Promise<void> {
  await must('ipvsadm', ['-C']);
  await runTool('ip', ['link', 'del', 'kube-ipvs0']);
  for (const prog of ['iptables-legacy-restore', 'ip6tables-legacy-restore']) await must(prog, [], PRISTINE_TABLES);
  await must('ipset', ['destroy']);
}

const sortedLines = (text: string) => text.split('\n').filter(Boolean).sort().join('\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;

function breakdown(r: SyncResult): string {
  const d = r.durations;
  return `observe ${ms(d.observeMs)}, plan ${ms(d.planMs)}, IPVS ${ms(d.ipvsMs)}, addresses ${ms(d.addressesMs)}, ipset ${ms(d.ipsetMs)}, iptables ${ms(d.iptablesMs)}`;
}

async function measure(): Promise<void> {
  const tGen = performance.now();
  const input = objects();
  const nodeAddresses = ['192.168.50.10'];
  const desired: NodeState = computeDesiredState({ ...input, node: { nodeName: 'node-1', nodeAddresses }, config: defaultProxyConfig() });
  const desiredMs = performance.now() - tGen;
  const realServers = desired.ipvs.reduce((n, v) => n + v.realServers.length, 0);
  if (desired.ipvs.length !== SERVICES || realServers !== SERVICES * ENDPOINTS) throw new Error(`desired: ${desired.ipvs.length} services, ${realServers} real servers`);
  const restore = desired.ipvs.flatMap(ipvsadmLines).join('\n') + '\n';
  const requests = SERVICES + realServers;

  const tOpen = performance.now();
  const drivers = await openKernelDrivers();
  const openMs = performance.now() - tOpen;
  const whole: number[] = [];
  const ipvsPart: number[] = [];
  const theirs: number[] = [];
  let first: SyncResult | undefined;
  let reference = '';
  let syncer = new Syncer({ drivers, config: defaultProxyConfig() });
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // ipvsadm -R first, kube-ipvs last: the no-op sync below needs kube-ipvs's state in the kernel.
      await emptyKernel();
      const t0 = performance.now();
      await must('ipvsadm', ['-R'], restore);
      theirs.push(performance.now() - t0);
      const theirTable = sortedLines(await must('ipvsadm', ['-Sn']));

      await emptyKernel();
      syncer = new Syncer({ drivers, config: defaultProxyConfig() }); // a fresh start each round (initialSync, sysctls)
      const r = await syncer.sync({ desired, nodeAddresses });
      if (!r.ok) throw new Error(`kube-ipvs sync failed: ${r.error?.message ?? r.failed.slice(0, 3).map((f) => f.error.message).join('; ')}`);
      first ??= r;
      whole.push(r.durations.totalMs);
      ipvsPart.push(r.durations.ipvsMs);
      const ourTable = sortedLines(await must('ipvsadm', ['-Sn']));
      if (ourTable !== theirTable) throw new Error('kube-ipvs and ipvsadm -R produced different IPVS tables');
      reference = ourTable;
    }
    if (reference.split('\n').length !== requests) throw new Error(`ipvsadm -Sn shows ${reference.split('\n').length} lines, expected ${requests}`);

    // A sync that finds nothing to change, at this size.
    const noop: SyncResult[] = [];
    for (let i = 0; i < 3; i++) noop.push(await syncer.sync({ desired, nodeAddresses }));
    const noopMs = median(noop.map((r) => r.durations.totalMs));
    const noopWrites = Math.max(...noop.map((r) => totalWrites(r.writes)));
    const noopChanged = Math.max(...noop.map((r) => r.changed.length));

    const ratio = median(ipvsPart) / median(theirs);
    const report = {
      services: SERVICES,
      realServersPerService: ENDPOINTS,
      ipvsRequests: requests,
      rounds: ROUNDS,
      desiredStateMs: Math.round(desiredMs),
      openDriversMs: Math.round(openMs),
      kubeIpvsWholeSyncMs: Math.round(median(whole)),
      kubeIpvsIpvsMs: Math.round(median(ipvsPart)),
      ipvsadmRestoreMs: Math.round(median(theirs)),
      ratio: Number(ratio.toFixed(3)),
      target: 0.25,
      firstSync: { summary: first!.summary, writes: first!.writes, durations: Object.fromEntries(Object.entries(first!.durations).map(([k, v]) => [k, Math.round(v)])) },
      noopSyncMs: Math.round(noopMs),
      noopSyncDurations: Object.fromEntries(Object.entries(noop[noop.length - 1]!.durations).map(([k, v]) => [k, Math.round(v)])),
      noopSyncWrites: noopWrites,
      noopSyncChangedOps: noopChanged,
      allRoundsMs: { whole: whole.map(Math.round), ipvs: ipvsPart.map(Math.round), ipvsadmRestore: theirs.map(Math.round), noop: noop.map((r) => Math.round(r.durations.totalMs)) },
    };
    console.log(`kernel sync bench: ${SERVICES} Services x ${ENDPOINTS} endpoints = ${requests} IPVS requests, ${ROUNDS} rounds, empty kernel each time`);
    console.log(`  desired state (pure)          ${ms(desiredMs).padStart(9)}`);
    console.log(`  kube-ipvs whole sync          ${ms(report.kubeIpvsWholeSyncMs).padStart(9)}  median (${breakdown(first!)} in round 1)`);
    console.log(`    what it did                 ${first!.summary}`);
    console.log(`  kube-ipvs IPVS part           ${ms(report.kubeIpvsIpvsMs).padStart(9)}  median (${first!.writes.ipvsBatches} apply() call, ${requests} requests)`);
    console.log(`  ipvsadm -R, same table        ${ms(report.ipvsadmRestoreMs).padStart(9)}  median`);
    console.log(`  ratio IPVS part / ipvsadm -R  ${report.ratio.toFixed(3)}x    (target <= ${report.target}x: ${ratio <= report.target ? 'met' : 'NOT met'})`);
    console.log(`  sync with nothing to change   ${ms(noopMs).padStart(9)}  median of 3 (${breakdown(noop[noop.length - 1]!)})`);
    const od = noop[noop.length - 1]!.observeDurations;
    if (od) console.log(`    its reads (concurrent): IPVS table ${ms(od.ipvsMs)}, ipset save ${ms(od.ipsetsMs)}, iptables-save x4 ${ms(od.iptablesMs)}, addresses ${ms(od.addressesMs)}`);
    console.log(`    kernel writes: ${noopWrites} (target 0), ops that changed something: ${noopChanged}`);
    console.log(`BENCH-JSON ${JSON.stringify(report)}`);
  } finally {
    drivers.close();
  }
}

/** Re-runs this file inside a fresh network namespace (lo up), so the caller's kernel state is never touched. */
function inOwnNetns(): number {
  return rerunInOwnNetns(self, 'kipvs-ksync', NETNS_MARK, ['--expose-gc']);
}

async function main(): Promise<number> {
  if (process.env[NETNS_MARK]) {
    await measure();
    return 0;
  }
  if (!existsSync('/proc/net/ip_vs') && spawnSync('modprobe', ['-q', 'ip_vs']).status !== 0) {
    console.error('kernel-sync bench: this kernel has no IPVS; run it in the guest with `npm run bench -- kernel-sync`');
    return 1;
  }
  return inOwnNetns();
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('kernel-sync bench:', e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
