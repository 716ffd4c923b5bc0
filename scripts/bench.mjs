#!/usr/bin/env node
// `npm run bench`: prints kube-ipvs's performance figures. Not part of the tests or of CI's pass/fail.
//   host benches:   dist/bench/*.bench.js         (pure code: desired state, planning)
//   kernel benches: dist/bench/*.kbench.js        (run inside one user-mode Linux guest, a real 6.1 kernel with
//                   IPVS, where each compares kube-ipvs with a reference such as `ipvsadm -R` side by side)
// Arguments filter bench files by substring (e.g. `npm run bench -- ipvs`); --no-kernel skips the guest.
import { spawnSync } from 'node:child_process';
import { readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const filters = args.filter((a) => !a.startsWith('--'));
const match = (f) => filters.length === 0 || filters.some((x) => f.includes(x));

const tsc = spawnSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { cwd: root, stdio: 'inherit' });
if (tsc.status !== 0) process.exit(tsc.status ?? 1);

const dir = join(root, 'dist', 'bench');
const files = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.js')).sort() : [];
const host = files.filter((f) => f.endsWith('.bench.js') && !f.endsWith('.kbench.js') && match(f));
const kernel = files.filter((f) => f.endsWith('.kbench.js') && match(f));

let failed = 0;
for (const f of host) {
  console.log(`\n=== ${f} (host)`);
  const r = spawnSync(process.execPath, ['--expose-gc', join(dir, f)], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) failed++;
}

if (kernel.length && !args.includes('--no-kernel')) {
  const { runInGuest } = await import(join(root, 'dist', 'src', 'sandbox', 'uml.js'));
  // One guest runs every kernel bench in turn, each in a fresh network namespace.
  const script = kernel
    .map((f, i) => `echo; echo "=== ${f} (real kernel, user-mode Linux)"; ip netns add kb${i} && ip netns exec kb${i} node --expose-gc ${JSON.stringify(join(dir, f))} || echo "bench ${f} failed: $?"`)
    .join('\n');
  console.log(`\n=== booting the guest for ${kernel.length} kernel bench(es)`);
  let printing = false;
  const result = await runInGuest({
    command: ['bash', '-c', script],
    // The benches' own knobs (KUBE_IPVS_BENCH_SERVICES, ..._VERBOSE, ..._NODE_OPTIONS) reach the guest.
    env: Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('KUBE_IPVS_BENCH_'))),
    cwd: root,
    timeoutMs: 30 * 60_000,
    onConsoleLine: (line) => {
      // Kernel boot messages come first; print from the first bench header on.
      if (line.startsWith('=== ')) printing = true;
      if (printing) console.log(line);
    },
  });
  console.log(`\n(guest boot ${(result.bootMs / 1000).toFixed(1)} s, total ${(result.totalMs / 1000).toFixed(1)} s)`);
  if (result.exitCode !== 0) failed++;
}
process.exit(failed ? 1 : 0);
