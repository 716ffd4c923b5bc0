// Reads the node's kernel into a NodeState (the plan document's shape), through the kernel drivers only:
//   IPVS table (real servers with weights, connection counters and stats), kube-ipvs0 addresses,
//   kube-proxy's KUBE-* ipsets of both families, our KUBE-* iptables chains per family and table,
// plus the node's own addresses (every interface but kube-ipvs0: what NodePorts are served on).
//
// The reads are independent, so they run concurrently (netlink in-process; ipset / iptables-save as
// processes). Lists come back in the one order of src/model/order.ts, so an observed state compares and
// prints like a desired one.
//
// A partial observation (event-driven syncs) reads only some parts, and only the virtual servers it is
// asked for: one service dump plus one destination dump per virtual server in scope, so its cost follows
// the change, not the size of the table.

import { performance } from 'node:perf_hooks';
import { virtualServerOfEntry, type IpvsClient } from '../kernel/ipvs/client.js';
import type { IpvsDestEntry } from '../kernel/ipvs/codec.js';
import type { IpsetDriver } from '../kernel/ipset.js';
import type { IptablesDriver, IptablesState } from '../kernel/iptables.js';
import type { LinkDriver } from '../kernel/link.js';
import { allKubeIpsetNames } from '../model/ipsets.js';
import { ipSortKey, realServerSortKey, sortByKey, virtualServerSortKey } from '../model/order.js';
import type { IpsetState, NodeState, RealServer, VirtualServer } from '../model/state.js';
import { DUMMY_INTERFACE, emptyNodeState, virtualServerKey } from '../model/state.js';

/** What observation needs from the drivers (the real ones fit; host tests pass fakes). */
export interface ObserveDrivers {
  ipvs: Pick<IpvsClient, 'observe' | 'listServices' | 'listDestinations'>;
  link: Pick<LinkDriver, 'listAddresses' | 'localAddressesExcept'>;
  ipset: Pick<IpsetDriver, 'observe'>;
  iptables: Pick<IptablesDriver, 'observe'>;
}

export interface ObserveOptions {
  /** Read the IPVS table: true = all of it, a list of virtual server keys = only those, false = not at all. */
  ipvs?: boolean | Iterable<string>;
  /** Read kube-ipvs0's addresses (default true). */
  addresses?: boolean;
  /** Read the KUBE-* sets (default true). */
  ipsets?: boolean;
  /** Read the KUBE-* chains (default true). */
  iptables?: boolean;
  /** Read the node's addresses (every interface but kube-ipvs0; default true). */
  nodeAddresses?: boolean;
}

export interface ObserveDurations {
  ipvsMs: number;
  addressesMs: number;
  ipsetsMs: number;
  iptablesMs: number;
  nodeAddressesMs: number;
  /** Wall time of the whole (concurrent) observation. */
  totalMs: number;
}

export interface Observation {
  /** The kernel as a plan document; parts not read are empty. */
  state: NodeState;
  /** The node's own addresses (canonical, sorted), when read. */
  nodeAddresses?: string[];
  /** Which parts were read (a partial IPVS read counts as read). */
  read: { ipvs: boolean; addresses: boolean; ipsets: boolean; iptables: boolean; nodeAddresses: boolean };
  durations: ObserveDurations;
}


/** The model's order for every list of an observed state (the drivers sort by their own rules). */
export function sortObservedVirtualServers(list: readonly VirtualServer[]): VirtualServer[] {
  return sortByKey(list, virtualServerSortKey).map((vs) => ({ ...vs, realServers: sortByKey(vs.realServers, realServerSortKey) }));
}

export function sortAddressList(list: readonly string[]): string[] {
  return sortByKey(list, ipSortKey);
}

/** Sets in kube-proxy's order (IPv4 names, then IPv6, as desired state lists them); unknown names after, by name. */
export function orderIpsets(sets: Record<string, IpsetState>): Record<string, IpsetState> {
  const known = allKubeIpsetNames();
  const rank = (name: string) => {
    const i = known.indexOf(name);
    // allKubeIpsetNames interleaves families (v4, v6, v4, v6...); desired lists all v4 first.
    return i === -1 ? `2${name}` : `${i % 2}${String(i >> 1).padStart(3, '0')}`;
  };
  const out: Record<string, IpsetState> = {};
  for (const name of sortByKey(Object.keys(sets), rank)) out[name] = sets[name]!;
  return out;
}

const toVirtualServer = virtualServerOfEntry;

function toRealServer(d: IpvsDestEntry): RealServer {
  const rs: RealServer = { address: d.address, port: d.port, weight: d.weight, activeConns: d.activeConns, inactiveConns: d.inactiveConns };
  if (d.stats) rs.stats = d.stats;
  return rs;
}

/**
 * Only the virtual servers whose keys are given (canonical "TCP/10.96.0.10:80"), with their real servers:
 * one service dump, then one destination dump per wanted virtual server that exists.
 */
export async function observeVirtualServers(ipvs: ObserveDrivers['ipvs'], keys: Iterable<string>): Promise<VirtualServer[]> {
  const wanted = new Set(keys);
  if (wanted.size === 0) return [];
  const found = new Map<string, VirtualServer>();
  for (const s of await ipvs.listServices()) {
    const vs = toVirtualServer(s);
    if (vs && wanted.has(virtualServerKey(vs))) found.set(virtualServerKey(vs), vs);
  }
  for (const vs of found.values()) {
    const seen = new Map<string, RealServer>();
    for (const d of await ipvs.listDestinations(vs)) seen.set(`${d.address}/${d.port}`, toRealServer(d));
    vs.realServers = [...seen.values()];
  }
  return sortObservedVirtualServers([...found.values()]);
}

async function timed<T>(fn: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = performance.now();
  const value = await fn();
  return { value, ms: performance.now() - t0 };
}

const none = async <T>(value: T) => ({ value, ms: 0 });

/** Reads the kernel (see ObserveOptions; default: everything). Throws the first driver error (KernelError). */
export async function observeKernel(drivers: ObserveDrivers, options: ObserveOptions = {}): Promise<Observation> {
  const t0 = performance.now();
  const ipvsOpt = options.ipvs ?? true;
  const read = {
    ipvs: ipvsOpt !== false,
    addresses: options.addresses !== false,
    ipsets: options.ipsets !== false,
    iptables: options.iptables !== false,
    nodeAddresses: options.nodeAddresses !== false,
  };
  const emptyTables: IptablesState = { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } };
  const [ipvs, addresses, ipsets, iptables, nodeAddresses] = await Promise.all([
    ipvsOpt === false
      ? none<VirtualServer[]>([])
      : timed(async () => (ipvsOpt === true ? sortObservedVirtualServers(await drivers.ipvs.observe()) : observeVirtualServers(drivers.ipvs, ipvsOpt))),
    read.addresses ? timed(async () => sortAddressList(await drivers.link.listAddresses())) : none<string[]>([]),
    read.ipsets ? timed(async () => orderIpsets(await drivers.ipset.observe())) : none<Record<string, IpsetState>>({}),
    read.iptables ? timed(() => drivers.iptables.observe()) : none(emptyTables),
    read.nodeAddresses ? timed(async () => sortAddressList(await drivers.link.localAddressesExcept())) : none<string[] | undefined>(undefined),
  ]);
  const state = emptyNodeState();
  state.ipvs = ipvs.value;
  state.addresses = { [DUMMY_INTERFACE]: addresses.value };
  state.ipsets = ipsets.value;
  state.iptables = iptables.value;
  const out: Observation = {
    state,
    read,
    durations: {
      ipvsMs: ipvs.ms,
      addressesMs: addresses.ms,
      ipsetsMs: ipsets.ms,
      iptablesMs: iptables.ms,
      nodeAddressesMs: nodeAddresses.ms,
      totalMs: performance.now() - t0,
    },
  };
  if (nodeAddresses.value) out.nodeAddresses = nodeAddresses.value;
  return out;
}
