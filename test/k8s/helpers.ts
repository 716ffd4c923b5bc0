// Shared helpers for the k8s tests: an embedded API server on loopback, raw HTTP and watch clients,
// object builders, and event-driven waiting (with generous limits: waiting is not asserting on time).

import * as http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EmbeddedApiServer, type ApiServerOptions } from '../../src/k8s/apiserver/index.js';

export async function startServer(opts: ApiServerOptions = {}): Promise<{ server: EmbeddedApiServer; kubeconfig: string; cleanup: () => Promise<void> }> {
  const server = new EmbeddedApiServer({ bookmarkIntervalMs: 200, ...opts });
  await server.start(0);
  const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-k8s-'));
  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  return {
    server,
    kubeconfig,
    cleanup: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult {
  status: number;
  body: any;
  headers: http.IncomingHttpHeaders;
}

export function request(server: EmbeddedApiServer, method: string, path: string, body?: unknown, contentType = 'application/json'): Promise<HttpResult> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const req = http.request(
      server.url + path,
      { method, headers: payload !== undefined ? { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(payload) } : {} },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            /* plain text */
          }
          resolve({ status: res.statusCode ?? 0, body: parsed, headers: res.headers });
        });
      },
    );
    req.on('error', reject);
    if (payload !== undefined) req.write(payload);
    req.end();
  });
}

export interface WatchEvent {
  type: string;
  object: any;
}

/** A raw watch stream: collects events; `next` waits for the next event matching a predicate. */
export class RawWatch {
  readonly events: WatchEvent[] = [];
  status = 0;
  ended = false;
  private waiters: (() => void)[] = [];
  private consumed = 0;
  private req: http.ClientRequest;
  readonly ready: Promise<void>;

  constructor(server: EmbeddedApiServer, path: string) {
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.req = http.get(server.url + path, (res) => {
      this.status = res.statusCode ?? 0;
      onReady();
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim()) this.events.push(JSON.parse(line));
        }
        this.wake();
      });
      const end = () => {
        this.ended = true;
        this.wake();
      };
      res.on('end', end);
      res.on('close', end);
      res.on('error', end);
    });
    this.req.on('error', (e) => {
      this.ended = true;
      onFail(e);
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    w.forEach((f) => f());
  }

  /** The next not-yet-consumed event (optionally skipping ones that do not match). */
  async next(match: (e: WatchEvent) => boolean = () => true, timeoutMs = 5000): Promise<WatchEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      while (this.consumed < this.events.length) {
        const e = this.events[this.consumed++]!;
        if (match(e)) return e;
      }
      if (this.ended) throw new Error(`watch ended; events: ${JSON.stringify(this.events.map((e) => e.type))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no matching watch event within ${timeoutMs} ms; got ${JSON.stringify(this.events.map((e) => e.type))}`);
      await new Promise<void>((res) => {
        const t = setTimeout(res, left);
        this.waiters.push(() => {
          clearTimeout(t);
          res();
        });
      });
    }
  }

  /** Resolves when the server ends the stream. */
  async end(timeoutMs = 5000): Promise<void> {
    await waitFor(() => this.ended, timeoutMs, 'watch stream end');
  }

  close(): void {
    this.req.destroy();
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

// ---- object builders -------------------------------------------------------------------------------

export function service(name: string, opts: { namespace?: string; labels?: Record<string, string>; clusterIP?: string; type?: string; ports?: any[] } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: opts.namespace ?? 'default', ...(opts.labels ? { labels: opts.labels } : {}) },
    spec: {
      ...(opts.type ? { type: opts.type } : {}),
      ...(opts.clusterIP ? { clusterIP: opts.clusterIP } : {}),
      ports: opts.ports ?? [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }],
    },
  };
}

export function endpointSlice(name: string, serviceName: string, addresses: string[], opts: { namespace?: string; labels?: Record<string, string> } = {}) {
  return {
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name, namespace: opts.namespace ?? 'default', labels: { 'kubernetes.io/service-name': serviceName, ...(opts.labels ?? {}) } },
    addressType: 'IPv4',
    endpoints: addresses.map((a) => ({ addresses: [a], conditions: { ready: true } })),
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  };
}

export function node(name: string, labels: Record<string, string> = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, labels },
    spec: { podCIDR: '10.244.0.0/24' },
    status: { addresses: [{ type: 'InternalIP', address: '192.168.0.10' }] },
  };
}

export const HEADLESS = 'service.kubernetes.io/headless';
export const PROXY_NAME = 'service.kubernetes.io/service-proxy-name';
