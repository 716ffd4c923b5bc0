// `kube-ipvs sandbox` on the host: checks the objects and flags (so a mistake costs no boot), boots the real
// kernel (runInGuest: Linux 6.1 with IPVS as user-mode Linux), runs ./demo-main.js inside it, and prints the
// demo's own lines as they arrive — steps with the time since the command started, result blocks as they are —
// leaving out the kernel messages that share the guest console. Returns the exit code.

import { copyFileSync, mkdirSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { isUsageError } from '../cli/errors.js';
import { resolveConfig } from '../cli/resolve.js';
import { loadObjectFiles } from '../k8s/objects.js';
import { chooseNodeName, planPods } from './demo-plan.js';
import { parseConsoleLine, seconds, timestamped } from './demo-report.js';
import { GUEST_WORK_DIR, GuestBootError, packageRoot, removeWorkDir, runInGuest } from './uml.js';

export interface SandboxOptions {
  /** The user's objects files (default: the embedded demo objects). */
  objectFiles: readonly string[];
  /** --hostname-override: the node kube-ipvs runs as. */
  nodeName?: string;
  /** Flags after `--`, for `kube-ipvs run`. */
  runFlags: readonly string[];
  /** Print the whole guest console (kernel messages too). */
  verbose: boolean;
  /** Keep the host work folder (console.log, kube-ipvs.log, result.json) even when all went well. */
  keep: boolean;
  /** Guest memory (default 1536M). */
  memory?: string;
  print: (line: string) => void;
  /** Where the reasons for refusing to start go (default: print). */
  printError?: (line: string) => void;
}

/** What can be checked before booting: objects readable and with endpoints, run flags valid. Returns problems. */
export function checkBeforeBoot(opts: Pick<SandboxOptions, 'objectFiles' | 'nodeName' | 'runFlags'>): { problems: string[]; nodeName?: string; pods: number; notes: string[] } {
  const files = opts.objectFiles.length ? opts.objectFiles : [join(packageRoot(), 'src', 'sandbox', 'demo-objects.yaml')];
  let objects;
  try {
    objects = loadObjectFiles(files);
  } catch (e) {
    return { problems: [`--objects ${(e as Error).message}`], pods: 0, notes: [] };
  }
  const problems: string[] = [];
  if (objects.services.length === 0) problems.push(`no Service in ${files.join(', ')}`);
  const plan = planPods({ services: objects.services, endpointSlices: objects.endpointSlices, nodes: objects.nodes });
  if (plan.pods.length === 0) problems.push(`no endpoint addresses in the EndpointSlices of ${files.join(', ')}: there is nothing to serve`);
  const nodeName = chooseNodeName({ services: objects.services, endpointSlices: objects.endpointSlices, nodes: objects.nodes }, opts.nodeName);
  try {
    resolveConfig(['run', '--kubeconfig', '/dev/null', '--hostname-override', nodeName, ...opts.runFlags]);
  } catch (e) {
    problems.push(...(isUsageError(e) ? e.messages.map((m) => `kube-ipvs run flags after --: ${m}`) : [(e as Error).message]));
  }
  return { problems, nodeName, pods: plan.pods.length, notes: [...objects.notes] };
}

export async function runSandbox(opts: SandboxOptions): Promise<number> {
  const t0 = performance.now();
  const say = (text: string) => opts.print(timestamped(performance.now() - t0, text));
  const checked = checkBeforeBoot(opts);
  if (checked.problems.length) {
    for (const p of checked.problems) (opts.printError ?? opts.print)(`kube-ipvs sandbox: ${p}`);
    return 2;
  }
  const workDir = mkdtempSync(join(tmpdir(), 'kube-ipvs-sandbox-'));
  // The guest sees the host's files read-only, but not under /tmp: the objects travel in the work folder.
  const guestFiles: string[] = [];
  if (opts.objectFiles.length) mkdirSync(join(workDir, 'objects'));
  opts.objectFiles.forEach((f, i) => {
    const name = `${i}-${basename(f).replace(/[^\w.-]/g, '_')}`;
    copyFileSync(f, join(workDir, 'objects', name));
    guestFiles.push(`${GUEST_WORK_DIR}/objects/${name}`);
  });
  const guestOut = `${GUEST_WORK_DIR}/out`;
  const command = [
    'node', fileURLToPath(new URL('./demo-main.js', import.meta.url)), '--out', guestOut, '--node', checked.nodeName!,
    ...guestFiles.flatMap((f) => ['--objects', f]),
    ...(opts.runFlags.length ? ['--', ...opts.runFlags] : []),
  ];
  const memory = opts.memory ?? '1536M';
  say(`booting a real Linux kernel with IPVS (user-mode Linux 6.1, ${memory}) for node ${checked.nodeName}, ${checked.pods} pod${checked.pods === 1 ? '' : 's'}`);
  let failedLine: string | undefined;
  let result;
  try {
    result = await runInGuest({
      command,
      cwd: packageRoot(),
      workDir,
      memory,
      timeoutMs: 5 * 60_000,
      onConsoleLine: (line) => {
        const item = parseConsoleLine(line);
        if (!item) {
          // Kernel messages and the guest init's markers: only with --verbose.
          if (opts.verbose) opts.print(`  | ${line}`);
          if (line.startsWith('KIPVS: READY')) say(`kernel up, IPVS and netfilter modules loaded (${seconds(performance.now() - t0)})`);
          return;
        }
        if (item.kind === 'step') {
          say(item.text);
          if (item.text.startsWith('FAILED')) failedLine = item.text;
        } else opts.print(item.text);
      },
    });
  } catch (e) {
    if (e instanceof GuestBootError) {
      opts.print(`kube-ipvs sandbox: ${e.reason}`);
      if (e.consoleTail) opts.print(`--- guest console (last lines) ---\n${e.consoleTail}`);
      opts.print(`kube-ipvs sandbox: the guest's files are in ${e.workDir ?? workDir}`);
      return 1;
    }
    throw e;
  }
  const total = performance.now() - t0;
  let demoMs: number | undefined;
  try {
    demoMs = (JSON.parse(readFileSync(join(result.outDir, 'result.json'), 'utf8')) as { timings?: { totalMs?: number } }).timings?.totalMs;
  } catch {
    /* the demo did not get that far: its exit code says so */
  }
  const parts = [`kernel boot ${seconds(result.bootMs)}`, ...(demoMs !== undefined ? [`demo ${seconds(demoMs)}`] : [])];
  if (result.exitCode === 0) {
    say(`sandbox done in ${seconds(total)} (${parts.join(', ')})`);
    if (opts.keep) say(`files kept in ${workDir} (console.log, out/kube-ipvs.log, out/result.json)`);
    else removeWorkDir(workDir);
    return 0;
  }
  say(`sandbox FAILED after ${seconds(total)} (${parts.join(', ')})${failedLine ? '' : `: the demo exited with ${result.exitCode}`}`);
  say(`files kept in ${workDir}: console.log, out/kube-ipvs.log, out/result.json`);
  return 1;
}
