// An in-memory kernel behind the syncer's driver interfaces (runtime/syncer-drivers.ts KernelDrivers), for the
// controller's host tests only: the host kernel has no IPVS. It keeps what the real drivers answer for: IPVS
// virtual servers and real servers (with connection counters a test can set), kube-ipvs0 addresses, KUBE-* sets
// and iptables tables, and it records every IPVS op so a test can check what a sync wrote. The real drivers are
// tested against the real kernel (test/kernel); the controller's end-to-end tests run there too.

import { KernelError } from '../../src/kernel/errors.js';
import { normaliseRestoreTable } from '../../src/kernel/iptables-normalise.js';
import type { IpvsDestEntry, IpvsServiceEntry } from '../../src/kernel/ipvs/codec.js';
import type { IpvsOp, IpvsOpResult } from '../../src/kernel/ipvs/ops.js';
import type { AddressBatchResult } from '../../src/kernel/link.js';
import { canonicalIP, ipFamilyOf } from '../../src/model/ip.js';
import type { IpsetState, IpvsStats, IptablesTables, RealServer, VirtualServer } from '../../src/model/state.js';
import { realServerKey, virtualServerKey } from '../../src/model/state.js';
import type { IpsetOp, IpsetOpsReport } from '../../src/runtime/executor-ipset.js';
import type { KernelDrivers } from '../../src/runtime/syncer-drivers.js';

const PROTO: Record<string, number> = { TCP: 6, UDP: 17, SCTP: 132 };

export interface FakeRealServer extends RealServer {
  activeConns: number;
  inactiveConns: number;
}

export interface FakeVirtualServer extends Omit<VirtualServer, 'realServers'> {
  realServers: Map<string, FakeRealServer>;
}

export function stats(conns: number, bytes = 0): IpvsStats {
  return { conns, inPkts: conns, outPkts: conns, inBytes: bytes, outBytes: bytes, cps: 0, inPps: 0, outPps: 0, inBps: 0, outBps: 0 };
}

export class FakeKernel {
  readonly ipvs = new Map<string, FakeVirtualServer>();
  linkExists = false;
  readonly addresses = new Set<string>();
  nodeAddresses: string[] = ['192.168.0.10'];
  readonly ipsets: Record<string, IpsetState> = {};
  readonly iptables: { ipv4: IptablesTables; ipv6: IptablesTables } = { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } };
  /** Every IPVS batch applied, in order. */
  readonly ipvsBatches: IpvsOp[][] = [];
  /** Full IPVS dumps (observe / listServices) made. */
  dumps = 0;
  /** Virtual servers whose destinations were dumped, in order. */
  readonly destinationReads: string[] = [];
  /** kube-ipvs0 address dumps made. */
  addressDumps = 0;
  /** Make an IPVS op fail: return an errno name to fail it with. */
  failIpvs: ((op: IpvsOp) => string | undefined) | undefined;

  /** Adds a virtual server directly (what another component or an earlier run left in the kernel). */
  seed(vs: Omit<VirtualServer, 'realServers'> & { realServers?: (RealServer & { activeConns?: number; inactiveConns?: number })[] }): void {
    const rs = new Map<string, FakeRealServer>();
    for (const r of vs.realServers ?? []) rs.set(realServerKey(r), { address: r.address, port: r.port, weight: r.weight, activeConns: r.activeConns ?? 0, inactiveConns: r.inactiveConns ?? 0 });
    const { realServers: _rs, ...rest } = vs;
    this.ipvs.set(virtualServerKey(vs), { ...rest, realServers: rs });
  }

  /** The IPVS table as plain data: key -> sorted "ip:port weight" strings. */
  table(): Record<string, string[]> {
    const out: Record<string, string[]> = {};
    for (const [k, vs] of [...this.ipvs].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      out[k] = [...vs.realServers.values()].map((r) => `${realServerKey(r)} w${r.weight}`).sort();
    }
    return out;
  }

  allIpvsOps(): IpvsOp[] {
    return this.ipvsBatches.flat();
  }

  setConnections(vsKey: string, rsKey: string, active: number, inactive = 0): void {
    const rs = this.ipvs.get(vsKey)?.realServers.get(rsKey);
    if (!rs) throw new Error(`no real server ${vsKey} ${rsKey}`);
    rs.activeConns = active;
    rs.inactiveConns = inactive;
  }

  private applyOne(op: IpvsOp): IpvsOpResult {
    const fail = this.failIpvs?.(op);
    if (fail) return { op, ok: false, error: new KernelError(op.kind, fail, { code: fail }) };
    const key = virtualServerKey(op.vs);
    const vs = this.ipvs.get(key);
    const err = (code: string): IpvsOpResult => ({ op, ok: false, error: new KernelError(op.kind, code, { code }) });
    switch (op.kind) {
      case 'add-virtual-server':
        if (vs) return { op, ok: true, alreadyDone: true };
        this.ipvs.set(key, { protocol: op.vs.protocol, address: op.vs.address, port: op.vs.port, scheduler: op.vs.scheduler, flags: op.vs.flags, timeout: op.vs.timeout, realServers: new Map() });
        return { op, ok: true, alreadyDone: false };
      case 'update-virtual-server':
        if (!vs) return err('ESRCH');
        Object.assign(vs, { scheduler: op.vs.scheduler, flags: op.vs.flags, timeout: op.vs.timeout });
        return { op, ok: true, alreadyDone: false };
      case 'delete-virtual-server':
        if (!vs) return { op, ok: true, alreadyDone: true };
        this.ipvs.delete(key);
        return { op, ok: true, alreadyDone: false };
      case 'add-real-server': {
        if (!vs) return err('ESRCH');
        const k = realServerKey(op.rs);
        if (vs.realServers.has(k)) return { op, ok: true, alreadyDone: true };
        vs.realServers.set(k, { address: op.rs.address, port: op.rs.port, weight: op.rs.weight, activeConns: 0, inactiveConns: 0 });
        return { op, ok: true, alreadyDone: false };
      }
      case 'update-real-server': {
        const rs = vs?.realServers.get(realServerKey(op.rs));
        if (!vs) return err('ESRCH');
        if (!rs) return err('ENOENT');
        rs.weight = op.rs.weight;
        return { op, ok: true, alreadyDone: false };
      }
      case 'delete-real-server': {
        if (!vs || !vs.realServers.has(realServerKey(op.rs))) return { op, ok: true, alreadyDone: true };
        vs.realServers.delete(realServerKey(op.rs));
        return { op, ok: true, alreadyDone: false };
      }
    }
  }

  private entry(vs: FakeVirtualServer): IpvsServiceEntry {
    return {
      family: ipFamilyOf(vs.address) ?? 4,
      protocol: PROTO[vs.protocol] ?? 0,
      address: vs.address,
      port: vs.port,
      fwmark: 0,
      scheduler: vs.scheduler,
      flags: vs.flags | 0x2,
      timeout: vs.timeout,
      netmask: 0xffffffff,
      peName: '',
      ...(vs.stats ? { stats: vs.stats } : {}),
    };
  }

  private dests(vs: FakeVirtualServer): IpvsDestEntry[] {
    return [...vs.realServers.values()].map((r) => ({
      family: ipFamilyOf(r.address) ?? 4,
      address: r.address,
      port: r.port,
      forward: 0,
      weight: r.weight,
      upperThreshold: 0,
      lowerThreshold: 0,
      activeConns: r.activeConns,
      inactiveConns: r.inactiveConns,
      persistConns: 0,
    }));
  }

  drivers(): KernelDrivers {
    const k = this;
    const addrResult = (): AddressBatchResult => ({ changed: [], unchanged: [], failed: [] });
    return {
      ipvs: {
        apply: async (ops: readonly IpvsOp[]) => {
          k.ipvsBatches.push([...ops]);
          return ops.map((op) => k.applyOne(op));
        },
        observe: async () => {
          k.dumps++;
          return [...k.ipvs.values()].map((vs) => ({
            protocol: vs.protocol,
            address: vs.address,
            port: vs.port,
            scheduler: vs.scheduler,
            flags: vs.flags,
            timeout: vs.timeout,
            realServers: [...vs.realServers.values()].map((r) => ({ ...r })),
            ...(vs.stats ? { stats: vs.stats } : {}),
          }));
        },
        listServices: async () => {
          k.dumps++;
          return [...k.ipvs.values()].map((vs) => k.entry(vs));
        },
        listDestinations: async (ref: { protocol: string | number; address: string; port: number }) => {
          const proto = typeof ref.protocol === 'number' ? Object.keys(PROTO).find((p) => PROTO[p] === ref.protocol)! : ref.protocol;
          const key = virtualServerKey({ protocol: proto, address: ref.address, port: ref.port });
          k.destinationReads.push(key);
          const vs = k.ipvs.get(key);
          return vs ? k.dests(vs) : [];
        },
      } as unknown as KernelDrivers['ipvs'],
      link: {
        ensureLink: async () => {
          const created = !k.linkExists;
          k.linkExists = true;
          return { index: 42, created };
        },
        deleteLink: async () => {
          const had = k.linkExists;
          k.linkExists = false;
          k.addresses.clear();
          return had;
        },
        addAddresses: async (list: readonly string[]) => {
          const r = addrResult();
          for (const a of list) {
            const c = canonicalIP(a) ?? a;
            if (!k.linkExists) r.failed.push({ address: c, error: new KernelError('add-address', 'ENODEV', { code: 'ENODEV' }) });
            else if (k.addresses.has(c)) r.unchanged.push(c);
            else {
              k.addresses.add(c);
              r.changed.push(c);
            }
          }
          return r;
        },
        deleteAddresses: async (list: readonly string[]) => {
          const r = addrResult();
          for (const a of list) {
            const c = canonicalIP(a) ?? a;
            if (k.addresses.delete(c)) r.changed.push(c);
            else r.unchanged.push(c);
          }
          return r;
        },
        listAddresses: async () => {
          k.addressDumps++;
          return [...k.addresses];
        },
        localAddressesExcept: async () => [...k.nodeAddresses],
      } as unknown as KernelDrivers['link'],
      ipset: {
        observe: async () => structuredClone(k.ipsets),
        apply: async (ops: readonly IpsetOp[]): Promise<IpsetOpsReport> => {
          const touched = new Map<string, Set<string>>();
          const entriesOf = (name: string) => {
            let e = touched.get(name);
            if (!e) touched.set(name, (e = new Set(k.ipsets[name]!.entries)));
            return e;
          };
          for (const op of ops) {
            if (op.kind === 'ipset-create') k.ipsets[op.set] ??= { type: op.type, family: op.family, entries: [] };
            else if (op.kind === 'ipset-destroy') {
              delete k.ipsets[op.set];
              touched.delete(op.set);
            } else if (k.ipsets[op.set]) {
              if (op.kind === 'ipset-add') entriesOf(op.set).add(op.entry);
              else entriesOf(op.set).delete(op.entry);
            }
          }
          for (const [name, e] of touched) if (k.ipsets[name]) k.ipsets[name]!.entries = [...e].sort();
          return { results: ops.map((op) => ({ op, ok: true })), restores: ops.length ? 1 : 0, lines: ops.length, replaced: [], durationMs: 0 };
        },
      } as unknown as KernelDrivers['ipset'],
      iptables: {
        hasRandomFully: true,
        observe: async () => structuredClone(k.iptables),
        restore: async (family: 4 | 6 | 'ipv4' | 'ipv6', table: 'nat' | 'filter', text: string) => {
          const f = family === 4 || family === 'ipv4' ? 4 : 6;
          k.iptables[f === 4 ? 'ipv4' : 'ipv6'][table] = normaliseRestoreTable(text, f).text;
          return 0;
        },
        ensureJumpRules: async () => ({ inserted: [], chainsCreated: [], checks: 0 }),
        cleanup: async () => ({ jumpRulesDeleted: [], chainsDeleted: [], chainsKept: [], errors: [] }),
      } as unknown as KernelDrivers['iptables'],
      close: () => {},
    };
  }
}
