// The executor's ipset adapter with a scripted `ipset` (a fake ToolRunner): the restore lines are exactly the ops,
// a refused line fails only its op (lines before it are applied, the rest is restored again without the ops that
// depend on it), a header clash hands the set to the driver. The real `ipset restore`: test/kernel/sync.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ToolResult } from '../../src/kernel/exec.js';
import type { RunOptions } from '../../src/kernel/exec.js';
import { ops } from '../../src/plan/ops.js';
import { IpsetOpsRunner, ipsetOpLine } from '../../src/runtime/executor-ipset.js';

function scripted(answers: ToolResult[]) {
  const runs: { args: readonly string[]; stdin: string }[] = [];
  const run = async (command: string, args: readonly string[], opts?: RunOptions): Promise<ToolResult> => {
    runs.push({ args: [command, ...args], stdin: opts?.stdin ?? '' });
    return answers.shift() ?? { exitCode: 0, stdout: '', stderr: '' };
  };
  return { run, runs };
}

const create = ops.ipsetCreate('KUBE-CLUSTER-IP', 'hash:ip,port', 'inet');
const add1 = { ...ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.1,tcp:80'), dependsOn: [create.id] };
const add2 = { ...ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.2,tcp:80'), dependsOn: [create.id] };
const port = ops.ipsetAdd('KUBE-NODE-PORT-TCP', '30080');
const del = ops.ipsetDel('KUBE-IPVS-IPS', '10.96.0.9');

describe('IpsetOpsRunner', () => {
  it('writes one `ipset -exist restore` whose lines are the ops, with kube-proxy\'s create arguments', async () => {
    const s = scripted([]);
    const r = await new IpsetOpsRunner({ run: s.run }).apply([create, add1, port, del]);
    assert.equal(s.runs.length, 1);
    assert.deepEqual(s.runs[0]!.args, ['ipset', '-exist', 'restore']);
    assert.equal(
      s.runs[0]!.stdin,
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536\nadd KUBE-CLUSTER-IP 10.96.0.1,tcp:80\nadd KUBE-NODE-PORT-TCP 30080\ndel KUBE-IPVS-IPS 10.96.0.9\n',
    );
    assert.deepEqual(r.results.map((x) => x.ok), [true, true, true, true]);
    assert.equal(ipsetOpLine(ops.ipsetCreate('KUBE-6-NODE-PORT-TCP', 'bitmap:port', 'inet6')), 'create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535');
  });

  it('a refused line fails its op only; the rest is restored again', async () => {
    const s = scripted([{ exitCode: 1, stdout: '', stderr: 'ipset v7.17: Error in line 3: Syntax error: cannot parse 30080x\n' }]);
    const bad = ops.ipsetAdd('KUBE-NODE-PORT-TCP', '30080x');
    const r = await new IpsetOpsRunner({ run: s.run }).apply([create, add1, bad, del]);
    assert.equal(s.runs.length, 2);
    assert.equal(s.runs[1]!.stdin, 'del KUBE-IPVS-IPS 10.96.0.9\n');
    assert.deepEqual(r.results.map((x) => `${x.op.id}=${x.ok}`), [
      `${create.id}=true`, `${add1.id}=true`, `${bad.id}=false`, `${del.id}=true`,
    ]);
    assert.match(r.results[2]!.error!.message, /add KUBE-NODE-PORT-TCP 30080x.*cannot parse/);
    assert.equal(r.restores, 2);
  });

  it('ops that depend on a refused one are not sent again (the executor reports them skipped)', async () => {
    const s = scripted([{ exitCode: 1, stdout: '', stderr: 'ipset v7.17: Error in line 1: Kernel error received: Operation not permitted\n' }]);
    const r = await new IpsetOpsRunner({ run: s.run }).apply([create, add1, add2, port], (id) => (id === create.id ? [add1.id, add2.id] : []));
    assert.equal(s.runs[1]!.stdin, 'add KUBE-NODE-PORT-TCP 30080\n');
    assert.deepEqual(r.results.map((x) => `${x.op.id}=${x.ok}`), [`${create.id}=false`, `${port.id}=true`]);
  });

  it('a create refused for a header clash hands the set and its new members to the driver', async () => {
    const s = scripted([{ exitCode: 1, stdout: '', stderr: 'ipset v7.17: Error in line 1: Set cannot be created: set with the same name already exists\n' }]);
    const replaced: { name: string; entries: string[]; type: string }[] = [];
    const runner = new IpsetOpsRunner({ run: s.run, replaceSet: async (name, st) => void replaced.push({ name, entries: st.entries, type: st.type }) });
    const r = await runner.apply([create, add1, add2, port]);
    assert.deepEqual(replaced, [{ name: 'KUBE-CLUSTER-IP', entries: ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80'], type: 'hash:ip,port' }]);
    assert.equal(s.runs[1]!.stdin, 'add KUBE-NODE-PORT-TCP 30080\n');
    assert.ok(r.results.every((x) => x.ok));
    assert.deepEqual(r.replaced, ['KUBE-CLUSTER-IP']);
  });

  it('a failure it cannot place on a line fails every op of that run', async () => {
    const s = scripted([{ exitCode: 2, stdout: '', stderr: 'ipset: cannot open netlink socket\n' }]);
    const r = await new IpsetOpsRunner({ run: s.run }).apply([add1, port]);
    assert.deepEqual(r.results.map((x) => x.ok), [false, false]);
    assert.match(r.results[0]!.error!.message, /cannot open netlink socket/);
  });

  it('runs inside a named namespace when asked', async () => {
    const s = scripted([]);
    await new IpsetOpsRunner({ run: s.run, netns: 'n1' }).apply([port]);
    assert.deepEqual(s.runs[0]!.args, ['ip', 'netns', 'exec', 'n1', 'ipset', '-exist', 'restore']);
  });
});
