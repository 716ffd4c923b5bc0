import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseConfigText } from '../../src/cli/config-file.js';
import { UsageError } from '../../src/cli/errors.js';
import { resolveConfig } from '../../src/cli/resolve.js';
import { kubeProxyConfigurationYaml } from '../../src/cli/write-config.js';

const HEAD = 'apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeProxyConfiguration\n';

/** resolveConfig with the config file held in memory. */
function resolveWith(text: string, extraArgs: string[] = [], file = 'kp.yaml') {
  return resolveConfig(['--config', file, ...extraArgs], {
    readFile: (p) => {
      if (p !== file) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
      return text;
    },
    hostname: () => 'Host-1',
  });
}

function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected UsageError, got ${String(err)}`);
    return [...err.messages];
  }
  assert.fail('expected a UsageError');
}

test('a complete YAML file maps onto ProxyConfig with kube-proxy defaults filled in', () => {
  const text = `${HEAD}mode: ipvs
bindAddress: 10.0.0.5
healthzBindAddress: 10.0.0.5
metricsBindAddress: "0.0.0.0:9999"
clusterCIDR: 10.244.0.0/16,fd00:10:244::/56
nodePortAddresses: [192.168.0.0/16]
iptables:
  masqueradeAll: yes
  masqueradeBit: 0
ipvs:
  scheduler: wrr
  syncPeriod: 10s
  excludeCIDRs: [172.16.0.0/12]
  strictARP: true
  tcpTimeout: 15m
conntrack:
  maxPerCore: 0
logging:
  verbosity: 3
`;
  const inv = resolveWith(text);
  const c = inv.config;
  assert.equal(c.mode, 'ipvs');
  assert.equal(c.bindAddress, '10.0.0.5');
  assert.equal(c.healthzBindAddress, '10.0.0.5:10256', 'AppendPortIfNeeded');
  assert.equal(c.metricsBindAddress, '0.0.0.0:9999');
  assert.deepEqual(c.clusterCIDRs, ['10.244.0.0/16', 'fd00:10:244::/56']);
  assert.equal(c.detectLocalMode, 'ClusterCIDR', 'blank detectLocalMode is ClusterCIDR');
  assert.deepEqual(c.nodePortAddresses, ['192.168.0.0/16']);
  assert.equal(c.masqueradeAll, true, 'YAML 1.1 "yes" is true, as in Go');
  assert.equal(c.masqueradeBit, 0, 'an explicit 0 is kept (only a missing masqueradeBit defaults to 14)');
  assert.equal(c.ipvs.scheduler, 'wrr');
  assert.equal(c.syncPeriodMs, 10_000);
  assert.equal(c.minSyncPeriodMs, 0, 'ipvs.minSyncPeriod has no default in a config file');
  assert.deepEqual(c.ipvs.excludeCIDRs, ['172.16.0.0/12']);
  assert.equal(c.ipvs.strictARP, true);
  assert.equal(c.ipvs.tcpTimeoutMs, 900_000);
  assert.equal(c.conntrack?.maxPerCore, 0);
  assert.equal(c.conntrack?.min, 131072);
  assert.equal(c.configSyncPeriodMs, 900_000);
  assert.equal(c.verbosity, 3);
  assert.equal(c.hostnameOverride, 'host-1', 'OS hostname, lower-cased');
  assert.deepEqual(inv.warnings, []);
});

test('an empty file section gets the defaults; IPv6 bindAddress gives IPv6 server defaults', () => {
  const c = resolveWith(`${HEAD}bindAddress: "::"\nipvs: {}\n`).config;
  assert.equal(c.healthzBindAddress, '[::]:10256');
  assert.equal(c.metricsBindAddress, '[::1]:10249');
  assert.equal(c.syncPeriodMs, 30_000);
  assert.equal(c.minSyncPeriodMs, 0);
  assert.equal(c.ipvs.scheduler, 'rr');
  assert.equal(c.masqueradeBit, 14);
  // kube-proxy defaults a zero sync period instead of rejecting it.
  assert.equal(resolveWith(`${HEAD}ipvs: {syncPeriod: 0s}\nconfigSyncPeriod: 0s\n`).config.syncPeriodMs, 30_000);
});

test('a JSON file is read like YAML', () => {
  const json = JSON.stringify({ apiVersion: 'kubeproxy.config.k8s.io/v1alpha1', kind: 'KubeProxyConfiguration', mode: 'ipvs', ipvs: { scheduler: 'lc', minSyncPeriod: '2s' } });
  const c = resolveWith(json, [], 'kp.json').config;
  assert.equal(c.ipvs.scheduler, 'lc');
  assert.equal(c.minSyncPeriodMs, 2_000);
});

test('blank mode means ipvs: the ipvs section\'s sync periods are used', () => {
  const c = resolveWith(`${HEAD}mode: ""\nipvs: {syncPeriod: 45s, minSyncPeriod: 3s}\niptables: {syncPeriod: 5s}\n`).config;
  assert.equal(c.syncPeriodMs, 45_000);
  assert.equal(c.minSyncPeriodMs, 3_000);
});

test('each validation rule reports file, line, field path, value and what is allowed', () => {
  const cases: [string, string][] = [
    ['ipvs:\n  syncPeriod: -5s\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.syncPeriod: invalid value "-5s": must be greater than 0'],
    ['ipvs:\n  minSyncPeriod: -1s\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.minSyncPeriod: invalid value "-1s": must be greater than or equal to 0'],
    ['ipvs:\n  syncPeriod: 30s\n  minSyncPeriod: 1m\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.syncPeriod: invalid value "30s": must be greater than or equal to KubeProxyConfiguration.ipvs.minSyncPeriod (1m0s)'],
    ['ipvs:\n  tcpTimeout: -1s\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.tcpTimeout: invalid value "-1s": must be greater than or equal to 0'],
    ['ipvs:\n  tcpFinTimeout: -1s\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.tcpFinTimeout: invalid value "-1s": must be greater than or equal to 0'],
    ['ipvs:\n  udpTimeout: -2s\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.udpTimeout: invalid value "-2s": must be greater than or equal to 0'],
    ['ipvs:\n  excludeCIDRs: [10.0.0.0/8, nope]\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.excludeCIDRs[1]: invalid value "nope": must be a valid CIDR'],
    ['ipvs:\n  scheduler: fastest\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.scheduler: invalid value "fastest": must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos (blank means rr)'],
    ['iptables:\n  masqueradeBit: 32\n', 'kp.yaml:4: KubeProxyConfiguration.iptables.masqueradeBit: invalid value "32": must be within the range [0, 31]'],
    ['mode: iptables\n', 'kp.yaml:3: KubeProxyConfiguration.mode: invalid value "iptables": kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for iptables)'],
    ['mode: nftables\n', 'kp.yaml:3: KubeProxyConfiguration.mode: invalid value "nftables": kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for nftables)'],
    ['mode: IPVS\n', 'kp.yaml:3: KubeProxyConfiguration.mode: invalid value "IPVS": must be "ipvs" or blank (blank means ipvs in kube-ipvs)'],
    ['bindAddress: localhost\n', 'kp.yaml:3: KubeProxyConfiguration.bindAddress: invalid value "localhost": not a valid textual representation of an IP address'],
    ['healthzBindAddress: "1.2.3.4:0"\n', 'kp.yaml:3: KubeProxyConfiguration.healthzBindAddress: invalid value "1.2.3.4:0": must be IP:port: "0" is not a valid port (1-65535)'],
    ['metricsBindAddress: "host:1"\n', 'kp.yaml:3: KubeProxyConfiguration.metricsBindAddress: invalid value "host:1": must be IP:port: "host" is not a valid IP'],
    ['nodePortAddresses: [primary, 10.0.0.0/8]\n', "kp.yaml:3: KubeProxyConfiguration.nodePortAddresses[0]: invalid value \"primary\": can't use both 'primary' and CIDRs"],
    ['nodePortAddresses: [10.0.0.0/33]\n', "kp.yaml:3: KubeProxyConfiguration.nodePortAddresses[0]: invalid value \"10.0.0.0/33\": must be a valid CIDR (or the single value 'primary')"],
    ['clusterCIDR: 10.0.0.0/8,10.1.0.0/16\n', 'kp.yaml:3: KubeProxyConfiguration.clusterCIDR: invalid value "10.0.0.0/8,10.1.0.0/16": must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]'],
    ['clusterCIDR: 10.0.0.0/8,pods\n', 'kp.yaml:3: KubeProxyConfiguration.clusterCIDR: invalid value "pods": must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)'],
    ['detectLocalMode: Magic\n', 'kp.yaml:3: KubeProxyConfiguration.detectLocalMode: invalid value "Magic": must be one of "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix" or blank'],
    ['detectLocalMode: BridgeInterface\n', 'kp.yaml: KubeProxyConfiguration.detectLocal.bridgeInterface: invalid value "": must not be empty when detectLocalMode is BridgeInterface'],
    ['detectLocalMode: InterfaceNamePrefix\ndetectLocal: {interfaceNamePrefix: ""}\n', 'kp.yaml:4: KubeProxyConfiguration.detectLocal.interfaceNamePrefix: invalid value "": must not be empty when detectLocalMode is InterfaceNamePrefix'],
    ['conntrack:\n  maxPerCore: -1\n', 'kp.yaml:4: KubeProxyConfiguration.conntrack.maxPerCore: invalid value "-1": must be greater than or equal to 0'],
    ['conntrack:\n  tcpCloseWaitTimeout: -1h\n', 'kp.yaml:4: KubeProxyConfiguration.conntrack.tcpCloseWaitTimeout: invalid value "-1h": must be greater than or equal to 0'],
    ['oomScoreAdj: 2000\n', 'kp.yaml:3: KubeProxyConfiguration.oomScoreAdj: invalid value "2000": must be within the range [-1000, 1000]'],
    ['configSyncPeriod: -1m\n', 'kp.yaml:3: KubeProxyConfiguration.configSyncPeriod: invalid value "-1m": must be greater than 0'],
    ['clientConnection:\n  burst: -1\n', 'kp.yaml:4: KubeProxyConfiguration.clientConnection.burst: invalid value "-1": must be greater than or equal to 0'],
    ['portRange: 5-1\n', 'kp.yaml:3: KubeProxyConfiguration.portRange: invalid value "5-1": must be a valid port range (e.g. 300-2000)'],
    ['showHiddenMetricsForVersion: latest\n', "kp.yaml:3: KubeProxyConfiguration.showHiddenMetricsForVersion: invalid value \"latest\": must be in the format <major>.<minor>, e.g. '1.16'"],
    ['logging:\n  format: xml\n', 'kp.yaml:4: KubeProxyConfiguration.logging.format: invalid value "xml": must be "text" or "json"'],
    ['hostnameOverride: "  "\n', 'kp.yaml:3: KubeProxyConfiguration.hostnameOverride: invalid value "  ": empty hostname is invalid'],
  ];
  for (const [body, message] of cases) assert.deepEqual(errorsOf(() => resolveWith(HEAD + body)), [message], body);
});

test('several problems are reported together', () => {
  const errors = errorsOf(() => resolveWith(`${HEAD}mode: iptables\niptables: {masqueradeBit: 40}\n`));
  assert.equal(errors.length, 2);
});

test('wrong or missing apiVersion and kind are errors', () => {
  assert.deepEqual(errorsOf(() => resolveWith('apiVersion: kubeproxy.config.k8s.io/v1beta1\nkind: KubeProxyConfiguration\n')), [
    'kp.yaml:1: KubeProxyConfiguration.apiVersion: invalid value "kubeproxy.config.k8s.io/v1beta1": must be kubeproxy.config.k8s.io/v1alpha1',
  ]);
  assert.deepEqual(errorsOf(() => resolveWith('apiVersion: kubeproxy.config.k8s.io/v1alpha1\nkind: KubeletConfiguration\n')), [
    'kp.yaml:2: KubeProxyConfiguration.kind: invalid value "KubeletConfiguration": must be KubeProxyConfiguration',
  ]);
  assert.deepEqual(errorsOf(() => resolveWith('mode: ipvs\n')), [
    'kp.yaml:1: KubeProxyConfiguration.apiVersion: missing: must be kubeproxy.config.k8s.io/v1alpha1',
    'kp.yaml:1: KubeProxyConfiguration.kind: missing: must be KubeProxyConfiguration',
  ]);
  assert.match(errorsOf(() => resolveWith(''))[0]!, /^kp\.yaml: the file is empty/);
  assert.match(errorsOf(() => resolveWith('- a\n- b\n'))[0]!, /^kp\.yaml:1: KubeProxyConfiguration: must be a mapping \(got \["a","b"\]\)/);
});

test('unknown and duplicate fields are warnings with their line (kube-proxy falls back to lenient decoding)', () => {
  const inv = resolveWith(`${HEAD}ipvs:\n  scheduler: lc\n  syncPerod: 5s\n  scheduler: sh\nSyncPeriod: 1s\nmetadata: {name: x}\n`);
  assert.equal(inv.config.ipvs.scheduler, 'sh', 'the last duplicate wins');
  assert.equal(inv.config.syncPeriodMs, 30_000, 'misspelled and wrongly cased fields are ignored');
  assert.deepEqual(inv.warnings, [
    'kp.yaml:5: KubeProxyConfiguration: unknown field "ipvs.syncPerod" (ignored, as in kube-proxy\'s lenient decoding)',
    'kp.yaml:6: KubeProxyConfiguration: duplicate field "ipvs.scheduler" (first on line 4); the last value is used, as in kube-proxy\'s lenient decoding',
    'kp.yaml:7: KubeProxyConfiguration: unknown field "SyncPeriod" (ignored, as in kube-proxy\'s lenient decoding)',
    'kp.yaml:8: KubeProxyConfiguration: unknown field "metadata" (ignored, as in kube-proxy\'s lenient decoding)',
  ]);
});

test('values of the wrong type are errors naming the line', () => {
  const cases: [string, string][] = [
    ['ipvs:\n  syncPeriod: 30\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.syncPeriod: invalid value 30: must be a duration string such as "30s", "1m", "2h22m"'],
    ['ipvs:\n  syncPeriod: 30x\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.syncPeriod: invalid value "30x": must be a duration string such as "30s", "1m", "2h22m"'],
    ['ipvs:\n  strictARP: "true"\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.strictARP: invalid value "true": must be true or false'],
    ['iptables:\n  masqueradeBit: 1.5\n', 'kp.yaml:4: KubeProxyConfiguration.iptables.masqueradeBit: invalid value 1.5: must be an integer in the range [-2147483648, 2147483647]'],
    ['ipvs:\n  excludeCIDRs: 10.0.0.0/8\n', 'kp.yaml:4: KubeProxyConfiguration.ipvs.excludeCIDRs: invalid value "10.0.0.0/8": must be a list of strings'],
    ['ipvs: fast\n', 'kp.yaml:3: KubeProxyConfiguration.ipvs: invalid value "fast": must be a mapping'],
    ['featureGates: {A: maybe}\n', 'kp.yaml:3: KubeProxyConfiguration.featureGates: invalid value {"A":"maybe"}: must be a mapping of names to true or false'],
  ];
  for (const [body, message] of cases) assert.deepEqual(errorsOf(() => resolveWith(HEAD + body)), [message], body);
});

test('YAML that does not parse is an error with its line; an unreadable file names the file', () => {
  const errors = errorsOf(() => resolveWith(`${HEAD}ipvs:\n  excludeCIDRs: [10.0.0.0/8\nmode: ipvs\n`));
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /^kp\.yaml:\d+: invalid YAML: /);
  assert.deepEqual(errorsOf(() => resolveConfig(['--config', 'missing.yaml'], { readFile: () => { throw new Error("ENOENT: no such file or directory, open 'missing.yaml'"); } })), [
    "--config missing.yaml: cannot read the file: ENOENT: no such file or directory, open 'missing.yaml'",
  ]);
});

test('with --config most flags are ignored (with a warning); hostname, master, logging and kube-ipvs flags apply', () => {
  const text = `${HEAD}hostnameOverride: From-File\nipvs: {scheduler: lc}\nlogging: {verbosity: 1}\n`;
  const inv = resolveWith(text, ['--ipvs-scheduler=sh', '--masquerade-all', '-v=4', '--master=https://10.0.0.1:6443', '--ipvs-graceful-termination-period=1m']);
  assert.equal(inv.config.ipvs.scheduler, 'lc', 'the file wins over --ipvs-scheduler');
  assert.equal(inv.config.masqueradeAll, false);
  assert.equal(inv.config.verbosity, 4, '-v wins over logging.verbosity');
  assert.equal(inv.config.master, 'https://10.0.0.1:6443');
  assert.equal(inv.config.gracefulTerminationPeriodMs, 60_000);
  assert.equal(inv.config.hostnameOverride, 'from-file');
  assert.deepEqual(inv.warnings, [
    'flag --ipvs-scheduler is ignored because --config is set (as in kube-proxy); set ipvs.scheduler in kp.yaml instead',
    'flag --masquerade-all is ignored because --config is set (as in kube-proxy); set iptables.masqueradeAll in kp.yaml instead',
  ]);
  const over = resolveWith(text, ['--hostname-override', '  Node-7 ']);
  assert.equal(over.config.hostnameOverride, 'node-7', '--hostname-override overrides the file, trimmed and lower-cased');
  // An empty --hostname-override is "not set" (kube-proxy checks len > 0 before trimming).
  assert.equal(resolveWith(text, ['--hostname-override=']).config.hostnameOverride, 'from-file');
});

test('--write-config-to output reads back to the same configuration', () => {
  const inv = resolveConfig(['--ipvs-scheduler=wrr', '--ipvs-sync-period=20s', '--ipvs-min-sync-period=2s', '--cluster-cidr=10.244.0.0/16', '--ipvs-strict-arp', '--nodeport-addresses=primary'], { hostname: () => 'h' });
  const yamlText = kubeProxyConfigurationYaml(inv.settings, '');
  const loaded = parseConfigText(yamlText, 'written.yaml');
  assert.deepEqual(loaded.warnings, []);
  assert.deepEqual({ ...loaded.settings, detectLocalMode: inv.settings.detectLocalMode || 'ClusterCIDR' }, { ...inv.settings, detectLocalMode: 'ClusterCIDR', mode: 'ipvs' });
});

test('the config.conf kubeadm writes for kube-proxy (every field, zero values and nulls) loads without warnings', () => {
  const kubeadm = `apiVersion: kubeproxy.config.k8s.io/v1alpha1
bindAddress: 0.0.0.0
bindAddressHardFail: false
clientConnection:
  acceptContentTypes: ""
  burst: 0
  contentType: ""
  kubeconfig: /var/lib/kube-proxy/kubeconfig.conf
  qps: 0
clusterCIDR: 10.244.0.0/16
configSyncPeriod: 0s
conntrack:
  maxPerCore: null
  min: null
  tcpBeLiberal: false
  tcpCloseWaitTimeout: null
  tcpEstablishedTimeout: null
  udpStreamTimeout: 0s
  udpTimeout: 0s
detectLocal:
  bridgeInterface: ""
  interfaceNamePrefix: ""
detectLocalMode: ""
enableProfiling: false
healthzBindAddress: ""
hostnameOverride: ""
iptables:
  localhostNodePorts: null
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
ipvs:
  excludeCIDRs: null
  minSyncPeriod: 0s
  scheduler: ""
  strictARP: false
  syncPeriod: 0s
  tcpFinTimeout: 0s
  tcpTimeout: 0s
  udpTimeout: 0s
kind: KubeProxyConfiguration
logging:
  flushFrequency: 0
  options:
    json:
      infoBufferSize: "0"
    text:
      infoBufferSize: "0"
  verbosity: 0
metricsBindAddress: ""
mode: ipvs
nftables:
  masqueradeAll: false
  masqueradeBit: null
  minSyncPeriod: 0s
  syncPeriod: 0s
nodePortAddresses: null
oomScoreAdj: null
portRange: ""
showHiddenMetricsForVersion: ""
winkernel:
  enableDSR: false
  forwardHealthCheckVip: false
  networkName: ""
  rootHnsEndpointName: ""
  sourceVip: ""
`;
  const inv = resolveWith(kubeadm, ['--hostname-override=Worker-3']);
  assert.deepEqual(inv.warnings, []);
  const c = inv.config;
  assert.equal(c.hostnameOverride, 'worker-3');
  assert.equal(c.kubeconfig, '/var/lib/kube-proxy/kubeconfig.conf');
  assert.equal(c.syncPeriodMs, 30_000);
  assert.equal(c.minSyncPeriodMs, 0);
  assert.equal(c.masqueradeBit, 14);
  assert.equal(c.healthzBindAddress, '0.0.0.0:10256');
  assert.equal(c.metricsBindAddress, '127.0.0.1:10249');
  assert.deepEqual(c.clusterCIDRs, ['10.244.0.0/16']);
  assert.equal(c.configSyncPeriodMs, 900_000);
  assert.deepEqual(c.clientConnection, { contentType: 'application/vnd.kubernetes.protobuf', qps: 5, burst: 10 });
  assert.equal(c.oomScoreAdj, -999);
  assert.equal(c.conntrack?.maxPerCore, 32768);
  assert.equal(c.conntrack?.tcpEstablishedTimeoutMs, 86_400_000);
});
