// kube-ipvs's informers on @kubernetes/client-node 1.4.0: Services and EndpointSlices with kube-proxy's
// label selector, and the node's own Node. Each wraps a client-node ListWatch and handles the traps listed
// in shared/reference/dependencies.md §1.3:
//   - ListWatch stops for good after an `error` event: we restart it with backoff (not after our stop()).
//   - ListWatch passes the selectors only to the watch: our list function applies them too.
//   - List objects (generated classes) and watch objects (plain JSON) differ: we list raw JSON (rest.ts),
//     so every object is the plain shape of src/model/api.ts, with apiVersion/kind filled in (the server
//     omits them on list items) and deep-frozen (they are the cache: treat them as immutable).
//   - Memory: ListWatch keeps every object in its own map and so do we (for `old` on updates); both hold the
//     same object, compacted (compact.ts: managedFields, pod references and the like dropped, repeated parts
//     shared) before either map sees it: in place, while ListWatch stores the list item or watch object.
//   - Bookmarks, watch timeouts, a watchdog for silent watches, 410 and "too large resource version"
//     relists, late events after an abort: see watch-adapter.ts.
//   - "Has listed once" is tracked per informer (`synced`): the controller must not delete anything from
//     the kernel before every informer has synced, or an empty cache would flush the node's services.
// client-node is imported lazily (createProxyInformers is async); this module only imports its types.

import type { KubeConfig, KubernetesListObject, KubernetesObject, ListWatch } from '@kubernetes/client-node';
import type { ApiEndpointSlice, ApiNode, ApiService } from '../model/api.js';
import { LABEL_SERVICE_NAME, PROXY_LABEL_SELECTOR } from '../model/api.js';
import { GroupIndex } from '../state/key-index.js';
import { silentLogger, type Logger } from '../util/log.js';
import { Backoff, type BackoffOptions } from './backoff.js';
import { Compactor, compactObject } from './compact.js';
import { TypedEmitter } from './emitter.js';
import { listAll } from './rest.js';
import { ResilientWatch, type WatchCounters } from './watch-adapter.js';

export type ResourceKind = 'Service' | 'EndpointSlice' | 'Node';

/**
 * idle: never started; connecting: listing or (re)starting a watch; connected: watch stream open;
 * disconnected: the last attempt failed, a restart is scheduled; stopped: stop() was called.
 */
export type ConnectionState = 'idle' | 'connecting' | 'connected' | 'disconnected' | 'stopped';

export interface InformerCounters extends WatchCounters {
  /** Every list (the initial one included). */
  lists: number;
  /** Lists after the first (410 Gone, too large resourceVersion, restarts without a resourceVersion). */
  relists: number;
  listErrors: number;
  /** Restarts after ListWatch reported an error and stopped. */
  restarts: number;
}

export interface ListedInfo {
  initial: boolean;
  count: number;
  resourceVersion: string;
}

export interface InformerEvents<T> {
  add: [obj: T];
  /** `old` is the previous cached object (undefined only if the cache lost track of it). */
  update: [obj: T, old: T | undefined];
  /** The object's last known state. */
  delete: [obj: T];
  /** The first list has been processed (its add events were emitted before this). Emitted once. */
  synced: [];
  /** A list (first or relist) has been processed: its adds/updates/deletes were emitted before this. */
  listed: [info: ListedInfo];
  connection: [state: ConnectionState, error?: unknown];
}

export interface ResourceInformer<T> {
  readonly kind: ResourceKind;
  readonly path: string;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  /** True once the first list has been processed (stays true across relists and restarts). */
  readonly synced: boolean;
  readonly connection: ConnectionState;
  readonly lastError: unknown;
  readonly counters: Readonly<InformerCounters>;
  resourceVersion(): string;
  list(): T[];
  get(name: string, namespace?: string): T | undefined;
  on<K extends keyof InformerEvents<T>>(event: K, fn: (...args: InformerEvents<T>[K]) => void): () => void;
  start(): void;
  stop(): Promise<void>;
}

export interface EndpointSliceInformer extends ResourceInformer<ApiEndpointSlice> {
  /** The slices of one Service (by the kubernetes.io/service-name label). */
  slicesFor(namespace: string, serviceName: string): ApiEndpointSlice[];
}

export interface InformerTiming {
  /** timeoutSeconds asked of the server for each watch (default 300). */
  watchTimeoutSeconds?: number;
  /** Replace a watch that received nothing (no event, no bookmark) for this long (default 150 s). */
  watchdogMs?: number;
  /** Restart backoff after an error (default 500 ms doubling to 30 s, 20 % jitter). */
  restartBackoff?: BackoffOptions;
  /** Delay before re-watching after a watch that delivered nothing (default 1 s doubling to 30 s). */
  emptyWatchBackoff?: BackoffOptions;
  /** Inactivity limit of a list request (default 60 s). */
  listTimeoutMs?: number;
  /** limit= page size for lists; 0 disables paging (default 500). */
  listPageSize?: number;
  /** resourceVersion of the first list: "0" = from the watch cache (default), "" = consistent read. */
  initialListResourceVersion?: string;
}

export interface ResourceInformerSpec {
  kind: ResourceKind;
  apiVersion: string;
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
}

type ClientNode = typeof import('@kubernetes/client-node');
type Plain = KubernetesObject & Record<string, any>;

function keyOf(o: Plain): string {
  return `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object' && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o as Record<string, unknown>)) deepFreeze(v);
  }
  return o;
}

class ResourceInformerImpl<T extends Plain> implements ResourceInformer<T> {
  readonly kind: ResourceKind;
  readonly path: string;
  readonly labelSelector: string | undefined;
  readonly fieldSelector: string | undefined;
  readonly counters: InformerCounters = {
    lists: 0,
    relists: 0,
    listErrors: 0,
    restarts: 0,
    watchesStarted: 0,
    watchErrors: 0,
    expired: 0,
    watchdogResets: 0,
    events: 0,
    bookmarks: 0,
  };
  protected readonly emitter: TypedEmitter<InformerEvents<T>>;
  protected readonly cache = new Map<string, T>();
  private readonly lw: ListWatch<T>;
  private readonly restartBackoff: Backoff;
  private stopped = true;
  private everListed = false;
  private isSynced = false;
  private state: ConnectionState = 'idle';
  private error: unknown;
  private restartTimer: NodeJS.Timeout | undefined;
  private listAbort: AbortController | undefined;
  /** Set by a successful list, consumed when ListWatch starts the watch that follows it. */
  private pendingListed: ListedInfo | undefined;

  constructor(
    cn: ClientNode,
    private readonly kc: KubeConfig,
    private readonly spec: ResourceInformerSpec,
    private readonly timing: InformerTiming,
    protected readonly log: Logger,
    private readonly compactor: Compactor = new Compactor(),
  ) {
    this.kind = spec.kind;
    this.path = spec.path;
    this.labelSelector = spec.labelSelector;
    this.fieldSelector = spec.fieldSelector;
    this.emitter = new TypedEmitter((event, err) => this.log.error({ err, kind: this.kind, event }, 'informer listener threw'));
    this.restartBackoff = new Backoff(timing.restartBackoff ?? { initialMs: 500, maxMs: 30_000, jitter: 0.2 });
    const watch = new ResilientWatch(
      cn.Watch,
      kc,
      {
        isStopped: () => this.stopped,
        beforeWatch: () => this.onBeforeWatch(),
        onConnected: () => {
          this.restartBackoff.reset();
          this.setState('connected');
        },
        counters: this.counters,
      },
      {
        timeoutSeconds: timing.watchTimeoutSeconds ?? 300,
        watchdogMs: timing.watchdogMs ?? 150_000,
        emptyWatchBackoff: timing.emptyWatchBackoff ?? { initialMs: 1000, maxMs: 30_000, jitter: 0.2 },
      },
    );
    // The adapter implements Watch's one method; ListWatch uses nothing else.
    this.lw = new cn.ListWatch<T>(
      spec.path,
      watch as unknown as InstanceType<ClientNode['Watch']>,
      () => this.listFn(),
      false,
      spec.labelSelector,
      spec.fieldSelector,
    );
    this.lw.on('connect', () => {
      if (!this.stopped) this.setState('connecting');
    });
    this.lw.on('add', (o) => this.onAdd(o));
    this.lw.on('update', (o) => this.onUpdate(o));
    this.lw.on('delete', (o) => this.onDelete(o));
    this.lw.on('error', (err) => this.onError(err));
  }

  get synced(): boolean {
    return this.isSynced;
  }
  get connection(): ConnectionState {
    return this.state;
  }
  get lastError(): unknown {
    return this.error;
  }

  resourceVersion(): string {
    return this.lw.latestResourceVersion();
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  get(name: string, namespace?: string): T | undefined {
    return this.cache.get(`${namespace ?? ''}/${name}`);
  }

  on<K extends keyof InformerEvents<T>>(event: K, fn: (...args: InformerEvents<T>[K]) => void): () => void {
    return this.emitter.on(event, fn);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.setState('connecting');
    void this.lw.start();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    this.listAbort?.abort();
    await this.lw.stop();
    this.setState('stopped');
  }

  private async listFn(): Promise<KubernetesListObject<T>> {
    this.counters.lists++;
    if (this.everListed) this.counters.relists++;
    const abort = new AbortController();
    this.listAbort = abort;
    try {
      // The first list may come from the API server's watch cache (resourceVersion=0), as client-go's
      // reflector does: a DaemonSet rollout on thousands of nodes must not read etcd thousands of times.
      // Relists (after 410, or a restart without a version) are consistent reads, never older than before.
      const resourceVersion = this.everListed ? undefined : this.timing.initialListResourceVersion ?? '0';
      const res = await listAll(
        this.kc,
        this.spec.path,
        { labelSelector: this.spec.labelSelector, fieldSelector: this.spec.fieldSelector, resourceVersion },
        { signal: abort.signal, timeoutMs: this.timing.listTimeoutMs ?? 60_000, pageSize: this.timing.listPageSize ?? 500 },
      );
      // ListWatch goes on to process the list even if stopped meanwhile; make it fail instead.
      if (this.stopped || abort.signal.aborted) throw new AbandonedListError();
      for (const it of res.items) this.normalise(it as T);
      this.everListed = true;
      this.restartBackoff.reset();
      this.pendingListed = { initial: !this.isSynced, count: res.items.length, resourceVersion: res.metadata.resourceVersion };
      return res as unknown as KubernetesListObject<T>;
    } catch (e) {
      // A list abandoned by stop() must not be reported: after a quick stop()+start() its error would
      // otherwise schedule a restart next to the new run.
      if (abort.signal.aborted) throw new AbandonedListError();
      if (!this.stopped) this.counters.listErrors++;
      throw e;
    } finally {
      if (this.listAbort === abort) this.listAbort = undefined;
    }
  }

  /** ListWatch calls watch() synchronously right after applying a list: the list's events are out. */
  private onBeforeWatch(): void {
    const listed = this.pendingListed;
    if (!listed) return;
    this.pendingListed = undefined;
    const first = !this.isSynced;
    this.isSynced = true;
    this.emitter.emit('listed', listed);
    if (first) this.emitter.emit('synced');
  }

  private normalise(o: T): T {
    // Already ours: a list item seen again in its add event, or a cached object ListWatch reports deleted.
    if (Object.isFrozen(o)) return o;
    if (!o.metadata || typeof o.metadata !== 'object') (o as Plain).metadata = {};
    // Items of a list response carry no apiVersion/kind; watch objects do.
    if (!o.apiVersion) (o as Plain).apiVersion = this.spec.apiVersion;
    if (!o.kind) (o as Plain).kind = this.spec.kind;
    return deepFreeze(compactObject(this.spec.kind, o, this.compactor));
  }

  protected onAdd(raw: T): void {
    if (this.stopped) return;
    const o = this.normalise(raw);
    const k = keyOf(o);
    const old = this.cache.get(k);
    this.cache.set(k, o);
    this.indexChanged(o, old);
    // ListWatch reports "add" for an object its relist finds that it did not have.
    if (old) this.emitter.emit('update', o, old);
    else this.emitter.emit('add', o);
  }

  protected onUpdate(raw: T): void {
    if (this.stopped) return;
    const o = this.normalise(raw);
    const k = keyOf(o);
    const old = this.cache.get(k);
    this.cache.set(k, o);
    this.indexChanged(o, old);
    this.emitter.emit('update', o, old);
  }

  protected onDelete(raw: T): void {
    if (this.stopped) return;
    const o = this.normalise(raw);
    const k = keyOf(o);
    const old = this.cache.get(k);
    this.cache.delete(k);
    this.indexChanged(undefined, old ?? o);
    this.emitter.emit('delete', o);
  }

  /** Hook for secondary indexes. */
  protected indexChanged(_now: T | undefined, _before: T | undefined): void {}

  private onError(err: unknown): void {
    // stop() aborts the watch, and 1.4.0 reports that abort as an `error`: not a reason to restart.
    if (this.stopped || err instanceof AbandonedListError) return;
    this.error = err;
    this.setState('disconnected', err);
    if (this.restartTimer) return;
    const delay = this.restartBackoff.next();
    this.log.warn({ kind: this.kind, err: errorText(err), retryInMs: delay }, 'informer failed; restarting');
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (this.stopped) return;
      this.counters.restarts++;
      this.setState('connecting');
      // start() re-watches from the last resourceVersion, or relists when there is none.
      void this.lw.start();
    }, delay);
  }

  private setState(state: ConnectionState, err?: unknown): void {
    if (this.state === state) return;
    this.state = state;
    this.log.debug({ kind: this.kind, state }, 'informer connection');
    this.emitter.emit('connection', state, err);
  }
}

class EndpointSliceInformerImpl extends ResourceInformerImpl<ApiEndpointSlice & Plain> implements EndpointSliceInformer {
  /** "ns/service" -> keys of its slices (one string per Service in the common one-slice case). */
  private readonly byService = new GroupIndex();

  slicesFor(namespace: string, serviceName: string): ApiEndpointSlice[] {
    const out: ApiEndpointSlice[] = [];
    for (const k of this.byService.members(`${namespace}/${serviceName}`)) {
      const s = this.cache.get(k);
      if (s) out.push(s);
    }
    return out;
  }

  protected override indexChanged(now: (ApiEndpointSlice & Plain) | undefined, before: (ApiEndpointSlice & Plain) | undefined): void {
    const svcKey = (s: ApiEndpointSlice | undefined) => {
      const svc = s?.metadata?.labels?.[LABEL_SERVICE_NAME];
      return svc ? `${s!.metadata!.namespace ?? ''}/${svc}` : undefined;
    };
    const b = svcKey(before);
    const n = svcKey(now);
    const key = keyOf((now ?? before)!);
    if (b && b !== n) this.byService.remove(b, key);
    if (n) this.byService.add(n, key);
  }
}

/** The list of a run that stop() ended: ListWatch reports it as an error, the informer ignores it. */
class AbandonedListError extends Error {
  constructor() {
    super('list abandoned: informer stopped');
    this.name = 'AbandonedListError';
  }
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.message;
  return String(err);
}

// ---- the three informers kube-ipvs runs -----------------------------------------------------------

export type InformerEvent =
  | { kind: 'Service'; type: 'add' | 'delete'; object: ApiService }
  | { kind: 'Service'; type: 'update'; object: ApiService; old: ApiService | undefined }
  | { kind: 'EndpointSlice'; type: 'add' | 'delete'; object: ApiEndpointSlice }
  | { kind: 'EndpointSlice'; type: 'update'; object: ApiEndpointSlice; old: ApiEndpointSlice | undefined }
  | { kind: 'Node'; type: 'add' | 'delete'; object: ApiNode }
  | { kind: 'Node'; type: 'update'; object: ApiNode; old: ApiNode | undefined }
  | { kind: ResourceKind; type: 'synced' }
  | { kind: ResourceKind; type: 'listed'; info: ListedInfo }
  | { kind: ResourceKind; type: 'connection'; state: ConnectionState; error?: unknown };

export interface ProxyInformers {
  readonly services: ResourceInformer<ApiService>;
  readonly endpointSlices: EndpointSliceInformer;
  readonly node: ResourceInformer<ApiNode>;
  readonly nodeName: string;
  /** Start all three (idempotent). */
  start(): void;
  /** Stop all three; no restart follows. */
  stop(): Promise<void>;
  /** True once every informer has listed once: only then may anything be pruned from the kernel. */
  hasSynced(): boolean;
  /** Resolves when hasSynced(); rejects if the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<void>;
  /** Every event of all three informers as one typed stream. */
  onEvent(fn: (e: InformerEvent) => void): () => void;
  counters(): Record<ResourceKind, InformerCounters>;
  /** This node's Node object, once seen. */
  currentNode(): ApiNode | undefined;
}

export interface ProxyInformersOptions extends InformerTiming {
  kubeConfig: KubeConfig;
  /** The node kube-ipvs runs on (--hostname-override or the host name). */
  nodeName: string;
  /** Selector for Services and EndpointSlices (default kube-proxy's PROXY_LABEL_SELECTOR). */
  labelSelector?: string;
  logger?: Logger;
}

export const SERVICES_PATH = '/api/v1/services';
export const ENDPOINT_SLICES_PATH = '/apis/discovery.k8s.io/v1/endpointslices';
export const NODES_PATH = '/api/v1/nodes';

/** One informer for any path (tests, other kinds); createProxyInformers builds kube-ipvs's three. */
export async function createResourceInformer<T extends object>(
  kc: KubeConfig,
  spec: ResourceInformerSpec,
  timing: InformerTiming = {},
  logger: Logger = silentLogger,
): Promise<ResourceInformer<T>> {
  const cn = await import('@kubernetes/client-node');
  return new ResourceInformerImpl<T & Plain>(cn, kc, spec, timing, logger) as unknown as ResourceInformer<T>;
}

export async function createProxyInformers(opts: ProxyInformersOptions): Promise<ProxyInformers> {
  if (!opts.nodeName) throw new Error('createProxyInformers: nodeName is required');
  const cn = await import('@kubernetes/client-node');
  const log = (opts.logger ?? silentLogger).child({ component: 'informers' });
  const selector = opts.labelSelector ?? PROXY_LABEL_SELECTOR;
  // One table of shared strings and parts for all three (namespaces and node names repeat across kinds).
  const compactor = new Compactor();
  const services = new ResourceInformerImpl<ApiService & Plain>(
    cn,
    opts.kubeConfig,
    { kind: 'Service', apiVersion: 'v1', path: SERVICES_PATH, labelSelector: selector },
    opts,
    log,
    compactor,
  );
  const endpointSlices = new EndpointSliceInformerImpl(
    cn,
    opts.kubeConfig,
    { kind: 'EndpointSlice', apiVersion: 'discovery.k8s.io/v1', path: ENDPOINT_SLICES_PATH, labelSelector: selector },
    opts,
    log,
    compactor,
  );
  const node = new ResourceInformerImpl<ApiNode & Plain>(
    cn,
    opts.kubeConfig,
    { kind: 'Node', apiVersion: 'v1', path: NODES_PATH, fieldSelector: `metadata.name=${opts.nodeName}` },
    opts,
    log,
    compactor,
  );
  const all = [services, endpointSlices, node] as ResourceInformerImpl<Plain>[];
  const hasSynced = () => all.every((i) => i.synced);

  return {
    services,
    endpointSlices,
    node,
    nodeName: opts.nodeName,
    start: () => all.forEach((i) => i.start()),
    stop: async () => {
      await Promise.all(all.map((i) => i.stop()));
    },
    hasSynced,
    waitForSync: (signal?: AbortSignal) =>
      new Promise<void>((resolve, reject) => {
        if (hasSynced()) return resolve();
        if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
        const offs = all.map((i) =>
          i.on('synced', () => {
            if (!hasSynced()) return;
            offs.forEach((off) => off());
            signal?.removeEventListener('abort', onAbort);
            resolve();
          }),
        );
        const onAbort = () => {
          offs.forEach((off) => off());
          reject(signal!.reason ?? new Error('aborted'));
        };
        signal?.addEventListener('abort', onAbort, { once: true });
      }),
    onEvent: (fn) => {
      const offs: (() => void)[] = [];
      for (const inf of all) {
        const kind = inf.kind;
        offs.push(
          inf.on('add', (object) => fn({ kind, type: 'add', object } as InformerEvent)),
          inf.on('update', (object, old) => fn({ kind, type: 'update', object, old } as InformerEvent)),
          inf.on('delete', (object) => fn({ kind, type: 'delete', object } as InformerEvent)),
          inf.on('synced', () => fn({ kind, type: 'synced' })),
          inf.on('listed', (info) => fn({ kind, type: 'listed', info })),
          inf.on('connection', (state, error) => fn({ kind, type: 'connection', state, error })),
        );
      }
      return () => offs.forEach((off) => off());
    },
    counters: () => ({ Service: { ...services.counters }, EndpointSlice: { ...endpointSlices.counters }, Node: { ...node.counters } }),
    currentNode: () => node.get(opts.nodeName),
  };
}
