// Services by "namespace/name": what changed since the last sync (kube-proxy's ServiceChangeTracker).
// Feed it every informer event; take() hands the changed Services to a sync and marks them synced.

import type { ApiService } from '../model/api.js';
import { ObjectTracker, objectKey, type ObjectChange } from './object-tracker.js';
import { serviceSignature } from './signature.js';

export interface TrackerUpdate {
  /** "namespace/name"; undefined when the object had no usable name (ignored). */
  key: string | undefined;
  /** The event was not tracked (no name; for slices also FQDN address type). */
  ignored: boolean;
  /** This event changed the object's content (compared with the previous event, not with the sync). */
  changed: boolean;
  /** Keys with changes waiting for a sync after this event. kube-proxy calls Sync() when this is > 0. */
  pending: number;
}

export interface TrackerOptions<T> {
  /** Content that matters; default serviceSignature / endpointSliceSignature. */
  signature?: (obj: T) => string;
}

export class ServiceChangeTracker {
  private readonly objects: ObjectTracker<ApiService>;
  private events = 0;

  constructor(options: TrackerOptions<ApiService> = {}) {
    this.objects = new ObjectTracker(options.signature ?? serviceSignature);
  }

  /** Add or update (informer `add` / `update`). */
  upsert(svc: ApiService): TrackerUpdate {
    return this.record(objectKey(svc), svc);
  }

  /** Delete (informer `delete`); accepts the last known object or its "namespace/name". */
  remove(svc: ApiService | string): TrackerUpdate {
    return this.record(typeof svc === 'string' ? svc : objectKey(svc), undefined);
  }

  /** kube-proxy's Update(previous, current): current undefined = deleted. */
  update(previous: ApiService | undefined, current: ApiService | undefined): TrackerUpdate {
    if (current) return this.upsert(current);
    if (previous) return this.remove(previous);
    return { key: undefined, ignored: true, changed: false, pending: this.pendingCount };
  }

  private record(key: string | undefined, obj: ApiService | undefined): TrackerUpdate {
    if (key === undefined) return { key, ignored: true, changed: false, pending: this.pendingCount };
    this.events++;
    const changed = this.objects.set(key, obj);
    return { key, ignored: false, changed, pending: this.pendingCount };
  }

  /** Services whose content differs from the last sync (kubeproxy_sync_proxy_rules_service_changes_pending). */
  get pendingCount(): number {
    return this.objects.pendingCount;
  }
  /** Every tracked event, changes or not (kubeproxy_sync_proxy_rules_service_changes_total). */
  get totalEvents(): number {
    return this.events;
  }
  pendingKeys(): string[] {
    return this.objects.pending();
  }
  isPending(key: string): boolean {
    return this.objects.isPending(key);
  }

  get(key: string): ApiService | undefined {
    return this.objects.get(key);
  }
  list(): ApiService[] {
    return this.objects.values();
  }
  get size(): number {
    return this.objects.size;
  }

  /** The pending changes, sorted by key; they count as synced from now on (undo with requeue()). */
  take(): ObjectChange<ApiService>[] {
    const keys = this.objects.pending();
    const out = keys.map((k) => this.objects.change(k));
    this.objects.commit(keys);
    return out;
  }

  /** Puts changes from take() back after a failed sync, merged with whatever happened since. */
  requeue(changes: readonly ObjectChange<ApiService>[]): void {
    for (const c of changes) this.objects.restore(c);
  }
}
