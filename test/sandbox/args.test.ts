// `kube-ipvs sandbox` argument handling (src/cli/sandbox.ts) and the checks made before booting
// (src/sandbox/demo-host.ts checkBeforeBoot), plus the command as a user runs it (bin/kube-ipvs, no boot).

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { UsageError } from '../../src/cli/errors.js';
import { parseSandboxArgs, runSandboxCommand, SANDBOX_USAGE } from '../../src/cli/sandbox.js';
import { checkBeforeBoot } from '../../src/sandbox/demo-host.js';

const BIN = fileURLToPath(new URL('../../../bin/kube-ipvs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-sandbox-args-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function problems(argv: string[]): string[] {
  try {
    parseSandboxArgs(argv);
  } catch (e) {
    assert.ok(e instanceof UsageError);
    return [...e.messages];
  }
  return [];
}

describe('kube-ipvs sandbox: arguments', () => {
  it('defaults: the example objects, no flags for kube-ipvs run', () => {
    assert.deepEqual(parseSandboxArgs([]), { help: false, objectFiles: [], verbose: false, keep: false, runFlags: [] });
  });

  it('repeated --objects (with or without =), the node name as kube-proxy reads it, switches', () => {
    assert.deepEqual(parseSandboxArgs(['--objects', 'a.yaml', '--objects=b.json', '--hostname-override', ' Node-A ', '--verbose', '--keep']), {
      help: false, objectFiles: ['a.yaml', 'b.json'], nodeName: 'node-a', verbose: true, keep: true, runFlags: [],
    });
  });

  it('everything after -- goes to kube-ipvs run untouched', () => {
    assert.deepEqual(parseSandboxArgs(['--objects', 'x', '--', '--ipvs-scheduler', 'lc', '--objects', 'y']).runFlags, ['--ipvs-scheduler', 'lc', '--objects', 'y']);
    assert.deepEqual(parseSandboxArgs(['--', '--objects', 'y']).objectFiles, []);
  });

  it('reports every mistake, and points run flags to --', () => {
    assert.deepEqual(problems(['--ipvs-scheduler', 'lc', '--objects']), [
      'sandbox: unknown flag --ipvs-scheduler (flags for kube-ipvs run go after --: kube-ipvs sandbox -- --ipvs-scheduler)',
      'sandbox: unexpected argument "lc"',
      'sandbox: --objects needs a value',
    ]);
    assert.deepEqual(problems(['--verbose=yes', '--objects', '--keep']), ['sandbox: --verbose takes no value', 'sandbox: --objects needs a value']);
    assert.deepEqual(problems(['--hostname-override=']), ['sandbox: --hostname-override needs a node name']);
  });

  it('--help wins over mistakes', () => {
    assert.equal(parseSandboxArgs(['--bogus', '-h']).help, true);
  });

  it('the command: --help prints the usage (exit 0), a mistake exits 2 with a hint', async () => {
    const out: string[] = [];
    const err: string[] = [];
    const io = { stdout: (t: string) => void out.push(t), stderr: (t: string) => void err.push(t) };
    assert.equal(await runSandboxCommand(['--help'], io), 0);
    assert.equal(out.join(''), SANDBOX_USAGE);
    assert.equal(await runSandboxCommand(['--nope'], io), 2);
    assert.match(err.join(''), /kube-ipvs sandbox: unknown flag --nope[\s\S]*Run 'kube-ipvs sandbox --help' for usage\./);
  });

  it('the help says what --objects supports', () => {
    for (const want of [/ClusterIP, NodePort, LoadBalancer/, /every endpoint address becomes a\s+pod/, /SCTP ports get no server/, /-- --ipvs-scheduler lc/]) {
      assert.match(SANDBOX_USAGE, want);
    }
  });
});

describe('kube-ipvs sandbox: checks before booting', () => {
  const file = (name: string, text: string) => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  it('the example objects pass: node-1, seven pods', () => {
    assert.deepEqual(checkBeforeBoot({ objectFiles: [], runFlags: [] }), { problems: [], nodeName: 'node-1', pods: 7, notes: [] });
  });

  it('an unreadable or invalid file, no Service, no endpoints, a bad run flag: each named', () => {
    assert.match(checkBeforeBoot({ objectFiles: [join(dir, 'missing.yaml')], runFlags: [] }).problems.join(), /--objects .*missing\.yaml: cannot read the file/);
    assert.match(checkBeforeBoot({ objectFiles: [file('bad.yaml', 'a: [')], runFlags: [] }).problems.join(), /--objects .*bad\.yaml:1/);
    const empty = checkBeforeBoot({ objectFiles: [file('empty.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n')], runFlags: [] });
    assert.equal(empty.problems.length, 2);
    assert.match(empty.problems[0]!, /^no Service in .*empty\.yaml$/);
    assert.match(empty.problems[1]!, /^no endpoint addresses in the EndpointSlices of .*empty\.yaml: there is nothing to serve$/);
    assert.match(empty.notes.join(), /ignored 1 ConfigMap/);
    const flags = checkBeforeBoot({ objectFiles: [], runFlags: ['--ipvs-scheduler', 'nope'] });
    assert.equal(flags.problems.length, 1);
    assert.match(flags.problems[0]!, /^kube-ipvs run flags after --: .*nope/);
  });

  it('bin/kube-ipvs sandbox refuses bad objects before booting anything (exit 2)', () => {
    const r = spawnSync(process.execPath, [BIN, 'sandbox', '--objects', join(dir, 'nothing-here.yaml')], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr, /kube-ipvs sandbox: --objects .*nothing-here\.yaml: cannot read the file/);
    assert.doesNotMatch(r.stdout, /booting/);
  });
});
