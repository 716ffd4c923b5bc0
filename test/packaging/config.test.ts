// The KubeProxyConfiguration shipped in deploy/configmap.yaml and rendered by the chart is read by
// kube-ipvs's own --config loader (src/cli/config-file.ts) without errors or warnings (an unknown or
// misspelt field would only be a warning at run time, which is easy to miss in a pod log), and it
// means what the docs say it means.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfigText } from '../../src/cli/config-file.js';
import { resolveConfig } from '../../src/cli/resolve.js';
import { chartValues, mergeValues, renderChartConfig } from './chart-files.js';
import { dig, parseYamlDocuments, readRepoFile, type JsonObject } from './repo.js';

/**
 * The DaemonSet's args as the kubelet passes them ($(NODE_NAME) expanded), resolved by kube-ipvs's own
 * command-line entry point with the ConfigMap's text as the --config file.
 */
function resolveLikeTheNode(args: string[], configText: string, nodeName: string): ReturnType<typeof resolveConfig> {
  const argv = args.map((a) => a.replaceAll('$(NODE_NAME)', nodeName));
  return resolveConfig(argv, {
    readFile: (path) => {
      assert.equal(path, '/var/lib/kube-ipvs/config.conf', 'the file the ConfigMap volume provides');
      return configText;
    },
    hostname: () => 'the-pod-hostname-is-not-used',
  });
}

function deployedArgs(): string[] {
  const [ds] = parseYamlDocuments(readRepoFile('deploy', 'daemonset.yaml'), 'deploy/daemonset.yaml');
  return dig(ds, 'spec', 'template', 'spec', 'containers', 0, 'args') as string[];
}

function deployedConfigText(): string {
  const [cm] = parseYamlDocuments(readRepoFile('deploy', 'configmap.yaml'), 'deploy/configmap.yaml');
  const text = dig(cm, 'data', 'config.conf');
  assert.equal(typeof text, 'string', 'data.config.conf');
  return text as string;
}

describe('shipped KubeProxyConfiguration', () => {
  it('deploy/configmap.yaml parses with the --config loader, without warnings', () => {
    const loaded = parseConfigText(deployedConfigText(), 'deploy/configmap.yaml config.conf');
    assert.deepEqual(loaded.warnings, []);
    const s = loaded.settings;
    assert.equal(s.mode, 'ipvs');
    assert.equal(s.ipvs.scheduler, 'rr');
    assert.equal(s.syncPeriodMs, 30_000);
    assert.equal(s.minSyncPeriodMs, 1_000);
    assert.deepEqual(s.ipvs.excludeCIDRs, []);
    assert.equal(s.ipvs.strictARP, false);
    assert.equal(s.ipvs.tcpTimeoutMs, 0);
    assert.equal(s.masqueradeAll, false);
    assert.equal(s.masqueradeBit, 14);
    assert.deepEqual(s.clusterCIDRs, []);
    assert.deepEqual(s.nodePortAddresses, []);
    assert.equal(s.healthzBindAddress, '0.0.0.0:10256');
    assert.equal(s.metricsBindAddress, '127.0.0.1:10249');
  });

  it('the health port in the config is the port the DaemonSet probes', () => {
    const s = parseConfigText(deployedConfigText(), 'config.conf').settings;
    const [ds] = parseYamlDocuments(readRepoFile('deploy', 'daemonset.yaml'), 'deploy/daemonset.yaml');
    const port = Number(s.healthzBindAddress.split(':').at(-1));
    assert.equal(dig(ds, 'spec', 'template', 'spec', 'containers', 0, 'livenessProbe', 'httpGet', 'port'), port);
    assert.equal(dig(ds, 'spec', 'template', 'spec', 'containers', 0, 'readinessProbe', 'httpGet', 'port'), port);
  });

  it('the loader would flag a misspelt field in it (so the no-warning check means something)', () => {
    const typo = deployedConfigText().replace('strictARP:', 'strictArp:');
    const loaded = parseConfigText(typo, 'config.conf');
    assert.equal(loaded.warnings.length, 1);
    assert.match(loaded.warnings[0]!, /unknown field "ipvs\.strictArp"/);
  });

  it('the chart renders a config the loader reads, with default values', () => {
    const loaded = parseConfigText(renderChartConfig(chartValues()), 'chart config.conf');
    assert.deepEqual(loaded.warnings, []);
    assert.equal(loaded.settings.ipvs.scheduler, 'rr');
    assert.equal(loaded.settings.minSyncPeriodMs, 1_000);
  });

  it('the chart carries every config value through to what kube-ipvs reads', () => {
    const values = mergeValues(chartValues(), {
      scheduler: 'mh',
      syncPeriod: '1m30s',
      minSyncPeriod: '0s',
      excludeCIDRs: ['10.0.0.0/8', 'fd00::/8'],
      strictARP: true,
      masqueradeAll: true,
      clusterCIDR: '10.244.0.0/16,fd00:10:244::/56',
      nodePortAddresses: ['primary'],
      metricsBindAddress: '0.0.0.0:10249',
      healthzBindAddress: '[::]:10256',
    }) as JsonObject;
    const loaded = parseConfigText(renderChartConfig(values), 'chart config.conf');
    assert.deepEqual(loaded.warnings, []);
    const s = loaded.settings;
    assert.equal(s.ipvs.scheduler, 'mh');
    assert.equal(s.syncPeriodMs, 90_000);
    assert.equal(s.minSyncPeriodMs, 0);
    assert.deepEqual(s.ipvs.excludeCIDRs, ['10.0.0.0/8', 'fd00::/8']);
    assert.equal(s.ipvs.strictARP, true);
    assert.equal(s.masqueradeAll, true);
    assert.deepEqual(s.clusterCIDRs, ['10.244.0.0/16', 'fd00:10:244::/56']);
    assert.deepEqual(s.nodePortAddresses, ['primary']);
    assert.equal(s.metricsBindAddress, '0.0.0.0:10249');
    assert.equal(s.healthzBindAddress, '[::]:10256');
  });

  it('an empty bind address in the file means the default, not "off" (why the chart schema rejects "")', () => {
    const text = deployedConfigText().replace('metricsBindAddress: 127.0.0.1:10249', 'metricsBindAddress: ""');
    assert.equal(parseConfigText(text, 'config.conf').settings.metricsBindAddress, '127.0.0.1:10249');
  });

  it('the DaemonSet command line resolves with kube-ipvs resolveConfig: no warning, node name from the downward API', () => {
    const r = resolveLikeTheNode(deployedArgs(), deployedConfigText(), 'Worker-1');
    assert.deepEqual(r.warnings, []);
    assert.equal(r.command, 'run', 'the default command runs the controller');
    assert.equal(r.config.hostnameOverride, 'worker-1', 'kube-proxy lower-cases --hostname-override');
    assert.equal(r.config.ipvs.scheduler, 'rr');
    assert.equal(r.config.syncPeriodMs, 30_000);
    assert.equal(r.config.minSyncPeriodMs, 1_000);
    assert.equal(r.config.healthzBindAddress, '0.0.0.0:10256');
    assert.equal(r.config.metricsBindAddress, '127.0.0.1:10249');
    assert.equal(r.config.gracefulTerminationPeriodMs, 30_000);
    assert.equal(r.config.cleanup, false);
  });

  it('the chart\'s documented extraArgs still apply next to --config, without warnings', () => {
    const values = mergeValues(chartValues(), { scheduler: 'wlc', minSyncPeriod: '0s', excludeCIDRs: ['192.0.2.0/24'] }) as JsonObject;
    const r = resolveLikeTheNode([...deployedArgs(), '--v=2', '--ipvs-graceful-termination-period=60s'], renderChartConfig(values), 'node-a');
    assert.deepEqual(r.warnings, []);
    assert.equal(r.config.verbosity, 2);
    assert.equal(r.config.gracefulTerminationPeriodMs, 60_000);
    assert.equal(r.config.ipvs.scheduler, 'wlc');
    assert.equal(r.config.minSyncPeriodMs, 0);
    assert.deepEqual(r.config.ipvs.excludeCIDRs, ['192.0.2.0/24']);
  });

  it('a flag with a config-file field given as extraArgs is reported as ignored (what values.yaml warns about)', () => {
    const r = resolveLikeTheNode([...deployedArgs(), '--ipvs-scheduler=lc'], deployedConfigText(), 'node-a');
    assert.equal(r.config.ipvs.scheduler, 'rr');
    assert.ok(r.warnings.some((w) => w.includes('--ipvs-scheduler') && w.includes('ignored')), r.warnings.join('\n'));
  });
});
