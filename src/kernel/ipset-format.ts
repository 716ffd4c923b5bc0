// Pure text handling for the ipset driver (./ipset.ts): the canonical entry form shared by desired and
// observed state, parsing of `ipset save` output, kube-proxy's create arguments, its minimum-version check,
// and the one `ipset restore` script a sync runs. No I/O here, so all of it is host-tested with tables.
//
// Canonical entry = kube-proxy's Entry.String() with canonical addresses:
//   hash:ip           10.0.0.1
//   hash:ip,port      10.0.0.1,tcp:80
//   hash:ip,port,ip   10.0.0.1,tcp:80,10.0.0.1
//   hash:ip,port,net  1.2.3.4,tcp:80,10.0.0.0/8     (the net always carries its prefix, host bits cleared;
//                                                    `ipset save` omits "/32" and "/128": we put it back)
//   bitmap:port       3001
// IPv6 addresses are RFC 5952 text (compressed, lower case); protocols lower case.

import { formatIP, parseCIDR, parseIP } from '../model/ip.js';
import { ipsetEntrySortKey } from '../model/order.js';
import type { IpsetState, IpsetType } from '../model/state.js';

export type IpsetFamily = 'inet' | 'inet6';

export const IPSET_TYPES: readonly IpsetType[] = ['hash:ip', 'hash:ip,port', 'hash:ip,port,ip', 'hash:ip,port,net', 'bitmap:port'];

/** kube-proxy's defaults (pkg/proxy/ipvs/ipset setIPSetDefaults). */
export const IPSET_HASH_SIZE = 1024;
export const IPSET_MAX_ELEM = 65536;
export const IPSET_PORT_RANGE = '0-65535';

/** kube-proxy's MinIPSetCheckVersion. */
export const MIN_IPSET_VERSION = '6.0';

const ENTRY_PROTOCOLS = new Set(['tcp', 'udp', 'sctp']);

function ipForFamily(text: string, family: IpsetFamily): string | undefined {
  const ip = parseIP(text);
  if (!ip) return undefined;
  // An IPv4-mapped IPv6 address parses as IPv4 (as Go does): it belongs in an inet set, never an inet6 one.
  if ((ip.family === 4) !== (family === 'inet')) return undefined;
  return formatIP(ip.bytes);
}

function netForFamily(text: string, family: IpsetFamily): string | undefined {
  // `ipset save` prints a full-length net without its prefix; a bare address means a host net.
  const withPrefix = text.includes('/') ? text : `${text}/${family === 'inet' ? 32 : 128}`;
  const c = parseCIDR(withPrefix);
  if (!c || (c.family === 4) !== (family === 'inet')) return undefined;
  // The hash:*net types cannot store a zero prefix ("The value of the CIDR parameter ... is invalid").
  if (c.prefix === 0) return undefined;
  return `${formatIP(c.bytes)}/${c.prefix}`;
}

function portNumber(text: string | undefined): number | undefined {
  if (text === undefined || !/^[0-9]{1,5}$/.test(text)) return undefined;
  const n = Number(text);
  return n <= 65535 ? n : undefined;
}

/** "tcp:80" (or a bare "80", which ipset reads as tcp) -> "tcp:80"; undefined when invalid. */
function protoPort(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  const colon = text.indexOf(':');
  const proto = colon === -1 ? 'tcp' : text.slice(0, colon).toLowerCase();
  const port = portNumber(colon === -1 ? text : text.slice(colon + 1));
  if (!ENTRY_PROTOCOLS.has(proto) || port === undefined) return undefined;
  return `${proto}:${port}`;
}

/**
 * The canonical text of one entry of a set of the given type and family, or undefined when the entry is
 * not valid for that set (kube-proxy's Entry.Validate plus what the kernel refuses, e.g. a /0 net).
 */
export function canonicalIpsetEntry(type: IpsetType, family: IpsetFamily, entry: string): string | undefined {
  const parts = entry.trim().split(',');
  switch (type) {
    case 'bitmap:port': {
      const p = parts.length === 1 ? portNumber(parts[0]) : undefined;
      return p === undefined ? undefined : String(p);
    }
    case 'hash:ip': {
      if (parts.length !== 1) return undefined;
      return ipForFamily(parts[0]!, family);
    }
    case 'hash:ip,port': {
      if (parts.length !== 2) return undefined;
      const ip = ipForFamily(parts[0]!, family);
      const pp = protoPort(parts[1]);
      return ip && pp ? `${ip},${pp}` : undefined;
    }
    case 'hash:ip,port,ip': {
      if (parts.length !== 3) return undefined;
      const ip = ipForFamily(parts[0]!, family);
      const pp = protoPort(parts[1]);
      const ip2 = ipForFamily(parts[2]!, family);
      return ip && pp && ip2 ? `${ip},${pp},${ip2}` : undefined;
    }
    case 'hash:ip,port,net': {
      if (parts.length !== 3) return undefined;
      const ip = ipForFamily(parts[0]!, family);
      const pp = protoPort(parts[1]);
      const net = netForFamily(parts[2]!, family);
      return ip && pp && net ? `${ip},${pp},${net}` : undefined;
    }
  }
}

/** Entry order of restore scripts: plain code-unit order (stable, locale independent). Observed state uses the
 *  NodeState order of model/order.ts instead (EntryCanonicaliser.sort). */
export function sortEntries(entries: Iterable<string>): string[] {
  return [...entries].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** kube-proxy's exact create arguments (after the set name) for a set of this type and family. */
export function ipsetCreateArgs(type: IpsetType, family: IpsetFamily): string[] {
  if (type === 'bitmap:port') return [type, 'range', IPSET_PORT_RANGE];
  return [type, 'family', family, 'hashsize', String(IPSET_HASH_SIZE), 'maxelem', String(IPSET_MAX_ELEM)];
}

/** One set as `ipset save` describes it. */
export interface SavedIpset {
  name: string;
  /** The type text as printed (not necessarily one of ours). */
  type: string;
  /** Everything after the type on the create line, as tokens. */
  options: string[];
  /** "inet" / "inet6" from the options; bitmap:port has none (kube-proxy calls its family inet). */
  family: IpsetFamily | undefined;
  /** Element texts exactly as printed (first token after the set name on each add line). */
  elements: string[];
}

/**
 * Parses `ipset save` (or `ipset list -o save`) output. Unknown lines are ignored. "add" lines (there can
 * be hundreds of thousands) are cut with indexOf rather than split: this runs on every sync.
 */
export function parseIpsetSave(text: string): Map<string, SavedIpset> {
  const sets = new Map<string, SavedIpset>();
  let last: SavedIpset | undefined;
  let pos = 0;
  while (pos < text.length) {
    let end = text.indexOf('\n', pos);
    if (end === -1) end = text.length;
    const line = text.slice(pos, end);
    pos = end + 1;
    if (line.startsWith('add ')) {
      const nameEnd = line.indexOf(' ', 4);
      if (nameEnd === -1) continue;
      const name = line.slice(4, nameEnd);
      const elemEnd = line.indexOf(' ', nameEnd + 1);
      const elem = line.slice(nameEnd + 1, elemEnd === -1 ? undefined : elemEnd).trim();
      if (elem === '') continue;
      const set = last?.name === name ? last : sets.get(name);
      set?.elements.push(elem);
      last = set;
      continue;
    }
    const tokens = line.trim().split(/\s+/);
    if (tokens[0] === 'create' && tokens.length >= 3) {
      const options = tokens.slice(3);
      const fi = options.indexOf('family');
      const fam = fi === -1 ? undefined : options[fi + 1];
      last = { name: tokens[1]!, type: tokens[2]!, options, family: fam === 'inet' || fam === 'inet6' ? fam : undefined, elements: [] };
      sets.set(last.name, last);
    }
  }
  return sets;
}

interface Memo {
  /** Canonical text, null when invalid. */
  c: string | null;
  /** Sort key (model/order.ts) of the canonical text, once asked for. */
  k?: string;
}

/**
 * canonicalIpsetEntry and the entry sort key with memory: a node's entries barely change between syncs,
 * so each distinct text is parsed once. Two generations (rotate() once per sync) keep the memory bounded
 * by what the last two syncs saw. Deterministic, no I/O.
 */
export class EntryCanonicaliser {
  private current = new Map<string, Map<string, Memo>>();
  private previous = new Map<string, Map<string, Memo>>();

  private memo(type: IpsetType, family: IpsetFamily): (entry: string) => Memo {
    const key = `${type} ${family}`;
    let cur = this.current.get(key);
    if (!cur) this.current.set(key, (cur = new Map()));
    const prev = this.previous.get(key);
    return (entry) => {
      let m = cur.get(entry);
      if (m === undefined) {
        m = prev?.get(entry) ?? { c: canonicalIpsetEntry(type, family, entry) ?? null };
        cur.set(entry, m);
      }
      return m;
    };
  }

  /** The canonicaliser of one set type and family. */
  of(type: IpsetType, family: IpsetFamily): (entry: string) => string | undefined {
    const m = this.memo(type, family);
    return (entry) => m(entry).c ?? undefined;
  }

  /** Sorts texts in NodeState order (model/order.ts ipsetEntrySortKey). */
  sort(type: IpsetType, family: IpsetFamily, entries: Iterable<string>): string[] {
    const m = this.memo(type, family);
    const keyed: { k: string; e: string }[] = [];
    for (const e of entries) {
      const x = m(e);
      x.k ??= ipsetEntrySortKey(type, e);
      keyed.push({ k: x.k, e });
    }
    keyed.sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : a.e < b.e ? -1 : a.e > b.e ? 1 : 0));
    return keyed.map((x) => x.e);
  }

  /** Starts a new generation; texts not used since the one before are forgotten. */
  rotate(): void {
    this.previous = this.current;
    this.current = new Map();
  }
}

function isIpsetType(t: string): t is IpsetType {
  return (IPSET_TYPES as readonly string[]).includes(t);
}

/**
 * The observed state of one saved set in the shared shape. Entries that cannot be canonicalised (written
 * by someone else in a form we never produce) are kept verbatim, so they show up as superfluous and are
 * deleted by their own text. Undefined for a set of a type kube-proxy never creates.
 */
export function observedIpsetState(saved: SavedIpset, canon: EntryCanonicaliser = new EntryCanonicaliser()): IpsetState | undefined {
  if (!isIpsetType(saved.type)) return undefined;
  const family: IpsetFamily = saved.family ?? 'inet';
  const c = canon.of(saved.type, family);
  const entries = new Set<string>();
  for (const e of saved.elements) entries.add(c(e) ?? e);
  return { type: saved.type, family, entries: canon.sort(saved.type, family, entries) };
}

// Header words that do not take part in ipset's "same set" check for -exist (the kernel's
// mtype_same_set ignores the hash size because resizing changes it; bucketsize and initval are
// printed by newer kernels only).
const IGNORED_HEADER_WORDS = new Set(['hashsize', 'bucketsize', 'initval']);

/**
 * True when the saved set is exactly what `ipsetCreateArgs` would create, so `create ... -exist` is a no-op
 * and entries can be diffed in place. Any other header (other type, family, maxelem, range, or an
 * extension such as timeout/counters/comment) needs the set to be replaced.
 */
export function ipsetHeaderMatches(saved: SavedIpset, type: IpsetType, family: IpsetFamily): boolean {
  if (saved.type !== type) return false;
  const relevant = (words: string[]): string => {
    const out: string[] = [];
    for (let i = 0; i < words.length; i++) {
      const w = words[i]!;
      if (IGNORED_HEADER_WORDS.has(w)) {
        i++; // skip its value
        continue;
      }
      out.push(w);
    }
    return out.join(' ');
  };
  return relevant(saved.options) === relevant(ipsetCreateArgs(type, family).slice(1));
}

/**
 * kube-proxy's checkMinVersion: the version must parse as a "generic" version (two or more numeric
 * components, an optional leading "v", arbitrary trailing text, no leading zero in the first component)
 * and be >= 6.0. "7" and "total junk" are rejected.
 */
export function ipsetVersionSupported(version: string, min: string = MIN_IPSET_VERSION): boolean {
  const parse = (s: string): number[] | undefined => {
    const m = /^\s*v?([0-9]+(?:\.[0-9]+)*)(.*)$/.exec(s);
    if (!m) return undefined;
    const comps = m[1]!.split('.');
    if (comps.length < 2) return undefined;
    if (comps[0]!.length > 1 && comps[0]!.startsWith('0')) return undefined;
    return comps.map(Number);
  };
  const v = parse(version);
  const want = parse(min);
  if (!v || !want) return false;
  for (let i = 0; i < Math.max(v.length, want.length); i++) {
    const a = v[i] ?? 0;
    const b = want[i] ?? 0;
    if (a !== b) return a > b;
  }
  return true;
}

/** The version word of `ipset --version` output ("ipset v7.17, protocol version: 7" -> "v7.17"), as kube-proxy reads it. */
export function parseIpsetVersionOutput(output: string): string | undefined {
  return /v[0-9]+\.[0-9]+/.exec(output)?.[0];
}

/** The line number ipset restore names in its error ("Error in line 4: ..."). */
export function ipsetRestoreErrorLine(stderr: string): number | undefined {
  const m = /Error in line (\d+)/.exec(stderr);
  return m ? Number(m[1]) : undefined;
}

// ---------------------------------------------------------------------------------------------
// The restore script

/** What apply must do with one desired set whose existing header does not match. */
export type IpsetReplacement = 'recreate' | 'swap';

export interface IpsetScriptInput {
  /** Desired sets by name (entries canonical or not: they are canonicalised here). */
  desired: Record<string, IpsetState>;
  /** Saved sets by name (only the ones the driver owns). */
  saved: ReadonlyMap<string, SavedIpset>;
  /** How to replace each desired set whose header does not match (decided by the driver from references). */
  replacement: ReadonlyMap<string, IpsetReplacement>;
  /** Temporary set name for a swap of the named set. */
  swapName: (name: string) => string;
  /** Leftover temporary sets to destroy first. */
  leftovers?: readonly string[];
  /** Shared memory of canonical forms (the driver keeps one across syncs). */
  canon?: EntryCanonicaliser;
}

export interface IpsetScript {
  lines: string[];
  created: string[];
  replaced: { name: string; how: IpsetReplacement }[];
  added: number;
  deleted: number;
  /** Desired entries skipped because they are not valid for their set: "SET entry". */
  invalid: string[];
}

/** A planned ipset operation (structurally src/plan's IpsetCreateOp/AddOp/DelOp/DestroyOp). */
export type IpsetOp =
  | { kind: 'ipset-create'; set: string; type: IpsetType; family: IpsetFamily }
  | { kind: 'ipset-add'; set: string; entry: string }
  | { kind: 'ipset-del'; set: string; entry: string }
  | { kind: 'ipset-destroy'; set: string };

/** The restore line of one planned operation (create with kube-proxy's arguments). */
export function ipsetOpLine(op: IpsetOp): string {
  switch (op.kind) {
    case 'ipset-create':
      return `create ${op.set} ${ipsetCreateArgs(op.type, op.family).join(' ')}`;
    case 'ipset-add':
      return `add ${op.set} ${op.entry}`;
    case 'ipset-del':
      return `del ${op.set} ${op.entry}`;
    case 'ipset-destroy':
      return `destroy ${op.set}`;
  }
}

/** Restore lines of planned operations, in their order. */
export function ipsetOpLines(ops: readonly IpsetOp[]): string[] {
  return ops.map(ipsetOpLine);
}

/** Desired sets whose saved header would make `create -exist` fail (they need a replacement). */
export function mismatchedSets(desired: Record<string, IpsetState>, saved: ReadonlyMap<string, SavedIpset>): string[] {
  const out: string[] = [];
  for (const [name, want] of Object.entries(desired)) {
    const have = saved.get(name);
    if (have && !ipsetHeaderMatches(have, want.type, want.family)) out.push(name);
  }
  return out;
}

/**
 * The lines of the single `ipset -exist restore` run of a sync: create missing sets with kube-proxy's
 * exact arguments, add missing entries and delete superfluous ones, and replace sets whose header is
 * wrong (recreate when nothing references them, else fill a temporary set and swap it in). Sets are
 * handled in name order so the script is deterministic.
 *
 * Entries are compared by their text first and canonicalised only when the texts differ: desired state
 * is already canonical and the kernel prints almost everything the same way, so an unchanged node with
 * 100k entries costs two set lookups per entry.
 */
export function buildIpsetRestoreScript(input: IpsetScriptInput): IpsetScript {
  const out: IpsetScript = { lines: [], created: [], replaced: [], added: 0, deleted: 0, invalid: [] };
  const canon = input.canon ?? new EntryCanonicaliser();
  for (const name of input.leftovers ?? []) out.lines.push(`destroy ${name}`);
  for (const name of Object.keys(input.desired).sort()) {
    const want = input.desired[name]!;
    const c = canon.of(want.type, want.family);
    const have = input.saved.get(name);
    const create = (setName: string) => `create ${setName} ${ipsetCreateArgs(want.type, want.family).join(' ')}`;
    const validWanted = (): string[] => {
      const all = new Set<string>();
      for (const e of want.entries) {
        const v = c(e);
        if (v === undefined) out.invalid.push(`${name} ${e}`);
        else all.add(v);
      }
      return sortEntries(all);
    };
    const addAll = (setName: string) => {
      const all = validWanted();
      for (const e of all) out.lines.push(`add ${setName} ${e}`);
      out.added += all.length;
    };
    if (!have) {
      out.lines.push(create(name));
      out.created.push(name);
      addAll(name);
      continue;
    }
    if (!ipsetHeaderMatches(have, want.type, want.family)) {
      const how = input.replacement.get(name) ?? 'recreate';
      out.replaced.push({ name, how });
      if (how === 'recreate') {
        out.lines.push(`destroy ${name}`, create(name));
        addAll(name);
      } else {
        const tmp = input.swapName(name);
        out.lines.push(create(tmp));
        addAll(tmp);
        out.lines.push(`swap ${tmp} ${name}`, `destroy ${tmp}`);
      }
      continue;
    }
    // Same header: diff. Exact text matches first; canonical forms only for what is left over.
    const present = new Set(have.elements);
    const wantedText = new Set(want.entries);
    let presentCanonical: Set<string> | undefined;
    const adds = new Set<string>();
    for (const e of wantedText) {
      if (present.has(e)) continue;
      const v = c(e);
      if (v === undefined) {
        out.invalid.push(`${name} ${e}`);
        continue;
      }
      presentCanonical ??= new Set(have.elements.map((x) => c(x) ?? x));
      if (!presentCanonical.has(v)) adds.add(v);
    }
    let wantedCanonical: Set<string> | undefined;
    const dels: string[] = [];
    for (const raw of have.elements) {
      if (wantedText.has(raw)) continue;
      wantedCanonical ??= new Set(want.entries.map((x) => c(x)).filter((x): x is string => x !== undefined));
      // Delete by the kernel's own text when we could not canonicalise it; else by the canonical form.
      if (!wantedCanonical.has(c(raw) ?? raw)) dels.push(raw);
    }
    for (const e of sortEntries(adds)) out.lines.push(`add ${name} ${e}`);
    for (const e of dels) out.lines.push(`del ${name} ${e}`);
    out.added += adds.size;
    out.deleted += dels.length;
  }
  return out;
}
