// Graceful termination of a real server whose endpoint went away (reference §4.4, kube-proxy's
// graceful_termination.go deleteRsFunc), as one pure decision. kube-proxy keeps the draining list in
// memory and re-checks it every minute; kube-ipvs derives "draining" from the kernel itself (a real
// server that is not desired and sits at weight 0), so a restart loses nothing, and the controller
// only adds a deadline (kube-proxy has none: issue #81775, weight-0 servers that never drain).

import type { Protocol } from '../model/state.js';
import type { RealServerDeleteReason } from './ops.js';

export type RemovalDecision =
  | { action: 'delete'; reason: RealServerDeleteReason }
  /** Set weight 0 now: no new connections, existing ones finish. */
  | { action: 'drain' }
  /** Already at weight 0 with connections left: nothing to do until they end or the deadline passes. */
  | { action: 'keep-draining' };

export interface RemovalInput {
  weight: number;
  activeConns: number;
  inactiveConns: number;
}

/**
 * kube-proxy: UDP and SCTP real servers are deleted at once (IsRsGracefulTerminationNeeded is false,
 * expire_nodest_conn drops their flows); a TCP one is deleted once ActiveConn + InactiveConn is 0, and
 * until then stays at weight 0. kube-ipvs adds: a drain whose deadline passed is deleted.
 */
export function decideRealServerRemoval(
  protocol: Protocol,
  rs: RemovalInput,
  graceful: boolean,
  drainExpired: () => boolean,
): RemovalDecision {
  if (!graceful) return { action: 'delete', reason: 'removed' };
  if (protocol !== 'TCP') return { action: 'delete', reason: 'not-tcp' };
  if (rs.activeConns + rs.inactiveConns === 0) return { action: 'delete', reason: 'no-connections' };
  if (drainExpired()) return { action: 'delete', reason: 'drain-expired' };
  return rs.weight === 0 ? { action: 'keep-draining' } : { action: 'drain' };
}
