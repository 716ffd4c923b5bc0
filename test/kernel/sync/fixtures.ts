// Shared by the `kube-ipvs sync` kernel tests: a realistic object set, the node's network, and running the CLI
// as a subprocess (as an operator would: `node bin/kube-ipvs sync --objects FILE`) in the test's namespace.
//
// The "node": eth0 (a dummy, 192.168.50.10/24 + fd00:50::10/64) and the pod bridge kt-br0 (10.244.0.1/24,
// fd00:10:244::1/64) of test/kernel/lib/pods.ts. Every endpoint lives in the pod subnets, so IPVS accepts them
// as NAT real servers (it refuses unroutable ones).

import { mkdtempSync, readFileSync, writeFileSync, chmodSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { iptablesTextEqual } from '../../../src/kernel/iptables-normalise.js';
import { LinkDriver } from '../../../src/kernel/link.js';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../../../src/model/api.js';
import { cmd, tryCmd, type ToolResult } from '../lib/index.js';

export const NODE = 'node-1';
export const NODE_IP = '192.168.50.10';
export const NODE_IP6 = 'fd00:50::10';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
export const BIN = join(ROOT, 'bin', 'kube-ipvs');

/** A dummy eth0 with the node's addresses (its kube-proxy node IP). */
export async function addNodeInterface(): Promise<void> {
  await cmd('ip', ['-batch', '-'], {
    stdin: [
      'link add eth0 type dummy',
      `addr add ${NODE_IP}/24 dev eth0`,
      `addr add ${NODE_IP6}/64 dev eth0 nodad`,
      'link set eth0 up',
    ].join('\n') + '\n',
  });
}

type Obj = ApiService | ApiEndpointSlice | ApiNode;

export function service(ns: string, name: string, spec: NonNullable<ApiService['spec']>, extra: Partial<ApiService> = {}): ApiService {
  return { apiVersion: 'v1', kind: 'Service', metadata: { namespace: ns, name }, spec, ...extra };
}

export interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function slice(ns: string, svc: string, name: string, addressType: 'IPv4' | 'IPv6', ports: { name?: string; protocol?: string; port: number }[], eps: Ep[]): ApiEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { namespace: ns, name, labels: { 'kubernetes.io/service-name': svc } },
    addressType,
    ports: ports.map((p) => ({ name: p.name ?? '', protocol: p.protocol ?? 'TCP', port: p.port })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? NODE,
      conditions: { ready: e.ready ?? true, serving: e.serving ?? true, terminating: e.terminating ?? false },
    })),
  };
}

export const node: ApiNode = {
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: NODE, labels: { 'topology.kubernetes.io/zone': 'zone-a' } },
  spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24', 'fd00:10:244::/64'] },
  status: { addresses: [{ type: 'InternalIP', address: NODE_IP }, { type: 'InternalIP', address: NODE_IP6 }] },
};

/**
 * A dual-stack ClusterIP (TCP, real pods web-1/web-2 at 10.244.0.2/.3 and fd00:10:244::2/::3 port 8080), kube-dns (UDP+TCP 53), NodePort (TCP + UDP),
 * ExternalIP, LoadBalancer with source ranges (one containing the node IP), ETP Local and a health check node port,
 * ClientIP session affinity, SCTP with a NodePort, a per-Service scheduler, a dual-stack Service and an IPv6-only one.
 */
export function realisticObjects(): Obj[] {
  return [
    node,
    service('default', 'web', {
      type: 'ClusterIP', clusterIP: '10.96.0.10', clusterIPs: ['10.96.0.10', 'fd00:96::10'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'PreferDualStack',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    }),
    slice('default', 'web', 'web-4', 'IPv4', [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }]),
    slice('default', 'web', 'web-6', 'IPv6', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:10:244::2' }, { ip: 'fd00:10:244::3' }]),

    service('kube-system', 'kube-dns', {
      type: 'ClusterIP', clusterIP: '10.96.0.53',
      ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 53 }],
    }),
    slice('kube-system', 'kube-dns', 'kube-dns-1', 'IPv4', [{ name: 'dns', protocol: 'UDP', port: 53 }, { name: 'dns-tcp', protocol: 'TCP', port: 53 }],
      [{ ip: '10.244.0.20' }, { ip: '10.244.0.21', node: 'node-2' }, { ip: '10.244.0.22', ready: false, serving: false }]),

    service('default', 'nodeport', {
      type: 'NodePort', clusterIP: '10.96.0.30',
      ports: [{ name: 'tcp', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }, { name: 'udp', protocol: 'UDP', port: 81, targetPort: 8081, nodePort: 30081 }],
    }),
    slice('default', 'nodeport', 'nodeport-1', 'IPv4', [{ name: 'tcp', port: 8080 }, { name: 'udp', protocol: 'UDP', port: 8081 }], [{ ip: '10.244.0.30' }, { ip: '10.244.0.31', node: 'node-2' }]),

    service('default', 'external', {
      type: 'ClusterIP', clusterIP: '10.96.0.40', externalIPs: ['203.0.113.10'],
      ports: [{ name: 'https', protocol: 'TCP', port: 443, targetPort: 8443 }],
    }),
    slice('default', 'external', 'external-1', 'IPv4', [{ name: 'https', port: 8443 }], [{ ip: '10.244.0.40' }]),

    service('default', 'lb', {
      type: 'LoadBalancer', clusterIP: '10.96.0.50', externalTrafficPolicy: 'Local', healthCheckNodePort: 31050,
      loadBalancerSourceRanges: ['192.168.50.0/24', '10.0.0.0/8'],
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30050 }],
    }, { status: { loadBalancer: { ingress: [{ ip: '198.51.100.7', ipMode: 'VIP' }] } } }),
    slice('default', 'lb', 'lb-1', 'IPv4', [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.50' }, { ip: '10.244.0.51', node: 'node-2' }]),

    service('default', 'sticky', {
      type: 'ClusterIP', clusterIP: '10.96.0.60', sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } },
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    }),
    slice('default', 'sticky', 'sticky-1', 'IPv4', [{ port: 8080 }], [{ ip: '10.244.0.60' }, { ip: '10.244.0.61' }]),

    service('default', 'sctp', {
      type: 'NodePort', clusterIP: '10.96.0.70',
      ports: [{ name: 'diameter', protocol: 'SCTP', port: 3868, targetPort: 3868, nodePort: 30868 }],
    }),
    slice('default', 'sctp', 'sctp-1', 'IPv4', [{ name: 'diameter', protocol: 'SCTP', port: 3868 }], [{ ip: '10.244.0.70' }]),

    { ...service('default', 'weighted', { type: 'ClusterIP', clusterIP: '10.96.0.75', ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }] }),
      metadata: { namespace: 'default', name: 'weighted', annotations: { 'kube-ipvs.io/scheduler': 'wlc' } } },
    slice('default', 'weighted', 'weighted-1', 'IPv4', [{ port: 8080 }], [{ ip: '10.244.0.75' }]),

    service('default', 'dual', {
      type: 'ClusterIP', clusterIP: '10.96.0.80', clusterIPs: ['10.96.0.80', 'fd00:96::80'], ipFamilies: ['IPv4', 'IPv6'], ipFamilyPolicy: 'RequireDualStack',
      ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 }],
    }),
    slice('default', 'dual', 'dual-4', 'IPv4', [{ name: 'http', port: 8080 }], [{ ip: '10.244.0.80' }]),
    slice('default', 'dual', 'dual-6', 'IPv6', [{ name: 'http', port: 8080 }], [{ ip: 'fd00:10:244::80' }, { ip: 'fd00:10:244::81' }]),

    service('default', 'v6dns', {
      type: 'ClusterIP', clusterIP: 'fd00:96::53', clusterIPs: ['fd00:96::53'], ipFamilies: ['IPv6'],
      ports: [{ name: 'dns', protocol: 'UDP', port: 53, targetPort: 5353 }],
    }),
    slice('default', 'v6dns', 'v6dns-1', 'IPv6', [{ name: 'dns', protocol: 'UDP', port: 5353 }], [{ ip: 'fd00:10:244::53' }]),
  ];
}

let scratch: string | undefined;
/** A folder for this test file's objects files and tool shims (the guest's /tmp is a tmpfs). */
export function scratchDir(): string {
  scratch ??= mkdtempSync(join(tmpdir(), 'kipvs-sync-'));
  return scratch;
}

let counter = 0;
/** Writes objects to a fresh JSON file (a `kind: List`) and returns its path. */
export function writeObjects(objects: readonly unknown[]): string {
  const file = join(scratchDir(), `objects-${++counter}.json`);
  writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }, null, 1));
  return file;
}

export interface CliRun extends ToolResult {
  argv: string[];
}

export interface CliOptions {
  env?: NodeJS.ProcessEnv;
}

/** Runs `node bin/kube-ipvs ARGS` in the current namespace (the test's "node"). */
export async function kubeIpvs(args: readonly string[], opts: CliOptions = {}): Promise<CliRun> {
  const argv = [process.execPath, BIN, ...args];
  const r = await tryCmd(argv[0]!, argv.slice(1), { env: { ...process.env, ...opts.env }, timeoutMs: 5 * 60_000 });
  return { ...r, argv };
}

/** `kube-ipvs sync --hostname-override node-1 --objects FILE [extra]`; throws with its output unless it exits 0. */
export async function sync(file: string, extra: readonly string[] = [], opts: CliOptions = {}): Promise<CliRun> {
  const r = await kubeIpvs(['sync', '--hostname-override', NODE, '--objects', file, ...extra], opts);
  if (r.exitCode !== 0) throw new Error(`kube-ipvs sync exited ${r.exitCode}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/**
 * A PATH folder whose ipset / iptables* / ip6tables* programs log each call (argv) to a file and then run the real
 * program: kernel evidence of which processes a sync started (restores are the writes).
 */
export function toolShims(): { env: NodeJS.ProcessEnv; calls: () => string[]; reset: () => void } {
  const dir = join(scratchDir(), 'shims');
  const log = join(scratchDir(), 'tool-calls.log');
  mkdirSync(dir, { recursive: true });
  const tools = ['ipset'];
  for (const base of ['iptables', 'ip6tables']) {
    for (const backend of ['', '-legacy', '-nft']) for (const suffix of ['', '-save', '-restore']) tools.push(`${base}${backend}${suffix}`);
  }
  const realPath = (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').filter((p) => p !== dir).join(':');
  for (const t of tools) {
    const file = join(dir, t);
    writeFileSync(file, `#!/bin/sh\necho "${t} $*" >> ${log}\nPATH=${realPath} exec ${t} "$@"\n`);
    chmodSync(file, 0o755);
  }
  writeFileSync(log, '');
  return {
    env: { PATH: `${dir}:${realPath}` },
    calls: () => readFileSync(log, 'utf8').split('\n').filter(Boolean),
    reset: () => writeFileSync(log, ''),
  };
}

// ---------------------------------------------------------------- comparing `dump` with `plan`

interface Doc {
  ipvs: { protocol: string; address: string; port: number; scheduler: string; flags: number; timeout: number; realServers: { address: string; port: number; weight: number }[] }[];
  addresses: Record<string, string[]>;
  ipsets: Record<string, { type: string; family: string; entries: string[] }>;
  iptables: Record<'ipv4' | 'ipv6', Record<'nat' | 'filter', string>>;
}

function vsLines(doc: Doc, keep: (key: string) => boolean): string[] {
  const out: string[] = [];
  for (const vs of doc.ipvs) {
    const key = `${vs.protocol}/${vs.address.includes(':') ? `[${vs.address}]` : vs.address}:${vs.port}`;
    if (!keep(key)) continue;
    out.push(`${key} ${vs.scheduler} flags=${vs.flags} timeout=${vs.timeout}`);
    for (const rs of vs.realServers) out.push(`${key} -> ${rs.address}:${rs.port} w=${rs.weight}`);
  }
  return out;
}

/**
 * Differences between what `plan` wants and what `dump` read, on everything kube-ipvs owns: virtual servers (all of
 * them except the keys `foreign` lists), kube-ipvs0 addresses (except `foreignAddresses`), every desired KUBE-* set
 * (type, family, members) and every desired table (compared as iptables-save prints it). [] when equal.
 */
export function ownedDifferences(planJson: string, dumpJson: string, opts: { foreign?: string[]; foreignAddresses?: string[] } = {}): string[] {
  const plan = JSON.parse(planJson) as Doc;
  const dump = JSON.parse(dumpJson) as Doc;
  const foreign = new Set(opts.foreign ?? []);
  const diffs: string[] = [];
  const want = vsLines(plan, () => true);
  const have = vsLines(dump, (k) => !foreign.has(k));
  for (const l of want) if (!have.includes(l)) diffs.push(`ipvs missing: ${l}`);
  for (const l of have) if (!want.includes(l)) diffs.push(`ipvs extra: ${l}`);
  const skipAddr = new Set(opts.foreignAddresses ?? []);
  const wantA = plan.addresses['kube-ipvs0'] ?? [];
  const haveA = (dump.addresses['kube-ipvs0'] ?? []).filter((a) => !skipAddr.has(a));
  if (JSON.stringify(wantA) !== JSON.stringify(haveA)) diffs.push(`addresses: want ${wantA.join(' ')} have ${haveA.join(' ')}`);
  for (const [name, set] of Object.entries(plan.ipsets)) {
    const got = dump.ipsets[name];
    if (!got) diffs.push(`ipset ${name} missing`);
    else if (got.type !== set.type || got.family !== set.family) diffs.push(`ipset ${name}: ${got.type} ${got.family}, want ${set.type} ${set.family}`);
    else if (JSON.stringify(got.entries) !== JSON.stringify(set.entries)) diffs.push(`ipset ${name}: have ${got.entries.join(' ')} want ${set.entries.join(' ')}`);
  }
  for (const family of ['ipv4', 'ipv6'] as const) {
    for (const table of ['nat', 'filter'] as const) {
      const w = plan.iptables[family][table];
      if (w && !iptablesTextEqual(w, dump.iptables[family][table], family === 'ipv4' ? 4 : 6)) {
        diffs.push(`iptables ${family} ${table} differs:\n--- want\n${w}--- have\n${dump.iptables[family][table]}`);
      }
    }
  }
  return diffs;
}

/** The node's addresses as kube-ipvs reads them (every interface but kube-ipvs0), for `plan --node-addresses`. */
export async function kernelNodeAddresses(): Promise<string[]> {
  const link = new LinkDriver();
  try {
    return await link.localAddressesExcept();
  } finally {
    link.close();
  }
}

/** `plan --output json` and `dump --output json` for the same objects, and their owned differences. */
export async function planVersusKernel(file: string, extra: readonly string[] = [], opts: { foreign?: string[]; foreignAddresses?: string[] } = {}): Promise<string[]> {
  const addrs = await kernelNodeAddresses();
  const plan = await kubeIpvs(['plan', '--output', 'json', '--hostname-override', NODE, '--objects', file, '--node-addresses', addrs.join(','), ...extra]);
  if (plan.exitCode !== 0) throw new Error(`kube-ipvs plan exited ${plan.exitCode}: ${plan.stderr}`);
  const dump = await kubeIpvs(['dump', '--output', 'json']);
  if (dump.exitCode !== 0) throw new Error(`kube-ipvs dump exited ${dump.exitCode}: ${dump.stderr}`);
  return ownedDifferences(plan.stdout, dump.stdout, opts);
}
