// A fake kernel for host tests: a second generic-netlink socket in this process. The code under test sends
// to its port instead of port 0 (user-to-user unicast works on any Linux, no IPVS needed; it needs
// CAP_NET_ADMIN, which the test runner has as root). It records every datagram as received, so tests can see
// how many messages travelled per sendmsg, and answers through a handler the test supplies.

import { RawNetlinkSocket } from 'netlink';
import { NETLINK_GENERIC, NLM_F, NLMSG } from '../../src/kernel/netlink/constants.js';
import { encodeErrorPayload, encodeMessage, parseMessages, type NetlinkMessage } from '../../src/kernel/netlink/messages.js';

export interface Received extends NetlinkMessage {
  /** Index of the datagram it arrived in. */
  datagram: number;
}

/** What the fake does with one request: answer now (ack/error, data then ack, a dump) or hold it. */
export type Answer =
  | { errno: number; data?: Buffer[] }
  | { dump: Buffer[][]; doneErrno?: number }
  | 'hold';

export type Handler = (m: Received, kernel: FakeKernel) => Answer;

function header(m: NetlinkMessage): Buffer {
  const h = Buffer.alloc(16);
  h.writeUInt32LE(16 + m.payload.length, 0);
  h.writeUInt16LE(m.type, 4);
  h.writeUInt16LE(m.flags, 6);
  h.writeUInt32LE(m.seq, 8);
  h.writeUInt32LE(m.pid, 12);
  return h;
}

export class FakeKernel {
  private readonly raw: RawNetlinkSocket;
  readonly port: number;
  /** Every datagram received, split into messages. */
  readonly datagrams: Received[][] = [];
  /** Requests answered with 'hold', in arrival order, with the port they came from. */
  readonly held: { m: Received; from: number }[] = [];
  /** sendmsg failures of the fake itself (a test bug, or a client that closed early). */
  readonly sendErrors: Error[] = [];
  private readonly waiters: { count: number; resolve: () => void }[] = [];

  constructor(private handler: Handler) {
    this.raw = new RawNetlinkSocket(NETLINK_GENERIC, { recvBufferSize: 8 << 20, sendBufferSize: 8 << 20 });
    this.port = this.raw.address().port;
    this.raw.on('message', (buf, rinfo) => this.receive(buf, rinfo.port));
  }

  setHandler(h: Handler): void {
    this.handler = h;
  }

  get messages(): Received[] {
    return this.datagrams.flat();
  }

  /** Resolves once `count` requests in total have arrived (since the last reset of `datagrams`). */
  waitFor(count: number): Promise<void> {
    if (this.messages.length >= count) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push({ count, resolve }));
  }

  private receive(buf: Buffer, from: number): void {
    const index = this.datagrams.length;
    const msgs = parseMessages(buf).map((m) => ({ ...m, datagram: index }));
    this.datagrams.push(msgs);
    for (const m of msgs) {
      const a = this.handler(m, this);
      if (a === 'hold') this.held.push({ m, from });
      else this.answer(m, from, a);
    }
    if (this.waiters.length === 0) return;
    const total = this.messages.length;
    for (const w of this.waiters.splice(0)) {
      if (total >= w.count) w.resolve();
      else this.waiters.push(w);
    }
  }

  /** Sends the answer to one request (each dump part, and the ack, as its own datagram). */
  answer(m: NetlinkMessage, to: number, a: Exclude<Answer, 'hold'>): void {
    if ('dump' in a) {
      for (const part of a.dump) {
        if (part.length === 0) continue;
        this.send(
          to,
          part.map((payload) => encodeMessage({ type: m.type, flags: NLM_F.MULTI, seq: m.seq, pid: to, payload })),
        );
      }
      const done = Buffer.alloc(4);
      done.writeInt32LE(-(a.doneErrno ?? 0), 0);
      this.send(to, [encodeMessage({ type: NLMSG.DONE, flags: NLM_F.MULTI, seq: m.seq, pid: to, payload: done })]);
      return;
    }
    const out = (a.data ?? []).map((payload) => encodeMessage({ type: m.type, flags: 0, seq: m.seq, pid: to, payload }));
    // Like the kernel (netlink_rcv_skb): an error is always reported, a success only when NLM_F_ACK asks.
    if (a.errno !== 0 || (m.flags & NLM_F.ACK) !== 0) out.push(this.ack(m, to, a.errno));
    if (out.length > 0) this.send(to, out);
  }

  ack(m: NetlinkMessage, to: number, errno: number): Buffer {
    return encodeMessage({
      type: NLMSG.ERROR,
      flags: NLM_F.CAPPED,
      seq: m.seq,
      pid: to,
      payload: encodeErrorPayload(errno, header(m)),
    });
  }

  /** One datagram with these messages. */
  send(to: number, msgs: Buffer[]): void {
    this.raw.send(Buffer.concat(msgs), { port: to }, (e) => {
      if (e) this.sendErrors.push(e);
    });
  }

  close(): void {
    this.raw.close();
  }
}
