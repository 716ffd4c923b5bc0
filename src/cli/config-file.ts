// Reads a KubeProxyConfiguration file (kubeproxy.config.k8s.io/v1alpha1, YAML or JSON) the way kube-proxy does
// (cmd/kube-proxy/app/options.go loadConfig):
//   - decoding is strict first; when it fails only for strict reasons (unknown or duplicate fields) kube-proxy
//     decodes again leniently, logs "Using lenient decoding as strict decoding failed" and carries on. kube-ipvs does
//     the same: unknown and duplicate fields are warnings (with their line), the last duplicate wins, and fields are
//     matched case-sensitively;
//   - a wrong apiVersion or kind, a value of the wrong type, or YAML that does not parse is an error;
//   - YAML is read with YAML 1.1 scalars, as Go's sigs.k8s.io/yaml does (`strictARP: yes` is true);
//   - then SetDefaults_KubeProxyConfiguration and the v1alpha1 -> internal conversion (kube-proxy-settings.ts).
// Pure apart from the file read in loadConfigFile.

import { readFileSync } from 'node:fs';
import { isMap, isScalar, isSeq, LineCounter, parseAllDocuments, type Node as YamlNode } from 'yaml';
import { parseGoDuration } from './duration.js';
import { UsageError } from './errors.js';
import {
  appendPortIfNeeded,
  flagDefaults,
  isIpvsMode,
  KUBE_PROXY_OOM_SCORE_ADJ,
  PROXY_HEALTHZ_PORT,
  PROXY_STATUS_PORT,
  type KubeProxySettings,
} from './kube-proxy-settings.js';
import { parseIP } from '../model/ip.js';
import { yamlReason } from '../k8s/objects.js';

export const CONFIG_API_VERSION = 'kubeproxy.config.k8s.io/v1alpha1';
export const CONFIG_KIND = 'KubeProxyConfiguration';

type Leaf = 'string' | 'bool' | 'int32' | 'uint32' | 'float' | 'duration' | 'durationOrNs' | 'strings' | 'boolMap' | 'any';
interface Shape {
  [field: string]: Leaf | Shape;
}

const DURATION = 'duration' as const;

/** Every field of v1alpha1 KubeProxyConfiguration (staging/src/k8s.io/kube-proxy/config/v1alpha1/types.go). */
const SCHEMA: Shape = {
  apiVersion: 'string',
  kind: 'string',
  featureGates: 'boolMap',
  clientConnection: { kubeconfig: 'string', acceptContentTypes: 'string', contentType: 'string', qps: 'float', burst: 'int32' },
  logging: { format: 'string', flushFrequency: 'durationOrNs', verbosity: 'uint32', vmodule: 'any', options: 'any' },
  hostnameOverride: 'string',
  bindAddress: 'string',
  healthzBindAddress: 'string',
  metricsBindAddress: 'string',
  bindAddressHardFail: 'bool',
  enableProfiling: 'bool',
  showHiddenMetricsForVersion: 'string',
  mode: 'string',
  iptables: {
    masqueradeBit: 'int32',
    masqueradeAll: 'bool',
    localhostNodePorts: 'bool',
    snatNodeInternalIP: 'bool',
    syncPeriod: DURATION,
    minSyncPeriod: DURATION,
  },
  ipvs: {
    syncPeriod: DURATION,
    minSyncPeriod: DURATION,
    scheduler: 'string',
    excludeCIDRs: 'strings',
    strictARP: 'bool',
    tcpTimeout: DURATION,
    tcpFinTimeout: DURATION,
    udpTimeout: DURATION,
  },
  nftables: { masqueradeBit: 'int32', masqueradeAll: 'bool', syncPeriod: DURATION, minSyncPeriod: DURATION },
  winkernel: { networkName: 'string', sourceVip: 'string', enableDSR: 'bool', rootHnsEndpointName: 'string', forwardHealthCheckVip: 'bool' },
  detectLocalMode: 'string',
  detectLocal: { bridgeInterface: 'string', interfaceNamePrefix: 'string' },
  clusterCIDR: 'string',
  nodePortAddresses: 'strings',
  oomScoreAdj: 'int32',
  conntrack: {
    maxPerCore: 'int32',
    min: 'int32',
    tcpEstablishedTimeout: DURATION,
    tcpCloseWaitTimeout: DURATION,
    tcpBeLiberal: 'bool',
    udpTimeout: DURATION,
    udpStreamTimeout: DURATION,
  },
  configSyncPeriod: DURATION,
  portRange: 'string',
  windowsRunAsService: 'bool',
};

/** Every field path of the v1alpha1 schema ("ipvs.syncPeriod"), in schema order (docs, tests). */
export function configFieldPaths(shape: Shape = SCHEMA, prefix = ''): { path: string; type: string }[] {
  const out: { path: string; type: string }[] = [];
  for (const [key, kind] of Object.entries(shape)) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    if (typeof kind === 'object') out.push(...configFieldPaths(kind, path));
    else out.push({ path, type: kind });
  }
  return out;
}

/** One decoded field: its typed value (durations in ms), its line and its text for messages. */
export interface DecodedField {
  value: unknown;
  line: number;
  text: string;
}

export interface LoadedConfig {
  /** Where the file's values landed, for messages: field path -> line. */
  lines: Map<string, number>;
  settings: KubeProxySettings;
  warnings: string[];
  /** The fields the file set, by dotted path (ipvs.syncPeriod). */
  fields: Map<string, DecodedField>;
}

function describe(node: YamlNode | null | undefined): string {
  if (!node) return 'null';
  if (isScalar(node)) return typeof node.value === 'string' ? JSON.stringify(node.value) : String(node.value);
  return JSON.stringify(node.toJSON());
}

function leafExpectation(leaf: Leaf): string {
  switch (leaf) {
    case 'string':
      return 'must be a string';
    case 'bool':
      return 'must be true or false';
    case 'int32':
      return 'must be an integer in the range [-2147483648, 2147483647]';
    case 'uint32':
      return 'must be a non-negative integer';
    case 'float':
      return 'must be a number';
    case 'duration':
      return 'must be a duration string such as "30s", "1m", "2h22m"';
    case 'durationOrNs':
      return 'must be a duration string such as "5s" or an integer number of nanoseconds';
    case 'strings':
      return 'must be a list of strings';
    case 'boolMap':
      return 'must be a mapping of names to true or false';
    case 'any':
      return 'must be valid YAML';
  }
}

/** Decodes one leaf; undefined `value` + an error text when the type does not match. */
function decodeLeaf(leaf: Leaf, node: YamlNode): { ok: true; value: unknown } | { ok: false } {
  if (leaf === 'any') return { ok: true, value: node.toJSON() };
  if (leaf === 'strings') {
    if (!isSeq(node)) return { ok: false };
    const out: string[] = [];
    for (const item of node.items) {
      if (!isScalar(item) || typeof item.value !== 'string') return { ok: false };
      out.push(item.value);
    }
    return { ok: true, value: out };
  }
  if (leaf === 'boolMap') {
    if (!isMap(node)) return { ok: false };
    const out: Record<string, boolean> = {};
    for (const pair of node.items) {
      const k = pair.key as YamlNode;
      const v = pair.value as YamlNode | null;
      if (!isScalar(k) || !isScalar(v) || typeof v.value !== 'boolean') return { ok: false };
      out[String(k.value)] = v.value;
    }
    return { ok: true, value: out };
  }
  if (!isScalar(node)) return { ok: false };
  const v = node.value;
  switch (leaf) {
    case 'string':
      return typeof v === 'string' ? { ok: true, value: v } : { ok: false };
    case 'bool':
      return typeof v === 'boolean' ? { ok: true, value: v } : { ok: false };
    case 'int32':
      return typeof v === 'number' && Number.isInteger(v) && v >= -2147483648 && v <= 2147483647 ? { ok: true, value: v } : { ok: false };
    case 'uint32':
      return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffffffff ? { ok: true, value: v } : { ok: false };
    case 'float':
      return typeof v === 'number' && Number.isFinite(v) ? { ok: true, value: v } : { ok: false };
    case 'duration': {
      if (typeof v !== 'string') return { ok: false };
      const d = parseGoDuration(v);
      return d.ok ? { ok: true, value: d.ms } : { ok: false };
    }
    case 'durationOrNs': {
      if (typeof v === 'number' && Number.isInteger(v)) return { ok: true, value: v / 1e6 };
      if (typeof v !== 'string') return { ok: false };
      const d = parseGoDuration(v);
      return d.ok ? { ok: true, value: d.ms } : { ok: false };
    }
  }
}

/** Parses the text of a config file. `fileName` only labels messages. Throws UsageError on errors. */
export function parseConfigText(text: string, fileName: string): LoadedConfig {
  const lineCounter = new LineCounter();
  const docs = parseAllDocuments(text, { version: '1.1', uniqueKeys: false, lineCounter });
  const lineOf = (node: YamlNode | null | undefined): number => (node?.range ? lineCounter.linePos(node.range[0]).line : 0);
  const at = (line: number): string => (line > 0 ? `${fileName}:${line}: ` : `${fileName}: `);
  if (!Array.isArray(docs)) throw new UsageError(`${fileName}: could not be read as YAML`);
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new UsageError(
        doc.errors.map((e) => `${at(e.linePos?.[0].line ?? 0)}invalid YAML: ${yamlReason(e.message)}`),
      );
    }
  }
  const warnings: string[] = [];
  const errors: string[] = [];
  const nonEmpty = docs.filter((d) => d.contents !== null);
  if (nonEmpty.length === 0) throw new UsageError(`${fileName}: the file is empty: expected a ${CONFIG_KIND} (apiVersion ${CONFIG_API_VERSION})`);
  if (nonEmpty.length > 1) {
    warnings.push(`${at(lineOf(nonEmpty[1]!.contents as YamlNode))}only the first YAML document is read (as kube-proxy does); the others are ignored`);
  }
  const root = nonEmpty[0]!.contents as YamlNode;
  if (!isMap(root)) throw new UsageError(`${at(lineOf(root))}${CONFIG_KIND}: must be a mapping (got ${describe(root)})`);

  const fields = new Map<string, DecodedField>();
  const walk = (map: YamlNode, shape: Shape, prefix: string): void => {
    if (!isMap(map)) return;
    const seen = new Map<string, number>();
    for (const pair of map.items) {
      const keyNode = pair.key as YamlNode;
      const valueNode = pair.value as YamlNode | null;
      const key = isScalar(keyNode) ? String(keyNode.value) : String((keyNode as YamlNode | null)?.toJSON?.());
      const path = prefix === '' ? key : `${prefix}.${key}`;
      const line = lineOf(keyNode);
      if (seen.has(key)) {
        warnings.push(`${at(line)}${CONFIG_KIND}: duplicate field "${path}" (first on line ${seen.get(key)}); the last value is used, as in kube-proxy's lenient decoding`);
        // A later duplicate replaces everything the earlier one set below this path.
        for (const k of [...fields.keys()]) if (k === path || k.startsWith(`${path}.`)) fields.delete(k);
      }
      seen.set(key, line);
      const expected = shape[key];
      if (expected === undefined) {
        warnings.push(`${at(line)}${CONFIG_KIND}: unknown field "${path}" (ignored, as in kube-proxy's lenient decoding)`);
        continue;
      }
      // null is "not set": the Go zero value, then defaulting.
      if (valueNode === null || (isScalar(valueNode) && valueNode.value === null)) continue;
      if (typeof expected === 'object') {
        if (!isMap(valueNode)) {
          errors.push(`${at(lineOf(valueNode))}${CONFIG_KIND}.${path}: invalid value ${describe(valueNode)}: must be a mapping`);
          continue;
        }
        walk(valueNode, expected, path);
        continue;
      }
      const r = decodeLeaf(expected, valueNode);
      if (!r.ok) {
        errors.push(`${at(lineOf(valueNode))}${CONFIG_KIND}.${path}: invalid value ${describe(valueNode)}: ${leafExpectation(expected)}`);
        continue;
      }
      const text = isScalar(valueNode) ? String(valueNode.value) : JSON.stringify(valueNode.toJSON());
      fields.set(path, { value: r.value, line: lineOf(valueNode), text });
    }
  };
  walk(root, SCHEMA, '');

  const apiVersion = fields.get('apiVersion');
  const kind = fields.get('kind');
  if (!apiVersion) errors.push(`${at(lineOf(root))}${CONFIG_KIND}.apiVersion: missing: must be ${CONFIG_API_VERSION}`);
  else if (apiVersion.value !== CONFIG_API_VERSION) {
    errors.push(`${at(apiVersion.line)}${CONFIG_KIND}.apiVersion: invalid value ${JSON.stringify(apiVersion.value)}: must be ${CONFIG_API_VERSION}`);
  }
  if (!kind) errors.push(`${at(lineOf(root))}${CONFIG_KIND}.kind: missing: must be ${CONFIG_KIND}`);
  else if (kind.value !== CONFIG_KIND) errors.push(`${at(kind.line)}${CONFIG_KIND}.kind: invalid value ${JSON.stringify(kind.value)}: must be ${CONFIG_KIND}`);
  if (errors.length > 0) throw new UsageError(errors);

  const lines = new Map<string, number>();
  for (const [path, f] of fields) lines.set(path, f.line);
  return { lines, settings: settingsFromFile(fields), warnings, fields };
}

/** SetDefaults_KubeProxyConfiguration on the file's values, then the v1alpha1 -> internal conversion. */
export function settingsFromFile(fields: ReadonlyMap<string, DecodedField>): KubeProxySettings {
  const get = <T>(path: string): T | undefined => fields.get(path)?.value as T | undefined;
  const str = (path: string): string => get<string>(path) ?? '';
  const s = flagDefaults();
  const zeroIsDefault = (path: string, dflt: number): number => {
    const v = get<number>(path);
    return v === undefined || v === 0 ? dflt : v;
  };

  s.featureGates = { ...(get<Record<string, boolean>>('featureGates') ?? {}) };
  s.clientConnection = {
    kubeconfig: str('clientConnection.kubeconfig'),
    acceptContentTypes: str('clientConnection.acceptContentTypes'),
    contentType: str('clientConnection.contentType') || 'application/vnd.kubernetes.protobuf',
    qps: zeroIsDefault('clientConnection.qps', 5),
    burst: zeroIsDefault('clientConnection.burst', 10),
  };
  s.logging = {
    format: str('logging.format') || 'text',
    verbosity: get<number>('logging.verbosity') ?? 0,
    flushFrequencyMs: zeroIsDefault('logging.flushFrequency', 5_000),
  };
  s.hostnameOverride = str('hostnameOverride');
  s.bindAddress = str('bindAddress') || '0.0.0.0';
  // getDefaultAddresses: IPv4 defaults unless bindAddress is not IPv4 (an IPv6 or unparsable address).
  const v4 = parseIP(s.bindAddress)?.family === 4;
  const healthz = str('healthzBindAddress');
  const metrics = str('metricsBindAddress');
  s.healthzBindAddress = healthz === '' ? `${v4 ? '0.0.0.0' : '[::]'}:${PROXY_HEALTHZ_PORT}` : appendPortIfNeeded(healthz, PROXY_HEALTHZ_PORT);
  s.metricsBindAddress = metrics === '' ? `${v4 ? '127.0.0.1' : '[::1]'}:${PROXY_STATUS_PORT}` : appendPortIfNeeded(metrics, PROXY_STATUS_PORT);
  s.bindAddressHardFail = get<boolean>('bindAddressHardFail') ?? false;
  s.enableProfiling = get<boolean>('enableProfiling') ?? false;
  s.showHiddenMetricsForVersion = str('showHiddenMetricsForVersion');
  s.mode = str('mode');
  s.masqueradeBit = get<number>('iptables.masqueradeBit') ?? 14;
  s.localhostNodePorts = get<boolean>('iptables.localhostNodePorts') ?? true;
  // Conversion: masqueradeAll comes from the iptables section for every mode but nftables; the sync periods come
  // from the section of the mode (blank is ipvs in kube-ipvs). ipvs.minSyncPeriod has no default: 0s.
  s.masqueradeAll = s.mode === 'nftables' ? (get<boolean>('nftables.masqueradeAll') ?? false) : (get<boolean>('iptables.masqueradeAll') ?? false);
  if (isIpvsMode(s.mode)) {
    s.syncPeriodMs = zeroIsDefault('ipvs.syncPeriod', 30_000);
    s.minSyncPeriodMs = get<number>('ipvs.minSyncPeriod') ?? 0;
  } else if (s.mode === 'nftables') {
    s.syncPeriodMs = zeroIsDefault('nftables.syncPeriod', 30_000);
    s.minSyncPeriodMs = zeroIsDefault('nftables.minSyncPeriod', 1_000);
  } else {
    s.syncPeriodMs = zeroIsDefault('iptables.syncPeriod', 30_000);
    s.minSyncPeriodMs = zeroIsDefault('iptables.minSyncPeriod', 1_000);
  }
  s.ipvs = {
    scheduler: str('ipvs.scheduler'),
    excludeCIDRs: [...(get<string[]>('ipvs.excludeCIDRs') ?? [])],
    strictARP: get<boolean>('ipvs.strictARP') ?? false,
    tcpTimeoutMs: get<number>('ipvs.tcpTimeout') ?? 0,
    tcpFinTimeoutMs: get<number>('ipvs.tcpFinTimeout') ?? 0,
    udpTimeoutMs: get<number>('ipvs.udpTimeout') ?? 0,
  };
  s.detectLocalMode = str('detectLocalMode');
  const clusterCIDR = str('clusterCIDR');
  s.clusterCIDRs = clusterCIDR === '' ? [] : clusterCIDR.split(',');
  s.bridgeInterface = str('detectLocal.bridgeInterface');
  s.interfaceNamePrefix = str('detectLocal.interfaceNamePrefix');
  s.nodePortAddresses = [...(get<string[]>('nodePortAddresses') ?? [])];
  s.oomScoreAdj = get<number>('oomScoreAdj') ?? KUBE_PROXY_OOM_SCORE_ADJ;
  s.conntrack = {
    maxPerCore: get<number>('conntrack.maxPerCore') ?? 32 * 1024,
    min: get<number>('conntrack.min') ?? 128 * 1024,
    tcpEstablishedTimeoutMs: get<number>('conntrack.tcpEstablishedTimeout') ?? 24 * 3_600_000,
    tcpCloseWaitTimeoutMs: get<number>('conntrack.tcpCloseWaitTimeout') ?? 3_600_000,
    tcpBeLiberal: get<boolean>('conntrack.tcpBeLiberal') ?? false,
    udpTimeoutMs: get<number>('conntrack.udpTimeout') ?? 0,
    udpStreamTimeoutMs: get<number>('conntrack.udpStreamTimeout') ?? 0,
  };
  s.configSyncPeriodMs = zeroIsDefault('configSyncPeriod', 15 * 60_000);
  s.portRange = str('portRange');
  return s;
}

/** Reads and parses a config file; an unreadable file is a UsageError naming it. */
export function loadConfigFile(path: string, readFile: (p: string) => string = (p) => readFileSync(p, 'utf8')): LoadedConfig {
  let text: string;
  try {
    text = readFile(path);
  } catch (err) {
    throw new UsageError(`--config ${path}: cannot read the file: ${(err as Error).message}`);
  }
  return parseConfigText(text, path);
}
