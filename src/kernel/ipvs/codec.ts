// Encodes IPVS requests and decodes the kernel's replies (generic netlink family "IPVS").
// Wire rules (checked against captures from a real 6.1 kernel, test/fixtures/ipvs/):
//  - addresses: 16 bytes (union nf_inet_addr; IPv4 in the first 4), as ipvsadm sends and the kernel returns;
//  - ports (service, destination, tunnel): be16;
//  - netmask: IPv4 = the mask as be32 (0xffffffff); IPv6 = the prefix length as a host-order u32 (128);
//  - flags: struct ip_vs_flags {flags, mask}, both host u32; we always send mask 0xffffffff (set every bit);
//  - nests carry NLA_F_NESTED (ipvsadm's libnl sets it; the kernel accepts either and never sets it itself);
//  - every other number is host order (little-endian).
// Pure: bytes in, bytes out. Addresses are canonical text (model/ip.ts) on this side of the codec.
// Every encode.* payload has NLMSG_HDRLEN bytes of headroom in front of it (send it with headroom: true).

import { formatIP, parseIP, type IPFamily, type ParsedIP } from '../../model/ip.js';
import type { IpvsStats } from '../../model/state.js';
import { AttrIndex, AttrWriter, NetlinkDecodeError } from '../netlink/attributes.js';
import { GENL_HDRLEN, NLMSG_HDRLEN } from '../netlink/constants.js';
import {
  AF,
  IPVS_CMD,
  IPVS_CMD_ATTR,
  IPVS_DEST_ATTR,
  IPVS_GENL_VERSION,
  IPVS_INFO_ATTR,
  IPVS_STATS_ATTR,
  IPVS_SVC_ATTR,
  PE_NAME_MAXLEN,
  SCHED_NAME_MAXLEN,
} from './constants.js';

/** What identifies a virtual server: (protocol, address, port) or, when fwmark > 0, the firewall mark. */
export interface IpvsServiceId {
  family: IPFamily;
  /** IPPROTO_* number (6 TCP, 17 UDP, 132 SCTP); 0 for fwmark services. */
  protocol: number;
  /** Canonical text; the unspecified address for fwmark services. */
  address: string;
  port: number;
  /** 0 = not a fwmark service. */
  fwmark: number;
}

export interface IpvsService extends IpvsServiceId {
  scheduler: string;
  /** IP_VS_SVC_F_* as the kernel holds them (decoded entries include HASHED). */
  flags: number;
  /** Persistence timeout, seconds. */
  timeout: number;
  /** IPv4: 32-bit mask (0xffffffff); IPv6: prefix length (128). */
  netmask: number;
  /** Persistence engine ("sip"), "" for none. */
  peName: string;
}

export interface IpvsServiceEntry extends IpvsService {
  stats?: IpvsStats;
}

export interface IpvsTunnel {
  /** IPVS_TUN_TYPE (0 ipip, 1 gue, 2 gre). */
  type: number;
  port: number;
  /** IP_VS_TUNNEL_ENCAP_FLAG_* (0 nocsum, 1 csum, 2 remcsum). */
  flags: number;
}

export interface IpvsDest {
  /** Omitted on input = the service's family. */
  family?: IPFamily;
  address: string;
  port: number;
  /** IPVS_FWD method (0 masquerade). */
  forward: number;
  weight: number;
  upperThreshold: number;
  lowerThreshold: number;
  tunnel?: IpvsTunnel;
}

export interface IpvsDestEntry extends IpvsDest {
  family: IPFamily;
  activeConns: number;
  inactiveConns: number;
  persistConns: number;
  stats?: IpvsStats;
}

export interface IpvsInfo {
  /** IP_VS_VERSION_CODE, e.g. 0x010201. */
  versionCode: number;
  /** "1.2.1" */
  version: string;
  connTableSize: number;
}

/** Connection timeouts in seconds; on SET, 0 leaves a value as it is (the kernel's rule). */
export interface IpvsTimeouts {
  tcp: number;
  tcpFin: number;
  udp: number;
}

const afOf = (family: IPFamily): number => (family === 4 ? AF.INET : AF.INET6);
const familyOfAf = (af: number): IPFamily => {
  if (af === AF.INET) return 4;
  if (af === AF.INET6) return 6;
  throw new NetlinkDecodeError(`unknown address family ${af}`);
};

/**
 * parseIP with a memory: a sync encodes each virtual server's address once per real server, and the same
 * addresses sync after sync. Bounded so a churning cluster cannot grow it without limit.
 */
const parsed = new Map<string, ParsedIP | undefined>();
export function parseAddress(text: string): ParsedIP | undefined {
  let ip = parsed.get(text);
  if (ip === undefined && !parsed.has(text)) {
    if (parsed.size >= 200_000) parsed.clear();
    ip = parseIP(text);
    parsed.set(text, ip);
  }
  return ip;
}

/** Address bytes (4 or 16) of a family; throws on text that is no address of the family (a caller's bug). */
export function addressBytes(address: string, family: IPFamily): Uint8Array {
  const ip = parseAddress(address);
  if (!ip || ip.family !== family) throw new RangeError(`not an IPv${family} address: ${JSON.stringify(address)}`);
  return ip.bytes;
}

function addressText(data: Buffer, family: IPFamily): string {
  const n = family === 4 ? 4 : 16;
  if (data.length < n) throw new NetlinkDecodeError(`address of ${data.length} bytes for IPv${family}`);
  return formatIP(Uint8Array.prototype.slice.call(data, 0, n));
}

export const defaultNetmask = (family: IPFamily): number => (family === 4 ? 0xffffffff : 128);

function checkName(kind: string, name: string, max: number): void {
  if (name.length >= max) throw new RangeError(`${kind} name too long (max ${max - 1}): ${JSON.stringify(name)}`);
}

// ---------------------------------------------------------------------------------------------- encoding

function writeServiceId(w: AttrWriter, s: IpvsServiceId): void {
  w.u16(IPVS_SVC_ATTR.AF, afOf(s.family));
  if (s.fwmark > 0) {
    w.u32(IPVS_SVC_ATTR.FWMARK, s.fwmark);
  } else {
    w.u16(IPVS_SVC_ATTR.PROTOCOL, s.protocol);
    w.bytesPadded(IPVS_SVC_ATTR.ADDR, addressBytes(s.address, s.family), 16);
    w.be16(IPVS_SVC_ATTR.PORT, s.port);
  }
}

function writeService(w: AttrWriter, s: IpvsService): void {
  writeServiceId(w, s);
  checkName('scheduler', s.scheduler, SCHED_NAME_MAXLEN);
  w.string(IPVS_SVC_ATTR.SCHED_NAME, s.scheduler);
  if (s.peName) {
    checkName('persistence engine', s.peName, PE_NAME_MAXLEN);
    w.string(IPVS_SVC_ATTR.PE_NAME, s.peName);
  }
  w.u32s(IPVS_SVC_ATTR.FLAGS, s.flags, 0xffffffff); // struct ip_vs_flags {flags, mask}
  w.u32(IPVS_SVC_ATTR.TIMEOUT, s.timeout);
  if (s.family === 4) w.be32(IPVS_SVC_ATTR.NETMASK, s.netmask);
  else w.u32(IPVS_SVC_ATTR.NETMASK, s.netmask);
}

function writeDest(w: AttrWriter, d: IpvsDest, serviceFamily: IPFamily, full: boolean): void {
  const family = d.family ?? serviceFamily;
  w.u16(IPVS_DEST_ATTR.ADDR_FAMILY, afOf(family));
  w.bytesPadded(IPVS_DEST_ATTR.ADDR, addressBytes(d.address, family), 16);
  w.be16(IPVS_DEST_ATTR.PORT, d.port);
  if (!full) return;
  w.u32(IPVS_DEST_ATTR.FWD_METHOD, d.forward);
  w.u32(IPVS_DEST_ATTR.WEIGHT, d.weight);
  if (d.tunnel) {
    w.u8(IPVS_DEST_ATTR.TUN_TYPE, d.tunnel.type);
    w.be16(IPVS_DEST_ATTR.TUN_PORT, d.tunnel.port);
    w.u16(IPVS_DEST_ATTR.TUN_FLAGS, d.tunnel.flags);
  }
  w.u32(IPVS_DEST_ATTR.U_THRESH, d.upperThreshold);
  w.u32(IPVS_DEST_ATTR.L_THRESH, d.lowerThreshold);
}

/** genlmsghdr of each command: {cmd, IPVS_GENL_VERSION, 0, 0}. */
const GENL_HEADERS = Array.from({ length: 32 }, (_, cmd) => Uint8Array.of(cmd, IPVS_GENL_VERSION, 0, 0));

/**
 * A writer for one request: NLMSG_HDRLEN bytes of headroom (the transport writes the nlmsghdr there, see
 * RequestSpec.headroom), then the genlmsghdr; attributes follow. One buffer per message, no copies.
 */
const writer = (cmd: number): AttrWriter => new AttrWriter(192, true, NLMSG_HDRLEN).raw(GENL_HEADERS[cmd]!);
const genl = (w: AttrWriter): Buffer => w.body();

/** Generic netlink payloads (genlmsghdr + attributes) for each IPVS request; the transport adds nlmsghdr. */
export const encode = {
  newService: (s: IpvsService): Buffer =>
    genl(writer(IPVS_CMD.NEW_SERVICE).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeService(w, s))),
  setService: (s: IpvsService): Buffer =>
    genl(writer(IPVS_CMD.SET_SERVICE).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeService(w, s))),
  delService: (s: IpvsServiceId): Buffer =>
    genl(writer(IPVS_CMD.DEL_SERVICE).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeServiceId(w, s))),
  /** One service (doit); the kernel answers ESRCH when it does not exist. */
  getService: (s: IpvsServiceId): Buffer =>
    genl(writer(IPVS_CMD.GET_SERVICE).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeServiceId(w, s))),
  /** Dump request for all services: no attributes (as ipvsadm). */
  dumpServices: (): Buffer => genl(writer(IPVS_CMD.GET_SERVICE)),
  newDest: (s: IpvsServiceId, d: IpvsDest): Buffer => destMessage(IPVS_CMD.NEW_DEST, s, d, true),
  setDest: (s: IpvsServiceId, d: IpvsDest): Buffer => destMessage(IPVS_CMD.SET_DEST, s, d, true),
  delDest: (s: IpvsServiceId, d: Pick<IpvsDest, 'address' | 'port' | 'family'>): Buffer =>
    destMessage(IPVS_CMD.DEL_DEST, s, d as IpvsDest, false),
  /** Dump request for one service's destinations (an unknown service dumps nothing, no error). */
  dumpDests: (s: IpvsServiceId): Buffer =>
    genl(writer(IPVS_CMD.GET_DEST).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeServiceId(w, s))),
  getInfo: (): Buffer => genl(writer(IPVS_CMD.GET_INFO)),
  getConfig: (): Buffer => genl(writer(IPVS_CMD.GET_CONFIG)),
  setConfig: (t: IpvsTimeouts): Buffer =>
    genl(
      writer(IPVS_CMD.SET_CONFIG)
        .u32(IPVS_CMD_ATTR.TIMEOUT_TCP, t.tcp)
        .u32(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN, t.tcpFin)
        .u32(IPVS_CMD_ATTR.TIMEOUT_UDP, t.udp),
    ),
  /** Zero the counters of one service, or of everything when no service is given. */
  zero: (s?: IpvsServiceId): Buffer =>
    s ? genl(writer(IPVS_CMD.ZERO).nested(IPVS_CMD_ATTR.SERVICE, (w) => writeServiceId(w, s))) : genl(writer(IPVS_CMD.ZERO)),
  flush: (): Buffer => genl(writer(IPVS_CMD.FLUSH)),
};

function destMessage(cmd: number, s: IpvsServiceId, d: IpvsDest, full: boolean): Buffer {
  return genl(
    writer(cmd)
      .nested(IPVS_CMD_ATTR.SERVICE, (n) => writeServiceId(n, s))
      .nested(IPVS_CMD_ATTR.DEST, (n) => writeDest(n, d, s.family, full)),
  );
}

// ---------------------------------------------------------------------------------------------- decoding

/** Counters from a STATS64 nest (all u64) or a STATS nest (u32 except the byte counters). */
export function decodeStats(nest: Buffer, is64: boolean): IpvsStats {
  return statsFrom(new AttrIndex(nest, 0, nest.length, STATS_MAX), is64);
}

const STATS_MAX = 11;
const SVC_MAX = 12;
const DEST_MAX = 15;

function statsFrom(t: AttrIndex, is64: boolean): IpvsStats {
  const A = IPVS_STATS_ATTR;
  const n = is64 ? (type: number) => t.u64(type) : (type: number) => t.u32(type);
  return {
    conns: n(A.CONNS),
    inPkts: n(A.INPKTS),
    outPkts: n(A.OUTPKTS),
    inBytes: t.u64(A.INBYTES),
    outBytes: t.u64(A.OUTBYTES),
    cps: n(A.CPS),
    inPps: n(A.INPPS),
    outPps: n(A.OUTPPS),
    inBps: n(A.INBPS),
    outBps: n(A.OUTBPS),
  };
}

/** STATS64 when the kernel sent it (since 4.x), else the 32-bit STATS. */
function statsOf(t: AttrIndex, stats64: number, stats32: number): IpvsStats | undefined {
  const s64 = t.nest(stats64, STATS_MAX);
  if (s64) return statsFrom(s64, true);
  const s32 = t.nest(stats32, STATS_MAX);
  return s32 ? statsFrom(s32, false) : undefined;
}

function need(t: AttrIndex, type: number, what: string): void {
  if (!t.has(type)) throw new NetlinkDecodeError(`${what}: attribute ${type} missing`);
}

function addressAt(t: AttrIndex, type: number, family: IPFamily, what: string): string {
  need(t, type, what);
  const data = t.bytes(type)!;
  const n = family === 4 ? 4 : 16;
  if (data.length < n) throw new NetlinkDecodeError(`${what}: address of ${data.length} bytes for IPv${family}`);
  return formatIP(data.subarray(0, n));
}

function serviceFrom(t: AttrIndex): IpvsServiceEntry {
  const S = IPVS_SVC_ATTR;
  need(t, S.AF, 'service');
  const family = familyOfAf(t.u16(S.AF));
  const fwmark = t.u32(S.FWMARK);
  let protocol = 0;
  let address = family === 4 ? '0.0.0.0' : '::';
  let port = 0;
  if (fwmark === 0) {
    need(t, S.PROTOCOL, 'service');
    need(t, S.PORT, 'service');
    protocol = t.u16(S.PROTOCOL);
    address = addressAt(t, S.ADDR, family, 'service');
    port = t.be16(S.PORT);
  }
  const entry: IpvsServiceEntry = {
    family,
    protocol,
    address,
    port,
    fwmark,
    scheduler: t.string(S.SCHED_NAME),
    flags: t.u32(S.FLAGS), // struct ip_vs_flags: the flags come first, then the mask
    timeout: t.u32(S.TIMEOUT),
    netmask: !t.has(S.NETMASK) ? defaultNetmask(family) : family === 4 ? t.be32(S.NETMASK) : t.u32(S.NETMASK),
    peName: t.string(S.PE_NAME),
  };
  const stats = statsOf(t, S.STATS64, S.STATS);
  if (stats) entry.stats = stats;
  return entry;
}

function destFrom(t: AttrIndex, serviceFamily: IPFamily): IpvsDestEntry {
  const D = IPVS_DEST_ATTR;
  const family = t.has(D.ADDR_FAMILY) ? familyOfAf(t.u16(D.ADDR_FAMILY)) : serviceFamily;
  need(t, D.PORT, 'destination');
  const entry: IpvsDestEntry = {
    family,
    address: addressAt(t, D.ADDR, family, 'destination'),
    port: t.be16(D.PORT),
    forward: t.u32(D.FWD_METHOD) & 0x7,
    weight: t.u32(D.WEIGHT) | 0, // an int in the kernel
    upperThreshold: t.u32(D.U_THRESH),
    lowerThreshold: t.u32(D.L_THRESH),
    activeConns: t.u32(D.ACTIVE_CONNS),
    inactiveConns: t.u32(D.INACT_CONNS),
    persistConns: t.u32(D.PERSIST_CONNS),
  };
  if (t.has(D.TUN_TYPE)) entry.tunnel = { type: t.u8(D.TUN_TYPE), port: t.be16(D.TUN_PORT), flags: t.u16(D.TUN_FLAGS) };
  const stats = statsOf(t, D.STATS64, D.STATS);
  if (stats) entry.stats = stats;
  return entry;
}

/** The SERVICE nest of a NEW_SERVICE message (what a GET_SERVICE dump returns). */
export function decodeServiceNest(nest: Buffer): IpvsServiceEntry {
  return serviceFrom(new AttrIndex(nest, 0, nest.length, SVC_MAX));
}

/** The DEST nest of a NEW_DEST message (what a GET_DEST dump returns). */
export function decodeDestNest(nest: Buffer, serviceFamily: IPFamily): IpvsDestEntry {
  return destFrom(new AttrIndex(nest, 0, nest.length, DEST_MAX), serviceFamily);
}

/** The top-level attributes of an IPVS generic netlink payload (after its genlmsghdr). */
function topLevel(payload: Buffer): AttrIndex {
  if (payload.length < GENL_HDRLEN) throw new NetlinkDecodeError(`genl payload of ${payload.length} bytes`);
  return new AttrIndex(payload, GENL_HDRLEN, payload.length, 6);
}

export function decodeService(payload: Buffer): IpvsServiceEntry {
  const nest = topLevel(payload).nest(IPVS_CMD_ATTR.SERVICE, SVC_MAX);
  if (!nest) throw new NetlinkDecodeError('NEW_SERVICE message: no SERVICE attribute');
  return serviceFrom(nest);
}

export function decodeDest(payload: Buffer, serviceFamily: IPFamily): IpvsDestEntry {
  const nest = topLevel(payload).nest(IPVS_CMD_ATTR.DEST, DEST_MAX);
  if (!nest) throw new NetlinkDecodeError('NEW_DEST message: no DEST attribute');
  return destFrom(nest, serviceFamily);
}

export function decodeInfo(payload: Buffer): IpvsInfo {
  const t = topLevel(payload);
  need(t, IPVS_INFO_ATTR.VERSION, 'info');
  const versionCode = t.u32(IPVS_INFO_ATTR.VERSION);
  return {
    versionCode,
    version: `${(versionCode >> 16) & 0xff}.${(versionCode >> 8) & 0xff}.${versionCode & 0xff}`,
    connTableSize: t.u32(IPVS_INFO_ATTR.CONN_TAB_SIZE),
  };
}

export function decodeTimeouts(payload: Buffer): IpvsTimeouts {
  const t = topLevel(payload);
  return {
    tcp: t.u32(IPVS_CMD_ATTR.TIMEOUT_TCP),
    tcpFin: t.u32(IPVS_CMD_ATTR.TIMEOUT_TCP_FIN),
    udp: t.u32(IPVS_CMD_ATTR.TIMEOUT_UDP),
  };
}
