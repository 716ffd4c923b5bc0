// src/sandbox/uml.ts on the host, without booting: quoting for the job script, module discovery and the
// reasons given when a guest cannot be started. (Booting paths are exercised by guest.test.ts.)

import { afterEach, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { availableModules, findLinuxUml, GuestBootError, REQUIRED_MODULES, runInGuest, shellQuote } from '../../../src/sandbox/uml.js';

describe('user-mode Linux launcher (no boot)', () => {
  let dir: string;
  beforeEach(() => { dir = mkdtempSync(join(tmpdir(), 'kipvs-uml-')); });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const fakeLinux = () => {
    const fake = join(dir, 'linux.uml');
    writeFileSync(fake, '#!/bin/sh\nexit 1\n');
    chmodSync(fake, 0o755);
    return fake;
  };

  it('quotes any argument for the guest job script', () => {
    for (const s of ["it's", 'a b', '$HOME', '`id`', '"q"', '\\', '', 'x\ny', "'"]) {
      const r = spawnSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' });
      assert.equal(r.stdout, s);
    }
  });

  it('reads module names from modules.dep and modules.builtin (compressed, dashes as underscores)', () => {
    mkdirSync(join(dir, '6.1.176'));
    writeFileSync(join(dir, '6.1.176', 'modules.dep'),
      'kernel/net/netfilter/ipvs/ip_vs_rr.ko: kernel/net/netfilter/ipvs/ip_vs.ko\nkernel/net/netfilter/ipvs/ip_vs.ko.xz:\nkernel/drivers/net/dummy-irq.ko:\n');
    writeFileSync(join(dir, '6.1.176', 'modules.builtin'), 'kernel/net/unix/unix.ko\n');
    assert.deepEqual([...availableModules(dir)!].sort(), ['dummy_irq', 'ip_vs', 'ip_vs_rr', 'unix']);
    assert.equal(availableModules(join(dir, 'none')), undefined);
  });

  it('prefers an explicit linux.uml', () => {
    const fake = fakeLinux();
    assert.equal(findLinuxUml(fake), fake);
  });

  it('refuses to boot without modules, naming what is missing', async () => {
    const linuxPath = fakeLinux();
    await assert.rejects(runInGuest({ command: ['true'], linuxPath, modulesDir: join(dir, 'empty') }),
      (e: unknown) => e instanceof GuestBootError && /no kernel modules/.test(e.reason));
    mkdirSync(join(dir, 'm', '6.1.176'), { recursive: true });
    writeFileSync(join(dir, 'm', '6.1.176', 'modules.dep'), 'kernel/net/netfilter/ipvs/ip_vs.ko:\n');
    await assert.rejects(runInGuest({ command: ['true'], linuxPath, modulesDir: join(dir, 'm') }), (e: unknown) =>
      e instanceof GuestBootError && /required kernel modules not in/.test(e.reason) && e.reason.includes('ip_vs_rr') && !/ ip_vs /.test(e.reason + ' '));
    assert.ok(REQUIRED_MODULES.includes('ip_vs') && REQUIRED_MODULES.includes('dummy'));
  });

  it('refuses paths the kernel command line cannot carry', async () => {
    mkdirSync(join(dir, 'all', '6.1.176'), { recursive: true });
    writeFileSync(join(dir, 'all', '6.1.176', 'modules.dep'), REQUIRED_MODULES.map((m) => `kernel/${m}.ko:`).join('\n'));
    await assert.rejects(runInGuest({ command: ['true'], linuxPath: fakeLinux(), modulesDir: join(dir, 'all'), workDir: join(dir, 'with space') }),
      (e: unknown) => e instanceof GuestBootError && /without spaces/.test(e.reason));
  });
});
