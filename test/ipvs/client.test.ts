// The IPVS client against a fake kernel: apply()'s batching and errno judgement (with a small model of the
// kernel's IPVS table answering EEXIST/ESRCH/ENOENT like ip_vs_ctl.c), and observe() over dump replies that
// are the real kernel's bytes from test/fixtures/ipvs/dump-table.json.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { IpvsClient } from '../../src/kernel/ipvs/client.js';
import { decodeDestNest, decodeServiceNest } from '../../src/kernel/ipvs/codec.js';
import { IPVS_CMD, IPVS_CMD_ATTR } from '../../src/kernel/ipvs/constants.js';
import type { IpvsOp } from '../../src/kernel/ipvs/ops.js';
import { KernelError } from '../../src/kernel/errors.js';
import { attributeTable } from '../../src/kernel/netlink/attributes.js';
import { parseGenlPayload } from '../../src/kernel/netlink/messages.js';
import { openNetlinkSocket } from '../../src/kernel/netlink/socket.js';
import { FakeKernel, type Answer, type Received } from './fake-kernel.js';
import { ipvsMessages, loadFixture, messagesOf } from './fixtures.js';

const FAMILY = 0x1c;
const vs = { protocol: 'TCP' as const, address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0 };
const rs = (n: number) => ({ address: `10.244.1.${n}`, port: 8080, weight: 1 });

/** ip_vs_ctl.c's answers for the commands apply() sends. */
function tinyIpvs(): (m: Received) => Answer {
  const table = new Map<string, Set<string>>();
  const schedulers = new Set(['rr', 'wrr', 'sh', 'mh']);
  return (m) => {
    const g = parseGenlPayload(m.payload);
    const attrs = attributeTable(g.attrs);
    const svc = decodeServiceNest(attrs.get(IPVS_CMD_ATTR.SERVICE)!);
    const key = `${svc.protocol}/${svc.address}/${svc.port}`;
    const destNest = attrs.get(IPVS_CMD_ATTR.DEST);
    const dest = destNest ? decodeDestNest(destNest, svc.family) : undefined;
    const dkey = dest ? `${dest.address}/${dest.port}` : '';
    const dests = table.get(key);
    switch (g.cmd) {
      case IPVS_CMD.NEW_SERVICE:
        if (!schedulers.has(svc.scheduler)) return { errno: 2 };
        if (dests) return { errno: 17 };
        table.set(key, new Set());
        return { errno: 0 };
      case IPVS_CMD.SET_SERVICE:
        return { errno: dests ? 0 : 3 };
      case IPVS_CMD.DEL_SERVICE:
        if (!dests) return { errno: 3 };
        table.delete(key);
        return { errno: 0 };
      case IPVS_CMD.NEW_DEST:
        if (!dests) return { errno: 3 };
        if (dests.has(dkey)) return { errno: 17 };
        dests.add(dkey);
        return { errno: 0 };
      case IPVS_CMD.SET_DEST:
        if (!dests) return { errno: 3 };
        return { errno: dests.has(dkey) ? 0 : 2 };
      case IPVS_CMD.DEL_DEST:
        if (!dests) return { errno: 3 };
        return { errno: dests.delete(dkey) ? 0 : 2 };
      default:
        return { errno: 22 };
    }
  };
}

let fake: FakeKernel;
const clients: IpvsClient[] = [];
async function connect(): Promise<IpvsClient> {
  const c = await IpvsClient.open({ socket: openNetlinkSocket(), peerPort: fake.port, familyId: FAMILY });
  clients.push(c);
  return c;
}
before(() => {
  fake = new FakeKernel(() => ({ errno: 0 }));
});
after(() => {
  for (const c of clients) c.close();
  fake.close();
});
function reset(h: (m: Received) => Answer): void {
  fake.datagrams.length = 0;
  fake.setHandler(h);
}

describe('IpvsClient.apply (fake kernel)', () => {
  it('sends the whole batch in one sendmsg, in order, and judges each errno', async () => {
    reset(tinyIpvs());
    const c = await connect();
    const ops: IpvsOp[] = [
      { kind: 'add-virtual-server', vs },
      { kind: 'add-real-server', vs, rs: rs(1) },
      { kind: 'add-real-server', vs, rs: rs(2) },
      { kind: 'add-virtual-server', vs }, // exists
      { kind: 'add-real-server', vs, rs: rs(1) }, // exists
      { kind: 'delete-real-server', vs, rs: rs(9) }, // no such destination
      { kind: 'delete-virtual-server', vs: { ...vs, port: 81 } }, // no such service
      { kind: 'delete-real-server', vs: { ...vs, port: 81 }, rs: rs(1) }, // its service is gone too
      { kind: 'update-real-server', vs, rs: { ...rs(7), weight: 0 } }, // no such destination: an error
      { kind: 'add-virtual-server', vs: { ...vs, port: 82, scheduler: 'nosuch' } }, // unknown scheduler
      { kind: 'update-virtual-server', vs: { ...vs, scheduler: 'wrr' } },
      { kind: 'add-real-server', vs: { ...vs, port: 83 }, rs: rs(1) }, // no service
    ];
    const res = await c.apply(ops);
    const summary = res.map((r) => (r.ok ? (r.alreadyDone ? 'done-already' : 'ok') : r.error.code));
    assert.deepEqual(summary, ['ok', 'ok', 'ok', 'done-already', 'done-already', 'done-already', 'done-already', 'done-already', 'ENOENT', 'ENOENT', 'ok', 'ESRCH']);
    assert.equal(fake.datagrams.length, 1, 'one datagram for the whole batch');
    assert.equal(fake.datagrams[0]!.length, ops.length);
    assert.ok(res.every((r, i) => r.op === ops[i]));
  });

  it('names the failing op in the error, with the errno name', async () => {
    reset(tinyIpvs());
    const c = await connect();
    const [r] = await c.apply([{ kind: 'add-real-server', vs, rs: { address: '10.244.1.5', port: 8080, weight: 1 } }]);
    assert.ok(r && !r.ok);
    assert.ok(r.error instanceof KernelError);
    assert.equal(r.error.message, 'add-real-server TCP/10.96.0.10:80 -> 10.244.1.5:8080: ESRCH');
    assert.equal(r.error.op, 'add-real-server TCP/10.96.0.10:80 -> 10.244.1.5:8080');
    assert.equal(r.error.details.errno, 3);
    const [v6] = await c.apply([{ kind: 'delete-real-server', vs: { ...vs, address: 'fd00::10', protocol: 'UDP' }, rs: { address: 'fd00::5', port: 53 } }]);
    assert.ok(v6 && v6.ok && v6.alreadyDone);
    assert.equal(fake.messages.length, 2);
  });

  it('turns invalid input into an EINVAL result for that op alone, without sending it', async () => {
    reset(tinyIpvs());
    const c = await connect();
    const res = await c.apply([
      { kind: 'add-virtual-server', vs },
      { kind: 'add-real-server', vs, rs: { address: '10.244.1.300', port: 1, weight: 1 } },
      { kind: 'add-real-server', vs, rs: { address: '10.244.1.3', port: 1, weight: 1 } },
    ]);
    assert.deepEqual(
      res.map((r) => r.ok),
      [true, false, true],
    );
    const bad = res[1]!;
    assert.ok(!bad.ok && bad.error.code === 'EINVAL' && /10\.244\.1\.300/.test(bad.error.message));
    assert.equal(fake.messages.length, 2);
  });

  it('single operations throw KernelError on any errno, including "exists"', async () => {
    reset(tinyIpvs());
    const c = await connect();
    await c.addService(vs);
    await assert.rejects(c.addService(vs), (e: unknown) => e instanceof KernelError && e.code === 'EEXIST');
    await c.addDestination(vs, rs(1));
    await c.editDestination(vs, { ...rs(1), weight: 0 });
    await assert.rejects(c.deleteDestination(vs, rs(2)), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
    await c.deleteService(vs);
    await assert.rejects(c.editService(vs), (e: unknown) => e instanceof KernelError && e.code === 'ESRCH');
  });

  it('fails to open with ENOENT and a hint when the kernel has no IPVS family', async () => {
    reset(() => ({ errno: 2 }));
    await assert.rejects(IpvsClient.open({ socket: openNetlinkSocket(), peerPort: fake.port }), (e: unknown) => {
      return e instanceof KernelError && e.code === 'ENOENT' && e.op === 'resolve-family IPVS' && /ip_vs/.test(e.message);
    });
  });
});

describe('IpvsClient reads (fake kernel replaying the real kernel\'s replies)', () => {
  const fx = loadFixture('dump-table');
  const all = messagesOf(fx);
  const answersTo = (req: { seq: number; pid: number; type: number }) =>
    all.filter((m) => m.dir === 'to-user' && m.seq === req.seq && m.pid === req.pid && m.type === req.type).map((m) => m.payload);
  const serviceDump = ipvsMessages(fx, 'to-kernel', IPVS_CMD.GET_SERVICE)[0]!;
  const destReplies = new Map<string, Buffer[]>();
  for (const req of ipvsMessages(fx, 'to-kernel', IPVS_CMD.GET_DEST)) {
    const s = decodeServiceNest(attributeTable(parseGenlPayload(req.payload).attrs).get(IPVS_CMD_ATTR.SERVICE)!);
    destReplies.set(`${s.protocol}/${s.address}/${s.port}`, answersTo(req));
  }
  const replay = (m: Received): Answer => {
    const g = parseGenlPayload(m.payload);
    if (g.cmd === IPVS_CMD.GET_SERVICE) {
      const parts = answersTo(serviceDump);
      return { dump: [parts.slice(0, 3), parts.slice(3)] };
    }
    if (g.cmd === IPVS_CMD.GET_DEST) {
      const s = decodeServiceNest(attributeTable(g.attrs).get(IPVS_CMD_ATTR.SERVICE)!);
      return { dump: [destReplies.get(`${s.protocol}/${s.address}/${s.port}`) ?? []] };
    }
    if (g.cmd === IPVS_CMD.GET_INFO) return { errno: 0, data: ipvsMessages(loadFixture('get-info-empty'), 'to-user', IPVS_CMD.SET_INFO).map((x) => x.payload) };
    if (g.cmd === IPVS_CMD.GET_CONFIG) return { errno: 0, data: ipvsMessages(loadFixture('get-timeouts'), 'to-user', IPVS_CMD.SET_CONFIG).map((x) => x.payload) };
    return { errno: 22 };
  };

  it('observe() returns plan-document virtual servers, sorted, without HASHED and without fwmark services', async () => {
    reset(replay);
    const c = await connect();
    const table = await c.observe();
    assert.deepEqual(
      table.map((v) => `${v.protocol}/${v.address}:${v.port} ${v.scheduler} f=${v.flags} t=${v.timeout} rs=${v.realServers.map((r) => `${r.address}:${r.port}@${r.weight}`).join(',')}`),
      [
        'TCP/10.96.0.10:80 lc f=0 t=0 rs=10.244.1.5:8080@5',
        'SCTP/10.96.0.11:3868 sh f=24 t=0 rs=',
        'TCP/10.96.0.12:443 wlc f=1 t=300 rs=10.244.2.7:443@0',
        'UDP/10.96.0.14:5060 rr f=1 t=60 rs=',
        'TCP/10.96.0.20:80 rr f=0 t=0 rs=10.96.0.20:8080@1',
        'UDP/fd00::10:53 wrr f=1 t=10800 rs=fd00:244::5:5353@3',
        'TCP/fd00::13:80 mh f=24 t=0 rs=',
      ],
    );
    const busy = table.find((v) => v.address === '10.96.0.20')!;
    assert.ok(busy.stats && busy.stats.conns > 0 && busy.stats.inPkts > 0);
    const rsBusy = busy.realServers[0]!;
    assert.ok(rsBusy.activeConns! + rsBusy.inactiveConns! > 0, 'connection counters come through');
    assert.ok(rsBusy.stats && rsBusy.stats.inBytes > 0);
    // One service dump, then one destination dump per listed (non-fwmark) service.
    const cmds = fake.messages.map((m) => parseGenlPayload(m.payload).cmd);
    assert.deepEqual(cmds, [IPVS_CMD.GET_SERVICE, ...Array(7).fill(IPVS_CMD.GET_DEST)]);
  });

  it('listServices() keeps what observe() leaves out: fwmark services, HASHED, netmask, pe name', async () => {
    reset(replay);
    const c = await connect();
    const list = await c.listServices();
    assert.equal(list.length, 8);
    const fwm = list.find((s) => s.fwmark === 100)!;
    assert.equal(fwm.scheduler, 'rr');
    assert.ok(list.every((s) => (s.flags & 2) === 2));
    assert.equal(list.find((s) => s.port === 443)!.netmask, 0xffffff00);
    assert.equal(list.find((s) => s.port === 5060)!.peName, 'sip');
  });

  it('reports bytes that do not decode as KernelError EPROTO naming the read', async () => {
    // A NEW_SERVICE message whose SERVICE nest claims more bytes than it has.
    reset(() => ({ dump: [[Buffer.from('0101000008000100', 'hex')]] }));
    const c = await connect();
    await assert.rejects(c.listServices(), (e: unknown) => e instanceof KernelError && e.code === 'EPROTO' && e.op === 'list-virtual-servers');
  });

  it('getInfo() and getTimeouts() decode the kernel\'s doit replies', async () => {
    reset(replay);
    const c = await connect();
    assert.deepEqual(await c.getInfo(), { versionCode: 0x010201, version: '1.2.1', connTableSize: 4096 });
    assert.deepEqual(await c.getTimeouts(), { tcp: 900, tcpFin: 120, udp: 300 });
  });
});
