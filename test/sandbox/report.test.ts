// How the sandbox demo reports (src/sandbox/demo-report.ts): console marks among kernel messages, tables, the
// IPVS rows cut from `kube-ipvs dump --output text`, health check verdicts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDumpText } from '../../src/cli/dump.js';
import type { ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import { emptyNodeState } from '../../src/model/state.js';
import { judgeTarget, type DemoTarget } from '../../src/sandbox/demo-plan.js';
import {
  blockLines, formatScaleTable, formatServicesTable, formatTargetTable, ipvsSection, judgeHealthCheck, parseConsoleLine, resultJson,
  stepLine, timestamped, virtualServerRows,
} from '../../src/sandbox/demo-report.js';

describe('sandbox report: the console protocol', () => {
  it('picks the demo lines out of the guest console, kernel messages and all', () => {
    assert.deepEqual(parseConsoleLine(stepLine('pod web-1: ready')), { kind: 'step', text: 'pod web-1: ready' });
    assert.deepEqual(parseConsoleLine(blockLines(['  TCP  10.96.0.10:80'])[0]!), { kind: 'block', text: '  TCP  10.96.0.10:80' });
    assert.equal(parseConsoleLine('IPVS: Creating netns size=2048 id=1'), undefined);
    assert.equal(parseConsoleLine('KIPVS: READY 3.62'), undefined);
    // A kernel message printed in the middle of our write ends up in front of the mark.
    assert.deepEqual(parseConsoleLine(`[   12.345] br0: port 1 entered forwarding state${stepLine('kube-ipvs: first sync done')}`), { kind: 'step', text: 'kube-ipvs: first sync done' });
  });

  it('timestamps steps from the start of the command', () => {
    assert.equal(timestamped(3456, 'kernel up'), '[  3.5s] kernel up');
    assert.equal(timestamped(41_250, 'done'), '[ 41.3s] done');
  });

  it('writes result.json with the per-pod counts as objects', () => {
    assert.deepEqual(JSON.parse(resultJson({ counts: new Map([['a', 2]]), ok: true })), { counts: { a: 2 }, ok: true });
  });
});

describe('sandbox report: tables', () => {
  const target: DemoTarget = {
    service: 'default/api:http', kind: 'LoadBalancer', protocol: 'TCP', address: '203.0.113.10', port: 80, from: 'client', scheduler: 'rr',
    sticky: false, localOnly: true, pods: ['api-1'], unknownRealServers: [], requests: 4,
  };

  it('one row per target: where, from, sent, failed, who answered how often, the client pods saw', () => {
    const rows = formatTargetTable([judgeTarget(target, [1, 2, 3, 4].map(() => ({ pod: 'api-1', client: '192.168.50.2' })))]);
    assert.equal(rows.length, 2);
    assert.match(rows[0]!, /^service\s+requested at\s+from\s+sent\s+failed\s+answered by \(pod ×count\)\s+pod saw client\s+note$/);
    assert.match(rows[1]!, /^default\/api:http\s+LoadBalancer http:\/\/203\.0\.113\.10:80\s+client\s+4\s+0\s+api-1 ×4\s+192\.168\.50\.2\s+local endpoints only$/);
  });

  it('scale phases: one column per pod, zeros where a pod did not answer', () => {
    const rows = formatScaleTable([
      { phase: '3 pods', sent: 9, failed: 0, pods: new Map([['web-1', 3], ['web-2', 3], ['web-3', 3]]) },
      { phase: '2 pods', sent: 4, failed: 1, pods: new Map([['web-1', 2], ['web-2', 1]]) },
    ], ['web-1', 'web-2', 'web-3', 'web-4']);
    assert.deepEqual(rows, [
      'phase   sent  failed  web-1  web-2  web-3  web-4',
      '3 pods     9       0      3      3      3      0',
      '2 pods     4       1      2      1      0      0',
    ]);
  });

  it('lists what the API server holds, one Service per row', () => {
    const services: ApiService[] = [{
      metadata: { name: 'api', namespace: 'default' },
      spec: { type: 'LoadBalancer', clusterIP: '10.96.0.30', clusterIPs: ['10.96.0.30'], externalTrafficPolicy: 'Local', healthCheckNodePort: 32000, ports: [{ port: 80, nodePort: 30090, protocol: 'TCP', targetPort: 8080 }] },
      status: { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } },
    }];
    const slices: ApiEndpointSlice[] = [{
      metadata: { name: 'api-1', namespace: 'default', labels: { 'kubernetes.io/service-name': 'api' } }, addressType: 'IPv4',
      endpoints: [{ addresses: ['10.244.0.7'], nodeName: 'node-1' }, { addresses: ['10.244.0.8'], nodeName: 'node-2' }, { addresses: ['10.244.0.9'], conditions: { ready: false } }],
    }];
    const rows = formatServicesTable(services, slices, 'node-1');
    assert.match(rows[1]!, /^default\/api\s+LoadBalancer\s+10\.96\.0\.30\s+80:30090\/TCP→8080\s+2 ready, 1 on node-1\s+ingress 203\.0\.113\.10, externalTrafficPolicy Local, healthCheckNodePort 32000$/);
  });
});

describe('sandbox report: the IPVS rows of kube-ipvs dump', () => {
  const state = emptyNodeState();
  state.ipvs = [
    { protocol: 'TCP', address: '10.96.0.10', port: 80, scheduler: 'rr', flags: 0, timeout: 0,
      realServers: [{ address: '10.244.0.2', port: 8080, weight: 1 }, { address: '10.244.0.4', port: 8080, weight: 0 }] },
    { protocol: 'TCP', address: '10.96.0.100', port: 80, scheduler: 'rr', flags: 0, timeout: 0, realServers: [{ address: '10.244.0.9', port: 8080, weight: 1 }] },
  ];
  const section = ipvsSection(formatDumpText(state));

  it('cuts the IPVS section out of the dump text', () => {
    assert.match(section[0]!, /^# IPVS: 2 virtual servers, 3 real servers/);
    assert.equal(section.length, 3 + 2 + 3);
    assert.ok(!section.some((l) => l.startsWith('# ipsets')));
  });

  it('picks one virtual server with its real servers (10.96.0.10:80 is not 10.96.0.100:80)', () => {
    const rows = virtualServerRows(section, 'TCP', '10.96.0.10:80');
    assert.equal(rows.length, 2 + 3);
    assert.match(rows[2]!, /^TCP  10\.96\.0\.10:80 /);
    assert.match(rows[4]!, /-> 10\.244\.0\.4:8080\s+Masq\s+0 /);
  });
});

describe('sandbox report: health check node ports', () => {
  const check = { service: 'default/api', port: 32000, localEndpoints: 1, expectedStatus: 200 };
  const body = (n: number) => JSON.stringify({ service: { namespace: 'default', name: 'api' }, localEndpoints: n, serviceProxyHealthy: true });

  it('200 with the local endpoint count is what kube-proxy answers', () => {
    const r = judgeHealthCheck(check, '192.168.50.1', { status: 200, body: body(1) });
    assert.deepEqual(r.problems, []);
    assert.equal(r.localEndpoints, 1);
  });

  it('a wrong status, a wrong count, no answer are problems', () => {
    assert.match(judgeHealthCheck(check, '192.168.50.1', { status: 503, body: body(1) }).problems.join(), /answered 503, expected 200/);
    assert.match(judgeHealthCheck(check, '192.168.50.1', { status: 200, body: body(2) }).problems.join(), /localEndpoints 2, expected 1/);
    assert.match(judgeHealthCheck(check, '192.168.50.1', { error: 'connect ECONNREFUSED' }).problems.join(), /32000\/ \(default\/api\): connect ECONNREFUSED/);
  });
});
