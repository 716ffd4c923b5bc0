// The sandbox demo's decisions (src/sandbox/demo-plan.ts): pods from EndpointSlices, targets from the desired
// state, what answers prove, what to scale. The embedded example objects are the main input.

import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { resolveConfig } from '../../src/cli/resolve.js';
import { computeDesiredState } from '../../src/desired/index.js';
import { loadObjectFiles } from '../../src/k8s/objects.js';
import type { ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import {
  chooseNodeName, judgeTarget, nextFreeAddress, nextPodName, planHealthChecks, planPods, planScale, planTargets, requestCount,
  sandboxNodeObject, SANDBOX_NETWORK, sliceWith, sliceWithout, sliceWithTerminating, type DemoObjects, type DemoTarget,
} from '../../src/sandbox/demo-plan.js';
import { packageRoot } from '../../src/sandbox/uml.js';

function demoObjects(): DemoObjects {
  const o = loadObjectFiles([join(packageRoot(), 'src', 'sandbox', 'demo-objects.yaml')]);
  assert.deepEqual(o.notes, []);
  return { services: o.services, endpointSlices: o.endpointSlices, nodes: o.nodes };
}

function desiredFor(objects: DemoObjects, nodeName: string) {
  const config = resolveConfig(['run', '--hostname-override', nodeName]).config;
  return computeDesiredState({
    services: objects.services,
    endpointSlices: objects.endpointSlices,
    node: { nodeName, node: objects.nodes.find((n) => n.metadata?.name === nodeName), nodeAddresses: [SANDBOX_NETWORK.nodeIP, SANDBOX_NETWORK.podGateway4] },
    config,
  });
}

function slice(name: string, service: string, endpoints: Record<string, unknown>[], ports: Record<string, unknown>[] = [{ name: 'http', port: 8080, protocol: 'TCP' }], addressType = 'IPv4'): ApiEndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType,
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    endpoints, ports,
  } as ApiEndpointSlice;
}

describe('sandbox plan: the node', () => {
  it('runs as the only Node of the objects, else the node most endpoints name, else sandbox-node', () => {
    assert.equal(chooseNodeName(demoObjects()), 'node-1');
    assert.equal(chooseNodeName(demoObjects(), 'other'), 'other', 'asked for');
    const slices = [slice('a', 'a', [{ addresses: ['10.0.0.1'], nodeName: 'w2' }, { addresses: ['10.0.0.2'], nodeName: 'w1' }, { addresses: ['10.0.0.3'], nodeName: 'w2' }])];
    assert.equal(chooseNodeName({ services: [], endpointSlices: slices, nodes: [] }), 'w2');
    assert.equal(chooseNodeName({ services: [], endpointSlices: [slice('a', 'a', [{ addresses: ['10.0.0.1'] }])], nodes: [] }), 'sandbox-node');
    const tie = [slice('a', 'a', [{ addresses: ['10.0.0.1'], nodeName: 'zeta' }, { addresses: ['10.0.0.2'], nodeName: 'alpha' }])];
    assert.equal(chooseNodeName({ services: [], endpointSlices: tie, nodes: [] }), 'alpha', 'a tie goes to the first name');
  });

  it('makes a Node with the sandbox node address when the objects have none', () => {
    const n = sandboxNodeObject('w1');
    assert.equal(n.metadata?.name, 'w1');
    assert.deepEqual(n.status?.addresses?.[0], { type: 'InternalIP', address: '192.168.50.1' });
  });
});

describe('sandbox plan: pods', () => {
  it('one pod per endpoint of the example objects; Services sharing pods share them', () => {
    const { pods, notes } = planPods(demoObjects());
    assert.deepEqual(notes, []);
    assert.deepEqual(pods.map((p) => [p.name, p.ipv4, p.tcp, p.udp, p.nodeName]), [
      ['api-1', '10.244.0.7', [8080], [], 'node-1'],
      ['api-2', '10.244.0.8', [8080], [], 'node-2'],
      ['shop-1', '10.244.0.5', [8080], [], 'node-1'],
      ['shop-2', '10.244.0.6', [8080], [], 'node-1'],
      ['web-1', '10.244.0.2', [8080], [], 'node-1'],
      ['web-2', '10.244.0.3', [8080], [], 'node-1'],
      ['web-3', '10.244.0.4', [8080], [], 'node-1'],
    ]);
  });

  it('names pods without a targetRef after their Service, unions ports, groups families by targetRef, notes what it skips', () => {
    const ref = { kind: 'Pod', namespace: 'default', name: 'db-0' };
    const { pods, notes } = planPods({
      services: [], nodes: [],
      endpointSlices: [
        slice('dns-a', 'dns', [{ addresses: ['10.9.0.1'] }, { addresses: ['10.9.0.2'] }], [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }, { port: 9, protocol: 'SCTP' }]),
        slice('dns-b', 'dns', [{ addresses: ['10.9.0.1'] }], [{ port: 5353, protocol: 'UDP' }]),
        slice('db-v4', 'db', [{ addresses: ['10.9.0.9'], targetRef: ref }]),
        slice('db-v6', 'db', [{ addresses: ['FD00::9'], targetRef: ref }], [{ port: 8080, protocol: 'TCP' }], 'IPv6'),
        slice('fqdn', 'ext', [{ addresses: ['example.com'] }], [], 'FQDN'),
        slice('clash', 'bad', [{ addresses: ['192.168.50.1'] }]),
      ],
    });
    assert.deepEqual(pods.map((p) => [p.name, p.ipv4, p.ipv6, p.tcp, p.udp]), [
      ['db-0', '10.9.0.9', 'fd00::9', [8080], []],
      ['dns-1', '10.9.0.1', undefined, [53], [53, 5353]],
      ['dns-2', '10.9.0.2', undefined, [53], [53]],
    ]);
    assert.equal(notes.length, 3, notes.join('\n'));
    assert.match(notes.join('\n'), /addressType FQDN/);
    assert.match(notes.join('\n'), /192\.168\.50\.1 is the sandbox node's address/);
    assert.match(notes.join('\n'), /SCTP is not served .*port 9\/SCTP/);
  });
});

describe('sandbox plan: targets', () => {
  const objects = demoObjects();
  const desired = desiredFor(objects, 'node-1');
  const { pods } = planPods(objects);
  const plan = planTargets(desired, objects.services, pods, 'node-1', objects.endpointSlices);
  const byWhere = new Map(plan.targets.map((t) => [`${t.kind} ${t.address}:${t.port}`, t] as const));

  it('one target per virtual server a user reaches: ClusterIPs from the node, the rest from the client', () => {
    assert.deepEqual(plan.targets.map((t) => `${t.kind} ${t.address}:${t.port} ${t.from}`).sort(), [
      'ClusterIP 10.96.0.10:80 node',
      'ClusterIP 10.96.0.11:80 node',
      'ClusterIP 10.96.0.20:80 node',
      'ClusterIP 10.96.0.30:80 node',
      'LoadBalancer 203.0.113.10:80 client',
      'NodePort 192.168.50.1:30080 client',
      'NodePort 192.168.50.1:30090 client',
    ]);
    assert.deepEqual(plan.skipped, []);
    // The node ports on the pod bridge's address exist in the kernel but are not requested twice.
    assert.ok(desired.ipvs.some((vs) => vs.address === '10.244.0.1' && vs.port === 30080));
  });

  it('knows the pods behind each virtual server, affinity and local-only policy', () => {
    assert.deepEqual(byWhere.get('ClusterIP 10.96.0.10:80')!.pods, ['web-1', 'web-2', 'web-3']);
    assert.equal(byWhere.get('ClusterIP 10.96.0.11:80')!.sticky, true);
    assert.equal(byWhere.get('ClusterIP 10.96.0.10:80')!.sticky, false);
    assert.deepEqual(byWhere.get('LoadBalancer 203.0.113.10:80')!.pods, ['api-1'], 'externalTrafficPolicy Local: the local pod only');
    assert.equal(byWhere.get('LoadBalancer 203.0.113.10:80')!.localOnly, true);
    assert.deepEqual(byWhere.get('ClusterIP 10.96.0.30:80')!.pods, ['api-1', 'api-2']);
    assert.equal(byWhere.get('ClusterIP 10.96.0.30:80')!.localOnly, false);
    assert.equal(byWhere.get('ClusterIP 10.96.0.10:80')!.requests, 9);
    assert.equal(byWhere.get('ClusterIP 10.96.0.11:80')!.requests, 6);
    assert.equal(byWhere.get('LoadBalancer 203.0.113.10:80')!.requests, 4);
  });

  it('skips virtual servers without endpoints', () => {
    const svc: ApiService = { kind: 'Service', metadata: { name: 'empty', namespace: 'default' }, spec: { clusterIP: '10.96.5.5', ports: [{ name: 'http', port: 80 }] } };
    const withEmpty = { ...objects, services: [...objects.services, svc] };
    const p = planTargets(desiredFor(withEmpty, 'node-1'), withEmpty.services, pods, 'node-1', withEmpty.endpointSlices);
    assert.deepEqual(p.skipped, ['TCP 10.96.5.5:80 (default/empty:http ClusterIP): no endpoints, not requested']);
  });

  it('request counts: three rounds of round robin, six for affinity', () => {
    assert.equal(requestCount(false, 1), 4);
    assert.equal(requestCount(false, 3), 9);
    assert.equal(requestCount(true, 3), 6);
  });

  it('health check node ports: LoadBalancer + Local only, 200 with local ready endpoints, else 503', () => {
    assert.deepEqual(planHealthChecks(objects.services, objects.endpointSlices, 'node-1'), [
      { service: 'default/api', port: 32000, localEndpoints: 1, expectedStatus: 200 },
    ]);
    assert.deepEqual(planHealthChecks(objects.services, objects.endpointSlices, 'node-3'), [
      { service: 'default/api', port: 32000, localEndpoints: 0, expectedStatus: 503 },
    ]);
  });
});

describe('sandbox plan: judging answers', () => {
  const target = (over: Partial<DemoTarget> = {}): DemoTarget => ({
    service: 'default/web:http', kind: 'ClusterIP', protocol: 'TCP', address: '10.96.0.10', port: 80, from: 'node', scheduler: 'rr',
    sticky: false, localOnly: false, pods: ['a', 'b'], unknownRealServers: [], requests: 4, ...over,
  });

  it('round robin over every pod with no failure passes, and counts every pod', () => {
    const r = judgeTarget(target(), [{ pod: 'a', client: '10.0.0.1' }, { pod: 'b', client: '10.0.0.1' }, { pod: 'a' }, { pod: 'b' }]);
    assert.deepEqual(r.problems, []);
    assert.deepEqual(Object.fromEntries(r.counts), { a: 2, b: 2 });
    assert.deepEqual(r.clients, ['10.0.0.1']);
  });

  it('a failed request, a pod not behind the virtual server, a pod round robin never reached are problems', () => {
    const r = judgeTarget(target(), [{ pod: 'a' }, { pod: 'c' }, { error: 'http 10.96.0.10:80: connect ECONNREFUSED' }, { pod: 'a' }]);
    assert.equal(r.failed, 1);
    assert.equal(r.problems.length, 2, r.problems.join('\n'));
    assert.match(r.problems[0]!, /1 of 4 requests failed: http 10\.96\.0\.10:80: connect ECONNREFUSED/);
    assert.match(r.problems[1]!, /answered by c, which is not behind this virtual server/);
    const silent = judgeTarget(target(), [{ pod: 'a' }, { pod: 'a' }, { pod: 'a' }, { pod: 'a' }]);
    assert.match(silent.problems.join(), /round robin never reached b in 4 requests/);
    assert.deepEqual(judgeTarget(target({ scheduler: 'sh' }), [{ pod: 'a' }, { pod: 'a' }]).problems, [], 'other schedulers need not spread');
  });

  it('session affinity must keep one client on one pod', () => {
    assert.deepEqual(judgeTarget(target({ sticky: true }), [{ pod: 'b' }, { pod: 'b' }, { pod: 'b' }]).problems, []);
    assert.match(judgeTarget(target({ sticky: true }), [{ pod: 'a' }, { pod: 'b' }]).problems.join(), /session affinity broken: a, b/);
  });
});

describe('sandbox plan: scaling', () => {
  const objects = demoObjects();
  const { pods } = planPods(objects);
  const targets = planTargets(desiredFor(objects, 'node-1'), objects.services, pods, 'node-1', objects.endpointSlices).targets;

  it('scales the round-robin ClusterIP Service with the most pods: the last pod goes, a new one comes', () => {
    const plan = planScale(targets, objects.services, objects.endpointSlices, pods, 'node-1')!;
    assert.equal(plan.service, 'default/web:http');
    assert.deepEqual(plan.slice, { namespace: 'default', name: 'web-7x2kq' });
    assert.deepEqual(plan.remove, { pod: 'web-3', address: '10.244.0.4' });
    assert.deepEqual(plan.add, { pod: 'web-4', address: '10.244.0.9', nodeName: 'node-1', tcp: [8080], udp: [] });
  });

  it('never scales an affinity Service, and says so when nothing qualifies', () => {
    const onlySticky = targets.filter((t) => t.sticky);
    assert.equal(planScale(onlySticky, objects.services, objects.endpointSlices, pods, 'node-1'), undefined);
  });

  it('edits the EndpointSlice as Kubernetes does: terminating, then gone; a new pod is added ready', () => {
    const web = objects.endpointSlices.find((s) => s.metadata?.name === 'web-7x2kq')!;
    const before = JSON.stringify(web);
    const terminating = sliceWithTerminating(web, '10.244.0.4');
    assert.deepEqual(terminating.endpoints![2]!.conditions, { ready: false, serving: true, terminating: true });
    assert.deepEqual(terminating.endpoints![0]!.conditions, { ready: true, serving: true, terminating: false });
    assert.deepEqual(sliceWithout(web, '10.244.0.4').endpoints!.map((e) => e.addresses![0]), ['10.244.0.2', '10.244.0.3']);
    const added = sliceWith(web, { pod: 'web-4', address: '10.244.0.9', nodeName: 'node-1' });
    assert.deepEqual(added.endpoints![3], {
      addresses: ['10.244.0.9'], conditions: { ready: true, serving: true, terminating: false }, nodeName: 'node-1',
      targetRef: { kind: 'Pod', namespace: 'default', name: 'web-4' },
    });
    assert.equal(JSON.stringify(web), before, 'the original is not changed');
  });

  it('new pod names and addresses', () => {
    assert.equal(nextPodName(['web-1', 'web-3'], 'web-3'), 'web-4');
    assert.equal(nextPodName(['db'], 'db'), 'db-1');
    assert.equal(nextPodName(['echo-b'], 'echo-b'), 'echo-b-1');
    assert.equal(nextFreeAddress('10.244.0.0/24', new Set(['10.244.0.2', '10.244.0.3'])), '10.244.0.4');
    assert.equal(nextFreeAddress('10.1.2.3/24', new Set()), '10.1.2.2');
    assert.equal(nextFreeAddress('fd00::/64', new Set(['fd00::2'])), 'fd00::3');
    assert.equal(nextFreeAddress('10.0.0.0/30', new Set(['10.0.0.2'])), undefined, 'a full network');
  });
});
