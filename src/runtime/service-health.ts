// Health check node ports (kube-proxy pkg/proxy/healthcheck/service_health.go, reference §5.5): for
// every LoadBalancer Service with externalTrafficPolicy Local, an HTTP server on its
// spec.healthCheckNodePort that tells the cloud load balancer whether this node has local endpoints.
//
//   syncServices(nsName -> port)   opens servers for new entries, closes removed ones and ones whose
//                                  port changed; a port that fails to bind is logged and skipped (the
//                                  others are unaffected) and tried again on the next syncServices().
//   syncEndpoints(nsName -> count) local ready endpoint counts; Services not in the map get 0.
//   Any path, any method: 200 iff count > 0 and the proxy is healthy (ProxyHealthServer.health(),
//   node eligibility ignored), else 503; headers Content-Type application/json,
//   X-Content-Type-Options nosniff, X-Load-Balancing-Endpoint-Weight <count>; the tab-indented body
//   kube-proxy prints.
//   Listens on each of `addresses` (the --nodeport-addresses node IPs) or, when none, on every address.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { closeHttp, listenHttp } from './health-http.js';

export type NamedCounts = ReadonlyMap<string, number> | Readonly<Record<string, number>>;

export interface ServiceHealthServerOptions {
  /** IPs to listen on; empty or undefined = all addresses (kube-proxy: --nodeport-addresses unset). */
  addresses?: readonly string[];
  /** The proxy's health (ProxyHealthServer.isHealthy); node eligibility does not count here. */
  isProxyHealthy: () => boolean;
  /** For log lines (kube-proxy: "node %s failed to start healthcheck ..."). */
  hostname?: string;
  log?: Logger;
  /** Called when a port cannot be opened (events, metrics). */
  onListenError?: (service: string, port: number, error: unknown) => void;
}

/** The body kube-proxy writes (Go %q for the names, tab indentation, no trailing newline). */
export function serviceHealthBody(nsName: string, count: number, proxyHealthy: boolean): string {
  const slash = nsName.indexOf('/');
  const namespace = slash < 0 ? '' : nsName.slice(0, slash);
  const name = slash < 0 ? nsName : nsName.slice(slash + 1);
  return [
    '{',
    '\t"service": {',
    `\t\t"namespace": ${JSON.stringify(namespace)},`,
    `\t\t"name": ${JSON.stringify(name)}`,
    '\t},',
    `\t"localEndpoints": ${count},`,
    `\t"serviceProxyHealthy": ${proxyHealthy}`,
    '}',
  ].join('\n');
}

interface Instance {
  nsName: string;
  port: number;
  servers: Server[];
  endpoints: number;
  closed: boolean;
}

function entriesOf(m: NamedCounts): [string, number][] {
  return m instanceof Map ? [...m.entries()] : Object.entries(m as Record<string, number>);
}

export class ServiceHealthServer {
  private readonly addresses: readonly (string | undefined)[];
  private readonly isProxyHealthy: () => boolean;
  private readonly log: Logger;
  private readonly hostname: string;
  private readonly onListenError: ServiceHealthServerOptions['onListenError'];
  private readonly services = new Map<string, Instance>();
  /** Serialises syncServices/close: opening ports is async. */
  private chain: Promise<void> = Promise.resolve();

  constructor(options: ServiceHealthServerOptions) {
    const addrs = (options.addresses ?? []).filter((a) => a !== '');
    this.addresses = addrs.length ? addrs : [undefined];
    this.isProxyHealthy = options.isProxyHealthy;
    this.log = options.log ?? silentLogger;
    this.hostname = options.hostname ?? '';
    this.onListenError = options.onListenError;
  }

  /** Makes the given Services' health check ports the open set. Resolves when listeners are open or closed. */
  syncServices(services: NamedCounts): Promise<void> {
    const wanted = new Map(entriesOf(services));
    const run = this.chain.then(() => this.doSyncServices(wanted));
    this.chain = run.catch(() => undefined);
    return run;
  }

  /** Local ready endpoints per Service; Services left out have 0. */
  syncEndpoints(counts: NamedCounts): void {
    const m = new Map(entriesOf(counts));
    for (const [nsName, inst] of this.services) {
      const n = m.get(nsName);
      inst.endpoints = typeof n === 'number' && Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
    }
  }

  /** Open health checks: nsName -> port and bound addresses. */
  listening(): Map<string, { port: number; addresses: AddressInfo[]; endpoints: number }> {
    const out = new Map<string, { port: number; addresses: AddressInfo[]; endpoints: number }>();
    for (const [k, v] of this.services) {
      out.set(k, { port: v.port, addresses: v.servers.map((s) => s.address() as AddressInfo), endpoints: v.endpoints });
    }
    return out;
  }

  async close(): Promise<void> {
    return this.syncServices(new Map());
  }

  private async doSyncServices(wanted: Map<string, number>): Promise<void> {
    for (const [nsName, inst] of [...this.services]) {
      const port = wanted.get(nsName);
      if (port === undefined || port !== inst.port) {
        this.log.debug({ service: nsName, port: inst.port }, 'Closing healthcheck');
        this.services.delete(nsName);
        inst.closed = true;
        await Promise.all(inst.servers.map((s) => closeHttp(s)));
      }
    }
    for (const [nsName, port] of [...wanted].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      if (this.services.has(nsName)) continue;
      if (!Number.isInteger(port) || port < 1 || port > 65535) {
        this.reportError(nsName, port, new Error(`invalid health check node port ${port}`));
        continue;
      }
      this.log.debug({ service: nsName, port }, 'Opening healthcheck');
      const inst: Instance = { nsName, port, servers: [], endpoints: 0, closed: false };
      try {
        for (const host of this.addresses) {
          const server = createServer((req, res) => this.handle(inst, req, res));
          try {
            await listenHttp(server, { host, port });
          } catch (err) {
            await closeHttp(server);
            throw err;
          }
          inst.servers.push(server);
        }
      } catch (err) {
        // Close whatever opened, so a retry or another owner of the port can have it.
        inst.closed = true;
        await Promise.all(inst.servers.map((s) => closeHttp(s)));
        this.reportError(nsName, port, err);
        continue;
      }
      this.services.set(nsName, inst);
    }
  }

  private reportError(nsName: string, port: number, err: unknown): void {
    this.log.error({ err, node: this.hostname, service: nsName, port }, 'Failed to start healthcheck');
    try {
      this.onListenError?.(nsName, port, err);
    } catch {
      // reporting must not stop the other ports
    }
  }

  private handle(inst: Instance, _req: IncomingMessage, res: ServerResponse): void {
    if (inst.closed) {
      // Closed meanwhile (Go: logs "Received request for closed healthcheck" and writes nothing).
      res.end();
      return;
    }
    let healthy = false;
    try {
      healthy = this.isProxyHealthy() === true;
    } catch {
      healthy = false;
    }
    const count = inst.endpoints;
    res.writeHead(count !== 0 && healthy ? 200 : 503, {
      'Content-Type': 'application/json',
      'X-Content-Type-Options': 'nosniff',
      'X-Load-Balancing-Endpoint-Weight': String(count),
    });
    res.end(serviceHealthBody(inst.nsName, count, healthy));
  }
}
