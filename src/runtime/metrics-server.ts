// The metrics HTTP server on --metrics-bind-address (default 127.0.0.1:10249; '' disables it), with
// kube-proxy's paths (cmd/kube-proxy/app/server.go serveMetrics):
//   /metrics    Prometheus text format of the registry
//   /healthz    "ok" (component-base healthz.InstallHandler)
//   /proxyMode  "ipvs"
//   /configz    {"kubeproxy.config.k8s.io": <config>} when a config provider is given

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import type { Logger } from '../util/log.js';
import { silentLogger } from '../util/log.js';
import { closeHttp, listenHttp, notFound, parseBindAddress, requestPath } from './health-http.js';

export interface MetricsServerOptions {
  /** --metrics-bind-address; '' = disabled. A bare IP gets port 10249. */
  bindAddress: string;
  registry: Registry;
  /** Body of /proxyMode (default "ipvs"). */
  proxyMode?: string;
  /** The running configuration for /configz (omitted: 404). */
  configz?: () => unknown;
  /** Called after each /metrics body is rendered (ProxyMetrics.releaseScrapeState: drop per-scrape series). */
  afterScrape?: () => void;
  log?: Logger;
}

export interface MetricsServer {
  readonly address: AddressInfo;
  close(): Promise<void>;
}

const TEXT = { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' } as const;

export function metricsHandler(options: Pick<MetricsServerOptions, 'registry' | 'proxyMode' | 'configz' | 'afterScrape' | 'log'>) {
  const log = options.log ?? silentLogger;
  return (req: IncomingMessage, res: ServerResponse): void => {
    const path = requestPath(req.url);
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((body) => {
          options.afterScrape?.();
          res.writeHead(200, { 'Content-Type': options.registry.contentType });
          res.end(body);
        })
        .catch((err: unknown) => {
          log.error({ err }, 'collecting metrics failed');
          res.writeHead(500, TEXT);
          res.end(`error collecting metrics: ${(err as Error)?.message ?? String(err)}\n`);
        });
      return;
    }
    if (path === '/healthz') {
      res.writeHead(200, TEXT);
      res.end('ok');
      return;
    }
    if (path === '/proxyMode') {
      res.writeHead(200, TEXT);
      res.end(options.proxyMode ?? 'ipvs');
      return;
    }
    if (path === '/configz' && options.configz) {
      let body: string;
      try {
        body = JSON.stringify({ 'kubeproxy.config.k8s.io': options.configz() });
      } catch (err) {
        res.writeHead(500, TEXT);
        res.end(`${(err as Error)?.message ?? String(err)}\n`);
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(body);
      return;
    }
    notFound(res);
  };
}

/** Starts the server; undefined when bindAddress is '' (disabled). Rejects when the bind fails or the address is invalid. */
export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer | undefined> {
  if (options.bindAddress.trim() === '') return undefined;
  const bind = parseBindAddress(options.bindAddress, 10249);
  if (!bind) throw new Error(`invalid metrics bind address ${JSON.stringify(options.bindAddress)}`);
  const server: Server = createServer(metricsHandler(options));
  let address: AddressInfo;
  try {
    address = await listenHttp(server, bind);
  } catch (err) {
    await closeHttp(server);
    throw new Error(`failed to start metrics server on ${options.bindAddress}: ${(err as Error).message}`, { cause: err });
  }
  (options.log ?? silentLogger).debug({ address: options.bindAddress }, 'Starting metrics server');
  return { address, close: () => closeHttp(server) };
}
