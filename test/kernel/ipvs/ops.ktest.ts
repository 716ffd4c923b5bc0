// The IPVS client against the real kernel (inside the user-mode Linux guest): every single operation, IPv4 and
// IPv6, TCP/UDP/SCTP, persistence with netmasks, weights including 0, and the kernel's errno for each failure,
// each result checked with ipvsadm (an independent reader of the same kernel table).

import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, it } from 'node:test';
import { IpvsClient } from '../../../src/kernel/ipvs/client.js';
import { KernelError } from '../../../src/kernel/errors.js';
import type { VirtualServerSpec } from '../../../src/kernel/ipvs/ops.js';
import { cmd, ipvsadmServices, resetNetns, type IpvsadmService } from '../lib/index.js';

let ipvs: IpvsClient;
before(async () => {
  ipvs = await IpvsClient.open();
});
after(() => ipvs?.close());
beforeEach(resetNetns);

const tcp = (address: string, port: number, more: Partial<VirtualServerSpec> = {}): VirtualServerSpec => ({
  protocol: 'TCP',
  address,
  port,
  scheduler: 'rr',
  flags: 0,
  timeout: 0,
  ...more,
});

async function ipvsadmView(): Promise<Map<string, IpvsadmService>> {
  return new Map((await ipvsadmServices()).map((s) => [s.key, s]));
}

const rejectsWith = (code: string, op?: string) => (e: unknown) => {
  assert.ok(e instanceof KernelError, `KernelError expected, got ${String(e)}`);
  assert.equal(e.code, code);
  if (op) assert.equal(e.op, op);
  return true;
};

describe('IPVS single operations in the kernel', () => {
  it('resolves the family and reads info and the default timeouts', async () => {
    assert.equal(ipvs.family.name, 'IPVS');
    assert.ok(ipvs.family.id > 0x10);
    const info = await ipvs.getInfo();
    assert.equal(info.version, '1.2.1');
    assert.ok(info.connTableSize > 0);
    assert.match(await cmd('ipvsadm', ['-Ln']), new RegExp(`IP Virtual Server version 1\\.2\\.1 \\(size=${info.connTableSize}\\)`));
    assert.deepEqual(await ipvs.getTimeouts(), { tcp: 900, tcpFin: 120, udp: 300 });
  });

  it('sets timeouts; 0 leaves a value unchanged', async () => {
    await ipvs.setTimeouts({ tcp: 901, tcpFin: 121, udp: 301 });
    assert.deepEqual(await ipvs.getTimeouts(), { tcp: 901, tcpFin: 121, udp: 301 });
    await ipvs.setTimeouts({ tcp: 0, tcpFin: 30, udp: 0 });
    assert.deepEqual(await ipvs.getTimeouts(), { tcp: 901, tcpFin: 30, udp: 301 });
    assert.match(await cmd('ipvsadm', ['-L', '--timeout']), /Timeout \(tcp tcpfin udp\): 901 30 301/);
  });

  it('adds TCP, UDP and SCTP services over IPv4 and IPv6, as ipvsadm reads them', async () => {
    await ipvs.addService(tcp('10.96.0.10', 80));
    await ipvs.addService({ ...tcp('10.96.0.10', 53), protocol: 'UDP', scheduler: 'wrr' });
    await ipvs.addService({ ...tcp('10.96.0.11', 3868), protocol: 'SCTP', scheduler: 'lc' });
    await ipvs.addService(tcp('fd00::10', 443, { scheduler: 'wlc' }));
    await ipvs.addService({ ...tcp('fd00::10', 53), protocol: 'UDP' });
    await ipvs.addService({ ...tcp('fd00:0:0::11', 3868), protocol: 'SCTP' });
    const view = await ipvsadmView();
    assert.deepEqual(
      [...view.values()].map((s) => `${s.key} ${s.scheduler} ${s.flags} ${s.timeout}`).sort(),
      [
        'SCTP/10.96.0.11:3868 lc 0 0',
        'SCTP/[fd00::11]:3868 rr 0 0',
        'TCP/10.96.0.10:80 rr 0 0',
        'TCP/[fd00::10]:443 wlc 0 0',
        'UDP/10.96.0.10:53 wrr 0 0',
        'UDP/[fd00::10]:53 rr 0 0',
      ],
    );
    const observed = await ipvs.observe();
    assert.deepEqual(
      observed.map((v) => `${v.protocol}/${v.address}:${v.port}`),
      ['TCP/10.96.0.10:80', 'UDP/10.96.0.10:53', 'SCTP/10.96.0.11:3868', 'TCP/fd00::10:443', 'UDP/fd00::10:53', 'SCTP/fd00::11:3868'],
      'observe() sorts by address (IPv4 first), protocol, port',
    );
  });

  it('persistence: timeout and netmask (IPv4 mask, IPv6 prefix length)', async () => {
    await ipvs.addService(tcp('10.96.0.12', 443, { flags: 1, timeout: 10800 }));
    await ipvs.addService(tcp('10.96.0.13', 443, { flags: 1, timeout: 300, netmask: 0xffffff00 }));
    await ipvs.addService(tcp('fd00::12', 443, { flags: 1, timeout: 60, netmask: 64 }));
    const view = await ipvsadmView();
    assert.equal(view.get('TCP/10.96.0.12:443')!.timeout, 10800);
    assert.equal(view.get('TCP/10.96.0.12:443')!.flags, 1);
    assert.equal(view.get('TCP/10.96.0.12:443')!.netmask, undefined, 'the default mask is not printed');
    assert.equal(view.get('TCP/10.96.0.13:443')!.netmask, '255.255.255.0');
    assert.equal(view.get('TCP/[fd00::12]:443')!.netmask, '64');
    const listed = await ipvs.listServices();
    const mask = (port: number, address: string) => listed.find((s) => s.port === port && s.address === address)!.netmask;
    assert.equal(mask(443, '10.96.0.12'), 0xffffffff);
    assert.equal(mask(443, '10.96.0.13'), 0xffffff00);
    assert.equal(mask(443, 'fd00::12'), 64);
    const obs = (await ipvs.observe()).find((v) => v.address === '10.96.0.12')!;
    assert.deepEqual([obs.flags, obs.timeout], [1, 10800], 'HASHED is stripped');
  });

  it('persistence engine sip (when ip_vs_pe_sip is loaded)', async (t) => {
    const vs = { ...tcp('10.96.0.14', 5060, { flags: 1, timeout: 60, peName: 'sip' }), protocol: 'UDP' as const };
    try {
      await ipvs.addService(vs);
    } catch (e) {
      if (e instanceof KernelError && e.code === 'ENOENT') return t.skip('ip_vs_pe_sip is not loaded in this guest');
      throw e;
    }
    assert.match(await cmd('ipvsadm', ['-Sn']), /-A -u 10\.96\.0\.14:5060 -s rr -p 60 --pe sip/);
    assert.equal((await ipvs.listServices())[0]!.peName, 'sip');
  });

  it('edits a service: scheduler, flags, timeout', async () => {
    await ipvs.addService(tcp('10.96.0.10', 80));
    await ipvs.editService(tcp('10.96.0.10', 80, { scheduler: 'sh', flags: 1 | 8 | 16, timeout: 120 }));
    const s = (await ipvsadmView()).get('TCP/10.96.0.10:80')!;
    assert.deepEqual([s.scheduler, s.flags, s.timeout], ['sh', 1 | 8 | 16, 120]);
    await ipvs.editService(tcp('10.96.0.10', 80));
    const back = (await ipvsadmView()).get('TCP/10.96.0.10:80')!;
    assert.deepEqual([back.scheduler, back.flags, back.timeout], ['rr', 0, 0], 'mask 0xffffffff clears flags we drop');
  });

  it('adds, edits and deletes real servers (weights 0..n, IPv4 and IPv6), as ipvsadm reads them', async () => {
    const v4 = tcp('10.96.0.10', 80);
    const v6 = { ...tcp('fd00::10', 53), protocol: 'UDP' as const };
    await ipvs.addService(v4);
    await ipvs.addService(v6);
    for (let w = 0; w < 4; w++) await ipvs.addDestination(v4, { address: `10.244.1.${w + 1}`, port: 8080, weight: w });
    await ipvs.addDestination(v6, { address: 'fd00:244::5', port: 5353, weight: 7 });
    let view = await ipvsadmView();
    assert.deepEqual(
      view.get('TCP/10.96.0.10:80')!.realServers.map((r) => `${r.address}:${r.port} w${r.weight} ${r.method}`).sort(),
      ['10.244.1.1:8080 w0 masq', '10.244.1.2:8080 w1 masq', '10.244.1.3:8080 w2 masq', '10.244.1.4:8080 w3 masq'],
    );
    assert.deepEqual(view.get('UDP/[fd00::10]:53')!.realServers, [{ address: 'fd00:244::5', port: 5353, weight: 7, method: 'masq' }]);

    await ipvs.editDestination(v4, { address: '10.244.1.4', port: 8080, weight: 0 });
    await ipvs.deleteDestination(v4, { address: '10.244.1.1', port: 8080 });
    view = await ipvsadmView();
    assert.deepEqual(
      view.get('TCP/10.96.0.10:80')!.realServers.map((r) => `${r.address} w${r.weight}`).sort(),
      ['10.244.1.2 w1', '10.244.1.3 w2', '10.244.1.4 w0'],
    );
    const dests = await ipvs.listDestinations(v4);
    assert.deepEqual(dests.map((d) => `${d.address} w${d.weight} f${d.forward} a${d.activeConns} i${d.inactiveConns}`).sort(), [
      '10.244.1.2 w1 f0 a0 i0',
      '10.244.1.3 w2 f0 a0 i0',
      '10.244.1.4 w0 f0 a0 i0',
    ]);
    assert.deepEqual(await ipvs.listDestinations(tcp('10.96.9.9', 1)), [], 'an unknown service dumps nothing');
  });

  it('other forwarding methods and thresholds round-trip', async () => {
    const v = tcp('10.96.0.10', 80);
    await ipvs.addService(v);
    await ipvs.addDestination(v, { address: '10.244.2.1', port: 80, weight: 1, forward: 'droute' });
    await ipvs.addDestination(v, { address: '10.244.2.2', port: 80, weight: 2, forward: 'tunnel', upperThreshold: 100, lowerThreshold: 10 });
    const methods = (await ipvsadmView()).get('TCP/10.96.0.10:80')!.realServers.map((r) => `${r.address} ${r.method}`).sort();
    assert.deepEqual(methods, ['10.244.2.1 route', '10.244.2.2 tunnel']);
    const tun = (await ipvs.listDestinations(v)).find((d) => d.address === '10.244.2.2')!;
    assert.deepEqual([tun.forward, tun.upperThreshold, tun.lowerThreshold], [2, 100, 10]);
  });

  it('deletes a service with its real servers, and flushes everything', async () => {
    const a = tcp('10.96.0.10', 80);
    await ipvs.addService(a);
    await ipvs.addDestination(a, { address: '10.244.1.1', port: 80, weight: 1 });
    await ipvs.addService(tcp('10.96.0.11', 80));
    await ipvs.deleteService(a);
    assert.deepEqual([...(await ipvsadmView()).keys()], ['TCP/10.96.0.11:80']);
    await ipvs.addService(tcp('fd00::1', 80));
    await ipvs.flush();
    assert.deepEqual(await ipvsadmServices(), []);
    assert.deepEqual(await ipvs.observe(), []);
  });

  it('zeroes one service or all counters', async () => {
    await ipvs.addService(tcp('10.96.0.10', 80));
    await ipvs.zero(tcp('10.96.0.10', 80));
    await ipvs.zero();
    await assert.rejects(ipvs.zero(tcp('10.96.0.99', 80)), rejectsWith('ESRCH', 'zero TCP/10.96.0.99:80'));
  });
});

describe('IPVS errno paths in the kernel', () => {
  const v = tcp('10.96.0.10', 80);

  it('EEXIST: add an existing service or real server', async () => {
    await ipvs.addService(v);
    await assert.rejects(ipvs.addService(v), rejectsWith('EEXIST', 'add-virtual-server TCP/10.96.0.10:80'));
    await ipvs.addDestination(v, { address: '10.244.1.5', port: 8080, weight: 1 });
    await assert.rejects(
      ipvs.addDestination(v, { address: '10.244.1.5', port: 8080, weight: 3 }),
      rejectsWith('EEXIST', 'add-real-server TCP/10.96.0.10:80 -> 10.244.1.5:8080'),
    );
  });

  it('ESRCH: edit/delete a missing service, add a real server to one', async () => {
    await assert.rejects(ipvs.editService(v), rejectsWith('ESRCH'));
    await assert.rejects(ipvs.deleteService(v), rejectsWith('ESRCH', 'delete-virtual-server TCP/10.96.0.10:80'));
    await assert.rejects(ipvs.addDestination(v, { address: '10.244.1.5', port: 1, weight: 1 }), rejectsWith('ESRCH'));
  });

  it('ENOENT: edit/delete a missing real server; unknown scheduler', async () => {
    await ipvs.addService(v);
    await assert.rejects(ipvs.editDestination(v, { address: '10.244.1.5', port: 1, weight: 1 }), rejectsWith('ENOENT'));
    // An IPv6 real server under an IPv4 masquerading service: not found on delete, refused on add.
    await assert.rejects(ipvs.deleteDestination(v, { address: 'fd00::5', port: 1 }), rejectsWith('ENOENT'));
    await assert.rejects(ipvs.addDestination(v, { address: 'fd00::5', port: 1, weight: 1 }), rejectsWith('EINVAL'));
    await assert.rejects(ipvs.deleteDestination(v, { address: '10.244.1.5', port: 1 }), rejectsWith('ENOENT'));
    await assert.rejects(ipvs.addService(tcp('10.96.0.11', 80, { scheduler: 'nosuch' })), rejectsWith('ENOENT'));
    assert.deepEqual([...(await ipvsadmView()).keys()], ['TCP/10.96.0.10:80'], 'nothing half-created');
  });

  it('EINVAL: an IPv6 persistence prefix out of range', async () => {
    await assert.rejects(ipvs.addService(tcp('fd00::1', 80, { flags: 1, timeout: 60, netmask: 129 })), rejectsWith('EINVAL'));
  });
});
