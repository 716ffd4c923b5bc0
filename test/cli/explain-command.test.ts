// `kube-ipvs explain` as operators run it: bin/kube-ipvs in a child process, objects from files or from the
// embedded API server on loopback (needs `tsc` output in dist/, which the test runner builds first).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import { EmbeddedApiServer } from '../../src/k8s/apiserver/index.js';
import type { Explanation } from '../../src/desired/explain.js';
import { parseServiceArg } from '../../src/cli/explain.js';

const BIN = fileURLToPath(new URL('../../../bin/kube-ipvs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-explain-'));

/** Runs the CLI asynchronously (the embedded API server lives in this process and must keep answering). */
function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, NODE_OPTIONS: '', KUBECONFIG: join(dir, 'no-such-kubeconfig') } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

const OBJECTS_YAML = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default, annotations: {kube-ipvs.io/scheduler: wrr}}
spec:
  type: NodePort
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  externalTrafficPolicy: Local
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080, nodePort: 30080}]
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: default}
spec: {clusterIP: None, ports: [{name: pg, port: 5432}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
- addresses: [10.244.2.5]
  conditions: {ready: true}
  nodeName: node-b
- addresses: [10.244.2.6]
  conditions: {ready: false, serving: true, terminating: true}
  nodeName: node-b
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {topology.kubernetes.io/zone: zone-1}}
status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}
`;
const OBJECTS = join(dir, 'objects.yaml');
writeFileSync(OBJECTS, OBJECTS_YAML);
const BASE = ['--objects', OBJECTS, '--hostname-override', 'node-a'];

let server: EmbeddedApiServer;
before(async () => {
  server = new EmbeddedApiServer();
  await server.start(0);
  for (const doc of parseAllDocuments(OBJECTS_YAML)) server.store.apply(doc.toJS());
  // A slice of another Service in the same namespace: the command must only read web's.
  server.store.apply({
    apiVersion: 'discovery.k8s.io/v1',
    kind: 'EndpointSlice',
    metadata: { name: 'other-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'other' } },
    addressType: 'IPv4',
    endpoints: [{ addresses: ['10.244.9.9'] }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
});
after(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('explain --output text: service, ports, ipvsadm lines, addresses, set entries, rules, endpoint table', async () => {
  const r = await run(['explain', 'default/web', ...BASE]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const out = r.stdout;
  assert.match(out, /^Service default\/web on node node-a \(zone zone-1\): proxied\n/);
  assert.match(out, /\n {2}scheduler wrr: per-Service scheduler from annotation kube-ipvs\.io\/scheduler="wrr"/);
  for (const line of [
    '-A -t 10.96.0.10:80 -s wrr',
    '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1',
    '-a -t 10.96.0.10:80 -r 10.244.2.5:8080 -m -w 1',
    '-A -t 192.168.1.10:30080 -s wrr',
    '-a -t 192.168.1.10:30080 -r 10.244.1.5:8080 -m -w 1',
    'inet 10.96.0.10/32',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'add KUBE-NODE-PORT-LOCAL-TCP 30080',
    '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port with externalTrafficPolicy=local" -m set --match-set KUBE-NODE-PORT-LOCAL-TCP dst -j RETURN',
  ]) {
    assert.ok(out.split('\n').includes(line), `line ${JSON.stringify(line)} in:\n${out}`);
  }
  const lines = out.split('\n');
  const np = lines.indexOf('-A -t 192.168.1.10:30080 -s wrr');
  assert.deepEqual(lines.slice(np + 1, np + 3), ['-a -t 192.168.1.10:30080 -r 10.244.1.5:8080 -m -w 1', ''], 'the node port VS has only the local endpoint');
  const table = out.slice(out.indexOf('# Endpoints: 3 (2 used)'));
  const header = table.split('\n')[1]!;
  assert.match(header, /^ENDPOINT\s+SLICE\s+NODE\s+CONDITIONS\s+SERVICE-PORT\s+INTERNAL\s+EXTERNAL\s+REASON$/);
  const rowOf = (ip: string) => table.split('\n').find((l) => l.startsWith(ip))!;
  assert.match(rowOf('10.244.1.5:8080'), /default\/web-abc\[0\]\s+node-a \(this\)\s+ready\s+default\/web:http\s+yes\s+yes\s+/);
  assert.match(rowOf('10.244.2.5:8080'), /yes\s+no\s+internal: ready: ready; external: other-node: externalTrafficPolicy Local/);
  assert.match(rowOf('10.244.2.6:8080'), /not-ready,serving,terminating\s+default\/web:http\s+no\s+no\s+internal: terminating: terminating \(still serving\): ready endpoints exist in the cluster.*; external: other-node/);
  assert.match(out, /\n# diagnostics: 0\n$/);
});

test('explain --output json: the Explanation object', async () => {
  const r = await run(['explain', 'default/web', ...BASE, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const x = JSON.parse(r.stdout) as Explanation;
  assert.equal(r.stdout, `${JSON.stringify(x, null, 2)}\n`);
  assert.equal(x.service, 'default/web');
  assert.equal(x.status, 'proxied');
  assert.deepEqual(x.node, { name: 'node-a', zone: 'zone-1', nodeObject: true });
  assert.equal(x.scheduler?.source, 'annotation');
  assert.deepEqual(x.virtualServers.map((v) => `${v.address}:${v.port} ${v.realServers.map((rs) => rs.address).join(',')}`), ['10.96.0.10:80 10.244.1.5,10.244.2.5', '192.168.1.10:30080 10.244.1.5']);
  assert.deepEqual(x.endpoints.map((e) => [e.address, e.internal?.reason, e.external?.reason]), [
    ['10.244.1.5', 'ready', 'ready'],
    ['10.244.2.5', 'ready', 'other-node'],
    ['10.244.2.6', 'terminating', 'other-node'],
  ]);
  assert.deepEqual(x.addresses, ['10.96.0.10']);
});

test('explain a skipped Service: exit 0 with the reason', async () => {
  const r = await run(['explain', 'default/db', ...BASE, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const x = JSON.parse(r.stdout) as Explanation;
  assert.equal(x.status, 'skipped');
  assert.equal(x.reason?.code, 'headless');
  const text = await run(['explain', 'default/db', ...BASE]);
  assert.match(text.stdout, /^Service default\/db on node node-a \(zone zone-1\): skipped \(headless: headless/);
  assert.ok(!text.stdout.includes('# IPVS'), 'no state sections for a Service that is not proxied');
});

test('explain an unknown Service: exit 1, says so on stderr', async () => {
  const r = await run(['explain', 'default/nope', ...BASE]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /kube-ipvs explain: no Service default\/nope/);
  assert.match(r.stdout, /: not-found/);
  const json = await run(['explain', 'other/web', ...BASE, '--output=json']);
  assert.equal(json.code, 1);
  assert.equal((JSON.parse(json.stdout) as Explanation).status, 'not-found');
});

test('explain usage errors exit 2', async () => {
  const cases: [string[], RegExp][] = [
    [['explain', ...BASE], /expected one argument NAMESPACE\/NAME \(the Service\), got none/],
    [['explain', 'web', ...BASE], /"web" is not NAMESPACE\/NAME/],
    [['explain', 'a/b/c', ...BASE], /"a\/b\/c" is not NAMESPACE\/NAME/],
    [['explain', 'default/web', 'default/db', ...BASE], /expected one argument/],
    [['explain', 'default/web', ...BASE, '--output', 'yaml'], /--output/],
    [['explain', 'default/web', ...BASE, '--master', 'http://127.0.0.1:1'], /--objects and --master are alternatives/],
    [['explain', 'default/web', '--objects', join(dir, 'missing.yaml')], /--objects .*missing\.yaml: cannot read the file/],
    [['explain', 'default/web', ...BASE, '--no-such-flag'], /no-such-flag/],
    [['explain', 'default/web', ...BASE, '--node-addresses', 'not-an-ip'], /--node-addresses/],
  ];
  for (const [args, message] of cases) {
    const r = await run(args);
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, args.join(' '));
    assert.equal(r.stdout, '');
  }
});

test('parseServiceArg accepts NAMESPACE/NAME only', () => {
  assert.deepEqual(parseServiceArg(['kube-system/kube-dns']), { namespace: 'kube-system', name: 'kube-dns' });
  for (const bad of [[], ['/x'], ['x/'], ['X/y'], ['a b/c']]) assert.throws(() => parseServiceArg(bad), /explain/);
});

test('explain against an API server (--master): one list, no watch; same answer as from files', async () => {
  const fromFiles = JSON.parse((await run(['explain', 'default/web', ...BASE, '--output', 'json'])).stdout) as Explanation;
  const before = server.requestLog.length;
  const r = await run(['explain', 'default/web', '--master', server.url, '--hostname-override', 'node-a', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const x = JSON.parse(r.stdout) as Explanation;
  assert.deepEqual(x, fromFiles);
  const requests = server.requestLog.slice(before);
  assert.ok(requests.every((q) => q.method === 'GET' && q.query.watch === undefined && !q.path.includes('/watch/')), JSON.stringify(requests));
  assert.ok(requests.some((q) => q.path === '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices' && q.query.labelSelector === 'kubernetes.io/service-name=web'));
  assert.ok(requests.some((q) => q.path === '/api/v1/nodes/node-a'));

  const kubeconfig = server.writeKubeconfig(join(dir, 'kubeconfig'));
  const text = await run(['explain', 'default/web', '--kubeconfig', kubeconfig, '--hostname-override', 'node-a']);
  assert.equal(text.code, 0, text.stderr);
  assert.ok(text.stdout.includes('-a -t 192.168.1.10:30080 -r 10.244.1.5:8080 -m -w 1'));
});

test('explain against an API server: unknown Service exit 1; unknown node is a note; unreachable server exit 1', async () => {
  const missing = await run(['explain', 'default/nope', '--master', server.url, '--hostname-override', 'node-a']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no Service default\/nope/);

  const noNode = await run(['explain', 'default/web', '--master', server.url, '--hostname-override', 'node-z', '--node-addresses', '192.168.1.99', '--output', 'json']);
  assert.equal(noNode.code, 0, noNode.stderr);
  assert.match(noNode.stderr, /note: no Node named "node-z" on the API server/);
  const x = JSON.parse(noNode.stdout) as Explanation;
  assert.equal(x.node.nodeObject, false);
  assert.ok(x.virtualServers.some((v) => v.address === '192.168.1.99' && v.port === 30080));

  // A port nothing listens on, on loopback (the server above is on another port).
  const probe = new EmbeddedApiServer();
  await probe.start(0);
  const closed = probe.url;
  await probe.stop();
  const down = await run(['explain', 'default/web', '--master', closed, '--hostname-override', 'node-a']);
  assert.equal(down.code, 1);
  assert.match(down.stderr, /kube-ipvs explain: cannot read the objects from the API server: /);
  assert.equal(down.stdout, '');
});
