// src/kernel/link.ts against the real kernel: kube-ipvs0 as kube-proxy keeps it, address bind/unbind with
// kube-proxy's idempotence, the node-address view, big pipelined batches, and an IPVS service actually served
// on an address the driver bound. Assertions read the kernel back with `ip -j` (readers.ts), not the driver.

import { after, afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:net';
import { LinkDriver } from '../../../src/kernel/link.js';
import { KernelError } from '../../../src/kernel/errors.js';
import { cmd, link, linkAddresses, resetNetns, tcpRequest } from '../lib/index.js';

describe('LinkDriver (rtnetlink) on kube-ipvs0', () => {
  let driver: LinkDriver;
  beforeEach(async () => {
    await resetNetns();
    driver = new LinkDriver();
  });
  afterEach(() => driver.close());

  it('creates kube-ipvs0 as a dummy link left DOWN and NOARP, once', async () => {
    const first = await driver.ensureLink();
    assert.equal(first.created, true);
    const l = await link('kube-ipvs0');
    assert.equal(l?.kind, 'dummy');
    assert.equal(l.index, first.index);
    assert.ok(l.flags.includes('NOARP'), `flags ${l.flags}`);
    assert.ok(!l.flags.includes('UP'), `flags ${l.flags}`);
    assert.deepEqual(await driver.ensureLink(), { index: first.index, created: false });
  });

  it('accepts an existing link of that name whatever its kind, as kube-proxy does', async () => {
    await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'bridge']);
    const r = await driver.ensureLink();
    assert.equal(r.created, false);
    assert.equal((await link('kube-ipvs0'))?.kind, 'bridge');
  });

  it('takes the interface name as a parameter', async () => {
    const other = new LinkDriver({ ifname: 'kipvs-test0' });
    try {
      await other.ensureLink();
      await other.addAddresses(['10.0.0.1']);
      assert.deepEqual(await linkAddresses('kipvs-test0'), ['10.0.0.1']);
      assert.equal(await link('kube-ipvs0'), undefined);
    } finally {
      other.close();
    }
  });

  it('binds IPv4 as /32 and IPv6 as /128, canonical, and treats EEXIST as done', async () => {
    await driver.ensureLink();
    const r = await driver.addAddresses(['10.96.0.10', 'FD00:0:0::0A', '010.096.000.011']);
    assert.deepEqual(r, { changed: ['10.96.0.10', '10.96.0.11', 'fd00::a'], unchanged: [], failed: [] });
    assert.deepEqual((await link('kube-ipvs0'))?.addresses.filter((a) => !a.startsWith('fe80')).sort(),
      ['10.96.0.10/32', '10.96.0.11/32', 'fd00::a/128']);
    const again = await driver.addAddresses(['10.96.0.10', 'fd00::a']);
    assert.deepEqual(again, { changed: [], unchanged: ['10.96.0.10', 'fd00::a'], failed: [] });
    assert.equal(await driver.addAddress('10.96.0.10'), false);
    assert.equal(await driver.addAddress('10.96.0.12'), true);
  });

  it('lists only the family asked for, without loopback and IPv6 link-local (kube-proxy GetLocalAddresses)', async () => {
    await driver.ensureLink();
    await driver.addAddresses(['10.96.0.10', '127.0.0.2', 'fd00::a']);
    await cmd('ip', ['-6', 'addr', 'add', 'fe80::1234/64', 'dev', 'kube-ipvs0']);
    assert.deepEqual(await driver.listAddresses(4), ['10.96.0.10']);
    assert.deepEqual(await driver.listAddresses(6), ['fd00::a']);
    assert.deepEqual(await driver.listAddresses(), ['10.96.0.10', 'fd00::a']);
    // The loopback address is on the link all the same (kube-proxy's re-bind-every-sync quirk, §4.5).
    assert.ok((await linkAddresses('kube-ipvs0')).includes('127.0.0.2'));
  });

  it('unbinds addresses, counting "not there" and "no link" as done', async () => {
    await driver.ensureLink();
    await driver.addAddresses(['10.96.0.10', '10.96.0.11', 'fd00::a']);
    const r = await driver.deleteAddresses(['10.96.0.11', 'fd00::a', '10.96.0.99', 'fd00::99']);
    assert.deepEqual(r, { changed: ['10.96.0.11', 'fd00::a'], unchanged: ['10.96.0.99', 'fd00::99'], failed: [] });
    assert.deepEqual(await driver.listAddresses(), ['10.96.0.10']);
    assert.equal(await driver.deleteAddress('10.96.0.10'), true);
    assert.equal(await driver.deleteAddress('10.96.0.10'), false);
    await driver.deleteLink();
    assert.deepEqual(await driver.deleteAddresses(['10.96.0.10']), { changed: [], unchanged: ['10.96.0.10'], failed: [] });
    assert.deepEqual(await driver.listAddresses(), []);
  });

  it('reports per-address failures as KernelError with errno, and still applies the rest', async () => {
    const missing = await driver.addAddresses(['10.96.0.10']);
    assert.equal(missing.failed.length, 1);
    assert.ok(missing.failed[0]!.error instanceof KernelError);
    assert.equal(missing.failed[0]!.error.code, 'ENODEV');
    await driver.ensureLink();
    const r = await driver.addAddresses(['10.96.0.10', 'not-an-ip']);
    assert.deepEqual(r.changed, ['10.96.0.10']);
    assert.equal(r.failed[0]?.address, 'not-an-ip');
    assert.equal(r.failed[0]?.error.code, 'EINVAL');
    await assert.rejects(driver.addAddress('bogus'), (e: unknown) => e instanceof KernelError && /add-address kube-ipvs0 bogus/.test(e.message));
  });

  it('binds and unbinds 600 addresses in pipelined batches without losing one', async () => {
    await driver.ensureLink();
    const v4 = Array.from({ length: 400 }, (_, i) => `10.96.${i >> 8}.${i & 255}`);
    const v6 = Array.from({ length: 200 }, (_, i) => `fd00::${(i + 1).toString(16)}`);
    const added = await driver.addAddresses([...v6, ...v4]);
    assert.equal(added.changed.length, 600);
    assert.deepEqual(added.failed, []);
    const listed = await driver.listAddresses();
    assert.equal(listed.length, 600);
    assert.deepEqual(listed.slice(0, 3), ['10.96.0.0', '10.96.0.1', '10.96.0.2']);
    assert.equal(listed[599], 'fd00::c8');
    assert.equal((await linkAddresses('kube-ipvs0')).filter((a) => !a.startsWith('fe80')).length, 600);
    const deleted = await driver.deleteAddresses(listed);
    assert.equal(deleted.changed.length, 600);
    assert.deepEqual(await driver.listAddresses(), []);
  });

  it('serializes concurrent dumps on one socket (the library alone corrupts them)', async () => {
    await driver.ensureLink();
    await driver.addAddresses(['10.96.0.10', 'fd00::a']);
    const results = await Promise.all([
      driver.listAddresses(), driver.localAddressesExcept(), driver.listAddresses(6), driver.addAddresses(['10.96.0.11']),
      driver.listAddresses(4),
    ]);
    assert.deepEqual(results[0], ['10.96.0.10', 'fd00::a']);
    assert.deepEqual(results[2], ['fd00::a']);
    assert.deepEqual(results[3], { changed: ['10.96.0.11'], unchanged: [], failed: [] });
  });

  it('lists the node addresses: every other link, same filter (kube-proxy GetAllLocalAddressesExcept)', async () => {
    await driver.ensureLink();
    await driver.addAddresses(['10.96.0.10', 'fd00::a']);
    await cmd('ip', ['link', 'add', 'eth-node', 'type', 'dummy']);
    await cmd('ip', ['addr', 'add', '192.168.1.10/24', 'dev', 'eth-node']);
    await cmd('ip', ['addr', 'add', '169.254.7.7/16', 'dev', 'eth-node']);
    await cmd('ip', ['-6', 'addr', 'add', '2001:db8::10/64', 'dev', 'eth-node', 'nodad']);
    await cmd('ip', ['-6', 'addr', 'add', 'fe80::10/64', 'dev', 'eth-node', 'nodad']);
    await cmd('ip', ['link', 'add', 'eth-other', 'type', 'dummy']);
    await cmd('ip', ['addr', 'add', '192.168.1.10/32', 'dev', 'eth-other']); // same address twice: listed once
    assert.deepEqual(await driver.localAddressesExcept(4), ['169.254.7.7', '192.168.1.10']);
    assert.deepEqual(await driver.localAddressesExcept(6), ['2001:db8::10']);
    assert.deepEqual(await driver.localAddressesExcept(), ['169.254.7.7', '192.168.1.10', '2001:db8::10']);
  });

  it('deletes the link (cleanup), and says so only once', async () => {
    await driver.ensureLink();
    assert.equal(await driver.deleteLink(), true);
    assert.equal(await link('kube-ipvs0'), undefined);
    assert.equal(await driver.deleteLink(), false);
  });
});

describe('an address bound by LinkDriver serves IPVS', () => {
  let server: Server;
  const driver = new LinkDriver();
  after(() => {
    driver.close();
    server?.close();
  });

  it('a connection to the ClusterIP on kube-ipvs0 (DOWN) is balanced by IPVS to the real server', async () => {
    await resetNetns();
    server = createServer((s) => s.on('data', (d) => s.end(JSON.stringify({ pod: 'local', proto: 'tcp', port: 8080,
      client: s.remoteAddress, clientPort: s.remotePort, data: d.toString().trim() }) + '\n')));
    await new Promise<void>((r) => server.listen(8080, '127.0.0.1', r));
    await driver.ensureLink();
    await driver.addAddresses(['10.96.0.10']);
    await cmd('ipvsadm', ['-A', '-t', '10.96.0.10:80', '-s', 'rr']);
    await cmd('ipvsadm', ['-a', '-t', '10.96.0.10:80', '-r', '127.0.0.1:8080', '-m']);
    const reply = await tcpRequest('10.96.0.10', 80, 'via-ipvs');
    assert.equal(reply.data, 'via-ipvs');
    assert.ok(!(await link('kube-ipvs0'))!.flags.includes('UP'));
  });
});
