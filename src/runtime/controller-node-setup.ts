// What kube-proxy's server does to the node before its proxier starts, for every proxy mode
// (cmd/kube-proxy/app/server.go, server_linux.go): the OOM score adjustment and the conntrack sysctls
// (--conntrack-*). The IPVS sysctls (reference §5.4) are the syncer's first step, not done here.
// Everything is best effort, as kube-proxy: a value that cannot be written (read-only /proc/sys in a
// container, nf_conntrack_max outside the initial network namespace) is logged and start goes on.

import { writeFile } from 'node:fs/promises';
import { cpus } from 'node:os';
import { ensureSysctl } from '../kernel/sysctl.js';
import type { ConntrackConfig, ProxyConfig } from '../model/config.js';
import type { Logger } from '../util/log.js';

export interface NodeSetupOptions {
  /** /proc/sys root (tests). */
  sysctlRoot?: string;
  /** /proc/self/oom_score_adj (tests). */
  oomScoreAdjPath?: string;
  cpuCount?: number;
}

export interface NodeSetupResult {
  changed: string[];
  failed: string[];
}

/** kube-proxy's conntrack max: max(maxPerCore * CPUs, min); 0 when maxPerCore is 0 (leave as is). */
export function conntrackMax(c: ConntrackConfig, cpuCount: number): number {
  if (c.maxPerCore <= 0) return 0;
  return Math.max(c.maxPerCore * cpuCount, c.min);
}

export async function setUpNode(config: ProxyConfig, log: Logger, opts: NodeSetupOptions = {}): Promise<NodeSetupResult> {
  const result: NodeSetupResult = { changed: [], failed: [] };
  const root = opts.sysctlRoot ?? '/proc/sys';

  if (config.oomScoreAdj !== undefined) {
    try {
      await writeFile(opts.oomScoreAdjPath ?? '/proc/self/oom_score_adj', String(config.oomScoreAdj));
    } catch (e) {
      log.info({ err: (e as Error).message }, 'Failed to apply OOMScore');
      result.failed.push('oom_score_adj');
    }
  }

  const c = config.conntrack;
  if (!c) return result;
  const want: [string, number][] = [];
  const max = conntrackMax(c, opts.cpuCount ?? Math.max(1, cpus().length));
  if (max > 0) want.push(['net/netfilter/nf_conntrack_max', max]);
  if (c.tcpEstablishedTimeoutMs > 0) want.push(['net/netfilter/nf_conntrack_tcp_timeout_established', Math.floor(c.tcpEstablishedTimeoutMs / 1000)]);
  if (c.tcpCloseWaitTimeoutMs > 0) want.push(['net/netfilter/nf_conntrack_tcp_timeout_close_wait', Math.floor(c.tcpCloseWaitTimeoutMs / 1000)]);
  if (c.tcpBeLiberal) want.push(['net/netfilter/nf_conntrack_tcp_be_liberal', 1]);
  if (c.udpTimeoutMs > 0) want.push(['net/netfilter/nf_conntrack_udp_timeout', Math.floor(c.udpTimeoutMs / 1000)]);
  if (c.udpStreamTimeoutMs > 0) want.push(['net/netfilter/nf_conntrack_udp_timeout_stream', Math.floor(c.udpStreamTimeoutMs / 1000)]);
  for (const [name, value] of want) {
    try {
      const ch = await ensureSysctl(name, value, { root, logger: log });
      if (ch) result.changed.push(name);
    } catch (e) {
      // kube-proxy: "Failed to set sysctl" / readonly sysfs in containers; not fatal.
      log.error({ name, value, err: (e as Error).message }, 'Failed to set sysctl');
      result.failed.push(name);
    }
  }
  return result;
}
