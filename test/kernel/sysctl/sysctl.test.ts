// src/kernel/sysctl.ts on the host, against a temporary folder laid out like /proc/sys.

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';
import { KernelError } from '../../../src/kernel/errors.js';
import {
  applyIpvsSysctls, compareVersions, ensureSysctl, parseKernelVersion, readSysctl,
} from '../../../src/kernel/sysctl.js';

const DEFAULTS: Record<string, string> = {
  'net/ipv4/vs/conntrack': '0',
  'net/ipv4/vs/conn_reuse_mode': '1',
  'net/ipv4/vs/expire_nodest_conn': '0',
  'net/ipv4/vs/expire_quiescent_template': '0',
  'net/ipv4/ip_forward': '0',
  'net/ipv4/conf/all/arp_ignore': '0',
  'net/ipv4/conf/all/arp_announce': '0',
  'kernel/osrelease': '6.1.0-18-amd64',
};

function capture(): { logger: Logger; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _e, cb) { lines.push(JSON.parse(String(chunk))); cb(); } });
  return { logger: pino({ level: 'debug' }, sink), lines };
}

describe('sysctl driver (temporary /proc/sys)', () => {
  let root: string;
  const put = (name: string, value: string) => {
    mkdirSync(dirname(join(root, name)), { recursive: true });
    writeFileSync(join(root, name), value + '\n');
  };
  const get = (name: string) => readFileSync(join(root, name), 'utf8').trim();

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'kipvs-sysctl-'));
    for (const [k, v] of Object.entries(DEFAULTS)) put(k, v);
  });
  afterEach(() => rmSync(root, { recursive: true, force: true }));

  it('applies kube-proxy\'s IPVS sysctls in its order and logs each change', async () => {
    const { logger, lines } = capture();
    const r = await applyIpvsSysctls({ root, strictARP: false, logger });
    assert.deepEqual(r.changes.map((c) => c.name), [
      'net/ipv4/vs/conntrack', 'net/ipv4/vs/expire_nodest_conn', 'net/ipv4/vs/expire_quiescent_template', 'net/ipv4/ip_forward',
    ]);
    assert.equal(get('net/ipv4/vs/conntrack'), '1');
    assert.equal(get('net/ipv4/ip_forward'), '1');
    assert.equal(get('net/ipv4/vs/conn_reuse_mode'), '1', 'left as-is on 6.1');
    assert.equal(get('net/ipv4/conf/all/arp_ignore'), '0', 'no strict ARP');
    assert.deepEqual(lines.filter((l) => l.msg === 'Changed sysctl').map((l) => [l.name, l.before, l.after]), [
      ['net/ipv4/vs/conntrack', 0, 1], ['net/ipv4/vs/expire_nodest_conn', 0, 1],
      ['net/ipv4/vs/expire_quiescent_template', 0, 1], ['net/ipv4/ip_forward', 0, 1],
    ]);
    assert.equal(r.connReuse, 'left-as-is');
    assert.deepEqual(r.kernelVersion, [6, 1, 0]);
  });

  it('writes nothing when every value is already right', async () => {
    await applyIpvsSysctls({ root, strictARP: true });
    const { logger, lines } = capture();
    const r = await applyIpvsSysctls({ root, strictARP: true, logger });
    assert.deepEqual(r.changes, []);
    assert.equal(lines.filter((l) => l.msg === 'Changed sysctl').length, 0);
  });

  it('sets arp_ignore=1 and arp_announce=2 with strict ARP', async () => {
    await applyIpvsSysctls({ root, strictARP: true });
    assert.equal(get('net/ipv4/conf/all/arp_ignore'), '1');
    assert.equal(get('net/ipv4/conf/all/arp_announce'), '2');
  });

  for (const [release, expected, reuse] of [
    ['3.10.0-1160.el7.x86_64', 'kernel-too-old', '1'],
    ['4.1.0', 'ensured', '0'],
    ['5.8.18-100.fc31.x86_64', 'ensured', '0'],
    ['5.9', 'left-as-is', '1'],
    ['6.1.176', 'left-as-is', '1'],
  ] as const) {
    it(`conn_reuse_mode on kernel ${release}: ${expected}`, async () => {
      put('kernel/osrelease', release);
      const { logger, lines } = capture();
      const r = await applyIpvsSysctls({ root, strictARP: false, logger });
      assert.equal(r.connReuse, expected);
      assert.equal(get('net/ipv4/vs/conn_reuse_mode'), reuse);
      if (expected === 'kernel-too-old') {
        assert.ok(lines.some((l) => l.level === 50 && /doesn't satisfy minimum version/.test(String(l.msg))));
      }
    });
  }

  it('takes the kernel release as a parameter over kernel/osrelease', async () => {
    const r = await applyIpvsSysctls({ root, strictARP: false, kernelRelease: '5.4.0-150-generic' });
    assert.equal(r.connReuse, 'ensured');
    assert.equal(get('net/ipv4/vs/conn_reuse_mode'), '0');
  });

  it('fails with a KernelError when the kernel version cannot be read or parsed', async () => {
    put('kernel/osrelease', 'garbage');
    await assert.rejects(applyIpvsSysctls({ root, strictARP: false }), (e: unknown) => e instanceof KernelError && e.op === 'kernel-version');
    rmSync(join(root, 'kernel/osrelease'));
    await assert.rejects(applyIpvsSysctls({ root, strictARP: false }),
      (e: unknown) => e instanceof KernelError && e.op === 'kernel-version' && e.code === 'ENOENT');
  });

  it('stops at the first sysctl it cannot write, with op, code and errno (IPVS not loaded: no net/ipv4/vs)', async () => {
    rmSync(join(root, 'net/ipv4/vs'), { recursive: true });
    await assert.rejects(applyIpvsSysctls({ root, strictARP: false }), (e: unknown) => {
      assert.ok(e instanceof KernelError);
      assert.equal(e.op, 'write-sysctl net/ipv4/vs/conntrack=1');
      assert.equal(e.code, 'ENOENT');
      assert.equal(e.details.errno, 2);
      return true;
    });
    assert.equal(get('net/ipv4/ip_forward'), '0', 'later sysctls untouched');
  });

  it('treats an unreadable value as different (kube-proxy reads it as 0) and writes it', async () => {
    put('net/ipv4/ip_forward', 'not-a-number');
    const c = await ensureSysctl('net.ipv4.ip_forward', 1, { root });
    assert.deepEqual(c, { name: 'net.ipv4.ip_forward', before: undefined, after: 1 });
    assert.equal(await readSysctl('net/ipv4/ip_forward', root), 1);
    await assert.rejects(readSysctl('net/ipv4/nope', root), (e: unknown) => e instanceof KernelError && e.code === 'ENOENT');
  });

  it('parses kernel versions like version.ParseGeneric and compares them', () => {
    assert.deepEqual(parseKernelVersion('5.4.0-150-generic'), [5, 4, 0]);
    assert.deepEqual(parseKernelVersion('6.1.176'), [6, 1, 176]);
    assert.deepEqual(parseKernelVersion('4.19'), [4, 19]);
    assert.deepEqual(parseKernelVersion('v5.10.0+'), [5, 10, 0]);
    assert.equal(parseKernelVersion('6'), undefined);
    assert.equal(parseKernelVersion('linux'), undefined);
    assert.ok(compareVersions([5, 8, 18], [5, 9]) < 0);
    assert.equal(compareVersions([5, 9, 0], [5, 9]), 0);
    assert.ok(compareVersions([4, 1], [4, 0, 99]) > 0);
  });
});
