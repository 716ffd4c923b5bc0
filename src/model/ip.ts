// IP addresses and CIDRs in canonical text form (IPv4 dotted quad; IPv6 RFC 5952: compressed, lower case).
// Parsing is "sloppy" like Kubernetes' netutils.ParseIPSloppy: IPv4 octets may carry leading zeros and are
// read as decimal. IPv4-mapped IPv6 (::ffff:a.b.c.d) is treated as the IPv4 address, as Go's net.IP does.
// Pure: no I/O, no node: imports.

export type IPFamily = 4 | 6;

export interface ParsedIP {
  family: IPFamily;
  /** 4 or 16 bytes, network order. */
  bytes: Uint8Array;
}

function parseV4(s: string): Uint8Array | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  const out = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const p = parts[i]!;
    if (!/^[0-9]{1,3}$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    out[i] = n;
  }
  return out;
}

function parseV6(s: string): Uint8Array | undefined {
  if (s.includes('%')) return undefined; // zones are not service addresses
  let head = s;
  let tailV4: Uint8Array | undefined;
  const lastColon = s.lastIndexOf(':');
  if (s.indexOf('.', lastColon) !== -1) {
    tailV4 = parseV4(s.slice(lastColon + 1));
    if (!tailV4) return undefined;
    head = s.slice(0, lastColon + 1) + '0:0'; // placeholder groups, replaced below
  }
  const dbl = head.indexOf('::');
  if (dbl !== -1 && head.indexOf('::', dbl + 1) !== -1) return undefined;
  const toGroups = (t: string): number[] | undefined => {
    if (t === '') return [];
    const gs = t.split(':');
    const out: number[] = [];
    for (const g of gs) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  let groups: number[];
  if (dbl !== -1) {
    const left = toGroups(head.slice(0, dbl));
    const right = toGroups(head.slice(dbl + 2));
    if (!left || !right || left.length + right.length > 7) return undefined;
    groups = [...left, ...new Array<number>(8 - left.length - right.length).fill(0), ...right];
  } else {
    const all = toGroups(head);
    if (!all || all.length !== 8) return undefined;
    groups = all;
  }
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[i * 2] = g >> 8;
    out[i * 2 + 1] = g & 0xff;
  });
  if (tailV4) out.set(tailV4, 12);
  return out;
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 0; i < 10; i++) if (b[i] !== 0) return false;
  return b[10] === 0xff && b[11] === 0xff;
}

/** Parses an IP address; undefined when it is not one. */
export function parseIP(text: unknown): ParsedIP | undefined {
  if (typeof text !== 'string' || text.length === 0 || text.length > 64) return undefined;
  if (!text.includes(':')) {
    const v4 = parseV4(text);
    return v4 ? { family: 4, bytes: v4 } : undefined;
  }
  const v6 = parseV6(text);
  if (!v6) return undefined;
  if (isV4Mapped(v6)) return { family: 4, bytes: v6.slice(12) };
  return { family: 6, bytes: v6 };
}

/** Canonical text of 4 or 16 address bytes. */
export function formatIP(bytes: Uint8Array): string {
  if (bytes.length === 4) return `${bytes[0]}.${bytes[1]}.${bytes[2]}.${bytes[3]}`;
  if (bytes.length !== 16) throw new RangeError(`formatIP: ${bytes.length} bytes`);
  if (isV4Mapped(bytes)) return formatIP(bytes.slice(12));
  const groups: number[] = [];
  for (let i = 0; i < 16; i += 2) groups.push((bytes[i]! << 8) | bytes[i + 1]!);
  // RFC 5952: compress the longest run (>= 2) of zero groups, the first one on a tie.
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestStart === -1) return hex.join(':');
  return `${hex.slice(0, bestStart).join(':')}::${hex.slice(bestStart + bestLen).join(':')}`;
}

/** Canonical form of an address text, or undefined when it is not an IP address. */
export function canonicalIP(text: unknown): string | undefined {
  const p = parseIP(text);
  return p ? formatIP(p.bytes) : undefined;
}

export function ipFamilyOf(text: string): IPFamily | undefined {
  return parseIP(text)?.family;
}

export interface ParsedCIDR {
  family: IPFamily;
  /** Network bytes with host bits cleared. */
  bytes: Uint8Array;
  prefix: number;
}

/** Parses "a.b.c.d/n" or "x::/n" (host bits are cleared, as Go's ParseCIDR returns the network). */
export function parseCIDR(text: unknown): ParsedCIDR | undefined {
  if (typeof text !== 'string') return undefined;
  const slash = text.indexOf('/');
  if (slash === -1) return undefined;
  const ip = parseIP(text.slice(0, slash));
  const pfx = text.slice(slash + 1);
  if (!ip || !/^[0-9]{1,3}$/.test(pfx)) return undefined;
  const prefix = Number(pfx);
  if (prefix > ip.bytes.length * 8) return undefined;
  const bytes = ip.bytes.slice();
  for (let bit = prefix; bit < bytes.length * 8; bit++) bytes[bit >> 3]! &= ~(0x80 >> (bit & 7));
  return { family: ip.family, bytes, prefix };
}

export function formatCIDR(c: ParsedCIDR): string {
  return `${formatIP(c.bytes)}/${c.prefix}`;
}

export function cidrContains(cidr: ParsedCIDR, ip: ParsedIP): boolean {
  if (cidr.family !== ip.family) return false;
  for (let bit = 0; bit < cidr.prefix; bit++) {
    const m = 0x80 >> (bit & 7);
    if ((cidr.bytes[bit >> 3]! & m) !== (ip.bytes[bit >> 3]! & m)) return false;
  }
  return true;
}

/** True when the address text lies inside any of the CIDRs (unparsable entries never match). */
export function inAnyCIDR(address: string, cidrs: readonly (ParsedCIDR | undefined)[]): boolean {
  const ip = parseIP(address);
  if (!ip) return false;
  return cidrs.some((c) => c !== undefined && cidrContains(c, ip));
}

export function isLoopback(ip: ParsedIP): boolean {
  if (ip.family === 4) return ip.bytes[0] === 127;
  return ip.bytes.every((b, i) => (i === 15 ? b === 1 : b === 0));
}

export function isLinkLocalUnicast(ip: ParsedIP): boolean {
  if (ip.family === 4) return ip.bytes[0] === 169 && ip.bytes[1] === 254;
  return ip.bytes[0] === 0xfe && (ip.bytes[1]! & 0xc0) === 0x80;
}

export function isUnspecified(ip: ParsedIP): boolean {
  return ip.bytes.every((b) => b === 0);
}

/** "host:port" with IPv6 in brackets, as Go's net.JoinHostPort. */
export function joinHostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/** Sorts canonical address texts: IPv4 before IPv6, then by bytes (stable output for plans and goldens). */
export function compareIPs(a: string, b: string): number {
  const pa = parseIP(a);
  const pb = parseIP(b);
  if (!pa || !pb) return a < b ? -1 : a > b ? 1 : 0;
  if (pa.family !== pb.family) return pa.family - pb.family;
  for (let i = 0; i < pa.bytes.length; i++) if (pa.bytes[i] !== pb.bytes[i]) return pa.bytes[i]! - pb.bytes[i]!;
  return 0;
}
