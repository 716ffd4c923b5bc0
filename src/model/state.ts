// The state of one node's kernel as kube-ipvs sees it: what it wants (desired/) and what it read back
// (kernel/ observe). Both have this one shape, which is also the public `plan` JSON document
// (../shared/design.md, "The plan document"): extend it, never change a field's meaning.

import { joinHostPort } from './ip.js';

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** IPVS counters (from STATS64 in a kernel dump). Only observed state carries them. */
export interface IpvsStats {
  conns: number;
  inPkts: number;
  outPkts: number;
  inBytes: number;
  outBytes: number;
  cps: number;
  inPps: number;
  outPps: number;
  inBps: number;
  outBps: number;
}

export interface RealServer {
  address: string; // canonical text
  port: number;
  weight: number;
  /** Observed only. */
  activeConns?: number;
  inactiveConns?: number;
  stats?: IpvsStats;
}

export interface VirtualServer {
  protocol: Protocol;
  address: string; // canonical text
  port: number;
  scheduler: string;
  /** IP_VS_SVC_F_* without HASHED (1 persistent, 8 sched flag 1, 16 sched flag 2, ...). */
  flags: number;
  /** Persistence timeout in seconds, 0 when not persistent. */
  timeout: number;
  realServers: RealServer[];
  /** Extension: "namespace/name:portName" of the Service port this virtual server implements (desired only). */
  service?: string;
  /** Extension: observed only. */
  stats?: IpvsStats;
}

export type IpsetType = 'hash:ip' | 'hash:ip,port' | 'hash:ip,port,ip' | 'hash:ip,port,net' | 'bitmap:port';

export interface IpsetState {
  type: IpsetType;
  family: 'inet' | 'inet6';
  entries: string[]; // sorted
}

export interface IptablesTables {
  /** iptables-restore text of the table (`*nat` ... `COMMIT`), KUBE-* chains only. */
  nat: string;
  filter: string;
}

export interface Diagnostic {
  /** "namespace/name" of the offending object (or its kind and name when it has no namespace). */
  object: string;
  message: string;
  /** Extension: "Service" | "EndpointSlice" | "Node" | "Config". */
  kind?: string;
}

export interface NodeState {
  ipvs: VirtualServer[]; // sorted by virtualServerKey order (family, address, protocol, port)
  addresses: { 'kube-ipvs0': string[] }; // sorted, canonical
  ipsets: Record<string, IpsetState>;
  iptables: { ipv4: IptablesTables; ipv6: IptablesTables };
  diagnostics: Diagnostic[];
}

export type DesiredState = NodeState;
export type ObservedState = NodeState;

export const DUMMY_INTERFACE = 'kube-ipvs0';

/** The canonical key and printable form of a virtual server: "TCP/10.96.0.10:80", "UDP/[fd00::a]:53". */
export function virtualServerKey(vs: { protocol: string; address: string; port: number }): string {
  return `${vs.protocol}/${joinHostPort(vs.address, vs.port)}`;
}

/** The canonical key of a real server within its virtual server: "10.244.1.5:8080", "[fd00::5]:8080". */
export function realServerKey(rs: { address: string; port: number }): string {
  return joinHostPort(rs.address, rs.port);
}

/** IP_VS_SVC_F_* flag bits. */
export const IPVS_SVC_FLAGS = {
  PERSISTENT: 0x1,
  HASHED: 0x2,
  ONEPACKET: 0x4,
  SCHED1: 0x8, // sh-fallback / mh-fallback
  SCHED2: 0x10, // sh-port / mh-port
  SCHED3: 0x20,
} as const;

export function emptyNodeState(): NodeState {
  return {
    ipvs: [],
    addresses: { [DUMMY_INTERFACE]: [] },
    ipsets: {},
    iptables: { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } },
    diagnostics: [],
  };
}
