// apply() in the real kernel: batches, per-op results, idempotence (a replayed batch is all alreadyDone), and
// 10,000 real servers in ONE apply() call read back through observe() and ipvsadm.

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { IpvsClient } from '../../../src/kernel/ipvs/client.js';
import type { IpvsOp } from '../../../src/kernel/ipvs/ops.js';
import { cmd, ipvsadmServices, resetNetns } from '../lib/index.js';

let ipvs: IpvsClient;
before(async () => {
  ipvs = await IpvsClient.open();
});
after(() => ipvs?.close());
beforeEach(resetNetns);

const vs = { protocol: 'TCP' as const, address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0 };
const vs6 = { protocol: 'UDP' as const, address: 'fd00::a', port: 53, scheduler: 'wrr', flags: 0, timeout: 0 };

function table(ops: IpvsOp[]): string {
  return ops.map((o) => o.kind).join(',');
}

describe('IpvsClient.apply in the kernel', () => {
  it('applies a mixed batch in order, one result per op', async () => {
    const ops: IpvsOp[] = [
      { kind: 'add-virtual-server', vs },
      { kind: 'add-real-server', vs, rs: { address: '10.244.1.1', port: 8080, weight: 1 } },
      { kind: 'add-real-server', vs, rs: { address: '10.244.1.2', port: 8080, weight: 1 } },
      { kind: 'add-virtual-server', vs: vs6 },
      { kind: 'add-real-server', vs: vs6, rs: { address: 'fd00:244::1', port: 53, weight: 4 } },
      { kind: 'update-real-server', vs, rs: { address: '10.244.1.2', port: 8080, weight: 0 } },
      { kind: 'update-virtual-server', vs: { ...vs, scheduler: 'wlc' } },
      { kind: 'delete-real-server', vs, rs: { address: '10.244.1.1', port: 8080 } },
      { kind: 'update-real-server', vs, rs: { address: '10.244.1.9', port: 8080, weight: 1 } }, // ENOENT
      { kind: 'add-real-server', vs: { ...vs, port: 81 }, rs: { address: '10.244.1.1', port: 1, weight: 1 } }, // ESRCH
    ];
    const before = ipvs.transportStats.sendCalls;
    const res = await ipvs.apply(ops);
    assert.equal(ipvs.transportStats.sendCalls - before, 1, `one sendmsg for ${table(ops)}`);
    assert.deepEqual(
      res.map((r) => (r.ok ? (r.alreadyDone ? 'already' : 'ok') : r.error.message)),
      [
        'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok', 'ok',
        'update-real-server TCP/10.96.0.10:80 -> 10.244.1.9:8080: ENOENT',
        'add-real-server TCP/10.96.0.10:81 -> 10.244.1.1:1: ESRCH',
      ],
    );
    const view = new Map((await ipvsadmServices()).map((s) => [s.key, s]));
    assert.equal(view.get('TCP/10.96.0.10:80')!.scheduler, 'wlc');
    assert.deepEqual(view.get('TCP/10.96.0.10:80')!.realServers, [{ address: '10.244.1.2', port: 8080, weight: 0, method: 'masq' }]);
    assert.deepEqual(view.get('UDP/[fd00::a]:53')!.realServers, [{ address: 'fd00:244::1', port: 53, weight: 4, method: 'masq' }]);
  });

  it('is idempotent: replaying adds and deletes gives alreadyDone and changes nothing', async () => {
    const adds: IpvsOp[] = [
      { kind: 'add-virtual-server', vs },
      ...[1, 2, 3].map((n): IpvsOp => ({ kind: 'add-real-server', vs, rs: { address: `10.244.1.${n}`, port: 8080, weight: n } })),
      { kind: 'add-virtual-server', vs: vs6 },
    ];
    const first = await ipvs.apply(adds);
    assert.ok(first.every((r) => r.ok && !r.alreadyDone));
    const saved = await cmd('ipvsadm', ['-Sn']);
    const again = await ipvs.apply(adds);
    assert.ok(again.every((r) => r.ok && r.alreadyDone), 'EEXIST counts as done');
    assert.equal(await cmd('ipvsadm', ['-Sn']), saved);

    const deletes: IpvsOp[] = [
      { kind: 'delete-real-server', vs, rs: { address: '10.244.1.3', port: 8080 } },
      { kind: 'delete-virtual-server', vs: vs6 },
    ];
    assert.ok((await ipvs.apply(deletes)).every((r) => r.ok && !r.alreadyDone));
    const replay = await ipvs.apply([
      ...deletes,
      { kind: 'delete-real-server', vs: vs6, rs: { address: 'fd00:244::1', port: 53 } }, // its service is gone: ESRCH
    ]);
    assert.ok(replay.every((r) => r.ok && r.alreadyDone), 'ENOENT / ESRCH on delete count as done');
    assert.deepEqual(
      (await ipvsadmServices()).map((s) => `${s.key} ${s.realServers.map((r) => r.address).sort().join(',')}`),
      ['TCP/10.96.0.10:80 10.244.1.1,10.244.1.2'],
    );
  });

  it('applies 10,000 real servers in one apply() call and reads them back', async () => {
    const N = 10_000;
    const ops: IpvsOp[] = [{ kind: 'add-virtual-server', vs }];
    const addr = (i: number) => `10.${244 + (i >> 16)}.${(i >> 8) & 0xff}.${i & 0xff}`;
    for (let i = 0; i < N; i++) ops.push({ kind: 'add-real-server', vs, rs: { address: addr(i + 1), port: 8080, weight: 1 + (i % 5) } });
    const before = ipvs.transportStats.sendCalls;
    const res = await ipvs.apply(ops);
    const sends = ipvs.transportStats.sendCalls - before;
    assert.equal(res.length, N + 1);
    assert.deepEqual(res.filter((r) => !r.ok || r.alreadyDone).slice(0, 3), []);
    assert.ok(sends < N / 50, `${N + 1} requests took ${sends} sendmsg calls`);

    const [observed] = await ipvs.observe();
    assert.equal(observed!.realServers.length, N);
    assert.deepEqual(observed!.realServers[0], {
      address: '10.244.0.1', port: 8080, weight: 1, activeConns: 0, inactiveConns: 0, stats: observed!.realServers[0]!.stats,
    });
    const weights = new Map(observed!.realServers.map((r) => [r.address, r.weight]));
    for (let i = 0; i < N; i += 997) assert.equal(weights.get(addr(i + 1)), 1 + (i % 5), addr(i + 1));

    const view = await ipvsadmServices();
    assert.equal(view.length, 1);
    assert.equal(view[0]!.realServers.length, N);
    const viaIpvsadm = new Map(view[0]!.realServers.map((r) => [r.address, r.weight]));
    assert.deepEqual(viaIpvsadm, weights, 'ipvsadm -Sn sees exactly what observe() returned');

    // And the same batch again: every op already done.
    const again = await ipvs.apply(ops);
    assert.equal(again.filter((r) => r.ok && r.alreadyDone).length, N + 1);
  });
});
