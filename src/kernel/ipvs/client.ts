// kube-ipvs's IPVS driver: the kernel's IPVS table through generic netlink, with model types at the edge.
//  - apply(ops): many requests per sendmsg, one result per op (idempotent adds/deletes flagged alreadyDone);
//  - observe(): the whole table as the plan document's VirtualServer[] (one service dump + one dest dump each);
//  - single operations (add/edit/delete service and destination, flush, zero, timeouts, info) that throw
//    KernelError with the errno name, for tools and tests.
// Needs CAP_NET_ADMIN in the network namespace it runs in (every IPVS command is GENL_ADMIN_PERM).

import { compareIPs, type IPFamily } from '../../model/ip.js';
import { IPVS_SVC_FLAGS, virtualServerKey, type Protocol, type RealServer, type VirtualServer } from '../../model/state.js';
import { KernelError } from '../errors.js';
import { NetlinkDecodeError } from '../netlink/attributes.js';
import { errnoName } from '../netlink/errno.js';
import { resolveFamily, type GenlFamily } from '../netlink/family.js';
import type { NetlinkMessage } from '../netlink/messages.js';
import { openNetlinkSocket } from '../netlink/socket.js';
import { NetlinkError, NetlinkTransport, type NetlinkSocketLike, type RequestSpec, type TransportOptions } from '../netlink/transport.js';
import {
  decodeDest,
  decodeInfo,
  decodeService,
  decodeTimeouts,
  defaultNetmask,
  encode,
  parseAddress,
  type IpvsDest,
  type IpvsDestEntry,
  type IpvsInfo,
  type IpvsService,
  type IpvsServiceEntry,
  type IpvsServiceId,
  type IpvsTimeouts,
} from './codec.js';
import { FORWARD_METHODS, IPPROTO, IPVS_GENL_NAME } from './constants.js';
import {
  ALREADY_DONE,
  describeIpvsOp,
  type IpvsOp,
  type IpvsOpResult,
  type RealServerId,
  type RealServerSpec,
  type VirtualServerId,
  type VirtualServerSpec,
} from './ops.js';

export interface IpvsClientOptions extends TransportOptions {
  /** A socket to use instead of a new kernel socket (tests: a fake kernel at `peerPort`). */
  socket?: NetlinkSocketLike;
  /** Skip the nlctrl lookup (tests against a fake kernel). */
  familyId?: number;
  /** SO_RCVBUF to ask for (default 32 MiB; capped by net.core.rmem_max). */
  recvBufferSize?: number;
}

/** A virtual server in either vocabulary: the model's (protocol name) or the codec's (IPPROTO, fwmark). */
export type ServiceRef = VirtualServerId | IpvsServiceId;

const PROTO_NUMBER: Readonly<Record<Protocol, number>> = { TCP: IPPROTO.TCP, UDP: IPPROTO.UDP, SCTP: IPPROTO.SCTP };
const PROTO_NAME = new Map<number, Protocol>([
  [IPPROTO.TCP, 'TCP'],
  [IPPROTO.UDP, 'UDP'],
  [IPPROTO.SCTP, 'SCTP'],
]);

/** Invalid input found before anything reached the kernel (reported like a kernel EINVAL). */
class InvalidOp extends Error {}

function familyOf(address: string): IPFamily {
  const ip = parseAddress(address);
  if (!ip) throw new InvalidOp(`not an IP address: ${JSON.stringify(address)}`);
  return ip.family;
}

/** The codec's service identity for a model virtual server. */
export function toServiceId(ref: ServiceRef): IpvsServiceId {
  if (typeof ref.protocol === 'number') return ref as IpvsServiceId;
  const vs = ref as VirtualServerId;
  const protocol = PROTO_NUMBER[vs.protocol];
  if (protocol === undefined) throw new InvalidOp(`unknown protocol ${JSON.stringify(vs.protocol)}`);
  return { family: familyOf(vs.address), protocol, address: vs.address, port: vs.port, fwmark: 0 };
}

export function toService(vs: VirtualServerSpec): IpvsService {
  const id = toServiceId(vs);
  return {
    family: id.family,
    protocol: id.protocol,
    address: id.address,
    port: id.port,
    fwmark: id.fwmark,
    scheduler: vs.scheduler,
    // HASHED is the kernel's own bookkeeping bit, never ours to set.
    flags: vs.flags & ~IPVS_SVC_FLAGS.HASHED,
    timeout: vs.timeout,
    netmask: vs.netmask ?? defaultNetmask(id.family),
    peName: vs.peName ?? '',
  };
}

export function toDest(rs: RealServerSpec): IpvsDest {
  const forward = FORWARD_METHODS[rs.forward ?? 'masq'];
  if (forward === undefined) throw new InvalidOp(`unknown forwarding method ${JSON.stringify(rs.forward)}`);
  return {
    family: familyOf(rs.address),
    address: rs.address,
    port: rs.port,
    forward,
    weight: rs.weight,
    upperThreshold: rs.upperThreshold ?? 0,
    lowerThreshold: rs.lowerThreshold ?? 0,
  };
}

/**
 * The generic netlink payload that carries an op. `ids` remembers each virtual server object's identity
 * within a batch: a plan repeats the same object for every real server of a virtual server.
 */
export function encodeOp(op: IpvsOp, ids?: Map<object, IpvsServiceId>): Buffer {
  const id = (vs: VirtualServerId): IpvsServiceId => {
    let x = ids?.get(vs);
    if (!x) {
      x = toServiceId(vs);
      ids?.set(vs, x);
    }
    return x;
  };
  switch (op.kind) {
    case 'add-virtual-server':
      return encode.newService(toService(op.vs));
    case 'update-virtual-server':
      return encode.setService(toService(op.vs));
    case 'delete-virtual-server':
      return encode.delService(id(op.vs));
    case 'add-real-server':
      return encode.newDest(id(op.vs), toDest(op.rs));
    case 'update-real-server':
      return encode.setDest(id(op.vs), toDest(op.rs));
    case 'delete-real-server': {
      const rs: RealServerId = op.rs;
      return encode.delDest(id(op.vs), { address: rs.address, port: rs.port, family: familyOf(rs.address) });
    }
  }
}

/** Plan-document order: family, address, protocol, port (virtual servers); address, port (real servers). */
export function compareVirtualServers(a: VirtualServerId, b: VirtualServerId): number {
  return compareIPs(a.address, b.address) || (a.protocol < b.protocol ? -1 : a.protocol > b.protocol ? 1 : 0) || a.port - b.port;
}

export function compareRealServers(a: RealServerId, b: RealServerId): number {
  return compareIPs(a.address, b.address) || a.port - b.port;
}

function describeRef(ref: ServiceRef): string {
  const id = toServiceId(ref);
  if (id.fwmark > 0) return `FWM/${id.fwmark}`;
  return virtualServerKey({ protocol: PROTO_NAME.get(id.protocol) ?? `proto-${id.protocol}`, address: id.address, port: id.port });
}

function kernelError(op: string, errno: number, hint?: string): KernelError {
  const code = errnoName(errno);
  return new KernelError(op, hint ? `${code} (${hint})` : code, { errno, code });
}

/** Decodes kernel replies; bytes that do not parse become a KernelError EPROTO naming the op. */
function decoded<T>(op: string, decode: () => T): T {
  try {
    return decode();
  } catch (e) {
    if (e instanceof NetlinkDecodeError) throw new KernelError(op, `EPROTO (${e.message})`, { errno: 71, code: 'EPROTO' });
    throw e;
  }
}

export class IpvsClient {
  private constructor(
    private readonly transport: NetlinkTransport,
    /** The IPVS generic netlink family as resolved (id, version). */
    readonly family: GenlFamily,
  ) {}

  /** Opens a netlink socket and resolves the IPVS family; throws KernelError (ENOENT: no ip_vs in this kernel). */
  static async open(opts: IpvsClientOptions = {}): Promise<IpvsClient> {
    const socket = opts.socket ?? openNetlinkSocket(opts.recvBufferSize !== undefined ? { recvBufferSize: opts.recvBufferSize } : {});
    const transport = new NetlinkTransport(socket, opts);
    try {
      const family =
        opts.familyId !== undefined
          ? { id: opts.familyId, name: IPVS_GENL_NAME, version: 1, maxAttr: 0 }
          : await resolveFamily(transport, IPVS_GENL_NAME);
      return new IpvsClient(transport, family);
    } catch (e) {
      transport.close();
      if (e instanceof NetlinkError) {
        throw kernelError(`resolve-family ${IPVS_GENL_NAME}`, e.errno, e.errno === 2 ? 'is the ip_vs module loaded?' : undefined);
      }
      throw e;
    }
  }

  close(): void {
    this.transport.close();
  }

  /** Transport counters (sendmsg calls, messages, datagrams): lets tests prove batching. */
  get transportStats(): Readonly<NetlinkTransport['stats']> {
    return this.transport.stats;
  }

  // ------------------------------------------------------------------------------------------ low level

  private spec(payload: Buffer): RequestSpec {
    return { type: this.family.id, payload, headroom: true };
  }

  /** One acked request; returns its reply messages or throws KernelError named `op`. */
  private async call(op: string, payload: Buffer): Promise<NetlinkMessage[]> {
    const [res] = await this.transport.request([this.spec(payload)]);
    if (!res) throw kernelError(op, 5);
    if (res.errno !== 0) throw kernelError(op, res.errno);
    return res.replies;
  }

  private async dump(op: string, payload: Buffer): Promise<NetlinkMessage[]> {
    try {
      return await this.transport.dump(this.spec(payload));
    } catch (e) {
      if (e instanceof NetlinkError) throw kernelError(op, e.errno);
      throw e;
    }
  }

  private single(op: IpvsOp): Promise<void> {
    let payload: Buffer;
    try {
      payload = encodeOp(op);
    } catch (e) {
      return Promise.reject(new KernelError(describeIpvsOp(op), `EINVAL (${(e as Error).message})`, { code: 'EINVAL', errno: 22 }));
    }
    return this.call(describeIpvsOp(op), payload).then(() => undefined);
  }

  // ------------------------------------------------------------------------------------------ reads

  async getInfo(): Promise<IpvsInfo> {
    const [reply] = await this.call('get-info', encode.getInfo());
    if (!reply) throw kernelError('get-info', 61 /* ENODATA */);
    return decoded('get-info', () => decodeInfo(reply.payload));
  }

  /** Every virtual server as the kernel reports it (fwmark services too, flags with HASHED, stats). */
  async listServices(): Promise<IpvsServiceEntry[]> {
    const msgs = await this.dump('list-virtual-servers', encode.dumpServices());
    return decoded('list-virtual-servers', () => msgs.map((m) => decodeService(m.payload)));
  }

  /** The destinations of one virtual server, with connection counters and stats; [] if it does not exist. */
  async listDestinations(ref: ServiceRef): Promise<IpvsDestEntry[]> {
    const id = toServiceId(ref);
    const op = `list-real-servers ${describeRef(id)}`;
    const msgs = await this.dump(op, encode.dumpDests(id));
    return decoded(op, () => msgs.map((m) => decodeDest(m.payload, id.family)));
  }

  async getTimeouts(): Promise<IpvsTimeouts> {
    const [reply] = await this.call('get-timeouts', encode.getConfig());
    if (!reply) throw kernelError('get-timeouts', 61);
    return decoded('get-timeouts', () => decodeTimeouts(reply.payload));
  }

  /**
   * The whole table as plan-document virtual servers, sorted like the plan: flags without HASHED, real servers
   * with weight, connection counters and stats. Services kube-ipvs cannot express (fwmark, other protocols)
   * are left out: they are never kube-ipvs's and `listServices()` still shows them.
   */
  async observe(): Promise<VirtualServer[]> {
    const services = await this.listServices();
    const byKey = new Map<string, VirtualServer>();
    for (const s of services) {
      const vs = virtualServerOfEntry(s);
      if (!vs) continue;
      // A dump taken while the table changes may repeat an entry (the kernel resumes by index).
      byKey.set(`${vs.protocol}/${s.address}/${s.port}`, vs);
    }
    const list = [...byKey.values()];
    // All destination dumps queued at once: the transport still runs them one after the other, but sends each
    // as soon as the previous one is done.
    const allDests = await Promise.all(list.map((vs) => this.listDestinations(vs)));
    list.forEach((vs, i) => {
      const dests = allDests[i]!;
      const seen = new Map<string, RealServer>();
      for (const d of dests) {
        const rs: RealServer = {
          address: d.address,
          port: d.port,
          weight: d.weight,
          activeConns: d.activeConns,
          inactiveConns: d.inactiveConns,
        };
        if (d.stats) rs.stats = d.stats;
        seen.set(`${d.address}/${d.port}`, rs);
      }
      vs.realServers = [...seen.values()].sort(compareRealServers);
    });
    return list.sort(compareVirtualServers);
  }

  // ------------------------------------------------------------------------------------------ writes

  addService(vs: VirtualServerSpec): Promise<void> {
    return this.single({ kind: 'add-virtual-server', vs });
  }
  editService(vs: VirtualServerSpec): Promise<void> {
    return this.single({ kind: 'update-virtual-server', vs });
  }
  deleteService(vs: VirtualServerId): Promise<void> {
    return this.single({ kind: 'delete-virtual-server', vs });
  }
  addDestination(vs: VirtualServerId, rs: RealServerSpec): Promise<void> {
    return this.single({ kind: 'add-real-server', vs, rs });
  }
  editDestination(vs: VirtualServerId, rs: RealServerSpec): Promise<void> {
    return this.single({ kind: 'update-real-server', vs, rs });
  }
  deleteDestination(vs: VirtualServerId, rs: RealServerId): Promise<void> {
    return this.single({ kind: 'delete-real-server', vs, rs });
  }

  /** Deletes every virtual server (and so every real server) in this network namespace. */
  async flush(): Promise<void> {
    await this.call('flush', encode.flush());
  }

  /** Zeroes the counters of one virtual server (ESRCH if missing), or of all when none is given. */
  async zero(vs?: ServiceRef): Promise<void> {
    await this.call(vs ? `zero ${describeRef(vs)}` : 'zero', encode.zero(vs ? toServiceId(vs) : undefined));
  }

  /** `ipvsadm --set tcp tcpfin udp`: a 0 leaves that timeout as it is. */
  async setTimeouts(t: IpvsTimeouts): Promise<void> {
    await this.call(`set-timeouts tcp=${t.tcp} tcpfin=${t.tcpFin} udp=${t.udp}`, encode.setConfig(t));
  }

  /**
   * Applies ops in order, many per sendmsg, and returns one result per op (same order). The kernel runs the
   * messages of a datagram one after the other, so an add-virtual-server followed by its add-real-servers works
   * in a single batch. "Exists" on add and "no such" on delete are successes with alreadyDone = true.
   * Never throws for a kernel answer; invalid input becomes an EINVAL result for that op only.
   */
  async apply(ops: readonly IpvsOp[]): Promise<IpvsOpResult[]> {
    const results: IpvsOpResult[] = new Array(ops.length);
    const specs: RequestSpec[] = [];
    const index: number[] = [];
    const ids = new Map<object, IpvsServiceId>();
    ops.forEach((op, i) => {
      try {
        specs.push(this.spec(encodeOp(op, ids)));
        index.push(i);
      } catch (e) {
        const error = new KernelError(describeIpvsOp(op), `EINVAL (${(e as Error).message})`, { code: 'EINVAL', errno: 22 });
        results[i] = { op, ok: false, error };
      }
    });
    const answers = await this.transport.request(specs);
    answers.forEach((res, k) => {
      const i = index[k]!;
      const op = ops[i]!;
      if (res.errno === 0) {
        results[i] = { op, ok: true, alreadyDone: false };
        return;
      }
      const code = errnoName(res.errno);
      if (ALREADY_DONE[op.kind].includes(code)) results[i] = { op, ok: true, alreadyDone: true };
      else results[i] = { op, ok: false, error: kernelError(describeIpvsOp(op), res.errno) };
    });
    return results;
  }
}

/** A dumped service as a plan-document virtual server (no real servers yet); undefined for fwmark services and
 *  protocols the document cannot express: those are never kube-ipvs's. */
export function virtualServerOfEntry(s: IpvsServiceEntry): VirtualServer | undefined {
  const protocol = PROTO_NAME.get(s.protocol);
  if (s.fwmark > 0 || !protocol) return undefined;
  const vs: VirtualServer = {
    protocol,
    address: s.address,
    port: s.port,
    scheduler: s.scheduler,
    flags: s.flags & ~IPVS_SVC_FLAGS.HASHED,
    timeout: s.timeout,
    realServers: [],
  };
  if (s.stats) vs.stats = s.stats;
  return vs;
}
