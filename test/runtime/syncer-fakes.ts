// A fake kernel behind the driver interfaces the syncer and executor use, for UNIT tests of their error paths and
// bookkeeping (failures injected by op, calls recorded). The real drivers against the real kernel are tested in
// test/kernel/sync/*.ktest.ts; nothing here stands in for those.

import { KernelError } from '../../src/kernel/errors.js';
import type { IpvsOp, IpvsOpResult } from '../../src/kernel/ipvs/ops.js';
import { describeIpvsOp } from '../../src/kernel/ipvs/ops.js';
import type { IpvsDestEntry, IpvsServiceEntry } from '../../src/kernel/ipvs/codec.js';
import { normaliseRestoreTable } from '../../src/kernel/iptables-normalise.js';
import { compareIPs } from '../../src/model/ip.js';
import type { IpsetState, NodeState, RealServer, VirtualServer } from '../../src/model/state.js';
import { realServerKey, virtualServerKey } from '../../src/model/state.js';
import type { IpsetOp, IpsetOpsReport } from '../../src/runtime/executor-ipset.js';
import type { KernelDrivers } from '../../src/runtime/syncer-drivers.js';

const PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

export class FakeKernel {
  linkExists = false;
  vs = new Map<string, VirtualServer>();
  addresses = new Set<string>();
  ipsets: Record<string, IpsetState> = {};
  iptables: NodeState['iptables'] = { ipv4: { nat: '', filter: '' }, ipv6: { nat: '', filter: '' } };
  nodeAddresses = ['192.168.1.10'];
  /** Failures to inject: IPVS ops by describeIpvsOp ("add-virtual-server TCP/10.96.0.10:80"), other ops by plan id,
   *  drivers by name ("ensure-link", "observe-ipvs", "restore ipv4 nat", "ensure-jump-rules"). */
  fail = new Set<string>();
  /** Every driver call, in order ("ipvs.apply 12", "ipset.apply 3", "iptables.restore ipv4 nat", ...). */
  calls: string[] = [];

  private ipvsApply(ops: readonly IpvsOp[]): IpvsOpResult[] {
    this.calls.push(`ipvs.apply ${ops.length}`);
    return ops.map((op): IpvsOpResult => {
      const name = describeIpvsOp(op);
      const err = (code: string) => ({ op, ok: false as const, error: new KernelError(name, code, { code }) });
      if (this.fail.has(name)) return err('EINVAL');
      const key = virtualServerKey(op.vs);
      const vs = this.vs.get(key);
      switch (op.kind) {
        case 'add-virtual-server':
          if (vs) return { op, ok: true, alreadyDone: true };
          this.vs.set(key, { ...op.vs, realServers: [] });
          return { op, ok: true, alreadyDone: false };
        case 'update-virtual-server':
          if (!vs) return err('ESRCH');
          Object.assign(vs, { scheduler: op.vs.scheduler, flags: op.vs.flags, timeout: op.vs.timeout });
          return { op, ok: true, alreadyDone: false };
        case 'delete-virtual-server':
          if (!vs) return { op, ok: true, alreadyDone: true };
          this.vs.delete(key);
          return { op, ok: true, alreadyDone: false };
        case 'add-real-server': {
          if (!vs) return err('ESRCH');
          if (vs.realServers.some((r) => realServerKey(r) === realServerKey(op.rs))) return { op, ok: true, alreadyDone: true };
          vs.realServers.push({ address: op.rs.address, port: op.rs.port, weight: op.rs.weight, activeConns: 0, inactiveConns: 0 });
          return { op, ok: true, alreadyDone: false };
        }
        case 'update-real-server': {
          const rs = vs?.realServers.find((r) => realServerKey(r) === realServerKey(op.rs));
          if (!rs) return err('ENOENT');
          rs.weight = op.rs.weight;
          return { op, ok: true, alreadyDone: false };
        }
        case 'delete-real-server': {
          if (!vs) return { op, ok: true, alreadyDone: true };
          const before = vs.realServers.length;
          vs.realServers = vs.realServers.filter((r) => realServerKey(r) !== realServerKey(op.rs));
          return { op, ok: true, alreadyDone: before === vs.realServers.length };
        }
      }
    });
  }

  private ipsetApply(ops: readonly IpsetOp[], dependants: (id: string) => Iterable<string>): IpsetOpsReport {
    this.calls.push(`ipset.apply ${ops.length}`);
    const report: IpsetOpsReport = { results: [], restores: 1, lines: ops.length, replaced: [], durationMs: 0 };
    const dropped = new Set<string>();
    for (const op of ops) {
      if (dropped.has(op.id)) continue;
      if (this.fail.has(op.id)) {
        report.results.push({ op, ok: false, error: new KernelError(op.id, 'refused') });
        for (const d of dependants(op.id)) dropped.add(d);
        continue;
      }
      if (op.kind === 'ipset-create') this.ipsets[op.set] ??= { type: op.type, family: op.family, entries: [] };
      else if (op.kind === 'ipset-add') this.ipsets[op.set]!.entries = [...new Set([...this.ipsets[op.set]!.entries, op.entry])].sort();
      else if (op.kind === 'ipset-del') this.ipsets[op.set]!.entries = this.ipsets[op.set]!.entries.filter((e) => e !== op.entry);
      else delete this.ipsets[op.set];
      report.results.push({ op, ok: true });
    }
    return report;
  }

  private guard(what: string): void {
    this.calls.push(what);
    if (this.fail.has(what)) throw new KernelError(what, 'injected failure', { code: 'EPERM' });
  }

  drivers(): KernelDrivers {
    const k = this;
    const services = (): IpvsServiceEntry[] =>
      [...k.vs.values()].map((v) => ({
        family: v.address.includes(':') ? 6 : 4, protocol: PROTO[v.protocol], address: v.address, port: v.port, fwmark: 0,
        scheduler: v.scheduler, flags: v.flags | 2, timeout: v.timeout, netmask: 0, peName: '',
      }) as IpvsServiceEntry);
    const dests = (rs: RealServer[]): IpvsDestEntry[] =>
      rs.map((r) => ({ family: r.address.includes(':') ? 6 : 4, address: r.address, port: r.port, forward: 0, weight: r.weight,
        upperThreshold: 0, lowerThreshold: 0, activeConns: r.activeConns ?? 0, inactiveConns: r.inactiveConns ?? 0, persistConns: 0 }) as IpvsDestEntry);
    return {
      ipvs: {
        observe: async () => {
          k.guard('observe-ipvs');
          return [...k.vs.values()].map((v) => ({ ...v, realServers: v.realServers.map((r) => ({ ...r })) }));
        },
        listServices: async () => {
          k.guard('list-services');
          return services();
        },
        listDestinations: async (ref) => {
          const key = virtualServerKey(ref as VirtualServer);
          k.calls.push(`list-destinations ${key}`);
          return dests(k.vs.get(key)?.realServers ?? []);
        },
        apply: async (ops) => k.ipvsApply(ops),
      },
      link: {
        ensureLink: async () => {
          k.guard('ensure-link');
          const created = !k.linkExists;
          k.linkExists = true;
          return { index: 7, created };
        },
        deleteLink: async () => {
          k.guard('delete-link');
          const had = k.linkExists;
          k.linkExists = false;
          k.addresses.clear();
          return had;
        },
        listAddresses: async () => {
          k.guard('list-addresses');
          return [...k.addresses].sort(compareIPs);
        },
        localAddressesExcept: async () => {
          k.guard('node-addresses');
          return [...k.nodeAddresses];
        },
        addAddresses: async (list) => {
          k.calls.push(`link.addAddresses ${list.length}`);
          const r = { changed: [] as string[], unchanged: [] as string[], failed: [] as { address: string; error: KernelError }[] };
          for (const a of list) {
            if (k.fail.has(`add-address kube-ipvs0 ${a}`)) r.failed.push({ address: a, error: new KernelError(`add-address kube-ipvs0 ${a}`, 'EADDRNOTAVAIL') });
            else if (k.addresses.has(a)) r.unchanged.push(a);
            else (k.addresses.add(a), r.changed.push(a));
          }
          return r;
        },
        deleteAddresses: async (list) => {
          k.calls.push(`link.deleteAddresses ${list.length}`);
          const r = { changed: [] as string[], unchanged: [] as string[], failed: [] as { address: string; error: KernelError }[] };
          for (const a of list) (k.addresses.delete(a) ? r.changed : r.unchanged).push(a);
          return r;
        },
      },
      ipset: {
        observe: async () => {
          k.guard('observe-ipsets');
          return JSON.parse(JSON.stringify(k.ipsets)) as Record<string, IpsetState>;
        },
        apply: async (ops, dependants) => k.ipsetApply(ops, dependants ?? (() => [])),
      },
      iptables: {
        observe: async () => {
          k.guard('observe-iptables');
          return JSON.parse(JSON.stringify(k.iptables)) as NodeState['iptables'];
        },
        restore: async (family, table, text) => {
          const fam = family === 4 ? 'ipv4' : 'ipv6';
          k.guard(`restore ${fam} ${table}`);
          k.iptables[fam][table] = normaliseRestoreTable(text, fam === 'ipv4' ? 4 : 6).text;
          return text.split('\n').length;
        },
        ensureJumpRules: async () => {
          k.guard('ensure-jump-rules');
          return { inserted: [], chainsCreated: [], checks: 0 };
        },
        cleanup: async () => {
          k.guard('iptables-cleanup');
          return { jumpRulesDeleted: [], chainsDeleted: [], chainsKept: [], errors: [] };
        },
        hasRandomFully: true,
      },
      close: () => {},
    };
  }
}
