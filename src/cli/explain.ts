// `kube-ipvs explain NAMESPACE/NAME`: which virtual servers, real servers, kube-ipvs0 addresses, ipset entries and
// iptables rules implement a Service on this node, and why each of its endpoints is or is not a real server.
// Objects come from --objects files (as `plan`) or from the API server (--kubeconfig / --master / in-cluster /
// default kubeconfig): one list of Services, the Service's EndpointSlices and this node's Node object, no watch.
// The explanation itself is src/desired/explain.ts (pure); this file reads the objects and prints it.
// Exit codes: 0 the Service exists (whatever its state), 1 no such Service, or the API server could not be read,
// 2 usage errors (bad flags, bad argument, unreadable --objects file).

import { explainService, type EndpointExplanation, type Explanation } from '../desired/explain.js';
import { readObjectsOption } from './objects-input.js';
import { LABEL_SERVICE_NAME, type ApiEndpointSlice, type ApiNode, type ApiService } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';
import { ipFamilyOf, joinHostPort } from '../model/ip.js';
import { UsageError } from './errors.js';
import { ipvsadmLines } from './format-text.js';
import { addressesOfNode, type CommandIO } from './plan.js';
import type { ResolvedInvocation } from './resolve.js';

interface ExplainObjects {
  services: ApiService[];
  endpointSlices: ApiEndpointSlice[];
  node: ApiNode | undefined;
}

/** Reads the objects from an API server; injectable so tests can stand in for one. */
export type ClusterReader = (config: ProxyConfig, nodeName: string, namespace: string, name: string) => Promise<{ objects: ExplainObjects; notes: string[] }>;

export interface ExplainIO extends CommandIO {
  readCluster?: ClusterReader;
}

const NAME_PART = /^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/;

/** "NAMESPACE/NAME" -> its parts; UsageError otherwise. */
export function parseServiceArg(args: readonly string[]): { namespace: string; name: string } {
  if (args.length !== 1) {
    throw new UsageError(`kube-ipvs explain: expected one argument NAMESPACE/NAME (the Service), got ${args.length === 0 ? 'none' : JSON.stringify(args)}`);
  }
  const parts = args[0]!.split('/');
  if (parts.length !== 2 || !NAME_PART.test(parts[0]!) || !NAME_PART.test(parts[1]!)) {
    throw new UsageError(`kube-ipvs explain: ${JSON.stringify(args[0])} is not NAMESPACE/NAME (e.g. default/kubernetes)`);
  }
  return { namespace: parts[0]!, name: parts[1]! };
}

export async function runExplain(inv: ResolvedInvocation, io: ExplainIO): Promise<number> {
  const { config, options } = inv;
  const { namespace, name } = parseServiceArg(inv.args);
  const key = `${namespace}/${name}`;
  const nodeName = config.hostnameOverride;

  let objects: ExplainObjects;
  if (options.objects.length > 0) {
    const apiFlags = ['kubeconfig', 'master'].filter((f) => inv.parsed.given.includes(f));
    if (apiFlags.length > 0) {
      throw new UsageError(`kube-ipvs explain: --objects and ${apiFlags.map((f) => `--${f}`).join('/')} are alternatives: read the objects from files or from an API server`);
    }
    const loaded = readObjectsOption(options.objects, io);
    const node = loaded.nodes.find((n) => n.metadata?.name === nodeName);
    if (!node && loaded.nodes.length > 0) {
      io.stderr(`note: no Node named ${JSON.stringify(nodeName)} among the objects; explaining without the Node object (set --hostname-override)\n`);
    }
    objects = { services: loaded.services, endpointSlices: loaded.endpointSlices, node };
  } else {
    try {
      const read = await (io.readCluster ?? readCluster)(config, nodeName, namespace, name);
      for (const note of read.notes) io.stderr(`note: ${note}\n`);
      objects = read.objects;
    } catch (err) {
      io.stderr(`kube-ipvs explain: cannot read the objects from the API server: ${err instanceof Error ? err.message : String(err)}\n`);
      return 1;
    }
  }

  const nodeAddresses = options.nodeAddresses.length > 0 ? options.nodeAddresses : addressesOfNode(objects.node);
  const explanation = explainService(
    { services: objects.services, endpointSlices: objects.endpointSlices, node: { nodeName, node: objects.node, nodeAddresses }, config },
    key,
  );
  io.stdout(options.output === 'json' ? `${JSON.stringify(explanation, null, 2)}\n` : formatExplanationText(explanation));
  if (explanation.status === 'not-found') {
    io.stderr(`kube-ipvs explain: ${explanation.reason?.message ?? `no Service ${key}`}\n`);
    return 1;
  }
  return 0;
}

// ---- reading a cluster ------------------------------------------------------------------------------------------

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * One plain list, no watch: every Service (another Service may hold a virtual server this one wants; the label
 * selector kube-proxy uses is not applied, so a Service it skips can be explained), this Service's EndpointSlices
 * (only its own slices decide its real servers) and this node's Node object (zone, addresses).
 */
export async function readCluster(config: ProxyConfig, nodeName: string, namespace: string, name: string): Promise<{ objects: ExplainObjects; notes: string[] }> {
  const { loadKubeConfig } = await import('../k8s/kubeconfig.js');
  const { ApiRequestError, getJson, listAll } = await import('../k8s/rest.js');
  const { kubeConfig } = await loadKubeConfig({ kubeconfig: config.kubeconfig, master: config.master });
  const opts = { timeoutMs: REQUEST_TIMEOUT_MS };
  const notes: string[] = [];
  const [services, slices, node] = await Promise.all([
    listAll(kubeConfig, '/api/v1/services', {}, opts),
    listAll(kubeConfig, `/apis/discovery.k8s.io/v1/namespaces/${encodeURIComponent(namespace)}/endpointslices`, { labelSelector: `${LABEL_SERVICE_NAME}=${name}` }, opts),
    getJson(kubeConfig, `/api/v1/nodes/${encodeURIComponent(nodeName)}`, {}, opts).catch((err: unknown) => {
      if (err instanceof ApiRequestError && err.statusCode === 404) {
        notes.push(`no Node named ${JSON.stringify(nodeName)} on the API server; explaining without the Node object (set --hostname-override)`);
        return undefined;
      }
      throw err;
    }),
  ]);
  return {
    objects: {
      services: services.items as ApiService[],
      endpointSlices: slices.items as ApiEndpointSlice[],
      node: node as ApiNode | undefined,
    },
    notes,
  };
}

// ---- text output ----------------------------------------------------------------------------------------------

function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

function conditionsText(row: EndpointExplanation): string {
  const c = row.conditions;
  if (!c) return '-';
  const parts = [c.ready ? 'ready' : 'not-ready'];
  if (!c.ready && c.serving) parts.push('serving');
  if (!c.serving) parts.push('not-serving');
  if (c.terminating) parts.push('terminating');
  return parts.join(',');
}

function verdictText(v: EndpointExplanation['internal']): string {
  return v === undefined ? '-' : v.included ? 'yes' : 'no';
}

function reasonText(row: EndpointExplanation): string {
  const { internal, external } = row;
  if (internal && external && (internal.reason !== external.reason || internal.message !== external.message)) {
    return `internal: ${internal.reason}: ${internal.message}; external: ${external.reason}: ${external.message}`;
  }
  return `${row.reason}: ${row.message}`;
}

/** Left-aligned columns separated by two spaces; the last column is not padded. */
function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)];
}

export function formatExplanationText(x: Explanation): string {
  const out: string[] = [];
  const where = `node ${x.node.name || '<no name>'}${x.node.zone ? ` (zone ${x.node.zone})` : ''}`;
  out.push(`Service ${x.service} on ${where}: ${x.status}${x.reason ? ` (${x.reason.code}: ${x.reason.message})` : ''}`);
  if (x.spec) {
    const s = x.spec;
    const ips = [...s.clusterIPs.map((a) => `cluster IP ${a}`), ...s.externalIPs.map((a) => `external IP ${a}`), ...s.loadBalancerIPs.map((a) => `load balancer IP ${a}`)];
    out.push(`  type ${s.type}; ${ips.join(', ')}`);
    const extra = [
      `internalTrafficPolicy ${s.internalTrafficPolicy}`,
      `externalTrafficPolicy ${s.externalTrafficPolicy}`,
      s.sessionAffinity === 'ClientIP' ? `session affinity ClientIP (${s.sessionAffinityTimeoutSeconds}s)` : 'session affinity None',
      ...(s.healthCheckNodePort ? [`health check node port ${s.healthCheckNodePort}`] : []),
      ...(s.loadBalancerSourceRanges.length > 0 ? [`loadBalancerSourceRanges ${s.loadBalancerSourceRanges.join(',')}`] : []),
    ];
    out.push(`  ${extra.join('; ')}`);
  }
  if (x.scheduler) out.push(`  scheduler ${x.scheduler.scheduler}${x.scheduler.flags.length > 0 ? ` (${x.scheduler.flags.join(',')})` : ''}: ${x.scheduler.message}`);
  for (const n of x.notes) out.push(`  note: ${n}`);

  if (x.status === 'proxied') {
    out.push('', `# Service ports: ${x.ports.length}`);
    for (const p of x.ports) {
      const fam = p.family === 6 ? 'IPv6' : 'IPv4';
      out.push(`${p.servicePort} ${p.protocol} ${p.port}${p.nodePort ? ` nodePort ${p.nodePort}` : ''} (${fam})`);
      const held = p.virtualServers.filter((v) => v.programmed).map((v) => `${v.key} (${v.kind})`);
      out.push(`  virtual servers: ${held.length > 0 ? held.join(', ') : 'none'}`);
      for (const v of p.virtualServers) if (!v.programmed) out.push(`  not programmed: ${v.key} (${v.kind}): held by ${v.heldBy ?? 'another service port'}`);
      const sel = p.selection;
      out.push(`  internal: ${sel.internal.message}${sel.internal.realServers.length > 0 ? `: ${sel.internal.realServers.join(' ')}` : ''}`);
      if (sel.external) out.push(`  external: ${sel.external.message}${sel.external.realServers.length > 0 ? `: ${sel.external.realServers.join(' ')}` : ''}`);
      if (sel.topology !== 'none') out.push(`  topology: ${sel.topology}`);
      for (const n of p.notes) out.push(`  note: ${n}`);
    }

    out.push('', `# IPVS: ${plural(x.virtualServers.length, 'virtual server')} (ipvsadm -Sn)`);
    for (const vs of x.virtualServers) out.push(...ipvsadmLines(vs));

    out.push('', `# kube-ipvs0: ${plural(x.addresses.length, 'address', 'addresses')} (ip address show dev kube-ipvs0)`);
    for (const a of x.addresses) out.push(ipFamilyOf(a) === 6 ? `inet6 ${a}/128` : `inet ${a}/32`);

    out.push('', `# ipsets: ${plural(x.ipsetEntries.length, 'entry', 'entries')} (ipset save)`);
    for (const e of x.ipsetEntries) out.push(`add ${e.set} ${e.entry}`);

    out.push('', `# iptables: ${plural(x.iptables.length, 'rule')} matching these sets (iptables-save)`);
    let section = '';
    for (const r of x.iptables) {
      const head = `*${r.table} (${r.family === 'ipv6' ? 'ip6tables' : 'iptables'})`;
      if (head !== section) out.push((section = head));
      out.push(r.rule);
    }
  }

  const used = x.endpoints.filter((e) => e.included).length;
  out.push('', `# Endpoints: ${x.endpoints.length} (${used} used)`);
  if (x.endpoints.length > 0) {
    const rows = x.endpoints.map((e) => [
      e.port === null ? e.address || '-' : joinHostPort(e.address, e.port),
      `${e.slice}[${e.index}]`,
      e.nodeName ? `${e.nodeName}${e.local ? ' (this)' : ''}` : '-',
      conditionsText(e),
      e.servicePort ?? '-',
      verdictText(e.internal),
      verdictText(e.external),
      reasonText(e),
    ]);
    out.push(...table(['ENDPOINT', 'SLICE', 'NODE', 'CONDITIONS', 'SERVICE-PORT', 'INTERNAL', 'EXTERNAL', 'REASON'], rows));
    for (const e of x.endpoints) for (const w of e.warnings) out.push(`warning: ${e.slice}: ${w}`);
  }

  out.push('', `# diagnostics: ${x.diagnostics.length}`);
  for (const d of x.diagnostics) out.push(`${d.kind ? `${d.kind} ` : ''}${d.object}: ${d.message}`);
  return `${out.join('\n')}\n`;
}
