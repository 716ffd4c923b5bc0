// Which iptables backend to drive and with which flags. Pure decisions (host-tested with tables) plus
// the small amount of probing that feeds them.
//
// Backend choice follows kubernetes-sigs/iptables-wrappers (the wrapper in kube-proxy's images,
// pkg/xtables/detect.go): kubelet creates KUBE-IPTABLES-HINT / KUBE-KUBELET-CANARY in the mangle table of
// whichever backend the node uses, so
//   1. `iptables-nft-save -t mangle` or `ip6tables-nft-save -t mangle` declares one of them -> nft;
//   2. else `iptables-legacy-save` or `ip6tables-legacy-save` (all tables: "-t mangle" would make the
//      legacy kernel create the table) declares one of them -> legacy;
//   3. else nft (the wrapper's default).
// Command errors count as "no hint", as in the wrapper.
//
// Wait flags follow kube-proxy's pkg/util/iptables (WaitSecondsMinVersion 1.4.22, WaitIntervalMinVersion
// 1.6.1, WaitRestoreMinVersion 1.6.2) with one correction: iptables 1.8.8 removed --wait-interval (it
// prints "Ignoring deprecated --wait-interval option."), so -W is only passed to 1.6.1 <= version < 1.8.8
// (kube-proxy dropped it too, kubernetes PR #132352).

export type IptablesBackend = 'legacy' | 'nft';

const HINT_CHAINS = /^:(KUBE-IPTABLES-HINT|KUBE-KUBELET-CANARY)\b/m;

export function hasKubeletHint(saveOutput: string): boolean {
  return HINT_CHAINS.test(saveOutput);
}

export interface BackendProbe {
  nftMangle4: string;
  nftMangle6: string;
  legacyAll4: string;
  legacyAll6: string;
}

export function decideBackend(p: BackendProbe): { backend: IptablesBackend; reason: string } {
  if (hasKubeletHint(p.nftMangle4) || hasKubeletHint(p.nftMangle6)) return { backend: 'nft', reason: 'kubelet hint chain in iptables-nft mangle table' };
  if (hasKubeletHint(p.legacyAll4) || hasKubeletHint(p.legacyAll6)) return { backend: 'legacy', reason: 'kubelet hint chain in iptables-legacy tables' };
  return { backend: 'nft', reason: 'no kubelet hint chain in either backend: nft by default (as iptables-wrapper)' };
}

/** "iptables v1.8.9 (nf_tables)" -> [1, 8, 9] (kube-proxy's pattern v([0-9]+(\.[0-9]+)+)). */
export function parseIptablesVersion(output: string): number[] | undefined {
  const m = /v([0-9]+(?:\.[0-9]+)+)/.exec(output);
  return m ? m[1]!.split('.').map(Number) : undefined;
}

/** The backend an `iptables --version` line names; iptables before 1.8 only had legacy. */
export function versionBackend(output: string): IptablesBackend {
  if (/nf_tables/.test(output)) return 'nft';
  return 'legacy';
}

export function versionAtLeast(v: readonly number[], min: readonly number[]): boolean {
  for (let i = 0; i < Math.max(v.length, min.length); i++) {
    const a = v[i] ?? 0;
    const b = min[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

const WAIT_SECONDS_MIN = [1, 4, 22];
const WAIT_MIN = [1, 4, 20];
const WAIT_INTERVAL_MIN = [1, 6, 1];
const WAIT_INTERVAL_REMOVED = [1, 8, 8];
const WAIT_RESTORE_MIN = [1, 6, 2];
/** kube-proxy's RandomFullyMinVersion. */
const RANDOM_FULLY_MIN = [1, 6, 2];

function intervalFlags(v: readonly number[]): string[] {
  return versionAtLeast(v, WAIT_INTERVAL_MIN) && !versionAtLeast(v, WAIT_INTERVAL_REMOVED) ? ['-W', '100000'] : [];
}

/** Lock-wait flags for iptables/ip6tables commands (-C, -I, -N, -D, ...). */
export function iptablesWaitFlags(v: readonly number[], seconds = 5): string[] {
  if (versionAtLeast(v, WAIT_SECONDS_MIN)) return ['-w', String(seconds), ...intervalFlags(v)];
  if (versionAtLeast(v, WAIT_MIN)) return ['-w'];
  return [];
}

/**
 * Lock-wait flags for iptables-restore. Older restores without --wait get none (kube-proxy then takes
 * /run/xtables.lock itself; those versions are far older than anything a Kubernetes node ships today).
 */
export function restoreWaitFlags(v: readonly number[], seconds = 5): string[] {
  if (versionAtLeast(v, WAIT_RESTORE_MIN)) return ['-w', String(seconds), ...intervalFlags(v)];
  return [];
}

/** kube-proxy's HasRandomFully(): iptables >= 1.6.2 supports MASQUERADE --random-fully. */
export function hasRandomFully(v: readonly number[]): boolean {
  return versionAtLeast(v, RANDOM_FULLY_MIN);
}

/** Program names of one backend and family. */
export interface IptablesPrograms {
  iptables: string;
  save: string;
  restore: string;
}

/** Debian/Fedora/Alpine names (xtables-*-multi links); `suffixed: false` gives the plain names. */
export function programNames(backend: IptablesBackend, family: 4 | 6, suffixed = true): IptablesPrograms {
  const base = family === 4 ? 'iptables' : 'ip6tables';
  const sfx = suffixed ? `-${backend}` : '';
  return { iptables: `${base}${sfx}`, save: `${base}${sfx}-save`, restore: `${base}${sfx}-restore` };
}
