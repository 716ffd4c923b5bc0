// The controller at cluster size, in the real kernel (user-mode Linux guest, via `npm run bench`):
//   1. the embedded API server (in this process) holds N Services with 10 endpoints each;
//   2. `node bin/kube-ipvs run --ipvs-min-sync-period=0` (a subprocess, as on a node) lists them and programs the
//      kernel: time to the first complete sync;
//   3. 50 EndpointSlice changes, one at a time, each replacing one endpoint of one Service: time from the write at
//      the API server to the new real server being visible in the kernel (polled with a netlink dump of that one
//      virtual server's destinations), p50 / p99 (target p99 < 100 ms);
//   4. kube-ipvs's resident memory at that size (target < 300 MB).
// N defaults to 10,000 (argv[2] or KUBE_IPVS_BENCH_SERVICES). If the first sync does not finish within the setup
// budget (KUBE_IPVS_BENCH_SETUP_S, default 480 s) the run stops and says so: rerun with a smaller N.
// UML makes every system call expensive: absolute times are pessimistic compared with a real node.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { EmbeddedApiServer } from '../src/k8s/apiserver/index.js';
import { IpvsClient } from '../src/kernel/ipvs/client.js';

const N = Number(process.argv[2] ?? process.env.KUBE_IPVS_BENCH_SERVICES ?? 10_000);
const ENDPOINTS = 10;
const CHANGES = Number(process.env.KUBE_IPVS_BENCH_CHANGES ?? 50);
const IDLE_MS = Number(process.env.KUBE_IPVS_BENCH_IDLE_S ?? 30) * 1000;
const SETUP_BUDGET_MS = Number(process.env.KUBE_IPVS_BENCH_SETUP_S ?? 480) * 1000;
const KUBE_IPVS = fileURLToPath(new URL('../../bin/kube-ipvs', import.meta.url));

const vip = (i: number) => `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;
const podIP = (i: number, j: number) => {
  const n = i * ENDPOINTS + j;
  return `10.${200 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
};
const name = (i: number) => `svc-${i}`;

function service(i: number) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: name(i), namespace: 'bench' },
    spec: { clusterIP: vip(i), clusterIPs: [vip(i)], ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }] },
  };
}

function slice(i: number, ips: string[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: `${name(i)}-1`, namespace: 'bench', labels: { 'kubernetes.io/service-name': name(i) } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], conditions: { ready: true }, nodeName: 'node-b' })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
};

function rssMB(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(new RegExp(`${k}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

async function main(): Promise<number> {
  spawnSync('ip', ['link', 'set', 'lo', 'up']);
  const t0 = performance.now();
  const api = new EmbeddedApiServer({ host: '127.0.0.1', bookmarkIntervalMs: 60_000, historySize: 1000 });
  api.store.apply({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'node-a' }, status: { addresses: [{ type: 'InternalIP', address: '10.255.0.1' }] } });
  for (let i = 0; i < N; i++) {
    api.store.apply(service(i));
    api.store.apply(slice(i, Array.from({ length: ENDPOINTS }, (_, j) => podIP(i, j))));
  }
  await api.start(0);
  const kubeconfig = api.writeKubeconfig(join(mkdtempSync('/tmp/kipvs-bench-'), 'kubeconfig'));
  console.log(`controller bench: ${N} Services x ${ENDPOINTS} endpoints (${N * ENDPOINTS} real servers) in the embedded API server (${((performance.now() - t0) / 1000).toFixed(1)} s to load)`);

  const tStart = performance.now();
  const wallStart = Date.now();
  // KUBE_IPVS_BENCH_NODE_FLAGS: comma-separated node flags for the kube-ipvs process (e.g. --trace-gc).
  const nodeFlags = (process.env.KUBE_IPVS_BENCH_NODE_FLAGS ?? '').split(',').filter(Boolean);
  const child = spawn(process.execPath, [...nodeFlags, KUBE_IPVS, 'run', '--kubeconfig', kubeconfig, '--hostname-override', 'node-a',
    '--ipvs-min-sync-period', '0s', '--ipvs-sync-period', '30m', '--healthz-bind-address', '', '--metrics-bind-address', '127.0.0.1:10249',
    ...(process.env.KUBE_IPVS_BENCH_VERBOSE ? ['-v', '2'] : [])], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBE_IPVS_IPTABLES_BACKEND: 'legacy' },
  });
  const logs: Record<string, any>[] = [];
  let buf = '';
  const onData = (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      try {
        logs.push(JSON.parse(line));
      } catch {
        if (line.trim()) console.log(`  kube-ipvs: ${line}`);
      }
    }
  };
  child.stdout.on('data', onData);
  child.stderr.on('data', onData);
  let exited = false;
  child.on('exit', () => (exited = true));

  const ipvs = await IpvsClient.open();
  try {
    // 1. the first complete sync
    const deadline = Date.now() + SETUP_BUDGET_MS;
    let first: Record<string, any> | undefined;
    while (!(first = logs.find((l) => l.msg === 'Synced' && l.failed === 0))) {
      if (exited) throw new Error(`kube-ipvs exited before its first sync: ${JSON.stringify(logs.slice(-5))}`);
      if (Date.now() > deadline) {
        console.log(`  SETUP TOO SLOW: no complete first sync within ${SETUP_BUDGET_MS / 1000} s at ${N} Services; rerun with a smaller size (argv[2])`);
        return 1;
      }
      await sleep(200);
    }
    const firstSyncS = (performance.now() - tStart) / 1000;
    const services = (await ipvs.listServices()).length;
    if (services < N) throw new Error(`only ${services} virtual servers in the kernel after the first sync`);
    const syncedAt = logs.find((l) => l.msg === 'Caches are synced' && /EndpointSlice/.test(l.controller));
    console.log(`  first sync: ${firstSyncS.toFixed(1)} s from process start (the sync itself ${(first.ms / 1000).toFixed(1)} s; ${first.summary})`);
    if (syncedAt) console.log(`  informers had listed ${N} Services + ${N} EndpointSlices ${((syncedAt.time - wallStart) / 1000).toFixed(1)} s after the process started`);
    await sleep(2000);

    // 2. endpoint changes, one at a time
    const changesStart = Date.now();
    const latencies: number[] = [];
    for (let k = 0; k < CHANGES; k++) {
      const i = (k * 197 + 13) % N;
      const fresh = `10.250.${k >> 8}.${(k & 255) + 1}`;
      const ips = Array.from({ length: ENDPOINTS }, (_, j) => (j === 0 ? fresh : podIP(i, j)));
      const vs = { protocol: 'TCP' as const, address: vip(i), port: 80 };
      const t = performance.now();
      api.store.apply(slice(i, ips));
      for (;;) {
        const dests = await ipvs.listDestinations(vs);
        if (dests.some((d) => d.address === fresh)) break;
        if (performance.now() - t > 60_000) throw new Error(`change ${k} not visible after 60 s`);
        await sleep(1);
      }
      latencies.push(performance.now() - t);
      await sleep(150);
    }
    const p50 = pct(latencies, 50);
    const p99 = pct(latencies, 99);
    const mem = rssMB(child.pid!);
    // What of it is live JavaScript heap (V8 keeps pages it used for the first sync's transient plan).
    let heap = '';
    try {
      const metrics = await (await fetch('http://127.0.0.1:10249/metrics')).text();
      const g = (n: string) => Number(new RegExp(`^${n} (\\S+)`, 'm').exec(metrics)?.[1] ?? NaN) / 1048576;
      heap = `; V8 heap used ${g('nodejs_heap_size_used_bytes').toFixed(0)} MB of ${g('nodejs_heap_size_total_bytes').toFixed(0)} MB, external ${g('nodejs_external_memory_bytes').toFixed(0)} MB`;
    } catch {
      /* metrics unavailable */
    }
    const partial = logs.filter((l) => l.msg === 'Synced' && l.kind === 'partial').map((l) => Number(l.ms));
    console.log(`  ${CHANGES} EndpointSlice changes, API server write -> real server in the kernel:`);
    console.log(`    p50 ${p50.toFixed(1)} ms   p99 ${p99.toFixed(1)} ms   max ${Math.max(...latencies).toFixed(1)} ms   (target p99 < 100 ms: ${p99 < 100 ? 'met' : 'NOT met'})`);
    if (partial.length) console.log(`    partial syncs: ${partial.length}, their own duration p50 ${pct(partial, 50).toFixed(1)} ms, p99 ${pct(partial, 99).toFixed(1)} ms (first three: ${partial.slice(0, 3).join(', ')} ms)`);
    console.log(`  kube-ipvs resident memory at ${N} Services right after the changes: ${mem.rss.toFixed(0)} MB (peak ${mem.hwm.toFixed(0)} MB${heap})`);
    // V8 gives back the pages the first sync's transient plan used only once the process has been idle a while.
    await sleep(IDLE_MS);
    const idle = rssMB(child.pid!);
    console.log(`  after ${IDLE_MS / 1000} s without changes: ${idle.rss.toFixed(0)} MB (target < 300 MB: ${idle.rss < 300 ? 'met' : 'NOT met'})`);
    if (process.env.KUBE_IPVS_BENCH_VERBOSE) {
      const timing = logs.filter((x) => x.msg === 'Sync timing');
      for (const l of [...timing.slice(0, 3), ...timing.slice(-5)]) console.log(`    ${JSON.stringify(l)}`);
    }
    for (const l of logs.filter((x) => x.msg === 'Released the memory of a large sync')) {
      console.log(`  ${l.msg}: heap used ${l.heapUsedMB} -> ${l.heapUsedAfterMB} MB in ${l.ms} ms, ${((l.time - changesStart) / 1000).toFixed(1)} s after the changes began`);
    }
    console.log(`BENCH-JSON ${JSON.stringify({ bench: 'controller', services: N, endpoints: ENDPOINTS, firstSyncS, firstSyncOwnMs: first.ms, changes: CHANGES, p50Ms: p50, p99Ms: p99, maxMs: Math.max(...latencies), rssMB: mem.rss, peakRssMB: mem.hwm, idleRssMB: idle.rss, latenciesMs: latencies.map((x) => Math.round(x * 10) / 10) })}`);
    return 0;
  } finally {
    ipvs.close();
    if (!exited) {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
    await api.stop();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error('controller.kbench:', e instanceof Error ? e.stack : e);
    process.exit(1);
  },
);
