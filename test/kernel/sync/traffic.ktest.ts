// Real connections through what `kube-ipvs sync` programmed, in the real kernel: pods (network namespaces on a
// bridge) serve TCP; the node connects to the ClusterIP (IPv4 and IPv6) and reaches them. A scheduler change is an
// in-place edit of the virtual server: an established connection keeps working across the sync.

import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { createPodNetwork, ipvsadmServices, resetNetns, tcpRequest, waitFor, type Reply } from '../lib/index.js';
import { addNodeInterface, realisticObjects, sync, writeObjects } from './fixtures.js';

before(async () => {
  await resetNetns();
  await addNodeInterface();
  const net = await createPodNetwork();
  for (const [name, n] of [['web-1', 2], ['web-2', 3]] as const) {
    const pod = await net.addPod(name, { ipv4: `10.244.0.${n}`, ipv6: `fd00:10:244::${n}` }); // the endpoints of Service web
    await pod.serve({ tcp: [8080] });
  }
  // The pod network must carry traffic before the Service can (a veth just attached may still be settling).
  for (const ip of ['10.244.0.2', '10.244.0.3', 'fd00:10:244::2', 'fd00:10:244::3']) {
    await waitFor(() => tcpRequest(ip, 8080, 'ready', 1000).then(() => true), { timeoutMs: 20_000, what: `pod ${ip} reachable` });
  }
  await sync(writeObjects(realisticObjects()));
});
after(resetNetns);

/** A connection that stays open; each line sent gets one reply line. */
function openConnection(host: string, port: number): Promise<{ ask: (data: string) => Promise<Reply>; close: () => void; socket: Socket }> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let buf = '';
    let waiting: ((r: Reply) => void) | undefined;
    socket.on('data', (d) => {
      buf += d.toString();
      const nl = buf.indexOf('\n');
      if (nl === -1 || !waiting) return;
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      const w = waiting;
      waiting = undefined;
      w(JSON.parse(line) as Reply);
    });
    socket.once('error', reject);
    socket.once('connect', () =>
      resolve({
        socket,
        close: () => socket.destroy(),
        ask: (data) =>
          new Promise<Reply>((res, rej) => {
            const timer = setTimeout(() => rej(new Error(`no reply to ${data} within 5 s`)), 5000);
            socket.once('error', rej);
            socket.once('close', () => rej(new Error('connection closed')));
            waiting = (r) => {
              clearTimeout(timer);
              res(r);
            };
            socket.write(`${data}\n`);
          }),
      }),
    );
  });
}

describe('traffic through a synced node', () => {
  it('a TCP connection to the ClusterIP reaches a pod, and round robin reaches both', async () => {
    const pods = new Set<string>();
    for (let i = 0; i < 4; i++) {
      const r = await tcpRequest('10.96.0.10', 80, `req-${i}`);
      assert.equal(r.port, 8080);
      assert.equal(r.data, `req-${i}`);
      pods.add(r.pod);
    }
    assert.deepEqual([...pods].sort(), ['web-1', 'web-2']);
  });

  it('the IPv6 ClusterIP of the dual-stack Service reaches a pod too', async () => {
    const r = await tcpRequest('fd00:96::10', 80, 'six');
    assert.ok(['web-1', 'web-2'].includes(r.pod), r.pod);
    assert.equal(r.data, 'six');
  });

  it('a changed scheduler is edited in place: an established connection survives the sync', async () => {
    const conn = await openConnection('10.96.0.10', 80);
    try {
      const before = await conn.ask('before');
      const objects = realisticObjects().map((o) =>
        o.kind === 'Service' && o.metadata?.name === 'web'
          ? { ...o, metadata: { ...o.metadata, annotations: { 'kube-ipvs.io/scheduler': 'wrr' } } }
          : o,
      );
      const r = await sync(writeObjects(objects));
      assert.match(r.stdout, /^sync: ipvs: ~2 services \(\d+\.\d\d s\)\n$/, 'both families of the Service, edited, nothing deleted');
      const vs = (await ipvsadmServices()).find((s) => s.key === 'TCP/10.96.0.10:80');
      assert.equal(vs?.scheduler, 'wrr');
      const afterEdit = await conn.ask('after');
      assert.equal(afterEdit.pod, before.pod, 'same backend');
      assert.equal(afterEdit.clientPort, before.clientPort, 'same connection');
      assert.equal(afterEdit.data, 'after');
    } finally {
      conn.close();
    }
  });
});
