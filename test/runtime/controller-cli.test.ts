// The command line around the controller, as a process: `kube-ipvs apiserver` (its own flags, SIGTERM -> exit 0),
// `kube-ipvs run` refusing to start without an API server configuration (exit 1, before touching the node), and
// kube-proxy's validation of the sync periods (exit 2). The controller itself runs in test/kernel/e2e.

import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, it } from 'node:test';

const BIN = fileURLToPath(new URL('../../../bin/kube-ipvs', import.meta.url));

describe('kube-ipvs command line', () => {
  it('apiserver: takes its own flags, writes a kubeconfig, serves, and exits 0 on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kipvs-cli-'));
    try {
      const kc = join(dir, 'kubeconfig');
      const child = spawn(process.execPath, [BIN, 'apiserver', '--port', '0', '--kubeconfig-out', kc], { stdio: ['ignore', 'pipe', 'pipe'] });
      const url = await new Promise<string>((resolve, reject) => {
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          const m = /^(http:\/\/\S+)\n/m.exec(out);
          if (m) resolve(m[1]!);
        });
        child.on('exit', (code) => reject(new Error(`exited ${code} before listening`)));
      });
      assert.match(url, /^http:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(existsSync(kc));
      assert.match(readFileSync(kc, 'utf8'), new RegExp(url.replace(/[.:/]/g, '\\$&')));
      const res = await fetch(`${url}/api/v1/services`);
      assert.equal(res.status, 200);
      child.kill('SIGTERM');
      const code = await new Promise<number | null>((r) => child.on('exit', (c) => r(c)));
      assert.equal(code, 0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('run: an unreadable kubeconfig stops it before it touches the node (exit 1)', () => {
    const r = spawnSync(process.execPath, [BIN, 'run', '--kubeconfig', '/nonexistent/kubeconfig', '--hostname-override', 'node-a'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /kube-ipvs: cannot start: .*nonexistent/);
    assert.doesNotMatch(r.stderr, /Changed sysctl/);
  });

  it('run (the default command): kube-proxy\'s validation of the sync periods (exit 2)', () => {
    const r = spawnSync(process.execPath, [BIN, '--ipvs-sync-period', '1s', '--ipvs-min-sync-period', '10s', '--hostname-override', 'node-a'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /ipvs-(min-)?sync-period/);
  });
});
