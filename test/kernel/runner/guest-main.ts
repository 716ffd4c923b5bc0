// Runs INSIDE the guest (started by ./host.ts through src/sandbox/uml.ts):
//   node guest-main.js --out <dir> --timeout <ms> <n>:<file.ktest.js>...   (n: the file's number across all guests)
// Each file runs in its own fresh network namespace kt-<n> (lo up, nothing else), as
//   ip netns exec kt-<n> node --enable-source-maps --test-reporter=<reporter> --test-reporter-destination=<n>.jsonl file
// with its output in <n>.log; <n>.json (FileRunRecord) is written when it ended. Namespaces the file left behind
// are emptied and deleted before the next file starts. Progress goes to stdout (the guest console).

import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runTool } from '../../../src/kernel/exec.js';
import { casesOfFile, countCases, parseReporterLines, type FileRunRecord } from './results.js';

const NETNS_DIR = '/run/netns';

function parseArgs(argv: string[]): { out: string; timeoutMs: number; files: { index: number; file: string }[] } {
  let out = '';
  let timeoutMs = 10 * 60_000;
  const files: { index: number; file: string }[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--out') out = argv[++i]!;
    else if (a === '--timeout') timeoutMs = Number(argv[++i]);
    else {
      const m = /^(\d+):(.+)$/.exec(a);
      if (!m) throw new Error(`guest-main: expected <n>:<file>, got ${a}`);
      files.push({ index: Number(m[1]), file: m[2]! });
    }
  }
  if (!out) throw new Error('guest-main: --out is required');
  return { out, timeoutMs, files };
}

function listNetns(): string[] {
  return existsSync(NETNS_DIR) ? readdirSync(NETNS_DIR) : [];
}

/** Kills every process in the namespace, then deletes it. */
async function destroyNetns(name: string): Promise<void> {
  const pids = await runTool('ip', ['netns', 'pids', name]);
  for (const pid of pids.stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  await runTool('ip', ['netns', 'del', name]);
}

async function must(cmd: string, args: string[]): Promise<void> {
  const r = await runTool(cmd, args);
  if (r.exitCode !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.exitCode}: ${r.stderr.trim()}`);
}

function ktestEnv(netns: string, index: number): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env, KUBE_IPVS_KTEST_NETNS: netns, KUBE_IPVS_KTEST_INDEX: String(index) };
  delete env.NODE_TEST_CONTEXT; // a file must report to our reporter, never to some parent test runner
  return env;
}

function runFile(file: string, netns: string, index: number, out: string, timeoutMs: number): Promise<FileRunRecord> {
  const reporter = join(fileURLToPath(new URL('.', import.meta.url)), 'reporter.js');
  const log = openSync(join(out, `${index}.log`), 'w');
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn('ip', ['netns', 'exec', netns, process.execPath, '--enable-source-maps',
      `--test-reporter=${reporter}`, `--test-reporter-destination=${join(out, `${index}.jsonl`)}`, file], {
      stdio: ['ignore', log, log],
      env: ktestEnv(netns, index),
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    const done = (exitCode: number | null, signal: string | null) => {
      clearTimeout(timer);
      closeSync(log);
      resolve({ file, index, exitCode, signal, timedOut, durationMs: Date.now() - started, netns });
    };
    child.on('error', (e) => {
      writeFileSync(join(out, `${index}.log`), `cannot start: ${e.message}\n`, { flag: 'a' });
      done(127, null);
    });
    child.on('close', (code, signal) => done(code, signal));
  });
}

async function main(): Promise<void> {
  const { out, timeoutMs, files } = parseArgs(process.argv.slice(2));
  mkdirSync(out, { recursive: true });
  const cwd = process.cwd();
  const t0 = Date.now();
  for (let i = 0; i < files.length; i++) {
    const { file, index } = files[i]!;
    const netns = `kt-${index}`;
    const before = new Set(listNetns());
    await must('ip', ['netns', 'add', netns]);
    await must('ip', ['-n', netns, 'link', 'set', 'lo', 'up']);
    const record = await runFile(file, netns, index, out, timeoutMs);
    writeFileSync(join(out, `${index}.json`), JSON.stringify(record) + '\n');
    for (const ns of listNetns()) if (!before.has(ns)) await destroyNetns(ns);

    const jsonl = join(out, `${index}.jsonl`);
    const events = existsSync(jsonl) ? parseReporterLines(readFileSync(jsonl, 'utf8')) : undefined;
    const c = countCases(casesOfFile({ display: relative(cwd, file), record, events, logTail: '' }));
    const status = record.timedOut ? 'TIMEOUT' : c.fail > 0 || record.exitCode !== 0 ? 'FAIL' : 'ok';
    console.log(`ktest ${i + 1}/${files.length} ${status} ${relative(cwd, file)} pass=${c.pass} fail=${c.fail} ` +
      `skip=${c.skip + c.todo} ${(record.durationMs / 1000).toFixed(1)}s`);
  }
  writeFileSync(join(out, 'done.json'), JSON.stringify({ files: files.length, durationMs: Date.now() - t0 }) + '\n');
}

main().catch((e: unknown) => {
  console.error('guest-main:', e instanceof Error ? e.stack : e);
  process.exit(1);
});
