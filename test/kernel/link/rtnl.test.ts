// Host tests for the rtnetlink plumbing: errno recovery from the `netlink` package's errors (including one real
// rejection from the host kernel), the per-socket gate, kube-proxy's address filter, and LinkDriver's batching
// and idempotence logic against a scripted socket. The real kernel runs link.ktest.ts.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createRtNetlink, type RtNetlinkSocket } from 'netlink';
import { KernelError } from '../../../src/kernel/errors.js';
import { isBindableAddress, LinkDriver } from '../../../src/kernel/link.js';
import { hasErrno, kernelErrorFrom, netlinkErrno } from '../../../src/kernel/rtnl-errno.js';
import { NetlinkGate } from '../../../src/kernel/rtnl-gate.js';
import { parseIP } from '../../../src/model/ip.js';

describe('netlink errno recovery', () => {
  it('reads the errno out of "Request rejected: NAME" messages', () => {
    assert.deepEqual(netlinkErrno(new Error('Request rejected: EEXIST')), { code: 'EEXIST', errno: 17 });
    assert.deepEqual(netlinkErrno(new Error('Request rejected: EADDRNOTAVAIL')), { code: 'EADDRNOTAVAIL', errno: 99 });
    assert.deepEqual(netlinkErrno(new Error('Request rejected: 4097')), { errno: 4097 }, 'unknown numbers stay numbers');
    assert.deepEqual(netlinkErrno(Object.assign(new Error('send failed'), { code: 'ENOBUFS' })), { code: 'ENOBUFS', errno: 105 });
    assert.equal(netlinkErrno(new Error('Multipart message not terminated properly')), undefined);
    assert.equal(netlinkErrno('EEXIST'), undefined);
  });

  it('matches errno names, treating ENOTSUP and EOPNOTSUPP as the same number', () => {
    assert.equal(hasErrno(new Error('Request rejected: ENOTSUP'), 'EOPNOTSUPP'), true);
    assert.equal(hasErrno(new Error('Request rejected: ENXIO'), 'EADDRNOTAVAIL', 'ENXIO'), true);
    assert.equal(hasErrno(new Error('Request rejected: EPERM'), 'EEXIST'), false);
  });

  it('wraps into KernelError keeping op, code and errno', () => {
    const e = kernelErrorFrom('add-address kube-ipvs0 10.96.0.10', new Error('Request rejected: EPERM'));
    assert.ok(e instanceof KernelError);
    assert.equal(e.op, 'add-address kube-ipvs0 10.96.0.10');
    assert.equal(e.code, 'EPERM');
    assert.equal(e.details.errno, 1);
    assert.equal(e.message, 'add-address kube-ipvs0 10.96.0.10: EPERM');
    assert.equal(kernelErrorFrom('x', e), e, 'a KernelError passes through');
  });

  it('understands a real rejection from the kernel (read-only: an unknown link name)', async () => {
    const rtnl = createRtNetlink();
    try {
      await assert.rejects(rtnl.getLink({}, { ifname: 'kipvs-none0' }), (e: unknown) => hasErrno(e, 'ENODEV'));
    } finally {
      rtnl.socket.close();
    }
  });
});

describe('NetlinkGate', () => {
  const deferred = () => {
    let resolve!: () => void;
    const p = new Promise<void>((r) => (resolve = r));
    return { p, resolve };
  };
  const tick = () => new Promise((r) => setImmediate(r));

  it('pipelines shared requests up to the limit', async () => {
    const gate = new NetlinkGate(3);
    let running = 0;
    let peak = 0;
    const work = () => gate.shared(async () => {
      running++;
      peak = Math.max(peak, running);
      await tick();
      running--;
    });
    await Promise.all(Array.from({ length: 10 }, work));
    assert.equal(peak, 3);
  });

  it('runs an exclusive request alone, in arrival order', async () => {
    const gate = new NetlinkGate();
    const log: string[] = [];
    const a = deferred();
    const first = gate.shared(async () => { log.push('a+'); await a.p; log.push('a-'); });
    const dump = gate.exclusive(async () => { log.push('dump+'); await tick(); log.push('dump-'); });
    const later = gate.shared(async () => { log.push('b'); });
    await tick();
    assert.deepEqual(log, ['a+'], 'the dump waits for a; b waits behind the dump');
    a.resolve();
    await Promise.all([first, dump, later]);
    assert.deepEqual(log, ['a+', 'a-', 'dump+', 'dump-', 'b']);
  });

  it('releases its slot when a request fails or throws synchronously', async () => {
    const gate = new NetlinkGate(1);
    await assert.rejects(gate.shared(async () => { throw new Error('boom'); }), /boom/);
    await assert.rejects(gate.exclusive(() => { throw new Error('sync'); }), /sync/);
    assert.equal(await gate.shared(async () => 42), 42);
    assert.equal(gate.pending, 0);
  });
});

describe('kube-proxy address filter (isValidForSet)', () => {
  const ok = (a: string, f?: 4 | 6) => isBindableAddress(parseIP(a)!, f);
  it('keeps the family asked for, drops loopback and IPv6 link-local, keeps IPv4 link-local', () => {
    assert.equal(ok('10.96.0.10', 4), true);
    assert.equal(ok('10.96.0.10', 6), false);
    assert.equal(ok('fd00::a', 6), true);
    assert.equal(ok('127.0.0.1'), false);
    assert.equal(ok('127.1.2.3'), false);
    assert.equal(ok('::1'), false);
    assert.equal(ok('fe80::1'), false);
    assert.equal(ok('169.254.1.1', 4), true);
  });
});

/** A scripted RtNetlinkSocket: one link, an address table, and a record of concurrency. */
function fakeSocket(opts: { link?: boolean; reject?: (kind: string, addr: string) => string | undefined } = {}) {
  const addrs = new Map<string, number>(); // hex -> family
  let inFlight = 0;
  let peak = 0;
  let dumpOverlap = false;
  const track = async <T>(dump: boolean, fn: () => T): Promise<T> => {
    inFlight++;
    peak = Math.max(peak, inFlight);
    if (dump && inFlight > 1) dumpOverlap = true;
    await new Promise((r) => setImmediate(r));
    if (dump && inFlight > 1) dumpOverlap = true;
    inFlight--;
    return fn();
  };
  const addrOf = (attrs: { local?: Buffer }) => attrs.local!;
  const sock = {
    socket: { close() {} },
    getLink: (_d: unknown, attrs: { ifname?: string }) => track(false, () => {
      if (opts.link === false || attrs.ifname !== 'kube-ipvs0') throw new Error('Request rejected: ENODEV');
      return [{ data: { index: 7 }, attrs: { ifname: 'kube-ipvs0' } }];
    }),
    newAddress: (data: { family: number }, attrs: { local?: Buffer }) => track(false, () => {
      const a = addrOf(attrs);
      const forced = opts.reject?.('add', a.toString('hex'));
      if (forced) throw new Error(`Request rejected: ${forced}`);
      if (addrs.has(a.toString('hex'))) throw new Error('Request rejected: EEXIST');
      addrs.set(a.toString('hex'), data.family);
      return [];
    }),
    delAddress: (_data: unknown, attrs: { local?: Buffer }) => track(false, () => {
      const a = addrOf(attrs);
      if (!addrs.delete(a.toString('hex'))) throw new Error('Request rejected: EADDRNOTAVAIL');
      return [];
    }),
    getAddresses: () => track(true, () => [...addrs.keys()].map((hex) => ({
      data: { index: 7, family: hex.length === 8 ? 2 : 10 },
      attrs: { local: Buffer.from(hex, 'hex') },
    }))),
  };
  return { sock: sock as unknown as RtNetlinkSocket, stats: () => ({ peak, dumpOverlap }) };
}

describe('LinkDriver logic (scripted socket)', () => {
  it('pipelines a batch, maps EEXIST to unchanged, and never overlaps a dump with anything', async () => {
    const { sock, stats } = fakeSocket();
    const d = new LinkDriver({ socket: sock });
    const many = Array.from({ length: 300 }, (_, i) => `10.96.${i >> 8}.${i & 255}`);
    const r = await d.addAddresses([...many, '10.96.0.0']);
    assert.equal(r.changed.length, 300);
    assert.deepEqual(r.unchanged, ['10.96.0.0']);
    assert.ok(stats().peak > 1, `requests were pipelined (peak ${stats().peak})`);
    const lists = await Promise.all([d.listAddresses(4), d.addAddresses(['fd00::1']), d.listAddresses(6), d.localAddressesExcept()]);
    assert.equal(lists[0].length, 300);
    assert.deepEqual(lists[2], ['fd00::1']);
    assert.deepEqual(lists[3], [], 'every address is on the excluded link');
    assert.equal(stats().dumpOverlap, false);
  });

  it('keeps kernel errors per address with their errno', async () => {
    const { sock } = fakeSocket({ reject: (_k, hex) => (hex === '0a600063' ? 'EPERM' : undefined) });
    const d = new LinkDriver({ socket: sock });
    const r = await d.addAddresses(['10.96.0.99', '10.96.0.1']);
    assert.deepEqual(r.changed, ['10.96.0.1']);
    assert.equal(r.failed[0]?.address, '10.96.0.99');
    assert.equal(r.failed[0]?.error.code, 'EPERM');
    assert.equal(r.failed[0]?.error.details.errno, 1);
  });

  it('counts deletes of absent addresses, or on an absent link, as done', async () => {
    const { sock } = fakeSocket();
    const d = new LinkDriver({ socket: sock });
    assert.deepEqual(await d.deleteAddresses(['10.96.0.1']), { changed: [], unchanged: ['10.96.0.1'], failed: [] });
    const gone = new LinkDriver({ socket: fakeSocket({ link: false }).sock });
    assert.deepEqual(await gone.deleteAddresses(['10.96.0.1']), { changed: [], unchanged: ['10.96.0.1'], failed: [] });
    assert.deepEqual(await gone.listAddresses(), []);
    const add = await gone.addAddresses(['10.96.0.1']);
    assert.equal(add.failed[0]?.error.code, 'ENODEV');
  });
});
