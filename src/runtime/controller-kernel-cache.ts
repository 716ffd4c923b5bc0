// An adapter between the controller and the syncer's kernel drivers that keeps event-driven syncs O(change).
//
// The syncer's partial observation re-reads the scoped virtual servers, but to find them it dumps the whole IPVS
// service table, and it dumps every kube-ipvs0 address: with 10,000 Services both dumps cost what the cluster
// costs (tens to hundreds of ms in the test guest), on every endpoint change. This wrapper remembers the service
// table and kube-ipvs0's addresses as the last full read left them plus every change the kernel accepted since
// (the same bookkeeping the syncer does for ipsets and iptables), and answers those two listings from memory
// during partial syncs. Destinations (real servers with their connection counters) are always read from the
// kernel: graceful termination needs fresh counters. Full syncs (first, periodic, retry) pass everything through
// and refresh the memory, so drift made by someone else is healed within one sync period, as before.
// (Reported to the lead: the same could live in runtime/observe.ts.)

import type { IpvsServiceEntry } from '../kernel/ipvs/codec.js';
import { IPPROTO } from '../kernel/ipvs/constants.js';
import type { IpvsOp, IpvsOpResult } from '../kernel/ipvs/ops.js';
import type { AddressBatchResult } from '../kernel/link.js';
import { canonicalIP, ipFamilyOf } from '../model/ip.js';
import { virtualServerKey, type VirtualServer } from '../model/state.js';
import type { KernelDrivers } from './syncer-drivers.js';

type ServiceParams = Pick<VirtualServer, 'protocol' | 'address' | 'port' | 'scheduler' | 'flags' | 'timeout'>;

export interface KernelCacheStats {
  /** Listings answered from memory. */
  served: number;
  /** Listings passed to the kernel. */
  passed: number;
}

export class KernelCache {
  private services: Map<string, ServiceParams> | undefined;
  private addresses: Set<string> | undefined;
  private partial = false;
  private scopeServices: Set<string> | undefined;
  private scopeAddresses: Set<string> | undefined;
  readonly stats: KernelCacheStats = { served: 0, passed: 0 };
  readonly drivers: KernelDrivers;

  constructor(private readonly inner: KernelDrivers) {
    this.drivers = this.wrap();
  }

  /**
   * Call before each sync. 'partial' lets listings come from memory (when it is complete), limited to the scope:
   * a partial plan only looks at the virtual servers and addresses of its scope, so the listings need not carry
   * the other 10,000 (building and sorting them alone costs what the cluster costs).
   */
  beginSync(kind: 'full' | 'partial', scope?: { virtualServers?: Iterable<string>; addresses?: Iterable<string> }): void {
    this.partial = kind === 'partial';
    this.scopeServices = undefined;
    this.scopeAddresses = undefined;
    if (this.partial && scope) {
      this.scopeServices = new Set(scope.virtualServers ?? []);
      this.scopeAddresses = new Set<string>();
      for (const a of scope.addresses ?? []) this.scopeAddresses.add(canonicalIP(a) ?? a);
      // The address of every scoped virtual server too: it is what makes a virtual server ours (ownership).
      for (const k of this.scopeServices) {
        const m = /^[A-Z]+\/(?:\[([^\]]+)\]|([^:]+)):\d+$/.exec(k);
        const a = m ? canonicalIP(m[1] ?? m[2]) : undefined;
        if (a) this.scopeAddresses.add(a);
      }
    }
  }

  /** Forget everything (e.g. after a failure whose effect is unknown). */
  invalidate(): void {
    this.services = undefined;
    this.addresses = undefined;
  }

  private wrap(): KernelDrivers {
    const inner = this.inner;
    // Plain objects delegating to the real drivers (never prototype tricks: the drivers keep state on `this`).
    const ipvs: KernelDrivers['ipvs'] = {
      observe: async () => {
        // A full observation: whatever the caller said, this sync reads the kernel.
        this.partial = false;
        this.stats.passed++;
        const list = await inner.ipvs.observe();
        this.services = new Map(list.map((vs) => [virtualServerKey(vs), params(vs)]));
        return list;
      },
      listServices: async () => {
        if (this.partial && this.services) {
          this.stats.served++;
          const services = this.services;
          if (this.scopeServices) return [...this.scopeServices].flatMap((k) => (services.has(k) ? [entryOf(services.get(k)!)] : []));
          return [...services.values()].map(entryOf);
        }
        this.stats.passed++;
        return inner.ipvs.listServices();
      },
      listDestinations: (ref) => inner.ipvs.listDestinations(ref),
      apply: async (ops: readonly IpvsOp[]) => {
        const results = await inner.ipvs.apply(ops);
        this.absorbIpvs(results);
        return results;
      },
      ...(inner.ipvs.setTimeouts ? { setTimeouts: (t: Parameters<NonNullable<KernelDrivers['ipvs']['setTimeouts']>>[0]) => inner.ipvs.setTimeouts!(t) } : {}),
    };
    const link: KernelDrivers['link'] = {
      listAddresses: async (family?: 4 | 6) => {
        if (this.partial && this.addresses) {
          this.stats.served++;
          const have = this.addresses;
          const all = this.scopeAddresses ? [...this.scopeAddresses].filter((a) => have.has(a)) : [...have];
          return family ? all.filter((a) => ipFamilyOf(a) === family) : all;
        }
        this.stats.passed++;
        const list = await inner.link.listAddresses(family);
        if (!family) this.addresses = new Set(list.map((a) => canonicalIP(a) ?? a));
        return list;
      },
      localAddressesExcept: (family?: 4 | 6, ifname?: string) => inner.link.localAddressesExcept(family, ifname),
      addAddresses: async (list: readonly string[]) => {
        const r = await inner.link.addAddresses(list);
        this.absorbAddresses(r, true);
        return r;
      },
      deleteAddresses: async (list: readonly string[]) => {
        const r = await inner.link.deleteAddresses(list);
        this.absorbAddresses(r, false);
        return r;
      },
      ensureLink: async () => {
        const r = await inner.link.ensureLink();
        // A link that had to be created holds no address yet.
        if (r.created) this.addresses = new Set();
        return r;
      },
      deleteLink: async () => {
        const r = await inner.link.deleteLink();
        this.addresses = new Set();
        return r;
      },
    };
    return { ipvs, link, ipset: inner.ipset, iptables: inner.iptables, close: () => inner.close() };
  }

  private absorbIpvs(results: readonly IpvsOpResult[]): void {
    const services = this.services;
    if (!services) return;
    for (const r of results) {
      if (!r.ok) continue;
      const op = r.op;
      const key = virtualServerKey(op.vs);
      if (op.kind === 'add-virtual-server' || op.kind === 'update-virtual-server') {
        if (op.kind === 'add-virtual-server' && r.alreadyDone && services.has(key)) continue;
        services.set(key, params({ ...op.vs }));
      } else if (op.kind === 'delete-virtual-server') {
        services.delete(key);
      }
    }
  }

  private absorbAddresses(r: AddressBatchResult, added: boolean): void {
    const set = this.addresses;
    if (!set) return;
    for (const a of [...r.changed, ...r.unchanged]) {
      const c = canonicalIP(a) ?? a;
      if (added) set.add(c);
      else set.delete(c);
    }
  }
}

function params(vs: ServiceParams): ServiceParams {
  return { protocol: vs.protocol, address: vs.address, port: vs.port, scheduler: vs.scheduler, flags: vs.flags, timeout: vs.timeout };
}

function entryOf(p: ServiceParams): IpvsServiceEntry {
  const family = ipFamilyOf(p.address) ?? 4;
  return {
    family,
    protocol: IPPROTO[p.protocol],
    address: p.address,
    port: p.port,
    fwmark: 0,
    scheduler: p.scheduler,
    flags: p.flags,
    timeout: p.timeout,
    netmask: family === 4 ? 0xffffffff : 128,
    peName: '',
  };
}
