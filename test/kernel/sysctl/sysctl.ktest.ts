// src/kernel/sysctl.ts against the real /proc/sys of a fresh namespace in the 6.1 guest (where conn_reuse_mode
// is left as-is: the kernel is >= 5.9), read back with plain file reads in this and in another namespace.

import { beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { applyIpvsSysctls, readSysctl } from '../../../src/kernel/sysctl.js';
import { resetNetns, sysctlValue, withNetns } from '../lib/index.js';

function capturingLogger(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _enc, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('IPVS sysctls in the guest kernel', () => {
  beforeEach(resetNetns);

  it('starts from the kernel defaults kube-proxy changes', async () => {
    assert.equal(await sysctlValue('net/ipv4/vs/conntrack'), '0');
    assert.equal(await sysctlValue('net/ipv4/vs/conn_reuse_mode'), '1');
    assert.equal(await sysctlValue('net/ipv4/vs/expire_nodest_conn'), '0');
    assert.equal(await sysctlValue('net/ipv4/vs/expire_quiescent_template'), '0');
    assert.equal(await sysctlValue('net/ipv4/ip_forward'), '0');
  });

  it('sets conntrack, expire_nodest_conn, expire_quiescent_template and ip_forward, leaves conn_reuse_mode on >= 5.9', async () => {
    const { logger, lines } = capturingLogger();
    const r = await applyIpvsSysctls({ strictARP: false, logger });
    assert.equal(r.connReuse, 'left-as-is');
    assert.deepEqual(r.kernelVersion.slice(0, 2), [6, 1]);
    assert.deepEqual(r.changes.map((c) => [c.name, c.before, c.after]), [
      ['net/ipv4/vs/conntrack', 0, 1],
      ['net/ipv4/vs/expire_nodest_conn', 0, 1],
      ['net/ipv4/vs/expire_quiescent_template', 0, 1],
      ['net/ipv4/ip_forward', 0, 1],
    ]);
    for (const name of ['net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/ip_forward']) {
      assert.equal(await sysctlValue(name), '1', name);
    }
    assert.equal(await sysctlValue('net/ipv4/vs/conn_reuse_mode'), '1');
    assert.equal(await sysctlValue('net/ipv4/conf/all/arp_ignore'), '0');
    assert.equal(lines.filter((l) => l.msg === 'Changed sysctl').length, 4);
    assert.ok(lines.some((l) => l.msg === 'Left as-is' && l.sysctl === 'net/ipv4/vs/conn_reuse_mode'));
    // Idempotent: nothing left to write.
    assert.deepEqual((await applyIpvsSysctls({ strictARP: false })).changes, []);
  });

  it('with strict ARP sets arp_ignore=1 and arp_announce=2', async () => {
    await applyIpvsSysctls({ strictARP: true });
    assert.equal(await readSysctl('net.ipv4.conf.all.arp_ignore'), 1);
    assert.equal(await readSysctl('net/ipv4/conf/all/arp_announce'), 2);
  });

  it('sets conn_reuse_mode=0 when told the kernel is older than 5.9', async () => {
    const r = await applyIpvsSysctls({ strictARP: false, kernelRelease: '5.4.0-150-generic' });
    assert.equal(r.connReuse, 'ensured');
    assert.equal(await sysctlValue('net/ipv4/vs/conn_reuse_mode'), '0');
  });

  it('changes only the namespace it runs in', async () => {
    await applyIpvsSysctls({ strictARP: true });
    await withNetns(`${process.env.KUBE_IPVS_KTEST_NETNS ?? 'kt'}-other`, async (ns) => {
      assert.equal(await sysctlValue('net/ipv4/vs/conntrack', { netns: ns.name }), '0');
      assert.equal(await sysctlValue('net/ipv4/ip_forward', { netns: ns.name }), '0');
      assert.equal(await sysctlValue('net/ipv4/conf/all/arp_ignore', { netns: ns.name }), '0');
    });
    assert.equal(await sysctlValue('net/ipv4/vs/conntrack'), '1');
  });
});
