// Reading the Helm chart without helm: its values, its templates, and a deliberately tiny renderer for the
// one template whose data is plain value substitution (the KubeProxyConfiguration in configmap.yaml).
// Rendering the other templates needs Go templates + Sprig (include, toYaml | nindent, with, range):
// that is helm's job, done by helm.test.ts where a helm binary exists.

import { REPO_ROOT, dig, isObject, listRepoFiles, parseYamlDocuments, readRepoFile, type Json, type JsonObject } from './repo.js';
import { join } from 'node:path';

export const CHART_DIR = join('charts', 'kube-ipvs');
export const CHART_PATH = join(REPO_ROOT, CHART_DIR);

export function chartValues(): JsonObject {
  return parseYamlDocuments(readRepoFile(CHART_DIR, 'values.yaml'), 'values.yaml')[0] ?? {};
}

export function chartTemplates(): Map<string, string> {
  const out = new Map<string, string>();
  for (const name of listRepoFiles(join(CHART_DIR, 'templates'), ['.yaml', '.tpl', '.txt'])) {
    out.set(name, readRepoFile(CHART_DIR, 'templates', name));
  }
  return out;
}

/** Every `{{ ... }}` action of a template, trim markers removed, in order. */
export function templateActions(text: string): string[] {
  return [...text.matchAll(/\{\{-?\s*([\s\S]*?)\s*-?\}\}/g)].map((m) => m[1]!);
}

/** Helm's value merge: maps merge key by key, anything else (lists included) is replaced. */
export function mergeValues(base: Json, override: Json): Json {
  if (!isObject(base) || !isObject(override)) return structuredClone(override);
  const out: JsonObject = structuredClone(base);
  for (const [k, v] of Object.entries(override)) out[k] = k in out ? mergeValues(out[k]!, v) : structuredClone(v);
  return out;
}

/**
 * The `config.conf` text of templates/configmap.yaml rendered with `values`. Supports only what that block
 * uses: `{{ .Values.path }}`, `{{ .Values.path | quote }}` and `{{ .Values.path | toJson }}`; any other
 * action inside the block throws, so the block cannot silently grow beyond what this test renders.
 */
export function renderChartConfig(values: JsonObject): string {
  const template = readRepoFile(CHART_DIR, 'templates', 'configmap.yaml');
  const marker = '  config.conf: |\n';
  const start = template.indexOf(marker);
  if (start < 0) throw new Error('templates/configmap.yaml has no `config.conf: |` block');
  const block = template
    .slice(start + marker.length)
    .split('\n')
    .map((line) => line.replace(/^ {4}/, ''))
    .join('\n');
  return block.replace(/\{\{\s*([^}]*?)\s*\}\}/g, (_all, action: string) => {
    const m = /^\.Values((?:\.\w+)+)(?:\s*\|\s*(quote|toJson))?$/.exec(action);
    if (!m) throw new Error(`unsupported action in config.conf: {{ ${action} }}`);
    const value = dig(values, ...m[1]!.slice(1).split('.'));
    if (value === undefined) throw new Error(`.Values${m[1]} is not set`);
    if (m[2] === 'quote') return JSON.stringify(String(value));
    if (m[2] === 'toJson') return JSON.stringify(value);
    return String(value);
  });
}
