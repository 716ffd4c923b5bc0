// Network namespaces for kernel tests. Every ktest file already runs in its own fresh namespace (guest-main);
// these helpers keep tests inside one file independent of each other:
// - resetNetns(): bring the current namespace back to pristine (call it in beforeEach);
// - withNetns(name, fn): a separate fresh namespace for code that must run elsewhere (`ip netns exec`),
//   destroyed (processes killed) afterwards.

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { destroyNetns, ownedNetns } from '../../../src/sandbox/pods.js';
import { cmd, tryCmd } from './exec.js';
import { deleteLinksExceptLo, ipsetDestroyAll, ipvsFlushAndDefaultTimeouts, loFingerprint } from './netlink-reset.js';
import { nftUnsupportedReason } from './probes.js';
import { iptablesCommand, type IptablesBackend } from './readers.js';

// ---------------------------------------------------------------- namespaces made by tests

// createNetns / destroyNetns / withNetns live with the sandbox's pods (src/sandbox/pods.ts), which remembers
// every namespace it made until destroyed: resetNetns() destroys what a test left.
export { createNetns, destroyNetns, withNetns, type Netns } from '../../../src/sandbox/pods.js';

/** Name prefix for namespaces created by this test file, unique in the guest (kt-3-...). */
export function netnsPrefix(): string {
  return process.env.KUBE_IPVS_KTEST_NETNS ?? `kt-${process.pid}`;
}

// ---------------------------------------------------------------- sysctls

/** Per-namespace sysctls kube-ipvs (or a test) may change; restored by resetNetns(). */
const SYSCTL_DIRS = ['net/ipv4/vs'];
const SYSCTL_FILES = [
  'net/ipv4/ip_forward',
  'net/ipv4/conf/all/arp_ignore',
  'net/ipv4/conf/all/arp_announce',
  'net/ipv4/conf/all/route_localnet',
  'net/ipv4/conf/all/rp_filter',
  'net/ipv6/conf/all/forwarding',
  'net/bridge/bridge-nf-call-iptables',
  'net/bridge/bridge-nf-call-ip6tables',
];

let pristineSysctls: Map<string, string> | undefined;

function sysctlFiles(): string[] {
  const out = [...SYSCTL_FILES];
  for (const dir of SYSCTL_DIRS) {
    try {
      for (const f of readdirSync(join('/proc/sys', dir))) out.push(`${dir}/${f}`);
    } catch {
      /* module not loaded */
    }
  }
  return out;
}

function snapshotSysctls(): Map<string, string> {
  const snap = new Map<string, string>();
  for (const f of sysctlFiles()) {
    const p = join('/proc/sys', f);
    try {
      if (!(statSync(p).mode & 0o200)) continue; // read-only entries
      snap.set(f, readFileSync(p, 'utf8'));
    } catch {
      /* absent here */
    }
  }
  return snap;
}

let pristineLo: string | undefined;

// A ktest file starts in a fresh namespace: what we read at import time is the pristine state.
if (process.env.KUBE_IPVS_KTEST_NETNS) {
  pristineSysctls = snapshotSysctls();
  pristineLo = await loFingerprint();
}

function restoreSysctls(): void {
  pristineSysctls ??= snapshotSysctls();
  for (const [f, value] of pristineSysctls) {
    const p = join('/proc/sys', f);
    try {
      if (readFileSync(p, 'utf8') !== value) writeFileSync(p, value);
    } catch {
      /* gone or refused: nothing better to do */
    }
  }
}

// ---------------------------------------------------------------- reset

/** Built-in chains of each iptables table (what a pristine table holds). */
const BUILTIN_CHAINS: Record<string, string[]> = {
  filter: ['INPUT', 'FORWARD', 'OUTPUT'],
  nat: ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'],
  mangle: ['PREROUTING', 'INPUT', 'FORWARD', 'OUTPUT', 'POSTROUTING'],
  raw: ['PREROUTING', 'OUTPUT'],
  security: ['INPUT', 'FORWARD', 'OUTPUT'],
};

/** A restore without --noflush empties the tables it names and deletes their user chains. */
function pristineRestore(tables: readonly string[]): string {
  return tables
    .filter((t) => BUILTIN_CHAINS[t])
    .map((t) => [`*${t}`, ...BUILTIN_CHAINS[t]!.map((c) => `:${c} ACCEPT [0:0]`), 'COMMIT'].join('\n'))
    .join('\n') + '\n';
}

/** Legacy tables that exist in this namespace, from procfs (no process needed). */
function legacyTables(family: 4 | 6): string[] {
  try {
    return readFileSync(`/proc/net/${family === 4 ? 'ip' : 'ip6'}_tables_names`, 'utf8').split('\n').filter(Boolean);
  } catch {
    return [];
  }
}

async function resetIptables(family: 4 | 6, backend: IptablesBackend): Promise<void> {
  let tables: string[];
  if (backend === 'legacy') {
    tables = legacyTables(family);
  } else {
    if (await nftUnsupportedReason()) return;
    const saved = await tryCmd(iptablesCommand(family, 'nft', '-save'));
    tables = saved.stdout.split('\n').filter((l) => l.startsWith('*')).map((l) => l.slice(1).trim());
  }
  if (tables.length === 0) return;
  await cmd(iptablesCommand(family, backend, '-restore'), [], { stdin: pristineRestore(tables) });
}

/**
 * Brings the current namespace back to what a fresh one looks like: namespaces made through this module
 * destroyed, no IPVS services and default IPVS timeouts, empty iptables/ip6tables (legacy and nft), no ipsets,
 * no links but lo (up, with only its own addresses and routes), conntrack flushed, sysctls as they were at the
 * start. Most of it happens over netlink in this process: each process start costs a lot in the guest.
 */
export async function resetNetns(): Promise<void> {
  for (const ns of ownedNetns()) await destroyNetns(ns);
  await ipvsFlushAndDefaultTimeouts();
  // iptables before ipset: a set referenced by a rule cannot be destroyed.
  await Promise.all([resetIptables(4, 'legacy'), resetIptables(6, 'legacy')]);
  await resetIptables(4, 'nft');
  await resetIptables(6, 'nft');
  try {
    await ipsetDestroyAll();
  } catch {
    // Still referenced (a list:set member): flush first, which drops those references.
    await cmd('ipset', ['flush']);
    await cmd('ipset', ['destroy']);
  }
  const stuck = await deleteLinksExceptLo();
  if (stuck.length) throw new Error(`resetNetns: cannot delete links ${stuck.join(', ')}`);
  pristineLo ??= await loFingerprint();
  if ((await loFingerprint()) !== pristineLo) {
    await cmd('ip', ['link', 'set', 'lo', 'down']);
    await cmd('ip', ['addr', 'flush', 'dev', 'lo']);
    await cmd('ip', ['route', 'flush', 'table', 'main']);
    await cmd('ip', ['-6', 'route', 'flush', 'table', 'main']);
    await cmd('ip', ['link', 'set', 'lo', 'up']); // re-adds 127.0.0.1/8 and ::1
  }
  if (conntrackCount() > 0) await tryCmd('conntrack', ['-F']);
  restoreSysctls();
}

function conntrackCount(): number {
  try {
    return Number(readFileSync('/proc/sys/net/netfilter/nf_conntrack_count', 'utf8'));
  } catch {
    return 0;
  }
}
