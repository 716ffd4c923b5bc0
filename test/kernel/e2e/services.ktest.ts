// End to end in the real kernel: `node bin/kube-ipvs run` (a subprocess, as on a node) against the embedded API
// server, pods in network namespaces, real clients. One kube-ipvs process serves every scenario of this file:
// ClusterIP (TCP, UDP), NodePort and ExternalIP from an outside client, session affinity, a LoadBalancer with
// externalTrafficPolicy Local and its health check node port (200 / 503), then SIGTERM (exit 0, kernel left as
// it is) and `kube-ipvs --cleanup` (only what kube-ipvs made goes). A foreign IPVS service, an excluded-CIDR
// virtual server, a foreign ipset and a foreign iptables chain are there from the start and must survive all of it.

import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  cmd, createNetns, createPodNetwork, httpGet, ipsetSets, withNetns, ipvsadmServices, iptablesRules, linkAddresses, requestFromNetns, resetNetns, tryCmd, udpRequest, waitFor,
  type Netns, type Pod, type PodNetwork,
} from '../lib/index.js';
import {
  baseFlags, endpointSlice, firstSync, httpStatus, KUBE_IPVS, nodeObject, service, startApiServer, startKubeIpvs, type ApiServerHandle, type KubeIpvsProcess,
} from './e2e-lib.js';

const HTTP = { name: 'http', port: 80, targetPort: 8080 };
const DNS = { name: 'dns', port: 53, protocol: 'UDP' as const, targetPort: 5353 };
const NODE_IP = '192.168.50.1';
const CLIENT_IP = '192.168.50.2';
const EXTERNAL_IP = '192.168.50.100';
const LB_IP = '192.168.50.200';

let api: ApiServerHandle;
let kube: KubeIpvsProcess;
let net: PodNetwork;
let a: Pod;
let b: Pod;
let ext: Netns;

const key = (s: { key: string }) => s.key;
async function table(): Promise<Map<string, { scheduler: string; flags: number; timeout: number; rs: string[] }>> {
  const m = new Map<string, { scheduler: string; flags: number; timeout: number; rs: string[] }>();
  for (const s of await ipvsadmServices()) {
    m.set(key(s), { scheduler: s.scheduler, flags: s.flags, timeout: s.timeout, rs: s.realServers.map((r) => `${r.address}:${r.port}@${r.weight}`).sort() });
  }
  return m;
}

async function foreignStateIntact(): Promise<void> {
  const t = await table();
  assert.deepEqual(t.get('TCP/10.1.2.3:8080'), { scheduler: 'wrr', flags: 0, timeout: 0, rs: ['10.9.9.9:8080@3'] }, 'foreign IPVS service untouched');
  assert.deepEqual(t.get('TCP/10.200.0.1:80'), { scheduler: 'rr', flags: 0, timeout: 0, rs: ['10.244.0.250:80@1'] }, 'excluded-CIDR virtual server untouched');
  assert.ok((await linkAddresses('kube-ipvs0')).includes('10.200.0.1'), 'excluded address stays on kube-ipvs0');
  assert.ok((await ipsetSets())['OTHER-SET'], 'foreign ipset untouched');
  assert.ok((await iptablesRules(4, 'legacy', { table: 'filter' })).filter?.['OTHER-CHAIN'], 'foreign chain untouched');
}

describe('kube-ipvs run: services in the real kernel', () => {
  before(async () => {
    await resetNetns();
    // What others put on this node before kube-ipvs starts.
    await cmd('ip', ['link', 'add', 'kube-ipvs0', 'type', 'dummy']);
    await cmd('ip', ['addr', 'add', '10.200.0.1/32', 'dev', 'kube-ipvs0']);
    await cmd('ipvsadm', ['-A', '-t', '10.200.0.1:80', '-s', 'rr']);
    await cmd('ipvsadm', ['-a', '-t', '10.200.0.1:80', '-r', '10.244.0.250:80', '-m', '-w', '1']);
    await cmd('ipvsadm', ['-A', '-t', '10.1.2.3:8080', '-s', 'wrr']);
    await cmd('ipvsadm', ['-a', '-t', '10.1.2.3:8080', '-r', '10.9.9.9:8080', '-m', '-w', '3']);
    await cmd('ipset', ['create', 'OTHER-SET', 'hash:ip']);
    await cmd('iptables-legacy', ['-t', 'filter', '-N', 'OTHER-CHAIN']);

    net = await createPodNetwork({ ipv6Cidr: null });
    a = await net.addPod('a');
    b = await net.addPod('b');
    await Promise.all([a.serve({ http: [8080], udp: [5353] }), b.serve({ http: [8080], udp: [5353] })]);

    // An outside client on its own link to the node.
    ext = await createNetns(`${process.env.KUBE_IPVS_KTEST_NETNS ?? 'kt'}-ext`);
    await cmd('ip', ['-batch', '-'], { stdin: [`link add kv-ext type veth peer name eth0 netns ${ext.name}`, `addr add ${NODE_IP}/24 dev kv-ext`, 'link set kv-ext up'].join('\n') + '\n' });
    await cmd('ip', ['-n', ext.name, '-batch', '-'], { stdin: [`addr add ${CLIENT_IP}/24 dev eth0`, 'link set eth0 up', `route add default via ${NODE_IP}`].join('\n') + '\n' });

    api = await startApiServer();
    const s = api.server.store;
    s.apply(nodeObject([NODE_IP]));
    s.apply(service('web', '10.96.0.10', [{ ...HTTP, nodePort: 30080 }], { type: 'NodePort', externalIPs: [EXTERNAL_IP] }));
    s.apply(endpointSlice('web-1', 'web', [{ ip: a.ipv4! }, { ip: b.ipv4!, node: 'node-b' }], [HTTP]));
    s.apply(service('dns', '10.96.0.53', [DNS]));
    s.apply(endpointSlice('dns-1', 'dns', [{ ip: a.ipv4! }, { ip: b.ipv4! }], [DNS]));
    s.apply(service('sticky', '10.96.0.20', [HTTP], { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }));
    s.apply(endpointSlice('sticky-1', 'sticky', [{ ip: a.ipv4! }, { ip: b.ipv4! }], [HTTP]));
    s.apply(service('lb', '10.96.0.30', [{ ...HTTP, nodePort: 30081 }], { type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 30300 }, { loadBalancer: { ingress: [{ ip: LB_IP }] } }));
    s.apply(endpointSlice('lb-1', 'lb', [{ ip: a.ipv4! }, { ip: b.ipv4!, node: 'node-b' }], [HTTP]));

    kube = startKubeIpvs(baseFlags(api.kubeconfig, ['--ipvs-exclude-cidrs', '10.200.0.0/16']));
    await kube.waitForLog(firstSync, 120_000, 'the first sync');
  });

  after(async () => {
    await kube?.stop();
    await api?.server.stop();
    // Pod servers are child processes of this file: without this their pipes keep it alive.
    await resetNetns();
  });

  it('logs kube-proxy\'s start lines and serves /healthz, /livez and /metrics', async () => {
    assert.ok(kube.logs.some((l) => l.msg === 'ipvs sync params' && l.ipFamily === 'IPv4' && l.syncPeriod === '5s' && l.minSyncPeriod === '0s' && l.burstSyncs === 2));
    assert.ok(kube.logs.some((l) => l.msg === 'Caches are synced'));
    const hz = await httpStatus('127.0.0.1', 10256, '/healthz');
    assert.equal(hz.status, 200, hz.body);
    assert.equal(JSON.parse(hz.body).nodeEligible, true);
    assert.equal((await httpStatus('127.0.0.1', 10256, '/livez')).status, 200);
    const m = await httpStatus('127.0.0.1', 10249, '/metrics');
    assert.match(m.body, /kubeproxy_sync_proxy_rules_last_timestamp_seconds\{ip_family="IPv4"\} [1-9]/);
    assert.match(m.body, /kubeipvs_syncs_total\{type="full",result="success"\} [1-9]/);
    assert.equal((await httpStatus('127.0.0.1', 10249, '/proxyMode')).body, 'ipvs');
  });

  it('ClusterIP over TCP: round robin across both pods, from the node', async () => {
    const t = await table();
    assert.deepEqual(t.get('TCP/10.96.0.10:80')?.rs, [`${a.ipv4}:8080@1`, `${b.ipv4}:8080@1`].sort());
    const pods = new Set<string>();
    for (let i = 0; i < 4; i++) pods.add((await httpGet('10.96.0.10', 80)).pod);
    assert.deepEqual([...pods].sort(), ['a', 'b']);
  });

  it('ClusterIP over UDP', async () => {
    const r = await udpRequest('10.96.0.53', 53, 'q');
    assert.ok(['a', 'b'].includes(r.pod));
    assert.equal(r.proto, 'udp');
  });

  it('NodePort and ExternalIP from a client outside the node', async () => {
    const t = await table();
    assert.ok(t.has(`TCP/${NODE_IP}:30080`), 'NodePort virtual server on the node IP');
    assert.ok(!t.has('TCP/127.0.0.1:30080'), 'never on loopback');
    const viaNodePort = await requestFromNetns(ext.name, 'http', NODE_IP, 30080);
    assert.ok(['a', 'b'].includes(viaNodePort.pod));
    assert.ok((await linkAddresses('kube-ipvs0')).includes(EXTERNAL_IP));
    const viaExternalIP = await requestFromNetns(ext.name, 'http', EXTERNAL_IP, 80);
    assert.ok(['a', 'b'].includes(viaExternalIP.pod));
  });

  it('session affinity (ClientIP): persistent virtual server, one pod for the client', async () => {
    const t = await table();
    assert.equal(t.get('TCP/10.96.0.20:80')?.flags, 1);
    assert.equal(t.get('TCP/10.96.0.20:80')?.timeout, 600);
    const pods = new Set<string>();
    for (let i = 0; i < 5; i++) pods.add((await httpGet('10.96.0.20', 80)).pod);
    assert.equal(pods.size, 1, [...pods].join(','));
  });

  it('externalTrafficPolicy Local: local endpoints only on the load balancer IP, health check node port 200 then 503', async () => {
    const t = await table();
    assert.deepEqual(t.get(`TCP/${LB_IP}:80`)?.rs, [`${a.ipv4}:8080@1`], 'only the local endpoint');
    assert.deepEqual(t.get('TCP/10.96.0.30:80')?.rs, [`${a.ipv4}:8080@1`, `${b.ipv4}:8080@1`].sort(), 'ClusterIP uses every endpoint');
    const ok = await httpStatus('127.0.0.1', 30300, '/anything');
    assert.equal(ok.status, 200, ok.body);
    assert.equal(JSON.parse(ok.body).localEndpoints, 1);
    assert.equal(ok.headers['x-load-balancing-endpoint-weight'], '1');
    for (let i = 0; i < 3; i++) assert.equal((await requestFromNetns(ext.name, 'http', LB_IP, 80)).pod, 'a');

    // The local pod goes away (its endpoint now on another node): 503, and IPVS falls back to every endpoint.
    api.server.store.apply(endpointSlice('lb-1', 'lb', [{ ip: b.ipv4!, node: 'node-b' }], [HTTP]));
    await waitFor(async () => (await httpStatus('127.0.0.1', 30300)).status === 503, { timeoutMs: 30_000, what: 'health check 503' });
    const bad = await httpStatus('127.0.0.1', 30300);
    assert.equal(JSON.parse(bad.body).localEndpoints, 0);
    assert.equal(JSON.parse(bad.body).serviceProxyHealthy, true);
    // a had connections (TIME_WAIT entries in IPVS): it drains at weight 0 (graceful termination), b takes over.
    const drained = [`${a.ipv4}:8080@0`, `${b.ipv4}:8080@1`].sort().join();
    await waitFor(async () => [`${b.ipv4}:8080@1`, drained].includes((await table()).get(`TCP/${LB_IP}:80`)?.rs.join() ?? '') || undefined, { timeoutMs: 30_000, what: 'LB virtual server updated' });
    for (let i = 0; i < 2; i++) assert.equal((await requestFromNetns(ext.name, 'http', LB_IP, 80)).pod, 'b');
  });

  it('a Service deleted at the API server disappears from the kernel; the foreign and excluded ones stay', async () => {
    api.server.store.remove('Service', 'sticky', 'default');
    await waitFor(async () => !(await table()).has('TCP/10.96.0.20:80'), { timeoutMs: 30_000, what: 'sticky removed' });
    assert.ok(!(await linkAddresses('kube-ipvs0')).includes('10.96.0.20'));
    await foreignStateIntact();
  });

  it('SIGTERM: exits 0 and leaves the kernel exactly as it was', async () => {
    const before = JSON.stringify([...(await table())]);
    const addrs = (await linkAddresses('kube-ipvs0')).sort();
    const code = await kube.stop();
    assert.equal(code, 0, JSON.stringify(kube.logs.slice(-5)));
    assert.equal(JSON.stringify([...(await table())]), before);
    assert.deepEqual((await linkAddresses('kube-ipvs0')).sort(), addrs);
    assert.ok((await httpGet('10.96.0.10', 80)).pod, 'traffic still flows without kube-ipvs');
  });

  it('--init-only: applies the IPVS sysctls and IPVS timeouts, touches nothing else, exits 0', async () => {
    await withNetns(`${process.env.KUBE_IPVS_KTEST_NETNS ?? 'kt'}-init`, async (ns) => {
      await ns.cmd('modprobe', ['-q', 'ip_vs']).catch(() => undefined);
      const r = await ns.tryCmd(process.execPath, [KUBE_IPVS, '--init-only', '--ipvs-strict-arp', '--ipvs-tcp-timeout', '7m', '--hostname-override', 'node-a'], { timeoutMs: 120_000 });
      assert.equal(r.exitCode, 0, r.stderr);
      for (const [name, want] of [['net/ipv4/vs/conntrack', '1'], ['net/ipv4/vs/expire_nodest_conn', '1'], ['net/ipv4/vs/expire_quiescent_template', '1'], ['net/ipv4/ip_forward', '1'], ['net/ipv4/conf/all/arp_ignore', '1'], ['net/ipv4/conf/all/arp_announce', '2']]) {
        assert.equal((await ns.cmd('cat', [`/proc/sys/${name}`])).trim(), want, name);
      }
      assert.match(await ns.cmd('ipvsadm', ['-L', '--timeout']), /Timeout \(tcp tcpfin udp\): 420 /);
      assert.equal((await ns.cmd('ipvsadm', ['-Sn'])).trim(), '', 'no virtual server made');
      assert.doesNotMatch(await ns.cmd('ip', ['link']), /kube-ipvs0/);
    });
  });

  it('--cleanup removes what kube-ipvs made and nothing else', async () => {
    const r = await tryCmd(process.execPath, [KUBE_IPVS, '--cleanup', '--ipvs-exclude-cidrs', '10.200.0.0/16'], { env: { ...process.env, KUBE_IPVS_IPTABLES_BACKEND: 'legacy' }, timeoutMs: 120_000 });
    assert.equal(r.exitCode, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^cleanup: /);
    const t = await table();
    assert.deepEqual([...t.keys()].sort(), ['TCP/10.1.2.3:8080', 'TCP/10.200.0.1:80']);
    assert.deepEqual(await linkAddresses('kube-ipvs0'), ['10.200.0.1'], 'kube-ipvs0 kept for the excluded address, ours removed');
    assert.deepEqual(Object.keys(await ipsetSets()).filter((n) => n.startsWith('KUBE-')), []);
    for (const tableName of ['nat', 'filter']) {
      const chains = Object.keys((await iptablesRules(4, 'legacy', { table: tableName }))[tableName] ?? {});
      assert.deepEqual(chains.filter((c) => c.startsWith('KUBE-')), [], `${tableName}: ${chains.join(',')}`);
    }
    await foreignStateIntact();
    const again = await tryCmd(process.execPath, [KUBE_IPVS, '--cleanup', '--ipvs-exclude-cidrs', '10.200.0.0/16'], { env: { ...process.env, KUBE_IPVS_IPTABLES_BACKEND: 'legacy' }, timeoutMs: 120_000 });
    assert.equal(again.exitCode, 0, again.stderr);
    assert.match(again.stdout, /nothing of kube-ipvs found/);
  });
});
