// The sysctls kube-proxy sets in IPVS mode (NewProxier; reference kube-proxy-ipvs.md §5.4), applied the way
// proxyutil.EnsureSysctl does it: read, write only when different, log each change, first error aborts.
//   net/ipv4/vs/conntrack = 1                  always
//   net/ipv4/vs/conn_reuse_mode = 0            only when 4.1 <= kernel < 5.9 (below 4.1: error log; from 5.9
//                                              on: "Left as-is", the kernel fixed the bug, issue #93297)
//   net/ipv4/vs/expire_nodest_conn = 1
//   net/ipv4/vs/expire_quiescent_template = 1
//   net/ipv4/ip_forward = 1
//   net/ipv4/conf/all/arp_ignore = 1           only with --ipvs-strict-arp
//   net/ipv4/conf/all/arp_announce = 2         only with --ipvs-strict-arp
// The /proc/sys root is a parameter so all of this runs against a plain folder in host tests. The kernel
// version comes from <root>/kernel/osrelease, as kube-proxy's utilkernel.GetVersion reads it.

import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../util/log.js';
import { ERRNO, KernelError } from './errors.js';

export const SYSCTL_VS_CONNTRACK = 'net/ipv4/vs/conntrack';
export const SYSCTL_CONN_REUSE = 'net/ipv4/vs/conn_reuse_mode';
export const SYSCTL_EXPIRE_NODEST_CONN = 'net/ipv4/vs/expire_nodest_conn';
export const SYSCTL_EXPIRE_QUIESCENT_TEMPLATE = 'net/ipv4/vs/expire_quiescent_template';
export const SYSCTL_FORWARD = 'net/ipv4/ip_forward';
export const SYSCTL_ARP_IGNORE = 'net/ipv4/conf/all/arp_ignore';
export const SYSCTL_ARP_ANNOUNCE = 'net/ipv4/conf/all/arp_announce';

/** utilkernel.IPVSConnReuseModeMinSupportedKernelVersion / IPVSConnReuseModeFixedKernelVersion. */
export const CONN_REUSE_MIN_KERNEL = '4.1';
export const CONN_REUSE_FIXED_KERNEL = '5.9';

export type KernelVersion = readonly number[];

/**
 * k8s.io/apimachinery version.ParseGeneric: two or more dot-separated numbers (optionally after "v"), anything
 * after them ignored ("5.4.0-150-generic" -> [5, 4, 0]). undefined when it does not parse.
 */
export function parseKernelVersion(release: string): KernelVersion | undefined {
  const m = /^\s*v?([0-9]+(?:\.[0-9]+)+)/.exec(release);
  if (!m) return undefined;
  const parts = m[1]!.split('.');
  if (parts[0]!.length > 1 && parts[0]!.startsWith('0')) return undefined; // no leading zero in the first field
  return parts.map(Number);
}

/** Compares versions field by field, missing fields counting as 0. */
export function compareVersions(a: KernelVersion, b: KernelVersion): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

export interface SysctlChange {
  name: string;
  /** Value read before (undefined when it could not be read, which kube-proxy treats as 0). */
  before: number | undefined;
  after: number;
}

function sysctlError(op: string, e: unknown): KernelError {
  const err = e as NodeJS.ErrnoException;
  const code = typeof err?.code === 'string' ? err.code : undefined;
  return new KernelError(op, err?.message ?? String(e), { code, errno: code ? ERRNO[code] : undefined });
}

/** Reads an integer sysctl ("net/ipv4/ip_forward" or "net.ipv4.ip_forward") under root. Throws KernelError. */
export async function readSysctl(name: string, root = '/proc/sys'): Promise<number> {
  const path = join(root, name.replace(/\./g, '/'));
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw sysctlError(`read-sysctl ${name}`, e);
  }
  const v = Number.parseInt(text.trim(), 10);
  if (Number.isNaN(v)) throw new KernelError(`read-sysctl ${name}`, `not an integer: ${JSON.stringify(text.trim())}`);
  return v;
}

export async function writeSysctl(name: string, value: number, root = '/proc/sys'): Promise<void> {
  try {
    await writeFile(join(root, name.replace(/\./g, '/')), `${value}\n`);
  } catch (e) {
    throw sysctlError(`write-sysctl ${name}=${value}`, e);
  }
}

/**
 * proxyutil.EnsureSysctl: writes the value only when the current one differs (an unreadable value counts as
 * different), logs the change. Returns the change, or undefined when nothing was written.
 */
export async function ensureSysctl(name: string, value: number, opts: { root?: string; logger?: Logger } = {}): Promise<SysctlChange | undefined> {
  const root = opts.root ?? '/proc/sys';
  let before: number | undefined;
  try {
    before = await readSysctl(name, root);
  } catch {
    before = undefined;
  }
  if (before === value) return undefined;
  await writeSysctl(name, value, root);
  (opts.logger ?? silentLogger).info({ name, before: before ?? 0, after: value }, 'Changed sysctl');
  return { name, before, after: value };
}

export interface IpvsSysctlOptions {
  /** --ipvs-strict-arp */
  strictARP: boolean;
  /** /proc/sys, or a folder laid out like it (tests). */
  root?: string;
  /** Kernel release such as "6.1.0-18-amd64" (default: <root>/kernel/osrelease). */
  kernelRelease?: string;
  logger?: Logger;
}

export interface IpvsSysctlResult {
  changes: SysctlChange[];
  kernelVersion: KernelVersion;
  /** What happened to conn_reuse_mode: set (or already 0), left as-is (>= 5.9), or kernel too old (< 4.1). */
  connReuse: 'ensured' | 'left-as-is' | 'kernel-too-old';
}

/** Applies kube-proxy's IPVS-mode sysctls in kube-proxy's order; the first failure throws KernelError. */
export async function applyIpvsSysctls(opts: IpvsSysctlOptions): Promise<IpvsSysctlResult> {
  const root = opts.root ?? '/proc/sys';
  const log = opts.logger ?? silentLogger;
  const changes: SysctlChange[] = [];
  const ensure = async (name: string, value: number) => {
    const c = await ensureSysctl(name, value, { root, logger: log });
    if (c) changes.push(c);
  };

  await ensure(SYSCTL_VS_CONNTRACK, 1);

  let release = opts.kernelRelease;
  if (release === undefined) {
    try {
      release = (await readFile(join(root, 'kernel/osrelease'), 'utf8')).trim();
    } catch (e) {
      throw sysctlError('kernel-version', e);
    }
  }
  const kernelVersion = parseKernelVersion(release);
  if (!kernelVersion) throw new KernelError('kernel-version', `failed to get kernel version: cannot parse ${JSON.stringify(release)}`);

  let connReuse: IpvsSysctlResult['connReuse'];
  if (compareVersions(kernelVersion, parseKernelVersion(CONN_REUSE_MIN_KERNEL)!) < 0) {
    connReuse = 'kernel-too-old';
    log.error({ sysctl: SYSCTL_CONN_REUSE, minimumKernelVersion: CONN_REUSE_MIN_KERNEL },
      "Can't set sysctl, kernel version doesn't satisfy minimum version requirements");
  } else if (compareVersions(kernelVersion, parseKernelVersion(CONN_REUSE_FIXED_KERNEL)!) >= 0) {
    connReuse = 'left-as-is';
    log.debug({ sysctl: SYSCTL_CONN_REUSE }, 'Left as-is');
  } else {
    connReuse = 'ensured';
    await ensure(SYSCTL_CONN_REUSE, 0);
  }

  await ensure(SYSCTL_EXPIRE_NODEST_CONN, 1);
  await ensure(SYSCTL_EXPIRE_QUIESCENT_TEMPLATE, 1);
  await ensure(SYSCTL_FORWARD, 1);
  if (opts.strictARP) {
    await ensure(SYSCTL_ARP_IGNORE, 1);
    await ensure(SYSCTL_ARP_ANNOUNCE, 2);
  }
  return { changes, kernelVersion, connReuse };
}
