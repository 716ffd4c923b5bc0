// The sandbox demo's orchestration, run in the current network namespace as the "node" (inside the user-mode
// Linux guest for `kube-ipvs sandbox`, in a test's namespace for the kernel test). Everything it shows is read
// from the real system: the kernel's IPVS table, real HTTP/UDP answers from pod processes, the health check node
// port, the EndpointSlice writes through the API server, process exits.
//
//   node network    veth eth0 192.168.50.1/24 <-> namespace <prefix>-client (192.168.50.2, the outside world),
//                   bridge kipvs-br0 10.244.0.1/24 with one namespace per pod
//   API server      embedded, in this process, loaded with the objects; kubeconfig written by the server
//   kube-ipvs run   a real subprocess (`node bin/kube-ipvs run --kubeconfig ... --hostname-override NODE`)
//   pods            one namespace + HTTP/UDP server per endpoint address (./pods.ts)
// then: the first sync, the IPVS table, requests through every virtual server, the health check node ports,
// a scale-down and scale-up under a request loop, and a clean exit (SIGTERM, everything stopped and checked).
// Any failed step is a problem in the result; cleanup always runs.

import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { formatDumpText } from '../cli/dump.js';
import { isUsageError } from '../cli/errors.js';
import { resolveConfig } from '../cli/resolve.js';
import { computeDesiredState } from '../desired/index.js';
import { EmbeddedApiServer } from '../k8s/apiserver/index.js';
import { loadObjectFiles } from '../k8s/objects.js';
import { IpvsClient } from '../kernel/ipvs/client.js';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import type { ProxyConfig } from '../model/config.js';
import { joinHostPort } from '../model/ip.js';
import { virtualServerKey, type NodeState, type VirtualServer } from '../model/state.js';
import { observeKernel, type ObserveDrivers } from '../runtime/observe.js';
import {
  chooseNodeName, judgeTarget, planHealthChecks, planPods, planScale, planTargets, sandboxNodeObject, SANDBOX_NETWORK,
  sliceWith, sliceWithout, sliceWithTerminating, type Answer, type DemoObjects, type DemoTarget, type PodSpec, type ScalePlan, type TargetResult,
} from './demo-plan.js';
import {
  formatHealthCheck, formatScaleTable, formatServicesTable, formatTargetTable, ipvsSection, judgeHealthCheck, seconds, virtualServerRows,
  type HealthCheckResult, type PhaseCount,
} from './demo-report.js';
import {
  cmd, createNetns, createPodNetwork, destroyNetns, httpGet, netnsExists, ownedNetns, pidsInNetns, startClientAgent, tryCmd, udpRequest,
  type ClientAgent, type Pod, type PodNetwork,
} from './pods.js';
import { packageRoot } from './uml.js';

export interface DemoReporter {
  /** One progress line (what is happening now). */
  step(text: string): void;
  /** A block of result lines (tables). */
  block(lines: readonly string[]): void;
}

export interface DemoOptions {
  /** Objects files (YAML/JSON); default: src/sandbox/demo-objects.yaml. */
  objectFiles?: readonly string[];
  /** The node kube-ipvs runs as (default: chooseNodeName). */
  nodeName?: string;
  /** More flags for `kube-ipvs run` (kube-proxy's flags). */
  runFlags?: readonly string[];
  /** Namespaces are named <prefix>-client and <prefix>-<pod> (default "sandbox"). */
  netnsPrefix?: string;
  /** Where the kubeconfig and kube-ipvs's log go. */
  workDir: string;
  reporter: DemoReporter;
  /** Default: <package>/bin/kube-ipvs. */
  kubeIpvsBin?: string;
  /** Time limit for the first sync (default 90 s: loading the API client alone takes seconds in the guest). */
  firstSyncTimeoutMs?: number;
}

export interface ScaleResult {
  plan: ScalePlan;
  phases: PhaseCount[];
  failed: number;
  /** Answers from the removed pod after the kernel stopped sending it new connections. */
  removedAnsweredAfter: number;
  /** Answers from the added pod once the kernel had it. */
  addedAnswered: number;
  /** The virtual server's rows of the IPVS table: before, after the scale-down, after the scale-up. */
  tables: { before: string[]; afterDown: string[]; afterUp: string[] };
}

export interface CleanupResult {
  kubeIpvsExit?: number | string;
  kubeIpvsStopMs?: number;
  /** Processes of ours still running after cleanup (pid and command line). */
  leftovers: string[];
  /** Namespaces still there after cleanup. */
  namespacesLeft: string[];
}

export interface DemoResult {
  ok: boolean;
  problems: string[];
  nodeName: string;
  pods: PodSpec[];
  targets: TargetResult[];
  skippedTargets: string[];
  health: HealthCheckResult[];
  scale?: ScaleResult;
  cleanup: CleanupResult;
  /** The IPVS section of `kube-ipvs dump --output text` after the first sync. */
  ipvsTable: string[];
  timings: { firstSyncMs?: number; totalMs: number };
}

/** A step that cannot go on: the message is the problem the user sees. */
class DemoStop extends Error {}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined> | T | undefined, intervalMs = 100,
  abort?: () => string | undefined): Promise<T> {
  const deadline = performance.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    const why = abort?.();
    if (why) throw new DemoStop(`${what}: ${why}`);
    try {
      const v = await check();
      if (v !== undefined) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (performance.now() > deadline) {
      throw new DemoStop(`${what}: not within ${seconds(timeoutMs)}${last instanceof Error ? ` (${last.message})` : ''}`);
    }
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- kube-ipvs as a subprocess

interface KubeIpvs {
  child: ChildProcess;
  /** JSON log lines seen so far (the last 500). */
  logs: Record<string, unknown>[];
  exit?: number | string;
  exited: Promise<number | string>;
  tail(n?: number): string;
}

function startKubeIpvs(bin: string, args: readonly string[], logFile: string, onLog: (l: Record<string, unknown>) => void): KubeIpvs {
  const env = { ...process.env };
  // The guest's nf_tables lacks its ip/ip6 families: say so instead of letting kube-ipvs probe for it.
  env.KUBE_IPVS_IPTABLES_BACKEND ??= 'legacy';
  const child = spawn(process.execPath, [bin, 'run', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const log = createWriteStream(logFile);
  const k: KubeIpvs = {
    child,
    logs: [],
    exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))),
    tail: (n = 8) => {
      const lines = readFileSync(logFile, 'utf8').trimEnd().split('\n');
      return lines.slice(-n).join('\n');
    },
  };
  void k.exited.then((e) => (k.exit = e));
  let buf = '';
  const onData = (b: Buffer) => {
    log.write(b);
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        const parsed: unknown = JSON.parse(line);
        if (parsed && typeof parsed === 'object') {
          k.logs.push(parsed as Record<string, unknown>);
          onLog(parsed as Record<string, unknown>);
        }
        if (k.logs.length > 500) k.logs.shift();
      } catch {
        /* not a log line: it is in the file */
      }
    }
  };
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  child.once('exit', () => log.end());
  return k;
}

// ---------------------------------------------------------------- reading the kernel

/** Only the IPVS table is read: the other drivers are never called. */
function ipvsOnly(ipvs: IpvsClient): ObserveDrivers {
  const never = async (): Promise<never> => {
    throw new Error('not read by the demo');
  };
  return { ipvs, link: { listAddresses: never, localAddressesExcept: never }, ipset: { observe: never }, iptables: { observe: never } };
}

async function readIpvs(ipvs: IpvsClient, keys?: string[]): Promise<NodeState> {
  const { state } = await observeKernel(ipvsOnly(ipvs), { ipvs: keys ?? true, addresses: false, ipsets: false, iptables: false, nodeAddresses: false });
  return state;
}

/** How the kernel's IPVS table differs from the desired one (services and real servers with weights); [] = equal. */
export function ipvsDifferences(desired: readonly VirtualServer[], observed: readonly VirtualServer[]): string[] {
  const text = (vs: VirtualServer) =>
    `${vs.scheduler} flags ${vs.flags} timeout ${vs.timeout} -> ${vs.realServers.map((r) => `${joinHostPort(r.address, r.port)}@${r.weight}`).sort().join(' ')}`;
  const want = new Map(desired.map((vs) => [virtualServerKey(vs), text(vs)] as const));
  const have = new Map(observed.map((vs) => [virtualServerKey(vs), text(vs)] as const));
  const out: string[] = [];
  for (const [k, v] of want) {
    if (!have.has(k)) out.push(`missing ${k}`);
    else if (have.get(k) !== v) out.push(`${k}: kernel has ${have.get(k)}, objects ask for ${v}`);
  }
  for (const k of have.keys()) if (!want.has(k)) out.push(`unexpected ${k}`);
  return out;
}

// ---------------------------------------------------------------- writes through the API server

function putJson(url: string, body: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const data = JSON.stringify(body);
    const req = httpRequest(url, { method: 'PUT', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }, agent: false }, (res) => {
      let text = '';
      res.on('data', (c) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function updateSlice(server: EmbeddedApiServer, ns: string, name: string, edit: (s: ApiEndpointSlice) => ApiEndpointSlice): Promise<void> {
  const current = server.store.objectsOf('EndpointSlice').find((s) => s.metadata?.namespace === ns && s.metadata?.name === name);
  if (!current) throw new DemoStop(`EndpointSlice ${ns}/${name} is not in the API server`);
  const next = edit(current as ApiEndpointSlice);
  const r = await putJson(`${server.url}/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices/${name}`, next);
  if (r.status !== 200) throw new DemoStop(`PUT EndpointSlice ${ns}/${name}: HTTP ${r.status}: ${r.body.slice(0, 200)}`);
}

// ---------------------------------------------------------------- processes left behind

/** Every process below `root` (pid and command line), from /proc. */
export function descendants(root: number): string[] {
  const parent = new Map<number, number>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces and parentheses, so split after the last ')'.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      parent.set(Number(d), ppid);
    } catch {
      /* gone */
    }
  }
  const out: string[] = [];
  for (const pid of parent.keys()) {
    let p = parent.get(pid);
    for (let hops = 0; p !== undefined && p > 1 && hops < 64; hops++) {
      if (p === root) {
        let cmdline = '';
        try {
          cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
        } catch {
          /* gone */
        }
        if (cmdline) out.push(`${pid} ${cmdline}`);
        break;
      }
      p = parent.get(p);
    }
  }
  return out;
}

// ---------------------------------------------------------------- the demo

function loadObjects(files: readonly string[] | undefined): { objects: DemoObjects; notes: string[] } {
  const paths = files?.length ? files : [join(packageRoot(), 'src', 'sandbox', 'demo-objects.yaml')];
  const loaded = loadObjectFiles(paths);
  return { objects: { services: loaded.services, endpointSlices: loaded.endpointSlices, nodes: loaded.nodes }, notes: loaded.notes };
}

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

export async function runDemo(opts: DemoOptions): Promise<DemoResult> {
  const t0 = performance.now();
  const { reporter } = opts;
  const prefix = opts.netnsPrefix ?? 'sandbox';
  const clientNs = `${prefix}-client`;
  const problems: string[] = [];
  const result: DemoResult = {
    ok: false, problems, nodeName: '', pods: [], targets: [], skippedTargets: [], health: [],
    cleanup: { leftovers: [], namespacesLeft: [] }, ipvsTable: [], timings: { totalMs: 0 },
  };
  let server: EmbeddedApiServer | undefined;
  let kube: KubeIpvs | undefined;
  let net: PodNetwork | undefined;
  let agent: ClientAgent | undefined;
  let ipvs: IpvsClient | undefined;
  let nodeLinkMade = false;
  let clientMade = false;
  const pods = new Map<string, Pod>();
  const kubeGone = () => (kube?.exit !== undefined ? `kube-ipvs exited (${kube.exit}):\n${kube.tail()}` : undefined);

  try {
    // ---- objects, node, flags
    let loaded;
    try {
      loaded = loadObjects(opts.objectFiles);
    } catch (e) {
      throw new DemoStop(`cannot read the objects: ${(e as Error).message}`);
    }
    const { objects } = loaded;
    for (const note of loaded.notes) reporter.step(`note: ${note}`);
    const nodeName = chooseNodeName(objects, opts.nodeName);
    result.nodeName = nodeName;
    let node: ApiNode | undefined = objects.nodes.find((n) => n.metadata?.name === nodeName);
    if (!node) {
      node = sandboxNodeObject(nodeName);
      objects.nodes.push(node);
    }
    const podPlan = planPods(objects);
    for (const note of podPlan.notes) reporter.step(`note: ${note}`);
    if (podPlan.pods.length === 0) throw new DemoStop('no endpoint addresses in the EndpointSlices: there is nothing to serve');
    result.pods = podPlan.pods;
    const kubeconfig = join(opts.workDir, 'kubeconfig');
    const runFlags = ['--kubeconfig', kubeconfig, '--hostname-override', nodeName, ...(opts.runFlags ?? [])];
    let config: ProxyConfig;
    try {
      config = resolveConfig(['run', ...runFlags]).config;
    } catch (e) {
      throw new DemoStop(`kube-ipvs run flags: ${isUsageError(e) ? e.messages.join('; ') : (e as Error).message}`);
    }

    // ---- the node's network: a link to the outside client, the pod bridge
    const hasV6 = podPlan.pods.some((p) => p.ipv6);
    const N = SANDBOX_NETWORK;
    if ((await tryCmd('ip', ['link', 'show', N.nodeLink])).exitCode === 0) {
      throw new DemoStop(`this namespace already has a link named ${N.nodeLink}: run the sandbox in a fresh network namespace`);
    }
    const client = await createNetns(clientNs);
    clientMade = true;
    await cmd('ip', ['-batch', '-'], {
      stdin: [`link add ${N.nodeLink} type veth peer name eth0 netns ${client.name}`, `addr add ${N.nodeIP}/${N.linkPrefix} dev ${N.nodeLink}`, `link set ${N.nodeLink} up`].join('\n') + '\n',
    });
    nodeLinkMade = true;
    await cmd('ip', ['-n', client.name, '-batch', '-'], {
      stdin: [`addr add ${N.clientIP}/${N.linkPrefix} dev eth0`, 'link set eth0 up', `route add default via ${N.nodeIP}`].join('\n') + '\n',
    });
    net = await createPodNetwork({ bridge: N.bridge, ipv4Cidr: N.podCidr4, ipv6Cidr: hasV6 ? N.podCidr6 : null, netnsPrefix: prefix });
    // What a CNI plugin does on a node: forward between the pods and the outside.
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    if (hasV6) writeFileSync('/proc/sys/net/ipv6/conf/all/forwarding', '1');
    const nodeAddresses = [N.nodeIP, N.podGateway4, ...(hasV6 ? [N.podGateway6] : [])];
    reporter.step(`node ${nodeName}: ${N.nodeLink} ${N.nodeIP}/${N.linkPrefix} (outside client ${N.clientIP} in namespace ${clientNs}), pods on ${N.bridge} ${N.podGateway4}/24${hasV6 ? ` and ${N.podGateway6}/64` : ''}`);

    // ---- the API server
    server = new EmbeddedApiServer({ host: '127.0.0.1' });
    for (const o of [...objects.nodes, ...objects.services, ...objects.endpointSlices]) {
      try {
        server.store.apply(o);
      } catch (e) {
        throw new DemoStop(`the API server refused ${o.kind} ${o.metadata?.namespace ? `${o.metadata.namespace}/` : ''}${o.metadata?.name}: ${(e as Error).message}`);
      }
    }
    await server.start(0);
    server.writeKubeconfig(kubeconfig);
    // Read back what the server holds: it defaulted and allocated (ClusterIPs, node ports).
    const services = server.store.objectsOf('Service') as ApiService[];
    const slices = server.store.objectsOf('EndpointSlice') as ApiEndpointSlice[];
    reporter.step(`api server: ${server.url} with ${plural(objects.nodes.length, 'Node')}, ${plural(services.length, 'Service')}, ${plural(slices.length, 'EndpointSlice')} (kubeconfig ${kubeconfig}):`);
    reporter.block(formatServicesTable(services, slices, nodeName).map((l) => `  ${l}`));

    // ---- kube-ipvs, then the pods while it loads
    const bin = opts.kubeIpvsBin ?? join(packageRoot(), 'bin', 'kube-ipvs');
    const runStarted = performance.now();
    const runStartedAt = Date.now();
    // Progress while it loads and syncs (the API client alone takes seconds to load in the guest).
    let told = 0;
    kube = startKubeIpvs(bin, runFlags, join(opts.workDir, 'kube-ipvs.log'), (l) => {
      if (told === 0 && l.msg === 'Using the API server') {
        told = 1;
        reporter.step(`kube-ipvs: loaded in ${seconds(performance.now() - runStarted)}, watching ${String(l.server ?? 'the API server')}`);
      } else if (told <= 1 && l.msg === 'Caches are synced' && kube!.logs.filter((x) => x.msg === 'Caches are synced').length >= 3) {
        told = 2;
        reporter.step('kube-ipvs: Services, EndpointSlices and its Node received; first sync running');
      }
    });
    reporter.step(`kube-ipvs run: started (pid ${kube.child.pid}): kube-ipvs run ${runFlags.join(' ')}`);

    const starting: Promise<void>[] = podPlan.pods.map(async (spec) => {
      const pod = await net!.addPod(spec.name, { ipv4: spec.ipv4 ?? null, ipv6: spec.ipv6 ?? null });
      pods.set(spec.name, pod);
      await pod.serve({ http: spec.tcp, udp: spec.udp });
      const where = [spec.ipv4, spec.ipv6].filter(Boolean).join(', ');
      const serves = [...spec.tcp.map((p) => `http ${p}`), ...spec.udp.map((p) => `udp ${p}`)].join(', ') || 'no ports';
      reporter.step(`pod ${spec.name}: ${where}, ${serves}${spec.nodeName && spec.nodeName !== nodeName ? ` (endpoint of node ${spec.nodeName})` : ''}`);
    });
    starting.push((async () => {
      agent = await startClientAgent(client.name);
      reporter.step(`client: ready in namespace ${client.name} (${N.clientIP}, routes through the node)`);
    })());
    const started = await Promise.allSettled(starting);
    const failedStart = started.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failedStart) throw new DemoStop(`starting the pods: ${(failedStart.reason as Error).message}`);

    // ---- the first sync
    const firstSyncTimeout = opts.firstSyncTimeoutMs ?? 90_000;
    const synced = await waitFor('kube-ipvs: the first sync', firstSyncTimeout,
      () => kube!.logs.find((l) => l.msg === 'Synced' && l.failed === 0), 100, kubeGone);
    // From its own log line's time: the pods may still have been starting when it synced.
    const firstSyncMs = typeof synced.time === 'number' ? synced.time - runStartedAt : performance.now() - runStarted;
    result.timings.firstSyncMs = firstSyncMs;
    ipvs = await IpvsClient.open();
    const desired = computeDesiredState({ services, endpointSlices: slices, node: { nodeName, node, nodeAddresses }, config });
    let differences: string[] = [];
    try {
      await waitFor('the kernel to hold what the objects ask for', 10_000, async () => {
        differences = ipvsDifferences(desired.ipvs, (await readIpvs(ipvs!)).ipvs);
        return differences.length === 0 ? true : undefined;
      }, 200, kubeGone);
    } catch (e) {
      throw new DemoStop(`${(e as Error).message}:\n  ${differences.slice(0, 10).join('\n  ')}`);
    }
    const realServers = desired.ipvs.reduce((n, vs) => n + vs.realServers.length, 0);
    reporter.step(`kube-ipvs: first sync done ${seconds(firstSyncMs)} after start (${String(synced.summary ?? '')}); the kernel holds ${plural(desired.ipvs.length, 'virtual server')} with ${plural(realServers, 'real server')}, exactly what the objects ask for`);

    // ---- the table
    const table = ipvsSection(formatDumpText(await readIpvs(ipvs)));
    result.ipvsTable = table;
    reporter.step('the IPVS table, as `kube-ipvs dump --output text` prints it (read from the kernel now):');
    reporter.block(table.map((l) => `  ${l}`));

    // ---- requests through every virtual server
    const targetPlan = planTargets(desired, services, podPlan.pods, nodeName, slices);
    result.skippedTargets = targetPlan.skipped;
    reporter.step(`requests: ${targetPlan.targets.reduce((n, t) => n + t.requests, 0)} through ${plural(targetPlan.targets.length, 'virtual server')} (ClusterIPs from the node, the rest from the outside client)`);
    for (const target of targetPlan.targets) {
      const answers = await requestTarget(target, agent!);
      const judged = judgeTarget(target, answers);
      result.targets.push(judged);
      problems.push(...judged.problems);
    }
    reporter.block(formatTargetTable(result.targets).map((l) => `  ${l}`));
    for (const s of targetPlan.skipped) reporter.step(`not requested: ${s}`);

    // ---- health check node ports
    for (const check of planHealthChecks(services, slices, nodeName)) {
      let answer: { status?: number; body?: string; error?: string };
      try {
        const r = await agent!.httpRaw(N.nodeIP, check.port, '/');
        answer = { status: r.status, body: r.body };
      } catch (e) {
        answer = { error: (e as Error).message };
      }
      const judged = judgeHealthCheck(check, N.nodeIP, answer);
      result.health.push(judged);
      problems.push(...judged.problems);
      reporter.step(`health check node port: ${formatHealthCheck(judged)}`);
    }

    // ---- scale down and up under load
    const scale = planScale(targetPlan.targets, services, slices, podPlan.pods, nodeName);
    if (scale) {
      result.scale = await scaleDemo(scale, { server, ipvs, net, pods, reporter, abort: kubeGone });
      if (result.scale.failed) problems.push(`scale ${scale.service}: ${result.scale.failed} requests failed while scaling`);
      if (result.scale.removedAnsweredAfter) {
        problems.push(`scale ${scale.service}: ${scale.remove.pod} answered ${result.scale.removedAnsweredAfter} new requests after the kernel dropped it`);
      }
      if (!result.scale.addedAnswered) problems.push(`scale ${scale.service}: ${scale.add.pod} never answered once the kernel had it`);
    } else {
      reporter.step('scale: no round-robin ClusterIP Service with two or more pods in one EndpointSlice to scale; skipped');
    }
  } catch (e) {
    problems.push(e instanceof DemoStop ? e.message : `unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  }

  // ---- clean exit, whatever happened
  const cleanup = result.cleanup;
  try {
    ipvs?.close();
    if (agent) await agent.stop();
    if (kube) {
      const t = performance.now();
      if (kube.exit === undefined) kube.child.kill('SIGTERM');
      const killer = setTimeout(() => kube!.child.kill('SIGKILL'), 30_000);
      cleanup.kubeIpvsExit = await kube.exited;
      clearTimeout(killer);
      cleanup.kubeIpvsStopMs = performance.now() - t;
      // Before it has loaded, node has no SIGTERM handler yet: dying of the signal then is no fault of kube-ipvs.
      const loaded = kube.logs.some((l) => l.msg === 'Using the API server');
      if (cleanup.kubeIpvsExit !== 0 && (loaded || cleanup.kubeIpvsExit !== 'SIGTERM')) {
        problems.push(`kube-ipvs exited with ${cleanup.kubeIpvsExit} on SIGTERM (expected 0):\n${kube.tail()}`);
      }
    }
    if (server) await server.stop();
    const podCount = pods.size;
    if (net) await net.destroy();
    if (nodeLinkMade) await tryCmd('ip', ['link', 'del', SANDBOX_NETWORK.nodeLink]);
    if (clientMade) await destroyNetns(clientNs);
    // A pod that failed half-way is not in net.pods, but its namespace is remembered.
    for (const ns of ownedNetns()) if (ns.startsWith(`${prefix}-`)) await destroyNetns(ns);
    cleanup.leftovers = descendants(process.pid);
    cleanup.namespacesLeft = [clientNs, ...(net?.pods ?? []).map((p) => p.name)].filter((ns) => netnsExists(ns) || pidsInNetns(ns).length > 0);
    if (cleanup.leftovers.length) problems.push(`processes still running after cleanup: ${cleanup.leftovers.join('; ')}`);
    if (cleanup.namespacesLeft.length) problems.push(`namespaces left after cleanup: ${cleanup.namespacesLeft.join(', ')}`);
    result.timings.totalMs = performance.now() - t0;
    const stopped = kube ? `kube-ipvs stopped on SIGTERM in ${seconds(cleanup.kubeIpvsStopMs ?? 0)} (exit ${cleanup.kubeIpvsExit})` : 'kube-ipvs never started';
    reporter.step(`clean exit: ${stopped}, API server stopped, ${plural(podCount, 'pod')} and the client removed, ${cleanup.leftovers.length ? `${cleanup.leftovers.length} processes LEFT` : 'no process left'}; demo took ${seconds(result.timings.totalMs)}`);
  } catch (e) {
    problems.push(`cleanup: ${(e as Error).message}`);
    result.timings.totalMs = performance.now() - t0;
  }
  result.ok = problems.length === 0;
  return result;
}

/** The target's requests, one after the other (so round robin's order shows), each on a new connection. */
async function requestTarget(target: DemoTarget, agent: ClientAgent): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < target.requests; i++) {
    try {
      const r = target.from === 'node'
        ? target.protocol === 'UDP' ? await udpRequest(target.address, target.port, `req-${i}`) : await httpGet(target.address, target.port, `/req-${i}`)
        : await agent.request(target.protocol === 'UDP' ? 'udp' : 'http', target.address, target.port, `req-${i}`);
      answers.push({ pod: r.pod, client: r.client });
    } catch (e) {
      answers.push({ error: (e as Error).message });
    }
  }
  return answers;
}

interface ScaleContext {
  server: EmbeddedApiServer;
  ipvs: IpvsClient;
  net: PodNetwork;
  pods: Map<string, Pod>;
  reporter: DemoReporter;
  abort: () => string | undefined;
}

interface LoopAnswer extends Answer {
  phase: number;
}

/**
 * Scale-down (the endpoint goes terminating, then away with its pod) and scale-up (a new pod, then its endpoint)
 * of one Service through EndpointSlice writes to the API server, while requests flow in a loop from the node.
 * Each phase ends once the kernel shows the change and enough requests went through it.
 */
async function scaleDemo(plan: ScalePlan, ctx: ScaleContext): Promise<ScaleResult> {
  const { server, ipvs, reporter } = ctx;
  const t = plan.target;
  const key = virtualServerKey(t);
  const hostPort = joinHostPort(t.address, t.port);
  const rowsNow = async () => virtualServerRows(ipvsSection(formatDumpText(await readIpvs(ipvs, [key]))), t.protocol, hostPort);
  const weightOf = async (address: string) =>
    (await readIpvs(ipvs, [key])).ipvs[0]?.realServers.find((r) => r.address === address)?.weight;
  const phaseNames: string[] = [];
  const answers: LoopAnswer[] = [];
  let phase = 0;
  const startPhase = (name: string) => {
    phaseNames.push(name);
    phase = phaseNames.length - 1;
  };
  const inPhase = (p: number) => answers.filter((a) => a.phase === p).length;
  // Enough requests per settled phase for round robin to go around twice.
  const perPhase = 2 * (t.pods.length + 1);

  const before = await rowsNow();
  reporter.step(`scale: ${plan.service} (${t.kind} ${hostPort}) has ${plural(t.pods.length, 'pod')}; requests now flow in a loop from the node`);
  startPhase(`${t.pods.length} pods`);
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const p = phase;
      try {
        const r = await httpGet(t.address, t.port, `/loop-${i}`);
        answers.push({ phase: p, pod: r.pod, client: r.client });
      } catch (e) {
        answers.push({ phase: p, error: (e as Error).message });
      }
      // A breath between requests: the guest has one CPU, which kube-ipvs needs to react to the writes.
      await sleep(10);
    }
  })();
  const settle = (what: string) => waitFor(what, 30_000, () => (inPhase(phase) >= perPhase ? true : undefined), 50, ctx.abort);
  let afterDown: string[] = [];
  let afterUp: string[] = [];
  try {
    await settle('requests before the scale-down');

    // Scale-down, as Kubernetes does it: the pod is deleted, its endpoint turns terminating, and goes once the pod is gone.
    const { namespace, name } = plan.slice;
    startPhase(`${plan.remove.pod} terminating`);
    const tDown = performance.now();
    await updateSlice(server, namespace, name, (s) => sliceWithTerminating(s, plan.remove.address));
    reporter.step(`scale down: ${plan.remove.pod} terminating (EndpointSlice ${namespace}/${name} written through the API server)`);
    await waitFor(`the kernel to stop sending new connections to ${plan.remove.pod}`, 30_000,
      async () => ((await weightOf(plan.remove.address)) ?? 0) === 0 ? true : undefined, 100, ctx.abort);
    reporter.step(`scale down: the kernel sends ${plan.remove.pod} no new connections ${seconds(performance.now() - tDown)} after the write`);
    startPhase(`${t.pods.length - 1} pods`);
    await settle('requests after the scale-down');
    const gone = ctx.pods.get(plan.remove.pod);
    if (gone) {
      await gone.destroy();
      ctx.pods.delete(plan.remove.pod);
    }
    await updateSlice(server, namespace, name, (s) => sliceWithout(s, plan.remove.address));
    reporter.step(`scale down: pod ${plan.remove.pod} stopped and its endpoint removed`);
    afterDown = await rowsNow();

    // Scale-up: a new pod starts, then its ready endpoint is added.
    const pod = await ctx.net.addPod(plan.add.pod, { ipv4: plan.add.address, ipv6: null });
    ctx.pods.set(plan.add.pod, pod);
    await pod.serve({ http: plan.add.tcp, udp: plan.add.udp });
    startPhase(`${plan.add.pod} added`);
    const tUp = performance.now();
    await updateSlice(server, namespace, name, (s) => sliceWith(s, { pod: plan.add.pod, address: plan.add.address, nodeName: plan.add.nodeName }));
    reporter.step(`scale up: pod ${plan.add.pod} (${plan.add.address}) started and its endpoint added`);
    await waitFor(`the kernel to send connections to ${plan.add.pod}`, 30_000,
      async () => ((await weightOf(plan.add.address)) ?? 0) > 0 ? true : undefined, 100, ctx.abort);
    reporter.step(`scale up: the kernel sends connections to ${plan.add.pod} ${seconds(performance.now() - tUp)} after the write`);
    startPhase(`${t.pods.length} pods`);
    await settle('requests after the scale-up');
  } finally {
    running = false;
    await loop;
  }
  afterUp = await rowsNow();

  const podOrder = [...t.pods, plan.add.pod];
  const phases: PhaseCount[] = phaseNames.map((p, i) => {
    const mine = answers.filter((a) => a.phase === i);
    const counts = new Map<string, number>();
    for (const a of mine) if (a.pod) counts.set(a.pod, (counts.get(a.pod) ?? 0) + 1);
    return { phase: p, sent: mine.length, failed: mine.filter((a) => a.error).length, pods: counts };
  });
  const failed = answers.filter((a) => a.error).length;
  // Phases 2 and later started once the kernel had stopped sending the removed pod new connections.
  const removedAnsweredAfter = answers.filter((a) => a.phase >= 2 && a.pod === plan.remove.pod).length;
  const addedAnswered = answers.filter((a) => a.phase === phaseNames.length - 1 && a.pod === plan.add.pod).length;
  reporter.step(`scale: ${plan.service} before, after the scale-down, after the scale-up (from the kernel; a real server at weight 0 drains; the kernel folds the counters in every 2 s):`);
  reporter.block([...before.map((l) => `  ${l}`), '', ...afterDown.slice(2).map((l) => `  ${l}`), '', ...afterUp.slice(2).map((l) => `  ${l}`)]);
  reporter.step(`scale: ${answers.length} requests in the loop, ${failed} failed:`);
  reporter.block(formatScaleTable(phases, podOrder).map((l) => `  ${l}`));
  const firstFailure = answers.find((a) => a.error);
  if (firstFailure) reporter.step(`scale: first failure: ${firstFailure.error}`);
  return { plan, phases, failed, removedAnsweredAfter, addedAnswered, tables: { before, afterDown, afterUp } };
}
