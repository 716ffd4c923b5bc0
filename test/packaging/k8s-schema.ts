// Validates a Kubernetes object against the API schema of its kind (kubernetes-models, generated from the
// Kubernetes OpenAPI spec) and, on top of that, rejects fields the API does not know. The generated
// validators ignore unknown fields, as the API server does without --validate=strict, so a typo such as
// `readonly: true` or `hostNetwrok: true` would pass them silently; the field lists are read from the
// package's type declarations instead (one interface per API type, one `"field"?: Type;` line per field).

import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { REPO_ROOT, isObject, type Json, type JsonObject } from './repo.js';

const MODELS_ROOT = join(REPO_ROOT, 'node_modules', 'kubernetes-models');
const NODE_MODULES = join(REPO_ROOT, 'node_modules');

interface ApiType {
  /** field name -> type text as written in the declaration */
  fields: Map<string, string>;
  /** imported type name -> declaration file */
  imports: Map<string, string>;
}

const typeCache = new Map<string, ApiType | null>();

/** Reads the first `export interface` of a declaration file; null when the file declares only an alias. */
function readApiType(file: string): ApiType | null {
  const cached = typeCache.get(file);
  if (cached !== undefined) return cached;
  const text = readFileSync(file, 'utf8');
  const imports = new Map<string, string>();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2]!;
    const base = spec.startsWith('.') ? resolve(dirname(file), spec) : join(NODE_MODULES, spec);
    imports.set(m[1]!, `${base}.d.ts`);
  }
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith('export interface '));
  let result: ApiType | null = null;
  if (start >= 0) {
    const fields = new Map<string, string>();
    for (let i = start + 1; i < lines.length && lines[i] !== '}'; i++) {
      const m = /^ {4}"([^"]+)"\??: (.*?);?$/.exec(lines[i]!);
      if (m) fields.set(m[1]!, m[2]!);
    }
    result = { fields, imports };
  }
  typeCache.set(file, result);
  return result;
}

/** The declaration file of a field's object type (element type for arrays), or undefined for leaves and maps. */
function nestedTypeFile(owner: ApiType, typeText: string): string | undefined {
  const element = /^Array<(\w+)>$/.exec(typeText)?.[1] ?? typeText;
  const file = owner.imports.get(element);
  return file !== undefined && existsSync(file) ? file : undefined;
}

function unknownFields(value: Json, typeFile: string, path: string, out: string[]): void {
  if (Array.isArray(value)) {
    value.forEach((item, i) => unknownFields(item, typeFile, `${path}[${i}]`, out));
    return;
  }
  if (!isObject(value)) return;
  const type = readApiType(typeFile);
  if (type === null) return;
  for (const [key, child] of Object.entries(value)) {
    const typeText = type.fields.get(key);
    if (typeText === undefined) {
      out.push(`${path}.${key}: unknown field`);
      continue;
    }
    const nested = nestedTypeFile(type, typeText);
    if (nested !== undefined && child !== null) unknownFields(child, nested, `${path}.${key}`, out);
  }
}

interface ModelClass {
  new (data: unknown): { validate(): void };
}

/**
 * Every problem of one object: unknown kind, schema violations, unknown fields. Empty when valid.
 * The kind is looked up by apiVersion + kind, so a kind the Kubernetes API does not have is an error.
 */
export async function validateKubernetesObject(obj: JsonObject): Promise<string[]> {
  const apiVersion = obj['apiVersion'];
  const kind = obj['kind'];
  const name = `${String(kind)} ${String(isObject(obj['metadata']) ? obj['metadata']['name'] : '?')}`;
  if (typeof apiVersion !== 'string' || typeof kind !== 'string' || !/^[A-Za-z0-9./]+$/.test(apiVersion + kind)) {
    return [`${name}: apiVersion and kind must be strings`];
  }
  const declaration = join(MODELS_ROOT, apiVersion, `${kind}.d.ts`);
  if (!existsSync(declaration)) return [`${name}: unknown kind ${apiVersion}/${kind}`];
  const mod = (await import(`kubernetes-models/${apiVersion}/${kind}`)) as Record<string, unknown>;
  const Model = mod[kind] as ModelClass | undefined;
  if (typeof Model !== 'function') return [`${name}: unknown kind ${apiVersion}/${kind}`];
  const problems: string[] = [];
  try {
    new Model(obj).validate();
  } catch (err) {
    problems.push(`${name}: ${(err as Error).message}`);
  }
  const unknown: string[] = [];
  unknownFields(obj, declaration, name, unknown);
  return [...problems, ...unknown];
}
