import assert from 'node:assert/strict';
import { test } from 'node:test';
import { UsageError } from '../../src/cli/errors.js';
import { FLAGS } from '../../src/cli/flag-table.js';
import { flagValue, parseArgs } from '../../src/cli/flags.js';

function parseError(argv: string[]): string[] {
  try {
    parseArgs(argv);
  } catch (err) {
    assert.ok(err instanceof UsageError, `expected a UsageError, got ${String(err)}`);
    assert.equal(err.exitCode, 2);
    return [...err.messages];
  }
  assert.fail(`expected ${JSON.stringify(argv)} to be rejected`);
}

test('every value form pflag accepts', () => {
  const cases: [string[], string, unknown][] = [
    [['--ipvs-sync-period=10s'], 'ipvs-sync-period', 10_000],
    [['--ipvs-sync-period', '1m30s'], 'ipvs-sync-period', 90_000],
    [['--masquerade-all'], 'masquerade-all', true],
    [['--masquerade-all=false'], 'masquerade-all', false],
    [['--masquerade-all=0'], 'masquerade-all', false],
    [['--masquerade-all=T'], 'masquerade-all', true],
    [['-v=2'], 'v', 2],
    [['--v=3'], 'v', 3],
    [['-v', '4'], 'v', 4],
    [['-v5'], 'v', 5],
    [['--v', '6'], 'v', 6],
    [['--iptables-masquerade-bit=0x0e'], 'iptables-masquerade-bit', 14],
    [['--iptables-masquerade-bit', '-1'], 'iptables-masquerade-bit', -1],
    [['--kube-api-qps=2.5'], 'kube-api-qps', 2.5],
    [['--ipvs-exclude-cidrs=10.0.0.0/8,192.168.0.0/16'], 'ipvs-exclude-cidrs', ['10.0.0.0/8', '192.168.0.0/16']],
    [['--ipvs-exclude-cidrs=10.0.0.0/8', '--ipvs-exclude-cidrs', 'fd00::/8'], 'ipvs-exclude-cidrs', ['10.0.0.0/8', 'fd00::/8']],
    [['--ipvs-exclude-cidrs='], 'ipvs-exclude-cidrs', []],
    [['--nodeport-addresses="10.0.0.0/8",primary'], 'nodeport-addresses', ['10.0.0.0/8', 'primary']],
    [['--feature-gates=A=true,B=false', '--feature-gates', 'C=1'], 'feature-gates', { A: true, B: false, C: true }],
    [['--objects', 'a.yaml', '--objects=b,c.yaml', 'plan'], 'objects', ['a.yaml', 'b,c.yaml']],
    [['--bind-address=010.001.002.003'], 'bind-address', '010.001.002.003'],
    [['--healthz-bind-address=[::]:10256'], 'healthz-bind-address', '[::]:10256'],
    [['--healthz-bind-address='], 'healthz-bind-address', ''],
    [['--hostname-override=Node-A'], 'hostname-override', 'Node-A'],
    [['--config', 'x.yaml', '--config=y.yaml'], 'config', 'y.yaml'],
    [['--version'], 'version', 'true'],
    [['--version=raw'], 'version', 'raw'],
    [['--output', 'json', 'plan'], 'output', 'json'],
  ];
  for (const [argv, name, want] of cases) {
    const parsed = parseArgs(argv);
    assert.deepEqual(parsed.values.get(name), want, argv.join(' '));
  }
});

test('the subcommand is the first argument that is not a flag or a flag value', () => {
  assert.equal(parseArgs([]).command, 'run');
  assert.equal(parseArgs([]).commandGiven, false);
  assert.equal(parseArgs(['plan', '--objects', 'x']).command, 'plan');
  assert.equal(parseArgs(['--hostname-override', 'plan', 'plan']).command, 'plan');
  assert.equal(parseArgs(['--hostname-override', 'plan', 'plan']).values.get('hostname-override'), 'plan');
  // pflag does not take a bool's value from the next argument: "false" stays an argument.
  const p = parseArgs(['--masquerade-all', 'false']);
  assert.equal(p.values.get('masquerade-all'), true);
  assert.equal(p.command, 'false');
  // "--" ends the flags.
  const q = parseArgs(['explain', '--', '--not-a-flag']);
  assert.equal(q.command, 'explain');
  assert.deepEqual(q.args, ['--not-a-flag']);
});

test('defaults come from the table when a flag is not given', () => {
  const p = parseArgs([]);
  assert.equal(flagValue(p, 'ipvs-sync-period'), 30_000);
  assert.equal(flagValue(p, 'ipvs-min-sync-period'), 1_000);
  assert.equal(flagValue(p, 'ipvs-graceful-termination-period'), 30_000);
  assert.equal(flagValue(p, 'iptables-masquerade-bit'), 14);
  assert.equal(flagValue(p, 'masquerade-all'), false);
  assert.equal(flagValue(p, 'output'), 'text');
  assert.deepEqual(flagValue(p, 'objects'), []);
  assert.equal(flagValue(p, 'version'), 'false');
});

test('every bad value names the flag, the value and what is allowed', () => {
  const cases: [string[], string][] = [
    [['--ipvs-sync-period=30x'], 'invalid value "30x" for flag --ipvs-sync-period: must be a duration such as 30s, 1m, 2h22m'],
    [['--ipvs-min-sync-period', '5'], 'invalid value "5" for flag --ipvs-min-sync-period: must be a duration such as 30s, 1m, 2h22m'],
    [['--masquerade-all=yes'], 'invalid value "yes" for flag --masquerade-all: must be true or false'],
    [['--iptables-masquerade-bit=x'], 'invalid value "x" for flag --iptables-masquerade-bit: must be an integer (32-bit)'],
    [['--oom-score-adj=3000000000'], 'invalid value "3000000000" for flag --oom-score-adj: must be an integer (32-bit) in the range [-2147483648, 2147483647]'],
    [['--kube-api-qps=fast'], 'invalid value "fast" for flag --kube-api-qps: must be a number'],
    [['--bind-address=1.2.3'], 'invalid value "1.2.3" for flag --bind-address: must be an IP address'],
    [['--healthz-bind-address=1.2.3.4:99999'], 'invalid value "1.2.3.4:99999" for flag --healthz-bind-address: must be an IP address or IP:port, e.g. 0.0.0.0:10256 or [::]:10256'],
    [['--metrics-bind-address=localhost:10249'], 'invalid value "localhost:10249" for flag --metrics-bind-address: must be an IP address or IP:port, e.g. 0.0.0.0:10256 or [::]:10256'],
    [['-v=-1'], 'invalid value "-1" for flag --v: must be a non-negative integer'],
    [['-v', 'high'], 'invalid value "high" for flag --v: must be a non-negative integer'],
    [['--output', 'yaml', 'plan'], 'invalid value "yaml" for flag --output: must be one of "json", "text"'],
    [['--logging-format=xml'], 'invalid value "xml" for flag --logging-format: must be one of "text", "json"'],
    [['--feature-gates=A'], 'invalid value "A" for flag --feature-gates: must be a comma-separated list of key=true|false pairs (missing bool value for A)'],
    [['--feature-gates=A=maybe'], 'invalid value "A=maybe" for flag --feature-gates: must be a comma-separated list of key=true|false pairs (invalid value of A=maybe)'],
    [['--ipvs-exclude-cidrs="10.0.0.0/8'], 'invalid value "\\"10.0.0.0/8" for flag --ipvs-exclude-cidrs: must be a comma-separated list (unterminated quote)'],
  ];
  for (const [argv, message] of cases) assert.deepEqual(parseError(argv), [message], argv.join(' '));
});

test('unknown flags, missing values and flags of other commands are errors', () => {
  assert.deepEqual(parseError(['--bogus']), ['unknown flag: --bogus']);
  assert.deepEqual(parseError(['--bogus=1']), ['unknown flag: --bogus']);
  assert.deepEqual(parseError(['-x']), ["unknown shorthand flag: 'x' in -x"]);
  assert.deepEqual(parseError(['-config=x']), ["unknown shorthand flag: 'c' in -config=x"]);
  assert.deepEqual(parseError(['--config']), ['flag needs an argument: --config']);
  assert.deepEqual(parseError(['-v']), ["flag needs an argument: 'v' in -v"]);
  assert.deepEqual(parseError(['--objects', 'x.yaml']), ['flag --objects is only accepted by: kube-ipvs plan, kube-ipvs sync, kube-ipvs explain']);
  // Every problem is reported, not only the first.
  assert.equal(parseError(['--bogus', '--ipvs-sync-period=1x', '--masquerade-all=2']).length, 3);
});

test('deprecated flags work and warn like pflag', () => {
  const p = parseArgs(['--healthz-port=0', '--healthz-port=0']);
  assert.equal(p.values.get('healthz-port'), 0);
  assert.deepEqual(p.warnings, [
    'Flag --healthz-port has been deprecated, This flag is deprecated and will be removed in a future release. Please use --healthz-bind-address instead.',
  ]);
});

test('the flag table is consistent: unique names, parseable defaults, help for all', () => {
  const names = new Set<string>();
  for (const f of FLAGS) {
    assert.ok(!names.has(f.name), `duplicate flag ${f.name}`);
    names.add(f.name);
    assert.ok(f.help.length > 10, `help for --${f.name}`);
    assert.ok(f.effect.length > 5, `effect for --${f.name}`);
    assert.doesNotThrow(() => flagValue(parseArgs(f.commands ? [f.commands[0]!] : []), f.name), `default of --${f.name}`);
  }
  // Every kube-proxy flag an IPVS DaemonSet may carry is accepted.
  for (const name of [
    'config', 'write-config-to', 'cleanup', 'init-only', 'proxy-mode', 'hostname-override', 'feature-gates', 'kubeconfig', 'master',
    'kube-api-content-type', 'kube-api-qps', 'kube-api-burst', 'bind-address', 'healthz-bind-address', 'metrics-bind-address',
    'bind-address-hard-fail', 'profiling', 'show-hidden-metrics-for-version', 'iptables-masquerade-bit', 'masquerade-all',
    'iptables-localhost-nodeports', 'iptables-sync-period', 'iptables-min-sync-period', 'ipvs-sync-period', 'ipvs-min-sync-period',
    'ipvs-scheduler', 'ipvs-exclude-cidrs', 'ipvs-strict-arp', 'ipvs-tcp-timeout', 'ipvs-tcpfin-timeout', 'ipvs-udp-timeout',
    'detect-local-mode', 'pod-bridge-interface', 'pod-interface-name-prefix', 'cluster-cidr', 'nodeport-addresses', 'oom-score-adj',
    'conntrack-max-per-core', 'conntrack-min', 'conntrack-tcp-timeout-established', 'conntrack-tcp-timeout-close-wait',
    'conntrack-tcp-be-liberal', 'conntrack-udp-timeout', 'conntrack-udp-timeout-stream', 'config-sync-period', 'healthz-port',
    'metrics-port', 'proxy-port-range', 'v', 'vmodule', 'logging-format', 'log-flush-frequency', 'version', 'help',
  ]) {
    assert.ok(names.has(name), `--${name} missing from the table`);
  }
});
