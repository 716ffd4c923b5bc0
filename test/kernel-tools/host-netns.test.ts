// The drivers against the HOST kernel, inside a scratch network namespace this test creates and deletes.
// Why here and not only in the guest: the user-mode Linux guest's kernel has nf_tables without its ip/ip6
// families, so the nf_tables backend can only be proven on a kernel that has them. The host has no IPVS,
// so the payload's `-m ipvs` rules are left out here (the guest covers them with the legacy backend).
// Skipped (with the reason) when not root or when the tools or namespaces are unavailable.

import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { runTool } from '../../src/kernel/exec.js';
import { IpsetDriver } from '../../src/kernel/ipset.js';
import { IptablesDriver, type IptablesState } from '../../src/kernel/iptables.js';
import { kubeProxyPayload, kubeProxySets } from './fixtures.js';
import { SAVED_PAYLOAD } from './golden.js';

const NS = `kipvs-drv-${process.pid}`;

async function unavailable(): Promise<string | undefined> {
  if (process.getuid?.() !== 0) return 'needs root (network namespaces, iptables, ipset)';
  for (const [prog, args] of [['ip', ['-V']], ['ipset', ['--version']], ['iptables-nft', ['--version']], ['iptables-legacy', ['--version']]] as const) {
    const r = await runTool(prog, args).catch(() => undefined);
    if (!r || r.exitCode !== 0) return `${prog} is not installed`;
  }
  const add = await runTool('ip', ['netns', 'add', NS]);
  if (add.exitCode !== 0) return `cannot create a network namespace: ${add.stderr.trim()}`;
  const probe = await runTool('ip', ['netns', 'exec', NS, 'iptables-nft', '-t', 'nat', '-N', 'KUBE-PROBE']);
  if (probe.exitCode !== 0) return `iptables-nft does not work on this kernel: ${probe.stderr.trim()}`;
  await runTool('ip', ['netns', 'exec', NS, 'iptables-nft', '-t', 'nat', '-X', 'KUBE-PROBE']);
  return undefined;
}

const withoutIpvs = (text: string) => text.split('\n').filter((l) => !l.includes(' -m ipvs ')).join('\n');
const desired = (): IptablesState => ({ ipv4: kubeProxyPayload(4, { ipvsMatch: false }), ipv6: kubeProxyPayload(6, { ipvsMatch: false }) });

describe('drivers on the host kernel (scratch network namespace)', async () => {
  const reason = await unavailable();
  after(async () => {
    await runTool('ip', ['netns', 'del', NS]);
  });

  const ipsets = new IpsetDriver({ netns: NS });
  before(async () => {
    if (reason) return;
    await ipsets.apply({ ...kubeProxySets(4), ...kubeProxySets(6) });
  });

  for (const backend of ['nft', 'legacy'] as const) {
    it(`${backend}: the payload of both families round-trips and a second sync runs no restore`, { skip: reason }, async () => {
      const d = await IptablesDriver.create({ backend, netns: NS });
      assert.equal(d.backend, backend);
      await d.ensureJumpRules();
      const first = await d.apply(desired(), await d.observe());
      assert.equal(first.restores.length, 4);
      const observed = await d.observe();
      for (const key of ['ipv4', 'ipv6'] as const) {
        for (const table of ['nat', 'filter'] as const) {
          assert.equal(observed[key][table], withoutIpvs(SAVED_PAYLOAD[key][table]), `${backend} ${key} ${table}`);
        }
      }
      assert.deepEqual((await d.ensureJumpRules()).checks, 0);
      assert.deepEqual((await d.apply(desired(), observed)).restores, []);
    });
  }

  it('auto-detection picks nft by default and legacy when kubelet\'s canary is there', { skip: reason }, async () => {
    assert.equal((await IptablesDriver.create({ netns: NS })).backend, 'nft');
    await runTool('ip', ['netns', 'exec', NS, 'iptables-legacy', '-t', 'mangle', '-N', 'KUBE-KUBELET-CANARY']);
    assert.equal((await IptablesDriver.create({ netns: NS })).backend, 'legacy');
    await runTool('ip', ['netns', 'exec', NS, 'iptables-nft', '-t', 'mangle', '-N', 'KUBE-IPTABLES-HINT']);
    assert.equal((await IptablesDriver.create({ netns: NS })).backend, 'nft');
  });

  it('cleanup on both backends removes every chain of ours, then every set can be destroyed', { skip: reason }, async () => {
    const d = await IptablesDriver.create({ backend: 'nft', netns: NS });
    const r = await d.cleanup({ backends: ['nft', 'legacy'] });
    assert.deepEqual(r.errors, []);
    assert.equal(r.chainsDeleted.length, 44);
    assert.equal(r.jumpRulesDeleted.length, 36);
    const destroyed = await ipsets.destroyAll();
    assert.deepEqual(destroyed.failed, []);
    assert.equal(destroyed.destroyed.length, 34);
  });
});
