// The dummy interface kube-ipvs0 and the node's addresses, over rtnetlink (the `netlink` package's
// RtNetlinkSocket). Mirrors kube-proxy's pkg/proxy/ipvs/netlink_linux.go (reference kube-proxy-ipvs.md §4.5):
// - ensureLink(): EnsureDummyDevice — create a `dummy` link if no link of that name exists. The kernel's dummy
//   driver makes it NOARP and we never set it UP: kube-proxy leaves kube-ipvs0 DOWN/NOARP on purpose (#107662);
//   addresses on a down interface still get their local routes, which is all IPVS needs.
// - listAddresses(family): GetLocalAddresses(dev) — addresses of the link, only the given family, no loopback,
//   no IPv6 link-local (so the kernel's own fe80:: address is never "superfluous", #70113).
// - addAddresses / deleteAddresses: BindAddress / UnbindAddress as /32 or /128; EEXIST on add and
//   EADDRNOTAVAIL / ENOENT / ENXIO / ENODEV on delete mean the kernel already is as asked. Many changes are
//   pipelined on the socket rather than awaited one by one.
// - localAddressesExcept(family): GetAllLocalAddressesExcept(dev) — every address of every other link, same
//   filter: the node addresses NodePorts are served on.
// - deleteLink(): DeleteDummyDevice (--cleanup).
// All requests on a socket go through a NetlinkGate: dumps alone, other requests pipelined.

import { AttrStream, createRtNetlink, FlagsNew, ifla, type RtNetlinkSocket } from 'netlink';
import { compareIPs, formatIP, isLinkLocalUnicast, isLoopback, parseIP, type IPFamily, type ParsedIP } from '../model/ip.js';
import { DUMMY_INTERFACE } from '../model/state.js';
import { silentLogger, type Logger } from '../util/log.js';
import { KernelError } from './errors.js';
import { NetlinkGate } from './rtnl-gate.js';
import { hasErrno, kernelErrorFrom } from './rtnl-errno.js';

const AF_INET = 2;
const AF_INET6 = 10;

export interface AddressFailure {
  address: string;
  error: KernelError;
}

export interface AddressBatchResult {
  /** The kernel changed (added / deleted). */
  changed: string[];
  /** Already as asked (EEXIST on add; not found on delete). */
  unchanged: string[];
  failed: AddressFailure[];
}

export interface LinkDriverOptions {
  /** Interface name (default kube-ipvs0). */
  ifname?: string;
  logger?: Logger;
  /** Use this socket instead of opening one (it is then not closed by close()). */
  socket?: RtNetlinkSocket;
  /** Requests in flight at once for batches (default 256). */
  maxInFlight?: number;
}

/** kube-proxy's isValidForSet: the family asked for, no loopback, no IPv6 link-local. */
export function isBindableAddress(ip: ParsedIP, family?: IPFamily): boolean {
  if (family !== undefined && ip.family !== family) return false;
  if (ip.family === 6 && isLinkLocalUnicast(ip)) return false;
  return !isLoopback(ip);
}

function linkInfoDummy(): Buffer {
  const s = new AttrStream();
  s.emit(ifla.formatInfo({ kind: 'dummy' }));
  return Buffer.concat(s.bufs);
}

function sortedUnique(addresses: Iterable<string>): string[] {
  return [...new Set(addresses)].sort(compareIPs);
}

export class LinkDriver {
  readonly ifname: string;
  private readonly rtnl: RtNetlinkSocket;
  private readonly ownsSocket: boolean;
  private readonly gate: NetlinkGate;
  private readonly log: Logger;

  constructor(opts: LinkDriverOptions = {}) {
    this.ifname = opts.ifname ?? DUMMY_INTERFACE;
    this.ownsSocket = !opts.socket;
    this.rtnl = opts.socket ?? createRtNetlink();
    this.gate = new NetlinkGate(opts.maxInFlight ?? 256);
    this.log = opts.logger ?? silentLogger;
  }

  close(): void {
    if (this.ownsSocket) this.rtnl.socket.close();
  }

  /** The link's index, or undefined when no link has that name. */
  async linkIndex(ifname = this.ifname): Promise<number | undefined> {
    try {
      const [l] = await this.gate.shared(() => this.rtnl.getLink({}, { ifname }));
      return l?.data.index;
    } catch (e) {
      if (hasErrno(e, 'ENODEV')) return undefined;
      throw kernelErrorFrom(`get-link ${ifname}`, e);
    }
  }

  /** Creates the dummy link unless a link of that name exists (whatever its kind, as kube-proxy). */
  async ensureLink(): Promise<{ index: number; created: boolean }> {
    const existing = await this.linkIndex();
    if (existing !== undefined) return { index: existing, created: false };
    let created = true;
    try {
      await this.gate.shared(() => this.rtnl.newLink({}, { ifname: this.ifname, linkinfo: linkInfoDummy() },
        { flags: FlagsNew.CREATE | FlagsNew.EXCL }));
    } catch (e) {
      if (!hasErrno(e, 'EEXIST')) throw kernelErrorFrom(`create-link ${this.ifname}`, e);
      created = false; // someone else created it meanwhile
    }
    const index = await this.linkIndex();
    if (index === undefined) throw new KernelError(`create-link ${this.ifname}`, 'link missing right after creation');
    if (created) this.log.info({ ifname: this.ifname, index }, 'Created dummy interface');
    return { index, created };
  }

  /** Deletes the link; false when it did not exist. */
  async deleteLink(): Promise<boolean> {
    const index = await this.linkIndex();
    if (index === undefined) return false;
    try {
      await this.gate.shared(() => this.rtnl.delLink({ index }));
    } catch (e) {
      if (hasErrno(e, 'ENODEV')) return false;
      throw kernelErrorFrom(`delete-link ${this.ifname}`, e);
    }
    this.log.info({ ifname: this.ifname }, 'Deleted dummy interface');
    return true;
  }

  /** Every address on the host (one dump), as [link index, parsed address]. */
  private async dumpAddresses(): Promise<[number, ParsedIP][]> {
    let msgs;
    try {
      msgs = await this.gate.exclusive(() => this.rtnl.getAddresses());
    } catch (e) {
      throw kernelErrorFrom('list-addresses', e);
    }
    const out: [number, ParsedIP][] = [];
    for (const m of msgs) {
      // IFA_LOCAL is the interface's own address (IFA_ADDRESS is the peer on point-to-point links); IPv6
      // sends only IFA_ADDRESS unless there is a peer.
      const raw = m.attrs.local ?? m.attrs.address;
      if (!raw || m.data.index === undefined || (raw.length !== 4 && raw.length !== 16)) continue;
      const ip = parseIP(formatIP(raw));
      if (ip) out.push([m.data.index, ip]);
    }
    return out;
  }

  /** Addresses of the link (canonical, sorted), filtered like kube-proxy; [] when the link does not exist. */
  async listAddresses(family?: IPFamily): Promise<string[]> {
    const index = await this.linkIndex();
    if (index === undefined) return [];
    const all = await this.dumpAddresses();
    return sortedUnique(all.filter(([i, ip]) => i === index && isBindableAddress(ip, family)).map(([, ip]) => formatIP(ip.bytes)));
  }

  /** Addresses of every other link (canonical, sorted, unique), filtered like kube-proxy: the node addresses. */
  async localAddressesExcept(family?: IPFamily, ifname = this.ifname): Promise<string[]> {
    const skip = await this.linkIndex(ifname);
    const all = await this.dumpAddresses();
    return sortedUnique(all.filter(([i, ip]) => i !== skip && isBindableAddress(ip, family)).map(([, ip]) => formatIP(ip.bytes)));
  }

  async addAddresses(addresses: readonly string[]): Promise<AddressBatchResult> {
    return this.changeAddresses('add', addresses);
  }

  async deleteAddresses(addresses: readonly string[]): Promise<AddressBatchResult> {
    return this.changeAddresses('delete', addresses);
  }

  /** Adds one address; true when the kernel changed, false when it was there. Throws KernelError. */
  async addAddress(address: string): Promise<boolean> {
    return this.single('add', address);
  }

  /** Deletes one address; true when the kernel changed, false when it was not there. Throws KernelError. */
  async deleteAddress(address: string): Promise<boolean> {
    return this.single('delete', address);
  }

  private async single(kind: 'add' | 'delete', address: string): Promise<boolean> {
    const r = await this.changeAddresses(kind, [address]);
    if (r.failed.length) throw r.failed[0]!.error;
    return r.changed.length === 1;
  }

  private async changeAddresses(kind: 'add' | 'delete', addresses: readonly string[]): Promise<AddressBatchResult> {
    const result: AddressBatchResult = { changed: [], unchanged: [], failed: [] };
    if (addresses.length === 0) return result;
    const op = (a: string) => `${kind}-address ${this.ifname} ${a}`;
    const index = await this.linkIndex();
    if (index === undefined) {
      if (kind === 'delete') {
        result.unchanged.push(...addresses); // no link, so certainly no address on it
      } else {
        for (const a of addresses) {
          result.failed.push({ address: a, error: new KernelError(op(a), `no link named ${this.ifname}`, { code: 'ENODEV', errno: 19 }) });
        }
      }
      return result;
    }
    await Promise.all(addresses.map(async (address) => {
      const ip = parseIP(address);
      if (!ip) {
        result.failed.push({ address, error: new KernelError(op(address), 'not an IP address', { code: 'EINVAL', errno: 22 }) });
        return;
      }
      const canonical = formatIP(ip.bytes);
      const data = { family: ip.family === 4 ? AF_INET : AF_INET6, prefixlen: ip.family === 4 ? 32 : 128, index };
      const bytes = Buffer.from(ip.bytes);
      const attrs = { local: bytes, address: bytes };
      try {
        if (kind === 'add') {
          await this.gate.shared(() => this.rtnl.newAddress(data, attrs, { flags: FlagsNew.CREATE | FlagsNew.EXCL }));
        } else {
          await this.gate.shared(() => this.rtnl.delAddress(data, attrs));
        }
        result.changed.push(canonical);
      } catch (e) {
        const done = kind === 'add' ? hasErrno(e, 'EEXIST') : hasErrno(e, 'EADDRNOTAVAIL', 'ENOENT', 'ENXIO', 'ENODEV');
        if (done) result.unchanged.push(canonical);
        else result.failed.push({ address: canonical, error: kernelErrorFrom(op(canonical), e) });
      }
    }));
    result.changed.sort(compareIPs);
    result.unchanged.sort(compareIPs);
    result.failed.sort((a, b) => compareIPs(a.address, b.address));
    this.log.debug({ ifname: this.ifname, changed: result.changed.length, unchanged: result.unchanged.length,
      failed: result.failed.length }, kind === 'add' ? 'Bound addresses' : 'Unbound addresses');
    return result;
  }
}
