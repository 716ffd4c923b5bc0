// Raw JSON GETs against the API server with client-node's credentials and TLS settings.
// Why not the generated CoreV1Api/DiscoveryV1Api list calls: they return class instances (V1Service with
// `Date` timestamps, fields unknown to the 1.34 model dropped), while watch events are plain JSON.parse
// objects. Listing raw JSON gives list and watch objects the same plain shape (src/model/api.ts).

import * as http from 'node:http';
import * as https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** An HTTP error from the API server, with the fields client-node's ListWatch looks at (statusCode, code). */
export class ApiRequestError extends Error {
  constructor(
    message: string,
    readonly statusCode: number,
    readonly reason?: string,
    readonly body?: unknown,
  ) {
    super(message);
    this.name = 'ApiRequestError';
  }
  /** ListWatch tests `err.code === 410` as well as `err.statusCode`. */
  get code(): number {
    return this.statusCode;
  }
}

export interface GetOptions {
  signal?: AbortSignal;
  /** Socket inactivity limit: a request that receives nothing for this long fails. */
  timeoutMs?: number;
}

export async function getJson(kc: KubeConfig, path: string, query: Record<string, string | undefined>, opts: GetOptions = {}): Promise<unknown> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('no current cluster in the kubeconfig');
  const url = new URL(cluster.server.replace(/\/+$/, '') + path);
  for (const [k, v] of Object.entries(query)) if (v !== undefined && v !== '') url.searchParams.set(k, v);
  // Fills agent (TLS material, proxy), headers (Authorization, Impersonate-User) and basic auth.
  const reqOpts: https.RequestOptions & { headers: Record<string, string | string[]> } = { headers: {} };
  await kc.applyToHTTPSOptions(reqOpts);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = transport.request(
      url,
      {
        method: 'GET',
        agent: reqOpts.agent,
        auth: reqOpts.auth,
        headers: { ...reqOpts.headers, Accept: 'application/json' },
        signal: opts.signal,
        timeout: opts.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = undefined;
          }
          const status = res.statusCode ?? 0;
          if (status !== 200) {
            const s = body as { message?: string; reason?: string } | undefined;
            reject(new ApiRequestError(`GET ${url.pathname}: ${status} ${s?.message ?? http.STATUS_CODES[status] ?? ''}`.trim(), status, s?.reason, body));
          } else if (body === undefined) reject(new Error(`GET ${url.pathname}: response is not JSON`));
          else resolve(body);
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: no response for ${opts.timeoutMs} ms`)));
    req.on('error', reject);
    req.end();
  });
}

export interface ListResponse {
  metadata: { resourceVersion: string };
  items: Record<string, unknown>[];
}

/**
 * A full list, paged with limit/continue (each page is consistent with the first page's resourceVersion).
 * resourceVersion "0" lets the server answer from its watch cache (it then ignores limit); unset is a
 * consistent read from etcd.
 * If a continue token expires mid-way (410), the list starts over without paging, as client-go does.
 */
export async function listAll(
  kc: KubeConfig,
  path: string,
  query: { labelSelector?: string; fieldSelector?: string; resourceVersion?: string },
  opts: GetOptions & { pageSize?: number } = {},
): Promise<ListResponse> {
  const pageSize = opts.pageSize ?? 500;
  const items: Record<string, unknown>[] = [];
  let resourceVersion = '';
  let cont: string | undefined;
  let paged = pageSize > 0;
  for (;;) {
    let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: unknown[] };
    try {
      // A continue token carries the version itself: the server rejects resourceVersion next to it.
      const q = { ...query, limit: paged ? String(pageSize) : undefined, continue: cont, resourceVersion: cont ? undefined : query.resourceVersion };
      page = (await getJson(kc, path, q, opts)) as typeof page;
    } catch (e) {
      if (cont && e instanceof ApiRequestError && e.statusCode === 410) {
        items.length = 0;
        cont = undefined;
        paged = false;
        continue;
      }
      throw e;
    }
    if (!page || typeof page !== 'object' || !Array.isArray(page.items)) throw new Error(`GET ${path}: response is not a list`);
    if (!cont) resourceVersion = page.metadata?.resourceVersion ?? '';
    for (const it of page.items) if (it && typeof it === 'object') items.push(it as Record<string, unknown>);
    cont = page.metadata?.continue || undefined;
    if (!cont) break;
  }
  return { metadata: { resourceVersion }, items };
}
