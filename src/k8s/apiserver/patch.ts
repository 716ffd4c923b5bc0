// PATCH bodies: JSON merge patch (RFC 7386) and JSON patch (RFC 6902). Strategic merge patch is
// applied as a merge patch: for Services/EndpointSlices/Nodes the visible difference is only that
// lists (ports, endpoints) are replaced instead of merged by key, which is what tests send anyway.

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function isObject(v: unknown): v is Record<string, Json> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function mergePatch(target: Json | undefined, patch: Json): Json {
  if (!isObject(patch)) return structuredClone(patch);
  const out: Record<string, Json> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export interface JsonPatchOp {
  op: 'add' | 'remove' | 'replace' | 'move' | 'copy' | 'test';
  path: string;
  from?: string;
  value?: Json;
}

/** Applies RFC 6902 operations; throws Error with a message on a bad pointer or a failed test. */
export function jsonPatch(doc: Json, ops: unknown): Json {
  if (!Array.isArray(ops)) throw new Error('json patch must be an array of operations');
  let root: Json = structuredClone(doc);
  for (const raw of ops) {
    if (!isObject(raw) || typeof raw.op !== 'string' || typeof raw.path !== 'string') throw new Error('invalid json patch operation');
    const op = raw as unknown as JsonPatchOp;
    switch (op.op) {
      case 'add':
        root = put(root, op.path, structuredClone(op.value ?? null), 'add');
        break;
      case 'replace':
        get(root, op.path);
        root = put(root, op.path, structuredClone(op.value ?? null), 'replace');
        break;
      case 'remove':
        root = remove(root, op.path);
        break;
      case 'move': {
        const v = get(root, requireFrom(op));
        root = remove(root, requireFrom(op));
        root = put(root, op.path, v, 'add');
        break;
      }
      case 'copy':
        root = put(root, op.path, structuredClone(get(root, requireFrom(op))), 'add');
        break;
      case 'test':
        if (JSON.stringify(get(root, op.path)) !== JSON.stringify(op.value)) throw new Error(`testing value ${op.path} failed`);
        break;
      default:
        throw new Error(`unexpected json patch operation "${(op as { op: string }).op}"`);
    }
  }
  return root;
}

function requireFrom(op: JsonPatchOp): string {
  if (typeof op.from !== 'string') throw new Error(`json patch "${op.op}" needs "from"`);
  return op.from;
}

function pointer(path: string): string[] {
  if (path === '') return [];
  if (!path.startsWith('/')) throw new Error(`invalid json pointer "${path}"`);
  return path
    .slice(1)
    .split('/')
    .map((p) => p.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function get(root: Json, path: string): Json {
  return walk(root, pointer(path), path);
}

function walk(root: Json, parts: string[], path: string): Json {
  let cur: Json = root;
  for (const part of parts) {
    if (Array.isArray(cur)) {
      const i = Number(part);
      if (!/^[0-9]+$/.test(part) || i >= cur.length) throw new Error(`path ${path} not found`);
      cur = cur[i];
    } else if (isObject(cur) && part in cur) cur = cur[part];
    else throw new Error(`path ${path} not found`);
  }
  return cur;
}

function put(root: Json, path: string, value: Json, mode: 'add' | 'replace'): Json {
  const parts = pointer(path);
  if (parts.length === 0) return value;
  const last = parts.pop()!;
  const target = walk(root, parts, path);
  if (Array.isArray(target)) {
    if (last === '-' && mode === 'add') target.push(value);
    else {
      const i = Number(last);
      if (!/^[0-9]+$/.test(last) || i > target.length || (mode === 'replace' && i >= target.length)) throw new Error(`path ${path} out of range`);
      if (mode === 'add') target.splice(i, 0, value);
      else target[i] = value;
    }
  } else if (isObject(target)) target[last] = value;
  else throw new Error(`path ${path} has no parent object`);
  return root;
}

function remove(root: Json, path: string): Json {
  const parts = pointer(path);
  if (parts.length === 0) throw new Error('cannot remove the document root');
  const last = parts.pop()!;
  const target = walk(root, parts, path);
  if (Array.isArray(target)) {
    const i = Number(last);
    if (!/^[0-9]+$/.test(last) || i >= target.length) throw new Error(`path ${path} not found`);
    target.splice(i, 1);
  } else if (isObject(target) && last in target) delete target[last];
  else throw new Error(`path ${path} not found`);
  return root;
}
