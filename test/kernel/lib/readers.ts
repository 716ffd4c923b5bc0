// Independent views of the kernel for assertions in kernel tests: what ipvsadm, ipset, iptables-save and
// `ip -j` report, parsed into plain data with canonical addresses. They use the standard tools on purpose:
// a driver under test should never be checked only by reading the kernel back through itself.

import { canonicalIP, joinHostPort } from '../../../src/model/ip.js';
import { IPVS_SVC_FLAGS, virtualServerKey } from '../../../src/model/state.js';
import { cmd, tryCmd, type CmdOptions } from './exec.js';

// ---------------------------------------------------------------- ipvsadm

export interface IpvsadmRealServer {
  address: string;
  port: number;
  weight: number;
  /** -m masquerading (NAT, what kube-proxy uses), -g gatewaying (direct routing), -i ipip tunnel. */
  method: 'masq' | 'route' | 'tunnel';
}

export interface IpvsadmService {
  /** "TCP/10.96.0.10:80" (src/model/state.ts virtualServerKey), or "FWM/7". */
  key: string;
  protocol: 'TCP' | 'UDP' | 'SCTP' | 'FWM';
  /** Canonical address; "" for fwmark services. */
  address: string;
  port: number;
  fwmark?: number;
  scheduler: string;
  /** IP_VS_SVC_F_* without HASHED, as in the plan document (persistent 1, one-packet 4, sched flags 8/16/32). */
  flags: number;
  /** Persistence timeout in seconds (0 when not persistent). */
  timeout: number;
  /** Persistence netmask when ipvsadm prints one (-M). */
  netmask?: string;
  realServers: IpvsadmRealServer[];
}

const SCHED_FLAG_BITS: Record<string, number> = {
  'sh-fallback': IPVS_SVC_FLAGS.SCHED1,
  'mh-fallback': IPVS_SVC_FLAGS.SCHED1,
  'flag-1': IPVS_SVC_FLAGS.SCHED1,
  'sh-port': IPVS_SVC_FLAGS.SCHED2,
  'mh-port': IPVS_SVC_FLAGS.SCHED2,
  'flag-2': IPVS_SVC_FLAGS.SCHED2,
  'flag-3': IPVS_SVC_FLAGS.SCHED3,
};

const PROTO_OPTS: Record<string, 'TCP' | 'UDP' | 'SCTP' | 'FWM'> = {
  '-t': 'TCP', '--tcp-service': 'TCP', '-u': 'UDP', '--udp-service': 'UDP',
  '--sctp-service': 'SCTP', '-f': 'FWM', '--fwmark-service': 'FWM',
};

function splitHostPort(text: string): { address: string; port: number } {
  const m = /^\[(.+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  if (!m) throw new Error(`ipvsadm: cannot parse address ${text}`);
  return { address: canonicalIP(m[1]) ?? m[1]!, port: Number(m[2]) };
}

/** Parses `ipvsadm -Sn` output. Services come back in the kernel's order; real servers likewise. */
export function parseIpvsadmSave(text: string): IpvsadmService[] {
  const services = new Map<string, IpvsadmService>();
  for (const line of text.split('\n')) {
    const tok = line.trim().split(/\s+/).filter(Boolean);
    if (tok.length === 0) continue;
    const isService = tok[0] === '-A';
    const isReal = tok[0] === '-a';
    if (!isService && !isReal) continue;
    let protocol: IpvsadmService['protocol'] | undefined;
    let target = '';
    const opt = new Map<string, string | true>();
    for (let i = 1; i < tok.length; i++) {
      const t = tok[i]!;
      if (PROTO_OPTS[t]) {
        protocol = PROTO_OPTS[t];
        target = tok[++i]!;
      } else if (['-s', '-p', '-M', '-b', '-r', '-w', '-x', '-y', '--pe', '--tun-type'].includes(t)) {
        opt.set(t, tok[++i]!);
      } else {
        opt.set(t, true);
      }
    }
    if (!protocol) continue;
    const key = protocol === 'FWM' ? `FWM/${target}` : virtualServerKey({ protocol, ...splitHostPort(target) });
    if (isService) {
      let flags = 0;
      let timeout = 0;
      if (opt.has('-p')) {
        flags |= IPVS_SVC_FLAGS.PERSISTENT;
        timeout = Number(opt.get('-p') === true ? 300 : opt.get('-p'));
      }
      if (opt.has('-o')) flags |= IPVS_SVC_FLAGS.ONEPACKET;
      const b = opt.get('-b');
      if (typeof b === 'string') for (const f of b.split(',')) flags |= SCHED_FLAG_BITS[f] ?? 0;
      const svc: IpvsadmService = {
        key,
        protocol,
        address: protocol === 'FWM' ? '' : splitHostPort(target).address,
        port: protocol === 'FWM' ? 0 : splitHostPort(target).port,
        scheduler: String(opt.get('-s') ?? ''),
        flags,
        timeout,
        realServers: [],
      };
      if (protocol === 'FWM') svc.fwmark = Number(target);
      const m = opt.get('-M');
      if (typeof m === 'string') svc.netmask = m;
      services.set(key, svc);
    } else {
      const svc = services.get(key);
      const r = opt.get('-r');
      if (!svc || typeof r !== 'string') continue;
      const method = opt.has('-m') ? 'masq' : opt.has('-i') ? 'tunnel' : 'route';
      svc.realServers.push({ ...splitHostPort(r), weight: Number(opt.get('-w') ?? 1), method });
    }
  }
  return [...services.values()];
}

/** All IPVS virtual servers of the current (or given) namespace, through ipvsadm. */
export async function ipvsadmServices(opts: CmdOptions = {}): Promise<IpvsadmService[]> {
  return parseIpvsadmSave(await cmd('ipvsadm', ['-Sn'], opts));
}

export interface IpvsadmStats {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
}

/** Per-service and per-real-server counters (`ipvsadm -Ln --stats --exact`), keyed like IpvsadmService.key and "key -> ip:port". */
export async function ipvsadmStats(opts: CmdOptions = {}): Promise<Map<string, IpvsadmStats>> {
  const out = new Map<string, IpvsadmStats>();
  let current = '';
  for (const line of (await cmd('ipvsadm', ['-Ln', '--stats', '--exact'], opts)).split('\n')) {
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    const rs = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    const stats = (m: RegExpExecArray, from: number): IpvsadmStats => ({
      conns: Number(m[from]), inPkts: Number(m[from + 1]), outPkts: Number(m[from + 2]),
      inBytes: Number(m[from + 3]), outBytes: Number(m[from + 4]),
    });
    if (svc) {
      current = svc[1] === 'FWM' ? `FWM/${svc[2]}` : virtualServerKey({ protocol: svc[1]!, ...splitHostPort(svc[2]!) });
      out.set(current, stats(svc, 3));
    } else if (rs && current) {
      const r = splitHostPort(rs[1]!);
      out.set(`${current} -> ${joinHostPort(r.address, r.port)}`, stats(rs, 2));
    }
  }
  return out;
}

// ---------------------------------------------------------------- ipset

export interface IpsetView {
  type: string;
  family?: string;
  /** Options of the create line besides family (hashsize, maxelem, range, comment: "", ...). */
  options: Record<string, string>;
  /** Members as ipset prints them, comments removed, sorted. */
  entries: string[];
  /** Member -> comment, for members that have one. */
  comments: Record<string, string>;
}

/** Parses `ipset save` output into sets by name. */
export function parseIpsetSave(text: string): Record<string, IpsetView> {
  const sets: Record<string, IpsetView> = {};
  for (const line of text.split('\n')) {
    const create = /^create (\S+) (\S+)(.*)$/.exec(line);
    if (create) {
      const opts = create[3]!.trim().split(/\s+/).filter(Boolean);
      const options: Record<string, string> = {};
      for (let i = 0; i < opts.length; i++) {
        const k = opts[i]!;
        // Flags without a value: comment, counters, skbinfo, forceadd.
        if (['comment', 'counters', 'skbinfo', 'forceadd'].includes(k)) options[k] = '';
        else options[k] = opts[++i] ?? '';
      }
      const { family, ...rest } = options;
      sets[create[1]!] = { type: create[2]!, family, options: rest, entries: [], comments: {} };
      continue;
    }
    const add = /^add (\S+) (\S+)(?: comment "(.*)")?/.exec(line);
    if (add && sets[add[1]!]) {
      sets[add[1]!]!.entries.push(add[2]!);
      if (add[3] !== undefined) sets[add[1]!]!.comments[add[2]!] = add[3];
    }
  }
  for (const s of Object.values(sets)) s.entries.sort();
  return sets;
}

export async function ipsetSets(opts: CmdOptions = {}): Promise<Record<string, IpsetView>> {
  return parseIpsetSave(await cmd('ipset', ['save'], opts));
}

// ---------------------------------------------------------------- iptables

export type IptablesBackend = 'legacy' | 'nft';

export interface IptablesChain {
  /** ACCEPT/DROP for built-in chains, "-" for user chains. */
  policy: string;
  /** Rules as `-A CHAIN ...` lines, in order. */
  rules: string[];
}

export type IptablesView = Record<string, Record<string, IptablesChain>>;

/** The command name for a family and backend: iptables-legacy, ip6tables-nft-save, ... */
export function iptablesCommand(family: 4 | 6, backend: IptablesBackend, suffix: '' | '-save' | '-restore' = ''): string {
  return `${family === 6 ? 'ip6tables' : 'iptables'}-${backend}${suffix}`;
}

/** Parses iptables-save output: table -> chain -> policy and rules. */
export function parseIptablesSave(text: string): IptablesView {
  const view: IptablesView = {};
  let table: Record<string, IptablesChain> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('*')) {
      table = view[line.slice(1).trim()] = {};
    } else if (line.startsWith(':') && table) {
      const [name, policy] = line.slice(1).split(/\s+/);
      table[name!] = { policy: policy ?? '-', rules: [] };
    } else if (line.startsWith('-A ') && table) {
      const chain = line.split(/\s+/)[1]!;
      (table[chain] ??= { policy: '-', rules: [] }).rules.push(line.trim());
    }
  }
  return view;
}

export async function iptablesSaveText(family: 4 | 6 = 4, backend: IptablesBackend = 'legacy', opts: CmdOptions & { table?: string } = {}): Promise<string> {
  return cmd(iptablesCommand(family, backend, '-save'), opts.table ? ['-t', opts.table] : [], opts);
}

export async function iptablesRules(family: 4 | 6 = 4, backend: IptablesBackend = 'legacy', opts: CmdOptions & { table?: string } = {}): Promise<IptablesView> {
  return parseIptablesSave(await iptablesSaveText(family, backend, opts));
}

// ---------------------------------------------------------------- links and addresses

export interface LinkView {
  index: number;
  name: string;
  /** IFF flags as ip prints them: UP, NOARP, BROADCAST, LOWER_UP, ... */
  flags: string[];
  operstate: string;
  /** dummy, veth, bridge, ... (undefined for lo and plain devices). */
  kind?: string;
  /** Canonical addresses with prefix length: "10.96.0.10/32". */
  addresses: string[];
}

interface IpJsonLink {
  ifindex: number;
  ifname: string;
  flags?: string[];
  operstate?: string;
  linkinfo?: { info_kind?: string };
  addr_info?: { local?: string; prefixlen?: number }[];
}

/** Every link of the current (or given) namespace with its addresses (`ip -j -d addr show`). */
export async function links(opts: CmdOptions = {}): Promise<LinkView[]> {
  const parsed = JSON.parse((await cmd('ip', ['-j', '-d', 'addr', 'show'], opts)) || '[]') as IpJsonLink[];
  return parsed.map((l) => ({
    index: l.ifindex,
    name: l.ifname,
    flags: l.flags ?? [],
    operstate: l.operstate ?? '',
    kind: l.linkinfo?.info_kind,
    addresses: (l.addr_info ?? []).filter((a) => a.local).map((a) => `${canonicalIP(a.local) ?? a.local}/${a.prefixlen}`),
  }));
}

export async function link(name: string, opts: CmdOptions = {}): Promise<LinkView | undefined> {
  return (await links(opts)).find((l) => l.name === name);
}

/** Addresses of one link without prefix length, canonical and sorted ([] when the link does not exist). */
export async function linkAddresses(name: string, opts: CmdOptions = {}): Promise<string[]> {
  const l = await link(name, opts);
  return (l?.addresses ?? []).map((a) => a.slice(0, a.lastIndexOf('/'))).sort();
}

/** Reads one sysctl through procfs ("net/ipv4/vs/conntrack" or "net.ipv4.vs.conntrack"). */
export async function sysctlValue(name: string, opts: CmdOptions = {}): Promise<string> {
  return (await cmd('cat', [`/proc/sys/${name.replace(/\./g, '/')}`], opts)).trim();
}

/** True when the tool exists and ran (exit code 0). */
export async function toolWorks(command: string, args: readonly string[], opts: CmdOptions = {}): Promise<boolean> {
  try {
    return (await tryCmd(command, args, opts)).exitCode === 0;
  } catch {
    return false;
  }
}
