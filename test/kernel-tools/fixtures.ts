// Shared fixtures for the ipset/iptables driver tests (host and guest): kube-proxy IPVS mode's complete
// restore payload in its own form (reference kube-proxy-ipvs.md section 3.2) with every conditional line
// switched on, for IPv4 and IPv6, and the 17 sets with sample entries.

import { ipsetName, KUBE_IPSETS } from '../../src/model/ipsets.js';
import type { IpsetState } from '../../src/model/state.js';

export interface PayloadOptions {
  randomFully?: boolean;
  /** Include the `-m ipvs` KUBE-IPVS-OUT-FILTER rules (they need the kernel's xt_ipvs). */
  ipvsMatch?: boolean;
  /** Masquerade mark bit (kube-proxy default 14). */
  masqueradeBit?: number;
}

const q = (s: string) => `"${s}"`;

/** kube-proxy's `fmt.Sprintf("%#08x", 1<<bit)`: "0x00004000" for bit 14. */
function masqMark(bit: number): string {
  return `0x${(1 << bit).toString(16).padStart(8, '0')}`;
}

export function kubeProxyPayload(family: 4 | 6, opts: PayloadOptions = {}): { nat: string; filter: string } {
  const set = (id: keyof typeof KUBE_IPSETS) => ipsetName(KUBE_IPSETS[id].name, family);
  const c = (id: keyof typeof KUBE_IPSETS) => q(KUBE_IPSETS[id].comment);
  const mark = masqMark(opts.masqueradeBit ?? 14);
  const loop = family === 4 ? '127.0.0.0/8' : '::1/128';
  const clusterCIDR = family === 4 ? '10.0.0.0/14' : 'fd00:10::/56';
  const lb = family === 4 ? '1.2.3.4' : '2001:db8::4';
  const nat = [
    '*nat',
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-POSTROUTING - [0:0]',
    ':KUBE-NODE-PORT - [0:0]',
    ':KUBE-LOAD-BALANCER - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    `-A KUBE-SERVICES -s ${loop} -j RETURN`,
    `-A KUBE-POSTROUTING -m comment --comment ${c('loopBack')} -m set --match-set ${set('loopBack')} dst,dst,src -j MASQUERADE`,
    `-A KUBE-SERVICES -m comment --comment ${c('loadBalancer')} -m set --match-set ${set('loadBalancer')} dst,dst -j KUBE-LOAD-BALANCER`,
    `-A KUBE-LOAD-BALANCER -m comment --comment ${c('loadBalancerLocal')} -m set --match-set ${set('loadBalancerLocal')} dst,dst -j RETURN`,
    `-A KUBE-NODE-PORT -p tcp -m comment --comment ${c('nodePortLocalTCP')} -m set --match-set ${set('nodePortLocalTCP')} dst -j RETURN`,
    `-A KUBE-NODE-PORT -p tcp -m comment --comment ${c('nodePortTCP')} -m set --match-set ${set('nodePortTCP')} dst -j KUBE-MARK-MASQ`,
    `-A KUBE-NODE-PORT -p udp -m comment --comment ${c('nodePortLocalUDP')} -m set --match-set ${set('nodePortLocalUDP')} dst -j RETURN`,
    `-A KUBE-NODE-PORT -p udp -m comment --comment ${c('nodePortUDP')} -m set --match-set ${set('nodePortUDP')} dst -j KUBE-MARK-MASQ`,
    `-A KUBE-NODE-PORT -p sctp -m comment --comment ${c('nodePortLocalSCTP')} -m set --match-set ${set('nodePortLocalSCTP')} dst,dst -j RETURN`,
    `-A KUBE-NODE-PORT -p sctp -m comment --comment ${c('nodePortSCTP')} -m set --match-set ${set('nodePortSCTP')} dst,dst -j KUBE-MARK-MASQ`,
    // The three mutually exclusive cluster-IP variants (masqueradeAll, local detector, no-op detector).
    `-A KUBE-SERVICES -m comment --comment ${c('clusterIP')} -m set --match-set ${set('clusterIP')} dst,dst -j KUBE-MARK-MASQ`,
    `-A KUBE-SERVICES -m comment --comment ${c('clusterIP')} -m set --match-set ${set('clusterIP')} dst,dst ! -s ${clusterCIDR} -j KUBE-MARK-MASQ`,
    `-A KUBE-SERVICES -m comment --comment ${c('clusterIP')} -m set --match-set ${set('clusterIP')} src,dst -j KUBE-MARK-MASQ`,
    `-A KUBE-SERVICES -m comment --comment ${c('externalIP')} -m set --match-set ${set('externalIP')} dst,dst -j KUBE-MARK-MASQ`,
    `-A KUBE-SERVICES -m comment --comment ${c('externalIP')} -m set --match-set ${set('externalIP')} dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
    `-A KUBE-SERVICES -m comment --comment ${c('externalIP')} -m set --match-set ${set('externalIP')} dst,dst -m addrtype --dst-type LOCAL -j ACCEPT`,
    `-A KUBE-SERVICES -m comment --comment ${c('externalIPLocal')} -m set --match-set ${set('externalIPLocal')} dst,dst -m physdev ! --physdev-is-in -m addrtype ! --src-type LOCAL -j ACCEPT`,
    `-A KUBE-SERVICES -m comment --comment ${c('externalIPLocal')} -m set --match-set ${set('externalIPLocal')} dst,dst -m addrtype --dst-type LOCAL -j ACCEPT`,
    '-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT',
    '-A KUBE-LOAD-BALANCER -j KUBE-MARK-MASQ',
    `-A KUBE-SERVICES -m set --match-set ${set('clusterIP')} dst,dst -j ACCEPT`,
    `-A KUBE-SERVICES -m set --match-set ${set('loadBalancer')} dst,dst -j ACCEPT`,
    `-A KUBE-POSTROUTING -m mark ! --mark ${mark}/${mark} -j RETURN`,
    `-A KUBE-POSTROUTING -j MARK --xor-mark ${mark}`,
    `-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE${opts.randomFully === false ? '' : ' --random-fully'}`,
    `-A KUBE-MARK-MASQ -j MARK --or-mark ${mark}`,
    'COMMIT',
    '',
  ].join('\n');
  const outFilter =
    opts.ipvsMatch === false
      ? []
      : ['tcp', 'udp', 'sctp'].map((p, i) => `-A KUBE-IPVS-OUT-FILTER -s ${lb} -m ipvs --vaddr ${lb} --vproto ${p} --vport ${80 + i} -j DROP`);
  const filter = [
    '*filter',
    ':KUBE-FORWARD - [0:0]',
    ':KUBE-NODE-PORT - [0:0]',
    ':KUBE-PROXY-FIREWALL - [0:0]',
    ':KUBE-SOURCE-RANGES-FIREWALL - [0:0]',
    ':KUBE-IPVS-FILTER - [0:0]',
    ':KUBE-IPVS-OUT-FILTER - [0:0]',
    `-A KUBE-PROXY-FIREWALL -m comment --comment ${c('loadBalancerFW')} -m set --match-set ${set('loadBalancerFW')} dst,dst -j KUBE-SOURCE-RANGES-FIREWALL`,
    `-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment ${c('loadBalancerSourceCIDR')} -m set --match-set ${set('loadBalancerSourceCIDR')} dst,dst,src -j RETURN`,
    `-A KUBE-SOURCE-RANGES-FIREWALL -m comment --comment ${c('loadBalancerSourceIP')} -m set --match-set ${set('loadBalancerSourceIP')} dst,dst,src -j RETURN`,
    '-A KUBE-SOURCE-RANGES-FIREWALL -j DROP',
    ...outFilter,
    `-A KUBE-FORWARD -m comment --comment "kubernetes forwarding rules" -m mark --mark ${mark}/${mark} -j ACCEPT`,
    '-A KUBE-FORWARD -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    `-A KUBE-NODE-PORT -m comment --comment ${c('healthCheckNodePort')} -m set --match-set ${set('healthCheckNodePort')} dst -j ACCEPT`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('loadBalancer')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('clusterIP')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('externalIP')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('externalIPLocal')} dst,dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m set --match-set ${set('healthCheckNodePort')} dst -j RETURN`,
    `-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set ${set('ipvsIPs')} dst -j REJECT`,
    'COMMIT',
    '',
  ].join('\n');
  return { nat, filter };
}

/** Sample entries per set id and family, in kube-proxy's Entry.String() form. */
function sampleEntries(id: keyof typeof KUBE_IPSETS, family: 4 | 6): string[] {
  const a = family === 4 ? ['10.96.0.10', '10.96.0.11'] : ['fd00:96::a', 'fd00:96::b'];
  const ep = family === 4 ? '10.244.1.5' : 'fd00:244::5';
  const net = family === 4 ? ['10.0.0.0/8', '192.168.7.9/32'] : ['fd00:1::/64', '2001:db8::9/128'];
  switch (KUBE_IPSETS[id].type) {
    case 'hash:ip':
      return a;
    case 'hash:ip,port':
      return id === 'nodePortSCTP' || id === 'nodePortLocalSCTP' ? [`${a[0]},sctp:30001`] : [`${a[0]},tcp:80`, `${a[1]},udp:53`];
    case 'hash:ip,port,ip':
      return [`${ep},tcp:8080,${ep}`];
    case 'hash:ip,port,net':
      return net.map((n) => `${a[0]},tcp:443,${n}`);
    case 'bitmap:port':
      return ['30000', '32767'];
  }
}

/** All 17 sets of a family, with entries (or empty). */
export function kubeProxySets(family: 4 | 6, withEntries = true): Record<string, IpsetState> {
  const out: Record<string, IpsetState> = {};
  for (const id of Object.keys(KUBE_IPSETS) as (keyof typeof KUBE_IPSETS)[]) {
    out[ipsetName(KUBE_IPSETS[id].name, family)] = {
      type: KUBE_IPSETS[id].type,
      family: family === 4 ? 'inet' : 'inet6',
      entries: withEntries ? sampleEntries(id, family) : [],
    };
  }
  return out;
}
