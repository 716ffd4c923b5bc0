// The one sort order of every list in a NodeState (design.md: "Lists are sorted so output is stable").
// Each object gets a sort key: a string whose plain `<` order is the wanted order, so sorted lists can be kept
// with binary search and compared without parsing twice. Pure: no I/O.
//
//   addresses:      family (IPv4 first), then address bytes
//   virtual servers: family, address, protocol (TCP, UDP, SCTP), port
//   real servers:   address, port
//   ipset entries:  by their parts in that same order (IP, protocol, port, second IP / CIDR); bitmap ports numerically
//   diagnostics:    object, kind, message

import { parseCIDR, parseIP, type ParsedCIDR, type ParsedIP } from './ip.js';
import type { IpsetType } from './state.js';

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** "4" + 8 hex digits, or "6" + 32 hex digits. */
export function ipSortKeyOf(ip: ParsedIP): string {
  let s = ip.family === 4 ? '4' : '6';
  const b = ip.bytes;
  for (let i = 0; i < b.length; i++) s += HEX[b[i]!]!;
  return s;
}

/** Sort key of an address text; unparsable text sorts after every address, by its text. */
export function ipSortKey(text: string): string {
  const ip = parseIP(text);
  return ip ? ipSortKeyOf(ip) : `~${text}`;
}

export function cidrSortKeyOf(c: ParsedCIDR): string {
  return `${ipSortKeyOf(c)}/${String(c.prefix).padStart(3, '0')}`;
}

export function portSortKey(port: number): string {
  return String(port).padStart(5, '0');
}

/** Protocol order TCP, UDP, SCTP (either case). */
export function protocolSortKey(protocol: string): string {
  switch (protocol) {
    case 'TCP':
    case 'tcp':
      return '0';
    case 'UDP':
    case 'udp':
      return '1';
    case 'SCTP':
    case 'sctp':
      return '2';
    default:
      return `3${protocol}`;
  }
}

export function virtualServerSortKeyOf(ip: ParsedIP, protocol: string, port: number): string {
  return `${ipSortKeyOf(ip)}|${protocolSortKey(protocol)}|${portSortKey(port)}`;
}

export function virtualServerSortKey(vs: { address: string; protocol: string; port: number }): string {
  return `${ipSortKey(vs.address)}|${protocolSortKey(vs.protocol)}|${portSortKey(vs.port)}`;
}

export function realServerSortKey(rs: { address: string; port: number }): string {
  return `${ipSortKey(rs.address)}|${portSortKey(rs.port)}`;
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function compareVirtualServers(
  a: { address: string; protocol: string; port: number },
  b: { address: string; protocol: string; port: number },
): number {
  return cmp(virtualServerSortKey(a), virtualServerSortKey(b));
}

export function compareRealServers(a: { address: string; port: number }, b: { address: string; port: number }): number {
  return cmp(realServerSortKey(a), realServerSortKey(b));
}

/** Key of an "ip,proto:port" head (the part every hash:ip,port* entry starts with). */
export function ipPortEntrySortKeyOf(ip: ParsedIP, protocol: string, port: number): string {
  return `${ipSortKeyOf(ip)}|${protocolSortKey(protocol)}|${portSortKey(port)}`;
}

/** Sort key of one ipset entry in kube-proxy's Entry.String() format for the given set type. */
export function ipsetEntrySortKey(type: IpsetType, entry: string): string {
  const bad = `~${entry}`;
  if (type === 'bitmap:port') return /^[0-9]{1,5}$/.test(entry) ? portSortKey(Number(entry)) : bad;
  if (type === 'hash:ip') {
    const ip = parseIP(entry);
    return ip ? ipSortKeyOf(ip) : bad;
  }
  const parts = entry.split(',');
  const want = type === 'hash:ip,port' ? 2 : 3;
  if (parts.length !== want) return bad;
  const ip = parseIP(parts[0]);
  const pp = /^([a-z]+):([0-9]{1,5})$/.exec(parts[1]!);
  if (!ip || !pp) return bad;
  const head = ipPortEntrySortKeyOf(ip, pp[1]!, Number(pp[2]));
  if (want === 2) return head;
  if (type === 'hash:ip,port,ip') {
    const ip2 = parseIP(parts[2]);
    return ip2 ? `${head}|${ipSortKeyOf(ip2)}` : bad;
  }
  const net = parseCIDR(parts[2]);
  return net ? `${head}|${cidrSortKeyOf(net)}` : bad;
}

export function diagnosticSortKey(d: { object: string; kind?: string; message: string }): string {
  return `${d.object}\u0000${d.kind ?? ''}\u0000${d.message}`;
}

/** Sorts a copy of a list by a key function (keys computed once per element). */
export function sortByKey<T>(items: readonly T[], key: (item: T) => string): T[] {
  const keyed = items.map((item) => ({ k: key(item), item }));
  keyed.sort((a, b) => cmp(a.k, b.k));
  return keyed.map((x) => x.item);
}
