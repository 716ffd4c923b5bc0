// The sandbox demo's in-guest orchestration (src/sandbox/demo-run.ts) in the real kernel, without a nested
// guest: the test's namespace is the node. It runs twice: with the embedded example objects, and with an
// --objects file of its own (allocated ClusterIP, a UDP port, an endpoint outside the pod network, no Node).
// The assertions check what the demo measured against what kube-proxy's IPVS mode does.

import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDemo, type DemoResult } from '../../../src/sandbox/demo-run.js';
import type { TargetResult } from '../../../src/sandbox/demo-plan.js';
import { inAnyCIDR, parseCIDR } from '../../../src/model/ip.js';
import { netnsPrefix, resetNetns, ipvsadmServices } from '../lib/index.js';

function collect(): { lines: string[]; reporter: { step(t: string): void; block(l: readonly string[]): void } } {
  const lines: string[] = [];
  return {
    lines,
    reporter: {
      step: (t) => {
        lines.push(t);
        process.stdout.write(`${t}\n`);
      },
      block: (l) => {
        lines.push(...l);
        process.stdout.write(`${l.join('\n')}\n`);
      },
    },
  };
}

const counts = (r: TargetResult) => Object.fromEntries(r.counts);
const find = (result: DemoResult, kind: string, address: string) => {
  const t = result.targets.find((x) => x.target.kind === kind && x.target.address === address);
  assert.ok(t, `${kind} ${address} was requested: ${result.targets.map((x) => `${x.target.kind} ${x.target.address}`).join(', ')}`);
  return t;
};

describe('sandbox demo with the example objects, in the real kernel', () => {
  let result: DemoResult;
  let lines: string[];

  before(async () => {
    await resetNetns();
    const c = collect();
    lines = c.lines;
    result = await runDemo({ workDir: mkdtempSync(join(tmpdir(), 'kipvs-demo-')), reporter: c.reporter, netnsPrefix: netnsPrefix() });
  });
  after(resetNetns);

  it('every step behaved (no problems reported)', () => {
    assert.deepEqual(result.problems, []);
    assert.equal(result.ok, true);
    assert.equal(result.nodeName, 'node-1');
  });

  it('the first sync programmed what the objects ask for, and the table shows it', () => {
    assert.ok(result.timings.firstSyncMs! > 0);
    assert.match(result.ipvsTable[0]!, /^# IPVS: 9 virtual servers, 17 real servers/);
    for (const vs of ['10.96.0.10:80', '10.96.0.11:80', '10.96.0.20:80', '10.96.0.30:80', '192.168.50.1:30080', '192.168.50.1:30090', '203.0.113.10:80']) {
      assert.ok(result.ipvsTable.some((l) => l.startsWith(`TCP  ${vs} `)), `table row for ${vs}`);
    }
  });

  it('every service answered, every request of every virtual server', () => {
    const services = new Set(result.targets.map((t) => t.target.service));
    assert.deepEqual([...services].sort(), ['default/api:http', 'default/shop:http', 'default/web-sticky:http', 'default/web:http']);
    assert.equal(result.targets.length, 7);
    for (const t of result.targets) {
      assert.equal(t.failed, 0, `${t.target.kind} ${t.target.address}`);
      assert.equal([...t.counts.values()].reduce((a, b) => a + b, 0), t.target.requests, `${t.target.kind} ${t.target.address} answers`);
    }
  });

  it('round robin spreads the requests evenly over the pods', () => {
    assert.deepEqual(counts(find(result, 'ClusterIP', '10.96.0.10')), { 'web-1': 3, 'web-2': 3, 'web-3': 3 });
    assert.deepEqual(counts(find(result, 'ClusterIP', '10.96.0.20')), { 'shop-1': 3, 'shop-2': 3 });
    assert.deepEqual(counts(find(result, 'NodePort', '192.168.50.1')), { 'shop-1': 3, 'shop-2': 3 });
    // The ETP Local service's ClusterIP uses every endpoint, the remote one too.
    assert.deepEqual(counts(find(result, 'ClusterIP', '10.96.0.30')), { 'api-1': 3, 'api-2': 3 });
  });

  it('session affinity (ClientIP) sends one client to one pod', () => {
    const sticky = find(result, 'ClusterIP', '10.96.0.11');
    const answered = [...sticky.counts].filter(([, n]) => n > 0);
    assert.equal(answered.length, 1, JSON.stringify(counts(sticky)));
    assert.equal(answered[0]![1], 6);
  });

  it('externalTrafficPolicy Local: only the local pod answers at the load-balancer IP and the node port, and sees the client', () => {
    const lb = find(result, 'LoadBalancer', '203.0.113.10');
    assert.deepEqual(counts(lb), { 'api-1': 4 });
    assert.deepEqual(lb.clients, ['192.168.50.2'], 'client address kept');
    const np = result.targets.find((t) => t.target.kind === 'NodePort' && t.target.port === 30090)!;
    assert.deepEqual(counts(np), { 'api-1': 4 });
    // externalTrafficPolicy Cluster: masqueraded to the node.
    assert.notDeepEqual(find(result, 'NodePort', '192.168.50.1').clients, ['192.168.50.2']);
  });

  it('the health check node port answers 200 with the local endpoint count', () => {
    assert.equal(result.health.length, 1);
    assert.equal(result.health[0]!.status, 200);
    assert.equal(result.health[0]!.localEndpoints, 1);
    assert.equal(result.health[0]!.check.port, 32000);
  });

  it('scale-down and scale-up under a request loop: zero failures, the removed pod left, the new pod answered', () => {
    const s = result.scale!;
    assert.ok(s, 'a service was scaled');
    assert.equal(s.plan.service, 'default/web:http');
    assert.equal(s.plan.remove.pod, 'web-3');
    assert.equal(s.plan.add.pod, 'web-4');
    assert.equal(s.failed, 0);
    assert.equal(s.removedAnsweredAfter, 0);
    assert.ok(s.addedAnswered > 0);
    const last = s.phases[s.phases.length - 1]!;
    assert.deepEqual([...last.pods.keys()].sort(), ['web-1', 'web-2', 'web-4'], 'after the scale-up the three current pods share the load');
    const total = s.phases.reduce((n, p) => n + p.sent, 0);
    assert.ok(total >= 5 * 8, `${total} requests in the loop`);
    // The tables come from the kernel: web-3 drains at weight 0 after the scale-down, web-4 is there after the scale-up.
    assert.ok(s.tables.afterDown.some((l) => /-> 10\.244\.0\.4:8080\s+Masq\s+0 /.test(l)), s.tables.afterDown.join('\n'));
    assert.ok(s.tables.afterUp.some((l) => /-> 10\.244\.0\.9:8080\s+Masq\s+1 /.test(l)), s.tables.afterUp.join('\n'));
  });

  it('cleanup left nothing running', async () => {
    assert.equal(result.cleanup.kubeIpvsExit, 0);
    assert.deepEqual(result.cleanup.leftovers, []);
    assert.deepEqual(result.cleanup.namespacesLeft, []);
    // kube-ipvs leaves the kernel as it is on SIGTERM (as kube-proxy does): the table is still there.
    assert.ok((await ipvsadmServices()).some((s) => s.key === 'TCP/10.96.0.10:80'));
  });

  it('reported its progress step by step', () => {
    for (const want of [/^node node-1: eth0 192\.168\.50\.1\/24/, /^api server: http:\/\/127\.0\.0\.1:\d+ with 1 Node, 4 Services, 4 EndpointSlices/,
      /^kube-ipvs run: started/, /^pod web-1: 10\.244\.0\.2, http 8080$/, /^kube-ipvs: first sync done/, /^clean exit: kube-ipvs stopped on SIGTERM/]) {
      assert.ok(lines.some((l) => want.test(l)), `a line matching ${want}`);
    }
  });
});

describe('sandbox demo with an --objects file, in the real kernel', () => {
  let result: DemoResult;
  const dir = mkdtempSync(join(tmpdir(), 'kipvs-demo-objects-'));
  const file = join(dir, 'objects.yaml');

  before(async () => {
    await resetNetns();
    writeFileSync(file, `
apiVersion: v1
kind: Service
metadata: { name: echo, namespace: apps }
spec:
  ports:
    - { name: http, port: 80, targetPort: 8080 }
    - { name: dns, port: 53, protocol: UDP, targetPort: 5353 }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-1, namespace: apps, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports:
  - { name: http, port: 8080, protocol: TCP }
  - { name: dns, port: 5353, protocol: UDP }
endpoints:
  - { addresses: [10.1.2.3], nodeName: worker-1, conditions: { ready: true } }
  - { addresses: [10.244.0.50], nodeName: worker-1, targetRef: { kind: Pod, namespace: apps, name: echo-b } }
`);
    const c = collect();
    result = await runDemo({ objectFiles: [file], workDir: dir, reporter: c.reporter, netnsPrefix: netnsPrefix() });
  });
  after(resetNetns);

  it('behaves: pods for both endpoints (one outside the pod network), TCP and UDP answered by both', () => {
    assert.deepEqual(result.problems, []);
    assert.equal(result.nodeName, 'worker-1', 'the node the endpoints name');
    assert.deepEqual(result.pods.map((p) => [p.name, p.ipv4, p.tcp, p.udp]), [
      ['echo-1', '10.1.2.3', [8080], [5353]],
      ['echo-b', '10.244.0.50', [8080], [5353]],
    ]);
    const kinds = result.targets.map((t) => `${t.target.kind} ${t.target.protocol}`).sort();
    assert.deepEqual(kinds, ['ClusterIP TCP', 'ClusterIP UDP']);
    for (const t of result.targets) {
      assert.ok(inAnyCIDR(t.target.address, [parseCIDR('10.96.0.0/12')]), `${t.target.address}: a ClusterIP allocated by the API server`);
      assert.deepEqual(counts(t), { 'echo-1': 3, 'echo-b': 3 }, `${t.target.protocol}`);
    }
  });

  it('scaled the service through the API server without a failed request', () => {
    const s = result.scale!;
    assert.equal(s.plan.service, 'apps/echo:http');
    assert.equal(s.failed, 0);
    assert.equal(s.removedAnsweredAfter, 0);
    assert.ok(s.addedAnswered > 0);
  });

  it('cleaned up', () => {
    assert.equal(result.cleanup.kubeIpvsExit, 0);
    assert.deepEqual(result.cleanup.leftovers, []);
    assert.deepEqual(result.cleanup.namespacesLeft, []);
    assert.ok(readFileSync(join(dir, 'kube-ipvs.log'), 'utf8').includes('"msg":"Synced"'), 'kube-ipvs log kept in the work folder');
  });
});
