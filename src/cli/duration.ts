// Go's time.ParseDuration and time.Duration.String(), because kube-proxy's flags and KubeProxyConfiguration
// durations are Go durations ("30s", "1m30s", "2h22m", "500ms", "0"): an operator's existing values must mean the
// same thing here. Values are nanoseconds as bigint internally (exact, with Go's int64 overflow check) and
// milliseconds (number) at the edges, because ProxyConfig stores milliseconds.

const NS_PER_UNIT: Record<string, bigint> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
};

const MAX_INT64 = (1n << 63n) - 1n;

export type DurationParse = { ok: true; ns: bigint; ms: number } | { ok: false; error: string };

/** What a duration value may look like, for error messages. */
export const DURATION_ALLOWED = 'must be a duration such as 30s, 1m, 2h22m';

/** Parses a Go duration string. The error text is Go's ("time: unknown unit ..."), useful after our own message. */
export function parseGoDuration(text: string): DurationParse {
  const orig = text;
  const quoted = JSON.stringify(orig);
  let s = text;
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return { ok: true, ns: 0n, ms: 0 };
  if (s === '') return { ok: false, error: `time: invalid duration ${quoted}` };
  let total = 0n;
  while (s !== '') {
    // The next character must be [0-9.]
    if (!/^[0-9.]/.test(s)) return { ok: false, error: `time: invalid duration ${quoted}` };
    const intMatch = /^[0-9]*/.exec(s)![0];
    s = s.slice(intMatch.length);
    let fracDigits = '';
    const hadInt = intMatch !== '';
    if (s.startsWith('.')) {
      s = s.slice(1);
      fracDigits = /^[0-9]*/.exec(s)![0];
      s = s.slice(fracDigits.length);
    }
    if (!hadInt && fracDigits === '') return { ok: false, error: `time: invalid duration ${quoted}` };
    const unitMatch = /^[^0-9.]*/.exec(s)![0];
    s = s.slice(unitMatch.length);
    if (unitMatch === '') return { ok: false, error: `time: missing unit in duration ${quoted}` };
    const unit = NS_PER_UNIT[unitMatch];
    if (unit === undefined) return { ok: false, error: `time: unknown unit ${JSON.stringify(unitMatch)} in duration ${quoted}` };
    const intPart = hadInt ? BigInt(intMatch) : 0n;
    if (intPart > MAX_INT64 / unit) return { ok: false, error: `time: invalid duration ${quoted}` };
    let v = intPart * unit;
    if (fracDigits !== '') {
      // Exact: fraction * unit / 10^digits, truncated like Go's float math for every practical input.
      const scale = 10n ** BigInt(fracDigits.length);
      v += (BigInt(fracDigits) * unit) / scale;
    }
    total += v;
    if (total > MAX_INT64 + (neg ? 1n : 0n)) return { ok: false, error: `time: invalid duration ${quoted}` };
  }
  const ns = neg ? -total : total;
  return { ok: true, ns, ms: Number(ns) / 1e6 };
}

/** Formats nanoseconds the way Go's time.Duration.String() does: "0s", "500ms", "1.5s", "1m30s", "24h0m0s". */
export function formatGoDurationNs(nsIn: bigint): string {
  if (nsIn === 0n) return '0s';
  const neg = nsIn < 0n;
  let u = neg ? -nsIn : nsIn;
  let out: string;
  if (u < 1_000_000_000n) {
    let unit: string;
    let prec: number;
    if (u < 1_000n) {
      unit = 'ns';
      prec = 0;
    } else if (u < 1_000_000n) {
      unit = 'µs';
      prec = 3;
    } else {
      unit = 'ms';
      prec = 6;
    }
    const [rest, frac] = fmtFrac(u, prec);
    out = `${rest}${frac}${unit}`;
  } else {
    const [secsTotal, frac] = fmtFrac(u, 9);
    u = secsTotal;
    out = `${u % 60n}${frac}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return neg ? `-${out}` : out;
}

/** Splits v into v / 10^prec and the fraction text (".5", "" when zero), trailing zeros omitted. */
function fmtFrac(v: bigint, prec: number): [bigint, string] {
  const scale = 10n ** BigInt(prec);
  const whole = v / scale;
  const fracValue = v % scale;
  if (prec === 0 || fracValue === 0n) return [whole, ''];
  const digits = fracValue.toString().padStart(prec, '0').replace(/0+$/, '');
  return [whole, `.${digits}`];
}

/** Formats milliseconds as a Go duration string. */
export function formatGoDuration(ms: number): string {
  return formatGoDurationNs(BigInt(Math.round(ms * 1e6)));
}
