// The three trackers behind one object: what the informer handlers feed, and what one sync takes.

import type { ApiEndpointSlice, ApiService } from '../model/api.js';
import { systemNow, type NowSource } from './clock.js';
import { EndpointSliceChangeTracker, type EndpointsTake } from './endpoints-tracker.js';
import { NodeTracker } from './node-tracker.js';
import type { ObjectChange } from './object-tracker.js';
import { ServiceChangeTracker } from './service-tracker.js';
import { endpointSliceSignature, serviceSignature } from './signature.js';

/** What one sync has to apply. */
export interface SyncBatch {
  /** The node changed in a way that recomputes every Service (labels, addresses, podCIDRs). */
  full: boolean;
  /** "namespace/name" of every Service whose object or endpoints changed, sorted. */
  services: string[];
  /** Changed Service objects (feed upsertService / deleteService). */
  serviceChanges: ObjectChange<ApiService>[];
  /** Changed endpoints per Service, and every changed slice once (feed upsertEndpointSlice / deleteEndpointSlice). */
  endpoints: EndpointsTake;
  /** A changed Service or its endpoints has a UDP port: run the UDP conntrack cleanup after the sync. */
  conntrackCleanupRequired: boolean;
  /** Nothing to do. */
  empty: boolean;
}

export interface PendingCounts {
  /** kubeproxy_sync_proxy_rules_service_changes_pending */
  services: number;
  /** kubeproxy_sync_proxy_rules_endpoint_changes_pending */
  endpoints: number;
  /** A full resync is wanted because of the Node. */
  node: boolean;
}

export interface ChangeTrackerOptions {
  /** This node's name (Node events for other names are ignored; '' accepts any). */
  nodeName: string;
  clock?: NowSource;
  serviceSignature?: (svc: ApiService) => string;
  endpointSliceSignature?: (slice: ApiEndpointSlice) => string;
}

function serviceHasUdp(svc: ApiService | undefined): boolean {
  const ports = svc?.spec?.ports;
  return Array.isArray(ports) && ports.some((p) => typeof p === 'object' && p !== null && p.protocol === 'UDP');
}

export class ChangeTracker {
  readonly services: ServiceChangeTracker;
  readonly endpointSlices: EndpointSliceChangeTracker;
  readonly node: NodeTracker;

  constructor(options: ChangeTrackerOptions) {
    const clock = options.clock ?? systemNow;
    this.services = new ServiceChangeTracker({ signature: options.serviceSignature ?? serviceSignature });
    this.endpointSlices = new EndpointSliceChangeTracker({ signature: options.endpointSliceSignature ?? endpointSliceSignature, clock });
    this.node = new NodeTracker(options.nodeName);
  }

  pending(): PendingCounts {
    return { services: this.services.pendingCount, endpoints: this.endpointSlices.pendingCount, node: this.node.resyncPending };
  }

  hasPending(): boolean {
    const p = this.pending();
    return p.services > 0 || p.endpoints > 0 || p.node;
  }

  /** Everything pending, marked synced. If the sync fails, hand the batch to requeue(). */
  take(): SyncBatch {
    const full = this.node.takeResync();
    const serviceChanges = this.services.take();
    const endpoints = this.endpointSlices.take();
    const services = new Set<string>(serviceChanges.map((c) => c.key));
    for (const e of endpoints.services) services.add(e.service);
    const conntrackCleanupRequired =
      endpoints.services.some((e) => e.udp) || serviceChanges.some((c) => serviceHasUdp(c.previous) || serviceHasUdp(c.current));
    return {
      full,
      services: [...services].sort(),
      serviceChanges,
      endpoints,
      conntrackCleanupRequired,
      empty: !full && services.size === 0 && endpoints.slices.length === 0,
    };
  }

  /** Puts a failed sync's batch back; later changes of the same objects are kept. */
  requeue(batch: SyncBatch): void {
    if (batch.full) this.node.requeueResync();
    this.services.requeue(batch.serviceChanges);
    this.endpointSlices.requeue(batch.endpoints);
  }
}
