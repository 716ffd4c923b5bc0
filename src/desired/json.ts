// Defensive readers for untrusted JSON objects (informer objects, YAML files): every field may be missing or of
// the wrong type. They never throw; callers turn an unexpected type into a diagnostic.

export type JsonRecord = Record<string, unknown>;

export function isRecord(v: unknown): v is JsonRecord {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** A string-to-string map (labels, annotations); non-string values are dropped. */
export function stringMap(v: unknown): Record<string, string> {
  if (!isRecord(v)) return {};
  let clean = true;
  for (const k in v) if (typeof v[k] !== 'string') clean = false;
  if (clean) return v as Record<string, string>;
  const out: Record<string, string> = {};
  for (const k in v) if (typeof v[k] === 'string') out[k] = v[k] as string;
  return out;
}

/** Short printable form of an untrusted value for diagnostics. */
export function show(v: unknown): string {
  if (v === undefined) return 'undefined';
  let s: string;
  try {
    s = JSON.stringify(v) ?? String(v);
  } catch {
    s = String(v);
  }
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function isPortNumber(v: unknown, min = 1): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= min && v <= 65535;
}
