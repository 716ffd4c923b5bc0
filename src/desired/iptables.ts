// The iptables-restore payload of one IP family, line for line what kube-proxy's IPVS proxier writes
// (proxier.go createAndLinkKubeChain + writeIptablesRules; reference section 3.2), split into the nat and the
// filter table. Only KUBE-* chains: the jumps from built-in chains are ensured by kernel/ (KUBE_JUMP_RULES).

import { KUBE_CHAINS, KUBE_IPSETS, type IpsetId } from '../model/ipsets.js';
import type { IptablesTables } from '../model/state.js';
import type { Env, FamilyEnv } from './env.js';

/** The ipset-driven rules (ipsetWithIptablesChain), in kube-proxy's order; each only when its set is non-empty. */
const IPSET_RULES: readonly { set: IpsetId; table: 'nat' | 'filter'; from: string; to: string; match: string; proto?: string }[] = [
  { set: 'loopBack', table: 'nat', from: 'KUBE-POSTROUTING', to: 'MASQUERADE', match: 'dst,dst,src' },
  { set: 'loadBalancer', table: 'nat', from: 'KUBE-SERVICES', to: 'KUBE-LOAD-BALANCER', match: 'dst,dst' },
  { set: 'loadBalancerLocal', table: 'nat', from: 'KUBE-LOAD-BALANCER', to: 'RETURN', match: 'dst,dst' },
  // The Local node-port sets must come before the plain ones.
  { set: 'nodePortLocalTCP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'tcp' },
  { set: 'nodePortTCP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'tcp' },
  { set: 'nodePortLocalUDP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst', proto: 'udp' },
  { set: 'nodePortUDP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst', proto: 'udp' },
  { set: 'nodePortLocalSCTP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'RETURN', match: 'dst,dst', proto: 'sctp' },
  { set: 'nodePortSCTP', table: 'nat', from: 'KUBE-NODE-PORT', to: 'KUBE-MARK-MASQ', match: 'dst,dst', proto: 'sctp' },
  { set: 'loadBalancerFW', table: 'filter', from: 'KUBE-PROXY-FIREWALL', to: 'KUBE-SOURCE-RANGES-FIREWALL', match: 'dst,dst' },
  { set: 'loadBalancerSourceCIDR', table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src' },
  { set: 'loadBalancerSourceIP', table: 'filter', from: 'KUBE-SOURCE-RANGES-FIREWALL', to: 'RETURN', match: 'dst,dst,src' },
];

/** Sets whose emptiness changes the text. */
export const IPTABLES_CONDITIONAL_SETS: readonly IpsetId[] = [...IPSET_RULES.map((r) => r.set), 'clusterIP', 'externalIP', 'externalIPLocal'];

const comment = (id: IpsetId) => `"${KUBE_IPSETS[id].comment}"`;

/**
 * @param nonEmpty whether a set of this family has entries
 * @param outFilterRules the KUBE-IPVS-OUT-FILTER DROP rules, sorted
 */
export function renderIptables(env: Env, fe: FamilyEnv, nonEmpty: (id: IpsetId) => boolean, outFilterRules: readonly string[]): IptablesTables {
  const n = fe.setNames;
  const mark = env.masqueradeMark;
  const nat: string[] = ['*nat', ...KUBE_CHAINS.nat.map((c) => `:${c} - [0:0]`)];
  const filter: string[] = ['*filter', ...KUBE_CHAINS.filter.map((c) => `:${c} - [0:0]`)];

  // Connections from localhost return early.
  nat.push(`-A KUBE-SERVICES -s ${fe.family === 6 ? '::1/128' : '127.0.0.0/8'} -j RETURN`);

  for (const r of IPSET_RULES) {
    if (!nonEmpty(r.set)) continue;
    const proto = r.proto ? ` -p ${r.proto}` : '';
    (r.table === 'nat' ? nat : filter).push(`-A ${r.from}${proto} -m comment --comment ${comment(r.set)} -m set --match-set ${n[r.set]} ${r.match} -j ${r.to}`);
  }

  if (nonEmpty('clusterIP')) {
    const head = `-A KUBE-SERVICES -m comment --comment ${comment('clusterIP')} -m set --match-set ${n.clusterIP}`;
    if (env.masqueradeAll) nat.push(`${head} dst,dst -j KUBE-MARK-MASQ`);
    // Masquerade off-cluster traffic to a service VIP.
    else if (fe.localDetector) nat.push(`${head} dst,dst ${fe.localDetector.join(' ')} -j KUBE-MARK-MASQ`);
    // No detector: masquerade node-originated traffic whose source is a VIP on kube-ipvs0.
    else nat.push(`${head} src,dst -j KUBE-MARK-MASQ`);
  }

  const externalIPRules = (head: string) => {
    // Traffic from off the machine (not from a bridge, not locally sourced), or to a local address.
    nat.push(`${head} -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`);
    nat.push(`${head} -m addrtype --dst-type LOCAL -j ACCEPT`);
  };
  if (nonEmpty('externalIP')) {
    const head = `-A KUBE-SERVICES -m comment --comment ${comment('externalIP')} -m set --match-set ${n.externalIP} dst,dst`;
    nat.push(`${head} -j KUBE-MARK-MASQ`);
    externalIPRules(head);
  }
  if (nonEmpty('externalIPLocal')) {
    externalIPRules(`-A KUBE-SERVICES -m comment --comment ${comment('externalIPLocal')} -m set --match-set ${n.externalIPLocal} dst,dst`);
  }

  nat.push('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
  nat.push('-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ');
  filter.push('-A KUBE-SOURCE-RANGES-FIREWALL -j DROP');
  for (const rule of outFilterRules) filter.push(rule);

  // Accept service traffic at the end of KUBE-SERVICES, in case other rules would block it.
  if (nonEmpty('clusterIP')) nat.push(`-A KUBE-SERVICES -m set --match-set ${n.clusterIP} dst,dst -j ACCEPT`);
  if (nonEmpty('loadBalancer')) nat.push(`-A KUBE-SERVICES -m set --match-set ${n.loadBalancer} dst,dst -j ACCEPT`);

  filter.push(`-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`);
  filter.push('-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT');
  filter.push(`-A KUBE-NODE-PORT -m comment --comment ${comment('healthCheckNodePort')} -m set --match-set ${n.healthCheckNodePort} dst -j ACCEPT`);
  // KUBE-IPVS-FILTER: only service ip:port may be reached on kube-ipvs0 addresses (kubernetes issue #72236).
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${n.loadBalancer} dst,dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${n.clusterIP} dst,dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${n.externalIP} dst,dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${n.externalIPLocal} dst,dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m set --match-set ${n.healthCheckNodePort} dst -j RETURN`);
  filter.push(`-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set ${n.ipvsIPs} dst -j REJECT`);

  nat.push(`-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`);
  // Clear the mark so a packet that re-traverses the stack is not masqueraded twice.
  nat.push(`-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`);
  nat.push(`-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${env.randomFully ? ' --random-fully' : ''}`);
  nat.push(`-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`);

  nat.push('COMMIT');
  filter.push('COMMIT');
  return { nat: `${nat.join('\n')}\n`, filter: `${filter.join('\n')}\n` };
}
