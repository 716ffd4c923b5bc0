// This node's own Node object: what desired/ reads from it (labels for topology, status.addresses for
// the node IP, spec.podCIDRs for NodeCIDR local detection) and whether the node is eligible for the
// proxy's /healthz (exists, not being deleted, not tainted by the cluster autoscaler).
// kube-proxy re-syncs when the labels change (OnNodeUpdate); a change of anything desired/ reads
// recomputes every Service, so it asks for a full sync.

import type { ApiNode } from '../model/api.js';
import { stableStringify } from './signature.js';

/** Taint the cluster autoscaler puts on a node it is about to delete (proxy_health.go ToBeDeletedTaint). */
export const TO_BE_DELETED_TAINT = 'ToBeDeletedByClusterAutoscaler';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** kube-proxy's NodeEligible: the Node exists, has no deletionTimestamp and no ToBeDeletedByClusterAutoscaler taint. */
export function nodeEligible(node: ApiNode | undefined): boolean {
  if (!isRecord(node)) return false;
  const meta = node.metadata;
  if (isRecord(meta) && meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null && meta.deletionTimestamp !== '') return false;
  const taints = isRecord(node.spec) && Array.isArray(node.spec.taints) ? node.spec.taints : [];
  return !taints.some((t) => isRecord(t) && t.key === TO_BE_DELETED_TAINT);
}

export interface NodeChange {
  /** The node exists after this event. */
  exists: boolean;
  /** It appeared or disappeared. */
  existence: boolean;
  labels: boolean;
  podCIDRs: boolean;
  addresses: boolean;
  /** nodeEligible() changed (the proxy health server must be told). */
  eligibility: boolean;
  /** Something desired/ reads changed: recompute every Service (full sync). */
  resync: boolean;
}

interface NodeFacts {
  labels: string;
  podCIDRs: string;
  addresses: string;
  eligible: boolean;
}

function factsOf(node: ApiNode | undefined): NodeFacts | undefined {
  if (!node) return undefined;
  const meta = isRecord(node.metadata) ? node.metadata : {};
  const spec = isRecord(node.spec) ? node.spec : {};
  const status = isRecord(node.status) ? node.status : {};
  return {
    labels: stableStringify(meta.labels ?? {}),
    podCIDRs: stableStringify([spec.podCIDR, spec.podCIDRs]),
    addresses: stableStringify(status.addresses ?? []),
    eligible: nodeEligible(node),
  };
}

export class NodeTracker {
  private current: ApiNode | undefined;
  private facts: NodeFacts | undefined;
  private resyncWanted = false;

  /** @param nodeName this node's name; events for other nodes are ignored. '' accepts any. */
  constructor(readonly nodeName: string) {}

  /** Informer add / update. Undefined when the event is for another node. */
  upsert(node: ApiNode): NodeChange | undefined {
    if (!this.isMine(node)) return undefined;
    return this.apply(node);
  }

  /** Informer delete. */
  remove(node?: ApiNode): NodeChange | undefined {
    if (node && !this.isMine(node)) return undefined;
    return this.apply(undefined);
  }

  get node(): ApiNode | undefined {
    return this.current;
  }
  get eligible(): boolean {
    return this.facts?.eligible ?? false;
  }
  /** A change that needs a full sync happened since the last takeResync(). */
  get resyncPending(): boolean {
    return this.resyncWanted;
  }
  /** Returns and clears the full-sync request. */
  takeResync(): boolean {
    const r = this.resyncWanted;
    this.resyncWanted = false;
    return r;
  }
  /** Restores a full-sync request taken by a sync that failed. */
  requeueResync(): void {
    this.resyncWanted = true;
  }

  private isMine(node: ApiNode): boolean {
    const name = node?.metadata?.name;
    return this.nodeName === '' || name === this.nodeName;
  }

  private apply(node: ApiNode | undefined): NodeChange {
    const before = this.facts;
    const after = factsOf(node);
    this.current = node;
    this.facts = after;
    const existence = (before === undefined) !== (after === undefined);
    const change: NodeChange = {
      exists: after !== undefined,
      existence,
      labels: existence || before?.labels !== after?.labels,
      podCIDRs: existence || before?.podCIDRs !== after?.podCIDRs,
      addresses: existence || before?.addresses !== after?.addresses,
      eligibility: (before?.eligible ?? false) !== (after?.eligible ?? false),
      resync: false,
    };
    change.resync = change.labels || change.podCIDRs || change.addresses;
    if (change.resync) this.resyncWanted = true;
    return change;
  }
}
