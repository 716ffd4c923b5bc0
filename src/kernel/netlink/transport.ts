// A request/response layer over one netlink socket:
//  - numbers every message (seq) and matches replies, ACKs and errors back to it;
//  - sends MANY requests per sendmsg (one datagram: the kernel runs every message in it, in order);
//  - asks for an ACK on the LAST message of each datagram only: the kernel always reports a failure
//    (NLMSG_ERROR with the failing message's seq) and reports success only when asked, and it answers the
//    messages of a datagram in order, so once the last one is answered every earlier message without an error
//    succeeded. One ACK per datagram instead of one per message: receiving is what costs most per request;
//  - keeps at most `maxInFlight` requests unacknowledged, so their ACKs always fit in the socket's receive
//    buffer (an ACK the kernel cannot queue is dropped and the socket reports ENOBUFS);
//  - runs dumps one at a time and never alongside acked requests (a second dump on a socket gets EBUSY, and a
//    dump fills the receive buffer on its own);
//  - talks to port 0 (the kernel) unless told otherwise, so tests can put a fake kernel socket there.
// The socket is an interface (NetlinkSocketLike) so a vendored addon can replace the `netlink` package.

import { errnoName } from './errno.js';
import { NLM_F, NLMSG, NLMSG_HDRLEN } from './constants.js';
import { encodeMessage, parseDonePayload, parseErrorPayload, parseMessages, stampMessage, type NetlinkMessage } from './messages.js';

export interface NetlinkSocketLike {
  /** One call = one sendmsg; an array is sent as one datagram (scatter/gather). */
  send(msgs: Uint8Array[], options: { port: number }, callback: (error?: Error & { errno?: number }) => void): void;
  onMessage(listener: (datagram: Buffer, from: { port: number }) => void): void;
  onError(listener: (error: Error & { errno?: number; code?: string }) => void): void;
  /** Own netlink port (what the kernel calls the portid). */
  localPort(): number;
  /** Effective SO_RCVBUF in bytes, when known: sizes the ACK window. */
  recvBufferSize?(): number;
  /** Effective SO_SNDBUF in bytes, when known: a sendmsg larger than this fails with EMSGSIZE. */
  sendBufferSize?(): number;
  /** Keep / stop keeping the event loop alive; the transport refs only while it waits for the kernel. */
  ref?(): void;
  unref?(): void;
  close(): void;
}

export interface TransportOptions {
  /** Destination port: 0 = the kernel (default); a fake kernel's port in tests. */
  peerPort?: number;
  /** Requests waiting for their ACK at once (default: what the receive buffer can hold, see ackWindow). */
  maxInFlight?: number;
  /** Bytes per sendmsg (default 64 KiB, less if SO_SNDBUF is smaller). */
  maxBatchBytes?: number;
  /** Fail every waiting request when the peer is silent this long (default 30 s). 0 = never. */
  timeoutMs?: number;
  /** 'last' (default): NLM_F_ACK on the last message of each datagram; 'each': on every message. */
  ackMode?: 'last' | 'each';
}

export interface RequestSpec {
  /** Netlink message type (a generic netlink family id). */
  type: number;
  /** Extra NLM_F_* flags; REQUEST and ACK are always set. */
  flags?: number;
  payload: Uint8Array;
  /**
   * The payload has NLMSG_HDRLEN bytes of its own in front of it, in the same memory (AttrWriter headroom):
   * the transport writes the nlmsghdr there instead of copying the payload into a new message.
   */
  headroom?: boolean;
}

export interface RequestResult {
  /** 0 when the kernel acked the request, else its errno. */
  errno: number;
  /** Data messages sent before the ACK (doit replies such as GET_INFO). */
  replies: NetlinkMessage[];
}

/** A failed dump, or a transport failure (timeout, closed socket). */
export class NetlinkError extends Error {
  override readonly name = 'NetlinkError';
  constructor(
    readonly errno: number,
    message?: string,
  ) {
    super(message ?? errnoName(errno));
  }
  get code(): string {
    return errnoName(this.errno);
  }
}

/** Bytes of receive buffer an ACK skb occupies in the kernel (its truesize; measured ~0.8-1.3 KiB). */
const ACK_TRUESIZE = 1536;

/** How many ACKs fit in a receive buffer of `rcvbuf` bytes, keeping a quarter spare. */
export function ackWindow(rcvbuf: number): number {
  return Math.max(16, Math.min(8192, Math.floor((rcvbuf * 0.75) / ACK_TRUESIZE)));
}

const EMPTY = Buffer.alloc(0);
const ETIMEDOUT = 110;
const ECANCELED = 125;
const EMSGSIZE = 90;

/** One request() or dump() call: its requests report here (one shared object, not a closure per message). */
interface Call {
  results: RequestResult[];
  left: number;
  resolve: (r: RequestResult[]) => void;
}

const NO_REPLIES: NetlinkMessage[] = [];

interface Pending {
  buf: Buffer;
  dump: boolean;
  seq: number;
  /** Data messages received for it (allocated on the first one). */
  replies: NetlinkMessage[];
  call: Call;
  /** Position of this request in its call's results. */
  index: number;
  /** The requests sent in the same datagram (acked requests only). */
  batch?: Pending[];
  /** This request carries NLM_F_ACK: its answer settles its whole datagram. */
  acked?: boolean;
}

export class NetlinkTransport {
  private readonly peerPort: number;
  private readonly maxInFlight: number;
  private readonly maxBatchBytes: number;
  private readonly timeoutMs: number;
  private readonly ackEach: boolean;
  private readonly pid: number;
  private nextSeq = 1;
  /** Not yet sent, in order (a FIFO with a moving head, cheap for 100k entries). */
  private outbox: Pending[] = [];
  private outHead = 0;
  private readonly inflight = new Map<number, Pending>();
  private dumpActive = false;
  private pumpScheduled = false;
  private timer: NodeJS.Timeout | undefined; // the silence watchdog, running while requests wait
  private closed = false;
  /** RawNetlinkSocket starts referenced; the constructor's updateRef() unrefs it while idle. */
  private referenced = true;
  /** Counters for tests and metrics. */
  readonly stats = { sendCalls: 0, messagesSent: 0, datagramsReceived: 0, strayMessages: 0 };

  constructor(
    private readonly socket: NetlinkSocketLike,
    opts: TransportOptions = {},
  ) {
    this.peerPort = opts.peerPort ?? 0;
    this.maxInFlight = opts.maxInFlight ?? ackWindow(socket.recvBufferSize?.() ?? 212_992);
    const sndbuf = socket.sendBufferSize?.();
    this.maxBatchBytes = opts.maxBatchBytes ?? Math.min(64 * 1024, sndbuf ? sndbuf - 1024 : 64 * 1024);
    this.timeoutMs = opts.timeoutMs ?? 30_000;
    this.ackEach = opts.ackMode === 'each';
    this.pid = socket.localPort();
    socket.onMessage((d) => this.receive(d));
    socket.onError((e) => this.failInflight(e.errno ?? 5, `netlink socket error: ${e.message}`));
    this.updateRef();
  }

  /** Sends requests (as few sendmsg calls as the window allows) and resolves with one result per request, in order. */
  request(specs: readonly RequestSpec[]): Promise<RequestResult[]> {
    if (specs.length === 0) return Promise.resolve([]);
    return new Promise((resolve) => {
      const call: Call = { results: new Array(specs.length), left: specs.length, resolve };
      for (let i = 0; i < specs.length; i++) this.enqueue(specs[i]!, false, call, i);
      this.updateRef();
    });
  }

  /** Runs one dump (NLM_F_DUMP) and resolves with its data messages; rejects with NetlinkError on an errno. */
  async dump(spec: RequestSpec): Promise<NetlinkMessage[]> {
    const [r] = await new Promise<RequestResult[]>((resolve) => {
      this.enqueue(spec, true, { results: [], left: 1, resolve }, 0);
      this.updateRef();
    });
    if (r!.errno !== 0) throw new NetlinkError(r!.errno);
    return r!.replies;
  }

  /** Closes the socket; anything still waiting fails with ECANCELED. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const waiting = [...this.inflight.values(), ...this.outbox.slice(this.outHead)];
    this.inflight.clear();
    this.outbox = [];
    this.outHead = 0;
    this.clearTimer();
    this.socket.close();
    for (const p of waiting) this.finish(p, ECANCELED);
  }

  get pending(): number {
    return this.inflight.size + this.outbox.length - this.outHead;
  }

  private enqueue(spec: RequestSpec, dump: boolean, call: Call, index: number): void {
    const pending: Pending = { buf: EMPTY, dump, seq: 0, replies: NO_REPLIES, call, index };
    if (this.closed) {
      this.finish(pending, ECANCELED);
      return;
    }
    const flags = NLM_F.REQUEST | (dump ? NLM_F.DUMP : NLM_F.ACK) | (spec.flags ?? 0);
    const p = spec.payload;
    let buf: Buffer;
    if (spec.headroom && p.byteOffset >= NLMSG_HDRLEN && (p.length & 3) === 0) {
      buf = Buffer.from(p.buffer, p.byteOffset - NLMSG_HDRLEN, p.length + NLMSG_HDRLEN);
      buf.writeUInt32LE(buf.length, 0);
      buf.writeUInt16LE(spec.type, 4);
      buf.writeUInt16LE(flags, 6);
    } else {
      buf = encodeMessage({ type: spec.type, flags, payload: p });
    }
    pending.buf = buf;
    this.outbox.push(pending);
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      // Let the caller enqueue the rest of its batch first, so it leaves in as few datagrams as possible.
      queueMicrotask(() => {
        this.pumpScheduled = false;
        this.pump();
      });
    }
  }

  private takeSeq(): number {
    let s = this.nextSeq;
    while (s === 0 || this.inflight.has(s)) s = (s + 1) >>> 0;
    this.nextSeq = (s + 1) >>> 0;
    return s;
  }

  /** Sends what the window and the dump rule allow. */
  private pump(): void {
    while (!this.closed && !this.dumpActive && this.outHead < this.outbox.length) {
      const head = this.outbox[this.outHead]!;
      if (head.dump) {
        if (this.inflight.size > 0) return; // wait for the ACKs: a dump must run alone
        this.outHead++;
        this.dumpActive = true;
        this.transmit([head]);
        break;
      }
      // Refill only when at least half the window is free: topping up one slot per ACK would send one
      // message per sendmsg (silly-window syndrome) and lose what batching buys.
      if (this.inflight.size > this.maxInFlight / 2) return;
      const batch: Pending[] = [];
      let bytes = 0;
      while (this.outHead < this.outbox.length && this.inflight.size + batch.length < this.maxInFlight) {
        const p = this.outbox[this.outHead]!;
        if (p.dump) break;
        if (batch.length > 0 && bytes + p.buf.length > this.maxBatchBytes) break;
        batch.push(p);
        bytes += p.buf.length;
        this.outHead++;
      }
      if (batch.length === 0) return; // window full: the next ACKs will pump again
      this.transmit(batch);
    }
    if (this.outHead === this.outbox.length) {
      this.outbox = [];
      this.outHead = 0;
    } else if (this.outHead > 4096 && this.outHead * 2 > this.outbox.length) {
      this.outbox = this.outbox.slice(this.outHead);
      this.outHead = 0;
    }
  }

  private transmit(batch: Pending[]): void {
    const last = batch.length - 1;
    batch.forEach((p, i) => {
      p.seq = this.takeSeq();
      stampMessage(p.buf, p.seq, this.pid);
      this.inflight.set(p.seq, p);
      if (p.dump) return;
      p.batch = batch;
      p.acked = this.ackEach || i === last;
      if (!p.acked) p.buf.writeUInt16LE(p.buf.readUInt16LE(6) & ~NLM_F.ACK, 6);
    });
    this.stats.sendCalls++;
    this.stats.messagesSent += batch.length;
    this.armTimer();
    this.socket.send(
      batch.map((p) => p.buf),
      { port: this.peerPort },
      (err) => {
        if (!err) return;
        // Nothing of this datagram reached the peer: fail exactly these requests.
        const errno = err.errno ?? EMSGSIZE;
        for (const p of batch) {
          if (this.inflight.get(p.seq) !== p) continue;
          this.inflight.delete(p.seq);
          this.finish(p, errno);
        }
        this.pump();
        this.updateRef();
      },
    );
  }

  private receive(datagram: Buffer): void {
    this.stats.datagramsReceived++;
    let msgs: NetlinkMessage[];
    try {
      msgs = parseMessages(datagram);
    } catch {
      // A datagram we cannot split: we cannot tell whose replies it held.
      this.failInflight(EMSGSIZE, 'undecodable netlink datagram');
      return;
    }
    for (const m of msgs) {
      const p = this.inflight.get(m.seq);
      if (!p) {
        this.stats.strayMessages++;
        continue;
      }
      if (m.type === NLMSG.ERROR) {
        this.inflight.delete(m.seq);
        this.finish(p, parseErrorPayload(m.payload).errno);
        if (p.acked && p.batch) this.settleBatch(p.batch);
      } else if (m.type === NLMSG.DONE) {
        this.inflight.delete(m.seq);
        this.finish(p, parseDonePayload(m.payload));
      } else if (m.type === NLMSG.NOOP) {
        continue;
      } else {
        if (p.replies === NO_REPLIES) p.replies = [];
        p.replies.push(m);
        // A doit reply without NLM_F_MULTI to a dump request would never see NLMSG_DONE: not a case the kernel
        // produces, but a fake kernel might; ACKed requests always end with their ACK.
      }
    }
    // Right away: the next dump goes out without waiting for the event loop, and the half-window rule in
    // pump() keeps acked batches big.
    this.pump();
    this.updateRef();
  }

  /** The ACKed message of a datagram was answered: its other messages, still unanswered, succeeded. */
  private settleBatch(batch: Pending[]): void {
    for (const q of batch) {
      if (this.inflight.get(q.seq) !== q) continue;
      if (q.acked) continue; // ackMode 'each': every message gets its own answer
      this.inflight.delete(q.seq);
      this.finish(q, 0);
    }
  }

  private finish(p: Pending, errno: number): void {
    if (p.dump && p.seq !== 0) this.dumpActive = false;
    const c = p.call;
    c.results[p.index] = { errno, replies: p.replies };
    if (--c.left === 0) c.resolve(c.results);
  }

  private failInflight(errno: number, _why: string): void {
    const failed = [...this.inflight.values()];
    this.inflight.clear();
    for (const p of failed) this.finish(p, errno);
    this.clearTimer();
    this.pump();
    this.updateRef();
  }

  /**
   * The silence watchdog. Re-arming a timer per message costs a clock read each time (a system call in the
   * user-mode guest, where it dominated): instead one timer ticks every timeoutMs/2 while requests wait and
   * fires the timeout when two ticks in a row saw no datagram.
   */
  private armTimer(): void {
    if (this.timeoutMs <= 0 || this.timer) return;
    let seen = this.stats.datagramsReceived;
    let quietTicks = 0;
    this.timer = setInterval(() => {
      if (this.inflight.size === 0) {
        this.clearTimer(); // idle: the next transmit starts it again
        return;
      }
      if (this.stats.datagramsReceived !== seen) {
        seen = this.stats.datagramsReceived;
        quietTicks = 0;
        return;
      }
      if (++quietTicks >= 2) this.failInflight(ETIMEDOUT, 'netlink peer silent');
    }, Math.max(1, Math.floor(this.timeoutMs / 2)));
    this.timer.unref();
  }

  private clearTimer(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private updateRef(): void {
    const want = !this.closed && this.pending > 0;
    if (want === this.referenced) return;
    this.referenced = want;
    if (want) this.socket.ref?.();
    else this.socket.unref?.();
  }
}
