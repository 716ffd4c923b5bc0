// The netlink transport against a fake kernel socket (fake-kernel.ts): batching, the ACK window, seq matching,
// per-message errno, multipart dumps, dump exclusivity, timeouts, and nlctrl family resolution.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { AttrWriter } from '../../src/kernel/netlink/attributes.js';
import { CTRL_ATTR, CTRL_CMD, GENL_ID_CTRL, NLM_F } from '../../src/kernel/netlink/constants.js';
import { decodeFamily, resolveFamily } from '../../src/kernel/netlink/family.js';
import { encodeGenlPayload, parseGenlPayload } from '../../src/kernel/netlink/messages.js';
import { openNetlinkSocket } from '../../src/kernel/netlink/socket.js';
import { ackWindow, NetlinkError, NetlinkTransport, type TransportOptions } from '../../src/kernel/netlink/transport.js';
import { FakeKernel, type Handler } from './fake-kernel.js';
import { loadFixture, messagesOf } from './fixtures.js';

const FAMILY = 0x30;
const payload = (cmd: number, extra = 0): Buffer => encodeGenlPayload(cmd, 1, Buffer.alloc(extra));
const turns = async (n = 5): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
};

let fake: FakeKernel;
const transports: NetlinkTransport[] = [];
function connect(opts: TransportOptions = {}): NetlinkTransport {
  const t = new NetlinkTransport(openNetlinkSocket(), { peerPort: fake.port, ...opts });
  transports.push(t);
  return t;
}

before(() => {
  fake = new FakeKernel(() => ({ errno: 0 }));
});
after(() => {
  for (const t of transports) t.close();
  fake.close();
});

function reset(handler: Handler): void {
  fake.datagrams.length = 0;
  fake.held.length = 0;
  fake.setHandler(handler);
}

describe('netlink transport (fake kernel)', () => {
  it('sends a batch as ONE datagram and returns each message its own errno', async () => {
    // The genl cmd byte tells the fake which errno to answer.
    const errnos = [0, 17, 3, 2, 0, 22, 0, 1];
    reset((m) => ({ errno: parseGenlPayload(m.payload).cmd }));
    const t = connect();
    const specs = Array.from({ length: 40 }, (_, i) => ({ type: FAMILY, payload: payload(errnos[i % errnos.length]!) }));
    const results = await t.request(specs);
    assert.deepEqual(
      results.map((r) => r.errno),
      specs.map((_, i) => errnos[i % errnos.length]),
    );
    assert.equal(fake.datagrams.length, 1, 'one sendmsg');
    assert.equal(fake.datagrams[0]!.length, 40);
    const msgs = fake.messages;
    assert.equal(new Set(msgs.map((m) => m.seq)).size, 40, 'every message has its own seq');
    assert.ok(msgs.every((m) => m.type === FAMILY));
    // Only the last message asks for an ACK: failures are always reported, and the kernel answers in order.
    assert.ok(msgs.slice(0, -1).every((m) => m.flags === NLM_F.REQUEST));
    assert.equal(msgs.at(-1)!.flags, NLM_F.REQUEST | NLM_F.ACK);
    assert.equal(t.stats.sendCalls, 1);
    // 40 messages, 5 of every 8 failing (the last one too): 25 answers came back, not 40.
    assert.equal(t.stats.datagramsReceived, 25);
  });

  it('ackMode "each" asks every message for its ACK', async () => {
    reset((m) => ({ errno: parseGenlPayload(m.payload).cmd }));
    const t = connect({ ackMode: 'each' });
    const results = await t.request([0, 17, 0].map((e) => ({ type: FAMILY, payload: payload(e) })));
    assert.deepEqual(results.map((r) => r.errno), [0, 17, 0]);
    assert.ok(fake.messages.every((m) => m.flags === (NLM_F.REQUEST | NLM_F.ACK)));
  });

  it('keeps at most maxInFlight requests unacknowledged and matches out-of-order ACKs by seq', async () => {
    let answered = 0;
    let maxOutstanding = 0;
    reset((m) => {
      maxOutstanding = Math.max(maxOutstanding, fake.messages.length - answered);
      return 'hold';
    });
    // Out-of-order answers only make sense when every message is ACKed (the kernel itself answers in order).
    const t = connect({ maxInFlight: 8, ackMode: 'each' });
    const specs = Array.from({ length: 30 }, (_, i) => ({ type: FAMILY, payload: payload(i) }));
    const done = t.request(specs);
    await fake.waitFor(8);
    await turns();
    assert.equal(fake.messages.length, 8, 'the 9th request waits for an ACK');
    // From now on answer everything, the held ones last-first, with errno = the request's cmd byte.
    fake.setHandler((m) => {
      answered++;
      return { errno: parseGenlPayload(m.payload).cmd };
    });
    for (const h of fake.held.splice(0).reverse()) {
      answered++;
      fake.answer(h.m, h.from, { errno: parseGenlPayload(h.m.payload).cmd });
    }
    const results = await done;
    assert.deepEqual(
      results.map((r) => r.errno),
      specs.map((_, i) => i),
    );
    assert.ok(maxOutstanding <= 8, `outstanding ${maxOutstanding}`);
    assert.ok(fake.datagrams.every((d) => d.length <= 8));
    assert.equal(fake.messages.length, 30);
  });

  it('refills the window in big batches, not one message per ACK', async () => {
    reset(() => ({ errno: 0 }));
    const t = connect({ maxInFlight: 64 });
    const results = await t.request(Array.from({ length: 1000 }, () => ({ type: FAMILY, payload: payload(0) })));
    assert.equal(results.length, 1000);
    // Every sendmsg but the last carries at least half a window (32 messages).
    assert.ok(t.stats.sendCalls <= Math.ceil(1000 / 32), `${t.stats.sendCalls} sendmsg calls for 1000 requests`);
    assert.ok(fake.datagrams.slice(0, -1).every((d) => d.length >= 32));
  });

  it('splits a batch at maxBatchBytes', async () => {
    reset(() => ({ errno: 0 }));
    const t = connect({ maxBatchBytes: 200 });
    const results = await t.request(Array.from({ length: 9 }, () => ({ type: FAMILY, payload: payload(0, 60) })));
    assert.equal(results.length, 9);
    // 80-byte messages: two per 200-byte datagram.
    assert.deepEqual(
      fake.datagrams.map((d) => d.length),
      [2, 2, 2, 2, 1],
    );
  });

  it('returns data messages that precede the ACK (doit replies)', async () => {
    reset(() => ({ errno: 0, data: [payload(14, 8)] }));
    const t = connect();
    const [r] = await t.request([{ type: FAMILY, payload: payload(15) }]);
    assert.equal(r!.errno, 0);
    assert.equal(r!.replies.length, 1);
    assert.equal(parseGenlPayload(r!.replies[0]!.payload).cmd, 14);
  });

  it('collects a multipart dump across datagrams until NLMSG_DONE', async () => {
    reset(() => ({ dump: [[payload(1, 4), payload(1, 8), payload(1, 12)], [payload(1, 16), payload(1, 20)]] }));
    const t = connect();
    const parts = await t.dump({ type: FAMILY, payload: payload(4) });
    assert.deepEqual(
      parts.map((p) => p.payload.length),
      [8, 12, 16, 20, 24],
    );
    assert.ok(parts.every((p) => (p.flags & NLM_F.MULTI) !== 0));
    const req = fake.messages[0]!;
    assert.equal(req.flags, NLM_F.REQUEST | NLM_F.DUMP, 'dumps ask for NLM_F_DUMP and no ACK');
  });

  it('rejects a dump with the errno of NLMSG_DONE or NLMSG_ERROR', async () => {
    const t = connect();
    reset(() => ({ dump: [[payload(1)]], doneErrno: 4 }));
    await assert.rejects(t.dump({ type: FAMILY, payload: payload(4) }), (e: unknown) => e instanceof NetlinkError && e.code === 'EINTR');
    reset(() => ({ errno: 16 }));
    await assert.rejects(t.dump({ type: FAMILY, payload: payload(4) }), (e: unknown) => e instanceof NetlinkError && e.code === 'EBUSY');
  });

  it('runs one dump at a time and never alongside acked requests', async () => {
    reset(() => 'hold');
    const t = connect();
    const order: string[] = [];
    const a = t.request([{ type: FAMILY, payload: payload(1) }, { type: FAMILY, payload: payload(2) }]).then(() => order.push('A'));
    const d1 = t.dump({ type: FAMILY, payload: payload(4) }).then(() => order.push('D1'));
    const d2 = t.dump({ type: FAMILY, payload: payload(8) }).then(() => order.push('D2'));
    const b = t.request([{ type: FAMILY, payload: payload(3) }]).then(() => order.push('B'));
    const cmds = (): number[] => fake.messages.map((m) => parseGenlPayload(m.payload).cmd);

    await fake.waitFor(2);
    await turns();
    assert.deepEqual(cmds(), [1, 2], 'the dump waits for the ACKs of earlier requests');
    for (const h of fake.held.splice(0)) fake.answer(h.m, h.from, { errno: 0 });
    await fake.waitFor(3);
    await turns();
    assert.deepEqual(cmds(), [1, 2, 4], 'the second dump and later requests wait for the first dump');
    let h = fake.held.shift()!;
    fake.answer(h.m, h.from, { dump: [[payload(1)]] });
    await fake.waitFor(4);
    await turns();
    assert.deepEqual(cmds(), [1, 2, 4, 8]);
    h = fake.held.shift()!;
    fake.answer(h.m, h.from, { dump: [] });
    await fake.waitFor(5);
    h = fake.held.shift()!;
    fake.answer(h.m, h.from, { errno: 0 });
    await Promise.all([a, d1, d2, b]);
    assert.deepEqual(order, ['A', 'D1', 'D2', 'B']);
  });

  it('fails waiting requests with ETIMEDOUT when the peer stays silent', async () => {
    reset(() => 'hold');
    const t = connect({ timeoutMs: 30 });
    const [r] = await t.request([{ type: FAMILY, payload: payload(1) }]);
    assert.equal(r!.errno, 110);
    assert.equal(t.pending, 0);
  });

  it('fails queued and waiting requests with ECANCELED on close', async () => {
    reset(() => 'hold');
    const t = connect({ maxInFlight: 16 });
    const p = t.request(Array.from({ length: 20 }, () => ({ type: FAMILY, payload: payload(1) })));
    await fake.waitFor(16);
    t.close();
    const results = await p;
    assert.ok(results.every((r) => r.errno === 125));
    const [late] = await t.request([{ type: FAMILY, payload: payload(1) }]);
    assert.equal(late!.errno, 125);
  });

  it('sizes the ACK window from the receive buffer', () => {
    assert.equal(ackWindow(425_984), 208);
    assert.equal(ackWindow(1024), 16, 'never below 16');
    assert.equal(ackWindow(64 << 20), 8192, 'never above 8192');
  });
});

describe('generic netlink family resolution', () => {
  it('asks nlctrl by name and reads id, version and maxattr', async () => {
    reset((m) => {
      const g = parseGenlPayload(m.payload);
      assert.equal(m.type, GENL_ID_CTRL);
      assert.equal(g.cmd, CTRL_CMD.GETFAMILY);
      const attrs = new AttrWriter()
        .u16(CTRL_ATTR.FAMILY_ID, 0x1c)
        .string(CTRL_ATTR.FAMILY_NAME, 'IPVS')
        .u32(CTRL_ATTR.VERSION, 1)
        .u32(CTRL_ATTR.MAXATTR, 6)
        .finish();
      return { errno: 0, data: [encodeGenlPayload(CTRL_CMD.NEWFAMILY, 2, attrs)] };
    });
    const fam = await resolveFamily(connect(), 'IPVS');
    assert.deepEqual(fam, { id: 0x1c, name: 'IPVS', version: 1, maxAttr: 6 });
    const sent = parseGenlPayload(fake.messages[0]!.payload).attrs;
    assert.equal(sent.toString('hex'), '0900020049505653' + '00000000', 'CTRL_ATTR_FAMILY_NAME "IPVS\\0", padded');
  });

  it('reports ENOENT for a family the kernel does not have', async () => {
    reset(() => ({ errno: 2 }));
    await assert.rejects(resolveFamily(connect(), 'IPVS'), (e: unknown) => e instanceof NetlinkError && e.code === 'ENOENT');
  });

  it('decodes the real kernel\'s NEWFAMILY reply for IPVS', () => {
    const reply = messagesOf(loadFixture('get-info-empty')).find((m) => m.type === GENL_ID_CTRL && m.dir === 'to-user')!;
    const fam = decodeFamily(reply.payload);
    assert.equal(fam.name, 'IPVS');
    assert.equal(fam.version, 1);
    assert.equal(fam.maxAttr, 6);
    assert.ok(fam.id >= 0x10);
  });
});
