// The host-testable pieces of the demo's orchestration (src/sandbox/demo-run.ts): comparing the kernel's IPVS
// table with the desired one (the first-sync check), and finding processes left behind (the clean-exit check).

import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { describe, it } from 'node:test';
import type { VirtualServer } from '../../src/model/state.js';
import { descendants, ipvsDifferences } from '../../src/sandbox/demo-run.js';

const vs = (address: string, rs: [string, number][], over: Partial<VirtualServer> = {}): VirtualServer => ({
  protocol: 'TCP', address, port: 80, scheduler: 'rr', flags: 0, timeout: 0,
  realServers: rs.map(([a, w]) => ({ address: a, port: 8080, weight: w })), ...over,
});

describe('sandbox run: the kernel against the desired state', () => {
  it('equal tables (whatever the order, counters aside) have no differences', () => {
    const desired = [vs('10.96.0.10', [['10.244.0.2', 1], ['10.244.0.3', 1]])];
    const observed = [{ ...vs('10.96.0.10', [['10.244.0.3', 1], ['10.244.0.2', 1]]), stats: { conns: 5 } as VirtualServer['stats'] }];
    assert.deepEqual(ipvsDifferences(desired, observed), []);
  });

  it('names what is missing, what differs (real servers, weights, persistence) and what is extra', () => {
    const desired = [vs('10.96.0.10', [['10.244.0.2', 1]]), vs('10.96.0.11', [], { flags: 1, timeout: 10800 }), vs('10.96.0.12', [])];
    const observed = [vs('10.96.0.10', [['10.244.0.2', 0]]), vs('10.96.0.11', []), vs('10.96.0.99', [])];
    assert.deepEqual(ipvsDifferences(desired, observed), [
      'TCP/10.96.0.10:80: kernel has rr flags 0 timeout 0 -> 10.244.0.2:8080@0, objects ask for rr flags 0 timeout 0 -> 10.244.0.2:8080@1',
      'TCP/10.96.0.11:80: kernel has rr flags 0 timeout 0 -> , objects ask for rr flags 1 timeout 10800 -> ',
      'missing TCP/10.96.0.12:80',
      'unexpected TCP/10.96.0.99:80',
    ]);
  });
});

describe('sandbox run: processes left behind', () => {
  it('lists a running child (and its children), and no longer once it exited', async () => {
    const child = spawn('sh', ['-c', 'sleep 30 & wait'], { stdio: 'ignore' });
    await new Promise((r) => setTimeout(r, 200));
    const running = descendants(process.pid);
    assert.ok(running.some((p) => p.startsWith(`${child.pid} sh -c`)), running.join('\n'));
    assert.ok(running.some((p) => / sleep 30$/.test(p)), 'a grandchild counts too');
    const exited = new Promise((r) => child.once('exit', r));
    for (const p of running) process.kill(Number(p.split(' ')[0]), 'SIGKILL');
    await exited;
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(descendants(process.pid).filter((p) => p.includes('sleep 30') || p.startsWith(`${child.pid} `)), []);
  });
});
