// `kube-ipvs dump`: what this node's kernel holds now, read through the same drivers and in the same shape as
// `kube-ipvs plan` prints what it should hold, so the two can be compared:
//   --output json   the plan document (design.md) of the kernel, plus the observed-only extensions: IPVS
//                   counters (`stats`) per virtual and real server, `activeConns` / `inactiveConns`;
//   --output text   `ipvsadm -Ln --stats`-like table (scheduler, flags, weights, connections and counters per
//                   virtual and real server), `ipset list`-like sets, `iptables-save`-like KUBE-* chains per
//                   family, then kube-ipvs0's addresses.
// Reads only: no sysctl, no link, nothing written. Only kube-proxy's KUBE-* sets and chains are shown;
// every IPVS virtual server is (foreign ones too: they are part of the node's load balancer).

import { observeKernel } from '../runtime/observe.js';
import { openKernelDrivers } from '../runtime/syncer-drivers.js';
import { ipFamilyOf, joinHostPort } from '../model/ip.js';
import { IPVS_SVC_FLAGS, type IpsetState, type IpvsStats, type NodeState, type VirtualServer } from '../model/state.js';
import { formatPlanJson, type CommandIO } from './plan.js';
import { cliLogger } from './sync.js';
import type { ResolvedInvocation } from './resolve.js';

/** ipvsadm's flag words (print_service_entry): persistent, one-packet, scheduler flags by scheduler. */
function flagWords(vs: VirtualServer): string[] {
  const out: string[] = [];
  if (vs.flags & IPVS_SVC_FLAGS.PERSISTENT) out.push(`persistent ${vs.timeout}`);
  if (vs.flags & IPVS_SVC_FLAGS.ONEPACKET) out.push('ops');
  const sched: string[] = [];
  if (vs.scheduler === 'sh' || vs.scheduler === 'mh') {
    if (vs.flags & IPVS_SVC_FLAGS.SCHED1) sched.push(`${vs.scheduler}-fallback`);
    if (vs.flags & IPVS_SVC_FLAGS.SCHED2) sched.push(`${vs.scheduler}-port`);
  } else {
    if (vs.flags & IPVS_SVC_FLAGS.SCHED1) sched.push('flag-1');
    if (vs.flags & IPVS_SVC_FLAGS.SCHED2) sched.push('flag-2');
    if (vs.flags & IPVS_SVC_FLAGS.SCHED3) sched.push('flag-3');
  }
  if (sched.length) out.push(`(${sched.join(',')})`);
  return out;
}

const num = (n: number | undefined, width = 9) => String(n ?? 0).padStart(width);

function counters(s: IpvsStats | undefined): string {
  return [s?.conns, s?.inPkts, s?.outPkts, s?.inBytes, s?.outBytes].map((n) => num(n)).join('');
}

/** The IPVS table like `ipvsadm -Ln --stats --exact`, with `ipvsadm -Ln`'s scheduler, weight and connection columns. */
export function ipvsStatsLines(ipvs: readonly VirtualServer[]): string[] {
  const out = [
    `${'Prot LocalAddress:Port'.padEnd(40)}${'Scheduler Flags'.padEnd(34)}${'Conns'.padStart(9)}${'InPkts'.padStart(9)}${'OutPkts'.padStart(9)}${'InBytes'.padStart(9)}${'OutBytes'.padStart(9)}`,
    `${'  -> RemoteAddress:Port'.padEnd(40)}${'Forward Weight ActiveConn InActConn'.padEnd(34)}`,
  ];
  for (const vs of ipvs) {
    const head = `${vs.protocol.padEnd(4)} ${joinHostPort(vs.address, vs.port)}`;
    const sched = [vs.scheduler, ...flagWords(vs)].join(' ');
    out.push(`${head.padEnd(39)} ${sched.padEnd(33)} ${counters(vs.stats)}`);
    for (const rs of vs.realServers) {
      const left = `  -> ${joinHostPort(rs.address, rs.port)}`;
      const mid = `Masq    ${String(rs.weight).padEnd(6)} ${String(rs.activeConns ?? 0).padEnd(10)} ${String(rs.inactiveConns ?? 0)}`;
      out.push(`${left.padEnd(39)} ${mid.padEnd(33)} ${counters(rs.stats)}`);
    }
  }
  return out;
}

/** One set like `ipset list NAME` (the header shows what the state records: type and family). */
export function ipsetListLines(name: string, set: IpsetState): string[] {
  const header = set.type === 'bitmap:port' ? 'range 0-65535' : `family ${set.family}`;
  return [`Name: ${name}`, `Type: ${set.type}`, `Header: ${header}`, `Number of entries: ${set.entries.length}`, 'Members:', ...set.entries, ''];
}

function tableLines(text: string): string[] {
  if (text === '') return [];
  return (text.endsWith('\n') ? text.slice(0, -1) : text).split('\n');
}

export function formatDumpText(state: NodeState): string {
  const out: string[] = [];
  const rs = state.ipvs.reduce((n, vs) => n + vs.realServers.length, 0);
  out.push(`# IPVS: ${state.ipvs.length} virtual servers, ${rs} real servers (ipvsadm -Ln --stats --exact, with scheduler, weights and connections)`);
  out.push(...ipvsStatsLines(state.ipvs));
  const names = Object.keys(state.ipsets);
  out.push(`# ipsets: ${names.length} KUBE-* sets (ipset list)`);
  for (const name of names) out.push(...ipsetListLines(name, state.ipsets[name]!));
  for (const [family, title] of [['ipv4', 'iptables-save'], ['ipv6', 'ip6tables-save']] as const) {
    for (const table of ['nat', 'filter'] as const) {
      out.push(`# ${title} -t ${table} (KUBE-* chains)`);
      out.push(...tableLines(state.iptables[family][table]));
    }
  }
  const addresses = state.addresses['kube-ipvs0'] ?? [];
  out.push(`# kube-ipvs0: ${addresses.length} addresses (ip address show dev kube-ipvs0)`);
  for (const a of addresses) out.push(ipFamilyOf(a) === 6 ? `inet6 ${a}/128` : `inet ${a}/32`);
  return `${out.join('\n')}\n`;
}

export async function runDump(inv: ResolvedInvocation, io: CommandIO): Promise<number> {
  const log = cliLogger(inv.config.verbosity);
  let drivers;
  try {
    drivers = await openKernelDrivers({ log });
  } catch (e) {
    io.stderr(`kube-ipvs dump: cannot open the kernel drivers: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  }
  try {
    const { state } = await observeKernel(drivers, { nodeAddresses: false });
    io.stdout(inv.options.output === 'json' ? formatPlanJson(state) : formatDumpText(state));
    return 0;
  } catch (e) {
    io.stderr(`kube-ipvs dump: cannot read the kernel: ${e instanceof Error ? e.message : String(e)}\n`);
    return 1;
  } finally {
    drivers.close();
  }
}
