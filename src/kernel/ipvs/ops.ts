// The IPVS operations the syncer applies in batches, their printable form, and how their errno is judged.
// Shapes reuse the plan document's model (VirtualServer / RealServer) so a plan's entries can be passed as-is.

import type { RealServer, VirtualServer } from '../../model/state.js';
import { realServerKey, virtualServerKey } from '../../model/state.js';
import type { ForwardMethod } from './constants.js';
import type { KernelError } from '../errors.js';

/** What identifies a virtual server (the plan's key "TCP/10.96.0.10:80"). */
export type VirtualServerId = Pick<VirtualServer, 'protocol' | 'address' | 'port'>;

/** A virtual server to create or update. A model VirtualServer fits as is (its realServers are ignored). */
export type VirtualServerSpec = Pick<VirtualServer, 'protocol' | 'address' | 'port' | 'scheduler' | 'flags' | 'timeout'> & {
  /** Persistence granularity: IPv4 mask (default 0xffffffff), IPv6 prefix length (default 128). */
  netmask?: number;
  /** Persistence engine, e.g. "sip". */
  peName?: string;
};

/** What identifies a real server within its virtual server ("10.244.1.5:8080"). */
export type RealServerId = Pick<RealServer, 'address' | 'port'>;

/** A real server to create or update. A model RealServer fits as is. */
export type RealServerSpec = Pick<RealServer, 'address' | 'port' | 'weight'> & {
  /** Default "masq" (NAT), what kube-proxy uses. */
  forward?: ForwardMethod;
  /** Connection thresholds, 0 = none (default). */
  upperThreshold?: number;
  lowerThreshold?: number;
};

export type IpvsOp =
  | { kind: 'add-virtual-server'; vs: VirtualServerSpec }
  | { kind: 'update-virtual-server'; vs: VirtualServerSpec }
  | { kind: 'delete-virtual-server'; vs: VirtualServerId }
  | { kind: 'add-real-server'; vs: VirtualServerId; rs: RealServerSpec }
  | { kind: 'update-real-server'; vs: VirtualServerId; rs: RealServerSpec }
  | { kind: 'delete-real-server'; vs: VirtualServerId; rs: RealServerId };

export type IpvsOpKind = IpvsOp['kind'];

export type IpvsOpResult =
  | {
      op: IpvsOp;
      ok: true;
      /** The kernel said "exists" to an add or "no such" to a delete: the op's goal already held. */
      alreadyDone: boolean;
    }
  | { op: IpvsOp; ok: false; error: KernelError };

/** "add-real-server TCP/10.96.0.10:80 -> 10.244.1.5:8080", "delete-virtual-server UDP/[fd00::a]:53". */
export function describeIpvsOp(op: IpvsOp): string {
  const vs = virtualServerKey(op.vs);
  return 'rs' in op ? `${op.kind} ${vs} -> ${realServerKey(op.rs)}` : `${op.kind} ${vs}`;
}

/**
 * errno names that mean the op's goal already holds (design principle 3: adds and deletes are idempotent).
 * A real server's delete also counts "no such service" (ESRCH): without its virtual server it cannot exist.
 */
export const ALREADY_DONE: Readonly<Record<IpvsOpKind, readonly string[]>> = {
  'add-virtual-server': ['EEXIST'],
  'update-virtual-server': [],
  'delete-virtual-server': ['ESRCH'],
  'add-real-server': ['EEXIST'],
  'update-real-server': [],
  'delete-real-server': ['ENOENT', 'ESRCH'],
};
