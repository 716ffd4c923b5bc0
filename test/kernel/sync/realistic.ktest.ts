// `kube-ipvs sync` on a realistic object set, in the real kernel, run as an operator would (a subprocess in the
// test's namespace): ClusterIP (dual-stack), kube-dns UDP+TCP, NodePort TCP+UDP, ExternalIP, LoadBalancer with
// source ranges, ETP Local and a health check node port, ClientIP affinity, SCTP NodePort, a per-Service
// scheduler, an IPv6-only Service. The kernel must equal `kube-ipvs plan` afterwards, and a second sync must
// change and write nothing.

import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { before, describe, it } from 'node:test';
import { cmd, createPodNetwork, ipsetSets, ipvsadmServices, iptablesRules, linkAddresses, resetNetns } from '../lib/index.js';
import { addNodeInterface, kubeIpvs, NODE, NODE_IP, planVersusKernel, realisticObjects, sync, toolShims, writeObjects } from './fixtures.js';

let file: string;
let first: Awaited<ReturnType<typeof sync>>;

before(async () => {
  await resetNetns();
  await addNodeInterface();
  await createPodNetwork();
  file = writeObjects(realisticObjects());
  first = await sync(file);
});

/** Packet counters of the rules of one KUBE chain (iptables-save -c). */
async function chainCounters(chain: string): Promise<string[]> {
  const text = await cmd('iptables-legacy-save', ['-c', '-t', 'nat']);
  return text.split('\n').filter((l) => l.includes(`-A ${chain} `)).map((l) => l.split(' ')[0]!);
}

/** A SYN towards a ClusterIP from the node (nobody answers: 10.244.0.2 has no pod here). Counts in nat OUTPUT. */
function poke(host: string, port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = connect({ host, port });
    const done = () => {
      s.destroy();
      resolve();
    };
    s.setTimeout(300, done);
    s.on('error', done);
    s.on('connect', done);
  });
}

describe('kube-ipvs sync of a realistic node', () => {
  it('prints one line that says what it changed, and nothing else on stdout', () => {
    const lines = first.stdout.split('\n').filter(Boolean);
    assert.equal(lines.length, 1, first.stdout);
    assert.match(
      lines[0]!,
      /^sync: ipvs: \+\d+ services, \+\d+ real servers; addresses \+\d+; ipset \+34 sets, \+\d+ entries; iptables 4 tables rewritten, jump rules ensured in 4 tables \(\d+\.\d\d s\)$/,
    );
    const services = Number(/\+(\d+) services/.exec(lines[0]!)![1]);
    assert.ok(services >= 20, lines[0]);
  });

  it('leaves the kernel equal to `kube-ipvs plan` on everything it owns (dump --output json vs plan --output json)', async () => {
    assert.deepEqual(await planVersusKernel(file), []);
  });

  it('programs each kind of Service the way kube-proxy does', async () => {
    const vs = new Map((await ipvsadmServices()).map((s) => [s.key, s]));
    const rs = (key: string) => vs.get(key)?.realServers.map((r) => `${r.address}:${r.port}/${r.weight}`).sort();
    assert.deepEqual(rs('TCP/10.96.0.10:80'), ['10.244.0.2:8080/1', '10.244.0.3:8080/1']);
    assert.deepEqual(rs('TCP/[fd00:96::10]:80'), ['fd00:10:244::2:8080/1', 'fd00:10:244::3:8080/1']);
    assert.deepEqual(rs('UDP/10.96.0.53:53'), ['10.244.0.20:53/1', '10.244.0.21:53/1'], 'not-ready endpoint left out');
    assert.deepEqual(rs('UDP/[fd00:96::53]:53'), ['fd00:10:244::53:5353/1']);
    assert.deepEqual(rs(`TCP/${NODE_IP}:30080`), ['10.244.0.30:8080/1', '10.244.0.31:8080/1'], 'NodePort on the node IP');
    assert.deepEqual(rs(`UDP/${NODE_IP}:30081`), ['10.244.0.30:8081/1', '10.244.0.31:8081/1']);
    assert.deepEqual(rs(`SCTP/${NODE_IP}:30868`), ['10.244.0.70:3868/1']);
    assert.deepEqual(rs('SCTP/10.96.0.70:3868'), ['10.244.0.70:3868/1']);
    assert.deepEqual(rs('TCP/203.0.113.10:443'), ['10.244.0.40:8443/1'], 'external IP');
    assert.deepEqual(rs('TCP/198.51.100.7:80'), ['10.244.0.50:8080/1'], 'LB VIP with ETP Local: the local endpoint only');
    assert.deepEqual(rs('TCP/10.96.0.50:80'), ['10.244.0.50:8080/1', '10.244.0.51:8080/1'], 'its ClusterIP: every endpoint');
    const sticky = vs.get('TCP/10.96.0.60:80')!;
    assert.equal(sticky.flags & 1, 1, 'ClientIP affinity = persistent');
    assert.equal(sticky.timeout, 600);
    assert.equal(vs.get('TCP/10.96.0.75:80')!.scheduler, 'wlc', 'per-Service scheduler annotation');
    assert.equal(vs.get('TCP/10.96.0.10:80')!.scheduler, 'rr');

    const addrs = await linkAddresses('kube-ipvs0');
    for (const a of ['10.96.0.10', 'fd00:96::10', '10.96.0.53', '203.0.113.10', '198.51.100.7', 'fd00:96::53']) assert.ok(addrs.includes(a), `${a} on kube-ipvs0: ${addrs}`);
    assert.ok(!addrs.includes(NODE_IP), 'node IPs never go on kube-ipvs0');

    const sets = await ipsetSets();
    assert.ok(sets['KUBE-CLUSTER-IP']!.entries.includes('10.96.0.10,tcp:80'));
    assert.ok(sets['KUBE-6-CLUSTER-IP']!.entries.includes('fd00:96::10,tcp:80'));
    assert.ok(sets['KUBE-LOAD-BALANCER-SOURCE-CIDR']!.entries.includes('198.51.100.7,tcp:80,192.168.50.0/24'));
    // The node IP is inside a source range: the node may reach the VIP (kube-proxy's entry is lbIP,proto:port,lbIP).
    assert.deepEqual(sets['KUBE-LOAD-BALANCER-SOURCE-IP']!.entries, ['198.51.100.7,tcp:80,198.51.100.7']);
    assert.ok(sets['KUBE-NODE-PORT-SCTP-HASH']!.entries.includes(`${NODE_IP},sctp:30868`));
    assert.ok(sets['KUBE-NODE-PORT-TCP']!.entries.includes('30080'));
    assert.ok(sets['KUBE-NODE-PORT-UDP']!.entries.includes('30081'));
    assert.ok(sets['KUBE-HEALTH-CHECK-NODE-PORT']!.entries.includes('31050'));

    const nat = (await iptablesRules(4, 'legacy', { table: 'nat' }))['nat']!;
    assert.ok(nat['OUTPUT']!.rules.some((r) => r.includes('-j KUBE-SERVICES')), 'jump rule from OUTPUT');
    const filter6 = (await iptablesRules(6, 'legacy', { table: 'filter' }))['filter']!;
    assert.ok(filter6['INPUT']!.rules.some((r) => r.includes('-j KUBE-IPVS-FILTER')), 'IPv6 jump rules too');
  });

  it('a second sync changes nothing and writes nothing (summary, started processes, rule counters, IPVS table)', async () => {
    await poke('10.96.0.10', 80);
    const countersBefore = await chainCounters('KUBE-SERVICES');
    assert.ok(countersBefore.some((c) => !c.startsWith('[0:')), `traffic counted in KUBE-SERVICES: ${countersBefore}`);
    const ipvsBefore = await cmd('ipvsadm', ['-Sn']);
    const setsBefore = await cmd('ipset', ['save']);

    const shims = toolShims();
    const second = await sync(file, [], { env: shims.env });
    assert.match(second.stdout, /^sync: nothing to change \(\d+\.\d\d s\)\n$/);
    const calls = shims.calls();
    assert.ok(calls.some((c) => c === 'ipset save'), `it read the sets: ${calls.join('; ')}`);
    assert.ok(calls.some((c) => /^iptables-legacy-save -t nat/.test(c)), `it read the tables: ${calls.join('; ')}`);
    // The only write allowed is the backend probe, which runs in a throwaway namespace of its own (unshare --net).
    const writes = calls.filter((c) => !c.includes('KUBE-IPVS-PROBE')).filter((c) =>
      /restore/.test(c) || /^ipset (add|del|create|destroy|flush|swap)/.test(c) || /^ip6?tables\S* .*(-[IANDXFRPZ] |--(insert|append|delete|new-chain|flush))/.test(c));
    assert.deepEqual(writes, []);

    assert.deepEqual(await chainCounters('KUBE-SERVICES'), countersBefore, 'no iptables-restore: rule counters kept');
    assert.equal(await cmd('ipvsadm', ['-Sn']), ipvsBefore);
    assert.equal(await cmd('ipset', ['save']), setsBefore);

    const third = await kubeIpvs(['sync', '--hostname-override', NODE, '--objects', file, '--output', 'json']);
    assert.equal(third.exitCode, 0, third.stderr);
    const json = JSON.parse(third.stdout) as { summary: string; writes: Record<string, number> };
    assert.equal(json.summary, 'nothing to change');
    assert.deepEqual(json.writes, { ipvsRequests: 0, ipvsBatches: 0, addressRequests: 0, ipsetRestores: 0, iptablesRestores: 0, jumpRuleWrites: 0, linkWrites: 0, total: 0 });
  });
});
