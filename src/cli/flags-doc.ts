// Generates the reference tables of docs/flags.md from the flag table and the config-file schema, so the docs
// cannot drift from the code (test/cli/docs.test.ts compares them). Regenerate after changing a flag:
//   npx tsc -p . && node dist/src/cli/flags-doc.js --write

import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { configFieldPaths } from './config-file.js';
import { FLAGS, type FlagGroup } from './flag-table.js';
import { defaultText } from './help.js';

export const BEGIN_FLAGS = '<!-- BEGIN GENERATED FLAGS (src/cli/flags-doc.ts) -->';
export const END_FLAGS = '<!-- END GENERATED FLAGS -->';
export const BEGIN_FIELDS = '<!-- BEGIN GENERATED CONFIG FIELDS (src/cli/flags-doc.ts) -->';
export const END_FIELDS = '<!-- END GENERATED CONFIG FIELDS -->';

const GROUPS: [FlagGroup, string][] = [
  ['general', 'General'],
  ['ipvs', 'IPVS and iptables'],
  ['network', 'Node network, health and metrics'],
  ['conntrack', 'Conntrack'],
  ['api', 'API server'],
  ['logging', 'Logging'],
  ['kube-ipvs', 'kube-ipvs additions (not in kube-proxy)'],
];

/** Config file defaults (after kube-proxy's SetDefaults) and, for fields no flag sets, what they do in kube-ipvs. */
const FIELD_DOCS: Record<string, { default: string; effect?: string }> = {
  apiVersion: { default: '(required)', effect: 'Must be kubeproxy.config.k8s.io/v1alpha1.' },
  kind: { default: '(required)', effect: 'Must be KubeProxyConfiguration.' },
  featureGates: { default: '{}' },
  'clientConnection.kubeconfig': { default: '""' },
  'clientConnection.acceptContentTypes': { default: '""', effect: 'Accepted; no effect.' },
  'clientConnection.contentType': { default: 'application/vnd.kubernetes.protobuf' },
  'clientConnection.qps': { default: '5' },
  'clientConnection.burst': { default: '10' },
  'logging.format': { default: 'text' },
  'logging.flushFrequency': { default: '5s' },
  'logging.verbosity': { default: '0' },
  'logging.vmodule': { default: '[]' },
  'logging.options': { default: '{}', effect: 'Accepted; no effect.' },
  hostnameOverride: { default: '"" (OS hostname)' },
  bindAddress: { default: '0.0.0.0' },
  healthzBindAddress: { default: '0.0.0.0:10256 ([::]:10256 if bindAddress is IPv6)', effect: 'Address of /healthz and /livez; an IP without a port gets :10256; empty means the default (as in kube-proxy).' },
  metricsBindAddress: { default: '127.0.0.1:10249 ([::1]:10249 if bindAddress is IPv6)', effect: 'Address of /metrics; an IP without a port gets :10249; empty means the default (as in kube-proxy).' },
  bindAddressHardFail: { default: 'false' },
  enableProfiling: { default: 'false' },
  showHiddenMetricsForVersion: { default: '""' },
  mode: { default: '"" (= ipvs)' },
  'iptables.masqueradeBit': { default: '14' },
  'iptables.masqueradeAll': { default: 'false' },
  'iptables.localhostNodePorts': { default: 'true' },
  'iptables.snatNodeInternalIP': { default: 'false', effect: 'Accepted; no effect (an iptables-mode option of newer kube-proxy).' },
  'iptables.syncPeriod': { default: '30s' },
  'iptables.minSyncPeriod': { default: '1s' },
  'ipvs.syncPeriod': { default: '30s (0s is defaulted to 30s)' },
  'ipvs.minSyncPeriod': { default: '0s (no default in kube-proxy\'s config file)' },
  'ipvs.scheduler': { default: '"" (= rr)' },
  'ipvs.excludeCIDRs': { default: '[]' },
  'ipvs.strictARP': { default: 'false' },
  'ipvs.tcpTimeout': { default: '0s' },
  'ipvs.tcpFinTimeout': { default: '0s' },
  'ipvs.udpTimeout': { default: '0s' },
  'nftables.masqueradeBit': { default: '14', effect: 'Accepted; no effect (nftables mode only).' },
  'nftables.masqueradeAll': { default: 'false', effect: 'Accepted; no effect (nftables mode only).' },
  'nftables.syncPeriod': { default: '30s', effect: 'Accepted; no effect (nftables mode only).' },
  'nftables.minSyncPeriod': { default: '1s', effect: 'Accepted; no effect (nftables mode only).' },
  'winkernel.networkName': { default: '""', effect: 'Accepted; no effect (Windows only).' },
  'winkernel.sourceVip': { default: '""', effect: 'Accepted; no effect (Windows only).' },
  'winkernel.enableDSR': { default: 'false', effect: 'Accepted; no effect (Windows only).' },
  'winkernel.rootHnsEndpointName': { default: '""', effect: 'Accepted; no effect (Windows only).' },
  'winkernel.forwardHealthCheckVip': { default: 'false', effect: 'Accepted; no effect (Windows only).' },
  detectLocalMode: { default: '"" (= ClusterCIDR)' },
  'detectLocal.bridgeInterface': { default: '""' },
  'detectLocal.interfaceNamePrefix': { default: '""' },
  clusterCIDR: { default: '""' },
  nodePortAddresses: { default: '[] (all local addresses)' },
  oomScoreAdj: { default: '-999' },
  'conntrack.maxPerCore': { default: '32768' },
  'conntrack.min': { default: '131072' },
  'conntrack.tcpEstablishedTimeout': { default: '24h0m0s' },
  'conntrack.tcpCloseWaitTimeout': { default: '1h0m0s' },
  'conntrack.tcpBeLiberal': { default: 'false' },
  'conntrack.udpTimeout': { default: '0s' },
  'conntrack.udpStreamTimeout': { default: '0s' },
  configSyncPeriod: { default: '15m0s' },
  portRange: { default: '""' },
  windowsRunAsService: { default: 'false', effect: 'Accepted; no effect (Windows only).' },
};

const cell = (text: string): string => text.replace(/\|/g, '\\|').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/\n/g, ' ');

export function renderFlagTables(): string {
  const out: string[] = [];
  for (const [group, title] of GROUPS) {
    out.push(`### ${title}`, '', '| Flag | Default | Config file field | With --config | What it does in kube-ipvs |', '|---|---|---|---|---|');
    for (const f of FLAGS.filter((x) => x.group === group)) {
      const name = `${f.shorthand ? `-${f.shorthand}, ` : ''}--${f.name}${f.typeName ? ` ${f.typeName}` : ''}`;
      const d = defaultText(f) || (f.type === 'bool' ? 'false' : '');
      const notes = [f.effect, f.deprecated ? `Deprecated: ${f.deprecated}` : '', f.commands ? `Only for: ${f.commands.map((c) => `kube-ipvs ${c}`).join(', ')}.` : '']
        .filter(Boolean)
        .join(' ');
      out.push(`| \`${cell(name)}\` | ${d ? `\`${cell(d)}\`` : ''} | ${f.configField ? `\`${f.configField}\`` : ''} | ${f.withConfig} | ${cell(notes)} |`);
    }
    out.push('');
  }
  return out.join('\n');
}

export function renderConfigFieldTable(): string {
  const out = ['| Field | Type | Default | Flag | What it does in kube-ipvs |', '|---|---|---|---|---|'];
  for (const { path, type } of configFieldPaths()) {
    const doc = FIELD_DOCS[path];
    if (!doc) throw new Error(`flags-doc: no documentation for config field ${path}`);
    const flag = FLAGS.find((f) => f.configField === path);
    const effect = doc.effect ?? flag?.effect ?? 'Accepted.';
    out.push(`| \`${path}\` | ${type} | ${cell(doc.default)} | ${flag ? `\`--${flag.name}\`` : ''} | ${cell(effect)} |`);
  }
  return `${out.join('\n')}\n`;
}

/** Replaces the text between a BEGIN and END marker (markers kept). */
export function replaceBetween(doc: string, begin: string, end: string, body: string): string {
  const i = doc.indexOf(begin);
  const j = doc.indexOf(end);
  if (i === -1 || j === -1 || j < i) throw new Error(`markers ${begin} / ${end} not found`);
  return `${doc.slice(0, i + begin.length)}\n${body}${doc.slice(j)}`;
}

export function renderDoc(current: string): string {
  const withFlags = replaceBetween(current, BEGIN_FLAGS, END_FLAGS, renderFlagTables());
  return replaceBetween(withFlags, BEGIN_FIELDS, END_FIELDS, renderConfigFieldTable());
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv.includes('--write')) {
  const docPath = fileURLToPath(new URL('../../../docs/flags.md', import.meta.url));
  writeFileSync(docPath, renderDoc(readFileSync(docPath, 'utf8')));
  process.stdout.write(`wrote ${docPath}\n`);
}
