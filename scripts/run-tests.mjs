#!/usr/bin/env node
// The one test command (README, .ci/run): compile, then run every test file with node's test runner.
// Node 20 has no --test globs and no TypeScript stripping, so we compile with tsc and list files ourselves.
//   host tests:   dist/test/**/*.test.js
//   kernel tests: dist/test/**/*.ktest.js run inside a user-mode Linux guest; the host-side file
//                 test/kernel/guest.test.ts boots the guest and reports each guest test to this runner.
// --no-kernel leaves out the guest (a quick inner loop); CI always runs everything.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const args = process.argv.slice(2);
const noKernel = args.includes('--no-kernel');
const filters = args.filter((a) => !a.startsWith('--'));

function run(cmd, argv, env = process.env) {
  const r = spawnSync(cmd, argv, { cwd: root, stdio: 'inherit', env });
  return r.status ?? 1;
}

if (!args.includes('--no-build')) {
  const rc = run(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json']);
  if (rc !== 0) process.exit(rc);
}

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith('.test.js')) out.push(p);
  }
  return out;
}
function walkKtests(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walkKtests(p, out);
    else if (name.endsWith('.ktest.js')) out.push(p);
  }
  return out;
}
let files = walk(join(root, 'dist', 'test'), []).sort();
if (noKernel) files = files.filter((f) => !f.includes(`${join('test', 'kernel')}/guest.test.js`));
if (filters.length) {
  // A filter that matches kernel test files (*.ktest.js) also selects the guest runner that executes them.
  const guest = files.find((f) => f.endsWith(`${join('test', 'kernel')}/guest.test.js`));
  const ktests = walkKtests(join(root, 'dist', 'test'), []);
  const wantsGuest = guest && ktests.some((f) => filters.some((x) => f.includes(x)));
  files = files.filter((f) => filters.some((x) => f.includes(x)) || (wantsGuest && f === guest));
}
if (files.length === 0) {
  console.error('run-tests: no test files found');
  process.exit(1);
}
const env = { ...process.env };
if (filters.length) env.KUBE_IPVS_KTEST_FILTER = filters.join(',');
process.exit(run(process.execPath, ['--test', '--test-concurrency=2', ...files.map((f) => relative(root, f))], env));
