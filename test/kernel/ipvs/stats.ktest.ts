// Counters after real traffic: TCP connections through a virtual server on a dummy interface to a local server,
// seen by observe() exactly as ipvsadm prints them, and zero() clearing them.

import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createConnection, createServer, type Server } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { IpvsClient } from '../../../src/kernel/ipvs/client.js';
import type { VirtualServer } from '../../../src/model/state.js';
import { cmd, ipvsadmStats, resetNetns } from '../lib/index.js';

const VIP = '10.96.0.20';
const vs = { protocol: 'TCP' as const, address: VIP, port: 80, scheduler: 'rr', flags: 0, timeout: 0 };
const CONNECTIONS = 5;

let ipvs: IpvsClient;
let server: Server;

before(async () => {
  await resetNetns();
  ipvs = await IpvsClient.open();
  await cmd('ip', ['link', 'add', 'dummy0', 'type', 'dummy']);
  await cmd('ip', ['link', 'set', 'dummy0', 'up']);
  await cmd('ip', ['addr', 'add', `${VIP}/32`, 'dev', 'dummy0']);
  server = createServer((sock) => sock.end('hello\n'));
  server.listen(8080, VIP);
  await once(server, 'listening');
});
after(async () => {
  server?.close();
  ipvs?.close();
});

function fetchOnce(): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = createConnection({ host: VIP, port: 80 });
    let data = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (data += d));
    c.on('end', () => resolve(data));
    c.on('error', reject);
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The kernel folds per-CPU counters into what dumps report every 2 s (its estimator): poll until they show. */
async function settledStats(want: (v: VirtualServer) => boolean): Promise<{ vs: VirtualServer; printed: Awaited<ReturnType<typeof ipvsadmStats>> }> {
  let last: VirtualServer | undefined;
  for (let i = 0; i < 40; i++) {
    const [v] = await ipvs.observe();
    const printed = await ipvsadmStats();
    const p = printed.get(`TCP/${VIP}:80`);
    if (v && want(v) && p && p.conns === v.stats!.conns && p.inPkts === v.stats!.inPkts && p.outBytes === v.stats!.outBytes) {
      return { vs: v, printed };
    }
    last = v;
    await sleep(250);
  }
  throw new Error(`counters never settled: ${JSON.stringify(last)}`);
}

describe('IPVS counters after real traffic', () => {
  it('observe() reports connections, packets and bytes like ipvsadm, on the service and its real server', async () => {
    const [a, b] = await ipvs.apply([
      { kind: 'add-virtual-server', vs },
      { kind: 'add-real-server', vs, rs: { address: VIP, port: 8080, weight: 1 } },
    ]);
    assert.ok(a!.ok && b!.ok);
    for (let i = 0; i < CONNECTIONS; i++) assert.equal(await fetchOnce(), 'hello\n', 'answered through IPVS');

    const { vs: v, printed } = await settledStats((x) => (x.stats?.conns ?? 0) >= CONNECTIONS);
    const s = v.stats!;
    assert.equal(s.conns, CONNECTIONS);
    assert.ok(s.inPkts >= CONNECTIONS * 3 && s.outPkts >= CONNECTIONS * 2, JSON.stringify(s));
    assert.ok(s.inBytes > 0 && s.outBytes > 0);
    const rs = v.realServers[0]!;
    assert.deepEqual(
      [rs.stats!.conns, rs.stats!.inPkts, rs.stats!.outPkts, rs.stats!.inBytes, rs.stats!.outBytes],
      Object.values(printed.get(`TCP/${VIP}:80 -> ${VIP}:8080`)!),
    );
    assert.ok(rs.activeConns! + rs.inactiveConns! >= 1, `conns in the table: ${rs.activeConns}/${rs.inactiveConns}`);
    assert.deepEqual(Object.values(printed.get(`TCP/${VIP}:80`)!), [s.conns, s.inPkts, s.outPkts, s.inBytes, s.outBytes]);
  });

  it('zero() clears the counters of one service', async () => {
    await ipvs.zero(vs);
    const [v] = await ipvs.observe();
    assert.equal(v!.stats!.conns, 0);
    assert.equal(v!.stats!.inBytes, 0);
    assert.equal(v!.realServers[0]!.stats!.conns, 0);
  });
});
