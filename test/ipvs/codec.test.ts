// The IPVS codec against bytes captured from a real Linux 6.1 kernel and ipvsadm 1.31 (test/fixtures/ipvs):
// our encoder must produce what ipvsadm sends (byte for byte where we send the same attributes), and our
// decoder must read the kernel's replies to the same values ipvsadm printed in the same capture.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  decodeDest,
  decodeInfo,
  decodeService,
  decodeServiceNest,
  decodeTimeouts,
  encode,
  type IpvsDest,
  type IpvsService,
  type IpvsServiceEntry,
} from '../../src/kernel/ipvs/codec.js';
import { IPVS_CMD, IPVS_CMD_ATTR, IPVS_DEST_ATTR } from '../../src/kernel/ipvs/constants.js';
import { attributeTable, AttrIndex, AttrWriter, NetlinkDecodeError, parseAttributes } from '../../src/kernel/netlink/attributes.js';
import { NLMSG } from '../../src/kernel/netlink/constants.js';
import { parseErrorPayload, parseGenlPayload } from '../../src/kernel/netlink/messages.js';
import { ipvsFamilyId, ipvsMessages, loadFixture, messagesOf, type Fixture } from './fixtures.js';

const tcp4: IpvsService = {
  family: 4,
  protocol: 6,
  address: '10.96.0.10',
  port: 80,
  fwmark: 0,
  scheduler: 'rr',
  flags: 0,
  timeout: 0,
  netmask: 0xffffffff,
  peName: '',
};

/** The one IPVS request ipvsadm sent in a capture. */
function sentPayload(name: string, cmd: number): Buffer {
  const msgs = ipvsMessages(loadFixture(name), 'to-kernel', cmd);
  assert.equal(msgs.length, 1, `${name}: one request with cmd ${cmd}`);
  return msgs[0]!.payload;
}

/** Nested attribute tables of a genl payload: top-level type -> (inner type -> hex). */
function nests(payload: Buffer): Map<number, Map<number, string>> {
  const out = new Map<number, Map<number, string>>();
  for (const a of parseAttributes(parseGenlPayload(payload).attrs)) {
    out.set(a.type, new Map(parseAttributes(a.data).map((x) => [x.type, x.data.toString('hex')])));
  }
  return out;
}

/** Every attribute we send is one ipvsadm sent, with the same bytes; ipvsadm may send more. */
function assertSubsetOf(ours: Buffer, theirs: Buffer, extrasAllowed: (top: number, type: number, hex: string) => boolean): void {
  assert.deepEqual(ours.subarray(0, 2), theirs.subarray(0, 2), 'genl cmd and version');
  const a = nests(ours);
  const b = nests(theirs);
  assert.deepEqual([...a.keys()].sort(), [...b.keys()].sort(), 'same top-level attributes');
  for (const [top, inner] of b) {
    const mine = a.get(top)!;
    for (const [type, hex] of inner) {
      if (mine.has(type)) assert.equal(mine.get(type), hex, `attribute ${top}.${type}`);
      else assert.ok(extrasAllowed(top, type, hex), `ipvsadm sent ${top}.${type}=${hex} which we do not`);
    }
    for (const type of mine.keys()) assert.ok(inner.has(type), `we send ${top}.${type} which ipvsadm does not`);
  }
}

describe('encoder: service requests are byte-identical to what ipvsadm sends', () => {
  const cases: [string, IpvsService][] = [
    ['add-service-tcp4-rr', tcp4],
    ['add-service-udp6-persist', { ...tcp4, family: 6, protocol: 17, address: 'fd00::10', port: 53, scheduler: 'wrr', flags: 1, timeout: 10800, netmask: 128 }],
    ['add-service-sctp4-sh', { ...tcp4, protocol: 132, address: '10.96.0.11', port: 3868, scheduler: 'sh', flags: 0x18 }],
    ['add-service-tcp4-netmask', { ...tcp4, address: '10.96.0.12', port: 443, scheduler: 'wlc', flags: 1, timeout: 300, netmask: 0xffffff00 }],
    ['add-service-tcp6-mh', { ...tcp4, family: 6, address: 'fd00::13', scheduler: 'mh', flags: 0x18, netmask: 128 }],
    ['add-service-fwmark', { ...tcp4, protocol: 0, address: '0.0.0.0', port: 0, fwmark: 100 }],
    ['add-service-udp4-pe-sip', { ...tcp4, protocol: 17, address: '10.96.0.14', port: 5060, flags: 1, timeout: 60, peName: 'sip' }],
  ];
  for (const [name, svc] of cases) {
    it(name, () => {
      assert.equal(encode.newService(svc).toString('hex'), sentPayload(name, IPVS_CMD.NEW_SERVICE).toString('hex'));
    });
  }
  it('edit-service-tcp4-lc (SET_SERVICE)', () => {
    const ours = encode.setService({ ...tcp4, scheduler: 'lc' });
    assert.equal(ours.toString('hex'), sentPayload('edit-service-tcp4-lc', IPVS_CMD.SET_SERVICE).toString('hex'));
  });
});

describe('encoder: identity-only and destination requests carry ipvsadm\'s bytes for every attribute we send', () => {
  // ipvsadm repeats the whole service (empty scheduler, flags, timeout, netmask) where the kernel only needs its
  // identity, and sends zero tunnel attributes for every destination: those extras are all we leave out.
  const serviceExtras = new Set([6, 7, 8, 9]); // SCHED_NAME FLAGS TIMEOUT NETMASK
  const zeroTunnel = new Set([IPVS_DEST_ATTR.TUN_TYPE, IPVS_DEST_ATTR.TUN_PORT, IPVS_DEST_ATTR.TUN_FLAGS] as number[]);
  const extras = (top: number, type: number, hex: string): boolean =>
    (top === IPVS_CMD_ATTR.SERVICE && serviceExtras.has(type)) ||
    (top === IPVS_CMD_ATTR.DEST && zeroTunnel.has(type) && /^0+$/.test(hex));
  const masq = (address: string, port: number, weight: number): IpvsDest => ({
    family: address.includes(':') ? 6 : 4,
    address,
    port,
    forward: 0,
    weight,
    upperThreshold: 0,
    lowerThreshold: 0,
  });

  it('add-dest-tcp4-masq', () => {
    const ours = encode.newDest(tcp4, masq('10.244.1.5', 8080, 1));
    assertSubsetOf(ours, sentPayload('add-dest-tcp4-masq', IPVS_CMD.NEW_DEST), extras);
  });
  it('add-dest-udp6-w3 (IPv6 destination address and family)', () => {
    const svc = { ...tcp4, family: 6 as const, protocol: 17, address: 'fd00::10', port: 53 };
    const ours = encode.newDest(svc, masq('fd00:244::5', 5353, 3));
    assertSubsetOf(ours, sentPayload('add-dest-udp6-w3', IPVS_CMD.NEW_DEST), extras);
  });
  it('add-dest-tunnel-thresh (weight 0, thresholds, tunnel forwarding)', () => {
    const svc = { ...tcp4, address: '10.96.0.12', port: 443 };
    const d: IpvsDest = { ...masq('10.244.2.7', 443, 0), forward: 2, upperThreshold: 100, lowerThreshold: 10 };
    assertSubsetOf(encode.newDest(svc, d), sentPayload('add-dest-tunnel-thresh', IPVS_CMD.NEW_DEST), extras);
  });
  it('edit-dest-tcp4-w5 (SET_DEST)', () => {
    const ours = encode.setDest(tcp4, masq('10.244.1.5', 8080, 5));
    assertSubsetOf(ours, sentPayload('edit-dest-tcp4-w5', IPVS_CMD.SET_DEST), extras);
  });
  it('del-dest-tcp4 (DEL_DEST sends only the destination identity)', () => {
    const theirs = sentPayload('del-dest-tcp4', IPVS_CMD.DEL_DEST);
    const ours = encode.delDest(tcp4, { address: '10.244.1.5', port: 8080, family: 4 });
    // ipvsadm also sends forward/weight/thresholds on delete; the kernel reads only address and port.
    assertSubsetOf(ours, theirs, (top, type, hex) => extras(top, type, hex) || (top === IPVS_CMD_ATTR.DEST && [3, 4, 5, 6].includes(type)));
    assert.deepEqual([...nests(ours).get(IPVS_CMD_ATTR.DEST)!.keys()].sort((a, b) => a - b), [1, 2, 11]);
  });
  it('del-service-tcp4 and zero-one send the service identity', () => {
    assertSubsetOf(encode.delService(tcp4), sentPayload('del-service-tcp4', IPVS_CMD.DEL_SERVICE), extras);
    assertSubsetOf(encode.zero(tcp4), sentPayload('zero-one', IPVS_CMD.ZERO), extras);
  });
  it('attribute-free requests are identical: zero all, flush, info, service dump', () => {
    assert.equal(encode.zero().toString('hex'), sentPayload('zero-all', IPVS_CMD.ZERO).toString('hex'));
    assert.equal(encode.flush().toString('hex'), sentPayload('flush', IPVS_CMD.FLUSH).toString('hex'));
    assert.equal(encode.getInfo().toString('hex'), sentPayload('get-info-empty', IPVS_CMD.GET_INFO).toString('hex'));
    assert.equal(encode.dumpServices().toString('hex'), sentPayload('get-info-empty', IPVS_CMD.GET_SERVICE).toString('hex'));
    assert.equal(encode.getConfig().toString('hex'), sentPayload('get-timeouts', IPVS_CMD.GET_CONFIG).toString('hex'));
  });
  it('set-timeouts is identical', () => {
    const ours = encode.setConfig({ tcp: 900, tcpFin: 120, udp: 300 });
    assert.equal(ours.toString('hex'), sentPayload('set-timeouts', IPVS_CMD.SET_CONFIG).toString('hex'));
  });
  it('destination dumps name the service like ipvsadm', () => {
    const fx = loadFixture('dump-table');
    const reqs = ipvsMessages(fx, 'to-kernel', IPVS_CMD.GET_DEST);
    const serviceOf = (payload: Buffer) => decodeServiceNest(attributeTable(parseGenlPayload(payload).attrs).get(IPVS_CMD_ATTR.SERVICE)!);
    const first = reqs.find((m) => serviceOf(m.payload).address === '10.96.0.10');
    assert.ok(first);
    assert.equal(encode.dumpDests(tcp4).toString('hex'), first.payload.toString('hex'));
  });
});

/** ipvsadm's `-Ln --stats` rows: service or destination key -> [conns, inpkts, outpkts, inbytes, outbytes]. */
function ipvsadmStats(stdout: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  let service = '';
  for (const line of stdout.split('\n')) {
    const svc = /^(TCP|UDP|SCTP|FWM)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    const dst = /^\s+->\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (svc) {
      service = `${svc[1]} ${svc[2]}`;
      out.set(service, svc.slice(3, 8).map(Number));
    } else if (dst) {
      out.set(`${service} -> ${dst[1]}`, dst.slice(2, 7).map(Number));
    }
  }
  return out;
}

const PROTO: Record<number, string> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
const hostPort = (a: string, p: number): string => (a.includes(':') ? `[${a}]:${p}` : `${a}:${p}`);
const ipvsadmKey = (s: IpvsServiceEntry): string => (s.fwmark ? `FWM ${s.fwmark}` : `${PROTO[s.protocol]} ${hostPort(s.address, s.port)}`);

describe('decoder: a real kernel dump (ipvsadm -Ln --stats)', () => {
  const fx: Fixture = loadFixture('dump-table');
  const all = messagesOf(fx);
  // ipvsadm opens a socket per request and libnl seeds every socket's seq from the clock: replies are matched
  // to their request by (seq, pid), pid being the requesting socket's port.
  const serviceDump = ipvsMessages(fx, 'to-kernel', IPVS_CMD.GET_SERVICE)[0]!;
  const answers = (req: { seq: number; pid: number; type: number }) =>
    all.filter((m) => m.dir === 'to-user' && m.seq === req.seq && m.pid === req.pid && m.type === req.type);
  const services = answers(serviceDump).map((m) => decodeService(m.payload));
  const byKey = new Map(services.map((s) => [ipvsadmKey(s), s]));

  it('has every virtual server, packed many per datagram', () => {
    assert.deepEqual([...byKey.keys()].sort(), [
      'FWM 100',
      'SCTP 10.96.0.11:3868',
      'TCP 10.96.0.10:80',
      'TCP 10.96.0.12:443',
      'TCP 10.96.0.20:80',
      'TCP [fd00::13]:80',
      'UDP 10.96.0.14:5060',
      'UDP [fd00::10]:53',
    ]);
    const frames = new Set(answers(serviceDump).map((m) => m.frame));
    assert.ok(frames.size < services.length, 'the kernel packs several NEW_SERVICE messages in one datagram');
  });

  it('reads schedulers, flags (HASHED included), timeouts, netmasks and persistence engines', () => {
    const pick = (k: string) => {
      const s = byKey.get(k)!;
      return { scheduler: s.scheduler, flags: s.flags, timeout: s.timeout, netmask: s.netmask, peName: s.peName };
    };
    assert.deepEqual(pick('TCP 10.96.0.10:80'), { scheduler: 'lc', flags: 2, timeout: 0, netmask: 0xffffffff, peName: '' });
    assert.deepEqual(pick('UDP [fd00::10]:53'), { scheduler: 'wrr', flags: 3, timeout: 10800, netmask: 128, peName: '' });
    assert.deepEqual(pick('SCTP 10.96.0.11:3868'), { scheduler: 'sh', flags: 0x1a, timeout: 0, netmask: 0xffffffff, peName: '' });
    assert.deepEqual(pick('TCP 10.96.0.12:443'), { scheduler: 'wlc', flags: 3, timeout: 300, netmask: 0xffffff00, peName: '' });
    assert.deepEqual(pick('TCP [fd00::13]:80'), { scheduler: 'mh', flags: 0x1a, timeout: 0, netmask: 128, peName: '' });
    assert.deepEqual(pick('UDP 10.96.0.14:5060'), { scheduler: 'rr', flags: 3, timeout: 60, netmask: 0xffffffff, peName: 'sip' });
    const fwm = byKey.get('FWM 100')!;
    assert.deepEqual([fwm.family, fwm.fwmark, fwm.protocol, fwm.scheduler], [4, 100, 0, 'rr']);
    assert.equal(byKey.get('TCP [fd00::13]:80')!.family, 6);
  });

  it('reads each destination dump, matched to its service by sequence number', () => {
    const dests = new Map<string, ReturnType<typeof decodeDest>>();
    for (const req of ipvsMessages(fx, 'to-kernel', IPVS_CMD.GET_DEST)) {
      const svcNest = attributeTable(parseGenlPayload(req.payload).attrs).get(IPVS_CMD_ATTR.SERVICE)!;
      const svc = decodeServiceNest(svcNest);
      for (const m of answers(req)) {
        const d = decodeDest(m.payload, svc.family);
        dests.set(`${ipvsadmKey(svc)} -> ${hostPort(d.address, d.port)}`, d);
      }
    }
    assert.deepEqual([...dests.keys()].sort(), [
      'TCP 10.96.0.10:80 -> 10.244.1.5:8080',
      'TCP 10.96.0.12:443 -> 10.244.2.7:443',
      'TCP 10.96.0.20:80 -> 10.96.0.20:8080',
      'UDP [fd00::10]:53 -> [fd00:244::5]:5353',
    ]);
    const d1 = dests.get('TCP 10.96.0.10:80 -> 10.244.1.5:8080')!;
    assert.deepEqual([d1.family, d1.forward, d1.weight, d1.upperThreshold, d1.lowerThreshold], [4, 0, 5, 0, 0]);
    const tun = dests.get('TCP 10.96.0.12:443 -> 10.244.2.7:443')!;
    assert.deepEqual([tun.forward, tun.weight, tun.upperThreshold, tun.lowerThreshold], [2, 0, 100, 10]);
    assert.deepEqual(tun.tunnel, { type: 0, port: 0, flags: 0 });
    const v6 = dests.get('UDP [fd00::10]:53 -> [fd00:244::5]:5353')!;
    assert.deepEqual([v6.family, v6.weight], [6, 3]);

    // Counters equal what ipvsadm printed from the same replies (traffic went through TCP 10.96.0.20:80).
    const printed = ipvsadmStats(fx.stdout);
    for (const [key, d] of dests) {
      const s = d.stats!;
      assert.deepEqual([s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes], printed.get(key), key);
    }
    const busy = dests.get('TCP 10.96.0.20:80 -> 10.96.0.20:8080')!;
    assert.ok(busy.stats!.conns > 0 && busy.stats!.inBytes > 0, 'real traffic shows in the counters');
  });

  it('service counters equal what ipvsadm printed', () => {
    const printed = ipvsadmStats(fx.stdout);
    assert.equal(printed.size > 8, true);
    for (const [key, s] of byKey) {
      const st = s.stats!;
      assert.deepEqual([st.conns, st.inPkts, st.outPkts, st.inBytes, st.outBytes], printed.get(key), key);
    }
    assert.ok(byKey.get('TCP 10.96.0.20:80')!.stats!.inPkts > 0);
  });
});

describe('decoder: info, timeouts and errors from the kernel', () => {
  it('GET_INFO answers version 1.2.1 and the connection table size', () => {
    const fx = loadFixture('get-info-empty');
    const [reply] = ipvsMessages(fx, 'to-user', IPVS_CMD.SET_INFO);
    assert.deepEqual(decodeInfo(reply!.payload), { versionCode: 0x010201, version: '1.2.1', connTableSize: 4096 });
  });

  it('GET_CONFIG answers the timeouts set just before', () => {
    const [reply] = ipvsMessages(loadFixture('get-timeouts'), 'to-user', IPVS_CMD.SET_CONFIG);
    assert.deepEqual(decodeTimeouts(reply!.payload), { tcp: 900, tcpFin: 120, udp: 300 });
  });

  const cases: [string, string, number][] = [
    ['error-add-service-exists', 'Service already exists', 17],
    ['error-del-service-missing', 'No such service', 3],
    ['error-add-dest-no-service', 'Service not defined', 3],
    ['error-del-dest-missing', 'No such destination', 2],
    ['error-unknown-scheduler', 'Scheduler or persistence engine not found', 2],
  ];
  for (const [name, stderr, errno] of cases) {
    it(`${name}: NLMSG_ERROR carries errno ${errno} and echoes the request`, () => {
      const fx = loadFixture(name);
      assert.equal(fx.stderr.trim(), stderr);
      const family = ipvsFamilyId(fx);
      const errors = messagesOf(fx)
        .filter((m) => m.type === NLMSG.ERROR)
        .map((m) => parseErrorPayload(m.payload))
        .filter((e) => e.request?.type === family && e.errno !== 0);
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.errno, errno);
      const request = ipvsMessages(fx, 'to-kernel').find((m) => m.cmd !== IPVS_CMD.GET_INFO)!;
      assert.equal(errors[0]!.request!.seq, request.seq);
    });
  }
});

describe('encoder rules', () => {
  it('ports are big-endian, IPv4 netmask big-endian, IPv6 prefix length little-endian', () => {
    const v4 = nests(encode.newService({ ...tcp4, port: 0x1f90, netmask: 0xffffff00 })).get(IPVS_CMD_ATTR.SERVICE)!;
    assert.equal(v4.get(4), '1f90');
    assert.equal(v4.get(9), 'ffffff00');
    const v6 = nests(encode.newService({ ...tcp4, family: 6, address: 'fd00::1', netmask: 64 })).get(IPVS_CMD_ATTR.SERVICE)!;
    assert.equal(v6.get(9), '40000000');
    assert.equal(v6.get(3), 'fd000000000000000000000000000001');
  });

  it('rejects a scheduler name the kernel would truncate, and an address of the wrong family', () => {
    assert.throws(() => encode.newService({ ...tcp4, scheduler: 'x'.repeat(16) }), /scheduler name too long/);
    assert.throws(() => encode.newService({ ...tcp4, address: 'fd00::1' }), /not an IPv4 address/);
  });

  it('nests carry NLA_F_NESTED and pad every attribute to 4 bytes', () => {
    const payload = encode.newService({ ...tcp4, scheduler: 'lblcr' });
    const attrs = payload.subarray(4);
    assert.equal(attrs.readUInt16LE(2), 0x8000 | IPVS_CMD_ATTR.SERVICE);
    assert.equal(attrs.length % 4, 0);
    const sched = nests(payload).get(IPVS_CMD_ATTR.SERVICE)!.get(6);
    assert.equal(sched, Buffer.from('lblcr\0').toString('hex'));
  });

  it('AttrIndex reads in place: u64 above 2^32, NLA_F_NESTED tolerated, unknown types skipped, truncation reported', () => {
    const w = new AttrWriter(16, true)
      .u64(1, 0x1_2345_6789n)
      .nested(2, (n) => n.u32(1, 7))
      .u32(40, 99) // a type newer than our table
      .string(3, 'mh');
    const t = new AttrIndex(w.finish(), 0, w.length, 8);
    assert.equal(t.u64(1), 0x1_2345_6789);
    assert.equal(t.nest(2)!.u32(1), 7);
    assert.equal(t.has(40), false);
    assert.equal(t.string(3), 'mh');
    assert.equal(t.u32(5, 123), 123, 'absent attributes read as the default');
    const cut = w.finish().subarray(0, 10);
    assert.throws(() => new AttrIndex(cut), NetlinkDecodeError);
    assert.throws(() => decodeService(Buffer.from('01010000', 'hex')), /no SERVICE attribute/);
  });

  it('AttrWriter grows past its first buffer and nests lengths include the children', () => {
    const w = new AttrWriter(8);
    w.nested(1, (n) => {
      for (let i = 0; i < 50; i++) n.u32(2, i);
    });
    const [outer] = parseAttributes(w.finish());
    assert.equal(outer!.data.length, 50 * 8);
    assert.deepEqual(
      parseAttributes(outer!.data).map((a) => a.data.readUInt32LE(0)),
      Array.from({ length: 50 }, (_, i) => i),
    );
  });
});
