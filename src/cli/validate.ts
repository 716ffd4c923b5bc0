// kube-proxy's configuration validation (pkg/proxy/apis/config/validation, v1.31+), on the internal settings,
// plus kube-ipvs' own rules (IPVS is the only mode; the scheduler must be one the kernel ships).
// Problems name the KubeProxyConfiguration field path (as written in the YAML file: ipvs.syncPeriod); the caller
// renders them for the file or for the flag that set the field. Pure.

import { parseCIDR, parseIP } from '../model/ip.js';
import { formatGoDuration } from './duration.js';
import type { KubeProxySettings } from './kube-proxy-settings.js';
import { splitHostPort } from './values.js';

export interface Problem {
  /** KubeProxyConfiguration field path, e.g. "ipvs.syncPeriod", "nodePortAddresses[1]". */
  path: string;
  /** The offending value as text. */
  value: string;
  /** What is allowed. "%s" stands for the label of `related` (a field compared with). */
  message: string;
  related?: string;
}

/** The in-tree kernel IPVS schedulers (net/netfilter/ipvs/ip_vs_*.c); "" means rr. */
export const IPVS_SCHEDULERS: readonly string[] = ['rr', 'wrr', 'lc', 'wlc', 'lblc', 'lblcr', 'dh', 'sh', 'sed', 'nq', 'fo', 'ovf', 'mh', 'twos'];

export const DETECT_LOCAL_MODES: readonly string[] = ['ClusterCIDR', 'NodeCIDR', 'BridgeInterface', 'InterfaceNamePrefix'];

const GE0 = 'must be greater than or equal to 0';

/** The message for a proxy mode kube-ipvs does not implement. */
export function modeProblemMessage(mode: string): string {
  if (mode === 'iptables' || mode === 'nftables' || mode === 'kernelspace' || mode === 'userspace') {
    return `kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for ${mode})`;
  }
  return 'must be "ipvs" or blank (blank means ipvs in kube-ipvs)';
}

function validateHostPort(path: string, input: string): Problem[] {
  const hp = splitHostPort(input);
  if (!hp) return [{ path, value: input, message: 'must be IP:port, e.g. 0.0.0.0:10256 or [::]:10256' }];
  const out: Problem[] = [];
  if (!parseIP(hp.host)) out.push({ path, value: input, message: `must be IP:port: ${JSON.stringify(hp.host)} is not a valid IP` });
  if (!/^[0-9]+$/.test(hp.port) || Number(hp.port) < 1 || Number(hp.port) > 65535) {
    out.push({ path, value: input, message: `must be IP:port: ${JSON.stringify(hp.port)} is not a valid port (1-65535)` });
  }
  return out;
}

/** utilnet.ParsePortRange: "", "N", "A-B" or "A+offset" with ports in 0..65535 and A <= B. */
function isPortRange(text: string): boolean {
  const v = text.trim();
  if (v === '') return true;
  const port = (p: string): number | undefined => (/^[0-9]{1,5}$/.test(p) && Number(p) <= 65535 ? Number(p) : undefined);
  let m = /^([0-9]+)-([0-9]+)$/.exec(v);
  if (m) {
    const a = port(m[1]!);
    const b = port(m[2]!);
    return a !== undefined && b !== undefined && a <= b;
  }
  m = /^([0-9]+)\+([0-9]+)$/.exec(v);
  if (m) {
    const a = port(m[1]!);
    const off = port(m[2]!);
    return a !== undefined && off !== undefined && a + off <= 65535;
  }
  return port(v) !== undefined;
}

function validateDualStackCIDRs(cidrs: readonly string[]): Problem[] {
  const joined = cidrs.join(',');
  if (cidrs.length > 2) {
    return [{ path: 'clusterCIDR', value: joined, message: 'must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]' }];
  }
  const out: Problem[] = [];
  const parsed = cidrs.map((c) => parseCIDR(c));
  parsed.forEach((p, i) => {
    if (!p) out.push({ path: 'clusterCIDR', value: cidrs[i]!, message: 'must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)' });
  });
  if (cidrs.length === 2 && parsed[0] && parsed[1] && parsed[0].family === parsed[1].family) {
    out.push({ path: 'clusterCIDR', value: joined, message: 'must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]' });
  }
  return out;
}

export function validateSettings(s: KubeProxySettings): Problem[] {
  const out: Problem[] = [];
  const dur = formatGoDuration;

  if (s.masqueradeBit < 0 || s.masqueradeBit > 31) {
    out.push({ path: 'iptables.masqueradeBit', value: String(s.masqueradeBit), message: 'must be within the range [0, 31]' });
  }
  if (s.mode !== '' && s.mode !== 'ipvs') out.push({ path: 'mode', value: s.mode, message: modeProblemMessage(s.mode) });

  // IPVS section (kube-proxy validates it only in ipvs mode; kube-ipvs is always in ipvs mode).
  const timeouts: [string, number][] = [
    ['ipvs.tcpTimeout', s.ipvs.tcpTimeoutMs],
    ['ipvs.tcpFinTimeout', s.ipvs.tcpFinTimeoutMs],
    ['ipvs.udpTimeout', s.ipvs.udpTimeoutMs],
  ];
  for (const [path, ms] of timeouts) if (ms < 0) out.push({ path, value: dur(ms), message: GE0 });
  s.ipvs.excludeCIDRs.forEach((c, i) => {
    if (!parseCIDR(c)) out.push({ path: `ipvs.excludeCIDRs[${i}]`, value: c, message: 'must be a valid CIDR' });
  });
  if (s.ipvs.scheduler !== '' && !IPVS_SCHEDULERS.includes(s.ipvs.scheduler)) {
    out.push({
      path: 'ipvs.scheduler',
      value: s.ipvs.scheduler,
      message: `must be one of ${IPVS_SCHEDULERS.join(', ')} (blank means rr)`,
    });
  }

  const ct = s.conntrack;
  const conntrackChecks: [string, number, string][] = [
    ['conntrack.maxPerCore', ct.maxPerCore, String(ct.maxPerCore)],
    ['conntrack.min', ct.min, String(ct.min)],
    ['conntrack.tcpEstablishedTimeout', ct.tcpEstablishedTimeoutMs, dur(ct.tcpEstablishedTimeoutMs)],
    ['conntrack.tcpCloseWaitTimeout', ct.tcpCloseWaitTimeoutMs, dur(ct.tcpCloseWaitTimeoutMs)],
    ['conntrack.udpTimeout', ct.udpTimeoutMs, dur(ct.udpTimeoutMs)],
    ['conntrack.udpStreamTimeout', ct.udpStreamTimeoutMs, dur(ct.udpStreamTimeoutMs)],
  ];
  for (const [path, v, text] of conntrackChecks) if (v < 0) out.push({ path, value: text, message: GE0 });
  if (s.oomScoreAdj < -1000 || s.oomScoreAdj > 1000) {
    out.push({ path: 'oomScoreAdj', value: String(s.oomScoreAdj), message: 'must be within the range [-1000, 1000]' });
  }
  if (s.clientConnection.burst < 0) out.push({ path: 'clientConnection.burst', value: String(s.clientConnection.burst), message: GE0 });

  if (s.configSyncPeriodMs <= 0) out.push({ path: 'configSyncPeriod', value: dur(s.configSyncPeriodMs), message: 'must be greater than 0' });
  if (s.syncPeriodMs <= 0) out.push({ path: 'ipvs.syncPeriod', value: dur(s.syncPeriodMs), message: 'must be greater than 0' });
  if (s.minSyncPeriodMs < 0) out.push({ path: 'ipvs.minSyncPeriod', value: dur(s.minSyncPeriodMs), message: GE0 });
  if (s.minSyncPeriodMs > s.syncPeriodMs && s.syncPeriodMs > 0) {
    out.push({
      path: 'ipvs.syncPeriod',
      value: dur(s.syncPeriodMs),
      message: `must be greater than or equal to %s (${dur(s.minSyncPeriodMs)})`,
      related: 'ipvs.minSyncPeriod',
    });
  }

  if (!parseIP(s.bindAddress)) {
    out.push({ path: 'bindAddress', value: s.bindAddress, message: 'not a valid textual representation of an IP address' });
  }
  // kube-proxy's help says an empty metrics address disables the server; kube-ipvs accepts that for both servers.
  if (s.healthzBindAddress !== '') out.push(...validateHostPort('healthzBindAddress', s.healthzBindAddress));
  if (s.metricsBindAddress !== '') out.push(...validateHostPort('metricsBindAddress', s.metricsBindAddress));
  if (!isPortRange(s.portRange)) out.push({ path: 'portRange', value: s.portRange, message: 'must be a valid port range (e.g. 300-2000)' });

  for (let i = 0; i < s.nodePortAddresses.length; i++) {
    const a = s.nodePortAddresses[i]!;
    if (a === 'primary') {
      if (i !== 0 || s.nodePortAddresses.length !== 1) {
        out.push({ path: `nodePortAddresses[${i}]`, value: a, message: "can't use both 'primary' and CIDRs" });
      }
      break;
    }
    if (!parseCIDR(a)) out.push({ path: `nodePortAddresses[${i}]`, value: a, message: "must be a valid CIDR (or the single value 'primary')" });
  }
  if (s.showHiddenMetricsForVersion !== '' && !/^[0-9]+\.[0-9]+$/.test(s.showHiddenMetricsForVersion)) {
    out.push({ path: 'showHiddenMetricsForVersion', value: s.showHiddenMetricsForVersion, message: "must be in the format <major>.<minor>, e.g. '1.16'" });
  }

  const localMode = s.detectLocalMode === '' ? 'ClusterCIDR' : s.detectLocalMode;
  if (!DETECT_LOCAL_MODES.includes(localMode)) {
    out.push({ path: 'detectLocalMode', value: s.detectLocalMode, message: `must be one of ${DETECT_LOCAL_MODES.map((m) => JSON.stringify(m)).join(', ')} or blank` });
  } else if (localMode === 'BridgeInterface' && s.bridgeInterface === '') {
    out.push({ path: 'detectLocal.bridgeInterface', value: '', message: 'must not be empty when detectLocalMode is BridgeInterface' });
  } else if (localMode === 'InterfaceNamePrefix' && s.interfaceNamePrefix === '') {
    out.push({ path: 'detectLocal.interfaceNamePrefix', value: '', message: 'must not be empty when detectLocalMode is InterfaceNamePrefix' });
  } else if (localMode === 'ClusterCIDR' && s.clusterCIDRs.length > 0) {
    out.push(...validateDualStackCIDRs(s.clusterCIDRs));
  }
  if (s.logging.format !== 'text' && s.logging.format !== 'json') {
    out.push({ path: 'logging.format', value: s.logging.format, message: 'must be "text" or "json"' });
  }
  return out;
}
