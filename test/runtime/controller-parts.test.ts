// The controller's small modules: UDP conntrack cleanup (parsing `conntrack -L`, choosing what to delete, the
// commands run), health check facts per Service, the delta -> scope translation, --nodeport-addresses.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConntrackCleaner, deletedFlowCount, parseConntrackList, PendingUdpCleanups, staleDeletions, udpCleanupTargets } from '../../src/runtime/controller-conntrack.js';
import { serviceHealthFacts } from '../../src/runtime/controller-service-health.js';
import { isEmptyScope, nodePortIPs, scopeOfDelta } from '../../src/runtime/controller.js';
import { conntrackMax, setUpNode } from '../../src/runtime/controller-node-setup.js';
import { defaultProxyConfig } from '../../src/model/config.js';
import type { DesiredDelta } from '../../src/desired/builder.js';
import type { VirtualServer } from '../../src/model/state.js';
import { silentLogger } from '../../src/util/log.js';
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { KernelCache } from '../../src/runtime/controller-kernel-cache.js';
import { FakeKernel } from './controller-fake-kernel.js';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const LIST = [
  'udp      17 29 src=10.0.0.1 dst=10.96.0.53 sport=40000 dport=53 src=10.244.0.4 dst=10.0.0.1 sport=5353 dport=40000 [ASSURED] mark=0 use=1',
  'udp      17 29 src=10.0.0.1 dst=10.96.0.53 sport=40001 dport=53 src=10.244.0.9 dst=10.0.0.1 sport=5353 dport=40001 mark=0 use=1',
  'udp      17 29 src=10.0.0.2 dst=10.96.0.53 sport=40002 dport=53 src=10.244.0.9 dst=10.0.0.2 sport=5353 dport=40002 mark=0 use=1',
  'udp      17 29 src=10.0.0.1 dst=10.96.0.53 sport=40003 dport=53 [UNREPLIED] src=10.96.0.53 dst=10.0.0.1 sport=53 dport=40003 mark=0 use=1',
  'udp      17 29 src=10.0.0.1 dst=10.96.0.99 sport=40004 dport=53 src=10.244.0.7 dst=10.0.0.1 sport=53 dport=40004 mark=0 use=1',
  'udp      17 29 src=10.0.0.1 dst=10.1.1.1 sport=40005 dport=53 src=10.1.1.1 dst=10.0.0.1 sport=53 dport=40005 mark=0 use=1',
  'udp      17 29 src=fd00::1 dst=fd00:96::53 sport=40006 dport=53 src=FD00:244::9 dst=fd00::1 sport=53 dport=40006 mark=0 use=1',
].join('\n');

function vs(protocol: 'TCP' | 'UDP', address: string, port: number, rs: [string, number][]): VirtualServer {
  return { protocol, address, port, scheduler: 'rr', flags: 0, timeout: 0, realServers: rs.map(([a, p]) => ({ address: a, port: p, weight: 1 })) };
}

describe('UDP conntrack cleanup', () => {
  it('parses conntrack -L: original and reply tuples, canonical addresses', () => {
    const flows = parseConntrackList(LIST + '\nconntrack v1.4.7 (conntrack-tools): 7 flow entries have been shown.\n');
    assert.equal(flows.length, 7);
    assert.deepEqual(flows[0], { family: 4, origSrc: '10.0.0.1', origDst: '10.96.0.53', origSport: 40000, origDport: 53, replySrc: '10.244.0.4', replySport: 5353 });
    assert.equal(flows[6]!.replySrc, 'fd00:244::9');
    assert.equal(flows[6]!.family, 6);
  });

  it('deletes flows to a service whose reply source is not a real server, and every flow to a service that is gone', () => {
    const targets = udpCleanupTargets(
      [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]]), vs('TCP', '10.96.0.10', 80, [])],
      [vs('UDP', '10.96.0.99', 53, []), vs('UDP', '10.96.0.53', 53, [])],
    );
    assert.deepEqual(targets.map((t) => `${t.address}:${t.port}:${t.realServers ? [...t.realServers].join(',') : 'gone'}`), ['10.96.0.53:53:10.244.0.4:5353', '10.96.0.99:53:gone']);
    const { deletions, staleFlows } = staleDeletions(parseConntrackList(LIST), targets);
    assert.deepEqual(deletions.map((d) => `${d.origDst}:${d.origDport} <- ${d.replySrc}:${d.replySport}`), [
      '10.96.0.53:53 <- 10.244.0.9:5353', // a removed endpoint (two flows, one deletion)
      '10.96.0.53:53 <- 10.96.0.53:53', // never NATed: sent while there was no endpoint
      '10.96.0.99:53 <- 10.244.0.7:53', // the service is gone
    ]);
    assert.equal(staleFlows, 4);
  });

  it('leaves a service without endpoints alone (nothing better to send its flows to)', () => {
    const { deletions } = staleDeletions(parseConntrackList(LIST), udpCleanupTargets([vs('UDP', '10.96.0.53', 53, [])], []));
    assert.deepEqual(deletions, []);
  });

  it('runs one conntrack -L per family with work and one -D per stale pair; "0 flow entries" is not an error', async () => {
    const calls: string[][] = [];
    const cleaner = new ConntrackCleaner({
      run: async (cmd, args) => {
        calls.push([cmd, ...args]);
        if (args[0] === '-L') return { exitCode: 0, stdout: LIST, stderr: '' };
        if (args.includes('10.96.0.53') && args.includes('10.96.0.53', args.indexOf('--reply-src'))) return { exitCode: 1, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 0 flow entries have been deleted.' };
        return { exitCode: 0, stdout: '', stderr: 'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been deleted.' };
      },
    });
    const r = await cleaner.clean(udpCleanupTargets([vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])], []));
    assert.deepEqual(calls, [
      ['conntrack', '-L', '-p', 'udp', '-f', 'ipv4'],
      ['conntrack', '-D', '-p', 'udp', '-f', 'ipv4', '--orig-dst', '10.96.0.53', '--dport', '53', '--reply-src', '10.244.0.9', '--reply-port-src', '5353'],
      ['conntrack', '-D', '-p', 'udp', '-f', 'ipv4', '--orig-dst', '10.96.0.53', '--dport', '53', '--reply-src', '10.96.0.53', '--reply-port-src', '53'],
    ]);
    assert.deepEqual(r.errors, []);
    assert.equal(r.deleted, 1);
    assert.equal(r.staleFlows, 3);
    // The metric counts what the kernel deleted (the tool's own count), not what was found stale.
    assert.deepEqual(r.deletedFlowsByFamily, { 4: 2, 6: 0 });
  });

  it('deletedFlowCount reads conntrack -D\'s report, and falls back to the flows the deletion covered', () => {
    assert.equal(deletedFlowCount('conntrack v1.4.7 (conntrack-tools): 1 flow entries have been deleted.', () => 9), 1);
    assert.equal(deletedFlowCount('conntrack v1.4.8 (conntrack-tools): 3 flow entries have been deleted.\n', () => 9), 3);
    assert.equal(deletedFlowCount('', () => 9), 9);
  });

  describe('pending cleanups (recorded from the builder deltas, taken after a successful sync)', () => {
    const show = (p: PendingUdpCleanups) => p.take().map((t) => `${t.address}:${t.port} ${t.realServers ? [...t.realServers].join(',') || '-' : 'gone'}`);
    const none: VirtualServer[] = [];

    it('records UDP virtual servers only, with their real servers; take() forgets them', () => {
      const p = new PendingUdpCleanups();
      p.record({ added: [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]]), vs('TCP', '10.96.0.10', 80, [['10.244.0.2', 8080]])], updated: [vs('UDP', 'fd00:96::53', 53, [])], removed: [vs('TCP', '10.96.0.11', 80, [])] });
      assert.equal(p.size, 2);
      assert.deepEqual(show(p), ['10.96.0.53:53 10.244.0.4:5353', 'fd00:96::53:53 -']);
      assert.equal(p.size, 0);
      assert.deepEqual(show(p), []);
    });

    it('a virtual server removed after a failed sync recorded it as current is cleaned as gone', () => {
      const p = new PendingUdpCleanups();
      p.record({ added: none, updated: [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])], removed: none });
      // (the sync failed: nothing taken) then the Service is deleted
      p.record({ added: none, updated: none, removed: [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])] });
      assert.deepEqual(show(p), ['10.96.0.53:53 gone']);
    });

    it('the latest real servers win across deltas, and a gone virtual server that comes back is current', () => {
      const p = new PendingUdpCleanups();
      p.record({ added: none, updated: [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])], removed: none });
      p.record({ added: none, updated: [vs('UDP', '10.96.0.53', 53, [['10.244.0.5', 5353]])], removed: [vs('UDP', '10.96.0.99', 53, [])] });
      p.record({ added: [vs('UDP', '10.96.0.99', 53, [['10.244.0.6', 53]])], updated: none, removed: none });
      assert.deepEqual(show(p), ['10.96.0.53:53 10.244.0.5:5353', '10.96.0.99:53 10.244.0.6:53']);
    });

    it('within one delta, a key both removed and added (moved to another Service) stays current', () => {
      const p = new PendingUdpCleanups();
      p.record({ added: [vs('UDP', '10.96.0.53', 53, [['10.244.0.7', 53]])], updated: none, removed: [vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])] });
      assert.deepEqual(show(p), ['10.96.0.53:53 10.244.0.7:53']);
    });

    it('clear() drops everything (cleanup disabled)', () => {
      const p = new PendingUdpCleanups();
      p.record({ added: [vs('UDP', '10.96.0.53', 53, [])], updated: none, removed: none });
      p.clear();
      assert.equal(p.size, 0);
    });
  });

  it('a missing conntrack tool is reported once, then not tried again', async () => {
    let n = 0;
    const cleaner = new ConntrackCleaner({ run: async () => { n++; throw new Error('spawn conntrack ENOENT'); } });
    const t = udpCleanupTargets([vs('UDP', '10.96.0.53', 53, [['10.244.0.4', 5353]])], []);
    const first = await cleaner.clean(t);
    const second = await cleaner.clean(t);
    assert.match(first.errors[0]!, /not available/);
    assert.deepEqual(second.errors, []);
    assert.equal(n, 1);
  });
});

describe('health check facts', () => {
  const lb = (extra: Record<string, unknown> = {}) => ({
    metadata: { name: 'lb', namespace: 'default' },
    spec: { type: 'LoadBalancer', clusterIP: '10.96.0.40', clusterIPs: ['10.96.0.40'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80, nodePort: 31000 }], ...extra },
  });
  const sl = (eps: { ip: string; node: string; ready?: boolean; serving?: boolean; terminating?: boolean }[]) => ({
    metadata: { name: 'lb-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'lb' } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({ addresses: [e.ip], nodeName: e.node, conditions: { ready: e.ready ?? true, serving: e.serving, terminating: e.terminating } })),
    ports: [{ port: 8080 }],
  });

  it('counts distinct local ready endpoints; terminating and remote ones do not count', () => {
    const f = serviceHealthFacts(lb(), [sl([
      { ip: '10.244.0.2', node: 'node-a' },
      { ip: '10.244.0.2', node: 'node-a' },
      { ip: '10.244.0.3', node: 'node-a' },
      { ip: '10.244.0.4', node: 'node-a', ready: false, serving: true, terminating: true },
      { ip: '10.244.1.2', node: 'node-b' },
    ])], 'node-a');
    assert.equal(f.healthCheckNodePort, 32000);
    assert.equal(f.localReadyEndpoints, 2);
    assert.equal(f.noLocalExternal, false);
  });

  it('only LoadBalancer + externalTrafficPolicy Local gets a health check port; no local endpoints is reported', () => {
    assert.equal(serviceHealthFacts(lb({ externalTrafficPolicy: 'Cluster' }), [], 'node-a').healthCheckNodePort, 0);
    assert.equal(serviceHealthFacts(lb({ type: 'NodePort' }), [], 'node-a').healthCheckNodePort, 0);
    const remoteOnly = serviceHealthFacts(lb(), [sl([{ ip: '10.244.1.2', node: 'node-b' }])], 'node-a');
    assert.equal(remoteOnly.localReadyEndpoints, 0);
    assert.equal(remoteOnly.noLocalExternal, true);
    assert.equal(serviceHealthFacts(lb(), [], 'node-a').noLocalExternal, false, 'no endpoints anywhere is not "no local endpoints"');
  });
});

describe('scope of a delta', () => {
  const empty: DesiredDelta = {
    full: false,
    services: [],
    virtualServers: { added: [], updated: [], removed: [] },
    ipsets: {},
    addresses: { added: [], removed: [] },
    iptables: { ipv4: false, ipv6: false },
    diagnostics: { added: [], removed: [] },
    empty: true,
  };
  it('covers exactly what changed, plus the virtual servers of expired drains', () => {
    assert.equal(isEmptyScope(scopeOfDelta(empty)), true);
    const s = scopeOfDelta(
      { ...empty, virtualServers: { added: [vs('TCP', '10.96.0.10', 80, [])], updated: [], removed: [vs('UDP', 'fd00::a', 53, [])] }, ipsets: { 'KUBE-CLUSTER-IP': { added: ['10.96.0.10,tcp:80'], removed: [] } }, addresses: { added: ['10.96.0.10'], removed: [] } },
      ['TCP/10.96.0.20:443'],
    );
    assert.deepEqual(s, {
      virtualServers: ['TCP/10.96.0.10:80', 'TCP/10.96.0.20:443', 'UDP/[fd00::a]:53'],
      addresses: ['10.96.0.10'],
      ipsetEntries: ['KUBE-CLUSTER-IP 10.96.0.10,tcp:80'],
      iptables: false,
    });
    assert.equal(scopeOfDelta({ ...empty, iptables: { ipv4: false, ipv6: true } }).iptables, true);
  });
});

describe('node setup', () => {
  it('--nodeport-addresses selects the node IPs the health check ports listen on', () => {
    assert.deepEqual(nodePortIPs([], ['192.168.0.10', '10.0.0.5']), []);
    assert.deepEqual(nodePortIPs(['0.0.0.0/0'], ['192.168.0.10']), []);
    assert.deepEqual(nodePortIPs(['192.168.0.0/24'], ['192.168.0.10', '10.0.0.5', 'fd00::1']), ['192.168.0.10']);
  });

  it('writes kube-proxy conntrack settings and the OOM score, best effort', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kipvs-node-'));
    try {
      mkdirSync(join(dir, 'net/netfilter'), { recursive: true });
      writeFileSync(join(dir, 'net/netfilter/nf_conntrack_max'), '65536\n');
      writeFileSync(join(dir, 'net/netfilter/nf_conntrack_tcp_timeout_established'), '432000\n');
      // close_wait cannot be written (a directory here): that one fails, the others go on.
      mkdirSync(join(dir, 'net/netfilter/nf_conntrack_tcp_timeout_close_wait'));
      const config = { ...defaultProxyConfig(), oomScoreAdj: -999, conntrack: { maxPerCore: 32768, min: 131072, tcpEstablishedTimeoutMs: 86_400_000, tcpCloseWaitTimeoutMs: 3_600_000, tcpBeLiberal: false, udpTimeoutMs: 0, udpStreamTimeoutMs: 0 } };
      const r = await setUpNode(config, silentLogger, { sysctlRoot: dir, oomScoreAdjPath: join(dir, 'oom'), cpuCount: 2 });
      assert.equal(readFileSync(join(dir, 'oom'), 'utf8'), '-999');
      assert.equal(readFileSync(join(dir, 'net/netfilter/nf_conntrack_max'), 'utf8').trim(), '131072');
      assert.equal(readFileSync(join(dir, 'net/netfilter/nf_conntrack_tcp_timeout_established'), 'utf8').trim(), '86400');
      assert.deepEqual(r.failed, ['net/netfilter/nf_conntrack_tcp_timeout_close_wait']);
      assert.equal(conntrackMax(config.conntrack, 8), 262144);
      assert.equal(conntrackMax({ ...config.conntrack, maxPerCore: 0 }, 8), 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('kernel cache (partial syncs answered from memory)', () => {
  it('passes full reads through, then answers scoped listings from memory kept up to date by accepted writes', async () => {
    const k = new FakeKernel();
    k.linkExists = true;
    k.addresses.add('10.96.0.10');
    k.seed({ protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0 });
    k.seed({ protocol: 'TCP', address: '10.1.2.3', port: 80, scheduler: 'wrr', flags: 0, timeout: 0 });
    const cache = new KernelCache(k.drivers());
    const d = cache.drivers;

    // Before any full read a partial listing goes to the kernel.
    cache.beginSync('partial', { virtualServers: ['TCP/10.96.0.10:80'] });
    assert.equal((await d.ipvs.listServices()).length, 2);
    assert.equal(k.dumps, 1);

    cache.beginSync('full');
    await d.ipvs.observe();
    await d.link.listAddresses();
    assert.equal(k.dumps, 2);
    assert.equal(k.addressDumps, 1);

    await d.ipvs.apply([
      { kind: 'add-virtual-server', vs: { protocol: 'UDP', address: '10.96.0.53', port: 53, scheduler: 'rr', flags: 0, timeout: 0 } },
      { kind: 'update-virtual-server', vs: { protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'lc', flags: 0, timeout: 0 } },
    ]);
    await d.link.addAddresses(['10.96.0.53']);

    cache.beginSync('partial', { virtualServers: ['UDP/10.96.0.53:53', 'TCP/10.96.0.10:80', 'TCP/10.96.0.99:80'], addresses: [] });
    const listed = await d.ipvs.listServices();
    assert.deepEqual(listed.map((e) => `${e.protocol}/${e.address}:${e.port} ${e.scheduler}`), ['17/10.96.0.53:53 rr', '6/10.96.0.10:80 lc'], 'only the scope, as the kernel now holds it');
    assert.deepEqual((await d.link.listAddresses()).sort(), ['10.96.0.10', '10.96.0.53'], 'the scoped virtual servers\' addresses');
    assert.equal(k.dumps, 2, 'no dump');
    assert.equal(k.addressDumps, 1, 'no address dump');

    // A full sync re-reads (drift someone made is seen again).
    k.ipvs.delete('UDP/10.96.0.53:53');
    cache.beginSync('full');
    await d.ipvs.observe();
    cache.beginSync('partial', { virtualServers: ['UDP/10.96.0.53:53'] });
    assert.deepEqual(await d.ipvs.listServices(), []);
  });
});
