// Proof that the guest is what the project stands on: a real kernel with IPVS reachable over generic netlink,
// dummy links, ipset and iptables, each test file in a fresh namespace, and a real TCP/UDP data path through an
// IPVS virtual server on kube-ipvs0 to pods in other namespaces. Also checks the test helpers themselves.

import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createGenericNetlink, genl } from 'netlink';
import {
  cmd, createPodNetwork, ipsetSets, ipvsadmServices, ipvsadmStats, iptablesRules, iptablesCommand, link, links,
  nftUnsupportedReason, ipvsSchedulerAvailable, resetNetns, sysctlValue, tcpRequest, tryCmd, udpRequest, waitFor, withNetns,
  type Pod, type PodNetwork,
} from '../lib/index.js';

describe('guest kernel', () => {
  beforeEach(resetNetns);

  it('runs this file in its own fresh network namespace', async () => {
    const ns = process.env.KUBE_IPVS_KTEST_NETNS;
    assert.ok(ns, 'KUBE_IPVS_KTEST_NETNS is set by the in-guest runner');
    assert.equal((await cmd('ip', ['netns', 'identify', String(process.pid)])).trim(), ns);
    assert.deepEqual((await links()).map((l) => l.name), ['lo']);
    assert.equal((await cmd('uname', ['-r'])).trim().startsWith('6.1.'), true);
  });

  it('resolves the IPVS generic netlink family', async () => {
    const sock = createGenericNetlink();
    try {
      const [family] = await sock.ctrlRequest(genl.Commands.GET_FAMILY, { familyName: 'IPVS' });
      assert.ok(family && typeof family.familyId === 'number' && family.familyId > 0x10, `family id ${family?.familyId}`);
      assert.equal(family.familyName, 'IPVS');
    } finally {
      sock.socket.close();
    }
  });

  it('ipvsadm creates a NAT virtual server that ipvsadm reads back', async () => {
    await cmd('ipvsadm', ['-A', '-t', '10.96.0.10:80', '-s', 'rr']);
    await cmd('ipvsadm', ['-a', '-t', '10.96.0.10:80', '-r', '10.244.0.2:8080', '-m', '-w', '3']);
    await cmd('ipvsadm', ['-A', '-u', '[fd00::a]:53', '-s', 'sh', '-b', 'sh-fallback,sh-port', '-p', '300']);
    assert.deepEqual(await ipvsadmServices(), [
      { key: 'TCP/10.96.0.10:80', protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0,
        realServers: [{ address: '10.244.0.2', port: 8080, weight: 3, method: 'masq' }] },
      { key: 'UDP/[fd00::a]:53', protocol: 'UDP', address: 'fd00::a', port: 53, scheduler: 'sh', flags: 1 | 8 | 16,
        timeout: 300, realServers: [] },
    ]);
  });

  it('has every IPVS scheduler kube-proxy accepts except twos', async () => {
    const schedulers = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'mh', 'fo', 'ovf'];
    for (const [i, s] of schedulers.entries()) await cmd('ipvsadm', ['-A', '-t', `10.96.1.${i + 1}:80`, '-s', s]);
    assert.deepEqual((await ipvsadmServices()).map((v) => v.scheduler).sort(), [...schedulers].sort());
  });

  it('has the twos scheduler', async (t) => {
    if (!(await ipvsSchedulerAvailable('twos'))) return t.skip('ip_vs_twos is not built for this kernel (CONFIG_IP_VS_TWOS unset)');
    await cmd('ipvsadm', ['-A', '-t', '10.96.2.1:80', '-s', 'twos']);
  });

  it('creates the dummy link kube-ipvs0 as kube-proxy leaves it: DOWN and NOARP', async () => {
    await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
    await cmd('ip', ['addr', 'add', '10.96.0.10/32', 'dev', 'kube-ipvs0']);
    const l = await link('kube-ipvs0');
    assert.equal(l?.kind, 'dummy');
    assert.ok(l.flags.includes('NOARP'), `flags ${l.flags}`);
    assert.ok(!l.flags.includes('UP'), `flags ${l.flags}`);
    assert.deepEqual(l.addresses, ['10.96.0.10/32']);
  });

  it('ipset keeps kube-proxy set types and members', async () => {
    await cmd('ipset', ['create', 'KUBE-CLUSTER-IP', 'hash:ip,port', 'family', 'inet', 'comment']);
    await cmd('ipset', ['add', 'KUBE-CLUSTER-IP', '10.96.0.10,tcp:80', 'comment', 'default/web:http']);
    await cmd('ipset', ['create', 'KUBE-NODE-PORT-TCP', 'bitmap:port', 'range', '0-65535']);
    await cmd('ipset', ['add', 'KUBE-NODE-PORT-TCP', '30080']);
    await cmd('ipset', ['create', 'KUBE-6-LOOP-BACK', 'hash:ip,port,ip', 'family', 'inet6']);
    await cmd('ipset', ['add', 'KUBE-6-LOOP-BACK', 'fd00::5,tcp:80,fd00::5']);
    const sets = await ipsetSets();
    assert.deepEqual(sets['KUBE-CLUSTER-IP']?.entries, ['10.96.0.10,tcp:80']);
    assert.deepEqual(sets['KUBE-CLUSTER-IP']?.comments, { '10.96.0.10,tcp:80': 'default/web:http' });
    assert.deepEqual(sets['KUBE-NODE-PORT-TCP']?.entries, ['30080']);
    assert.equal(sets['KUBE-6-LOOP-BACK']?.family, 'inet6');
    assert.deepEqual(sets['KUBE-6-LOOP-BACK']?.entries, ['fd00::5,tcp:80,fd00::5']);
  });

  for (const family of [4, 6] as const) {
    it(`${iptablesCommand(family, 'legacy')}: restore --noflush and save round trip with set, comment and mark matches`, async () => {
      const set = family === 4 ? 'KUBE-CLUSTER-IP' : 'KUBE-6-CLUSTER-IP';
      await cmd('ipset', ['create', set, 'hash:ip,port', 'family', family === 4 ? 'inet' : 'inet6']);
      const rules = [
        '*nat',
        ':KUBE-SERVICES - [0:0]',
        ':KUBE-MARK-MASQ - [0:0]',
        '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
        `-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set ${set} dst,dst -j KUBE-MARK-MASQ`,
        '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000',
        'COMMIT',
        '',
      ].join('\n');
      await cmd(iptablesCommand(family, 'legacy', '-restore'), ['--noflush'], { stdin: rules });
      const nat = (await iptablesRules(family, 'legacy'))['nat']!;
      assert.equal(nat['KUBE-MARK-MASQ']?.policy, '-');
      assert.deepEqual(nat['KUBE-MARK-MASQ']?.rules, ['-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000']);
      assert.match(nat['KUBE-SERVICES']!.rules[0]!, new RegExp(`--match-set ${set} dst,dst -j KUBE-MARK-MASQ$`));
      assert.deepEqual(nat['PREROUTING']?.rules, ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
    });
  }

  it('iptables-nft: restore and save round trip', async (t) => {
    const reason = await nftUnsupportedReason();
    if (reason) return t.skip(reason);
    await cmd('iptables-nft-restore', ['--noflush'], { stdin: '*filter\n:KUBE-FIREWALL - [0:0]\n-A INPUT -j KUBE-FIREWALL\nCOMMIT\n' });
    assert.deepEqual((await iptablesRules(4, 'nft'))['filter']?.['INPUT']?.rules, ['-A INPUT -j KUBE-FIREWALL']);
  });

  it('resetNetns leaves nothing behind', async () => {
    await cmd('ipvsadm', ['-A', '-t', '10.96.0.10:80', '-s', 'rr']);
    await cmd('ipvsadm', ['--set', '10', '20', '30']);
    await cmd('ipset', ['create', 'KUBE-X', 'hash:ip']);
    await cmd('iptables-legacy-restore', ['--noflush'], { stdin: '*nat\n:KUBE-X - [0:0]\n-A OUTPUT -m set --match-set KUBE-X dst -j KUBE-X\nCOMMIT\n' });
    await cmd('ip6tables-legacy-restore', ['--noflush'], { stdin: '*filter\n:KUBE-Y - [0:0]\n-A INPUT -j KUBE-Y\nCOMMIT\n' });
    await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
    await cmd('ip', ['link', 'add', 'va', 'type', 'veth', 'peer', 'name', 'vb']);
    await cmd('ip', ['addr', 'add', '127.0.0.5/8', 'dev', 'lo']);
    await cmd('sh', ['-c', 'echo 1 > /proc/sys/net/ipv4/vs/conntrack']);
    await withNetns('kt-reset-probe', async () => {
      await resetNetns(); // also tears down namespaces made through the helpers, including this one
    });
    assert.deepEqual(await ipvsadmServices(), []);
    assert.match(await cmd('ipvsadm', ['-Ln', '--timeout']), /900 120 300/);
    assert.deepEqual(await ipsetSets(), {});
    for (const family of [4, 6] as const) {
      for (const [table, chains] of Object.entries(await iptablesRules(family, 'legacy'))) {
        for (const [name, chain] of Object.entries(chains)) {
          assert.notEqual(chain.policy, '-', `user chain ${name} left in ${table}`);
          assert.deepEqual(chain.rules, [], `rules left in ${table}/${name}`);
        }
      }
    }
    const all = await links();
    assert.deepEqual(all.map((l) => l.name), ['lo']);
    assert.deepEqual(all[0]!.addresses.sort(), ['127.0.0.1/8', '::1/128']);
    assert.equal(await sysctlValue('net/ipv4/vs/conntrack'), '0');
    assert.equal((await tryCmd('ip', ['netns', 'pids', 'kt-reset-probe'])).exitCode !== 0, true, 'namespace deleted');
  });
});

describe('data path through IPVS', () => {
  let net: PodNetwork;
  let pods: Pod[];

  before(async () => {
    await resetNetns();
    net = await createPodNetwork();
    pods = [await net.addPod('web-1'), await net.addPod('web-2')];
    await Promise.all(pods.map((p) => p.serve({ tcp: [8080], udp: [5353] })));
    // kube-proxy's layout: the ClusterIP on the dummy kube-ipvs0 (DOWN, NOARP), NAT real servers.
    await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
    await cmd('ip', ['addr', 'add', '10.96.0.10/32', 'dev', 'kube-ipvs0']);
    await cmd('ip', ['-6', 'addr', 'add', 'fd00:10:96::10/128', 'dev', 'kube-ipvs0']);
  });
  after(resetNetns);
  beforeEach(async () => {
    await cmd('ipvsadm', ['-C']);
  });

  it('pods answer directly over the bridge', async () => {
    const r = await tcpRequest(pods[0]!.ipv4!, 8080, 'direct');
    assert.equal(r.pod, 'web-1');
    assert.equal(r.client, net.gateway4);
  });

  it('a TCP ClusterIP on kube-ipvs0 is load balanced round robin across both pods', async () => {
    await cmd('ipvsadm', ['-A', '-t', '10.96.0.10:80', '-s', 'rr']);
    for (const p of pods) await cmd('ipvsadm', ['-a', '-t', '10.96.0.10:80', '-r', `${p.ipv4}:8080`, '-m']);
    const answers: string[] = [];
    for (let i = 0; i < 4; i++) answers.push((await tcpRequest('10.96.0.10', 80, `req-${i}`)).pod);
    assert.deepEqual([...answers].sort(), ['web-1', 'web-1', 'web-2', 'web-2']);
    assert.notEqual(answers[0], answers[1], 'round robin alternates');
    // Counters reach ipvsadm through the 2-second rate estimator in 6.1.
    await waitFor(async () => (await ipvsadmStats()).get('TCP/10.96.0.10:80')?.conns === 4, { what: 'IPVS counted 4 connections' });
  });

  it('a UDP ClusterIP reaches a pod', async () => {
    await cmd('ipvsadm', ['-A', '-u', '10.96.0.10:53', '-s', 'rr']);
    await cmd('ipvsadm', ['-a', '-u', '10.96.0.10:53', '-r', `${pods[1]!.ipv4}:5353`, '-m']);
    const r = await udpRequest('10.96.0.10', 53, 'dns?');
    assert.equal(r.pod, 'web-2');
    assert.equal(r.data, 'dns?');
  });

  it('an IPv6 TCP ClusterIP on kube-ipvs0 reaches a pod', async () => {
    await cmd('ipvsadm', ['-A', '-t', '[fd00:10:96::10]:80', '-s', 'rr']);
    await cmd('ipvsadm', ['-a', '-t', '[fd00:10:96::10]:80', '-r', `[${pods[0]!.ipv6}]:8080`, '-m']);
    const r = await tcpRequest('fd00:10:96::10', 80, 'v6');
    assert.equal(r.pod, 'web-1');
  });

  it('a client in another namespace reaches a pod by its address', async () => {
    const r = await pods[0]!.request('tcp', pods[1]!.ipv4!, 8080, 'east-west');
    assert.equal(r.pod, 'web-2');
    assert.equal(r.client, pods[0]!.ipv4);
  });
});
