// Loads Kubernetes objects from files (`kube-ipvs plan --objects FILE`): YAML (one or many documents) or JSON, as
// written by `kubectl get -o yaml|json` or by hand. `kind: List` and typed lists (ServiceList, ...) are flattened;
// items of a typed list may omit their kind (the API server omits it). Services (v1), EndpointSlices
// (discovery.k8s.io/v1) and Nodes (v1) are kept; other kinds are ignored with a note. Nothing is validated beyond
// that: desired/ turns bad objects into diagnostics.
// parseObjects is pure; loadObjectFiles adds the file reads.

import { readFileSync } from 'node:fs';
import { LineCounter, parseAllDocuments } from 'yaml';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';

export interface LoadedObjects {
  services: ApiService[];
  endpointSlices: ApiEndpointSlice[];
  nodes: ApiNode[];
  /** Human-readable notes about what was skipped ("objects.yaml: ignored 3 Pod objects ..."). */
  notes: string[];
}

/** A file that cannot be read or parsed. `line` is 1-based, 0 when unknown. */
export class ObjectsFileError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly reason: string,
  ) {
    super(`${file}${line > 0 ? `:${line}` : ''}: ${reason}`);
    this.name = 'ObjectsFileError';
  }
}

const KEPT: Record<string, readonly string[]> = {
  Service: ['v1'],
  EndpointSlice: ['discovery.k8s.io/v1'],
  Node: ['v1'],
};

type Raw = Record<string, unknown>;

function isObject(v: unknown): v is Raw {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function nameOf(o: Raw): string {
  const md = isObject(o.metadata) ? o.metadata : {};
  const name = typeof md.name === 'string' ? md.name : '?';
  return typeof md.namespace === 'string' && md.namespace !== '' ? `${md.namespace}/${name}` : name;
}

/** The yaml library's message without its position suffix and source excerpt (we print file:line ourselves). */
export function yamlReason(message: string): string {
  return message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
}

/** One parsed document (or JSON value) with the line it starts on. */
interface Doc {
  value: unknown;
  line: number;
}

function parseDocs(text: string, file: string): Doc[] {
  const trimmed = text.trimStart();
  // JSON first when it looks like JSON: JSON.parse is much faster than the YAML parser on big `kubectl get -o json`.
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    try {
      return [{ value: JSON.parse(text), line: 1 }];
    } catch {
      // Not valid JSON: the YAML parser below reports where it breaks (JSON is YAML).
    }
  }
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter });
  if (!Array.isArray(docs)) throw new ObjectsFileError(file, 0, 'cannot be read as YAML');
  const out: Doc[] = [];
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err) throw new ObjectsFileError(file, err.linePos?.[0].line ?? 0, `invalid YAML: ${yamlReason(err.message)}`);
    const line = doc.contents?.range ? lineCounter.linePos(doc.contents.range[0]).line : 0;
    out.push({ value: doc.toJS({ maxAliasCount: 1000 }), line });
  }
  return out;
}

/** Parses the text of one objects file. Throws ObjectsFileError on invalid YAML/JSON or a non-object document. */
export function parseObjects(text: string, file: string): LoadedObjects {
  const result: LoadedObjects = { services: [], endpointSlices: [], nodes: [], notes: [] };
  const ignored = new Map<string, string[]>();
  const ignore = (what: string, o: Raw): void => {
    const list = ignored.get(what) ?? [];
    list.push(nameOf(o));
    ignored.set(what, list);
  };

  const take = (value: unknown, line: number, inheritedKind: string | undefined): void => {
    if (value === null || value === undefined) return; // empty document
    if (Array.isArray(value)) {
      for (const item of value) take(item, line, inheritedKind);
      return;
    }
    if (!isObject(value)) {
      throw new ObjectsFileError(file, line, `a document must be a Kubernetes object (a mapping with apiVersion and kind), got ${JSON.stringify(value)}`);
    }
    const kind = typeof value.kind === 'string' && value.kind !== '' ? value.kind : inheritedKind;
    if (kind === undefined) {
      ignore('objects without a kind', value);
      return;
    }
    if ((kind === 'List' || kind.endsWith('List')) && Array.isArray(value.items)) {
      const itemKind = kind === 'List' ? undefined : kind.slice(0, -'List'.length);
      for (const item of value.items) take(item, line, itemKind);
      return;
    }
    const versions = KEPT[kind];
    if (!versions) {
      ignore(`${kind} objects`, value);
      return;
    }
    const apiVersion = value.apiVersion;
    if (apiVersion !== undefined && !versions.includes(apiVersion as string)) {
      ignore(`${kind} objects of apiVersion ${String(apiVersion)} (kube-ipvs reads ${versions.join(', ')})`, value);
      return;
    }
    const obj = { ...value, kind } as Raw;
    if (kind === 'Service') result.services.push(obj as ApiService);
    else if (kind === 'EndpointSlice') result.endpointSlices.push(obj as ApiEndpointSlice);
    else result.nodes.push(obj as ApiNode);
  };

  for (const doc of parseDocs(text, file)) take(doc.value, doc.line, undefined);
  for (const [what, names] of ignored) {
    const shown = names.slice(0, 5).join(', ') + (names.length > 5 ? `, and ${names.length - 5} more` : '');
    result.notes.push(`${file}: ignored ${names.length} ${what}: ${shown} (kube-ipvs reads Service, EndpointSlice and Node)`);
  }
  return result;
}

/** Reads and parses every file, in order, and concatenates what they hold. */
export function loadObjectFiles(files: readonly string[], readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): LoadedObjects {
  const all: LoadedObjects = { services: [], endpointSlices: [], nodes: [], notes: [] };
  for (const file of files) {
    let text: string;
    try {
      text = readFile(file);
    } catch (err) {
      throw new ObjectsFileError(file, 0, `cannot read the file: ${(err as Error).message}`);
    }
    const one = parseObjects(text, file);
    all.services.push(...one.services);
    all.endpointSlices.push(...one.endpointSlices);
    all.nodes.push(...one.nodes);
    all.notes.push(...one.notes);
  }
  return all;
}
