// An address as desired/ carries it: canonical text, family and sort key, computed once.
// Endpoint addresses are by far the most numerous input, so plain dotted-quad IPv4 takes a fast path that
// allocates nothing but the key (no split, no typed array); everything else goes through model/ip.ts.

import { formatCIDR, formatIP, parseCIDR, parseIP, type IPFamily, type ParsedCIDR } from '../model/ip.js';
import { cidrSortKeyOf, ipSortKeyOf } from '../model/order.js';

export interface Addr {
  /** Canonical text (Go's net.IP.String()). */
  text: string;
  family: IPFamily;
  /** Sort key (model/order.ts). */
  key: string;
}

export interface Cidr {
  /** Canonical network text, e.g. "10.0.0.0/8" (Go's *net.IPNet String()). */
  text: string;
  family: IPFamily;
  net: ParsedCIDR;
  key: string;
}

const HEX: string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Sort key of a plain IPv4 "a.b.c.d" without leading zeros (then the text is canonical); else undefined. */
export function fastV4Key(s: string): string | undefined {
  const n = s.length;
  if (n < 7 || n > 15) return undefined;
  let key = '4';
  let i = 0;
  for (let part = 0; part < 4; part++) {
    const start = i;
    let v = 0;
    while (i < n) {
      const c = s.charCodeAt(i);
      if (c < 48 || c > 57) break;
      v = v * 10 + (c - 48);
      i++;
    }
    const len = i - start;
    if (len === 0 || len > 3 || v > 255 || (len > 1 && s.charCodeAt(start) === 48)) return undefined;
    key += HEX[v];
    if (part < 3) {
      if (i >= n || s.charCodeAt(i) !== 46) return undefined;
      i++;
    }
  }
  return i === n ? key : undefined;
}

/**
 * Sort key of a port inside desired/'s keys: one UTF-16 code unit (0-65535 keep their order). Keys made of
 * fixed-width parts need no separators and stay under V8's 13-character limit for flat (non-cons) strings:
 * an IPv4 virtual server key is 9 + 1 + 1 characters.
 */
export function portKey(port: number): string {
  return String.fromCharCode(port);
}

/** Parses an address (sloppy, like kube-proxy's ParseIPSloppy); undefined when it is not one. */
export function toAddr(text: unknown): Addr | undefined {
  if (typeof text !== 'string') return undefined;
  const fast = fastV4Key(text);
  if (fast !== undefined) return { text, family: 4, key: fast };
  const ip = parseIP(text);
  if (!ip) return undefined;
  return { text: formatIP(ip.bytes), family: ip.family, key: ipSortKeyOf(ip) };
}

export function toCidr(text: unknown): Cidr | undefined {
  const net = parseCIDR(text);
  if (!net) return undefined;
  return { text: formatCIDR(net), family: net.family, net, key: cidrSortKeyOf(net) };
}
