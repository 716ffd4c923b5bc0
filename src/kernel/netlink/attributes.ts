// Netlink attributes (struct nlattr): a 4-byte header {u16 len, u16 type} then the payload, padded to a
// multiple of 4. `len` counts header + payload but not the padding. Numbers are host order (little-endian on
// every platform we ship for) unless the protocol says network order (IPVS ports and IPv4 netmasks).

import { NLA_F_NESTED, NLA_HDRLEN, NLA_TYPE_MASK } from './constants.js';

export const align4 = (n: number): number => (n + 3) & ~3;

/** Zeroes a few bytes; Buffer#fill is a native call, far slower for the 0-12 bytes of padding we need. */
function zero(buf: Buffer, from: number, to: number): void {
  for (let i = from; i < to; i++) buf[i] = 0;
}

/** Raised when bytes from the kernel (or a fixture) do not parse as netlink. */
export class NetlinkDecodeError extends Error {
  override readonly name = 'NetlinkDecodeError';
}

/**
 * Builds a run of attributes into one growing buffer (no per-attribute allocation: a sync may encode
 * a hundred thousand of them).
 */
export class AttrWriter {
  private buf: Buffer;
  private len = 0;

  constructor(
    initialSize = 256,
    /** Set NLA_F_NESTED on nests (the kernel's IPVS parser accepts nests with or without it). */
    private readonly nestedFlag = false,
    /** Zeroed bytes kept at the front for a header the caller fills in place later (the nlmsghdr). */
    readonly headroom = 0,
  ) {
    // allocUnsafe takes small buffers from node's shared pool (no allocation per message); every byte below
    // `len` is written before finish() returns it: headers, payloads and padding alike.
    this.buf = Buffer.allocUnsafe(Math.max(initialSize, headroom + 16));
    zero(this.buf, 0, headroom);
    this.len = headroom;
  }

  /** Appends bytes that are not an attribute (a fixed header such as genlmsghdr), padded to 4 bytes. */
  raw(data: Uint8Array): this {
    this.reserve(align4(data.length));
    this.buf.set(data, this.len);
    return this.end(this.len, data.length);
  }

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  private header(type: number, payloadLen: number): number {
    const total = NLA_HDRLEN + payloadLen;
    if (total > 0xffff) throw new RangeError(`netlink attribute ${type} too long (${total} bytes)`);
    this.reserve(align4(total));
    const at = this.len;
    this.buf.writeUInt16LE(total, at);
    this.buf.writeUInt16LE(type, at + 2);
    return at + NLA_HDRLEN;
  }

  private end(payloadStart: number, payloadLen: number): this {
    const padded = align4(payloadLen);
    zero(this.buf, payloadStart + payloadLen, payloadStart + padded);
    this.len = payloadStart + padded;
    return this;
  }

  bytes(type: number, data: Uint8Array): this {
    const at = this.header(type, data.length);
    this.buf.set(data, at);
    return this.end(at, data.length);
  }

  /** `data` zero-extended to `size` bytes (IPVS addresses: 4 IPv4 bytes in a 16-byte nf_inet_addr). */
  bytesPadded(type: number, data: Uint8Array, size: number): this {
    const at = this.header(type, size);
    const n = Math.min(data.length, size);
    // A byte loop: TypedArray#set costs more than copying the 4 or 16 bytes of an address.
    for (let i = 0; i < n; i++) this.buf[at + i] = data[i]!;
    zero(this.buf, at + n, at + size);
    return this.end(at, size);
  }

  /** Consecutive host-order u32s in one attribute (struct ip_vs_flags {flags, mask}). */
  u32s(type: number, ...values: number[]): this {
    const at = this.header(type, values.length * 4);
    values.forEach((v, i) => this.buf.writeUInt32LE(v >>> 0, at + i * 4));
    return this.end(at, values.length * 4);
  }

  u8(type: number, v: number): this {
    const at = this.header(type, 1);
    this.buf.writeUInt8(v & 0xff, at);
    return this.end(at, 1);
  }

  u16(type: number, v: number): this {
    const at = this.header(type, 2);
    this.buf.writeUInt16LE(v & 0xffff, at);
    return this.end(at, 2);
  }

  /** u16 in network byte order (ports). */
  be16(type: number, v: number): this {
    const at = this.header(type, 2);
    this.buf.writeUInt16BE(v & 0xffff, at);
    return this.end(at, 2);
  }

  u32(type: number, v: number): this {
    const at = this.header(type, 4);
    this.buf.writeUInt32LE(v >>> 0, at);
    return this.end(at, 4);
  }

  /** u32 in network byte order (IPv4 netmasks). */
  be32(type: number, v: number): this {
    const at = this.header(type, 4);
    this.buf.writeUInt32BE(v >>> 0, at);
    return this.end(at, 4);
  }

  u64(type: number, v: bigint): this {
    const at = this.header(type, 8);
    this.buf.writeBigUInt64LE(v, at);
    return this.end(at, 8);
  }

  /** NUL-terminated string (NLA_NUL_STRING / NLA_STRING). */
  string(type: number, s: string): this {
    const data = Buffer.from(`${s}\0`, 'latin1');
    return this.bytes(type, data);
  }

  /** A nested attribute whose content `fill` writes into this same writer. */
  nested(type: number, fill: (w: this) => void): this {
    const at = this.header(type | (this.nestedFlag ? NLA_F_NESTED : 0), 0);
    this.len = at;
    fill(this);
    const total = this.len - (at - NLA_HDRLEN);
    if (total > 0xffff) throw new RangeError(`netlink nest ${type} too long (${total} bytes)`);
    this.buf.writeUInt16LE(total, at - NLA_HDRLEN);
    return this;
  }

  get length(): number {
    return this.len;
  }

  /** Everything written, headroom included (a copy-free view of the internal buffer). */
  finish(): Buffer {
    return this.buf.subarray(0, this.len);
  }

  /** What was written after the headroom; the headroom stays in front of it, in the same memory. */
  body(): Buffer {
    return this.buf.subarray(this.headroom, this.len);
  }
}

export interface RawAttr {
  /** Type without NLA_F_NESTED / NLA_F_NET_BYTEORDER. */
  type: number;
  /** Payload without header or padding (a view into the input). */
  data: Buffer;
}

/** Splits a run of attributes. The last attribute may omit its trailing padding (the kernel's rule). */
export function parseAttributes(buf: Buffer): RawAttr[] {
  const out: RawAttr[] = [];
  let off = 0;
  while (off + NLA_HDRLEN <= buf.length) {
    const len = buf.readUInt16LE(off);
    const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
    if (len < NLA_HDRLEN || off + len > buf.length) {
      throw new NetlinkDecodeError(`bad netlink attribute at offset ${off}: length ${len}, ${buf.length - off} bytes left`);
    }
    out.push({ type, data: buf.subarray(off + NLA_HDRLEN, off + len) });
    off += align4(len);
  }
  return out;
}

/** Attributes by type (the last one wins when a type repeats; no IPVS attribute repeats). */
export function attributeTable(buf: Buffer): Map<number, Buffer> {
  const m = new Map<number, Buffer>();
  for (const a of parseAttributes(buf)) m.set(a.type, a.data);
  return m;
}

/**
 * The attributes of one run (a message or a nest) indexed by type and read in place: no object per attribute
 * (a dump of 10,000 destinations holds half a million of them). Types above `maxType` are skipped: they are
 * newer than our table. A repeated type keeps its last occurrence.
 */
export class AttrIndex {
  /** Per type: [payload offset, payload length]; offset -1 when absent. */
  private readonly at: Int32Array;

  constructor(
    readonly buf: Buffer,
    start = 0,
    end = buf.length,
    readonly maxType = 31,
  ) {
    this.at = new Int32Array((maxType + 1) * 2).fill(-1);
    let off = start;
    while (off + NLA_HDRLEN <= end) {
      const len = buf.readUInt16LE(off);
      const type = buf.readUInt16LE(off + 2) & NLA_TYPE_MASK;
      if (len < NLA_HDRLEN || off + len > end) {
        throw new NetlinkDecodeError(`bad netlink attribute at offset ${off - start}: length ${len}, ${end - off} bytes left`);
      }
      if (type <= maxType) {
        this.at[type * 2] = off + NLA_HDRLEN;
        this.at[type * 2 + 1] = len - NLA_HDRLEN;
      }
      off += align4(len);
    }
  }

  has(type: number): boolean {
    return type <= this.maxType && this.at[type * 2]! >= 0;
  }

  /** Offset of the payload, checking it holds at least `n` bytes; -1 when absent. */
  private offset(type: number, n: number): number {
    if (type > this.maxType) return -1;
    const off = this.at[type * 2]!;
    if (off < 0) return -1;
    if (this.at[type * 2 + 1]! < n) throw new NetlinkDecodeError(`attribute ${type}: ${this.at[type * 2 + 1]} bytes, need ${n}`);
    return off;
  }

  u8(type: number, absent = 0): number {
    const o = this.offset(type, 1);
    return o < 0 ? absent : this.buf[o]!;
  }
  u16(type: number, absent = 0): number {
    const o = this.offset(type, 2);
    return o < 0 ? absent : this.buf.readUInt16LE(o);
  }
  be16(type: number, absent = 0): number {
    const o = this.offset(type, 2);
    return o < 0 ? absent : this.buf.readUInt16BE(o);
  }
  u32(type: number, absent = 0): number {
    const o = this.offset(type, 4);
    return o < 0 ? absent : this.buf.readUInt32LE(o);
  }
  be32(type: number, absent = 0): number {
    const o = this.offset(type, 4);
    return o < 0 ? absent : this.buf.readUInt32BE(o);
  }
  /** u64 as a number (exact up to 2^53), assembled from two u32 halves (no BigInt per counter). */
  u64(type: number, absent = 0): number {
    const o = this.offset(type, 8);
    return o < 0 ? absent : this.buf.readUInt32LE(o) + this.buf.readUInt32LE(o + 4) * 0x1_0000_0000;
  }
  /** A string attribute up to its first NUL. */
  string(type: number, absent = ''): string {
    const o = this.offset(type, 0);
    if (o < 0) return absent;
    const end = o + this.at[type * 2 + 1]!;
    const nul = this.buf.indexOf(0, o);
    return this.buf.toString('latin1', o, nul === -1 || nul > end ? end : nul);
  }
  /** The payload as a view (for addresses and other byte strings). */
  bytes(type: number): Buffer | undefined {
    const o = this.offset(type, 0);
    return o < 0 ? undefined : this.buf.subarray(o, o + this.at[type * 2 + 1]!);
  }
  /** A nested attribute's own index. */
  nest(type: number, maxType = 31): AttrIndex | undefined {
    const o = this.offset(type, 0);
    return o < 0 ? undefined : new AttrIndex(this.buf, o, o + this.at[type * 2 + 1]!, maxType);
  }
}
