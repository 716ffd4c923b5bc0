// The proxy health server (kube-proxy pkg/proxy/healthcheck/proxy_health.go, reference §5.5):
// /healthz and /livez on --healthz-bind-address (default 0.0.0.0:10256).
//
//   queuedUpdate(family)  a change was queued for that family's rules (kube-proxy Sync());
//                         remembers the OLDEST unprocessed queue time
//   updated(family)       a sync of that family succeeded; clears the queue time
//   A family is unhealthy when an update has been queued for healthTimeout (2 x --sync-period) or
//   longer without updated(). Only families that have synced at least once are judged (upstream
//   iterates lastUpdatedMap: a proxier is healthy "while it's starting up").
//   /livez: 200 iff healthy.  /healthz: 200 iff healthy AND the node is eligible (Node known, no
//   deletionTimestamp, no ToBeDeletedByClusterAutoscaler taint), else 503.
//   Body: encoding/json of ProxyHealth (field order and RFC 3339 timestamps as Go prints them);
//   when healthy, lastUpdated is reported as "now" (upstream compatibility note).
//   Counters kubeproxy_proxy_healthz_total{code} / kubeproxy_proxy_livez_total{code}.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ApiNode } from '../model/api.js';
import { nodeEligible } from '../state/node-tracker.js';
import type { NowSource } from '../state/clock.js';
import { systemNow } from '../state/clock.js';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { closeHttp, listenHttp, notFound, parseBindAddress, requestPath } from './health-http.js';

export type IPFamilyName = 'IPv4' | 'IPv6';

export interface ProxierHealth {
  /** ms since the epoch of the family's last successful sync. */
  lastUpdated: number;
  healthy: boolean;
}

export interface ProxyHealth {
  /** Latest lastUpdated over the families (undefined = never: Go's zero time). */
  lastUpdated: number | undefined;
  currentTime: number;
  /** Only in /healthz answers. */
  nodeEligible?: boolean;
  healthy: boolean;
  status: Partial<Record<IPFamilyName, ProxierHealth>>;
}

export interface HealthResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface HealthCounters {
  /** kubeproxy_proxy_healthz_total{code} */
  healthz?: (code: string) => void;
  /** kubeproxy_proxy_livez_total{code} */
  livez?: (code: string) => void;
}

export interface ProxyHealthServerOptions {
  /** --healthz-bind-address; '' = no HTTP server (health is still tracked, e.g. for service health checks). */
  bindAddress: string;
  /** 2 x --sync-period in kube-proxy. */
  healthTimeoutMs: number;
  clock?: NowSource;
  counters?: HealthCounters;
  log?: Logger;
}

/** kube-proxy's settings: --healthz-bind-address and healthTimeout = 2 x --sync-period. */
export function proxyHealthOptionsFromConfig(config: { healthzBindAddress: string; syncPeriodMs: number }): Pick<ProxyHealthServerOptions, 'bindAddress' | 'healthTimeoutMs'> {
  return { bindAddress: config.healthzBindAddress, healthTimeoutMs: 2 * config.syncPeriodMs };
}

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros dropped), in UTC. */
export function formatGoTime(ms: number | undefined): string {
  if (ms === undefined || !Number.isFinite(ms)) return '0001-01-01T00:00:00Z';
  const iso = new Date(ms).toISOString(); // 2025-01-01T00:00:00.120Z
  const [secs, frac] = iso.slice(0, -1).split('.');
  const trimmed = (frac ?? '').replace(/0+$/, '');
  return trimmed === '' ? `${secs}Z` : `${secs}.${trimmed}Z`;
}

/** encoding/json of ProxyHealth: key order as the Go struct; status omitted when empty, map keys sorted. */
export function renderProxyHealth(h: ProxyHealth): string {
  let out = `{"lastUpdated":${JSON.stringify(formatGoTime(h.lastUpdated))},"currentTime":${JSON.stringify(formatGoTime(h.currentTime))}`;
  if (h.nodeEligible !== undefined) out += `,"nodeEligible":${h.nodeEligible}`;
  out += `,"healthy":${h.healthy}`;
  const families = (Object.keys(h.status) as IPFamilyName[]).sort();
  if (families.length) {
    const parts = families.map((f) => {
      const s = h.status[f]!;
      return `${JSON.stringify(f)}:{"lastUpdated":${JSON.stringify(formatGoTime(s.lastUpdated))},"healthy":${s.healthy}}`;
    });
    out += `,"status":{${parts.join(',')}}`;
  }
  return `${out}}`;
}

const JSON_HEADERS = { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' } as const;

export class ProxyHealthServer {
  readonly healthTimeoutMs: number;
  private readonly clock: NowSource;
  private readonly counters: HealthCounters;
  private readonly log: Logger;
  private readonly bindAddress: string;
  private readonly lastUpdatedMap = new Map<IPFamilyName, number>();
  private readonly oldestPendingQueued = new Map<IPFamilyName, number>();
  private node: ApiNode | undefined;
  private server: Server | undefined;

  constructor(options: ProxyHealthServerOptions) {
    this.bindAddress = options.bindAddress;
    this.healthTimeoutMs = options.healthTimeoutMs;
    this.clock = options.clock ?? systemNow;
    this.counters = options.counters ?? {};
    this.log = options.log ?? silentLogger;
  }

  /** A change for this family's rules was queued (call with every Sync() request). */
  queuedUpdate(family: IPFamilyName): void {
    if (!this.oldestPendingQueued.has(family)) this.oldestPendingQueued.set(family, this.clock.now());
  }

  /** This family's rules were synced successfully. */
  updated(family: IPFamilyName): void {
    this.oldestPendingQueued.delete(family);
    this.lastUpdatedMap.set(family, this.clock.now());
  }

  /** This node's Node object (undefined = not known / deleted). */
  syncNode(node: ApiNode | undefined): void {
    this.node = node;
  }

  nodeEligible(): boolean {
    return nodeEligible(this.node);
  }

  /** Proxy health without node eligibility (what /livez and the service health checks use). */
  health(): ProxyHealth {
    const now = this.clock.now();
    const status: ProxyHealth['status'] = {};
    let lastUpdated: number | undefined;
    let healthy = true;
    for (const [family, last] of this.lastUpdatedMap) {
      if (lastUpdated === undefined || last > lastUpdated) lastUpdated = last;
      const queued = this.oldestPendingQueued.get(family);
      const late = queued !== undefined && now - queued >= this.healthTimeoutMs;
      if (late) healthy = false;
      status[family] = { lastUpdated: last, healthy: !late };
    }
    return { lastUpdated, currentTime: now, healthy, status };
  }

  isHealthy(): boolean {
    return this.health().healthy;
  }

  healthzResponse(): HealthResponse {
    const h = this.health();
    const eligible = this.nodeEligible();
    h.nodeEligible = eligible;
    const ok = h.healthy && eligible;
    if (ok) h.lastUpdated = h.currentTime;
    const code = ok ? 200 : 503;
    this.count(this.counters.healthz, code);
    return { status: code, headers: { ...JSON_HEADERS }, body: renderProxyHealth(h) };
  }

  livezResponse(): HealthResponse {
    const h = this.health();
    if (h.healthy) h.lastUpdated = h.currentTime;
    const code = h.healthy ? 200 : 503;
    this.count(this.counters.livez, code);
    return { status: code, headers: { ...JSON_HEADERS }, body: renderProxyHealth(h) };
  }

  /** The request handler (exported for embedding in another server). */
  readonly handle = (req: IncomingMessage, res: ServerResponse): void => {
    const path = requestPath(req.url);
    let r: HealthResponse;
    if (path === '/healthz') r = this.healthzResponse();
    else if (path === '/livez') r = this.livezResponse();
    else return notFound(res);
    res.writeHead(r.status, r.headers);
    res.end(r.body);
  };

  /** Starts the HTTP server. Resolves with the bound address; undefined when bindAddress is ''. Rejects when the bind fails
   *  (kube-proxy logs and retries every 5 s, or exits with --bind-address-hard-fail: the caller decides). */
  async listen(): Promise<AddressInfo | undefined> {
    if (this.server) return this.server.address() as AddressInfo;
    const bind = parseBindAddress(this.bindAddress, 10256);
    if (!bind) {
      if (this.bindAddress.trim() !== '') throw new Error(`invalid healthz bind address ${JSON.stringify(this.bindAddress)}`);
      return undefined;
    }
    const server = createServer(this.handle);
    try {
      const addr = await listenHttp(server, bind);
      this.server = server;
      this.log.debug({ address: this.bindAddress }, 'Starting healthz HTTP server');
      return addr;
    } catch (err) {
      await closeHttp(server);
      throw new Error(`failed to start proxy healthz on ${this.bindAddress}: ${(err as Error).message}`, { cause: err });
    }
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (s) await closeHttp(s);
  }

  private count(fn: ((code: string) => void) | undefined, code: number): void {
    try {
      fn?.(String(code));
    } catch {
      // metrics never break a probe
    }
  }
}
