// The ipset driver against the real kernel (user-mode Linux 6.1, ipset 7.17): kube-proxy's 17 sets in both
// families round-trip through one restore, entry diffs, wrong headers, foreign sets, cleanup, and the
// figures for a large restore.

import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { IpsetDriver } from '../../../src/kernel/ipset.js';
import { canonicalIpsetEntry } from '../../../src/kernel/ipset-format.js';
import { ipsetEntrySortKey, sortByKey } from '../../../src/model/order.js';
import { allKubeIpsetNames } from '../../../src/model/ipsets.js';
import type { IpsetState } from '../../../src/model/state.js';
import { cmd, ipsetSets, resetNetns, tryCmd } from '../lib/index.js';
import { kubeProxySets } from '../../kernel-tools/fixtures.js';

/** What observe() must return for a desired state: canonical entries, sorted. */
function expected(desired: Record<string, IpsetState>): Record<string, IpsetState> {
  const out: Record<string, IpsetState> = {};
  for (const [name, s] of Object.entries(desired)) {
    const canonical = s.entries.map((e) => canonicalIpsetEntry(s.type, s.family, e)!);
    out[name] = { type: s.type, family: s.family, entries: sortByKey(canonical, (e) => ipsetEntrySortKey(s.type, e)) };
  }
  return out;
}

const bothFamilies = () => ({ ...kubeProxySets(4), ...kubeProxySets(6) });

/**
 * ENTRIES entries over four sets (kube-proxy's maxelem 65536 caps one set): a dual-stack node's service
 * ports and local endpoints. 20k keeps CI quick: user-mode Linux makes every netlink round trip of
 * `ipset restore`/`ipset save` expensive (100k entries: about 2 minutes to restore and 1 to save there,
 * against 2.5 s and 0.9 s on the host kernel). Set it to 100_000 to measure the full figure.
 */
const ENTRIES = 20_000;

function bigDesired(): Record<string, IpsetState> {
  const v4: string[] = [];
  const v4loop: string[] = [];
  const v6: string[] = [];
  const v6loop: string[] = [];
  for (let i = 0; i < ENTRIES / 4; i++) {
    const [a, b] = [(i >> 8) & 255, i & 255];
    v4.push(`10.96.${a}.${b},tcp:${80 + (i % 1000)}`);
    v4loop.push(`10.244.${a}.${b},tcp:8080,10.244.${a}.${b}`);
    v6.push(`fd00:96::${i.toString(16)},udp:${53 + (i % 1000)}`);
    v6loop.push(`fd00:244::${i.toString(16)},tcp:8080,fd00:244::${i.toString(16)}`);
  }
  return {
    'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: v4 },
    'KUBE-LOOP-BACK': { type: 'hash:ip,port,ip', family: 'inet', entries: v4loop },
    'KUBE-6-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet6', entries: v6 },
    'KUBE-6-LOOP-BACK': { type: 'hash:ip,port,ip', family: 'inet6', entries: v6loop },
  };
}

describe('ipset driver', () => {
  beforeEach(resetNetns);
  const driver = new IpsetDriver();

  it('passes kube-proxy\'s version check', async () => {
    assert.match(await driver.checkVersion(), /^v\d+\.\d+$/);
  });

  it('creates all 17 sets of both families with kube-proxy\'s create arguments in one restore, and reads them back', async () => {
    const desired = bothFamilies();
    assert.equal(Object.keys(desired).length, 34);
    const report = await driver.apply(desired, await driver.observe());
    assert.equal(report.restoreRan, true);
    assert.equal(report.created.length, 34);
    assert.deepEqual(report.invalid, []);
    assert.deepEqual(await driver.observe(), expected(desired));
    // Headers exactly as `ipset create NAME TYPE family F hashsize 1024 maxelem 65536` / `range 0-65535` made them.
    const save = await cmd('ipset', ['save']);
    assert.match(save, /^create KUBE-6-LOAD-BALANCER-SOURCE-CID hash:ip,port,net family inet6 hashsize 1024 maxelem 65536\b/m);
    assert.match(save, /^create KUBE-6-NODE-PORT-LOCAL-SCTP-HAS hash:ip,port family inet6 hashsize 1024 maxelem 65536\b/m);
    assert.match(save, /^create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536\b/m);
    assert.match(save, /^create KUBE-6-HEALTH-CHECK-NODE-PORT bitmap:port range 0-65535$/m);
    // The /32 and /128 nets come back with their prefix, as kube-proxy writes them.
    assert.deepEqual((await driver.observe())['KUBE-6-LOAD-BALANCER-SOURCE-CID']?.entries, ['fd00:96::a,tcp:443,2001:db8::9/128', 'fd00:96::a,tcp:443,fd00:1::/64']);
  });

  it('a second apply with nothing changed runs no restore', async () => {
    const desired = bothFamilies();
    await driver.apply(desired);
    const again = await driver.apply(desired, await driver.observe());
    assert.equal(again.restoreRan, false);
    assert.equal(again.lines, 0);
  });

  it('empty sets round-trip too', async () => {
    const desired = kubeProxySets(6, false);
    await driver.apply(desired);
    assert.deepEqual(await driver.observe(), expected(desired));
  });

  it('adds and deletes entries in one restore', async () => {
    const before = bothFamilies();
    await driver.apply(before);
    const after = bothFamilies();
    after['KUBE-CLUSTER-IP']!.entries = ['10.96.0.10,tcp:80', '10.96.0.12,sctp:9'];
    after['KUBE-6-NODE-PORT-TCP']!.entries = ['30000', '31000'];
    after['KUBE-LOAD-BALANCER-SOURCE-CIDR']!.entries = [];
    const report = await driver.apply(after, await driver.observe());
    assert.equal(report.restoreRan, true);
    assert.equal(report.added, 2);
    assert.equal(report.deleted, 1 + 1 + 2);
    assert.deepEqual(report.created, []);
    assert.deepEqual(await driver.observe(), expected(after));
  });

  it('leaves foreign sets alone on apply and on destroyAll', async () => {
    await cmd('ipset', ['create', 'cali40all-ipam-pools', 'hash:net']);
    await cmd('ipset', ['add', 'cali40all-ipam-pools', '10.0.0.0/8']);
    await cmd('ipset', ['create', 'KUBE-DST-ROUTER', 'hash:ip,port', 'family', 'inet']); // kube-router style name
    await driver.apply(bothFamilies());
    assert.equal(Object.keys(await driver.observe()).includes('KUBE-DST-ROUTER'), false);
    const r = await driver.destroyAll();
    assert.deepEqual(r.failed, []);
    assert.deepEqual([...r.destroyed].sort(), [...allKubeIpsetNames()].sort());
    const left = await ipsetSets();
    assert.deepEqual(Object.keys(left).sort(), ['KUBE-DST-ROUTER', 'cali40all-ipam-pools']);
    assert.deepEqual(left['cali40all-ipam-pools']?.entries, ['10.0.0.0/8']);
  });

  it('destroyAll reports a set that iptables still references and destroys the rest', async () => {
    await driver.apply(kubeProxySets(4));
    await cmd('iptables-legacy', ['-A', 'INPUT', '-m', 'set', '--match-set', 'KUBE-IPVS-IPS', 'dst', '-j', 'ACCEPT']);
    const r = await driver.destroyAll();
    assert.deepEqual(r.failed.map((f) => f.name), ['KUBE-IPVS-IPS']);
    assert.equal(r.destroyed.length, 16);
  });

  it('recreates an unreferenced set of the wrong type', async () => {
    await cmd('ipset', ['create', 'KUBE-NODE-PORT-TCP', 'hash:ip,port', 'family', 'inet']);
    await cmd('ipset', ['create', 'KUBE-6-IPVS-IPS', 'hash:ip', 'family', 'inet']); // wrong family
    const desired = { ...kubeProxySets(4), ...kubeProxySets(6) };
    const report = await driver.apply(desired, await driver.observe());
    assert.deepEqual(report.replaced, [{ name: 'KUBE-6-IPVS-IPS', how: 'recreate' }, { name: 'KUBE-NODE-PORT-TCP', how: 'recreate' }]);
    assert.deepEqual(await driver.observe(), expected(desired));
    assert.equal((await driver.apply(desired)).restoreRan, false);
  });

  it('swaps in a correct set under a referenced one with another maxelem, keeping the rule working', async () => {
    await cmd('ipset', ['create', 'KUBE-CLUSTER-IP', 'hash:ip,port', 'family', 'inet', 'maxelem', '100']);
    await cmd('ipset', ['add', 'KUBE-CLUSTER-IP', '10.1.1.1,tcp:1']);
    await cmd('iptables-legacy', ['-A', 'INPUT', '-m', 'set', '--match-set', 'KUBE-CLUSTER-IP', 'dst,dst', '-j', 'ACCEPT']);
    const desired = { 'KUBE-CLUSTER-IP': kubeProxySets(4)['KUBE-CLUSTER-IP']! };
    const report = await driver.apply(desired, await driver.observe());
    assert.deepEqual(report.replaced, [{ name: 'KUBE-CLUSTER-IP', how: 'swap' }]);
    assert.deepEqual(await driver.observe(), expected(desired));
    const header = await cmd('ipset', ['list', '-t', 'KUBE-CLUSTER-IP']);
    assert.match(header, /maxelem 65536/);
    assert.match(header, /References: 1/);
    assert.deepEqual(Object.keys(await ipsetSets()), ['KUBE-CLUSTER-IP'], 'the temporary set is gone');
  });

  it('refuses to replace a referenced set of another type, naming what to do, and leaves it as it was', async () => {
    await cmd('ipset', ['create', 'KUBE-LOOP-BACK', 'hash:ip', 'family', 'inet']);
    await cmd('iptables-legacy', ['-A', 'INPUT', '-m', 'set', '--match-set', 'KUBE-LOOP-BACK', 'dst', '-j', 'ACCEPT']);
    await assert.rejects(driver.apply(kubeProxySets(4)), /KUBE-LOOP-BACK.*hash:ip.*hash:ip,port,ip.*reference/);
    assert.equal((await ipsetSets())['KUBE-LOOP-BACK']?.type, 'hash:ip');
  });

  it('destroys a temporary set left over by an interrupted swap', async () => {
    await cmd('ipset', ['create', 'KUBE-IPVS-SWAP-3', 'hash:ip']);
    await driver.apply(kubeProxySets(4));
    assert.equal((await tryCmd('ipset', ['list', '-n', 'KUBE-IPVS-SWAP-3'])).exitCode !== 0, true);
  });

  it('skips invalid entries (as kube-proxy does) and applies the rest', async () => {
    const desired = { 'KUBE-LOAD-BALANCER-SOURCE-CIDR': { type: 'hash:ip,port,net' as const, family: 'inet' as const, entries: ['1.2.3.4,tcp:80,0.0.0.0/0', '1.2.3.4,tcp:80,10.0.0.0/8'] } };
    const report = await driver.apply(desired);
    assert.deepEqual(report.invalid, ['KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,0.0.0.0/0']);
    assert.deepEqual((await driver.observe())['KUBE-LOAD-BALANCER-SOURCE-CIDR']?.entries, ['1.2.3.4,tcp:80,10.0.0.0/8']);
  });

  it(`figures: one restore of ${ENTRIES} entries, then a no-change observe + apply`, async (t) => {
    const desired = bigDesired();
    let start = performance.now();
    const first = await driver.apply(desired, await driver.observe());
    const restoreMs = performance.now() - start;
    assert.equal(first.added, ENTRIES);
    start = performance.now();
    const observed = await driver.observe();
    const observeMs = performance.now() - start;
    assert.equal(Object.values(observed).reduce((n, s) => n + s.entries.length, 0), ENTRIES);
    start = performance.now();
    const second = await driver.apply(desired, observed);
    const noChangeMs = performance.now() - start;
    assert.equal(second.restoreRan, false);
    const line = `ipset ${ENTRIES} entries (guest): observe+restore ${restoreMs.toFixed(0)} ms, observe ${observeMs.toFixed(0)} ms, no-change apply ${noChangeMs.toFixed(0)} ms`;
    t.diagnostic(line);
    console.log(`FIGURE ${line}`);
  });
});
