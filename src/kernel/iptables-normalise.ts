// Pure: turns iptables-restore text (kube-proxy's form, src/desired output) into exactly what
// `iptables-save` prints back for it, so a sync can compare desired with observed and skip
// iptables-restore when nothing changed. Verified against iptables 1.8.9 legacy and nf_tables backends,
// IPv4 and IPv6 (test/kernel/iptables, test/kernel-tools). What iptables-save does that we mirror:
//   - `-s/-d` carry a prefix (/32, /128), host bits cleared, and come first, then -i, -o, -p, -f;
//     `! -s x` is printed before the matches whatever its position in the input;
//   - protocol numbers become names (6 -> tcp), "all" disappears; `-p tcp --dport` gains `-m tcp`;
//   - hex numbers lose leading zeros: `--mark 0x00004000/0x00004000` -> `--mark 0x4000/0x4000`,
//     a full mask is dropped; MARK's --set-mark/--or-mark/--xor-mark/--and-mark become --set-xmark v/m;
//   - REJECT gains its default `--reject-with icmp-port-unreachable` (icmp6-port-unreachable for IPv6);
//   - match options are printed in each module's own order (physdev, addrtype, conntrack, set, ipvs, ...),
//     conntrack states and addrtype types in their bit order; `-m ipvs --vproto tcp` -> `--vproto 6`;
//   - strings are quoted only when needed, with \" \\ \' escaped (xtables_save_string);
//   - chains are listed by name and rules grouped per chain (per-chain order is what matters).
// Modules not listed keep their options as written: a rule using one that iptables reorders would only
// cost an iptables-restore per sync, never a wrong rule.

import { formatIP, parseIP } from '../model/ip.js';

export type IptablesFamily = 4 | 6;

export interface Token {
  text: string;
  /** Came from a double-quoted string: always a value, never an option or "!". */
  quoted: boolean;
}

/** Splits one restore line as iptables-restore does: whitespace-separated, "..." quoting with \ escapes. */
export function tokenizeRule(line: string): Token[] {
  const out: Token[] = [];
  let buf = '';
  let inQuote = false;
  let quoted = false;
  let escaped = false;
  let has = false;
  for (const ch of line) {
    if (inQuote) {
      if (escaped) {
        buf += ch;
        escaped = false;
      } else if (ch === '\\') escaped = true;
      else if (ch === '"') inQuote = false;
      else buf += ch;
      continue;
    }
    if (ch === '"') {
      inQuote = true;
      quoted = true;
      has = true;
    } else if (ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r') {
      if (has) out.push({ text: buf, quoted });
      buf = '';
      quoted = false;
      has = false;
    } else {
      buf += ch;
      has = true;
    }
  }
  if (has) out.push({ text: buf, quoted });
  return out;
}

/** xtables_save_string: bare when only [A-Za-z0-9_-], else double-quoted with " \ ' escaped. */
export function saveString(value: string): string {
  if (/^[A-Za-z0-9_-]+$/.test(value)) return value;
  return `"${value.replace(/["\\']/g, (c) => `\\${c}`)}"`;
}

// ---------------------------------------------------------------------------------------------
// numbers and addresses

/** C strtoul(s, 0): 0x.. hex, 0.. octal, else decimal. */
function parseUint(s: string): number | undefined {
  let v: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(s)) v = parseInt(s.slice(2), 16);
  else if (/^0[0-7]+$/.test(s)) v = parseInt(s.slice(1), 8);
  else if (/^[0-9]+$/.test(s)) v = parseInt(s, 10);
  else return undefined;
  return v <= 0xffffffff ? v : undefined;
}

const hex = (n: number) => `0x${(n >>> 0).toString(16)}`;

/** "value[/mask]" as mark and MARK parse it; mask undefined when absent. */
function parseValueMask(s: string): { value: number; mask: number | undefined } | undefined {
  const [v, m, extra] = s.split('/');
  if (extra !== undefined || v === undefined) return undefined;
  const value = parseUint(v);
  const mask = m === undefined ? undefined : parseUint(m);
  if (value === undefined || (m !== undefined && mask === undefined)) return undefined;
  return { value, mask };
}

/** glibc inet_ntop for IPv6 (what iptables prints): RFC 5952, but ::ffff:a.b.c.d and ::a.b.c.d keep dotted tails. */
function formatIPv6LikeGlibc(bytes: Uint8Array): string {
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const tail = `${bytes[12]}.${bytes[13]}.${bytes[14]}.${bytes[15]}`;
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return `::ffff:${tail}`;
  if (zeros(0, 12) && !(bytes[12] === 0 && bytes[13] === 0)) return `::${tail}`;
  return formatIP(bytes);
}

/** Address bytes of the rule's family (an IPv4-mapped text in an IPv6 rule stays IPv6). */
function addressBytes(text: string, family: IptablesFamily): Uint8Array | undefined {
  const ip = parseIP(text);
  if (!ip) return undefined;
  if (family === 4) return ip.family === 4 ? ip.bytes : undefined;
  if (ip.family === 6) return ip.bytes;
  // parseIP folds ::ffff:a.b.c.d into IPv4; in an ip6tables rule it is an IPv6 address.
  if (!text.includes(':')) return undefined;
  const b = new Uint8Array(16);
  b[10] = 0xff;
  b[11] = 0xff;
  b.set(ip.bytes, 12);
  return b;
}

function formatAddress(bytes: Uint8Array): string {
  return bytes.length === 4 ? formatIP(bytes) : formatIPv6LikeGlibc(bytes);
}

/** Prefix length of a contiguous mask given as prefix or dotted quad; undefined otherwise. */
function maskPrefix(mask: string, bits: number): number | undefined {
  if (/^[0-9]{1,3}$/.test(mask)) {
    const n = Number(mask);
    return n <= bits ? n : undefined;
  }
  if (bits !== 32) return undefined;
  const ip = parseIP(mask);
  if (!ip || ip.family !== 4) return undefined;
  const v = ((ip.bytes[0]! << 24) | (ip.bytes[1]! << 16) | (ip.bytes[2]! << 8) | ip.bytes[3]!) >>> 0;
  const inv = ~v >>> 0;
  if ((inv & (inv + 1)) !== 0) return undefined; // not contiguous
  return 32 - Math.log2(inv + 1);
}

/** "addr[/mask]" -> "net/prefix" with host bits cleared; `omitFull` drops a full-length prefix (ipvs --vaddr). */
export function normaliseAddress(text: string, family: IptablesFamily, omitFull = false): string | undefined {
  const slash = text.indexOf('/');
  const bytes = addressBytes(slash === -1 ? text : text.slice(0, slash), family);
  if (!bytes) return undefined;
  const bits = bytes.length * 8;
  const prefix = slash === -1 ? bits : maskPrefix(text.slice(slash + 1), bits);
  if (prefix === undefined) return undefined;
  const net = bytes.slice();
  for (let b = prefix; b < bits; b++) net[b >> 3]! &= ~(0x80 >> (b & 7));
  const addr = formatAddress(net);
  return omitFull && prefix === bits ? addr : `${addr}/${prefix}`;
}

const PROTO_NAMES: Record<string, string> = { '6': 'tcp', '17': 'udp', '132': 'sctp', '1': 'icmp', '58': 'ipv6-icmp', '136': 'udplite', '50': 'esp', '51': 'ah' };
const PROTO_NUMBERS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, icmp: 1, icmpv6: 58, 'ipv6-icmp': 58, udplite: 136, esp: 50, ah: 51 };

function normaliseProtocol(p: string): string {
  const lower = p.toLowerCase();
  return PROTO_NAMES[lower] ?? lower;
}

function normalisePorts(p: string): string | undefined {
  const m = /^([0-9]*)(?::([0-9]*))?$/.exec(p);
  if (!m || (m[1] === '' && m[2] === undefined)) return undefined;
  const lo = m[1] === '' ? '0' : String(Number(m[1]));
  if (m[2] === undefined) return lo;
  const hi = m[2] === '' ? '65535' : String(Number(m[2]));
  return `${lo}:${hi}`;
}

// ---------------------------------------------------------------------------------------------
// rule structure

interface Opt {
  neg: boolean;
  name: string;
  values: Token[];
}

interface Match {
  name: string;
  options: Opt[];
}

interface ParsedRule {
  chain: string;
  basics: Map<string, { neg: boolean; value: string }>;
  matches: Match[];
  jump?: { kind: '-j' | '-g'; target: string; options: Opt[] };
}

const BASIC_ALIASES: Record<string, string> = {
  '-s': '-s', '--source': '-s', '--src': '-s',
  '-d': '-d', '--destination': '-d', '--dst': '-d',
  '-i': '-i', '--in-interface': '-i',
  '-o': '-o', '--out-interface': '-o',
  '-p': '-p', '--protocol': '-p',
};
const BASIC_ORDER = ['-s', '-d', '-i', '-o', '-p'];
/** Protocols whose options may follow `-p` without `-m` (iptables loads the match implicitly). */
const IMPLICIT_PROTO_MATCHES = new Set(['tcp', 'udp', 'sctp', 'udplite', 'dccp', 'icmp', 'icmp6', 'ipv6-icmp']);

function parseRule(tokens: Token[]): ParsedRule | string {
  const head = tokens[0];
  if (!head || head.quoted || (head.text !== '-A' && head.text !== '--append')) return `not an -A rule`;
  const chain = tokens[1]?.text;
  if (!chain) return 'missing chain name';
  const rule: ParsedRule = { chain, basics: new Map(), matches: [] };
  let cur: { options: Opt[] } | undefined;
  let neg = false;
  let fragment: { neg: boolean } | undefined;
  for (let i = 2; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (!t.quoted && t.text === '!') {
      neg = true;
      continue;
    }
    const basic = t.quoted ? undefined : BASIC_ALIASES[t.text];
    if (basic) {
      const v = tokens[++i];
      if (!v) return `${t.text} without a value`;
      if (rule.basics.has(basic)) return `${basic} given twice`;
      rule.basics.set(basic, { neg, value: v.text });
      neg = false;
      cur = undefined;
      continue;
    }
    if (!t.quoted && (t.text === '-f' || t.text === '--fragment')) {
      fragment = { neg };
      neg = false;
      continue;
    }
    if (!t.quoted && (t.text === '-m' || t.text === '--match')) {
      const name = tokens[++i];
      if (!name) return '-m without a module name';
      const m: Match = { name: name.text, options: [] };
      rule.matches.push(m);
      cur = m;
      neg = false;
      continue;
    }
    if (!t.quoted && (t.text === '-j' || t.text === '--jump' || t.text === '-g' || t.text === '--goto')) {
      const target = tokens[++i];
      if (!target) return `${t.text} without a target`;
      if (rule.jump) return 'two targets';
      rule.jump = { kind: t.text === '-g' || t.text === '--goto' ? '-g' : '-j', target: target.text, options: [] };
      cur = rule.jump;
      neg = false;
      continue;
    }
    if (!t.quoted && t.text.startsWith('-') && t.text.length > 1) {
      if (!cur) {
        const proto = rule.basics.get('-p');
        const p = proto ? normaliseProtocol(proto.value) : undefined;
        if (!p || !IMPLICIT_PROTO_MATCHES.has(p)) return `option ${t.text} outside any match`;
        const m: Match = { name: p === 'ipv6-icmp' ? 'icmp6' : p, options: [] };
        rule.matches.push(m);
        cur = m;
      }
      const values: Token[] = [];
      while (i + 1 < tokens.length) {
        const n = tokens[i + 1]!;
        if (!n.quoted && (n.text === '!' || (n.text.startsWith('-') && n.text.length > 1 && !/^-[0-9]/.test(n.text)))) break;
        values.push(n);
        i++;
      }
      cur.options.push({ neg, name: t.text, values });
      neg = false;
      continue;
    }
    return `unexpected "${t.text}"`;
  }
  if (neg) return 'dangling "!"';
  if (fragment) rule.basics.set('-f', { neg: fragment.neg, value: '' });
  return rule;
}

// ---------------------------------------------------------------------------------------------
// per-module printing

function printOpt(o: Opt, values: string[] = o.values.map((v) => (v.quoted ? saveString(v.text) : v.text))): string {
  return `${o.neg ? ' !' : ''} ${o.name}${values.map((v) => ` ${v}`).join('')}`;
}

/** Prints options in a fixed order (known names first, in `order`; unknown ones after, as written). */
function printOrdered(options: Opt[], order: string[], aliases: Record<string, string>, fmt: (o: Opt) => string | undefined): string | { error: string } {
  const known = options.map((o) => ({ o: { ...o, name: aliases[o.name] ?? o.name }, rank: order.indexOf(aliases[o.name] ?? o.name) }));
  const sorted = [...known.filter((k) => k.rank !== -1).sort((a, b) => a.rank - b.rank), ...known.filter((k) => k.rank === -1)];
  let out = '';
  for (const { o, rank } of sorted) {
    if (rank === -1) {
      out += printOpt(o);
      continue;
    }
    const s = fmt(o);
    if (s === undefined) return { error: `bad value for ${o.name}: ${o.values.map((v) => v.text).join(' ')}` };
    out += s;
  }
  return out;
}

const CT_STATES = ['INVALID', 'NEW', 'RELATED', 'ESTABLISHED', 'UNTRACKED', 'SNAT', 'DNAT'];
const ADDR_TYPES = ['UNSPEC', 'UNICAST', 'LOCAL', 'BROADCAST', 'ANYCAST', 'MULTICAST', 'BLACKHOLE', 'UNREACHABLE', 'PROHIBIT', 'THROW', 'NAT', 'XRESOLVE'];

function sortedList(text: string | undefined, order: string[]): string | undefined {
  if (text === undefined) return undefined;
  const items = text.split(',').map((s) => s.toUpperCase());
  if (items.some((s) => !order.includes(s))) return undefined;
  return [...new Set(items)].sort((a, b) => order.indexOf(a) - order.indexOf(b)).join(',');
}

const one = (o: Opt) => (o.values.length === 1 ? o.values[0]!.text : undefined);
const none = (o: Opt) => (o.values.length === 0 ? printOpt(o, []) : undefined);

function printMatch(m: Match, family: IptablesFamily): string | { error: string } {
  switch (m.name) {
    case 'comment':
      return printOrdered(m.options, ['--comment'], {}, (o) => {
        const v = one(o);
        return v === undefined ? undefined : printOpt(o, [saveString(v)]);
      });
    case 'set':
      return printOrdered(
        m.options,
        ['--match-set', '--return-nomatch', '--update-counters', '--update-subcounters'],
        { '--set': '--match-set' },
        (o) => (o.name === '--match-set' ? (o.values.length === 2 ? printOpt(o) : undefined) : none(o)),
      );
    case 'physdev':
      return printOrdered(m.options, ['--physdev-is-in', '--physdev-in', '--physdev-is-out', '--physdev-out', '--physdev-is-bridged'], {}, (o) =>
        o.name === '--physdev-in' || o.name === '--physdev-out' ? (one(o) === undefined ? undefined : printOpt(o)) : none(o),
      );
    case 'addrtype':
      return printOrdered(m.options, ['--src-type', '--dst-type', '--limit-iface-in', '--limit-iface-out'], {}, (o) => {
        if (o.name.startsWith('--limit')) return none(o);
        const v = sortedList(one(o), ADDR_TYPES);
        return v === undefined ? undefined : printOpt(o, [v]);
      });
    case 'conntrack':
      return printOrdered(m.options, ['--ctstate'], {}, (o) => {
        const v = sortedList(one(o), CT_STATES);
        return v === undefined ? undefined : printOpt(o, [v]);
      });
    case 'state':
      return printOrdered(m.options, ['--state'], {}, (o) => {
        const v = sortedList(one(o), CT_STATES);
        return v === undefined ? undefined : printOpt(o, [v]);
      });
    case 'mark':
      return printOrdered(m.options, ['--mark'], {}, (o) => {
        const vm = parseValueMask(one(o) ?? '');
        if (!vm) return undefined;
        const mask = vm.mask ?? 0xffffffff;
        return printOpt(o, [mask === 0xffffffff ? hex(vm.value) : `${hex(vm.value)}/${hex(mask)}`]);
      });
    case 'ipvs':
      return printIpvs(m, family);
    case 'tcp':
    case 'udp':
    case 'sctp':
    case 'udplite':
      return printOrdered(
        m.options,
        ['--sport', '--dport'],
        { '--source-port': '--sport', '--destination-port': '--dport', '--source-ports': '--sport', '--destination-ports': '--dport' },
        (o) => {
          const v = normalisePorts(one(o) ?? '');
          return v === undefined ? undefined : printOpt(o, [v]);
        },
      );
    default:
      return m.options.map((o) => printOpt(o)).join('');
  }
}

/** libxt_ipvs: "--ipvs" only when it is the sole option; proto as a number; /32 and /128 left out. */
function printIpvs(m: Match, family: IptablesFamily): string | { error: string } {
  const opts = m.options;
  if (opts.length === 1 && opts[0]!.name === '--ipvs') return printOpt(opts[0]!, []);
  const rest = opts.filter((o) => o.name !== '--ipvs');
  return printOrdered(rest, ['--vproto', '--vaddr', '--vport', '--vdir', '--vmethod', '--vportctl'], {}, (o) => {
    const v = one(o);
    if (v === undefined) return undefined;
    switch (o.name) {
      case '--vproto': {
        const n = /^[0-9]+$/.test(v) ? Number(v) : PROTO_NUMBERS[v.toLowerCase()];
        return n === undefined ? undefined : printOpt(o, [String(n)]);
      }
      case '--vaddr': {
        const a = normaliseAddress(v, family, true);
        return a === undefined ? undefined : printOpt(o, [a]);
      }
      case '--vport':
      case '--vportctl': {
        const p = /^[0-9]{1,5}$/.test(v) ? String(Number(v)) : undefined;
        return p === undefined ? undefined : printOpt(o, [p]);
      }
      case '--vdir':
      case '--vmethod':
        return printOpt(o, [v.toUpperCase()]);
      default:
        return undefined;
    }
  });
}

const REJECT_V4: Record<string, string> = {
  'icmp-net-unreachable': 'icmp-net-unreachable', 'net-unreach': 'icmp-net-unreachable',
  'icmp-host-unreachable': 'icmp-host-unreachable', 'host-unreach': 'icmp-host-unreachable',
  'icmp-port-unreachable': 'icmp-port-unreachable', 'port-unreach': 'icmp-port-unreachable',
  'icmp-proto-unreachable': 'icmp-proto-unreachable', 'proto-unreach': 'icmp-proto-unreachable',
  'icmp-net-prohibited': 'icmp-net-prohibited', 'net-prohib': 'icmp-net-prohibited',
  'icmp-host-prohibited': 'icmp-host-prohibited', 'host-prohib': 'icmp-host-prohibited',
  'icmp-admin-prohibited': 'icmp-admin-prohibited', 'admin-prohib': 'icmp-admin-prohibited',
  'tcp-reset': 'tcp-reset', 'tcp-rst': 'tcp-reset',
};
const REJECT_V6: Record<string, string> = {
  'icmp6-no-route': 'icmp6-no-route', 'no-route': 'icmp6-no-route',
  'icmp6-adm-prohibited': 'icmp6-adm-prohibited', 'adm-prohibited': 'icmp6-adm-prohibited',
  'icmp6-addr-unreachable': 'icmp6-addr-unreachable', 'addr-unreach': 'icmp6-addr-unreachable',
  'icmp6-port-unreachable': 'icmp6-port-unreachable', 'port-unreach': 'icmp6-port-unreachable',
  'icmp6-policy-fail': 'icmp6-policy-fail', 'policy-fail': 'icmp6-policy-fail',
  'icmp6-reject-route': 'icmp6-reject-route', 'reject-route': 'icmp6-reject-route',
  'tcp-reset': 'tcp-reset', 'tcp-rst': 'tcp-reset',
};

function printTarget(target: string, options: Opt[], family: IptablesFamily): string | { error: string } {
  switch (target) {
    case 'MARK': {
      if (options.length !== 1) return { error: 'MARK needs exactly one of --set-xmark/--set-mark/--and-mark/--or-mark/--xor-mark' };
      const o = options[0]!;
      const vm = parseValueMask(one(o) ?? '');
      if (!vm) return { error: `bad value for ${o.name}` };
      const full = 0xffffffff;
      let mark: number;
      let mask: number;
      switch (o.name) {
        case '--set-xmark':
          [mark, mask] = [vm.value, vm.mask ?? full];
          break;
        case '--set-mark':
          [mark, mask] = [vm.value, (vm.mask ?? full) | vm.value];
          break;
        case '--and-mark':
          [mark, mask] = [0, ~vm.value];
          break;
        case '--or-mark':
          [mark, mask] = [vm.value, vm.value];
          break;
        case '--xor-mark':
          [mark, mask] = [vm.value, 0];
          break;
        default:
          return { error: `unknown MARK option ${o.name}` };
      }
      if ((o.name === '--and-mark' || o.name === '--or-mark' || o.name === '--xor-mark') && vm.mask !== undefined) {
        return { error: `${o.name} takes no mask` };
      }
      return ` --set-xmark ${hex(mark)}/${hex(mask)}`;
    }
    case 'MASQUERADE':
      return printOrdered(options, ['--to-ports', '--random', '--random-fully'], {}, (o) => (o.name === '--to-ports' ? (one(o) === undefined ? undefined : printOpt(o)) : none(o)));
    case 'REJECT': {
      const names = family === 4 ? REJECT_V4 : REJECT_V6;
      const given = options.find((o) => o.name === '--reject-with');
      const others = options.filter((o) => o.name !== '--reject-with');
      if (others.length) return { error: `unknown REJECT option ${others[0]!.name}` };
      const v = given ? names[one(given) ?? ''] : family === 4 ? 'icmp-port-unreachable' : 'icmp6-port-unreachable';
      if (!v) return { error: `unknown --reject-with ${given ? one(given) : ''}` };
      return ` --reject-with ${v}`;
    }
    default:
      return options.map((o) => printOpt(o)).join('');
  }
}

/** One `-A` rule in iptables-save's form, or an error text. */
export function normaliseRule(line: string, family: IptablesFamily): { rule: string; chain: string } | { error: string } {
  const parsed = parseRule(tokenizeRule(line));
  if (typeof parsed === 'string') return { error: parsed };
  let out = `-A ${parsed.chain}`;
  for (const key of BASIC_ORDER) {
    const b = parsed.basics.get(key);
    if (!b) continue;
    let v: string | undefined = b.value;
    if (key === '-s' || key === '-d') v = normaliseAddress(b.value, family);
    else if (key === '-p') {
      v = normaliseProtocol(b.value);
      if (v === 'all' || v === '0') {
        if (b.neg) return { error: '! -p all' };
        continue;
      }
    }
    if (v === undefined) return { error: `bad value for ${key}: ${b.value}` };
    out += `${b.neg ? ' !' : ''} ${key} ${v}`;
  }
  const frag = parsed.basics.get('-f');
  if (frag) out += `${frag.neg ? ' !' : ''} -f`;
  for (const m of parsed.matches) {
    const s = printMatch(m, family);
    if (typeof s !== 'string') return s;
    out += ` -m ${m.name}${s}`;
  }
  if (parsed.jump) {
    const s = printTarget(parsed.jump.target, parsed.jump.options, family);
    if (typeof s !== 'string') return s;
    out += ` ${parsed.jump.kind} ${parsed.jump.target}${s}`;
  }
  return { rule: out, chain: parsed.chain };
}

// ---------------------------------------------------------------------------------------------
// tables

/** One table: declared chains (name -> policy, "-" for user chains) and their rules in order. */
export interface TableContent {
  table: string;
  chains: Map<string, { policy: string; rules: string[] }>;
}

export interface NormalisedTable {
  table: string;
  /** Canonical text (see canonicalTableText), "" when the input declared nothing. */
  text: string;
  /** Declared chains, sorted. */
  chains: string[];
  problems: string[];
}

const byName = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The canonical text of some chains of a table: `*table`, one `:CHAIN - [0:0]` per chain by name,
 * the rules grouped per chain in that order, `COMMIT`. It is valid restore input and it is what
 * iptables-save prints for those chains (minus its comments and the other chains).
 */
export function canonicalTableText(content: TableContent, only?: (chain: string) => boolean): string {
  const names = [...content.chains.keys()].filter((c) => !only || only(c)).sort(byName);
  if (names.length === 0) return '';
  const lines = [`*${content.table}`];
  for (const c of names) lines.push(`:${c} - [0:0]`);
  for (const c of names) lines.push(...content.chains.get(c)!.rules);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

/**
 * Normalises one table of restore text (kube-proxy's form) to the canonical text. Rules for chains the
 * text does not declare are problems: with --noflush they would be appended again on every restore.
 */
export function normaliseRestoreTable(text: string, family: IptablesFamily): NormalisedTable {
  const problems: string[] = [];
  let table = '';
  const content: TableContent = { table: '', chains: new Map() };
  const pending: { chain: string; rule: string; lineNo: number }[] = [];
  text.split('\n').forEach((raw, idx) => {
    const line = raw.trim();
    const lineNo = idx + 1;
    if (line === '' || line.startsWith('#')) return;
    if (line.startsWith('*')) {
      if (table) problems.push(`line ${lineNo}: second table ${line}`);
      else table = line.slice(1);
      return;
    }
    if (line === 'COMMIT') return;
    if (line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (!name) problems.push(`line ${lineNo}: bad chain line`);
      else if (!content.chains.has(name)) content.chains.set(name, { policy: policy ?? '-', rules: [] });
      return;
    }
    const r = normaliseRule(line, family);
    if ('error' in r) problems.push(`line ${lineNo}: ${r.error}: ${line}`);
    else pending.push({ chain: r.chain, rule: r.rule, lineNo });
  });
  for (const p of pending) {
    const c = content.chains.get(p.chain);
    if (!c) problems.push(`line ${p.lineNo}: rule for undeclared chain ${p.chain}`);
    else c.rules.push(p.rule);
  }
  content.table = table;
  if (!table && content.chains.size) problems.push('no *table line');
  return { table, text: canonicalTableText(content), chains: [...content.chains.keys()].sort(byName), problems };
}

/** Parses iptables-save output into tables (rules verbatim, as printed). */
export function parseIptablesSave(text: string): Map<string, TableContent> {
  const tables = new Map<string, TableContent>();
  let cur: TableContent | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      cur = { table: line.slice(1), chains: new Map() };
      tables.set(cur.table, cur);
    } else if (line === 'COMMIT') cur = undefined;
    else if (cur && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name) cur.chains.set(name, { policy: policy ?? '-', rules: [] });
    } else if (cur && line.startsWith('-A ')) {
      const chain = line.slice(3).split(/\s+/, 1)[0]!;
      const c = cur.chains.get(chain) ?? { policy: '-', rules: [] };
      cur.chains.set(chain, c);
      c.rules.push(line);
    }
  }
  return tables;
}

/** Parses canonical text (ours or observed) back into its chains. */
function chainsOf(canonical: string): Map<string, string[]> {
  const t = parseIptablesSave(canonical);
  const out = new Map<string, string[]>();
  for (const content of t.values()) for (const [c, v] of content.chains) out.set(c, v.rules);
  return out;
}

/**
 * True when the kernel already holds the desired table: every chain the desired text declares exists
 * with exactly the desired rules. Chains the desired text does not declare are not compared (the
 * restore would not touch them either).
 */
export function tableUpToDate(desired: NormalisedTable, observedCanonical: string): boolean {
  if (desired.chains.length === 0) return true;
  const have = chainsOf(observedCanonical);
  const want = chainsOf(desired.text);
  for (const c of desired.chains) {
    const h = have.get(c);
    const w = want.get(c)!;
    if (!h || h.length !== w.length || h.some((r, i) => r !== w[i])) return false;
  }
  return true;
}

/**
 * The plan's `iptablesEqual` (src/plan/options.ts): true when the observed canonical text (observe())
 * already holds what the desired restore text asks for. Unreadable desired text counts as different.
 */
export function iptablesTextEqual(desired: string, observed: string, family: IptablesFamily): boolean {
  const norm = normaliseRestoreTable(desired, family);
  return norm.problems.length === 0 && tableUpToDate(norm, observed);
}

/** The line number an iptables-restore error names (legacy and nf_tables wordings). */
export function restoreErrorLine(stderr: string): number | undefined {
  const m = /Error occurred at line: (\d+)/.exec(stderr) ?? /line (\d+) failed/.exec(stderr) ?? /^line (\d+):/m.exec(stderr);
  return m ? Number(m[1]) : undefined;
}
