// End to end in the real kernel, with a client sending requests in a loop the whole time: scaling a Service up
// and down (new pods get traffic, removed pods get no new connections, nothing fails), a UDP endpoint removed
// under a live flow (kube-proxy's conntrack cleanup moves the flow), kube-ipvs restarted (SIGTERM, start: ZERO
// failed requests, nothing re-created), and the API server gone for a while (traffic keeps flowing, changes made
// after it is back are applied). A foreign IPVS service stays untouched through all of it.

import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { after, before, describe, it } from 'node:test';
import { cmd, createPodNetwork, ipvsadmServices, ipvsadmStats, resetNetns, tryCmd, waitFor, type Pod, type PodNetwork } from '../lib/index.js';
import {
  baseFlags, endpointSlice, firstSync, metricSample, nodeObject, requestLoop, service, sleep, startApiServer, startKubeIpvs, type ApiServerHandle, type EndpointSpec, type KubeIpvsProcess,
} from './e2e-lib.js';

const HTTP = { name: 'http', port: 80, targetPort: 8080 };
const DNS = { name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 };
const VIP = '10.96.0.10';
const VS = `TCP/${VIP}:80`;

let api: ApiServerHandle;
let kube: KubeIpvsProcess;
let net: PodNetwork;
const pods: Record<string, Pod> = {};

async function realServers(vsKey: string): Promise<Map<string, number>> {
  const vs = (await ipvsadmServices()).find((s) => s.key === vsKey);
  return new Map((vs?.realServers ?? []).map((r) => [r.address, r.weight]));
}

function webSlice(names: string[]): unknown {
  return endpointSlice('web-1', 'web', names.map((n): EndpointSpec => ({ ip: pods[n]!.ipv4! })), [HTTP]);
}

/** UDP conntrack cleanups kube-ipvs has finished (one observation each, after the sync that asked for it). */
const conntrackCleanups = () => metricSample('kubeproxy_conntrack_reconciler_sync_duration_seconds_count', 'ip_family="IPv4"');
/** UDP conntrack entries kube-ipvs has deleted. */
const conntrackDeleted = () => metricSample('kubeproxy_conntrack_reconciler_deleted_entries_total', 'ip_family="IPv4"');

function flags(): string[] {
  return baseFlags(api.kubeconfig, ['--ipvs-graceful-termination-period', '4s']);
}

/** A UDP "flow": one socket (fixed source port) sending to the VIP; each send resolves with the pod that answered. */
class UdpFlow {
  private readonly sock: Socket = createSocket('udp4');
  private waiting: ((pod: string) => void) | undefined;
  constructor(private readonly host: string, private readonly port: number) {
    this.sock.on('message', (m) => {
      const w = this.waiting;
      this.waiting = undefined;
      w?.((JSON.parse(m.toString().split('\n')[0]!) as { pod: string }).pod);
    });
  }
  async bind(): Promise<number> {
    await new Promise<void>((r) => this.sock.bind(0, '0.0.0.0', () => r()));
    return this.sock.address().port;
  }
  send(timeoutMs = 1500): Promise<string | undefined> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this.waiting = undefined;
        resolve(undefined);
      }, timeoutMs);
      this.waiting = (pod) => {
        clearTimeout(t);
        resolve(pod);
      };
      this.sock.send('q', this.port, this.host);
    });
  }
  close(): void {
    this.sock.close();
  }
}

describe('kube-ipvs run: changes under load, restart, API server outage', () => {
  before(async () => {
    await resetNetns();
    await cmd('ipvsadm', ['-A', '-t', '10.1.2.3:8080', '-s', 'wrr']);
    net = await createPodNetwork({ ipv6Cidr: null });
    for (const n of ['p1', 'p2', 'p3']) pods[n] = await net.addPod(n);
    await Promise.all(Object.values(pods).map((p) => p.serve({ http: [8080], udp: [5353] })));
    api = await startApiServer();
    const s = api.server.store;
    s.apply(nodeObject(['10.244.0.1']));
    s.apply(service('web', VIP, [HTTP]));
    s.apply(webSlice(['p1', 'p2']));
    s.apply(service('dns', '10.96.0.53', [DNS]));
    s.apply(endpointSlice('dns-1', 'dns', [{ ip: pods.p1!.ipv4! }, { ip: pods.p2!.ipv4! }], [DNS]));
    kube = startKubeIpvs(flags());
    await kube.waitForLog(firstSync, 120_000, 'the first sync');
  });

  after(async () => {
    await kube?.stop();
    await api?.server.stop();
    // Pod servers are child processes of this file: without this their pipes keep it alive.
    await resetNetns();
  });

  it('scaling up: the new pod receives traffic; no request fails', async () => {
    const loop = requestLoop(VIP, 80);
    try {
      await waitFor(() => loop.podsSince(0).size === 2 || undefined, { timeoutMs: 20_000, what: 'both pods answer' });
      const t0 = Date.now();
      api.server.store.apply(webSlice(['p1', 'p2', 'p3']));
      await waitFor(() => loop.podsSince(t0).has('p3') || undefined, { timeoutMs: 30_000, what: 'p3 receives traffic' });
    } finally {
      await loop.stop();
    }
    assert.deepEqual(loop.failures(), []);
    assert.ok(loop.results.length > 10);
  });

  it('scaling down: a removed pod gets no new connection once it is drained, then goes; no request fails', async () => {
    const loop = requestLoop(VIP, 80);
    try {
      api.server.store.apply(webSlice(['p2', 'p3']));
      // Graceful termination: weight 0 while its (TIME_WAIT) connections are known to IPVS, or deleted at once.
      await waitFor(async () => ((await realServers(VS)).get(pods.p1!.ipv4!) ?? 0) === 0 || undefined, { timeoutMs: 30_000, what: 'p1 drained' });
      const drainedAt = Date.now();
      await sleep(1500);
      assert.ok(!loop.podsSince(drainedAt + 200).has('p1'), 'no new connection reaches the removed pod');
      assert.deepEqual([...loop.podsSince(drainedAt + 200)].sort(), ['p2', 'p3']);
      // The graceful termination period (4 s) ends the drain: the real server is deleted.
      await waitFor(async () => !(await realServers(VS)).has(pods.p1!.ipv4!) || undefined, { timeoutMs: 30_000, what: 'p1 deleted from IPVS' });
    } finally {
      await loop.stop();
    }
    assert.deepEqual(loop.failures(), []);
    assert.ok(kube.logs.some((l) => l.msg === 'Synced'), 'partial syncs logged');
  });

  it('UDP: removing the endpoint of a live flow moves the flow to another pod', async () => {
    const flow = new UdpFlow('10.96.0.53', 53);
    try {
      await flow.bind();
      const first = await flow.send(3000);
      assert.ok(first === 'p1' || first === 'p2', String(first));
      for (let i = 0; i < 3; i++) assert.equal(await flow.send(3000), first, 'a UDP flow sticks to its pod');
      const other = first === 'p1' ? 'p2' : 'p1';
      const cleanups = await conntrackCleanups();
      api.server.store.apply(endpointSlice('dns-1', 'dns', [{ ip: pods[other]!.ipv4! }], [DNS]));
      await waitFor(async () => !(await realServers('UDP/10.96.0.53:53')).has(pods[first]!.ipv4!) || undefined, { timeoutMs: 30_000, what: 'UDP real server deleted (at once, no drain)' });
      // The same flow (same source port) is now answered by the remaining pod.
      const answered = await waitFor(async () => (await flow.send(1000)) === other || undefined, { timeoutMs: 20_000, intervalMs: 100, what: `the flow answered by ${other}` });
      assert.equal(answered, true);
      // kube-proxy cleans the UDP conntrack entries of a changed UDP Service after the sync. That runs after the
      // IPVS change seen above, so it can still be under way here: wait for it, so that it is over before the
      // next test makes its own entries (it would otherwise delete them before that test's change).
      await waitFor(async () => (await conntrackCleanups()) > cleanups || undefined, { timeoutMs: 30_000, what: 'the conntrack cleanup after the UDP endpoint change' });
    } finally {
      flow.close();
    }
  });

  it('UDP conntrack cleanup (kube-proxy §5.3): a stale entry to the service is deleted, a live one kept', async () => {
    // Linux >= 5.9 with expire_nodest_conn=1 already expires the connections of a deleted real server, so stale
    // entries are made by hand here: one answered by a pod that no longer exists, one by a current endpoint.
    // The previous test left one endpoint (and waited for kube-ipvs's cleanup after that change to finish).
    const [live, ...rest] = [...(await realServers('UDP/10.96.0.53:53')).keys()];
    assert.ok(live && rest.length === 0, `one UDP real server left by the previous test: ${[live, ...rest].join(', ')}`);
    const entry = (sport: number, replySrc: string) => ['-I', '-p', 'udp', '-s', '10.0.0.9', '-d', '10.96.0.53', '--sport', String(sport), '--dport', '53',
      '-r', replySrc, '-q', '10.0.0.9', '--reply-port-src', '5353', '--reply-port-dst', String(sport), '-t', '120'];
    // Counters before the entries exist: any cleanup that deletes the stale entry from now on is counted.
    const deletedBefore = await conntrackDeleted();
    const cleanupsBefore = await conntrackCleanups();
    await cmd('conntrack', entry(40000, '10.244.0.99'));
    await cmd('conntrack', entry(40001, live));
    // A change of the UDP Service's endpoints (p3 joins) makes kube-ipvs check its conntrack entries.
    api.server.store.apply(endpointSlice('dns-1', 'dns', [{ ip: live }, { ip: pods.p3!.ipv4! }], [DNS]));
    await waitFor(async () => (await conntrackCleanups()) > cleanupsBefore || undefined, { timeoutMs: 30_000, what: 'kube-ipvs\'s conntrack cleanup after the change' });
    assert.equal(await conntrackDeleted(), deletedBefore + 1, 'exactly the stale entry was deleted');
    const ct = (await tryCmd('conntrack', ['-L', '-p', 'udp', '--orig-dst', '10.96.0.53'])).stdout;
    assert.doesNotMatch(ct, /sport=40000 /, ct);
    assert.match(ct, /sport=40001 /, 'the entry answered by a current endpoint stays');
  });

  it('restart: SIGTERM then start while a client sends requests: zero failures, nothing re-created', async () => {
    const loop = requestLoop(VIP, 80);
    try {
      await waitFor(() => loop.results.length > 5 || undefined, { timeoutMs: 20_000, what: 'traffic' });
      const before = (await ipvsadmStats()).get(VS)!;
      const code = await kube.stop();
      assert.equal(code, 0);
      const whileDown = loop.results.length;
      await sleep(1500);
      assert.ok(loop.results.length > whileDown, 'traffic flows while kube-ipvs is down');
      kube = startKubeIpvs(flags());
      const synced = await kube.waitForLog(firstSync, 120_000, 'the first sync after the restart');
      // Adoption: the first sync of the new process found everything in place.
      assert.doesNotMatch(String(synced.summary), /[+-]\d+[^;]* services/, `summary: ${synced.summary}`);
      await sleep(1500);
      const after = (await ipvsadmStats()).get(VS)!;
      assert.ok(after.conns >= before.conns, `the virtual server was not re-created (conns ${before.conns} -> ${after.conns})`);
    } finally {
      await loop.stop();
    }
    assert.deepEqual(loop.failures(), []);
  });

  it('API server outage: traffic keeps flowing, nothing is deleted; changes made after it returns are applied', async () => {
    const loop = requestLoop(VIP, 80);
    try {
      const before = JSON.stringify(await ipvsadmServices());
      await api.server.pause();
      await kube.waitForLog((l) => /^Lost the API server/.test(String(l.msg)), 30_000, 'the outage noticed');
      const syncsBefore = kube.logs.filter((l) => l.msg === 'Synced').length;
      // Two sync periods (5 s) pass: full syncs with the cached state.
      await waitFor(() => kube.logs.filter((l) => l.msg === 'Synced').length >= syncsBefore + 2 || undefined, { timeoutMs: 30_000, what: 'periodic syncs during the outage' });
      assert.equal(JSON.stringify(await ipvsadmServices()), before, 'kernel unchanged during the outage');
      await api.server.resume();
      api.server.store.apply(webSlice(['p3']));
      await waitFor(async () => ((await realServers(VS)).get(pods.p2!.ipv4!) ?? 0) === 0 || undefined, { timeoutMs: 60_000, what: 'the change made after the outage' });
      const t = Date.now();
      await sleep(1000);
      assert.deepEqual([...loop.podsSince(t + 200)], ['p3']);
    } finally {
      await loop.stop();
    }
    assert.deepEqual(loop.failures(), []);
  });

  it('the foreign IPVS service was never touched', async () => {
    const foreign = (await ipvsadmServices()).find((s) => s.key === 'TCP/10.1.2.3:8080');
    assert.ok(foreign);
    assert.equal(foreign.scheduler, 'wrr');
    assert.equal(await kube.stop(), 0);
  });
});
