// Label and field selectors with the grammar of k8s.io/apimachinery (labels.Parse, fields.ParseSelector).
// The embedded API server filters lists and watches with them exactly as the real server does, so the
// informers' selectors (kube-proxy's `!service.kubernetes.io/headless,!service.kubernetes.io/service-proxy-name`,
// the Node's `metadata.name=NODE`) are exercised for real in tests.
// Parse errors are returned (not thrown) so the server can answer 400 BadRequest with the message.

export type LabelRequirement =
  | { key: string; op: 'exists' | '!' }
  | { key: string; op: '=' | '!='; value: string }
  | { key: string; op: 'in' | 'notin'; values: string[] }
  | { key: string; op: 'gt' | 'lt'; value: number };

export type LabelSelector = LabelRequirement[];

export type ParseResult<T> = { ok: true; value: T } | { ok: false; error: string };

const KEY_CHARS = /[A-Za-z0-9._\-/]/;
const VALUE_CHARS = /[A-Za-z0-9._\-]/;

/** Parse a label selector string. The empty string selects everything. */
export function parseLabelSelector(text: string): ParseResult<LabelSelector> {
  const out: LabelRequirement[] = [];
  let i = 0;
  const s = text;
  const skipWs = () => {
    while (i < s.length && /\s/.test(s[i])) i++;
  };
  const readWhile = (re: RegExp) => {
    const start = i;
    while (i < s.length && re.test(s[i])) i++;
    return s.slice(start, i);
  };
  skipWs();
  if (i >= s.length) return { ok: true, value: [] };
  for (;;) {
    skipWs();
    let negated = false;
    if (s[i] === '!') {
      negated = true;
      i++;
      skipWs();
    }
    const key = readWhile(KEY_CHARS);
    if (!key) return { ok: false, error: `unable to parse requirement: found '${s.slice(i, i + 1) || 'end of string'}', expected: identifier` };
    const keyError = validateLabelKey(key);
    if (keyError) return { ok: false, error: keyError };
    skipWs();
    if (negated) {
      out.push({ key, op: '!' });
    } else if (i >= s.length || s[i] === ',') {
      out.push({ key, op: 'exists' });
    } else if (s.startsWith('==', i) || s.startsWith('!=', i) || s[i] === '=') {
      const op = s.startsWith('!=', i) ? '!=' : '=';
      i += s.startsWith('==', i) || s.startsWith('!=', i) ? 2 : 1;
      skipWs();
      const value = readWhile(VALUE_CHARS);
      const valueError = validateLabelValue(value);
      if (valueError) return { ok: false, error: valueError };
      out.push({ key, op, value });
    } else if (s[i] === '>' || s[i] === '<') {
      const op = s[i] === '>' ? 'gt' : 'lt';
      i++;
      skipWs();
      const raw = readWhile(/[0-9\-]/);
      if (!/^-?[0-9]+$/.test(raw)) return { ok: false, error: `for 'Gt', 'Lt' operators, the value must be an integer` };
      out.push({ key, op, value: Number(raw) });
    } else {
      const word = readWhile(/[a-z]/);
      if (word !== 'in' && word !== 'notin') {
        return { ok: false, error: `unable to parse requirement: found '${word || s[i]}', expected: in, notin, =, ==, !=, gt, lt` };
      }
      skipWs();
      if (s[i] !== '(') return { ok: false, error: `unable to parse requirement: found '${s[i] ?? 'end of string'}', expected: '('` };
      i++;
      const values: string[] = [];
      for (;;) {
        skipWs();
        const v = readWhile(VALUE_CHARS);
        const valueError = validateLabelValue(v);
        if (valueError) return { ok: false, error: valueError };
        values.push(v);
        skipWs();
        if (s[i] === ',') {
          i++;
          continue;
        }
        if (s[i] === ')') {
          i++;
          break;
        }
        return { ok: false, error: `unable to parse requirement: found '${s[i] ?? 'end of string'}', expected: ',', ')'` };
      }
      out.push({ key, op: word, values });
    }
    skipWs();
    if (i >= s.length) break;
    if (s[i] !== ',') return { ok: false, error: `unable to parse requirement: found '${s[i]}', expected: ','` };
    i++;
  }
  return { ok: true, value: out };
}

function validateLabelKey(key: string): string | undefined {
  const parts = key.split('/');
  if (parts.length > 2) return `invalid label key "${key}": a qualified name must have at most one '/'`;
  const name = parts[parts.length - 1];
  if (!name || name.length > 63 || !/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(name)) {
    return `invalid label key "${key}": name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  }
  if (parts.length === 2 && (!parts[0] || parts[0].length > 253 || !/^[a-z0-9]([a-z0-9.-]*[a-z0-9])?$/.test(parts[0]))) {
    return `invalid label key "${key}": prefix part must be a lowercase DNS subdomain`;
  }
  return undefined;
}

function validateLabelValue(value: string): string | undefined {
  if (value === '') return undefined;
  if (value.length > 63 || !/^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/.test(value)) {
    return `invalid label value: "${value}": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character`;
  }
  return undefined;
}

export function matchesLabels(selector: LabelSelector, labels: Record<string, unknown> | undefined): boolean {
  const get = (k: string): string | undefined => {
    const v = labels?.[k];
    return typeof v === 'string' ? v : undefined;
  };
  for (const r of selector) {
    const v = get(r.key);
    switch (r.op) {
      case 'exists':
        if (v === undefined) return false;
        break;
      case '!':
        if (v !== undefined) return false;
        break;
      case '=':
        if (v !== r.value) return false;
        break;
      case '!=':
        // Like the real server: "key!=value" also selects objects without the key.
        if (v === r.value) return false;
        break;
      case 'in':
        if (v === undefined || !r.values.includes(v)) return false;
        break;
      case 'notin':
        if (v !== undefined && r.values.includes(v)) return false;
        break;
      case 'gt':
      case 'lt': {
        if (v === undefined || !/^-?[0-9]+$/.test(v)) return false;
        const n = Number(v);
        if (r.op === 'gt' ? !(n > r.value) : !(n < r.value)) return false;
        break;
      }
    }
  }
  return true;
}

export interface FieldRequirement {
  field: string;
  op: '=' | '!=';
  value: string;
}
export type FieldSelector = FieldRequirement[];

/** Parse a field selector: `a=b,c==d,e!=f` with backslash escapes for `\`, `,` and `=`. */
export function parseFieldSelector(text: string): ParseResult<FieldSelector> {
  if (text.trim() === '') return { ok: true, value: [] };
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '\\' && i + 1 < text.length) {
      cur += c + text[i + 1];
      i++;
    } else if (c === ',') {
      terms.push(cur);
      cur = '';
    } else cur += c;
  }
  terms.push(cur);
  const out: FieldRequirement[] = [];
  for (const term of terms) {
    // Find the first unescaped operator.
    let opAt = -1;
    let op: '=' | '!=' = '=';
    let opLen = 1;
    for (let i = 0; i < term.length; i++) {
      if (term[i] === '\\') {
        i++;
        continue;
      }
      if (term.startsWith('!=', i)) {
        opAt = i;
        op = '!=';
        opLen = 2;
        break;
      }
      if (term.startsWith('==', i)) {
        opAt = i;
        opLen = 2;
        break;
      }
      if (term[i] === '=') {
        opAt = i;
        break;
      }
    }
    if (opAt <= 0) return { ok: false, error: `invalid selector: '${text}'; can't understand '${term}'` };
    const field = term.slice(0, opAt).trim();
    const value = unescapeFieldValue(term.slice(opAt + opLen));
    if (value === undefined) return { ok: false, error: `invalid field selector value in '${term}'` };
    out.push({ field, op, value });
  }
  return { ok: true, value: out };
}

function unescapeFieldValue(v: string): string | undefined {
  let out = '';
  for (let i = 0; i < v.length; i++) {
    if (v[i] === '\\') {
      const n = v[i + 1];
      if (n !== '\\' && n !== ',' && n !== '=') return undefined;
      out += n;
      i++;
    } else out += v[i];
  }
  return out;
}

/** The value of a dotted field path (`metadata.name`, `involvedObject.kind`) as the server compares it. */
export function fieldValue(obj: unknown, path: string): string {
  let cur: unknown = obj;
  for (const part of path.split('.')) {
    if (cur === null || typeof cur !== 'object') return '';
    cur = (cur as Record<string, unknown>)[part];
  }
  if (cur === undefined || cur === null) return '';
  return typeof cur === 'object' ? JSON.stringify(cur) : String(cur);
}

export function matchesFields(selector: FieldSelector, obj: unknown): boolean {
  for (const r of selector) {
    const v = fieldValue(obj, r.field);
    if (r.op === '=' ? v !== r.value : v === r.value) return false;
  }
  return true;
}
