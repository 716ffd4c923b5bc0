// Netlink message framing: struct nlmsghdr {u32 len; u16 type; u16 flags; u32 seq; u32 pid} followed by the
// payload, each message padded to 4 bytes. One datagram may carry many messages (we send batches that way and
// the kernel packs dump replies that way). Generic netlink adds struct genlmsghdr {u8 cmd; u8 version; u16 0}.

import { align4, NetlinkDecodeError } from './attributes.js';
import { GENL_HDRLEN, NLMSG_HDRLEN } from './constants.js';

export interface NetlinkMessage {
  type: number;
  flags: number;
  seq: number;
  pid: number;
  /** Everything after the nlmsghdr (a view into the datagram). */
  payload: Buffer;
}

/** Encodes one message; `seq` and `pid` are the transport's business, so they default to 0. */
export function encodeMessage(m: { type: number; flags: number; seq?: number; pid?: number; payload: Uint8Array }): Buffer {
  const len = NLMSG_HDRLEN + m.payload.length;
  // From node's buffer pool (no allocation per message); every byte is written below.
  const buf = Buffer.allocUnsafe(align4(len));
  buf.writeUInt32LE(len, 0);
  buf.writeUInt16LE(m.type, 4);
  buf.writeUInt16LE(m.flags, 6);
  buf.writeUInt32LE((m.seq ?? 0) >>> 0, 8);
  buf.writeUInt32LE((m.pid ?? 0) >>> 0, 12);
  buf.set(m.payload, NLMSG_HDRLEN);
  for (let i = len; i < buf.length; i++) buf[i] = 0; // padding (Buffer#fill is a slow native call for 0-3 bytes)
  return buf;
}

/** Rewrites seq and pid of an encoded message in place (the transport numbers messages when it sends them). */
export function stampMessage(buf: Buffer, seq: number, pid: number): void {
  buf.writeUInt32LE(seq >>> 0, 8);
  buf.writeUInt32LE(pid >>> 0, 12);
}

/** Splits one datagram into its messages. */
export function parseMessages(datagram: Buffer): NetlinkMessage[] {
  const out: NetlinkMessage[] = [];
  let off = 0;
  while (off + NLMSG_HDRLEN <= datagram.length) {
    const len = datagram.readUInt32LE(off);
    if (len < NLMSG_HDRLEN || off + len > datagram.length) {
      throw new NetlinkDecodeError(`bad netlink message at offset ${off}: length ${len}, ${datagram.length - off} bytes left`);
    }
    out.push({
      type: datagram.readUInt16LE(off + 4),
      flags: datagram.readUInt16LE(off + 6),
      seq: datagram.readUInt32LE(off + 8),
      pid: datagram.readUInt32LE(off + 12),
      payload: datagram.subarray(off + NLMSG_HDRLEN, off + len),
    });
    off += align4(len);
  }
  return out;
}

export interface NetlinkErrorPayload {
  /** Positive errno; 0 for a plain ACK. */
  errno: number;
  /** Header of the request this answers (the kernel echoes it). */
  request?: { type: number; flags: number; seq: number; pid: number };
}

/** Reads an NLMSG_ERROR payload: s32 -errno, then the original nlmsghdr (and more we do not need). */
export function parseErrorPayload(payload: Buffer): NetlinkErrorPayload {
  if (payload.length < 4) throw new NetlinkDecodeError(`NLMSG_ERROR payload of ${payload.length} bytes`);
  const errno = -payload.readInt32LE(0) | 0; // | 0: no -0 for a plain ACK
  if (payload.length < 4 + NLMSG_HDRLEN) return { errno };
  return {
    errno,
    request: {
      type: payload.readUInt16LE(8),
      flags: payload.readUInt16LE(10),
      seq: payload.readUInt32LE(12),
      pid: payload.readUInt32LE(16),
    },
  };
}

/** NLMSG_DONE carries an s32 (0, or -errno when the dump failed midway); old kernels send no payload. */
export function parseDonePayload(payload: Buffer): number {
  return payload.length >= 4 ? -payload.readInt32LE(0) | 0 : 0;
}

export function encodeErrorPayload(errno: number, request: Buffer): Buffer {
  const out = Buffer.alloc(4 + NLMSG_HDRLEN);
  out.writeInt32LE(-errno, 0);
  request.copy(out, 4, 0, NLMSG_HDRLEN);
  return out;
}

export interface GenlHeader {
  cmd: number;
  version: number;
}

export function encodeGenlPayload(cmd: number, version: number, attrs: Uint8Array): Buffer {
  const buf = Buffer.allocUnsafe(GENL_HDRLEN + attrs.length);
  buf.writeUInt8(cmd, 0);
  buf.writeUInt8(version, 1);
  buf.writeUInt16LE(0, 2);
  buf.set(attrs, GENL_HDRLEN);
  return buf;
}

/** Splits a generic netlink payload into its header and its attribute bytes. */
export function parseGenlPayload(payload: Buffer): GenlHeader & { attrs: Buffer } {
  if (payload.length < GENL_HDRLEN) throw new NetlinkDecodeError(`genl payload of ${payload.length} bytes`);
  return { cmd: payload.readUInt8(0), version: payload.readUInt8(1), attrs: payload.subarray(GENL_HDRLEN) };
}
