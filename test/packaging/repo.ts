// Shared helpers of the packaging tests: where the repository is, and reading its YAML files.
// The compiled tests run from dist/test/packaging/, the files they check live in the source tree.

import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export function repoPath(...parts: string[]): string {
  return join(REPO_ROOT, ...parts);
}

export function readRepoFile(...parts: string[]): string {
  return readFileSync(repoPath(...parts), 'utf8');
}

/** Files directly in a repository folder whose names end with one of `suffixes`, sorted. */
export function listRepoFiles(folder: string, suffixes: string[]): string[] {
  return readdirSync(repoPath(folder))
    .filter((name) => suffixes.some((s) => name.endsWith(s)) && statSync(repoPath(folder, name)).isFile())
    .sort();
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

/** Every YAML document of a text, parsed strictly (duplicate keys and syntax errors throw). Empty documents are dropped. */
export function parseYamlDocuments(text: string, source: string): JsonObject[] {
  const docs = parseAllDocuments(text, { uniqueKeys: true, strict: true });
  if (!Array.isArray(docs)) throw new Error(`${source}: not a YAML stream`);
  const out: JsonObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(`${source}: ${doc.errors.map((e) => e.message).join('; ')}`);
    const value = doc.toJS() as Json;
    if (value === null || value === undefined) continue;
    if (typeof value !== 'object' || Array.isArray(value)) throw new Error(`${source}: a document is not a mapping`);
    out.push(value);
  }
  return out;
}

export function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Follows a path of keys / indexes; undefined when any step is missing. */
export function dig(value: Json | undefined, ...path: (string | number)[]): Json | undefined {
  let cur: Json | undefined = value;
  for (const step of path) {
    if (typeof step === 'number') {
      if (!Array.isArray(cur)) return undefined;
      cur = cur[step];
    } else {
      if (!isObject(cur)) return undefined;
      cur = cur[step];
    }
  }
  return cur;
}
