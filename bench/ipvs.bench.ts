// Benchmark of the IPVS driver against `ipvsadm -R`, in the same kernel, side by side, empty table each time:
//   - kube-ipvs: IpvsClient.open() + apply() of S services x R real servers (one batch);
//   - ipvsadm -R: the same table as restore text on stdin (what a shell-out driver would do);
//   - observe() of the whole table vs `ipvsadm -Sn`.
// Both tables are checked equal (ipvsadm -Sn) before any figure is printed. Target: kube-ipvs <= 0.25x ipvsadm -R.
//
// Run inside the user-mode Linux guest (or any kernel with ip_vs):  node dist/bench/ipvs.bench.js [services] [reals] [rounds]
//   (defaults 1000 10 4; round 1 is the cold first apply of a fresh process, reported apart)
// It runs in a network namespace of its own (created and deleted here), so it never touches the caller's IPVS table.
// On a host without IPVS it boots the guest itself (src/sandbox/uml.ts) and prints the guest's figures.
// UML makes every system call expensive: compare the ratio, not the absolute times, with a real node.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { rerunInOwnNetns } from './own-netns.js';
import { runTool } from '../src/kernel/exec.js';
import { IpvsClient } from '../src/kernel/ipvs/client.js';
import type { IpvsOp } from '../src/kernel/ipvs/ops.js';

const SERVICES = Number(process.argv[2] ?? 1000);
const REALS = Number(process.argv[3] ?? 10);
const ROUNDS = Math.max(2, Number(process.argv[4] ?? 4));
const NETNS_MARK = 'KUBE_IPVS_BENCH_NETNS';
const self = fileURLToPath(import.meta.url);

const vip = (i: number) => `10.96.${(i >> 8) & 255}.${i & 255}`;
const pod = (i: number, j: number) => `10.${244 + (((i * REALS + j) >> 16) & 3)}.${((i * REALS + j) >> 8) & 255}.${(i * REALS + j) & 255}`;

function table(): { ops: IpvsOp[]; restore: string } {
  const ops: IpvsOp[] = [];
  const lines: string[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const vs = { protocol: 'TCP' as const, address: vip(i), port: 80, scheduler: 'rr', flags: 0, timeout: 0 };
    ops.push({ kind: 'add-virtual-server', vs });
    lines.push(`-A -t ${vs.address}:80 -s rr`);
    for (let j = 0; j < REALS; j++) {
      ops.push({ kind: 'add-real-server', vs, rs: { address: pod(i, j), port: 8080, weight: 1 } });
      lines.push(`-a -t ${vs.address}:80 -r ${pod(i, j)}:8080 -m -w 1`);
    }
  }
  return { ops, restore: lines.join('\n') + '\n' };
}

async function must(command: string, args: string[], stdin?: string): Promise<string> {
  const r = await runTool(command, args, { stdin, timeoutMs: 30 * 60_000 });
  if (r.exitCode !== 0) throw new Error(`${command} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim().slice(0, 500)}`);
  return r.stdout;
}

const sortedLines = (text: string) => text.split('\n').filter(Boolean).sort().join('\n');
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number) => `${x.toFixed(0)} ms`;

async function measure(): Promise<void> {
  const { ops, restore } = table();
  const lines = ops.length;
  const ours: number[] = [];
  const oursApplyOnly: number[] = [];
  const theirs: number[] = [];
  const observeTimes: number[] = [];
  const dumpTimes: number[] = [];
  let sends = 0;
  let reference = '';
  for (let round = 0; round < ROUNDS; round++) {
    // Alternate who goes first, so neither always runs right after the other's teardown.
    const order = round % 2 === 0 ? ['kube-ipvs', 'ipvsadm'] : ['ipvsadm', 'kube-ipvs'];
    for (const who of order) {
      await must('ipvsadm', ['-C']);
      if (who === 'ipvsadm') {
        const t0 = performance.now();
        await must('ipvsadm', ['-R'], restore);
        theirs.push(performance.now() - t0);
        const t1 = performance.now();
        const saved = await must('ipvsadm', ['-Sn']);
        dumpTimes.push(performance.now() - t1);
        reference = sortedLines(saved);
      } else {
        const t0 = performance.now();
        const client = await IpvsClient.open();
        const t1 = performance.now();
        const before = client.transportStats.sendCalls;
        const results = await client.apply(ops);
        const t2 = performance.now();
        ours.push(t2 - t0);
        oursApplyOnly.push(t2 - t1);
        sends = client.transportStats.sendCalls - before;
        const failed = results.filter((r) => !r.ok);
        if (failed.length) throw new Error(`kube-ipvs: ${failed.length} ops failed, first: ${!failed[0]!.ok && failed[0]!.error.message}`);
        const t3 = performance.now();
        const observed = await client.observe();
        observeTimes.push(performance.now() - t3);
        const count = observed.reduce((n, v) => n + v.realServers.length, 0);
        if (observed.length !== SERVICES || count !== SERVICES * REALS) throw new Error(`observe(): ${observed.length} services, ${count} real servers`);
        client.close();
        const mine = sortedLines(await must('ipvsadm', ['-Sn']));
        if (reference && mine !== reference) throw new Error('kube-ipvs and ipvsadm -R produced different tables');
        reference ||= mine;
      }
    }
  }
  await must('ipvsadm', ['-C']);
  // Round 1 ran in a fresh process (cold JIT, as a restarted daemon's first sync); later rounds are the steady state.
  const coldRatio = ours[0]! / median(theirs);
  const warm = ours.length > 1 ? ours.slice(1) : ours;
  const ratio = median(warm) / median(theirs);
  const report = {
    services: SERVICES,
    realServersPerService: REALS,
    requests: lines,
    rounds: ROUNDS,
    kubeIpvsApplyMs: median(warm),
    kubeIpvsApplyWithoutOpenMs: median(oursApplyOnly.length > 1 ? oursApplyOnly.slice(1) : oursApplyOnly),
    kubeIpvsFirstApplyMs: ours[0]!,
    kubeIpvsSendmsgCalls: sends,
    ipvsadmRestoreMs: median(theirs),
    ratio: Number(ratio.toFixed(3)),
    firstApplyRatio: Number(coldRatio.toFixed(3)),
    target: 0.25,
    observeMs: median(observeTimes),
    ipvsadmSaveMs: median(dumpTimes),
    allRoundsMs: { kubeIpvs: ours.map(Math.round), ipvsadmRestore: theirs.map(Math.round), observe: observeTimes.map(Math.round) },
  };
  console.log(`IPVS bench: ${SERVICES} services x ${REALS} real servers = ${lines} requests, ${ROUNDS} rounds, same kernel, empty table each time`);
  console.log(`  kube-ipvs open+apply  ${ms(report.kubeIpvsApplyMs).padStart(9)}  median of rounds 2..${ROUNDS} (apply alone ${ms(report.kubeIpvsApplyWithoutOpenMs)}, ${sends} sendmsg calls)`);
  console.log(`    first, cold process ${ms(report.kubeIpvsFirstApplyMs).padStart(9)}`);
  console.log(`  ipvsadm -R            ${ms(report.ipvsadmRestoreMs).padStart(9)}  median of ${ROUNDS}`);
  console.log(`  ratio                 ${report.ratio.toFixed(3)}x   (target <= ${report.target}x: ${ratio <= report.target ? 'met' : 'NOT met'}; cold first apply ${report.firstApplyRatio.toFixed(3)}x)`);
  console.log(`  observe() full table  ${ms(report.observeMs).padStart(9)}  (ipvsadm -Sn: ${ms(report.ipvsadmSaveMs)})`);
  console.log(`BENCH-JSON ${JSON.stringify(report)}`);
}

/** Re-runs this file inside a fresh network namespace, so the caller's IPVS table is never touched. */
function inOwnNetns(): number {
  return rerunInOwnNetns(self, 'kipvs-bench', NETNS_MARK, []);
}

async function main(): Promise<number> {
  if (process.env[NETNS_MARK]) {
    await measure();
    return 0;
  }
  if (existsSync('/proc/net/ip_vs') || spawnSync('modprobe', ['-q', 'ip_vs']).status === 0) return inOwnNetns();
  // No IPVS here: boot the guest and run this same file in it.
  const { runInGuest, packageRoot, removeWorkDir } = await import('../src/sandbox/uml.js');
  console.error('ipvs.bench: no IPVS in this kernel; running in a user-mode Linux guest');
  const r = await runInGuest({
    command: [process.execPath, self, ...process.argv.slice(2)],
    cwd: packageRoot(),
    timeoutMs: 60 * 60_000,
    onConsoleLine: (line) => {
      if (!/^\s*\[\s*\d+\.\d+\]/.test(line) && !line.startsWith('KIPVS:')) console.log(line);
    },
  });
  if (r.exitCode === 0) removeWorkDir(r.workDir);
  else console.error(`ipvs.bench: guest work folder kept: ${r.workDir}`);
  return r.exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('ipvs.bench:', e instanceof Error ? e.message : e);
    process.exit(1);
  },
);
