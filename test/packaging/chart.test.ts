// charts/kube-ipvs without helm: Chart.yaml, values.yaml against values.schema.json (ajv, draft-07),
// the templates' references (every .Values path exists, every value is used, every include is defined,
// blocks are balanced), the RBAC rules equal deploy/'s, and the rendered KubeProxyConfiguration equals
// the one in deploy/configmap.yaml. Rendering and validating the full manifests is helm.test.ts.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import AjvModule from 'ajv';
import { CHART_DIR, chartTemplates, chartValues, mergeValues, renderChartConfig, templateActions } from './chart-files.js';
import { EXPECTED_GRANTS, grants } from './rbac.js';
import { dig, isObject, listRepoFiles, parseYamlDocuments, readRepoFile, type Json, type JsonObject } from './repo.js';

const Ajv = AjvModule.default;

describe('charts/kube-ipvs', () => {
  const values = chartValues();
  const version = JSON.parse(readRepoFile('package.json')).version as string;

  it('Chart.yaml is a Helm 3 application chart released with the image', () => {
    const [chart] = parseYamlDocuments(readRepoFile(CHART_DIR, 'Chart.yaml'), 'Chart.yaml');
    assert.equal(chart!['apiVersion'], 'v2');
    assert.equal(chart!['name'], 'kube-ipvs');
    assert.equal(chart!['type'], 'application');
    assert.match(chart!['version'] as string, /^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/, 'SemVer 2 version');
    assert.equal(chart!['appVersion'], version, 'appVersion = package.json version = default image tag');
    assert.equal(typeof chart!['description'], 'string');
    assert.match(chart!['kubeVersion'] as string, /^>=1\.\d+/);
    assert.equal(chart!['dependencies'], undefined, 'no subcharts');
  });

  it('values.yaml has the documented knobs', () => {
    for (const key of ['image', 'scheduler', 'syncPeriod', 'minSyncPeriod', 'excludeCIDRs', 'strictARP', 'masqueradeAll', 'clusterCIDR',
      'metricsBindAddress', 'healthzBindAddress', 'resources', 'tolerations', 'nodeSelector', 'priorityClassName', 'extraArgs']) {
      assert.ok(key in values, key);
    }
    assert.deepEqual(Object.keys(values['image'] as JsonObject).sort(), ['pullPolicy', 'repository', 'tag']);
    assert.equal(values['healthzBindAddress'], '0.0.0.0:10256');
    assert.equal(values['metricsBindAddress'], '127.0.0.1:10249');
    assert.deepEqual(values['tolerations'], [{ operator: 'Exists' }]);
  });

  describe('values.schema.json', () => {
    const schema = JSON.parse(readRepoFile(CHART_DIR, 'values.schema.json')) as JsonObject;
    const ajv = new Ajv({ strict: true, allErrors: true });
    const validate = ajv.compile(schema);
    const check = (override: Json): boolean => validate(mergeValues(values, override));

    it('is a draft-07 schema that accepts the default values', () => {
      assert.equal(schema['$schema'], 'http://json-schema.org/draft-07/schema#');
      assert.ok(validate(values), JSON.stringify(validate.errors));
    });

    const good: [string, Json][] = [
      ['scheduler mh', { scheduler: 'mh' }],
      ['scheduler "" (= rr)', { scheduler: '' }],
      ['composite duration', { syncPeriod: '1m30s', minSyncPeriod: '0s' }],
      ['fractional duration', { minSyncPeriod: '1.5s' }],
      ['dual-stack exclude CIDRs', { excludeCIDRs: ['10.0.0.0/8', 'fd00::/8', '192.168.1.0/24'] }],
      ['dual-stack cluster CIDR', { clusterCIDR: '10.244.0.0/16,fd00:10:244::/56' }],
      ['IPv6 bind addresses', { metricsBindAddress: '[::1]:10249', healthzBindAddress: '[::]:10256' }],
      ['limits and numeric quantities', { resources: { requests: { cpu: 0.5, memory: '64Mi' }, limits: { memory: '1Gi', cpu: '2' } } }],
      ['nodePortAddresses primary', { nodePortAddresses: ['primary'] }],
      ['nodePortAddresses CIDRs', { nodePortAddresses: ['10.0.0.0/8', 'fd00::/64'] }],
      ['maxUnavailable percentage', { maxUnavailable: '10%' }],
      ['API server by name', { apiServer: { host: 'api.cluster.example', port: 443 } }],
      ['API server by IPv6', { apiServer: { host: 'fd00::10', port: 6443 } }],
      ['extra flags', { extraArgs: ['--v=2', '--ipvs-graceful-termination-period=60s'] }],
      ['narrow tolerations', { tolerations: [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }] }],
      ['pinned digest', { image: { tag: '0.1.0@sha256:' + 'a'.repeat(64) } }],
    ];
    for (const [name, override] of good) {
      it(`accepts ${name}`, () => {
        assert.ok(check(override), JSON.stringify(validate.errors));
      });
    }

    const bad: [string, Json][] = [
      ['an unknown scheduler', { scheduler: 'round-robin' }],
      ['a scheduler that is not a string', { scheduler: 5 }],
      ['a scheduler in upper case', { scheduler: 'RR' }],
      ['a duration without unit', { syncPeriod: '30' }],
      ['a zero sync period', { syncPeriod: '0s' }],
      ['a negative duration', { minSyncPeriod: '-1s' }],
      ['a duration as a number', { syncPeriod: 30 }],
      ['a word as duration', { minSyncPeriod: 'soon' }],
      ['an exclude CIDR without prefix', { excludeCIDRs: ['10.0.0.0'] }],
      ['an IPv4 prefix over 32', { excludeCIDRs: ['10.0.0.0/33'] }],
      ['an IPv6 prefix over 128', { excludeCIDRs: ['fd00::/129'] }],
      ['an octet over 255', { clusterCIDR: '300.1.1.1/8' }],
      ['excludeCIDRs as a string', { excludeCIDRs: '10.0.0.0/8' }],
      ['three cluster CIDRs', { clusterCIDR: '10.244.0.0/16,fd00::/56,10.0.0.0/8' }],
      ['a cluster CIDR with spaces', { clusterCIDR: '10.244.0.0/16, fd00::/56' }],
      ['a bind address without port', { metricsBindAddress: '127.0.0.1' }],
      ['an empty bind address (the config file would default it, not disable it)', { metricsBindAddress: '' }],
      ['a port over 65535', { metricsBindAddress: '127.0.0.1:70000' }],
      ['port 0', { healthzBindAddress: '0.0.0.0:0' }],
      ['a host name as bind address', { healthzBindAddress: 'localhost:10256' }],
      ['strictARP as a string', { strictARP: 'yes' }],
      ['masqueradeAll as a number', { masqueradeAll: 1 }],
      ['a negative CPU request', { resources: { requests: { cpu: '-100m' } } }],
      ['a negative memory request', { resources: { requests: { memory: -1 } } }],
      ['a bad quantity unit', { resources: { limits: { memory: '1GB' } } }],
      ['an unknown resources key', { resources: { request: { cpu: '1' } } }],
      ['an unknown pull policy', { image: { pullPolicy: 'Sometimes' } }],
      ['an empty repository', { image: { repository: '' } }],
      ['a tag with a space', { image: { tag: 'v1 beta' } }],
      ['a bad toleration operator', { tolerations: [{ operator: 'Maybe' }] }],
      ['a nodeSelector value that is not a string', { nodeSelector: { 'kubernetes.io/os': 1 } }],
      ['an extra arg that is not a flag', { extraArgs: ['v=2'] }],
      ['extraArgs as a string', { extraArgs: '--v=2' }],
      ['a misspelt top-level key', { schedular: 'rr' }],
      ['an API server port 0', { apiServer: { port: 0 } }],
      ['an API server URL instead of a host', { apiServer: { host: 'https://10.0.0.1' } }],
      ['maxUnavailable 0', { maxUnavailable: 0 }],
      ['maxUnavailable 0%', { maxUnavailable: '0%' }],
      ['primary mixed with CIDRs', { nodePortAddresses: ['primary', '10.0.0.0/8'] }],
      ['a negative grace period', { terminationGracePeriodSeconds: -1 }],
      ['an unknown dnsPolicy', { dnsPolicy: 'Cluster' }],
    ];
    for (const [name, override] of bad) {
      it(`rejects ${name}`, () => {
        assert.equal(check(override), false, `accepted ${JSON.stringify(override)}`);
      });
    }
  });

  describe('templates', () => {
    const templates = chartTemplates();
    const manifests = [...templates.keys()].filter((n) => n.endsWith('.yaml'));

    it('hold the same kinds as deploy/', () => {
      const kinds = manifests.map((n) => /^kind: (\w+)$/m.exec(templates.get(n)!)?.[1]).sort();
      const deployKinds = listRepoFiles('deploy', ['.yaml'])
        .filter((f) => f !== 'kustomization.yaml')
        .flatMap((f) => parseYamlDocuments(readRepoFile('deploy', f), f).map((o) => o['kind'] as string))
        .sort();
      assert.deepEqual(kinds, deployKinds);
    });

    it('reference only values that exist in values.yaml, and use every value', () => {
      const used = new Set<string>();
      for (const [name, text] of templates) {
        for (const action of templateActions(text)) {
          for (const m of action.matchAll(/\.Values((?:\.\w+)+)/g)) {
            const path = m[1]!.slice(1).split('.');
            assert.notEqual(dig(values, ...path), undefined, `${name}: .Values.${path.join('.')} is not in values.yaml`);
            used.add(path[0]!);
          }
        }
      }
      assert.deepEqual(Object.keys(values).filter((k) => !used.has(k)), [], 'values no template reads');
    });

    it('include only templates that _helpers.tpl defines, and balance their blocks', () => {
      const defined = new Set(templateActions(templates.get('_helpers.tpl')!).flatMap((a) => /^define "([^"]+)"$/.exec(a)?.[1] ?? []));
      assert.ok(defined.has('kube-ipvs.fullname') && defined.has('kube-ipvs.labels') && defined.has('kube-ipvs.selectorLabels'));
      for (const [name, text] of templates) {
        let depth = 0;
        for (const action of templateActions(text)) {
          for (const m of action.matchAll(/\b(?:include|template) "([^"]+)"/g)) assert.ok(defined.has(m[1]!), `${name}: ${m[1]} is not defined`);
          if (/^(if|with|range|define|block)\b/.test(action)) depth++;
          if (/^end\b/.test(action)) depth--;
          assert.ok(depth >= 0, `${name}: {{ end }} without a block`);
        }
        assert.equal(depth, 0, `${name}: unclosed block`);
      }
    });

    it('ClusterRole rules are literal and equal to deploy/clusterrole.yaml', () => {
      const text = templates.get('clusterrole.yaml')!;
      const rulesText = text.slice(text.indexOf('\nrules:\n') + 1);
      assert.equal(templateActions(rulesText).length, 0, 'no template actions inside rules');
      const [chartRules] = parseYamlDocuments(rulesText, 'templates/clusterrole.yaml rules');
      const [deployRole] = parseYamlDocuments(readRepoFile('deploy', 'clusterrole.yaml'), 'deploy/clusterrole.yaml');
      assert.deepEqual(grants(chartRules!['rules']), EXPECTED_GRANTS);
      assert.deepEqual(chartRules!['rules'], deployRole!['rules']);
    });

    it('the DaemonSet template keeps the node-proxy essentials', () => {
      const ds = templates.get('daemonset.yaml')!;
      for (const line of [
        'hostNetwork: true',
        'privileged: true',
        '- --config=/var/lib/kube-ipvs/config.conf',
        '- --hostname-override=$(NODE_NAME)',
        'fieldPath: spec.nodeName',
        'path: /livez',
        'path: /healthz',
        'mountPath: /lib/modules',
        'path: /run/xtables.lock',
        'type: FileOrCreate',
        'type: RollingUpdate',
      ]) {
        assert.ok(ds.includes(line), line);
      }
      assert.match(ds, /checksum\/config: \{\{ include \(print \$\.Template\.BasePath "\/configmap\.yaml"\) \. \| sha256sum \}\}/);
    });

    it('renders a KubeProxyConfiguration equal to deploy/configmap.yaml with the default values', () => {
      const rendered = parseYamlDocuments(renderChartConfig(values), 'chart config.conf')[0]!;
      const [cm] = parseYamlDocuments(readRepoFile('deploy', 'configmap.yaml'), 'deploy/configmap.yaml');
      const deployed = parseYamlDocuments(dig(cm, 'data', 'config.conf') as string, 'deploy config.conf')[0]!;
      assert.deepEqual(rendered, deployed);
    });

    it('renders the values it is given into the KubeProxyConfiguration', () => {
      const custom = mergeValues(values, {
        scheduler: 'mh', syncPeriod: '1m', minSyncPeriod: '0s', excludeCIDRs: ['10.0.0.0/8'], strictARP: true, masqueradeAll: true,
        clusterCIDR: '10.244.0.0/16', nodePortAddresses: ['primary'], metricsBindAddress: '0.0.0.0:10249', healthzBindAddress: '[::]:10256',
      }) as JsonObject;
      const cfg = parseYamlDocuments(renderChartConfig(custom), 'chart config.conf')[0]!;
      assert.deepEqual(cfg['ipvs'], { scheduler: 'mh', syncPeriod: '1m', minSyncPeriod: '0s', excludeCIDRs: ['10.0.0.0/8'], strictARP: true, tcpTimeout: '0s', tcpFinTimeout: '0s', udpTimeout: '0s' });
      assert.deepEqual(cfg['iptables'], { masqueradeAll: true, masqueradeBit: 14 });
      assert.equal(cfg['clusterCIDR'], '10.244.0.0/16');
      assert.deepEqual(cfg['nodePortAddresses'], ['primary']);
      assert.equal(cfg['metricsBindAddress'], '0.0.0.0:10249');
      assert.equal(cfg['healthzBindAddress'], '[::]:10256');
      assert.ok(isObject(cfg));
    });
  });
});
