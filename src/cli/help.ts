// `kube-ipvs --help`: the commands, then every flag with its type, help and default, in pflag's layout
// ("      --ipvs-sync-period duration   An interval ... (default 30s)"), grouped so an operator finds the IPVS ones.

import { FLAGS, type FlagGroup, type FlagSpec } from './flag-table.js';

const GROUP_TITLES: Record<FlagGroup, string> = {
  general: 'General flags',
  ipvs: 'IPVS and iptables flags',
  network: 'Node network, health and metrics flags',
  conntrack: 'Conntrack flags',
  api: 'API server flags',
  logging: 'Logging flags',
  'kube-ipvs': 'kube-ipvs flags (not in kube-proxy)',
};

const GROUP_ORDER: readonly FlagGroup[] = ['general', 'ipvs', 'network', 'conntrack', 'api', 'logging', 'kube-ipvs'];

export const COMMANDS_TEXT = `Usage:
  kube-ipvs [run] [flags]              Run the proxy on this node (the default command)
  kube-ipvs plan --objects FILE [--objects FILE ...] [--hostname-override NAME] [--node-addresses IP[,IP...]]
                 [--config FILE] [any kube-proxy flag] [--output json|text]
                                       Print the desired IPVS, kube-ipvs0, ipset and iptables state of a node
                                       for the given objects, without touching the kernel
  kube-ipvs sync --objects FILE [--objects FILE ...] [--hostname-override NAME] [any kube-proxy flag]
                                       Program the kernel once for the given objects (apply only the difference)
  kube-ipvs dump [--output json|text]  Print what the kernel holds now (IPVS with counters, ipsets, iptables)
  kube-ipvs explain NAMESPACE/NAME [--objects FILE ...]
                                       Show which kernel objects implement a Service here, and why each
                                       endpoint is in or out
  kube-ipvs --cleanup [flags]          Remove what kube-ipvs (or kube-proxy's IPVS mode) created, and exit
  kube-ipvs sandbox [--objects FILE]   The demo: a real kernel (user-mode Linux), an API server, pods, traffic
  kube-ipvs apiserver [--port N] [--objects FILE ...] [--kubeconfig-out PATH]
                                       A small embedded API server for tests and demos (not a product API)
  kube-ipvs version                    Print the version
  kube-ipvs help                       Print this help
`;

/** The flag's left column: "  -v, --v Level" / "      --config string". */
function flagColumn(f: FlagSpec): string {
  const names = f.shorthand ? `  -${f.shorthand}, --${f.name}` : `      --${f.name}`;
  return f.typeName ? `${names} ${f.typeName}` : names;
}

/** pflag prints a default only when it is not the type's zero value; strings are quoted. */
export function defaultText(f: FlagSpec): string {
  const d = f.default;
  if (d === '' || (f.type === 'bool' && d === 'false') || (f.type === 'duration' && d === '0s') || (['int32', 'level', 'float32'].includes(f.type) && d === '0')) {
    return '';
  }
  return f.type === 'string' ? JSON.stringify(d) : d;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = '';
  for (const word of text.split(/\s+/)) {
    if (line !== '' && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') out.push(line);
  return out;
}

export function flagHelpLines(flags: readonly FlagSpec[] = FLAGS): string[] {
  const out: string[] = [];
  const column = 44;
  for (const group of GROUP_ORDER) {
    const members = flags.filter((f) => f.group === group);
    if (members.length === 0) continue;
    out.push('', `${GROUP_TITLES[group]}:`);
    for (const f of members) {
      let help = f.help;
      const d = defaultText(f);
      if (d !== '') help += ` (default ${d})`;
      if (f.deprecated) help += ` (DEPRECATED: ${f.deprecated})`;
      if (f.commands) help += ` [${f.commands.map((c) => `kube-ipvs ${c}`).join(', ')} only]`;
      const left = flagColumn(f);
      const lines = wrap(help, 100 - column);
      if (left.length + 2 > column) {
        out.push(left);
        for (const l of lines) out.push(`${' '.repeat(column)}${l}`);
      } else {
        out.push(`${left.padEnd(column)}${lines[0] ?? ''}`);
        for (const l of lines.slice(1)) out.push(`${' '.repeat(column)}${l}`);
      }
    }
  }
  return out;
}

export function helpText(): string {
  return [
    'kube-ipvs: a Kubernetes service proxy that replaces kube-proxy\'s IPVS mode. It takes kube-proxy\'s flags and',
    'KubeProxyConfiguration file, and programs IPVS, the kube-ipvs0 interface, ipsets and iptables as kube-proxy does.',
    '',
    COMMANDS_TEXT.trimEnd(),
    ...flagHelpLines(),
    '',
  ].join('\n');
}
