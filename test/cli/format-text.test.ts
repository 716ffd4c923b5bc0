import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatNodeStateText, ipsetSaveLines, ipvsadmLines } from '../../src/cli/format-text.js';
import { emptyNodeState, type NodeState, type VirtualServer } from '../../src/model/state.js';

const vs = (over: Partial<VirtualServer>): VirtualServer => ({
  protocol: 'TCP',
  address: '10.96.0.10',
  port: 80,
  scheduler: 'rr',
  flags: 0,
  timeout: 0,
  realServers: [],
  ...over,
});

test('virtual servers print as ipvsadm -Sn lines', () => {
  assert.deepEqual(ipvsadmLines(vs({ realServers: [{ address: '10.244.1.5', port: 8080, weight: 1 }, { address: '10.244.2.6', port: 8080, weight: 0 }] })), [
    '-A -t 10.96.0.10:80 -s rr',
    '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1',
    '-a -t 10.96.0.10:80 -r 10.244.2.6:8080 -m -w 0',
  ]);
  assert.deepEqual(ipvsadmLines(vs({ protocol: 'UDP', port: 53, flags: 1, timeout: 10800 })), ['-A -u 10.96.0.10:53 -s rr -p 10800']);
  assert.deepEqual(ipvsadmLines(vs({ protocol: 'SCTP', address: 'fd00::a', port: 3868, realServers: [{ address: 'fd00:1::5', port: 3868, weight: 1 }] })), [
    '-A --sctp-service [fd00::a]:3868 -s rr',
    '-a --sctp-service [fd00::a]:3868 -r [fd00:1::5]:3868 -m -w 1',
  ]);
  assert.deepEqual(ipvsadmLines(vs({ scheduler: 'sh', flags: 8 | 16 })), ['-A -t 10.96.0.10:80 -s sh -b sh-fallback,sh-port']);
  assert.deepEqual(ipvsadmLines(vs({ scheduler: 'mh', flags: 16 })), ['-A -t 10.96.0.10:80 -s mh -b mh-port']);
  assert.deepEqual(ipvsadmLines(vs({ scheduler: 'wrr', flags: 8 | 16 | 32 })), ['-A -t 10.96.0.10:80 -s wrr -b flag-1,flag-2,flag-3']);
  assert.deepEqual(ipvsadmLines(vs({ flags: 1 | 4, timeout: 60 })), ['-A -t 10.96.0.10:80 -s rr -p 60 -o']);
});

test('ipsets print as ipset save lines, as kube-proxy creates them', () => {
  assert.deepEqual(ipsetSaveLines('KUBE-CLUSTER-IP', { type: 'hash:ip,port', family: 'inet', entries: ['10.96.0.10,tcp:80', '10.96.0.11,udp:53'] }), [
    'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
    'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
    'add KUBE-CLUSTER-IP 10.96.0.11,udp:53',
  ]);
  assert.deepEqual(ipsetSaveLines('KUBE-6-NODE-PORT-TCP', { type: 'bitmap:port', family: 'inet6', entries: ['30080'] }), [
    'create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535',
    'add KUBE-6-NODE-PORT-TCP 30080',
  ]);
});

test('the whole state prints in sections, each headed by a comment line', () => {
  const state: NodeState = emptyNodeState();
  state.ipvs.push(vs({ realServers: [{ address: '10.244.1.5', port: 8080, weight: 1 }] }));
  state.addresses['kube-ipvs0'].push('10.96.0.10', 'fd00::a');
  state.ipsets['KUBE-CLUSTER-IP'] = { type: 'hash:ip,port', family: 'inet', entries: ['10.96.0.10,tcp:80'] };
  state.iptables.ipv4.nat = '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n';
  state.iptables.ipv4.filter = '*filter\n:KUBE-FORWARD - [0:0]\nCOMMIT\n';
  state.iptables.ipv6.nat = '*nat\nCOMMIT\n';
  state.diagnostics.push({ object: 'default/bad', kind: 'Service', message: 'clusterIP "x" is not an IP' }, { object: 'ns/s', message: 'no ports' });
  assert.equal(
    formatNodeStateText(state),
    [
      '# IPVS: 1 virtual servers (ipvsadm -Sn)',
      '-A -t 10.96.0.10:80 -s rr',
      '-a -t 10.96.0.10:80 -r 10.244.1.5:8080 -m -w 1',
      '# ipsets: 1 sets (ipset save)',
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80',
      '# iptables, IPv4 (iptables-save)',
      '*nat',
      ':KUBE-SERVICES - [0:0]',
      'COMMIT',
      '*filter',
      ':KUBE-FORWARD - [0:0]',
      'COMMIT',
      '# iptables, IPv6 (ip6tables-save)',
      '*nat',
      'COMMIT',
      '# kube-ipvs0: 2 addresses (ip address show dev kube-ipvs0)',
      'inet 10.96.0.10/32',
      'inet6 fd00::a/128',
      '# diagnostics: 2',
      'Service default/bad: clusterIP "x" is not an IP',
      'ns/s: no ports',
      '',
    ].join('\n'),
  );
});
