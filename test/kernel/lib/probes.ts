// What the guest kernel can do, for tests that must skip (visibly, with the reason) where it cannot.
// Debian's user-mode Linux 6.1 has nf_tables without its ip/ip6/inet families, so iptables-nft cannot create
// tables there; and it lacks the ip_vs_twos scheduler.

import { readFileSync, writeFileSync } from 'node:fs';
import { inGuest, tryCmd } from './exec.js';

/** Guest-wide cache (its /tmp is a tmpfs shared by the test files of one boot): probes cost process starts. */
async function cached(key: string, probe: () => Promise<string>): Promise<string> {
  const file = `/tmp/kube-ipvs-probe-${key}`;
  if (inGuest()) {
    try {
      return readFileSync(file, 'utf8');
    } catch {
      /* first time */
    }
  }
  const value = await probe();
  if (inGuest()) writeFileSync(file, value);
  return value;
}

let nft: Promise<string | undefined> | undefined;

/**
 * undefined when iptables-nft can create a table here, else the reason it cannot. Probed once per process, in a
 * throwaway namespace so the probe leaves nothing behind in the test's own.
 */
export function nftUnsupportedReason(): Promise<string | undefined> {
  nft ??= cached('nft', async () => {
    const ns = `probe-nft-${process.pid}`;
    await tryCmd('ip', ['netns', 'add', ns]);
    try {
      const r = await tryCmd('iptables-nft', ['-t', 'filter', '-N', 'KUBE-IPVS-PROBE'], { netns: ns });
      if (r.exitCode === 0) return '';
      return `iptables-nft cannot create tables in this kernel (${r.stderr.trim().split('\n')[0]})`;
    } finally {
      await tryCmd('ip', ['netns', 'del', ns]);
    }
  }).then((reason) => reason || undefined);
  return nft;
}

/** True when the IPVS scheduler can be used here (its module loaded or loadable). */
export async function ipvsSchedulerAvailable(name: string): Promise<boolean> {
  const ns = `probe-sched-${process.pid}`;
  await tryCmd('ip', ['netns', 'add', ns]);
  try {
    const r = await tryCmd('ipvsadm', ['-A', '-t', '10.255.255.254:1', '-s', name], { netns: ns });
    return r.exitCode === 0;
  } finally {
    await tryCmd('ip', ['netns', 'del', ns]);
  }
}
