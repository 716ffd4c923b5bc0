// What `kube-ipvs sync` and `kube-ipvs dump` print (pure formatting; the commands themselves run in the real kernel
// in test/kernel/sync), and the scope an event-driven sync derives from a desired-state delta.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDumpText, ipvsStatsLines } from '../../src/cli/dump.js';
import { runSync, syncSummaryLine } from '../../src/cli/sync.js';
import { isUsageError } from '../../src/cli/errors.js';
import { resolveConfig } from '../../src/cli/resolve.js';
import { KernelError } from '../../src/kernel/errors.js';
import { emptyNodeState, type IpvsStats, type NodeState } from '../../src/model/state.js';
import { countOps, ops } from '../../src/plan/index.js';
import type { SyncResult } from '../../src/runtime/syncer.js';
import { orderIpsets, sortObservedVirtualServers } from '../../src/runtime/observe.js';

function stats(conns: number, bytes: number): IpvsStats {
  return { conns, inPkts: conns * 3, outPkts: conns * 2, inBytes: bytes, outBytes: bytes * 2, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
}

function result(parts: Partial<SyncResult>): SyncResult {
  const changed = parts.changed ?? [];
  return {
    ok: true, kind: 'full', plan: { ops: [], draining: [], diagnostics: [] }, applied: changed, changed, failed: [], skipped: [],
    counts: countOps(changed), summary: parts.summary ?? 'no changes', planned: '', writes: { ipvsRequests: 0, ipvsBatches: 0, addressRequests: 0, ipsetRestores: 0, iptablesRestores: 0, jumpRuleWrites: 0, linkWrites: 0 },
    observed: emptyNodeState(), nodeAddresses: [], sysctlChanges: [], linkCreated: false,
    durations: { sysctlMs: 0, linkMs: 0, observeMs: 0, planMs: 0, executeMs: 0, ipvsMs: 0, ipsetMs: 0, iptablesMs: 0, addressesMs: 0, totalMs: 213 },
    ...parts,
  };
}

describe('sync summary line', () => {
  it('says what changed, or that nothing had to, with the time', () => {
    const add = ops.addService({ protocol: 'TCP', address: '10.96.0.1', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
    assert.equal(syncSummaryLine(result({ changed: [add], summary: 'ipvs: +1 services' })), 'sync: ipvs: +1 services (0.21 s)');
    assert.equal(syncSummaryLine(result({})), 'sync: nothing to change (0.21 s)');
  });

  it('counts failures and says when the sync could not start', () => {
    const add = ops.addService({ protocol: 'TCP', address: '10.96.0.1', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
    const failed = [{ op: add, error: new KernelError(add.id, 'EINVAL') }];
    assert.equal(syncSummaryLine(result({ failed, skipped: [add, add] })), 'sync: nothing to change; 1 failed, 2 skipped (0.21 s)');
    assert.equal(syncSummaryLine(result({ error: new KernelError('ensure-link', 'EPERM') })), 'sync: aborted before any change: ensure-link: EPERM (0.21 s)');
  });
});

describe('dump text', () => {
  const state: NodeState = {
    ...emptyNodeState(),
    ipvs: [
      {
        protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 1, timeout: 600, stats: stats(7, 4200),
        realServers: [{ address: '10.244.0.2', port: 8080, weight: 1, activeConns: 2, inactiveConns: 1, stats: stats(4, 2400) }],
      },
      { protocol: 'UDP', address: 'fd00::a', port: 53, scheduler: 'mh', flags: 16, timeout: 0, realServers: [] },
    ],
    addresses: { 'kube-ipvs0': ['10.96.0.10', 'fd00::a'] },
    ipsets: { 'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: ['10.96.0.10,tcp:80'] } },
    iptables: { ipv4: { nat: '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n', filter: '' }, ipv6: { nat: '', filter: '' } },
  };

  it('shows the IPVS table with connection and byte counters per virtual and real server', () => {
    const lines = ipvsStatsLines(state.ipvs);
    const vs = lines.find((l) => l.startsWith('TCP  10.96.0.10:80'))!;
    assert.match(vs, /rr persistent 600/);
    assert.deepEqual(vs.trim().split(/\s+/).slice(-5), ['7', '21', '14', '4200', '8400']);
    const rs = lines.find((l) => l.includes('-> 10.244.0.2:8080'))!;
    assert.match(rs, /Masq\s+1\s+2\s+1\s/);
    assert.deepEqual(rs.trim().split(/\s+/).slice(-5), ['4', '12', '8', '2400', '4800']);
    assert.ok(lines.some((l) => l.startsWith('UDP  [fd00::a]:53') && l.includes('mh (mh-port)')));
  });

  it('prints sets like ipset list, tables like iptables-save, then kube-ipvs0', () => {
    const text = formatDumpText(state);
    assert.match(text, /Name: KUBE-CLUSTER-IP\nType: hash:ip,port\nHeader: family inet\nNumber of entries: 1\nMembers:\n10\.96\.0\.10,tcp:80\n/);
    assert.match(text, /# iptables-save -t nat \(KUBE-\* chains\)\n\*nat\n:KUBE-SERVICES - \[0:0\]\nCOMMIT\n/);
    assert.match(text, /# kube-ipvs0: 2 addresses .*\ninet 10\.96\.0\.10\/32\ninet6 fd00::a\/128\n$/);
  });
});

describe('observed state order', () => {
  it('sorts virtual servers, real servers and sets as the plan document does', () => {
    const vs = (protocol: 'TCP' | 'UDP' | 'SCTP', address: string) => ({ protocol, address, port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [] });
    const sorted = sortObservedVirtualServers([vs('SCTP', '10.0.0.1'), vs('TCP', 'fd00::1'), vs('UDP', '10.0.0.1'), vs('TCP', '10.0.0.1')]);
    assert.deepEqual(sorted.map((v) => `${v.protocol}/${v.address}`), ['TCP/10.0.0.1', 'UDP/10.0.0.1', 'SCTP/10.0.0.1', 'TCP/fd00::1']);
    const sets = orderIpsets({ 'KUBE-6-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet6', entries: [] }, 'KUBE-IPVS-IPS': { type: 'hash:ip', family: 'inet', entries: [] }, 'KUBE-LOOP-BACK': { type: 'hash:ip,port,ip', family: 'inet', entries: [] } });
    assert.deepEqual(Object.keys(sets), ['KUBE-LOOP-BACK', 'KUBE-IPVS-IPS', 'KUBE-6-CLUSTER-IP']);
  });
});

describe('kube-ipvs sync command line', () => {
  it('needs --objects (a usage error, exit 2, before touching the kernel)', async () => {
    const inv = resolveConfig(['sync', '--hostname-override', 'node-1']);
    const out: string[] = [];
    await assert.rejects(runSync(inv, { stdout: (t) => void out.push(t), stderr: (t) => void out.push(t) }), (e: unknown) => {
      assert.ok(isUsageError(e));
      assert.equal(e.exitCode, 2);
      assert.match(e.messages.join(' '), /--objects FILE is required/);
      return true;
    });
    assert.deepEqual(out, []);
  });

  it('accepts --objects, --node-addresses and --output for sync, --output for dump', () => {
    const inv = resolveConfig(['sync', '--objects', 'a.yaml', '--objects', 'b.yaml', '--node-addresses', '192.168.1.10,fd00::1', '--output', 'json', '--hostname-override', 'n']);
    assert.deepEqual(inv.options.objects, ['a.yaml', 'b.yaml']);
    assert.deepEqual(inv.options.nodeAddresses, ['192.168.1.10', 'fd00::1']);
    assert.equal(inv.options.output, 'json');
    assert.equal(resolveConfig(['dump', '--output', 'json', '--hostname-override', 'n']).options.output, 'json');
    assert.throws(() => resolveConfig(['dump', '--objects', 'a.yaml', '--hostname-override', 'n']), /only accepted by/);
  });
});
