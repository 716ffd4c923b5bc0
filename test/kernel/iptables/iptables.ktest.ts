// The iptables driver against the real kernel (user-mode Linux 6.1, iptables 1.8.9): kube-proxy's complete
// payload (every conditional line, -m ipvs included) round-trips for IPv4 and IPv6 so that a second sync
// runs no iptables-restore; jump rules; drift is healed; cleanup leaves other components' chains.
// Backend: legacy. This kernel has nf_tables without its ip/ip6 families, so the nf_tables backend is
// proven on the host kernel instead (test/kernel-tools/host-netns.test.ts); the nft test below skips
// with the reason.

import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { IpsetDriver } from '../../../src/kernel/ipset.js';
import { IptablesDriver, type IptablesState } from '../../../src/kernel/iptables.js';
import { normaliseRestoreTable } from '../../../src/kernel/iptables-normalise.js';
import { cmd, iptablesRules, nftUnsupportedReason, resetNetns } from '../lib/index.js';
import { kubeProxyPayload, kubeProxySets } from '../../kernel-tools/fixtures.js';
import { SAVED_PAYLOAD } from '../../kernel-tools/golden.js';

const desired = (): IptablesState => ({ ipv4: kubeProxyPayload(4), ipv6: kubeProxyPayload(6) });
const ipsets = new IpsetDriver();

async function legacy(families: (4 | 6)[] = [4, 6]): Promise<IptablesDriver> {
  return IptablesDriver.create({ backend: 'legacy', families });
}

/** Sets first: the rules name them. */
async function withSets(): Promise<void> {
  await ipsets.apply({ ...kubeProxySets(4), ...kubeProxySets(6) });
}

describe('iptables driver (legacy backend)', () => {
  beforeEach(resetNetns);

  it('reads the iptables version and --random-fully support', async () => {
    const d = await legacy();
    assert.match(d.version, /^1\.\d+\.\d+$/);
    assert.equal(d.hasRandomFully, true);
  });

  for (const family of [4, 6] as const) {
    it(`IPv${family}: the complete payload round-trips: saved text == normalise(desired) == golden`, async () => {
      await withSets();
      const d = await legacy([family]);
      const want = desired();
      const first = await d.apply(want, await d.observe());
      assert.deepEqual(first.restores.map((r) => r.table), ['nat', 'filter']);
      const observed = await d.observe();
      const key = family === 4 ? 'ipv4' : 'ipv6';
      for (const table of ['nat', 'filter'] as const) {
        assert.equal(observed[key][table], normaliseRestoreTable(want[key][table], family).text, `${key} ${table}`);
        assert.equal(observed[key][table], SAVED_PAYLOAD[key][table], `${key} ${table} golden`);
      }
      const second = await d.apply(want, observed);
      assert.deepEqual(second.restores, [], 'a second sync with nothing changed runs no iptables-restore');
      assert.equal(second.upToDate.length, 2);
    });
  }

  it('both families at once: two restores per family the first time, none the second; other chains untouched', async () => {
    await withSets();
    for (const ipt of ['iptables-legacy', 'ip6tables-legacy']) {
      await cmd(ipt, ['-t', 'nat', '-N', 'CNI-DN-1234']);
      await cmd(ipt, ['-t', 'nat', '-A', 'CNI-DN-1234', '-p', 'tcp', '--dport', '8080', '-j', 'RETURN']);
      await cmd(ipt, ['-t', 'nat', '-A', 'PREROUTING', '-j', 'CNI-DN-1234']);
      await cmd(ipt, ['-t', 'filter', '-A', 'INPUT', '-p', 'tcp', '--dport', '22', '-j', 'ACCEPT']);
    }
    const d = await legacy();
    await d.ensureJumpRules();
    assert.equal((await d.apply(desired(), await d.observe())).restores.length, 4);
    const again = await d.apply(desired(), await d.observe());
    assert.deepEqual(again.restores, []);
    for (const family of [4, 6] as const) {
      const all = await iptablesRules(family, 'legacy');
      assert.deepEqual(all['nat']?.['CNI-DN-1234']?.rules, ['-A CNI-DN-1234 -p tcp -m tcp --dport 8080 -j RETURN']);
      assert.equal(all['nat']?.['PREROUTING']?.rules.at(-1), '-A PREROUTING -j CNI-DN-1234');
      assert.equal(all['filter']?.['INPUT']?.rules.at(-1), '-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT');
    }
  });

  it('jump rules: inserted at the top in kube-proxy order, never duplicated', async () => {
    await cmd('iptables-legacy', ['-A', 'INPUT', '-j', 'ACCEPT']);
    const d = await legacy();
    const first = await d.ensureJumpRules();
    assert.equal(first.inserted.length, 18);
    await d.observe();
    const second = await d.ensureJumpRules();
    assert.deepEqual(second, { inserted: [], chainsCreated: [], checks: 0 });
    const third = await (await legacy()).ensureJumpRules(); // a new driver reads the tables itself
    assert.deepEqual(third, { inserted: [], chainsCreated: [], checks: 0 });
    for (const family of [4, 6] as const) {
      const filter = (await iptablesRules(family, 'legacy', { table: 'filter' }))['filter']!;
      assert.deepEqual(filter['INPUT']?.rules, [
        '-A INPUT -m comment --comment "kubernetes ipvs access filter" -j KUBE-IPVS-FILTER',
        '-A INPUT -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
        '-A INPUT -m comment --comment "kubernetes health check rules" -j KUBE-NODE-PORT',
        ...(family === 4 ? ['-A INPUT -j ACCEPT'] : []),
      ]);
      assert.deepEqual(filter['FORWARD']?.rules, [
        '-A FORWARD -m comment --comment "kube-proxy firewall rules" -j KUBE-PROXY-FIREWALL',
        '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
      ]);
      const nat = (await iptablesRules(family, 'legacy', { table: 'nat' }))['nat']!;
      assert.deepEqual(nat['PREROUTING']?.rules, ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
      assert.deepEqual(nat['OUTPUT']?.rules, ['-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES']);
    }
  });

  it('a rule deleted by hand comes back, and only its table is restored', async () => {
    await withSets();
    const d = await legacy();
    await d.ensureJumpRules();
    await d.apply(desired());
    await cmd('iptables-legacy', ['-t', 'nat', '-D', 'KUBE-SERVICES', '1']);
    await cmd('ip6tables-legacy', ['-t', 'nat', '-D', 'OUTPUT', '-m', 'comment', '--comment', 'kubernetes service portals', '-j', 'KUBE-SERVICES']);
    const observed = await d.observe();
    assert.notEqual(observed.ipv4.nat, SAVED_PAYLOAD.ipv4.nat);
    const jumps = await d.ensureJumpRules();
    assert.deepEqual(jumps.inserted, ['ipv6 nat OUTPUT -> KUBE-SERVICES']);
    assert.equal(jumps.checks, 0);
    const r = await d.apply(desired(), observed);
    assert.deepEqual(r.restores.map((x) => `${x.family} ${x.table}`), ['4 nat']);
    assert.equal((await d.observe()).ipv4.nat, SAVED_PAYLOAD.ipv4.nat);
  });

  it('a rule someone added to one of our chains is removed by the next apply', async () => {
    await withSets();
    const d = await legacy([4]);
    await d.apply(desired());
    await cmd('iptables-legacy', ['-A', 'KUBE-IPVS-FILTER', '-s', '192.0.2.1', '-j', 'ACCEPT']);
    const r = await d.apply(desired(), await d.observe());
    assert.deepEqual(r.restores.map((x) => x.table), ['filter']);
    assert.equal((await d.observe()).ipv4.filter, SAVED_PAYLOAD.ipv4.filter);
  });

  it('names the failing line when the kernel refuses the payload (a set is missing)', async () => {
    const d = await legacy([6]);
    await assert.rejects(d.apply(desired()), (e: Error) => {
      assert.match(e.message, /ip6tables-legacy-restore nat: failed at line \d+ "-A KUBE-POSTROUTING .*--match-set KUBE-6-LOOP-BACK/);
      return true;
    });
  });

  it('cleanup removes our jump rules and chains in both families and leaves everything else', async () => {
    await withSets();
    const d = await legacy();
    await d.ensureJumpRules();
    await d.apply(desired());
    // Other components: kubelet's chains, a CNI chain that jumps to KUBE-MARK-MASQ, plain rules.
    for (const ipt of ['iptables-legacy', 'ip6tables-legacy']) {
      await cmd(ipt, ['-t', 'filter', '-N', 'KUBE-FIREWALL']);
      await cmd(ipt, ['-t', 'filter', '-A', 'KUBE-FIREWALL', '-m', 'mark', '--mark', '0x8000/0x8000', '-j', 'DROP']);
      await cmd(ipt, ['-t', 'filter', '-A', 'INPUT', '-j', 'KUBE-FIREWALL']);
      await cmd(ipt, ['-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY']);
      await cmd(ipt, ['-t', 'filter', '-A', 'FORWARD', '-s', ipt.startsWith('ip6') ? 'fd00::/8' : '10.0.0.0/8', '-j', 'ACCEPT']);
    }
    await cmd('iptables-legacy', ['-t', 'nat', '-N', 'CNI-HOSTPORT-MASQ']);
    await cmd('iptables-legacy', ['-t', 'nat', '-A', 'CNI-HOSTPORT-MASQ', '-j', 'KUBE-MARK-MASQ']);
    await cmd('iptables-legacy', ['-t', 'nat', '-A', 'POSTROUTING', '-j', 'CNI-HOSTPORT-MASQ']);

    const r = await d.cleanup();
    assert.deepEqual(r.errors, []);
    assert.equal(r.jumpRulesDeleted.length, 18);
    assert.deepEqual(r.chainsKept, [{ where: 'legacy ipv4 nat', chain: 'KUBE-MARK-MASQ', reason: 'referenced from CNI-HOSTPORT-MASQ' }]);
    assert.equal(r.chainsDeleted.length, 22 - 1);

    const after = await d.observe();
    assert.equal(after.ipv4.nat, '*nat\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000\nCOMMIT\n');
    assert.deepEqual([after.ipv4.filter, after.ipv6.nat, after.ipv6.filter], ['', '', '']);
    for (const family of [4, 6] as const) {
      const all = await iptablesRules(family, 'legacy');
      assert.deepEqual(all['filter']?.['KUBE-FIREWALL']?.rules, ['-A KUBE-FIREWALL -m mark --mark 0x8000/0x8000 -j DROP']);
      assert.deepEqual(all['filter']?.['INPUT']?.rules, ['-A INPUT -j KUBE-FIREWALL']);
      assert.equal(all['filter']?.['FORWARD']?.rules.length, 1);
      assert.ok(all['mangle']?.['KUBE-KUBELET-CANARY'], 'kubelet canary kept');
    }
    assert.deepEqual((await iptablesRules(4, 'legacy'))['nat']?.['POSTROUTING']?.rules, ['-A POSTROUTING -j CNI-HOSTPORT-MASQ']);
    // With the rules gone, every set can go too; a second cleanup finds nothing more to do.
    assert.deepEqual((await ipsets.destroyAll()).failed, []);
    const again = await d.cleanup();
    assert.deepEqual([again.jumpRulesDeleted, again.chainsDeleted, again.errors], [[], [], []]);
  });

  it('detects the legacy backend from kubelet\'s canary chain', async () => {
    await cmd('iptables-legacy', ['-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY']);
    const d = await IptablesDriver.create({ backend: 'auto' });
    assert.equal(d.backend, 'legacy');
    assert.match(d.backendReason, /legacy/);
  });

  it('figures: a no-change observe + ensureJumpRules + apply of both families', async (t) => {
    await withSets();
    const d = await legacy();
    await d.ensureJumpRules();
    await d.apply(desired());
    const start = performance.now();
    const observed = await d.observe();
    const jumps = await d.ensureJumpRules();
    const r = await d.apply(desired(), observed);
    const ms = performance.now() - start;
    assert.equal(jumps.checks, 0);
    assert.deepEqual(r.restores, []);
    const line = `iptables no-change sync (guest, legacy, 2 families x 2 tables): ${ms.toFixed(0)} ms`;
    t.diagnostic(line);
    console.log(`FIGURE ${line}`);
  });
});

describe('iptables driver (nf_tables backend)', () => {
  beforeEach(resetNetns);

  it('the complete payload round-trips', async (t) => {
    const reason = await nftUnsupportedReason();
    if (reason) return t.skip(`${reason}; proven on the host kernel by test/kernel-tools/host-netns.test.ts`);
    await withSets();
    const d = await IptablesDriver.create({ backend: 'nft' });
    await d.apply(desired());
    const observed = await d.observe();
    assert.equal(observed.ipv4.filter, SAVED_PAYLOAD.ipv4.filter);
    assert.deepEqual((await d.apply(desired(), observed)).restores, []);
  });
});
