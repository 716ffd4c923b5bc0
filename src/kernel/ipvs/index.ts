// The IPVS driver's public surface (see README.md): the client, its op/result types, and the codec's entry types.

export { IpvsClient, compareRealServers, compareVirtualServers, type IpvsClientOptions, type ServiceRef } from './client.js';
export {
  ALREADY_DONE,
  describeIpvsOp,
  type IpvsOp,
  type IpvsOpKind,
  type IpvsOpResult,
  type RealServerId,
  type RealServerSpec,
  type VirtualServerId,
  type VirtualServerSpec,
} from './ops.js';
export type { IpvsDestEntry, IpvsInfo, IpvsServiceEntry, IpvsServiceId, IpvsTimeouts } from './codec.js';
export { KNOWN_SCHEDULERS, type ForwardMethod } from './constants.js';
