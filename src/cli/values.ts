// Parsers for flag values with Go's (pflag / strconv / k8s utilflag) semantics. Each returns the value or the text
// that says what is allowed; the caller builds the message that names the flag and the value.

import { parseIP } from '../model/ip.js';
import { DURATION_ALLOWED, parseGoDuration } from './duration.js';

export type ValueResult<T> = { ok: true; value: T } | { ok: false; allowed: string };

const ok = <T>(value: T): ValueResult<T> => ({ ok: true, value });
const bad = <T>(allowed: string): ValueResult<T> => ({ ok: false, allowed });

const GO_TRUE = new Set(['1', 't', 'T', 'TRUE', 'true', 'True']);
const GO_FALSE = new Set(['0', 'f', 'F', 'FALSE', 'false', 'False']);

/** strconv.ParseBool. */
export function parseGoBool(text: string): ValueResult<boolean> {
  if (GO_TRUE.has(text)) return ok(true);
  if (GO_FALSE.has(text)) return ok(false);
  return bad('must be true or false');
}

/** strconv.ParseInt(s, 0, bits): decimal, 0x hex, 0o / leading-0 octal, 0b binary, underscores between digits. */
export function parseGoInt(text: string, bits: 32 | 64 = 32): ValueResult<number> {
  const m = /^([+-]?)(0[xX][0-9a-fA-F](?:_?[0-9a-fA-F])*|0[bB][01](?:_?[01])*|0[oO]?[0-7](?:_?[0-7])*|[1-9](?:_?[0-9])*|0)$/.exec(text);
  const allowed = bits === 32 ? 'must be an integer (32-bit)' : 'must be an integer';
  if (!m) return bad(allowed);
  const body = m[2]!.replace(/_/g, '');
  let n: bigint;
  if (/^0[xXbBoO]/.test(body)) n = BigInt(body.toLowerCase());
  else if (body.length > 1 && body.startsWith('0')) n = BigInt(`0o${body.slice(1)}`);
  else n = BigInt(body);
  if (m[1] === '-') n = -n;
  const max = (1n << BigInt(bits - 1)) - 1n;
  if (n > max || n < -max - 1n) return bad(`${allowed} in the range [${-max - 1n}, ${max}]`);
  return ok(Number(n));
}

/** strconv.ParseUint(s, 0, 32), for -v. */
export function parseGoUint32(text: string): ValueResult<number> {
  const r = parseGoInt(text, 64);
  if (!r.ok || r.value < 0 || r.value > 0xffffffff || text.startsWith('+') || text.startsWith('-')) {
    return bad('must be a non-negative integer');
  }
  return r;
}

/** strconv.ParseFloat(s, 32) for the decimal forms people write (5, 5.5, 1e3). */
export function parseGoFloat(text: string): ValueResult<number> {
  if (!/^[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text)) return bad('must be a number');
  const n = Number(text);
  return Number.isFinite(n) ? ok(n) : bad('must be a number');
}

/** A Go duration, in milliseconds. */
export function parseDurationValue(text: string): ValueResult<number> {
  const r = parseGoDuration(text);
  return r.ok ? ok(r.ms) : bad(DURATION_ALLOWED);
}

/**
 * pflag's StringSlice reads its value as one CSV record: "a,b" is two elements, `"a,b",c` keeps the quoted comma,
 * and the empty string is the empty list.
 */
export function parseCsvList(text: string): ValueResult<string[]> {
  if (text === '') return ok([]);
  if (!text.includes('"')) return ok(text.split(','));
  const out: string[] = [];
  let i = 0;
  for (;;) {
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) return bad('must be a comma-separated list (unterminated quote)');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      if (i < text.length && text[i] !== ',') return bad('must be a comma-separated list (text after a closing quote)');
    } else {
      const end = text.indexOf(',', i);
      field = text.slice(i, end === -1 ? text.length : end);
      if (field.includes('"')) return bad('must be a comma-separated list (a quote inside an unquoted element)');
      i = end === -1 ? text.length : end;
    }
    out.push(field);
    if (i >= text.length) return ok(out);
    i++; // the comma
    if (i === text.length) {
      out.push('');
      return ok(out);
    }
  }
}

/** utilflag.IPVar: an IP address (sloppy IPv4 parsing, as netutils.ParseIPSloppy). */
export function parseIPValue(text: string): ValueResult<string> {
  if (text === '') return ok('');
  return parseIP(text) ? ok(text) : bad('must be an IP address');
}

/** Go's net.SplitHostPort: "host:port" or "[v6]:port". */
export function splitHostPort(text: string): { host: string; port: string } | undefined {
  if (text.startsWith('[')) {
    const close = text.indexOf(']');
    if (close === -1 || text[close + 1] !== ':') return undefined;
    const host = text.slice(1, close);
    const port = text.slice(close + 2);
    if (host.includes('[') || host.includes(']') || port.includes(':') || port.includes('[') || port.includes(']')) return undefined;
    return { host, port };
  }
  const colon = text.lastIndexOf(':');
  if (colon === -1) return undefined;
  const host = text.slice(0, colon);
  if (host.includes(':')) return undefined; // "too many colons"
  const port = text.slice(colon + 1);
  if (port.includes('[') || port.includes(']') || host.includes('[') || host.includes(']')) return undefined;
  return { host, port };
}

/** utilflag.IPPortVar: empty (disables), an IP, or IP:port. */
export function parseIPPortValue(text: string): ValueResult<string> {
  if (text.trim() === '') return ok('');
  if (parseIP(text)) return ok(text);
  const hp = splitHostPort(text);
  const allowed = 'must be an IP address or IP:port, e.g. 0.0.0.0:10256 or [::]:10256';
  if (!hp || !parseIP(hp.host) || !/^[0-9]{1,5}$/.test(hp.port) || Number(hp.port) > 65535) return bad(allowed);
  return ok(text);
}

/** cliflag.MapStringBool: "Gate1=true,Gate2=false" (merged over repeated uses). */
export function parseMapStringBool(text: string): ValueResult<Record<string, boolean>> {
  const out: Record<string, boolean> = {};
  if (text.trim() === '') return ok(out);
  for (const raw of text.split(',')) {
    const item = raw.trim();
    const eq = item.indexOf('=');
    if (eq === -1) return bad(`must be a comma-separated list of key=true|false pairs (missing bool value for ${item})`);
    const key = item.slice(0, eq).trim();
    const v = parseGoBool(item.slice(eq + 1).trim());
    if (!v.ok || key === '') return bad(`must be a comma-separated list of key=true|false pairs (invalid value of ${item})`);
    out[key] = v.value;
  }
  return ok(out);
}
