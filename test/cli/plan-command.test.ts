// The CLI as operators run it: bin/kube-ipvs in a child process (needs `tsc` output in dist/, which the test
// runner builds first).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { rmSync } from 'node:fs';
import { FLAGS } from '../../src/cli/flag-table.js';

const BIN = fileURLToPath(new URL('../../../bin/kube-ipvs', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'kube-ipvs-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

function run(args: string[], nodeArgs: string[] = []): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [...nodeArgs, BIN, ...args], { encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '' } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const OBJECTS = file(
  'objects.yaml',
  `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: ClusterIP
  clusterIP: 10.96.0.10
  clusterIPs: [10.96.0.10]
  ipFamilies: [IPv4]
  ports: [{name: http, port: 80, protocol: TCP, targetPort: 8080}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-abc, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints:
- addresses: [10.244.1.5]
  conditions: {ready: true, serving: true, terminating: false}
  nodeName: node-a
ports: [{name: http, port: 8080, protocol: TCP}]
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
spec: {podCIDR: 10.244.1.0/24}
status: {addresses: [{type: InternalIP, address: 192.168.1.10}]}
`,
);

const PLAN = ['plan', '--objects', OBJECTS, '--hostname-override', 'Node-A', '--node-addresses', '192.168.1.10'];

test('plan --output json prints exactly the plan document', () => {
  const r = run([...PLAN, '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(doc), ['ipvs', 'addresses', 'ipsets', 'iptables', 'diagnostics']);
  assert.equal(r.stdout, `${JSON.stringify(doc, null, 2)}\n`, 'one object, 2-space indent, trailing newline');
  const ipvs = doc.ipvs as { protocol: string; address: string; port: number; scheduler: string; realServers: { address: string; port: number; weight: number }[] }[];
  const web = ipvs.find((v) => v.address === '10.96.0.10' && v.port === 80);
  assert.ok(web, 'the ClusterIP virtual server');
  assert.equal(web.protocol, 'TCP');
  assert.equal(web.scheduler, 'rr');
  assert.deepEqual(web.realServers.map((rs) => [rs.address, rs.port, rs.weight]), [['10.244.1.5', 8080, 1]]);
  assert.ok((doc.addresses as Record<string, string[]>)['kube-ipvs0']!.includes('10.96.0.10'));
  assert.equal(r.stderr, '', 'the Node named by --hostname-override (lower-cased) was found; no notes');
});

test('plan --output text prints ipvsadm, ipset and iptables-save sections', () => {
  const r = run([...PLAN, '--ipvs-scheduler=wrr']);
  assert.equal(r.code, 0, r.stderr);
  const lines = r.stdout.split('\n');
  for (const header of ['# IPVS:', '# ipsets:', '# iptables, IPv4', '# iptables, IPv6', '# kube-ipvs0:', '# diagnostics:']) {
    assert.ok(lines.some((l) => l.startsWith(header)), `section ${header}`);
  }
  assert.ok(lines.includes('-A -t 10.96.0.10:80 -s wrr'), r.stdout);
  assert.ok(lines.includes('-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1'), r.stdout);
  assert.ok(lines.includes('inet 10.96.0.10/32'));
  assert.ok(lines.some((l) => /^create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536$/.test(l)));
  assert.ok(lines.includes('add KUBE-CLUSTER-IP 10.96.0.10,tcp:80'));
  assert.ok(lines.includes('*nat') && lines.includes('*filter') && lines.includes('COMMIT'));
});

test('plan notes ignored kinds and a missing Node on stderr, and still plans', () => {
  const extra = file('extra.yaml', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: x}\n');
  const r = run(['plan', '--objects', OBJECTS, '--objects', extra, '--hostname-override', 'node-z', '--output=json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /note: .*extra\.yaml: ignored 1 ConfigMap objects: x\/cm/);
  assert.match(r.stderr, /note: no Node named "node-z" among the objects/);
  JSON.parse(r.stdout);
});

test('plan exits 2 with the reason when input is missing, unreadable or invalid', () => {
  const missing = run(['plan', '--hostname-override', 'n']);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /--objects FILE is required/);

  const gone = run(['plan', '--objects', join(dir, 'nope.yaml')]);
  assert.equal(gone.code, 2);
  assert.match(gone.stderr, /nope\.yaml: cannot read the file: ENOENT/);

  const bad = file('bad.yaml', 'apiVersion: v1\nkind: Service\nmetadata: {name: [x\n');
  const invalid = run(['plan', '--objects', bad]);
  assert.equal(invalid.code, 2);
  assert.match(invalid.stderr, /bad\.yaml:\d+: invalid YAML/);
  assert.equal(invalid.stdout, '');

  const flag = run([...PLAN, '--ipvs-sync-period=30x']);
  assert.equal(flag.code, 2);
  assert.match(flag.stderr, /^kube-ipvs: invalid value "30x" for flag --ipvs-sync-period: must be a duration such as 30s, 1m, 2h22m$/m);
  assert.match(flag.stderr, /Run 'kube-ipvs --help' for usage\./);

  const cfg = file('kp.yaml', 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: nftables\n');
  const mode = run([...PLAN, '--config', cfg]);
  assert.equal(mode.code, 2);
  assert.match(mode.stderr, /kp\.yaml:3: KubeProxyConfiguration\.mode: invalid value "nftables": kube-ipvs implements only the ipvs proxy mode/);

  const output = run([...PLAN, '--output', 'yaml']);
  assert.equal(output.code, 2);
  assert.match(output.stderr, /invalid value "yaml" for flag --output: must be one of "json", "text"/);

  const positional = run([...PLAN, 'extra']);
  assert.equal(positional.code, 2);
  assert.match(positional.stderr, /"kube-ipvs plan" does not take any arguments, got \["extra"\]/);
});

test('plan uses a config file and reports its warnings', () => {
  const cfg = file('kp-ok.yaml', 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\nmode: ipvs\nipvs:\n  scheduler: lc\n  unknownThing: 1\n');
  const r = run([...PLAN, '--config', cfg, '--ipvs-scheduler=sh', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: .*kp-ok\.yaml:6: KubeProxyConfiguration: unknown field "ipvs\.unknownThing"/);
  assert.match(r.stderr, /warning: flag --ipvs-scheduler is ignored because --config is set/);
  const doc = JSON.parse(r.stdout) as { ipvs: { scheduler: string }[] };
  assert.ok(doc.ipvs.length > 0);
  assert.ok(doc.ipvs.every((v) => v.scheduler === 'lc'), 'the file\'s scheduler');
});

test('plan does not load @kubernetes/client-node', () => {
  const hook = file(
    'no-client-node.mjs',
    `import { register } from 'node:module';
register('data:text/javascript,' + encodeURIComponent('export async function resolve(s, c, next) { if (s.includes("@kubernetes/client-node")) throw new Error("plan loaded @kubernetes/client-node"); return next(s, c); }'));
`,
  );
  const r = run([...PLAN, '--output', 'json'], ['--import', hook]);
  assert.equal(r.code, 0, r.stderr);
});

test('commands: run (the default) validates its flags before starting anything, version, help, unknown', () => {
  for (const args of [['--ipvs-sync-period=1x'], ['run', '--ipvs-sync-period=1x']]) {
    const runCmd = run(args);
    assert.equal(runCmd.code, 2, args.join(' '));
    assert.match(runCmd.stderr, /invalid value "1x" for flag --ipvs-sync-period/);
  }

  for (const args of [['--version'], ['version']]) {
    const v = run(args);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /^kube-ipvs v\d+\.\d+\.\d+/);
  }
  assert.equal(JSON.parse(run(['--version=raw']).stdout).compiler, 'tsc');

  const unknown = run(['frobnicate']);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "frobnicate" for "kube-ipvs"/);

  for (const args of [['--help'], ['-h'], ['help'], ['plan', '--help']]) {
    const h = run(args);
    assert.equal(h.code, 0, args.join(' '));
    for (const f of FLAGS) assert.ok(h.stdout.includes(`--${f.name}`), `--help lists --${f.name}`);
    assert.match(h.stdout, /--ipvs-sync-period duration\s+An interval[\s\S]*?\(default 30s\)/);
    assert.match(h.stdout, /--ipvs-graceful-termination-period duration[\s\S]*?\(default 30s\)/);
  }
});

test('without --node-addresses, the Node object\'s InternalIP/ExternalIP addresses are the node addresses', async () => {
  const { addressesOfNode } = await import('../../src/cli/plan.js');
  assert.deepEqual(
    addressesOfNode({ status: { addresses: [{ type: 'Hostname', address: 'node-a' }, { type: 'InternalIP', address: '192.168.1.10' }, { type: 'ExternalIP', address: '2001:DB8::1' }, { type: 'InternalIP', address: '192.168.1.10' }] } }),
    ['192.168.1.10', '2001:db8::1'],
  );
  assert.deepEqual(addressesOfNode(undefined), []);
  const svc = file(
    'nodeport.yaml',
    `apiVersion: v1
kind: Service
metadata: {name: np, namespace: default}
spec:
  type: NodePort
  clusterIP: 10.96.0.20
  clusterIPs: [10.96.0.20]
  ipFamilies: [IPv4]
  ports: [{name: http, port: 80, nodePort: 30080, protocol: TCP, targetPort: 8080}]
`,
  );
  const r = run(['plan', '--objects', OBJECTS, '--objects', svc, '--hostname-override', 'node-a', '--output', 'json']);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout) as { ipvs: { address: string; port: number }[] };
  assert.ok(doc.ipvs.some((v) => v.address === '192.168.1.10' && v.port === 30080), 'a NodePort virtual server on the Node\'s InternalIP');
});
