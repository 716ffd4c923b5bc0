// An embedded Kubernetes API server (plain HTTP on loopback) for tests and the sandbox demo. It speaks the
// real list/watch/write protocol for v1 Services, discovery.k8s.io/v1 EndpointSlices, v1 Nodes and Events
// well enough that @kubernetes/client-node's informers, kubectl-style clients and kube-ipvs run against it
// unchanged. Test controls simulate what breaks informers in production: outages (pause/resume on the same
// port), history compaction (410 Gone), silently dead watches (freeze), hung requests, server-side closes.

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { writeKubeconfigFile } from './kubeconfig.js';
import { apiVersionOf, findResource, RESOURCES, type ResourceType } from './resources.js';
import { parseFieldSelector, parseLabelSelector, type FieldSelector, type LabelSelector } from './selectors.js';
import { ApiError, errors, successStatus, type StatusBody } from './status.js';
import { ObjectStore, type Obj, type PatchType, type StoreOptions } from './store.js';
import { WatchStream, type WatchSpec } from './watch.js';

export interface ApiServerOptions extends StoreOptions {
  /** Address to bind (default 127.0.0.1). */
  host?: string;
  /** BOOKMARK interval for watches that allow bookmarks (the real server: about a minute). */
  bookmarkIntervalMs?: number;
  /** Watch duration when the client sends no timeoutSeconds (the real server: 30-60 min). */
  defaultWatchTimeoutSeconds?: number;
  /**
   * How a watch from a resourceVersion older than the history window is refused: "event" (HTTP 200 and
   * an ERROR event with a 410 Expired Status, as the watch cache does) or "http" (HTTP 410 response).
   */
  expiredWatchResponse?: 'event' | 'http';
  /** How many requests `requestLog` keeps. */
  requestLogSize?: number;
}

export interface RequestRecord {
  method: string;
  path: string;
  query: Record<string, string>;
  status?: number;
}

export interface ApiServerStats {
  requests: number;
  lists: number;
  watches: number;
  activeWatches: number;
  writes: number;
  /** Watches refused with 410 (either way). */
  expired: number;
  bookmarksSent: number;
  eventsSent: number;
}

const MAX_BODY = 16 * 1024 * 1024;

export class EmbeddedApiServer {
  readonly store: ObjectStore;
  private server: Server | undefined;
  private readonly sockets = new Set<Socket>();
  private readonly watches = new Set<WatchStream>();
  private readonly hung = new Set<ServerResponse>();
  private hangWatchRequests = false;
  private boundPort = 0;
  private readonly host: string;
  private bookmarkTimer: NodeJS.Timeout | undefined;
  private readonly log: RequestRecord[] = [];
  private readonly counters = { requests: 0, lists: 0, watches: 0, writes: 0, expired: 0, bookmarksSent: 0, eventsSent: 0 };
  private state: 'new' | 'running' | 'paused' | 'stopped' = 'new';

  constructor(private readonly opts: ApiServerOptions = {}) {
    this.store = new ObjectStore(opts);
    this.host = opts.host ?? '127.0.0.1';
  }

  /** Listen on `port` (0 = any free port). Resolves with the port. */
  async start(port = 0): Promise<number> {
    if (this.state !== 'new') throw new Error(`apiserver: start() in state ${this.state}`);
    this.boundPort = await this.listen(port);
    this.state = 'running';
    this.bookmarkTimer = setInterval(() => this.sendBookmarks(), this.opts.bookmarkIntervalMs ?? 60_000);
    this.bookmarkTimer.unref();
    return this.boundPort;
  }

  get port(): number {
    return this.boundPort;
  }

  /** http://host:port, IPv6 bracketed. */
  get url(): string {
    const h = this.host.includes(':') ? `[${this.host}]` : this.host;
    return `http://${h}:${this.boundPort}`;
  }

  /** Write a kubeconfig for this server (plain http, insecure-skip-tls-verify as client-node needs). */
  writeKubeconfig(path: string, namespace?: string): string {
    if (!this.boundPort) throw new Error('apiserver: writeKubeconfig() before start()');
    writeKubeconfigFile(path, this.url, namespace);
    return path;
  }

  /** Close everything; the server cannot be started again. */
  async stop(): Promise<void> {
    if (this.state === 'stopped') return;
    const wasListening = this.state === 'running';
    this.state = 'stopped';
    if (this.bookmarkTimer) clearInterval(this.bookmarkTimer);
    if (wasListening) await this.closeListener();
  }

  /**
   * Simulate an outage: every open watch and connection is reset and new connections are refused until
   * resume(). The store keeps its objects and history, so clients can resume from their resourceVersion.
   */
  async pause(): Promise<void> {
    if (this.state !== 'running') throw new Error(`apiserver: pause() in state ${this.state}`);
    this.state = 'paused';
    await this.closeListener();
  }

  /** Accept connections again, on the same port. */
  async resume(): Promise<void> {
    if (this.state !== 'paused') throw new Error(`apiserver: resume() in state ${this.state}`);
    await this.listen(this.boundPort);
    this.state = 'running';
  }

  /** Expire the watch history: watches from any older resourceVersion get 410 Gone from now on. */
  compact(): void {
    this.store.compact();
  }

  /** End every open watch cleanly (like a server-side timeout); clients re-watch from their version. */
  closeWatches(): number {
    const all = [...this.watches];
    for (const w of all) w.end();
    return all.length;
  }

  /** Send every open watch an ERROR 410 Expired and end it (what etcd compaction does to slow watchers). */
  expireWatches(): number {
    const all = [...this.watches];
    for (const w of all) w.fail(errors.expired(this.store.resourceVersion, this.store.resourceVersion).status);
    this.counters.expired += all.length;
    return all.length;
  }

  /** Make every open watch go silent with its connection left open (no events, no bookmarks). */
  freezeWatches(): number {
    const all = [...this.watches];
    for (const w of all) w.freeze();
    return all.length;
  }

  /** While on, new watch requests are accepted but never answered (no response headers). */
  setHangWatchRequests(on: boolean): void {
    this.hangWatchRequests = on;
  }

  /** Send a BOOKMARK now to every watch that allows them. */
  sendBookmarks(): void {
    for (const w of this.watches) w.bookmark();
  }

  get stats(): ApiServerStats {
    let bookmarks = this.counters.bookmarksSent;
    let events = this.counters.eventsSent;
    for (const w of this.watches) {
      bookmarks += w.counters.bookmarksSent;
      events += w.counters.eventsSent;
    }
    return { ...this.counters, bookmarksSent: bookmarks, eventsSent: events, activeWatches: this.watches.size };
  }

  /** The most recent requests, oldest first. */
  get requestLog(): readonly RequestRecord[] {
    return this.log;
  }

  /** Open watch streams (for assertions on what clients asked for). */
  get activeWatches(): readonly WatchSpec[] {
    return [...this.watches].map((w) => w.spec);
  }

  // ---- listener lifecycle -------------------------------------------------------------------------

  private listen(port: number): Promise<number> {
    const server = createServer((req, res) => this.handle(req, res));
    server.keepAliveTimeout = 5_000;
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen({ port, host: this.host, exclusive: true }, () => {
        server.off('error', reject);
        this.server = server;
        const addr = server.address();
        resolve(typeof addr === 'object' && addr ? addr.port : port);
      });
    });
  }

  private async closeListener(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const w of [...this.watches]) w.destroy();
    for (const r of this.hung) r.destroy();
    this.hung.clear();
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  // ---- request handling ---------------------------------------------------------------------------

  private record(rec: RequestRecord): void {
    this.log.push(rec);
    const max = this.opts.requestLogSize ?? 1000;
    if (this.log.length > max) this.log.splice(0, this.log.length - max);
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    this.counters.requests++;
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const rec: RequestRecord = { method: req.method ?? 'GET', path: url.pathname, query: Object.fromEntries(url.searchParams) };
    this.record(rec);
    res.on('finish', () => (rec.status = res.statusCode));
    readBody(req)
      .then((body) => this.route(req.method ?? 'GET', url, req.headers['content-type'] ?? '', body, res))
      .catch((e: unknown) => {
        const status = e instanceof ApiError ? e.status : errors.internal(e instanceof Error ? e.message : String(e)).status;
        if (!res.headersSent) sendJson(res, status.code, status);
        else res.destroy();
      });
  }

  private route(method: string, url: URL, contentType: string, body: Buffer, res: ServerResponse): void {
    const path = url.pathname.replace(/\/+$/, '') || '/';
    const discovery = this.discovery(path);
    if (discovery !== undefined) {
      if (method !== 'GET') throw errors.methodNotAllowed();
      if (typeof discovery === 'string') {
        res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8' });
        res.end(discovery);
      } else sendJson(res, 200, discovery);
      return;
    }
    const target = parseResourcePath(path);
    if (!target) throw errors.pathNotFound(path);
    const { resource: r, namespace, name, subresource } = target;
    const q = url.searchParams;
    if (q.get('dryRun')) throw errors.badRequest('dryRun is not supported by the embedded API server');
    const isWatch = target.watch || q.get('watch') === 'true' || q.get('watch') === '1';

    if (method === 'GET' && (isWatch || (!name && !subresource))) {
      if (subresource) throw errors.methodNotAllowed();
      const label = parseSelectorParam(q.get('labelSelector'), parseLabelSelector);
      const field = this.fieldSelectorFor(r, q.get('fieldSelector'), name);
      if (isWatch) return this.watch(r, namespace, label, field, q, res);
      this.counters.lists++;
      const limit = q.get('limit') ? Number(q.get('limit')) : undefined;
      if (limit !== undefined && (!Number.isInteger(limit) || limit < 0)) throw errors.badRequest(`invalid limit: ${q.get('limit')}`);
      checkResourceVersionParam(q.get('resourceVersion'));
      const result = this.store.list(r, {
        namespace,
        labelSelector: label,
        fieldSelector: field,
        limit,
        continueToken: q.get('continue') || undefined,
      });
      const metadata: Obj = { resourceVersion: String(result.resourceVersion) };
      if (result.continueToken) {
        metadata.continue = result.continueToken;
        metadata.remainingItemCount = result.remainingItemCount;
      }
      // Like the real server, list items carry no apiVersion/kind (the list does).
      const items = result.items.map(({ apiVersion: _a, kind: _k, ...rest }) => rest);
      return sendJson(res, 200, { kind: r.listKind, apiVersion: apiVersionOf(r), metadata, items });
    }
    if (subresource && subresource !== 'status') throw errors.pathNotFound(path);
    if (subresource && !r.statusSubresource) throw errors.pathNotFound(path);
    const sub = subresource as 'status' | undefined;
    switch (method) {
      case 'GET':
        return sendJson(res, 200, this.store.get(r, namespace, name!));
      case 'POST': {
        if (name) throw errors.methodNotAllowed();
        if (r.namespaced && namespace === undefined) throw errors.pathNotFound(path);
        this.counters.writes++;
        return sendJson(res, 201, this.store.create(r, namespace, parseJson(body)));
      }
      case 'PUT': {
        if (!name) throw errors.methodNotAllowed();
        this.counters.writes++;
        return sendJson(res, 200, this.store.update(r, namespace, name, parseJson(body), sub));
      }
      case 'PATCH': {
        if (!name) throw errors.methodNotAllowed();
        const type = patchTypeOf(contentType);
        this.counters.writes++;
        return sendJson(res, 200, this.store.patch(r, namespace, name, type, parseJson(body), sub));
      }
      case 'DELETE': {
        if (sub) throw errors.methodNotAllowed();
        const opts = body.length ? (parseJson(body) as Obj) : {};
        this.counters.writes++;
        if (!name) return this.deleteCollection(r, namespace, q, res);
        const deleted = this.store.delete(r, namespace, name, opts?.preconditions);
        return sendJson(res, 200, r.deleteReturnsObject ? deleted : successStatus(r, name, deleted.metadata?.uid));
      }
      default:
        throw errors.methodNotAllowed();
    }
  }

  private deleteCollection(r: ResourceType, namespace: string | undefined, q: URLSearchParams, res: ServerResponse): void {
    const label = parseSelectorParam(q.get('labelSelector'), parseLabelSelector);
    const field = this.fieldSelectorFor(r, q.get('fieldSelector'), undefined);
    const victims = this.store.select(r, { namespace, labelSelector: label, fieldSelector: field });
    const items = victims.map((o) => this.store.delete(r, o.metadata?.namespace, o.metadata.name));
    sendJson(res, 200, { kind: r.listKind, apiVersion: apiVersionOf(r), metadata: { resourceVersion: String(this.store.resourceVersion) }, items });
  }

  private fieldSelectorFor(r: ResourceType, text: string | null, name: string | undefined): FieldSelector | undefined {
    const sel = parseSelectorParam(text, parseFieldSelector) ?? [];
    for (const req of sel) {
      if (req.field !== 'metadata.name' && req.field !== 'metadata.namespace' && !r.fieldLabels.includes(req.field)) {
        throw errors.badRequest(`field label not supported: ${req.field}`);
      }
    }
    // GET .../services/NAME?watch=true (and /watch/.../NAME) watches one object: a name field selector.
    if (name) sel.push({ field: 'metadata.name', op: '=', value: name });
    return sel.length ? sel : undefined;
  }

  private watch(
    r: ResourceType,
    namespace: string | undefined,
    labelSelector: LabelSelector | undefined,
    fieldSelector: FieldSelector | undefined,
    q: URLSearchParams,
    res: ServerResponse,
  ): void {
    this.counters.watches++;
    if (this.hangWatchRequests) {
      this.hung.add(res);
      res.on('close', () => this.hung.delete(res));
      return;
    }
    const rvText = q.get('resourceVersion') ?? '';
    checkResourceVersionParam(rvText);
    const sendInitialEvents = q.get('sendInitialEvents');
    const timeoutText = q.get('timeoutSeconds');
    let timeoutSeconds = this.opts.defaultWatchTimeoutSeconds ?? 1800;
    if (timeoutText !== null) {
      const t = Number(timeoutText);
      if (!Number.isFinite(t) || t < 0) throw errors.badRequest(`invalid timeoutSeconds: ${timeoutText}`);
      if (t > 0) timeoutSeconds = t;
    }
    const bookmarks = q.get('allowWatchBookmarks') === 'true';
    const fromVersion = rvText === '' || rvText === '0' ? undefined : Number(rvText);
    const initialEvents = sendInitialEvents === 'true' || (sendInitialEvents !== 'false' && fromVersion === undefined);
    if (sendInitialEvents === 'true' && q.get('resourceVersionMatch') !== 'NotOlderThan') {
      throw errors.invalid(r, '', 'resourceVersionMatch', 'Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan');
    }
    if (!initialEvents && fromVersion !== undefined && this.opts.expiredWatchResponse === 'http') {
      const replay = this.store.eventsAfter(r, fromVersion);
      if ('expired' in replay) {
        this.counters.expired++;
        throw errors.expired(fromVersion, this.store.oldestWatchableResourceVersion);
      }
    }
    const spec: WatchSpec = {
      resource: r,
      namespace,
      labelSelector,
      fieldSelector,
      bookmarks,
      timeoutMs: timeoutSeconds * 1000,
      initialEvents,
      initialEventsEndBookmark: sendInitialEvents === 'true' && bookmarks,
      fromResourceVersion: initialEvents ? undefined : fromVersion,
    };
    const stream = new WatchStream(res, spec, this.store, (w) => {
      this.watches.delete(w);
      this.counters.bookmarksSent += w.counters.bookmarksSent;
      this.counters.eventsSent += w.counters.eventsSent;
    });
    this.watches.add(stream);
    const failed = stream.start();
    if (failed?.code === 410) this.counters.expired++;
  }

  // ---- discovery ----------------------------------------------------------------------------------

  private discovery(path: string): Obj | string | undefined {
    if (path === '/healthz' || path === '/readyz' || path === '/livez' || /^\/(healthz|readyz|livez)\/[a-z-]+$/.test(path)) return 'ok';
    if (path === '/version') {
      return {
        major: '1',
        minor: '34',
        gitVersion: 'v1.34.0+kube-ipvs-embedded',
        gitCommit: '0000000000000000000000000000000000000000',
        gitTreeState: 'clean',
        buildDate: '2025-01-01T00:00:00Z',
        goVersion: `node${process.versions.node}`,
        compiler: 'node',
        platform: `${process.platform}/${process.arch === 'x64' ? 'amd64' : process.arch}`,
      };
    }
    if (path === '/api') {
      return {
        kind: 'APIVersions',
        versions: ['v1'],
        serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: `${this.host}:${this.boundPort}` }],
      };
    }
    const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => r.group))];
    const groupInfo = (g: string) => ({
      name: g,
      versions: [{ groupVersion: `${g}/v1`, version: 'v1' }],
      preferredVersion: { groupVersion: `${g}/v1`, version: 'v1' },
    });
    if (path === '/apis') return { kind: 'APIGroupList', apiVersion: 'v1', groups: groups.map(groupInfo) };
    const g = /^\/apis\/([^/]+)$/.exec(path);
    if (g && groups.includes(g[1]!)) return { kind: 'APIGroup', apiVersion: 'v1', ...groupInfo(g[1]!) };
    const gv = path === '/api/v1' ? { group: '', version: 'v1' } : /^\/apis\/([^/]+)\/([^/]+)$/.exec(path);
    if (gv) {
      const group = Array.isArray(gv) ? gv[1]! : gv.group;
      const version = Array.isArray(gv) ? gv[2]! : gv.version;
      const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
      if (!rs.length) return undefined;
      const resources: Obj[] = [];
      for (const r of rs) {
        const entry: Obj = { name: r.plural, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs };
        if (r.shortNames.length) entry.shortNames = r.shortNames;
        resources.push(entry);
        if (r.statusSubresource) resources.push({ name: `${r.plural}/status`, singularName: '', namespaced: r.namespaced, kind: r.kind, verbs: ['get', 'patch', 'update'] });
      }
      return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
    }
    return undefined;
  }
}

interface ResourcePath {
  resource: ResourceType;
  namespace?: string;
  name?: string;
  subresource?: string;
  watch: boolean;
}

/** /api/v1/[watch/][namespaces/NS/]PLURAL[/NAME[/SUB]] and /apis/GROUP/VERSION/... */
export function parseResourcePath(path: string): ResourcePath | undefined {
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  let group: string;
  let version: string;
  let rest: string[];
  if (parts[0] === 'api' && parts.length >= 3) {
    group = '';
    version = parts[1]!;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 4) {
    group = parts[1]!;
    version = parts[2]!;
    rest = parts.slice(3);
  } else return undefined;
  let watch = false;
  if (rest[0] === 'watch') {
    watch = true;
    rest = rest.slice(1);
  }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1];
    rest = rest.slice(2);
  }
  if (rest.length < 1 || rest.length > 3) return undefined;
  const resource = findResource(group, version, rest[0]!);
  if (!resource) return undefined;
  if (!resource.namespaced && namespace !== undefined) return undefined;
  if (resource.namespaced && namespace === undefined && rest.length > 1) return undefined;
  return { resource, namespace, name: rest[1], subresource: rest[2], watch };
}

function parseSelectorParam<T>(text: string | null, parse: (t: string) => { ok: true; value: T } | { ok: false; error: string }): T | undefined {
  if (text === null || text === '') return undefined;
  const r = parse(text);
  if (!r.ok) throw errors.badRequest(`unable to parse requirement: ${r.error}`);
  return r.value;
}

function checkResourceVersionParam(rv: string | null): void {
  if (rv && !/^[0-9]+$/.test(rv)) throw errors.badRequest(`Invalid value: "${rv}": invalid resource version`);
}

function patchTypeOf(contentType: string): PatchType {
  const ct = contentType.split(';')[0]!.trim().toLowerCase();
  if (ct === 'application/merge-patch+json') return 'merge';
  if (ct === 'application/strategic-merge-patch+json') return 'strategic';
  if (ct === 'application/json-patch+json') return 'json';
  throw errors.unsupportedMediaType(ct);
}

function parseJson(body: Buffer): unknown {
  if (!body.length) throw errors.badRequest('the request body is empty');
  try {
    return JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw errors.badRequest(`the request body is not valid JSON: ${(e as Error).message}`);
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(errors.badRequest('request body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function sendJson(res: ServerResponse, code: number, body: unknown): void {
  const text = JSON.stringify(body) + '\n';
  res.writeHead(code, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export type { StatusBody };
