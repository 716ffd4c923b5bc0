// The one place that touches the `netlink` package: its RawNetlinkSocket (a dgram-like native socket with
// prebuilt binaries) adapted to NetlinkSocketLike. Everything above speaks bytes through that interface, so a
// vendored addon could replace the package without touching the codecs.

import { RawNetlinkSocket } from 'netlink';
import { NETLINK_GENERIC } from './constants.js';
import type { NetlinkSocketLike } from './transport.js';

export interface OpenSocketOptions {
  protocol?: number;
  /** SO_RCVBUF request; the kernel caps it at net.core.rmem_max (and reports twice the value it keeps). */
  recvBufferSize?: number;
  sendBufferSize?: number;
  /** Bind to this port (default: a free one). */
  localPort?: number;
  /**
   * Bytes read per recvmsg (default 8 KiB); 0 = peek at each datagram's size first (two system calls per
   * datagram). No datagram the kernel sends us is bigger: dump datagrams are sized max(NLMSG_GOODSIZE, the
   * largest buffer it has seen us read with), NLMSG_GOODSIZE is under 8 KiB whatever the page size, and ACKs
   * and doit replies are small. 8 KiB beat both peeking and 32 KiB reads in the user-mode guest (fewer system
   * calls than peeking; a big buffer per datagram costs more than it saves). Truncation would be reported.
   */
  datagramBufferSize?: number;
}

/** 32 MiB: big dumps and ACK storms should never hit ENOBUFS where rmem_max allows it. */
export const DEFAULT_RECV_BUFFER = 32 << 20;
export const DEFAULT_DATAGRAM_BUFFER = 8 << 10;

export function openNetlinkSocket(opts: OpenSocketOptions = {}): NetlinkSocketLike {
  const datagram = opts.datagramBufferSize ?? DEFAULT_DATAGRAM_BUFFER;
  const raw = new RawNetlinkSocket(opts.protocol ?? NETLINK_GENERIC, {
    recvBufferSize: opts.recvBufferSize ?? DEFAULT_RECV_BUFFER,
    sendBufferSize: opts.sendBufferSize ?? 4 << 20,
    ...(datagram > 0 ? { messagePeeking: false, msgBufferSize: datagram } : {}),
    ...(opts.localPort !== undefined ? { localPort: opts.localPort } : {}),
  });
  return {
    send: (msgs, options, cb) => raw.send(msgs, { port: options.port }, (e) => cb(e ?? undefined)),
    onMessage: (l) => raw.on('message', (msg, rinfo) => l(msg, { port: rinfo.port })),
    onError: (l) => {
      raw.on('error', (e) => l(e));
      // A datagram bigger than our read buffer lost its tail: whose answers were in it is unknown.
      raw.on('truncatedMessage', () => l(Object.assign(new Error('truncated netlink datagram'), { errno: 90, code: 'EMSGSIZE' })));
    },
    localPort: () => raw.address().port,
    recvBufferSize: () => raw.getRecvBufferSize(),
    sendBufferSize: () => raw.getSendBufferSize(),
    ref: () => raw.ref(),
    unref: () => raw.unref(),
    close: () => raw.close(),
  };
}
