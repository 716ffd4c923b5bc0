// Every IPVS scheduler the kernel has, and the scheduler flags (flag-1/2/3 = sh/mh fallback, port, 3rd), created
// through the client and read back through ipvsadm and observe().

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { IpvsClient } from '../../../src/kernel/ipvs/client.js';
import { KNOWN_SCHEDULERS } from '../../../src/kernel/ipvs/constants.js';
import type { IpvsOp } from '../../../src/kernel/ipvs/ops.js';
import { ipvsadmServices, ipvsSchedulerAvailable, resetNetns } from '../lib/index.js';

let ipvs: IpvsClient;
before(async () => {
  ipvs = await IpvsClient.open();
});
after(() => ipvs?.close());
beforeEach(resetNetns);

describe('IPVS schedulers in the kernel', () => {
  it('every scheduler the kernel has works through one apply() batch (IPv4 and IPv6)', async (t) => {
    const present: string[] = [];
    for (const s of KNOWN_SCHEDULERS) if (await ipvsSchedulerAvailable(s)) present.push(s);
    const absent = KNOWN_SCHEDULERS.filter((s) => !present.includes(s));
    // Debian's 6.1 user-mode kernel has all but twos (added in Linux 6.2).
    assert.ok(present.length >= 13, `schedulers present: ${present.join(' ')}`);
    if (absent.length) t.diagnostic(`not in this kernel: ${absent.join(' ')}`);
    const ops: IpvsOp[] = [];
    present.forEach((scheduler, i) => {
      for (const address of [`10.96.1.${i + 1}`, `fd00::1:${i + 1}`]) {
        const vs = { protocol: 'TCP' as const, address, port: 80, scheduler, flags: 0, timeout: 0 };
        ops.push({ kind: 'add-virtual-server', vs });
        ops.push({ kind: 'add-real-server', vs, rs: { address: address.includes(':') ? 'fd00:244::1' : '10.244.0.1', port: 80, weight: 1 } });
        ops.push({ kind: 'add-real-server', vs, rs: { address: address.includes(':') ? 'fd00:244::2' : '10.244.0.2', port: 80, weight: 2 } });
      }
    });
    const res = await ipvs.apply(ops);
    assert.deepEqual(res.filter((r) => !r.ok).map((r) => !r.ok && r.error.message), []);
    const view = await ipvsadmServices();
    assert.equal(view.length, present.length * 2);
    for (const [i, scheduler] of present.entries()) {
      for (const key of [`TCP/10.96.1.${i + 1}:80`, `TCP/[fd00::1:${i + 1}]:80`]) {
        const s = view.find((v) => v.key === key);
        assert.equal(s?.scheduler, scheduler, key);
        assert.deepEqual(s!.realServers.map((r) => r.weight).sort(), [1, 2]);
      }
    }
    const observed = await ipvs.observe();
    assert.deepEqual(observed.map((v) => v.scheduler).sort(), [...present, ...present].sort());
  });

  it('twos (mainline since Linux 6.2)', async (t) => {
    if (!(await ipvsSchedulerAvailable('twos'))) return t.skip('ip_vs_twos is not in this kernel (Debian UML 6.1)');
    const vs = { protocol: 'TCP' as const, address: '10.96.5.1', port: 80, scheduler: 'twos', flags: 0, timeout: 0 };
    const res = await ipvs.apply([{ kind: 'add-virtual-server', vs }, { kind: 'add-real-server', vs, rs: { address: '10.244.0.1', port: 80, weight: 3 } }]);
    assert.ok(res.every((r) => r.ok));
    assert.equal((await ipvsadmServices())[0]!.scheduler, 'twos');
  });

  it('an unknown scheduler is ENOENT', async () => {
    const [r] = await ipvs.apply([
      { kind: 'add-virtual-server', vs: { protocol: 'TCP', address: '10.96.2.1', port: 80, scheduler: 'nope', flags: 0, timeout: 0 } },
    ]);
    assert.ok(r && !r.ok && r.error.code === 'ENOENT');
  });

  it('flag-3 is kept by the kernel (ipvsadm prints it for schedulers without named flags)', async () => {
    const vs = { protocol: 'TCP' as const, address: '10.96.4.1', port: 80, scheduler: 'rr', flags: 8 | 32, timeout: 0 };
    const [r] = await ipvs.apply([{ kind: 'add-virtual-server', vs }]);
    assert.ok(r!.ok);
    assert.equal((await ipvsadmServices())[0]!.flags, 8 | 32, 'ipvsadm -b flag-1,flag-3');
    assert.equal((await ipvs.observe())[0]!.flags, 8 | 32);
  });

  for (const scheduler of ['sh', 'mh']) {
    it(`${scheduler} with scheduler flags flag-1, flag-2, flag-3 and their combinations`, async () => {
      const combos = [8, 16, 32, 8 | 16, 8 | 32, 16 | 32, 8 | 16 | 32, 1 | 8 | 16];
      const ops: IpvsOp[] = combos.map((flags, i) => ({
        kind: 'add-virtual-server',
        vs: { protocol: 'UDP', address: `10.96.3.${i + 1}`, port: 53, scheduler, flags, timeout: flags & 1 ? 300 : 0 },
      }));
      const res = await ipvs.apply(ops);
      assert.ok(res.every((r) => r.ok && !r.alreadyDone));
      const view = new Map((await ipvsadmServices()).map((s) => [s.key, s]));
      const observed = new Map((await ipvs.observe()).map((v) => [v.address, v]));
      combos.forEach((flags, i) => {
        const key = `UDP/10.96.3.${i + 1}:53`;
        // ipvsadm names only sh-/mh-fallback and -port for these schedulers and does not print flag-3 (32).
        assert.equal(view.get(key)!.flags, flags & ~32, `ipvsadm ${key}`);
        assert.equal(observed.get(`10.96.3.${i + 1}`)!.flags, flags, `observe ${key}`);
      });
      // Changing only the flags through update clears the ones no longer wanted.
      const [u] = await ipvs.apply([
        { kind: 'update-virtual-server', vs: { protocol: 'UDP', address: '10.96.3.7', port: 53, scheduler, flags: 16, timeout: 0 } },
      ]);
      assert.ok(u!.ok);
      assert.equal((await ipvsadmServices()).find((s) => s.key === 'UDP/10.96.3.7:53')!.flags, 16);
    });
  }
});
