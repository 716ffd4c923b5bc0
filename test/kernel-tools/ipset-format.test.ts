// ipset text handling: canonical entries (desired == observed), `ipset save` parsing (as ipset 7.17 prints
// it), kube-proxy's create arguments and version check, and the restore script.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  buildIpsetRestoreScript,
  canonicalIpsetEntry,
  ipsetCreateArgs,
  ipsetHeaderMatches,
  ipsetRestoreErrorLine,
  ipsetVersionSupported,
  mismatchedSets,
  observedIpsetState,
  parseIpsetSave,
  parseIpsetVersionOutput,
  type SavedIpset,
} from '../../src/kernel/ipset-format.js';
import type { IpsetState, IpsetType } from '../../src/model/state.js';

describe('canonicalIpsetEntry', () => {
  const ok: [IpsetType, 'inet' | 'inet6', string, string][] = [
    ['hash:ip', 'inet', '10.0.0.1', '10.0.0.1'],
    ['hash:ip', 'inet', '010.000.000.001', '10.0.0.1'],
    ['hash:ip', 'inet6', '2001:DB8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['hash:ip,port', 'inet', '10.0.0.1,TCP:80', '10.0.0.1,tcp:80'],
    ['hash:ip,port', 'inet', '10.0.0.1,80', '10.0.0.1,tcp:80'],
    ['hash:ip,port', 'inet', '100.101.102.103,sctp:3001', '100.101.102.103,sctp:3001'],
    ['hash:ip,port', 'inet6', 'fd00::0:a,udp:53', 'fd00::a,udp:53'],
    ['hash:ip,port,ip', 'inet', '10.0.1.1,udp:53,10.0.1.1', '10.0.1.1,udp:53,10.0.1.1'],
    // ipset save prints a full-length net without its prefix; kube-proxy writes it with one
    ['hash:ip,port,net', 'inet', '1.2.3.4,tcp:80,10.0.0.1', '1.2.3.4,tcp:80,10.0.0.1/32'],
    ['hash:ip,port,net', 'inet', '1.2.3.4,tcp:80,10.0.0.1/32', '1.2.3.4,tcp:80,10.0.0.1/32'],
    ['hash:ip,port,net', 'inet', '1.2.3.4,tcp:80,10.0.0.5/24', '1.2.3.4,tcp:80,10.0.0.0/24'],
    ['hash:ip,port,net', 'inet6', '2001:db8::1,tcp:80,2001:db8::5', '2001:db8::1,tcp:80,2001:db8::5/128'],
    ['hash:ip,port,net', 'inet6', '2001:db8::1,tcp:80,2001:db8::5/64', '2001:db8::1,tcp:80,2001:db8::/64'],
    ['bitmap:port', 'inet', '30000', '30000'],
    ['bitmap:port', 'inet6', '0', '0'],
    ['bitmap:port', 'inet', '65535', '65535'],
  ];
  for (const [type, family, input, want] of ok) {
    it(`${type} ${family} ${input} -> ${want}`, () => assert.equal(canonicalIpsetEntry(type, family, input), want));
  }

  const bad: [IpsetType, 'inet' | 'inet6', string][] = [
    ['hash:ip', 'inet', 'fd00::1'], // wrong family
    ['hash:ip', 'inet6', '::ffff:1.2.3.4'], // IPv4-mapped belongs to the IPv4 proxier
    ['hash:ip', 'inet', '10.0.0.1,tcp:80'],
    ['hash:ip,port', 'inet', '10.0.0.1,icmp:80'],
    ['hash:ip,port', 'inet', '10.0.0.1,tcp:65536'],
    ['hash:ip,port', 'inet', 'nonsense,tcp:80'],
    ['hash:ip,port,ip', 'inet', '10.0.0.1,tcp:80'],
    ['hash:ip,port,net', 'inet', '1.2.3.4,tcp:80,0.0.0.0/0'], // the kernel refuses a zero prefix
    ['hash:ip,port,net', 'inet6', '2001:db8::1,tcp:80,::/0'],
    ['bitmap:port', 'inet', '-1'],
    ['bitmap:port', 'inet', '70000'],
    ['bitmap:port', 'inet', 'tcp:80'],
  ];
  for (const [type, family, input] of bad) {
    it(`${type} ${family} rejects ${input}`, () => assert.equal(canonicalIpsetEntry(type, family, input), undefined));
  }
});

// As ipset v7.17 printed it on the 6.18 host kernel.
const SAVE = `create KUBE-LOOP-BACK hash:ip,port,ip family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x728fc1cc
add KUBE-LOOP-BACK 10.0.1.1,udp:53,10.0.1.1
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x9af04d6b
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/24
add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.1
create KUBE-NODE-PORT-TCP bitmap:port range 0-65535
add KUBE-NODE-PORT-TCP 3001
create KUBE-6-IPVS-IPS hash:ip family inet6 hashsize 1024 maxelem 65536 bucketsize 12 initval 0x89473b73
add KUBE-6-IPVS-IPS ::ffff:1.2.3.4
add KUBE-6-IPVS-IPS 2001:db8:0:1::1
create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 100 bucketsize 12 initval 0x1
create foreign hash:net family inet hashsize 4096 maxelem 65536 timeout 300
add foreign 10.0.0.0/8 timeout 100
`;

describe('parseIpsetSave / observedIpsetState', () => {
  const sets = parseIpsetSave(SAVE);

  it('reads every set with its header and elements', () => {
    assert.deepEqual([...sets.keys()], ['KUBE-LOOP-BACK', 'KUBE-LOAD-BALANCER-SOURCE-CIDR', 'KUBE-NODE-PORT-TCP', 'KUBE-6-IPVS-IPS', 'KUBE-CLUSTER-IP', 'foreign']);
    assert.equal(sets.get('KUBE-NODE-PORT-TCP')?.family, undefined);
    assert.equal(sets.get('KUBE-6-IPVS-IPS')?.family, 'inet6');
    assert.deepEqual(sets.get('foreign')?.elements, ['10.0.0.0/8']);
  });

  it('gives entries in the desired-state form, sorted', () => {
    assert.deepEqual(observedIpsetState(sets.get('KUBE-LOAD-BALANCER-SOURCE-CIDR')!), {
      type: 'hash:ip,port,net', family: 'inet', entries: ['1.2.3.4,tcp:80,10.0.0.0/24', '1.2.3.4,tcp:80,10.0.0.1/32'],
    });
    assert.deepEqual(observedIpsetState(sets.get('KUBE-NODE-PORT-TCP')!), { type: 'bitmap:port', family: 'inet', entries: ['3001'] });
  });

  it('keeps entries it cannot canonicalise verbatim (so they can be deleted by their own text)', () => {
    assert.deepEqual(observedIpsetState(sets.get('KUBE-6-IPVS-IPS')!)?.entries, ['::ffff:1.2.3.4', '2001:db8:0:1::1']);
  });

  it('sorts entries in the NodeState order of model/order.ts: address bytes, then protocol TCP, UDP, SCTP, then port', () => {
    const saved = parseIpsetSave([
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 10.96.0.10,sctp:9', 'add KUBE-CLUSTER-IP 10.96.0.9,udp:53', 'add KUBE-CLUSTER-IP 10.96.0.10,tcp:443',
      'add KUBE-CLUSTER-IP 10.96.0.10,tcp:80', 'add KUBE-CLUSTER-IP 9.0.0.1,tcp:1',
      'create KUBE-NODE-PORT-TCP bitmap:port range 0-65535', 'add KUBE-NODE-PORT-TCP 30000', 'add KUBE-NODE-PORT-TCP 8080',
    ].join('\n')).get('KUBE-CLUSTER-IP')!;
    assert.deepEqual(observedIpsetState(saved)?.entries, ['9.0.0.1,tcp:1', '10.96.0.9,udp:53', '10.96.0.10,tcp:80', '10.96.0.10,tcp:443', '10.96.0.10,sctp:9']);
  });

  it('has no state for a type kube-proxy never uses', () => {
    assert.equal(observedIpsetState(sets.get('foreign')!), undefined);
  });

  it('header match ignores hashsize, bucketsize and initval but not maxelem, family, type or extensions', () => {
    assert.equal(ipsetHeaderMatches(sets.get('KUBE-LOOP-BACK')!, 'hash:ip,port,ip', 'inet'), true);
    assert.equal(ipsetHeaderMatches(sets.get('KUBE-LOOP-BACK')!, 'hash:ip,port,ip', 'inet6'), false);
    assert.equal(ipsetHeaderMatches(sets.get('KUBE-LOOP-BACK')!, 'hash:ip,port', 'inet'), false);
    assert.equal(ipsetHeaderMatches(sets.get('KUBE-NODE-PORT-TCP')!, 'bitmap:port', 'inet6'), true);
    assert.equal(ipsetHeaderMatches(sets.get('KUBE-CLUSTER-IP')!, 'hash:ip,port', 'inet'), false);
    const withTimeout = parseIpsetSave('create KUBE-IPVS-IPS hash:ip family inet hashsize 1024 maxelem 65536 timeout 0\n').get('KUBE-IPVS-IPS')!;
    assert.equal(ipsetHeaderMatches(withTimeout, 'hash:ip', 'inet'), false);
    const oldKernel = parseIpsetSave('create KUBE-IPVS-IPS hash:ip family inet hashsize 4096 maxelem 65536\n').get('KUBE-IPVS-IPS')!;
    assert.equal(ipsetHeaderMatches(oldKernel, 'hash:ip', 'inet'), true);
  });
});

describe('kube-proxy create arguments', () => {
  it('hash types get family, hashsize 1024, maxelem 65536; bitmap:port gets range 0-65535', () => {
    assert.deepEqual(ipsetCreateArgs('hash:ip,port', 'inet6'), ['hash:ip,port', 'family', 'inet6', 'hashsize', '1024', 'maxelem', '65536']);
    assert.deepEqual(ipsetCreateArgs('hash:ip', 'inet'), ['hash:ip', 'family', 'inet', 'hashsize', '1024', 'maxelem', '65536']);
    assert.deepEqual(ipsetCreateArgs('bitmap:port', 'inet6'), ['bitmap:port', 'range', '0-65535']);
  });
});

describe('version check (kube-proxy TestCheckIPSetVersion)', () => {
  const table: [string, boolean][] = [
    ['4.0', false], ['5.1', false], ['5.1.2', false], ['7', false], ['total junk', false],
    ['6.0', true], ['6.1', true], ['6.19', true], ['7.0', true], ['8.1.2', true], ['9.3.4.0', true], ['v7.17', true],
  ];
  for (const [v, want] of table) it(`${v} -> ${want}`, () => assert.equal(ipsetVersionSupported(v), want));

  it('reads the version word as kube-proxy does', () => {
    assert.equal(parseIpsetVersionOutput('ipset v7.17, protocol version: 7\n'), 'v7.17');
    assert.equal(parseIpsetVersionOutput('garbage'), undefined);
  });
});

describe('buildIpsetRestoreScript', () => {
  const saved = parseIpsetSave(SAVE);
  const only = (names: string[]) => new Map([...saved].filter(([n]) => names.includes(n)));
  const swapName = (n: string) => `TMP-${n}`;

  it('creates a missing set with kube-proxy arguments and adds its entries', () => {
    const s = buildIpsetRestoreScript({
      desired: { 'KUBE-6-NODE-PORT-TCP': { type: 'bitmap:port', family: 'inet6', entries: ['30001', '30000'] } },
      saved: new Map(), replacement: new Map(), swapName,
    });
    assert.deepEqual(s.lines, ['create KUBE-6-NODE-PORT-TCP bitmap:port range 0-65535', 'add KUBE-6-NODE-PORT-TCP 30000', 'add KUBE-6-NODE-PORT-TCP 30001']);
    assert.deepEqual(s.created, ['KUBE-6-NODE-PORT-TCP']);
  });

  it('adds the missing and deletes the superfluous entries of a matching set, in one script', () => {
    const s = buildIpsetRestoreScript({
      desired: { 'KUBE-LOAD-BALANCER-SOURCE-CIDR': { type: 'hash:ip,port,net', family: 'inet', entries: ['1.2.3.4,tcp:80,10.0.0.1/32', '1.2.3.4,tcp:443,10.0.0.0/8'] } },
      saved: only(['KUBE-LOAD-BALANCER-SOURCE-CIDR']), replacement: new Map(), swapName,
    });
    assert.deepEqual(s.lines, [
      'add KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:443,10.0.0.0/8',
      'del KUBE-LOAD-BALANCER-SOURCE-CIDR 1.2.3.4,tcp:80,10.0.0.0/24',
    ]);
    assert.equal(s.added, 1);
    assert.equal(s.deleted, 1);
  });

  it('is empty when desired equals observed, whatever the spelling of the desired entries', () => {
    const s = buildIpsetRestoreScript({
      desired: {
        'KUBE-LOOP-BACK': { type: 'hash:ip,port,ip', family: 'inet', entries: ['10.0.1.1,UDP:53,10.0.1.1'] },
        'KUBE-LOAD-BALANCER-SOURCE-CIDR': { type: 'hash:ip,port,net', family: 'inet', entries: ['1.2.3.4,tcp:80,10.0.0.1/32', '1.2.3.4,tcp:80,10.0.0.9/24'] },
        'KUBE-NODE-PORT-TCP': { type: 'bitmap:port', family: 'inet', entries: ['3001'] },
      },
      saved, replacement: new Map(), swapName,
    });
    assert.deepEqual(s.lines, []);
  });

  it('skips invalid desired entries and reports them', () => {
    const s = buildIpsetRestoreScript({
      desired: { 'KUBE-LOOP-BACK': { type: 'hash:ip,port,ip', family: 'inet', entries: ['10.0.1.1,udp:53,10.0.1.1', 'fd00::1,tcp:1,fd00::1'] } },
      saved: only(['KUBE-LOOP-BACK']), replacement: new Map(), swapName,
    });
    assert.deepEqual(s.lines, []);
    assert.deepEqual(s.invalid, ['KUBE-LOOP-BACK fd00::1,tcp:1,fd00::1']);
  });

  it('deletes an entry the kernel holds in a form we never write by its own text', () => {
    const s = buildIpsetRestoreScript({
      desired: { 'KUBE-6-IPVS-IPS': { type: 'hash:ip', family: 'inet6', entries: ['2001:db8:0:1::1'] } },
      saved: only(['KUBE-6-IPVS-IPS']), replacement: new Map(), swapName,
    });
    assert.deepEqual(s.lines, ['del KUBE-6-IPVS-IPS ::ffff:1.2.3.4']);
  });

  it('recreates or swaps a set with a wrong header, as the driver decided', () => {
    const desired: Record<string, IpsetState> = { 'KUBE-CLUSTER-IP': { type: 'hash:ip,port', family: 'inet', entries: ['10.96.0.1,tcp:443'] } };
    assert.deepEqual(mismatchedSets(desired, saved), ['KUBE-CLUSTER-IP']);
    const recreate = buildIpsetRestoreScript({ desired, saved, replacement: new Map([['KUBE-CLUSTER-IP', 'recreate']]), swapName });
    assert.deepEqual(recreate.lines, [
      'destroy KUBE-CLUSTER-IP',
      'create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add KUBE-CLUSTER-IP 10.96.0.1,tcp:443',
    ]);
    const swap = buildIpsetRestoreScript({ desired, saved, replacement: new Map([['KUBE-CLUSTER-IP', 'swap']]), swapName });
    assert.deepEqual(swap.lines, [
      'create TMP-KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536',
      'add TMP-KUBE-CLUSTER-IP 10.96.0.1,tcp:443',
      'swap TMP-KUBE-CLUSTER-IP KUBE-CLUSTER-IP',
      'destroy TMP-KUBE-CLUSTER-IP',
    ]);
    assert.deepEqual(swap.replaced, [{ name: 'KUBE-CLUSTER-IP', how: 'swap' }]);
  });

  it('destroys leftover temporary sets first', () => {
    const s = buildIpsetRestoreScript({ desired: {}, saved: new Map<string, SavedIpset>(), replacement: new Map(), swapName, leftovers: ['KUBE-IPVS-SWAP-3'] });
    assert.deepEqual(s.lines, ['destroy KUBE-IPVS-SWAP-3']);
  });

  it('reads the failing line number from ipset restore', () => {
    assert.equal(ipsetRestoreErrorLine('ipset v7.17: Error in line 4: The value of the CIDR parameter of the IP address is invalid\n'), 4);
    assert.equal(ipsetRestoreErrorLine('ipset v7.17: The set with the given name does not exist\n'), undefined);
  });
});
