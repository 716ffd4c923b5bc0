import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/errors.js';
import { resolveConfig } from '../../src/cli/resolve.js';
import { defaultProxyConfig } from '../../src/model/config.js';

const env = { hostname: () => 'Worker-1', readFile: (): string => { throw new Error('no files in this test'); } };
const resolve = (argv: string[]) => resolveConfig(argv, env);

function errorsOf(argv: string[]): string[] {
  try {
    resolve(argv);
  } catch (err) {
    assert.ok(err instanceof UsageError);
    return [...err.messages];
  }
  assert.fail(`expected ${argv.join(' ')} to be rejected`);
}

test('no flags: kube-proxy\'s flag defaults (min sync period 1s), node name from the OS hostname', () => {
  const inv = resolve([]);
  assert.equal(inv.command, 'run');
  const c = inv.config;
  const d = defaultProxyConfig();
  assert.equal(c.syncPeriodMs, 30_000);
  assert.equal(c.minSyncPeriodMs, 1_000, 'flags-only kube-proxy keeps the iptables-branch default of 1s');
  assert.equal(c.hostnameOverride, 'worker-1');
  assert.equal(c.healthzBindAddress, d.healthzBindAddress);
  assert.equal(c.metricsBindAddress, d.metricsBindAddress);
  assert.equal(c.bindAddress, d.bindAddress);
  assert.equal(c.masqueradeBit, 14);
  assert.equal(c.ipvs.scheduler, 'rr');
  assert.equal(c.detectLocalMode, 'ClusterCIDR');
  assert.equal(c.gracefulTerminationPeriodMs, 30_000);
  assert.equal(c.configSyncPeriodMs, 15 * 60_000);
  assert.equal(c.oomScoreAdj, -999);
  assert.deepEqual(inv.warnings, []);
});

test('flags map onto ProxyConfig', () => {
  const c = resolve([
    '--proxy-mode=ipvs', '--ipvs-scheduler', 'sh', '--ipvs-sync-period=1m', '--ipvs-min-sync-period=0', '--ipvs-exclude-cidrs=10.0.0.0/8',
    '--ipvs-strict-arp', '--ipvs-tcp-timeout=900s', '--ipvs-tcpfin-timeout=2m', '--ipvs-udp-timeout=300s', '--masquerade-all',
    '--iptables-masquerade-bit=13', '--cluster-cidr=10.244.0.0/16,fd00::/56', '--nodeport-addresses=primary', '--bind-address=10.0.0.9',
    '--detect-local-mode=NodeCIDR', '--kubeconfig=/etc/kp.conf', '--master=https://api:6443', '--config-sync-period=5m', '-v=3',
    '--conntrack-max-per-core=0', '--conntrack-tcp-be-liberal', '--oom-score-adj=-500', '--kube-api-burst=20', '--kube-api-qps=7',
    '--cleanup', '--ipvs-graceful-termination-period=0', '--feature-gates=X=true', '--bind-address-hard-fail',
  ]).config;
  assert.equal(c.ipvs.scheduler, 'sh');
  assert.equal(c.syncPeriodMs, 60_000);
  assert.equal(c.minSyncPeriodMs, 0);
  assert.deepEqual(c.ipvs.excludeCIDRs, ['10.0.0.0/8']);
  assert.equal(c.ipvs.strictARP, true);
  assert.equal(c.ipvs.tcpTimeoutMs, 900_000);
  assert.equal(c.ipvs.tcpFinTimeoutMs, 120_000);
  assert.equal(c.ipvs.udpTimeoutMs, 300_000);
  assert.equal(c.masqueradeAll, true);
  assert.equal(c.masqueradeBit, 13);
  assert.deepEqual(c.clusterCIDRs, ['10.244.0.0/16', 'fd00::/56']);
  assert.deepEqual(c.nodePortAddresses, ['primary']);
  assert.equal(c.bindAddress, '10.0.0.9');
  assert.equal(c.detectLocalMode, 'NodeCIDR');
  assert.equal(c.kubeconfig, '/etc/kp.conf');
  assert.equal(c.master, 'https://api:6443');
  assert.equal(c.configSyncPeriodMs, 300_000);
  assert.equal(c.verbosity, 3);
  assert.equal(c.conntrack?.maxPerCore, 0);
  assert.equal(c.conntrack?.tcpBeLiberal, true);
  assert.equal(c.oomScoreAdj, -500);
  assert.deepEqual(c.clientConnection, { contentType: 'application/vnd.kubernetes.protobuf', qps: 7, burst: 20 });
  assert.equal(c.cleanup, true);
  assert.equal(c.gracefulTerminationPeriodMs, 0);
  assert.deepEqual(c.featureGates, { X: true });
  assert.equal(c.bindAddressHardFail, true);
});

test('the order of --proxy-mode and --ipvs-sync-period does not matter; --iptables-* sync flags have no effect', () => {
  assert.equal(resolve(['--ipvs-sync-period=5s', '--proxy-mode=ipvs']).config.syncPeriodMs, 5_000);
  const inv = resolve(['--iptables-sync-period=5s', '--iptables-min-sync-period=0s']);
  assert.equal(inv.config.syncPeriodMs, 30_000);
  assert.equal(inv.config.minSyncPeriodMs, 1_000);
  assert.deepEqual(inv.warnings, [
    'flag --iptables-sync-period has no effect in kube-ipvs (kube-proxy applies it only outside IPVS mode); use --ipvs-sync-period',
    'flag --iptables-min-sync-period has no effect in kube-ipvs (kube-proxy applies it only outside IPVS mode); use --ipvs-min-sync-period',
  ]);
});

test('deprecated --healthz-port / --metrics-port: 0 disables, otherwise a port-less address gets the port', () => {
  const a = resolve(['--healthz-port=0', '--metrics-port=0']).config;
  assert.equal(a.healthzBindAddress, '');
  assert.equal(a.metricsBindAddress, '');
  const b = resolve(['--healthz-bind-address=10.1.2.3', '--healthz-port=8080', '--metrics-bind-address=::1']).config;
  assert.equal(b.healthzBindAddress, '10.1.2.3:8080');
  assert.equal(b.metricsBindAddress, '[::1]:10249');
  // As in kube-proxy, an address that already has a port keeps it.
  assert.equal(resolve(['--healthz-port=8080']).config.healthzBindAddress, '0.0.0.0:10256');
  assert.equal(resolve(['--metrics-bind-address=']).config.metricsBindAddress, '', 'empty disables the metrics server');
});

test('validation errors name the flag, the value as typed, and what is allowed', () => {
  const cases: [string[], string][] = [
    [['--ipvs-sync-period=-5s'], 'invalid value "-5s" for flag --ipvs-sync-period: must be greater than 0'],
    [['--ipvs-sync-period=0'], 'invalid value "0" for flag --ipvs-sync-period: must be greater than 0'],
    [['--ipvs-min-sync-period=-1s'], 'invalid value "-1s" for flag --ipvs-min-sync-period: must be greater than or equal to 0'],
    [['--ipvs-sync-period=2s', '--ipvs-min-sync-period=5s'], 'invalid value "2s" for flag --ipvs-sync-period: must be greater than or equal to --ipvs-min-sync-period (5s)'],
    [['--ipvs-min-sync-period=1m'], 'invalid value "30s" for flag --ipvs-sync-period: must be greater than or equal to --ipvs-min-sync-period (1m0s)'],
    [['--ipvs-tcp-timeout=-1s'], 'invalid value "-1s" for flag --ipvs-tcp-timeout: must be greater than or equal to 0'],
    [['--ipvs-exclude-cidrs=10.0.0.0/8,10.0.0.1'], 'invalid value "10.0.0.1" for flag --ipvs-exclude-cidrs: must be a valid CIDR'],
    [['--ipvs-scheduler=RR'], 'invalid value "RR" for flag --ipvs-scheduler: must be one of rr, wrr, lc, wlc, lblc, lblcr, dh, sh, sed, nq, fo, ovf, mh, twos (blank means rr)'],
    [['--proxy-mode=iptables'], 'invalid value "iptables" for flag --proxy-mode: kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for iptables)'],
    [['--proxy-mode=nftables'], 'invalid value "nftables" for flag --proxy-mode: kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for nftables)'],
    [['--proxy-mode=kernelspace'], 'invalid value "kernelspace" for flag --proxy-mode: kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for kernelspace)'],
    [['--iptables-masquerade-bit=32'], 'invalid value "32" for flag --iptables-masquerade-bit: must be within the range [0, 31]'],
    [['--oom-score-adj=-1001'], 'invalid value "-1001" for flag --oom-score-adj: must be within the range [-1000, 1000]'],
    [['--conntrack-min=-1'], 'invalid value "-1" for flag --conntrack-min: must be greater than or equal to 0'],
    [['--conntrack-udp-timeout=-1s'], 'invalid value "-1s" for flag --conntrack-udp-timeout: must be greater than or equal to 0'],
    [['--kube-api-burst=-1'], 'invalid value "-1" for flag --kube-api-burst: must be greater than or equal to 0'],
    [['--config-sync-period=0s'], 'invalid value "0s" for flag --config-sync-period: must be greater than 0'],
    [['--nodeport-addresses=10.0.0.0/8,primary'], "invalid value \"primary\" for flag --nodeport-addresses: can't use both 'primary' and CIDRs"],
    [['--nodeport-addresses=10.0.0.1'], "invalid value \"10.0.0.1\" for flag --nodeport-addresses: must be a valid CIDR (or the single value 'primary')"],
    [['--cluster-cidr='], 'invalid value "" for flag --cluster-cidr: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)'],
    [['--cluster-cidr=fd00::/56,fd01::/56'], 'invalid value "fd00::/56,fd01::/56" for flag --cluster-cidr: must be a either a single CIDR or dual-stack pair of CIDRs (e.g. [10.100.0.0/16, fde4:8dba:82e1::/48]'],
    [['--detect-local-mode=PodCIDR'], 'invalid value "PodCIDR" for flag --detect-local-mode: must be one of "ClusterCIDR", "NodeCIDR", "BridgeInterface", "InterfaceNamePrefix" or blank'],
    [['--detect-local-mode=BridgeInterface'], 'invalid value "" for flag --pod-bridge-interface: must not be empty when detectLocalMode is BridgeInterface'],
    [['--detect-local-mode=InterfaceNamePrefix'], 'invalid value "" for flag --pod-interface-name-prefix: must not be empty when detectLocalMode is InterfaceNamePrefix'],
    [['--bind-address='], 'invalid value "" for flag --bind-address: not a valid textual representation of an IP address'],
    [['--proxy-port-range=70000'], 'invalid value "70000" for flag --proxy-port-range: must be a valid port range (e.g. 300-2000)'],
    [['--show-hidden-metrics-for-version=v1'], "invalid value \"v1\" for flag --show-hidden-metrics-for-version: must be in the format <major>.<minor>, e.g. '1.16'"],
    [['--hostname-override=   '], 'invalid value "   " for flag --hostname-override: empty hostname-override is invalid'],
    [['--ipvs-graceful-termination-period=-1s'], 'invalid value "-1s" for flag --ipvs-graceful-termination-period: must be greater than or equal to 0'],
    [['plan', '--node-addresses=10.0.0.1,eth0'], 'invalid value "eth0" for flag --node-addresses: must be a comma-separated list of IP addresses'],
  ];
  for (const [argv, message] of cases) assert.deepEqual(errorsOf(argv), [message], argv.join(' '));
});

test('kube-proxy rule: --ipvs-*sync-period apply only in ipvs mode (so a wrong mode does not add sync errors)', () => {
  assert.deepEqual(errorsOf(['--proxy-mode=iptables', '--ipvs-min-sync-period=1h']), [
    'invalid value "iptables" for flag --proxy-mode: kube-ipvs implements only the ipvs proxy mode: use "ipvs" or leave it blank (run kube-proxy for iptables)',
  ]);
});

test('node name: --hostname-override is trimmed and lower-cased; plan options are collected', () => {
  const inv = resolve(['plan', '--hostname-override', ' Node-A.Example ', '--objects', 'a.yaml', '--objects', 'b.json', '--node-addresses', '10.0.0.1,FD00::0:1,10.0.0.1', '--output=json']);
  assert.equal(inv.command, 'plan');
  assert.equal(inv.config.hostnameOverride, 'node-a.example');
  assert.deepEqual(inv.options.objects, ['a.yaml', 'b.json']);
  assert.deepEqual(inv.options.nodeAddresses, ['10.0.0.1', 'fd00::1'], 'canonical and de-duplicated');
  assert.equal(inv.options.output, 'json');
});

test('a problem in one element of a comma-separated value names that element', () => {
  assert.deepEqual(errorsOf(['--cluster-cidr=10.0.0.0/8,pods']), [
    'invalid value "pods" for flag --cluster-cidr: must be a valid CIDR block (e.g. 10.100.0.0/16 or fde4:8dba:82e1::/48)',
  ]);
});
