// Shared pieces of the end-to-end kernel tests (test/kernel/e2e/*.ktest.ts): the embedded API server in the test
// process, kube-ipvs as a real subprocess (`node bin/kube-ipvs run ...`, exactly as on a node), a client that
// sends requests in a loop and records who answered, and object builders. Everything runs inside the guest, in
// the test file's own network namespace (the "node"); pods come from ../lib/pods.ts.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedApiServer } from '../../../src/k8s/apiserver/index.js';

export const NODE = 'node-a';
export const KUBE_IPVS = fileURLToPath(new URL('../../../../bin/kube-ipvs', import.meta.url));

export interface ApiServerHandle {
  server: EmbeddedApiServer;
  kubeconfig: string;
  dir: string;
}

/** The embedded API server on loopback, in this process (pause()/resume() simulate an outage). */
export async function startApiServer(): Promise<ApiServerHandle> {
  const server = new EmbeddedApiServer({ host: '127.0.0.1', bookmarkIntervalMs: 5000 });
  await server.start(0);
  const dir = mkdtempSync('/tmp/kipvs-e2e-');
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  return { server, kubeconfig, dir };
}

export interface KubeIpvsProcess {
  child: ChildProcess;
  /** Parsed JSON log lines so far (pino). */
  logs: Record<string, any>[];
  /** Raw stderr lines that are not JSON. */
  other: string[];
  waitForLog(pred: (l: Record<string, any>) => boolean, timeoutMs?: number, what?: string): Promise<Record<string, any>>;
  /** SIGTERM, then the exit code (or the signal name). */
  stop(): Promise<number | string>;
  exited: Promise<number | string>;
}

/** Flags every test uses: this node, short periods, loopback servers, iptables-legacy (the guest's nft cannot). */
export function baseFlags(kubeconfig: string, extra: string[] = []): string[] {
  return [
    '--kubeconfig', kubeconfig,
    '--hostname-override', NODE,
    '--ipvs-sync-period', '5s',
    '--ipvs-min-sync-period', '0s',
    '--healthz-bind-address', '127.0.0.1:10256',
    '--metrics-bind-address', '127.0.0.1:10249',
    '--cluster-cidr', '10.244.0.0/16',
    ...extra,
  ];
}

export function startKubeIpvs(args: string[], env: NodeJS.ProcessEnv = {}): KubeIpvsProcess {
  const child = spawn(process.execPath, [KUBE_IPVS, 'run', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, KUBE_IPVS_IPTABLES_BACKEND: 'legacy', ...env },
  });
  const logs: Record<string, any>[] = [];
  const other: string[] = [];
  const waiters = new Set<() => void>();
  let buf = '';
  const onData = (b: Buffer) => {
    buf += b.toString();
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      if (!line.trim()) continue;
      try {
        logs.push(JSON.parse(line));
      } catch {
        other.push(line);
      }
    }
    for (const w of [...waiters]) w();
  };
  child.stderr!.on('data', onData);
  child.stdout!.on('data', onData);
  const exited = new Promise<number | string>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal ?? -1)));
  let done = false;
  void exited.then(() => {
    done = true;
    for (const w of [...waiters]) w();
  });
  const proc: KubeIpvsProcess = {
    child,
    logs,
    other,
    exited,
    waitForLog: (pred, timeoutMs = 90_000, what = 'a log line') =>
      new Promise((resolve, reject) => {
        const check = () => {
          const hit = logs.find(pred);
          if (hit) {
            finish();
            resolve(hit);
          } else if (done) {
            finish();
            reject(new Error(`kube-ipvs exited while waiting for ${what}; last output:\n${tail(proc)}`));
          }
        };
        const timer = setTimeout(() => {
          finish();
          reject(new Error(`no ${what} from kube-ipvs within ${timeoutMs} ms; last output:\n${tail(proc)}`));
        }, timeoutMs);
        const finish = () => {
          clearTimeout(timer);
          waiters.delete(check);
        };
        waiters.add(check);
        check();
      }),
    stop: async () => {
      if (!done) child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exited;
      clearTimeout(t);
      return code;
    },
  };
  return proc;
}

export function tail(p: KubeIpvsProcess, n = 15): string {
  return [...p.logs.slice(-n).map((l) => JSON.stringify(l)), ...p.other.slice(-5)].join('\n');
}

/** True once the first full sync succeeded (the syncer's "Synced" line with no failures). */
export const firstSync = (l: Record<string, any>) => l.msg === 'Synced' && l.failed === 0;

// ---- a client in a loop -----------------------------------------------------------------------------

export interface LoopResult {
  at: number;
  pod?: string;
  error?: string;
}

export interface RequestLoop {
  results: LoopResult[];
  failures(): LoopResult[];
  /** Pods that answered at or after time t. */
  podsSince(t: number): Set<string>;
  stop(): Promise<void>;
}

function httpOnce(host: string, port: number, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => {
        try {
          resolve((JSON.parse(body.split('\n')[0]!) as { pod: string }).pod);
        } catch {
          reject(new Error(`bad reply ${JSON.stringify(body.slice(0, 100))}`));
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** Sequential HTTP requests (a new connection each) to host:port until stopped. */
export function requestLoop(host: string, port: number, opts: { pauseMs?: number; timeoutMs?: number } = {}): RequestLoop {
  const results: LoopResult[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const at = Date.now();
      try {
        results.push({ at, pod: await httpOnce(host, port, opts.timeoutMs ?? 5000) });
      } catch (e) {
        results.push({ at, error: (e as Error).message });
      }
      if (opts.pauseMs) await new Promise((r) => setTimeout(r, opts.pauseMs));
    }
  })();
  return {
    results,
    failures: () => results.filter((r) => r.error),
    podsSince: (t) => new Set(results.filter((r) => r.at >= t && r.pod).map((r) => r.pod!)),
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- objects ----------------------------------------------------------------------------------------

export interface PortSpec {
  name?: string;
  port: number;
  protocol?: 'TCP' | 'UDP' | 'SCTP';
  targetPort?: number;
  nodePort?: number;
}

export function service(name: string, clusterIP: string, ports: PortSpec[], spec: Record<string, unknown> = {}, status?: Record<string, unknown>) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP, clusterIPs: [clusterIP], ports: ports.map((p) => ({ protocol: 'TCP', targetPort: p.port, ...p })), ...spec },
    ...(status ? { status } : {}),
  };
}

export interface EndpointSpec {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

export function endpointSlice(name: string, serviceName: string, endpoints: EndpointSpec[], ports: PortSpec[]) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': serviceName } },
    addressType: 'IPv4',
    endpoints: endpoints.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? NODE,
      conditions: { ready: e.ready ?? true, ...(e.serving !== undefined ? { serving: e.serving } : {}), ...(e.terminating !== undefined ? { terminating: e.terminating } : {}) },
    })),
    ports: ports.map((p) => ({ name: p.name, port: p.targetPort ?? p.port, protocol: p.protocol ?? 'TCP' })),
  };
}

export function nodeObject(addresses: string[]) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: NODE, labels: { 'kubernetes.io/hostname': NODE } },
    spec: { podCIDR: '10.244.0.0/24', podCIDRs: ['10.244.0.0/24'] },
    status: { addresses: addresses.map((a) => ({ type: 'InternalIP', address: a })) },
  };
}

/** GET that returns status and body (health checks answer 503 with a body). */
export function httpStatus(host: string, port: number, path = '/'): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host, port, path, agent: false, timeout: 5000 }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers as Record<string, unknown> }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/**
 * One sample of kube-ipvs's /metrics (127.0.0.1:10249, baseFlags): the line `name{labels} value` whose label
 * text is exactly `labels` (e.g. 'ip_family="IPv4"'); 0 when absent (a counter nobody has touched yet).
 */
export async function metricSample(name: string, labels = ''): Promise<number> {
  const { body } = await httpStatus('127.0.0.1', 10249, '/metrics');
  const want = labels ? `${name}{${labels}} ` : `${name} `;
  const line = body.split('\n').find((l) => l.startsWith(want));
  return line ? Number(line.slice(want.length)) : 0;
}
