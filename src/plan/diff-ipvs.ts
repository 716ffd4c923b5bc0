// IPVS virtual servers and real servers: desired vs observed, per virtual server key.

import type { AddRealServerOp, AddServiceOp, DelRealServerOp, DelServiceOp, EditRealServerOp, EditServiceOp, WeightChangeReason } from './ops.js';
import { ops, realServerRefKey } from './ops.js';
import type { NormalState, NormalVirtualServer } from './normalize.js';
import { realServerOrder, sortByKey, virtualServerOrder } from './normalize.js';
import type { Ownership } from './ownership.js';
import { decideRealServerRemoval } from './graceful.js';

/** A removed TCP real server left at weight 0 while its connections end (the controller tracks deadlines). */
export interface DrainingRealServer {
  /** virtualServerKey */
  service: string;
  /** realServerKey */
  realServer: string;
  /** realServerRefKey(service, realServer): the key expiredDrains / drainExpired use. */
  key: string;
  activeConns: number;
  inactiveConns: number;
  /** True when this plan starts the drain (its edit-real-server op sets weight 0). */
  started: boolean;
}

export interface IpvsContext {
  ownership: Ownership;
  prune: boolean;
  graceful: boolean;
  initialSync: boolean;
  drainExpired: (vsKey: string, rsKey: string) => boolean;
  inScope: (vsKey: string) => boolean;
}

export interface IpvsDiff {
  /** add-service / edit-service, in virtual server order. */
  services: (AddServiceOp | EditServiceOp)[];
  /** add-real-server and weight edits of desired real servers. */
  realServerUpdates: (AddRealServerOp | EditRealServerOp)[];
  /** del-real-server and drain edits of real servers that are no longer desired. */
  realServerRemovals: (DelRealServerOp | EditRealServerOp)[];
  serviceDeletes: DelServiceOp[];
  draining: DrainingRealServer[];
}

function paramsDiffer(a: NormalVirtualServer, b: NormalVirtualServer): boolean {
  return a.scheduler !== b.scheduler || a.flags !== b.flags || a.timeout !== b.timeout;
}

function sortedRealServers<T extends { address: string; port: number }>(list: Iterable<T>): T[] {
  return sortByKey(list, realServerOrder);
}

/** The diff of one virtual server, collected unsorted: only virtual servers that change get sorted. */
interface VsDiff {
  vs: NormalVirtualServer;
  service?: AddServiceOp | EditServiceOp | DelServiceOp;
  updates: { address: string; port: number; op: AddRealServerOp | EditRealServerOp }[];
  /** A removal may have no op (keep draining) but is still reported in `draining`. */
  removals: { address: string; port: number; op?: DelRealServerOp | EditRealServerOp; draining?: DrainingRealServer }[];
}

export function diffIpvs(desired: NormalState, observed: NormalState, ctx: IpvsContext): IpvsDiff {
  const changed: VsDiff[] = [];
  const visit = (key: string): void => {
    if (!ctx.inScope(key)) return;
    const d = desired.virtualServers.get(key);
    const o = observed.virtualServers.get(key);
    const diff: VsDiff = { vs: (d ?? o)!, updates: [], removals: [] };
    if (d && !o) {
      diff.service = ops.addService(d);
      for (const rs of d.realServers.values()) diff.updates.push({ address: rs.address, port: rs.port, op: ops.addRealServer(d, rs) });
    } else if (!d && o) {
      // The whole virtual server goes at once, its real servers with it (kube-proxy cleanLegacyService).
      if (ctx.prune && ctx.ownership.ownsVirtualServerAddress(o.address)) diff.service = ops.delService(o);
    } else if (d && o) {
      if (paramsDiffer(d, o)) diff.service = ops.editService(d, o);
      diffRealServers(d, o, ctx, diff);
    }
    if (diff.service || diff.updates.length || diff.removals.length) changed.push(diff);
  };
  for (const k of desired.virtualServers.keys()) visit(k);
  for (const k of observed.virtualServers.keys()) if (!desired.virtualServers.has(k)) visit(k);

  const out: IpvsDiff = { services: [], realServerUpdates: [], realServerRemovals: [], serviceDeletes: [], draining: [] };
  for (const diff of sortByKey(changed, (x) => virtualServerOrder(x.vs))) {
    const s = diff.service;
    if (s?.kind === 'del-service') out.serviceDeletes.push(s);
    else if (s) out.services.push(s);
    for (const u of sortedRealServers(diff.updates)) out.realServerUpdates.push(u.op);
    for (const r of sortedRealServers(diff.removals)) {
      if (r.op) out.realServerRemovals.push(r.op);
      if (r.draining) out.draining.push(r.draining);
    }
  }
  return out;
}

function diffRealServers(d: NormalVirtualServer, o: NormalVirtualServer, ctx: IpvsContext, out: VsDiff): void {
  for (const rs of d.realServers.values()) {
    const cur = o.realServers.get(rs.key);
    if (!cur) {
      out.updates.push({ address: rs.address, port: rs.port, op: ops.addRealServer(d, rs) });
    } else if (cur.weight !== rs.weight) {
      // Weights are compared on every sync (drift heals); kube-proxy only did this on its initialSync.
      const reason: WeightChangeReason = ctx.initialSync ? 'initial-sync' : cur.weight === 0 ? 'undrain' : 'weight';
      out.updates.push({ address: rs.address, port: rs.port, op: ops.editRealServer(d, rs, cur.weight, reason) });
    }
  }
  if (!ctx.prune) return;
  for (const cur of o.realServers.values()) {
    if (d.realServers.has(cur.key)) continue;
    const decision = decideRealServerRemoval(o.protocol, cur, ctx.graceful, () => ctx.drainExpired(o.key, cur.key));
    if (decision.action === 'delete') {
      out.removals.push({ address: cur.address, port: cur.port, op: ops.delRealServer(o, cur, decision.reason) });
      continue;
    }
    const draining: DrainingRealServer = {
      service: o.key,
      realServer: cur.key,
      key: realServerRefKey(o.key, cur.key),
      activeConns: cur.activeConns,
      inactiveConns: cur.inactiveConns,
      started: decision.action === 'drain',
    };
    // keep-draining has no op but is still reported, in the same order.
    const op = decision.action === 'drain' ? ops.editRealServer(o, { ...cur, weight: 0 }, cur.weight, 'drain') : undefined;
    out.removals.push({ address: cur.address, port: cur.port, op, draining });
  }
}
