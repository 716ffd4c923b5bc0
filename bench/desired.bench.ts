// Benchmark of desired/: 10,000 Services with 10 endpoints each (10% NodePort, 5% LoadBalancer), as JSON text.
// Prints: JSON.parse time of the input, from-scratch computeDesiredState time, the time to recompute after one
// Service's endpoints change (DesiredStateBuilder upsert + build + takeDelta, median of 50 changes), and memory.
// Targets (design): from scratch within 2x of parse time; one change < 5 ms.
// Run: npx tsc -p . && node dist/bench/desired.bench.js [services]   (DESIRED_BENCH_DUMP=file keeps the input JSON)

import { writeFileSync } from 'node:fs';
import { performance } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import type { ApiEndpointSlice, ApiService } from '../src/model/api.js';
import { defaultProxyConfig } from '../src/model/config.js';
import { computeDesiredState, DesiredStateBuilder, type NodeContext } from '../src/desired/index.js';

const SERVICES = Number(process.argv[2] ?? 10_000);
const ENDPOINTS = 10;
const NODES = 50;

/** Deterministic PRNG (mulberry32) so every run measures the same input. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function ip4(n: number, base: [number, number]): string {
  return `${base[0]}.${base[1]}.${(n >> 8) & 255}.${n & 255}`;
}

function generate(): string {
  const rand = rng(42);
  const services: ApiService[] = [];
  const endpointSlices: ApiEndpointSlice[] = [];
  let podIndex = 0;
  let nodePorts = 0;
  for (let i = 0; i < SERVICES; i++) {
    const ns = `ns-${i % 100}`;
    const name = `svc-${i}`;
    const r = i % 100;
    const type = r < 5 ? 'LoadBalancer' : r < 15 ? 'NodePort' : 'ClusterIP';
    const clusterIP = `10.96.${(i >> 8) & 255}.${i & 255}`;
    const port: { name: string; protocol: string; port: number; targetPort: number; nodePort?: number } = { name: 'http', protocol: 'TCP', port: 80, targetPort: 8080 };
    // Node ports are unique cluster-wide (the API server allocates them from 30000-32767).
    if (type !== 'ClusterIP') port.nodePort = 30000 + nodePorts++;
    const svc: ApiService = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { namespace: ns, name, uid: `uid-${i}`, resourceVersion: String(1000 + i), labels: { app: name } },
      spec: { type, clusterIP, clusterIPs: [clusterIP], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', ports: [port], selector: { app: name }, sessionAffinity: 'None', internalTrafficPolicy: 'Cluster' },
    };
    if (type !== 'ClusterIP') svc.spec!.externalTrafficPolicy = i % 3 === 0 ? 'Local' : 'Cluster';
    if (type === 'LoadBalancer') {
      svc.spec!.healthCheckNodePort = 30000 + nodePorts++;
      svc.status = { loadBalancer: { ingress: [{ ip: `203.0.${(i >> 8) & 255}.${i & 255}`, ipMode: 'VIP' }] } };
      if (i % 2 === 0) svc.spec!.loadBalancerSourceRanges = ['198.51.100.0/24', '192.168.0.0/16'];
    }
    services.push(svc);
    const endpoints = [];
    for (let e = 0; e < ENDPOINTS; e++) {
      const node = Math.floor(rand() * NODES);
      endpoints.push({
        addresses: [ip4(podIndex++, [10, 244 + (podIndex >> 16)])],
        conditions: { ready: true, serving: true, terminating: false },
        nodeName: `node-${node}`,
        zone: `zone-${node % 3}`,
        targetRef: { kind: 'Pod', name: `${name}-${e}`, namespace: ns, uid: `pod-${i}-${e}` },
      });
    }
    endpointSlices.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { namespace: ns, name: `${name}-abcde`, labels: { 'kubernetes.io/service-name': name, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', protocol: 'TCP', port: 8080 }],
      endpoints,
    });
  }
  return JSON.stringify({ services, endpointSlices });
}

interface Timing {
  wall: number;
  /** CPU time of the process (all threads, GC helpers included): what the run cost, even on a busy machine. */
  cpu: number;
}

function timed<T>(fn: () => T): [T, Timing] {
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const out = fn();
  const wall = performance.now() - t0;
  const c = process.cpuUsage(c0);
  return [out, { wall, cpu: (c.user + c.system) / 1000 }];
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function ms(x: number): string {
  return `${x.toFixed(2)} ms`;
}

const node: NodeContext = {
  nodeName: 'node-0',
  nodeAddresses: ['192.168.1.10', '10.0.0.5', '127.0.0.1', 'fd00::10', 'fe80::1'],
  node: { metadata: { name: 'node-0', labels: { 'topology.kubernetes.io/zone': 'zone-0' } }, status: { addresses: [{ type: 'InternalIP', address: '192.168.1.10' }] } },
};
const config = { ...defaultProxyConfig(), clusterCIDRs: ['10.244.0.0/14'] };

// Every measured run starts from a collected heap, so one phase does not pay for the garbage of another.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

const text = generate();
// Opt-in: keep the generated input for profiling (`--cpu-prof` on a script that reads it).
if (process.env.DESIRED_BENCH_DUMP) writeFileSync(process.env.DESIRED_BENCH_DUMP, text);
let peakHeap = 0;
const sampleHeap = () => {
  peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed);
};

type Input = { services: ApiService[]; endpointSlices: ApiEndpointSlice[] };
const RUNS = 5;

// Parse: the cost every consumer pays just to read the objects.
const parseTimes: Timing[] = [];
let input: Input | undefined;
for (let i = 0; i < RUNS; i++) {
  input = undefined;
  gc();
  let t: Timing;
  [input, t] = timed(() => JSON.parse(text) as Input);
  parseTimes.push(t);
  sampleHeap();
}

// From scratch.
const scratchTimes: Timing[] = [];
let state = computeDesiredState({ ...input!, node, config }); // warm-up (JIT)
for (let i = 0; i < RUNS; i++) {
  state = undefined as unknown as typeof state;
  gc();
  let t: Timing;
  [state, t] = timed(() => computeDesiredState({ ...input!, node, config }));
  scratchTimes.push(t);
  sampleHeap();
}

// Incremental: one Service's endpoints change, recompute (upsert + build + delta).
gc();
const builder = new DesiredStateBuilder(node, config);
const t0 = performance.now();
for (const s of input!.services) builder.upsertService(s);
for (const s of input!.endpointSlices) builder.upsertEndpointSlice(s);
builder.build();
builder.takeDelta();
const initialLoad = performance.now() - t0;
sampleHeap();
const rand = rng(7);
const changeTimes: number[] = [];
for (let i = 0; i < 50; i++) {
  const idx = Math.floor(rand() * input!.endpointSlices.length);
  const slice = structuredClone(input!.endpointSlices[idx]!);
  const eps = slice.endpoints!;
  eps[i % eps.length]!.addresses = [`10.250.${i}.${idx & 255}`];
  eps[(i + 1) % eps.length]!.conditions = { ready: false, serving: true, terminating: true };
  input!.endpointSlices[idx] = slice;
  const t1 = performance.now();
  builder.upsertEndpointSlice(slice);
  builder.build();
  const delta = builder.takeDelta();
  changeTimes.push(performance.now() - t1);
  if (delta.virtualServers.updated.length === 0) throw new Error('bench: a change produced no updated virtual server');
}
sampleHeap();

const parse = { wall: median(parseTimes.map((t) => t.wall)), cpu: median(parseTimes.map((t) => t.cpu)) };
const scratch = { wall: median(scratchTimes.map((t) => t.wall)), cpu: median(scratchTimes.map((t) => t.cpu)) };
const change = median(changeTimes);
const rows: [string, string][] = [
  ['input', `${SERVICES} Services, ${SERVICES} EndpointSlices, ${(text.length / 1e6).toFixed(1)} MB JSON`],
  ['output', `${state.ipvs.length} virtual servers, ${Object.values(state.ipsets).reduce((n, s) => n + s.entries.length, 0)} set entries`],
  [`JSON.parse (median of ${RUNS})`, `${ms(parse.wall)} wall, ${ms(parse.cpu)} cpu`],
  [`from scratch (median of ${RUNS})`, `${ms(scratch.wall)} wall, ${ms(scratch.cpu)} cpu`],
  ['from scratch / parse', `${(scratch.wall / parse.wall).toFixed(2)}x wall, ${(scratch.cpu / parse.cpu).toFixed(2)}x cpu (target <= 2x)`],
  ['builder initial load', ms(initialLoad)],
  ['one Service changes (median of 50)', `${ms(change)} (target < 5 ms; max ${ms(Math.max(...changeTimes))})`],
  ['peak RSS', `${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MB`],
  ['peak heap used (sampled)', `${(peakHeap / 1048576).toFixed(0)} MB`],
];
const w = Math.max(...rows.map((r) => r[0].length));
console.log('desired/ benchmark');
for (const [k, v] of rows) console.log(`  ${k.padEnd(w)}  ${v}`);
