// Unit tests of the syncer and executor bookkeeping with a fake kernel (test/runtime/syncer-fakes.ts): batching,
// per-op failures and what they skip, "already so" counted as applied but not changed, aborted syncs, partial
// syncs and their fall back to full syncs. The real kernel: test/kernel/sync/*.ktest.ts.

import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { computeDesiredState, DesiredStateBuilder } from '../../src/desired/index.js';
import type { ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import { defaultProxyConfig } from '../../src/model/config.js';
import { emptyNodeState, virtualServerKey, type NodeState } from '../../src/model/state.js';
import { computePlan, opIds } from '../../src/plan/index.js';
import { executeOps, totalWrites } from '../../src/runtime/executor.js';
import { iptablesEqual, Syncer } from '../../src/runtime/syncer.js';
import { FakeKernel } from './syncer-fakes.js';

function svc(name: string, ip: string, port: number, protocol = 'TCP', annotations?: Record<string, string>): ApiService {
  return { metadata: { namespace: 'default', name, ...(annotations ? { annotations } : {}) }, spec: { type: 'ClusterIP', clusterIP: ip, ports: [{ name: 'p', protocol, port, targetPort: 8080 }] } };
}

function eps(name: string, ips: string[], protocol = 'TCP'): ApiEndpointSlice {
  return {
    metadata: { namespace: 'default', name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
    addressType: 'IPv4',
    ports: [{ name: 'p', protocol, port: 8080 }],
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'node-1', conditions: { ready: true } })),
  };
}

function desiredOf(services: ApiService[], slices: ApiEndpointSlice[]): NodeState {
  return computeDesiredState({ services, endpointSlices: slices, node: { nodeName: 'node-1', nodeAddresses: ['192.168.1.10'] }, config: defaultProxyConfig() });
}

const twoServices = () =>
  desiredOf([svc('a', '10.96.0.1', 80), svc('b', '10.96.0.2', 53, 'UDP')], [eps('a', ['10.244.0.1', '10.244.0.2']), eps('b', ['10.244.0.3'], 'UDP')]);

function syncer(k: FakeKernel): Syncer {
  return new Syncer({ drivers: k.drivers(), config: defaultProxyConfig(), sysctls: false });
}

describe('executeOps', () => {
  it('batches: one IPVS apply, one ipset run, one address batch, one restore per table, one jump-rule pass', async () => {
    const k = new FakeKernel();
    const plan = computePlan(twoServices(), emptyNodeState(), { ensureJumpRules: true });
    const r = await executeOps(plan.ops, k.drivers());
    assert.deepEqual(r.failed, []);
    assert.equal(r.applied.length, plan.ops.length);
    const calls = k.calls.filter((c) => !c.startsWith('restore'));
    assert.deepEqual(calls, ['ensure-link', 'ipset.apply ' + plan.ops.filter((o) => o.kind.startsWith('ipset-')).length, 'ensure-jump-rules', 'link.addAddresses 2', 'ipvs.apply 5']);
    assert.deepEqual(k.calls.filter((c) => c.startsWith('restore')).sort(), ['restore ipv4 filter', 'restore ipv4 nat', 'restore ipv6 filter', 'restore ipv6 nat']);
    assert.equal(r.writes.ipvsBatches, 1);
    assert.equal(r.writes.ipvsRequests, 5);
    assert.equal(r.writes.iptablesRestores, 4);
  });

  it('a refused add-service skips its real servers sent in the same batch; unrelated ops are applied', async () => {
    const k = new FakeKernel();
    k.fail.add('add-virtual-server TCP/10.96.0.1:80');
    const plan = computePlan(twoServices(), emptyNodeState());
    const r = await executeOps(plan.ops, k.drivers());
    assert.deepEqual(r.failed.map((f) => f.op.id), ['add-service TCP/10.96.0.1:80']);
    assert.match(r.failed[0]!.error.message, /EINVAL/);
    assert.deepEqual(r.skipped.map((o) => o.id), ['add-real-server TCP/10.96.0.1:80/10.244.0.1:8080', 'add-real-server TCP/10.96.0.1:80/10.244.0.2:8080']);
    assert.ok(r.applied.some((o) => o.id === 'add-real-server UDP/10.96.0.2:53/10.244.0.3:8080'));
    assert.ok(k.vs.has('UDP/10.96.0.2:53'));
    assert.ok(!k.vs.has('TCP/10.96.0.1:80'));
  });

  it('a failed address bind skips the virtual server on it before anything is sent, and its real servers', async () => {
    const k = new FakeKernel();
    k.fail.add('add-address kube-ipvs0 10.96.0.1');
    const d = twoServices();
    const plan = computePlan(d, { ...d, ipvs: [], addresses: { 'kube-ipvs0': [] } });
    const r = await executeOps(plan.ops, k.drivers());
    assert.deepEqual(r.failed.map((f) => f.op.id), ['add-address kube-ipvs0 10.96.0.1']);
    assert.deepEqual(r.skipped.map((o) => o.id).sort(), [
      'add-real-server TCP/10.96.0.1:80/10.244.0.1:8080',
      'add-real-server TCP/10.96.0.1:80/10.244.0.2:8080',
      'add-service TCP/10.96.0.1:80',
    ]);
    assert.ok(k.calls.includes('ipvs.apply 2'), `only the other service and its real server were sent: ${k.calls}`);
  });

  it('"already exists" and "no such" are applied but not changed', async () => {
    const k = new FakeKernel();
    const d = twoServices();
    await executeOps(computePlan(d, { ...d, ipvs: [], addresses: { 'kube-ipvs0': [] } }).ops, k.drivers());
    // Replaying the same plan against a kernel that already has everything.
    const again = await executeOps(computePlan(d, { ...d, ipvs: [], addresses: { 'kube-ipvs0': [] } }).ops, k.drivers());
    assert.deepEqual(again.failed, []);
    assert.equal(again.changed.length, 0);
    assert.equal(again.applied.length, 8);
  });

  it('a failed iptables-restore skips the jump rules of its table only', async () => {
    const k = new FakeKernel();
    k.fail.add('restore ipv4 nat');
    const d = twoServices();
    const r = await executeOps(computePlan(d, { ...d, iptables: { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } } }).ops, k.drivers());
    assert.deepEqual(r.failed.map((f) => f.op.id), ['iptables-restore ipv4 nat']);
    assert.deepEqual(r.skipped.map((o) => o.id), ['ensure-jump-rules ipv4 nat']);
    assert.equal(r.applied.filter((o) => o.kind === 'ensure-jump-rules').length, 3);
  });

  it('a set that cannot be created skips its members and the rules that match it', async () => {
    const k = new FakeKernel();
    k.fail.add(opIds.ipsetCreate('KUBE-CLUSTER-IP'));
    const d = twoServices();
    const r = await executeOps(computePlan(d, emptyNodeState()).ops, k.drivers());
    assert.deepEqual(r.failed.map((f) => f.op.id), ['ipset-create KUBE-CLUSTER-IP']);
    const skipped = r.skipped.map((o) => o.id);
    assert.ok(skipped.includes('ipset-add KUBE-CLUSTER-IP 10.96.0.1,tcp:80'));
    assert.ok(skipped.includes('iptables-restore ipv4 nat') && skipped.includes('iptables-restore ipv4 filter'));
    assert.ok(!skipped.some((id) => id.includes('ipv6')), 'the IPv6 tables do not use that set');
    assert.ok(k.vs.has('TCP/10.96.0.1:80'), 'IPVS still programmed');
  });
});

describe('Syncer', () => {
  it('a first sync programs everything; the second changes and writes nothing', async () => {
    const k = new FakeKernel();
    const s = syncer(k);
    const first = await s.sync({ desired: twoServices() });
    assert.equal(first.ok, true);
    assert.equal(first.kind, 'full');
    assert.match(first.summary, /^ipvs: \+2 services, \+3 real servers; addresses \+2; ipset \+34 sets, \+\d+ entries; iptables 4 tables rewritten$/);
    assert.equal(first.linkCreated, true);
    const second = await s.sync({ desired: twoServices() });
    assert.equal(second.ok, true);
    assert.equal(second.changed.length, 0);
    assert.equal(second.summary, 'no changes');
    assert.equal(totalWrites(second.writes), 0);
    assert.deepEqual(second.plan.ops.map((o) => o.kind), ['ensure-jump-rules', 'ensure-jump-rules', 'ensure-jump-rules', 'ensure-jump-rules'], 'only the jump-rule check a full sync always makes');
    assert.deepEqual((await s.verify(twoServices())).plan.ops, []);
  });

  it('aborts without writing when kube-ipvs0 cannot be ensured, and says why', async () => {
    const k = new FakeKernel();
    k.fail.add('ensure-link');
    const r = await syncer(k).sync({ desired: twoServices() });
    assert.equal(r.ok, false);
    assert.match(r.error?.message ?? '', /ensure-link: injected failure/);
    assert.ok(!k.calls.some((c) => c.startsWith('ipvs.apply') || c.startsWith('ipset.apply')), k.calls.join(', '));
  });

  it('aborts when the kernel cannot be read', async () => {
    const k = new FakeKernel();
    k.fail.add('observe-ipsets');
    const r = await syncer(k).sync({ desired: twoServices() });
    assert.equal(r.ok, false);
    assert.match(r.error?.message ?? '', /observe-ipsets/);
    assert.equal(r.plan.ops.length, 0);
  });

  it('reads node addresses from the kernel unless given, and never prunes with prune: false', async () => {
    const k = new FakeKernel();
    const s = syncer(k);
    await s.sync({ desired: twoServices() });
    const r = await s.sync({ desired: desiredOf([], []), prune: false });
    assert.deepEqual(r.nodeAddresses, ['192.168.1.10']);
    assert.deepEqual(r.plan.ops.filter((o) => /^del-|^ipset-del|drain/.test(o.kind)), [], 'nothing deleted');
    assert.ok(k.vs.has('TCP/10.96.0.1:80'));
    const given = await s.sync({ desired: twoServices(), nodeAddresses: ['10.0.0.1'] });
    assert.deepEqual(given.nodeAddresses, ['10.0.0.1']);
    assert.equal(k.calls.filter((c) => c === 'node-addresses').length, 2);
  });

  it('a partial sync reads only its virtual servers and no set or table; the first one runs as a full sync', async () => {
    const k = new FakeKernel();
    const s = syncer(k);
    const early = await s.sync({ desired: twoServices(), kind: 'partial', scope: {} });
    assert.equal(early.kind, 'full');
    assert.equal(early.fullBecause, 'no previous sync');

    // As the controller does it: the desired builder's delta since the last sync is the scope.
    const b = new DesiredStateBuilder({ nodeName: 'node-1', nodeAddresses: ['192.168.1.10'] }, defaultProxyConfig());
    b.upsertService(svc('a', '10.96.0.1', 80));
    b.upsertService(svc('b', '10.96.0.2', 53, 'UDP'));
    b.upsertEndpointSlice(eps('a', ['10.244.0.1', '10.244.0.2']));
    b.upsertEndpointSlice(eps('b', ['10.244.0.3'], 'UDP'));
    assert.deepEqual(b.build(), twoServices());
    b.takeDelta();
    b.upsertService(svc('c', '10.96.0.3', 443));
    b.upsertEndpointSlice(eps('c', ['10.244.0.4']));
    b.upsertEndpointSlice(eps('a', ['10.244.0.1', '10.244.0.9']));
    const after = b.build();
    const delta = b.takeDelta();
    const scope = {
      virtualServers: [...delta.virtualServers.added, ...delta.virtualServers.updated, ...delta.virtualServers.removed].map(virtualServerKey),
      addresses: [...delta.addresses.added, ...delta.addresses.removed],
      ipsetEntries: Object.entries(delta.ipsets).flatMap(([set, c]) => [...c.added, ...c.removed].map((e) => `${set} ${e}`)),
      iptables: delta.iptables.ipv4 || delta.iptables.ipv6,
    };
    k.calls = [];
    const r = await s.sync({ desired: after, kind: 'partial', scope });
    assert.equal(r.kind, 'partial');
    assert.equal(r.ok, true, JSON.stringify(r.failed));
    assert.ok(!k.calls.some((c) => ['observe-ipsets', 'observe-iptables', 'observe-ipvs'].includes(c)), k.calls.join(', '));
    assert.deepEqual(k.calls.filter((c) => c.startsWith('list-destinations')), ['list-destinations TCP/10.96.0.1:80'], 'only existing scoped virtual servers');
    assert.equal(r.summary, 'ipvs: +1 services, +2 -1 real servers; addresses +1; ipset +4 -1 entries');
    assert.deepEqual(k.vs.get('TCP/10.96.0.1:80')!.realServers.map((x) => x.address).sort(), ['10.244.0.1', '10.244.0.9']);
    // What the partial sync remembered is what a full read sees: nothing left to do.
    assert.deepEqual((await s.verify(after)).plan.ops, []);
    const full = await s.sync({ desired: after });
    assert.equal(full.changed.length, 0);
  });

  it('after a failure the next partial sync is a full one, and it repairs what failed', async () => {
    const k = new FakeKernel();
    const s = syncer(k);
    k.fail.add('add-virtual-server UDP/10.96.0.2:53');
    const bad = await s.sync({ desired: twoServices() });
    assert.equal(bad.ok, false);
    assert.deepEqual(bad.failed.map((f) => f.op.id), ['add-service UDP/10.96.0.2:53']);
    assert.equal(bad.skipped.length, 1);
    k.fail.clear();
    const next = await s.sync({ desired: twoServices(), kind: 'partial', scope: {} });
    assert.equal(next.kind, 'full');
    assert.equal(next.fullBecause, 'the previous sync had failures');
    assert.equal(next.summary, 'ipvs: +1 services, +1 real servers');
    assert.equal(next.ok, true);
  });

  it('drift is healed by a full sync; a foreign virtual server is left alone', async () => {
    const k = new FakeKernel();
    const s = syncer(k);
    await s.sync({ desired: twoServices() });
    k.vs.delete('TCP/10.96.0.1:80');
    k.vs.set('TCP/192.0.2.1:80', { protocol: 'TCP', address: '192.0.2.1', port: 80, scheduler: 'wlc', flags: 0, timeout: 0, realServers: [] });
    k.ipsets['KUBE-CLUSTER-IP']!.entries = [];
    const r = await s.sync({ desired: twoServices() });
    assert.equal(r.summary, 'ipvs: +1 services, +2 real servers; ipset +2 entries');
    assert.ok(k.vs.has('TCP/192.0.2.1:80'));
  });

  it('applies kube-proxy sysctls on the first sync only', async () => {
    const root = mkdtempSync(join(tmpdir(), 'kipvs-sysctl-'));
    for (const d of ['net/ipv4/vs', 'kernel', 'net/ipv4/conf/all']) mkdirSync(join(root, d), { recursive: true });
    writeFileSync(join(root, 'kernel/osrelease'), '6.1.0\n');
    for (const f of ['net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/ip_forward']) writeFileSync(join(root, f), '0\n');
    const k = new FakeKernel();
    const s = new Syncer({ drivers: k.drivers(), config: defaultProxyConfig(), sysctls: { root } });
    const first = await s.sync({ desired: twoServices() });
    assert.deepEqual(first.sysctlChanges.map((c) => c.name).sort(), ['net/ipv4/ip_forward', 'net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template']);
    writeFileSync(join(root, 'net/ipv4/ip_forward'), '0\n');
    const second = await s.sync({ desired: twoServices() });
    assert.deepEqual(second.sysctlChanges, []);
    assert.equal(readFileSync(join(root, 'net/ipv4/ip_forward'), 'utf8'), '0\n', 'not rewritten after the first sync');
  });
});

describe('iptablesEqual', () => {
  it('compares kube-proxy restore text with iptables-save text through the driver normaliser', () => {
    const want = '*nat\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\nCOMMIT\n';
    const have = '*nat\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n';
    assert.equal(iptablesEqual(want, have, { family: 'ipv4' }), true);
    assert.equal(iptablesEqual(want, have.replace('0x4000/0x4000', '0x8000/0x8000'), { family: 'ipv4' }), false);
  });
});
