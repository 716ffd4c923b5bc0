// A NodeState (the plan document) printed in the forms operators already read: `ipvsadm -Sn`, `ipset save`,
// `iptables-save` per family, then the kube-ipvs0 addresses and the diagnostics. Each section starts with a
// "# ..." comment line. Used by `plan --output text` and (later) `dump`. Pure.

import { ipFamilyOf, joinHostPort } from '../model/ip.js';
import { IPVS_SVC_FLAGS, type IpsetState, type NodeState, type VirtualServer } from '../model/state.js';

/** ipvsadm's service option for a protocol (option_from_protocol). */
function serviceOption(protocol: string): string {
  switch (protocol) {
    case 'TCP':
      return '-t';
    case 'UDP':
      return '-u';
    case 'SCTP':
      return '--sctp-service';
    default:
      return '--xxx-service';
  }
}

/** ipvsadm's print_sched_flags: names depend on the scheduler. */
function schedFlagNames(vs: VirtualServer): string[] {
  const names: string[] = [];
  if (vs.scheduler === 'sh' || vs.scheduler === 'mh') {
    if (vs.flags & IPVS_SVC_FLAGS.SCHED1) names.push(`${vs.scheduler}-fallback`);
    if (vs.flags & IPVS_SVC_FLAGS.SCHED2) names.push(`${vs.scheduler}-port`);
  } else {
    if (vs.flags & IPVS_SVC_FLAGS.SCHED1) names.push('flag-1');
    if (vs.flags & IPVS_SVC_FLAGS.SCHED2) names.push('flag-2');
    if (vs.flags & IPVS_SVC_FLAGS.SCHED3) names.push('flag-3');
  }
  return names;
}

/** The `ipvsadm -Sn` lines of one virtual server and its real servers (kube-proxy uses masquerading: -m). */
export function ipvsadmLines(vs: VirtualServer): string[] {
  const svc = `${serviceOption(vs.protocol)} ${joinHostPort(vs.address, vs.port)}`;
  let head = `-A ${svc} -s ${vs.scheduler}`;
  if (vs.flags & IPVS_SVC_FLAGS.PERSISTENT) head += ` -p ${vs.timeout}`;
  if (vs.flags & IPVS_SVC_FLAGS.ONEPACKET) head += ' -o';
  const sched = schedFlagNames(vs);
  if (sched.length > 0) head += ` -b ${sched.join(',')}`;
  const lines = [head];
  for (const rs of vs.realServers) lines.push(`-a ${svc} -r ${joinHostPort(rs.address, rs.port)} -m -w ${rs.weight}`);
  return lines;
}

/** The `ipset save` lines of one set, as kube-proxy creates it (hashsize 1024 maxelem 65536, bitmap range 0-65535). */
export function ipsetSaveLines(name: string, set: IpsetState): string[] {
  const create =
    set.type === 'bitmap:port'
      ? `create ${name} bitmap:port range 0-65535`
      : `create ${name} ${set.type} family ${set.family} hashsize 1024 maxelem 65536`;
  return [create, ...set.entries.map((e) => `add ${name} ${e}`)];
}

function tableText(text: string): string[] {
  if (text === '') return [];
  return text.endsWith('\n') ? text.slice(0, -1).split('\n') : text.split('\n');
}

export function formatNodeStateText(state: NodeState): string {
  const out: string[] = [];
  out.push(`# IPVS: ${state.ipvs.length} virtual servers (ipvsadm -Sn)`);
  for (const vs of state.ipvs) out.push(...ipvsadmLines(vs));

  // The state's own order (kube-proxy's set order, IPv4 then IPv6): stable, and the same as the JSON document.
  const setNames = Object.keys(state.ipsets);
  out.push(`# ipsets: ${setNames.length} sets (ipset save)`);
  for (const name of setNames) out.push(...ipsetSaveLines(name, state.ipsets[name]!));

  out.push('# iptables, IPv4 (iptables-save)');
  out.push(...tableText(state.iptables.ipv4.nat), ...tableText(state.iptables.ipv4.filter));
  out.push('# iptables, IPv6 (ip6tables-save)');
  out.push(...tableText(state.iptables.ipv6.nat), ...tableText(state.iptables.ipv6.filter));

  const addresses = state.addresses['kube-ipvs0'] ?? [];
  out.push(`# kube-ipvs0: ${addresses.length} addresses (ip address show dev kube-ipvs0)`);
  for (const a of addresses) out.push(ipFamilyOf(a) === 6 ? `inet6 ${a}/128` : `inet ${a}/32`);

  out.push(`# diagnostics: ${state.diagnostics.length}`);
  for (const d of state.diagnostics) out.push(`${d.kind ? `${d.kind} ` : ''}${d.object}: ${d.message}`);
  return `${out.join('\n')}\n`;
}
