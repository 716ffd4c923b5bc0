// What `kube-ipvs sync` must never touch, and what it must remove, in the real kernel:
//   - a foreign IPVS service (address on no interface kube-ipvs owns, made with ipvsadm) survives every sync;
//   - a virtual server and a kube-ipvs0 address inside --ipvs-exclude-cidrs survive every sync;
//   - a Service that is gone takes its virtual servers, kube-ipvs0 addresses and set members with it;
//   - a malformed Service is reported on stderr and skipped; the others are programmed and the sync exits 0.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cmd, createPodNetwork, ipsetSets, ipvsadmServices, linkAddresses, resetNetns } from '../lib/index.js';
import { addNodeInterface, kubeIpvs, NODE, NODE_IP, planVersusKernel, realisticObjects, service, sync, writeObjects } from './fixtures.js';

const EXCLUDE = ['--ipvs-exclude-cidrs', '10.96.200.0/24'];
const FOREIGN = 'TCP/192.0.2.1:80';
const EXCLUDED = 'TCP/10.96.200.1:80';

before(async () => {
  await resetNetns();
  await addNodeInterface();
  await createPodNetwork();
  // Another tool's load balancer, on an address that is on no interface.
  await cmd('ipvsadm', ['-A', '-t', '192.0.2.1:80', '-s', 'wlc']);
  await cmd('ipvsadm', ['-a', '-t', '192.0.2.1:80', '-r', '10.244.0.200:80', '-m']);
  // An excluded service on kube-ipvs0 itself (it looks exactly like one of ours but for the exclusion).
  await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
  await cmd('ip', ['addr', 'add', '10.96.200.1/32', 'dev', 'kube-ipvs0']);
  await cmd('ipvsadm', ['-A', '-t', '10.96.200.1:80', '-s', 'rr']);
  await cmd('ipvsadm', ['-a', '-t', '10.96.200.1:80', '-r', '10.244.0.201:80', '-m']);
});

async function survivors(): Promise<void> {
  const vs = new Map((await ipvsadmServices()).map((s) => [s.key, s]));
  assert.equal(vs.get(FOREIGN)?.scheduler, 'wlc', 'foreign virtual server kept as it was');
  assert.deepEqual(vs.get(FOREIGN)?.realServers.map((r) => r.address), ['10.244.0.200']);
  assert.deepEqual(vs.get(EXCLUDED)?.realServers.map((r) => r.address), ['10.244.0.201'], 'excluded virtual server kept with its real server');
  assert.ok((await linkAddresses('kube-ipvs0')).includes('10.96.200.1'), 'excluded address kept on kube-ipvs0');
}

const foreign = { foreign: [FOREIGN, EXCLUDED], foreignAddresses: ['10.96.200.1'] };

describe('kube-ipvs sync and ownership', () => {
  it('leaves a foreign virtual server and an excluded one alone while programming the node', async () => {
    const file = writeObjects(realisticObjects());
    await sync(file, EXCLUDE);
    await survivors();
    assert.deepEqual(await planVersusKernel(file, EXCLUDE, foreign), []);
  });

  it('removes what a deleted Service had (virtual servers, addresses, set members), and still nothing foreign', async () => {
    const gone = new Set(['external', 'nodeport']);
    const objects = realisticObjects().filter((o) => {
      const m = o.metadata;
      const owner = (m?.labels?.['kubernetes.io/service-name'] ?? m?.name) as string;
      return !(m?.namespace === 'default' && gone.has(owner));
    });
    const file = writeObjects(objects);
    const r = await sync(file, EXCLUDE);
    // The node-port sets are now empty, so (as kube-proxy) the nat rules that match them go: one table rewritten.
    assert.match(r.stdout, /^sync: ipvs: -\d+ services; addresses -3; ipset -\d+ entries; iptables 1 table rewritten \(\d+\.\d\d s\)\n$/);
    const keys = new Set((await ipvsadmServices()).map((s) => s.key));
    for (const k of ['TCP/10.96.0.40:443', 'TCP/203.0.113.10:443', 'TCP/10.96.0.30:80', 'UDP/10.96.0.30:81', `TCP/${NODE_IP}:30080`, `UDP/${NODE_IP}:30081`]) {
      assert.ok(!keys.has(k), `${k} removed`);
    }
    assert.ok(keys.has('TCP/10.96.0.10:80'), 'the other Services stay');
    const addrs = await linkAddresses('kube-ipvs0');
    assert.ok(!addrs.includes('10.96.0.40') && !addrs.includes('203.0.113.10') && !addrs.includes('10.96.0.30'), addrs.join(' '));
    const sets = await ipsetSets();
    assert.ok(!sets['KUBE-CLUSTER-IP']!.entries.includes('10.96.0.40,tcp:443'));
    assert.ok(!sets['KUBE-EXTERNAL-IP']!.entries.includes('203.0.113.10,tcp:443'));
    assert.ok(!sets['KUBE-NODE-PORT-TCP']!.entries.includes('30080'));
    assert.ok(!sets['KUBE-NODE-PORT-UDP']!.entries.includes('30081'));
    assert.ok(!sets['KUBE-IPVS-IPS']!.entries.includes('10.96.0.40'));
    await survivors();
    assert.deepEqual(await planVersusKernel(file, EXCLUDE, foreign), []);
  });

  it('skips a malformed Service with a diagnostic on stderr, programs the others and exits 0', async () => {
    const bad = [
      service('default', 'bad-ip', { type: 'ClusterIP', clusterIP: 'not-an-ip', ports: [{ protocol: 'TCP', port: 80 }] }),
      service('default', 'bad-port', { type: 'ClusterIP', clusterIP: '10.96.0.99', ports: [{ protocol: 'TCP', port: 70000 }] }),
      service('default', 'fresh', { type: 'ClusterIP', clusterIP: '10.96.0.98', ports: [{ protocol: 'UDP', port: 5353 }] }),
    ];
    const file = writeObjects([...realisticObjects(), ...bad]);
    const r = await kubeIpvs(['sync', '--hostname-override', NODE, '--objects', file, ...EXCLUDE]);
    assert.equal(r.exitCode, 0, r.stderr);
    assert.match(r.stderr, /warning: Service default\/bad-ip: /);
    assert.match(r.stderr, /warning: Service default\/bad-port: /);
    assert.match(r.stdout, /^sync: ipvs: \+\d+ services/);
    const keys = new Set((await ipvsadmServices()).map((s) => s.key));
    assert.ok(keys.has('UDP/10.96.0.98:5353'), 'the valid new Service is programmed');
    assert.ok(keys.has('TCP/10.96.0.40:443'), 'the Services removed before are back');
    assert.ok(![...keys].some((k) => k.includes('10.96.0.99')), 'nothing from the malformed one');
    await survivors();
    assert.deepEqual(await planVersusKernel(file, EXCLUDE, foreign), []);
  });
});
