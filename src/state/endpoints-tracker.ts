// EndpointSlices by "namespace/sliceName", indexed by their Service ("namespace/<kubernetes.io/service-name>"):
// which Services' endpoints changed since the last sync (kube-proxy's EndpointsChangeTracker).
// A Service is pending while the content of its slices differs from what was synced; a slice that
// moves between Services (label change) makes both pending. Slices of address type FQDN are ignored
// (kube-proxy never reads them and does not count them). Slices without the service-name label are
// tracked and handed over (desired/ reports them) but belong to no Service.

import type { ApiEndpointSlice } from '../model/api.js';
import { LABEL_SERVICE_NAME } from '../model/api.js';
import { systemNow, type NowSource } from './clock.js';
import { GroupIndex } from './key-index.js';
import { ObjectTracker, objectKey, type ObjectChange } from './object-tracker.js';
import type { TrackerOptions, TrackerUpdate } from './service-tracker.js';
import { endpointSliceSignature } from './signature.js';

/** The EndpointSlice annotation the endpoint controllers set to when the change started. */
export const LAST_CHANGE_TRIGGER_TIME = 'endpoints.kubernetes.io/last-change-trigger-time';

/** One Service's endpoint change: its slices as synced and now. */
export interface ServiceEndpointsChange {
  service: string;
  previous: ApiEndpointSlice[];
  current: ApiEndpointSlice[];
  /** A UDP port in the previous or current slices: stale UDP conntrack entries may need clearing. */
  udp: boolean;
  /** last-change-trigger-time values (ms) of the slice updates in this change, for
   *  kubeproxy_network_programming_duration_seconds (observe now - t after the sync). */
  triggerTimes: number[];
}

export interface EndpointsTake {
  /** Services whose endpoints changed, sorted. */
  services: ServiceEndpointsChange[];
  /** Every slice that changed, once (feed these to the desired-state builder), sorted by key. */
  slices: ObjectChange<ApiEndpointSlice>[];
}

export interface EndpointsTrackerOptions extends TrackerOptions<ApiEndpointSlice> {
  /** For trigger times: only changes after the tracker was created are measured (kube-proxy). */
  clock?: NowSource;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** "namespace/service" of the Service a slice belongs to, from its kubernetes.io/service-name label. */
export function sliceServiceKey(slice: ApiEndpointSlice | undefined): string | undefined {
  const meta = slice?.metadata;
  if (!isRecord(meta) || !isRecord(meta.labels)) return undefined;
  const name = meta.labels[LABEL_SERVICE_NAME];
  if (typeof name !== 'string' || name === '') return undefined;
  return `${typeof meta.namespace === 'string' ? meta.namespace : ''}/${name}`;
}

function hasUdpPort(slice: ApiEndpointSlice): boolean {
  return Array.isArray(slice.ports) && slice.ports.some((p) => isRecord(p) && p.protocol === 'UDP');
}

function triggerTimeOf(slice: ApiEndpointSlice): number | undefined {
  const a = slice.metadata?.annotations;
  const v = isRecord(a) ? a[LAST_CHANGE_TRIGGER_TIME] : undefined;
  if (typeof v !== 'string') return undefined;
  const t = Date.parse(v);
  return Number.isFinite(t) ? t : undefined;
}

export class EndpointSliceChangeTracker {
  private readonly slices: ObjectTracker<ApiEndpointSlice>;
  /** Service -> its slices now / as synced. */
  private readonly currentIndex = new GroupIndex();
  private readonly syncedIndex = new GroupIndex();
  private readonly pendingServices = new Set<string>();
  private readonly triggerTimes = new Map<string, number[]>();
  private readonly startTime: number;
  private events = 0;

  constructor(options: EndpointsTrackerOptions = {}) {
    this.slices = new ObjectTracker(options.signature ?? endpointSliceSignature);
    this.startTime = (options.clock ?? systemNow).now();
  }

  /** Add or update (informer `add` / `update`). */
  upsert(slice: ApiEndpointSlice): TrackerUpdate {
    const key = objectKey(slice);
    if (key === undefined || slice.addressType === 'FQDN') return { key, ignored: true, changed: false, pending: this.pendingCount };
    this.events++;
    const before = this.slices.get(key);
    const changed = this.slices.set(key, slice);
    const oldSvc = sliceServiceKey(before);
    const newSvc = sliceServiceKey(slice);
    if (oldSvc !== newSvc) this.currentIndex.remove(oldSvc, key);
    this.currentIndex.add(newSvc, key);
    if (changed && newSvc !== undefined) {
      const t = triggerTimeOf(slice);
      if (t !== undefined && t > this.startTime) {
        const list = this.triggerTimes.get(newSvc) ?? [];
        list.push(t);
        this.triggerTimes.set(newSvc, list);
      }
    }
    this.refreshServices(oldSvc, newSvc);
    return { key, ignored: false, changed, pending: this.pendingCount };
  }

  /** Delete (informer `delete`); accepts the last known object or its "namespace/sliceName". */
  remove(slice: ApiEndpointSlice | string): TrackerUpdate {
    const key = typeof slice === 'string' ? slice : objectKey(slice);
    if (key === undefined || (typeof slice !== 'string' && slice.addressType === 'FQDN' && !this.slices.get(key))) {
      return { key, ignored: true, changed: false, pending: this.pendingCount };
    }
    this.events++;
    const before = this.slices.get(key);
    const changed = this.slices.set(key, undefined);
    const svc = sliceServiceKey(before);
    this.currentIndex.remove(svc, key);
    // kube-proxy: a deletion's trigger time is that of the last update, not of this change; forget them.
    if (changed && svc !== undefined) this.triggerTimes.delete(svc);
    this.refreshServices(svc);
    return { key, ignored: false, changed, pending: this.pendingCount };
  }

  /** Services whose endpoints differ from the last sync (kubeproxy_sync_proxy_rules_endpoint_changes_pending). */
  get pendingCount(): number {
    return this.pendingServices.size;
  }
  /** Every tracked slice event (kubeproxy_sync_proxy_rules_endpoint_changes_total). */
  get totalEvents(): number {
    return this.events;
  }
  pendingKeys(): string[] {
    return [...this.pendingServices].sort();
  }
  isPending(serviceKey: string): boolean {
    return this.pendingServices.has(serviceKey);
  }

  get(sliceKey: string): ApiEndpointSlice | undefined {
    return this.slices.get(sliceKey);
  }
  list(): ApiEndpointSlice[] {
    return this.slices.values();
  }
  /** Current slices of one Service ("namespace/name"), sorted by slice key. */
  slicesFor(serviceKey: string): ApiEndpointSlice[] {
    return this.currentIndex.members(serviceKey).sort().map((k) => this.slices.get(k)!);
  }
  get size(): number {
    return this.slices.size;
  }

  /** The pending changes; they count as synced from now on (undo with requeue()). */
  take(): EndpointsTake {
    const services: ServiceEndpointsChange[] = [];
    for (const svc of this.pendingKeys()) {
      const previous = this.syncedSlicesOf(svc);
      const current = this.slicesFor(svc);
      services.push({
        service: svc,
        previous,
        current,
        udp: previous.some(hasUdpPort) || current.some(hasUdpPort),
        triggerTimes: this.triggerTimes.get(svc) ?? [],
      });
    }
    // Trigger times of changes that cancelled out measure nothing that was programmed.
    this.triggerTimes.clear();
    const keys = this.slices.pending();
    const slices = keys.map((k) => this.slices.change(k));
    for (const k of keys) this.syncedIndex.remove(sliceServiceKey(this.slices.syncedEntry(k)?.obj), k);
    this.slices.commit(keys);
    for (const k of keys) this.syncedIndex.add(sliceServiceKey(this.slices.syncedEntry(k)?.obj), k);
    this.pendingServices.clear();
    return { services, slices };
  }

  /** Puts a take() back after a failed sync, merged with whatever happened since. */
  requeue(taken: EndpointsTake): void {
    const touched = new Set<string>();
    for (const c of taken.slices) {
      const before = sliceServiceKey(this.slices.syncedEntry(c.key)?.obj);
      this.syncedIndex.remove(before, c.key);
      this.slices.restore(c);
      const after = sliceServiceKey(c.previous);
      this.syncedIndex.add(after, c.key);
      if (before !== undefined) touched.add(before);
      if (after !== undefined) touched.add(after);
      const cur = sliceServiceKey(this.slices.get(c.key));
      if (cur !== undefined) touched.add(cur);
    }
    for (const s of taken.services) {
      touched.add(s.service);
      if (s.triggerTimes.length) this.triggerTimes.set(s.service, [...s.triggerTimes, ...(this.triggerTimes.get(s.service) ?? [])]);
    }
    this.refreshServices(...touched);
  }

  private syncedSlicesOf(svc: string): ApiEndpointSlice[] {
    return this.syncedIndex.members(svc).sort().map((k) => this.slices.syncedEntry(k)!.obj);
  }

  private refreshServices(...svcs: (string | undefined)[]): void {
    for (const svc of svcs) {
      if (svc === undefined) continue;
      if (this.serviceDiffers(svc)) this.pendingServices.add(svc);
      else this.pendingServices.delete(svc);
    }
  }

  private serviceDiffers(svc: string): boolean {
    const keys = new Set([...this.currentIndex.members(svc), ...this.syncedIndex.members(svc)]);
    for (const k of keys) {
      const cur = this.slices.entry(k);
      const syn = this.slices.syncedEntry(k);
      const curSig = cur && sliceServiceKey(cur.obj) === svc ? cur.sig : undefined;
      const synSig = syn && sliceServiceKey(syn.obj) === svc ? syn.sig : undefined;
      if (curSig !== synSig) return true;
    }
    return false;
  }
}
