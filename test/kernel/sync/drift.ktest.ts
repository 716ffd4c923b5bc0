// Drift healing with `kube-ipvs sync`, in the real kernel: someone deletes by hand a virtual server, a real server,
// an address on kube-ipvs0, a set member, a rule of a KUBE chain and a jump rule, changes a weight and adds a real
// server of their own to one of kube-ipvs's virtual servers; the next sync puts back exactly what is desired.

import assert from 'node:assert/strict';
import { before, describe, it } from 'node:test';
import { cmd, createPodNetwork, ipsetSets, ipvsadmServices, iptablesRules, linkAddresses, resetNetns } from '../lib/index.js';
import { addNodeInterface, planVersusKernel, realisticObjects, sync, writeObjects } from './fixtures.js';

let file: string;

before(async () => {
  await resetNetns();
  await addNodeInterface();
  await createPodNetwork();
  file = writeObjects(realisticObjects());
  await sync(file);
});

const PORTALS = ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES'];

describe('kube-ipvs sync heals drift', () => {
  it('restores every object deleted or changed by hand, and removes a real server it does not want', async () => {
    await cmd('ipvsadm', ['-D', '-t', '10.96.0.53:53']); // kube-dns TCP virtual server (with its 2 real servers)
    await cmd('ipvsadm', ['-d', '-t', '10.96.0.10:80', '-r', '10.244.0.3:8080']); // a real server
    await cmd('ipvsadm', ['-e', '-t', '10.96.0.75:80', '-r', '10.244.0.75:8080', '-m', '-w', '5']); // a weight
    await cmd('ipvsadm', ['-a', '-t', '10.96.0.60:80', '-r', '10.244.0.99:8080', '-m']); // someone else's real server
    await cmd('ip', ['addr', 'del', '10.96.0.40/32', 'dev', 'kube-ipvs0']); // an address
    await cmd('ipset', ['del', 'KUBE-CLUSTER-IP', '10.96.0.70,sctp:3868']); // a set member
    await cmd('iptables-legacy', ['-t', 'nat', '-D', 'KUBE-SERVICES', '1']); // a rule of one of our chains
    await cmd('iptables-legacy', ['-t', 'nat', '-D', 'OUTPUT', ...PORTALS]); // a jump rule
    assert.notDeepEqual(await planVersusKernel(file), [], 'the kernel drifted');

    const r = await sync(file);
    const line = r.stdout.trim();
    assert.match(line, /^sync: ipvs: \+1 services, \+3 ~1 -1 real servers; addresses \+1; ipset \+1 entries; iptables 1 table rewritten, jump rules ensured in 1 table \(\d+\.\d\d s\)$/);

    const vs = new Map((await ipvsadmServices()).map((s) => [s.key, s]));
    const rs = (key: string) => vs.get(key)?.realServers.map((x) => `${x.address}:${x.port}/${x.weight}`).sort();
    assert.deepEqual(rs('TCP/10.96.0.53:53'), ['10.244.0.20:53/1', '10.244.0.21:53/1']);
    assert.deepEqual(rs('TCP/10.96.0.10:80'), ['10.244.0.2:8080/1', '10.244.0.3:8080/1']);
    assert.deepEqual(rs('TCP/10.96.0.75:80'), ['10.244.0.75:8080/1']);
    assert.deepEqual(rs('TCP/10.96.0.60:80'), ['10.244.0.60:8080/1', '10.244.0.61:8080/1'], 'a real server with no connections is deleted at once');
    assert.ok((await linkAddresses('kube-ipvs0')).includes('10.96.0.40'));
    assert.ok((await ipsetSets())['KUBE-CLUSTER-IP']!.entries.includes('10.96.0.70,sctp:3868'));
    const nat = (await iptablesRules(4, 'legacy', { table: 'nat' }))['nat']!;
    assert.equal(nat['OUTPUT']!.rules.filter((x) => x.includes('-j KUBE-SERVICES')).length, 1, 'the jump rule is back, once');
    assert.deepEqual(await planVersusKernel(file), []);
  });

  it('puts kube-ipvs0 back when it was deleted with everything on it', async () => {
    await cmd('ip', ['link', 'del', 'kube-ipvs0']);
    const r = await sync(file);
    assert.match(r.stdout, /addresses \+\d+/);
    assert.deepEqual(await planVersusKernel(file), []);
  });

  it('replaces a KUBE-* set that exists with the wrong type (left behind by something else) and fills it', async () => {
    await resetNetns();
    await addNodeInterface();
    await createPodNetwork();
    await cmd('ipset', ['create', 'KUBE-LOOP-BACK', 'hash:ip']);
    await cmd('ipset', ['add', 'KUBE-LOOP-BACK', '10.1.1.1']);
    const r = await sync(file);
    assert.match(r.stderr, /KUBE-LOOP-BACK: observed: set is hash:ip inet, desired hash:ip,port,ip inet/);
    const set = (await ipsetSets())['KUBE-LOOP-BACK']!;
    assert.equal(set.type, 'hash:ip,port,ip');
    assert.ok(set.entries.includes('10.244.0.2,tcp:8080,10.244.0.2'), set.entries.join(' '));
    assert.ok(!set.entries.includes('10.1.1.1'));
    assert.deepEqual(await planVersusKernel(file), []);
  });
});
