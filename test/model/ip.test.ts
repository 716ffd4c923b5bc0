import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalIP, parseCIDR, formatCIDR, cidrContains, parseIP, compareIPs, joinHostPort, isLoopback, isLinkLocalUnicast, inAnyCIDR, formatIP,
} from '../../src/model/ip.js';

test('canonicalIP: IPv4, sloppy leading zeros, IPv4-mapped IPv6', () => {
  const cases: [string, string | undefined][] = [
    ['10.96.0.10', '10.96.0.10'],
    ['010.001.002.003', '10.1.2.3'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['256.1.1.1', undefined],
    ['1.2.3', undefined],
    ['1.2.3.4.5', undefined],
    ['', undefined],
    ['abc', undefined],
    ['1.2.3.-4', undefined],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, input);
});

test('canonicalIP: IPv6 compressed lower case (RFC 5952)', () => {
  const cases: [string, string | undefined][] = [
    ['2001:DB8::1', '2001:db8::1'],
    ['2001:0db8:0000:0000:0000:0000:0000:0001', '2001:db8::1'],
    ['2001:db8:0:1:0:0:0:1', '2001:db8:0:1::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['::', '::'],
    ['::1', '::1'],
    ['fe80::1:2', 'fe80::1:2'],
    ['1:2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8'],
    ['1:0:3:4:5:6:7:8', '1:0:3:4:5:6:7:8'],
    ['64:ff9b::1.2.3.4', '64:ff9b::102:304'],
    ['1::2::3', undefined],
    ['1:2:3:4:5:6:7:8:9', undefined],
    ['12345::', undefined],
    ['fe80::1%eth0', undefined],
  ];
  for (const [input, want] of cases) assert.equal(canonicalIP(input), want, input);
});

test('non-string input is not an address', () => {
  for (const v of [undefined, null, 42, {}, ['1.2.3.4']]) assert.equal(canonicalIP(v), undefined);
});

test('parseCIDR clears host bits and rejects bad prefixes', () => {
  assert.equal(formatCIDR(parseCIDR('10.1.2.3/8')!), '10.0.0.0/8');
  assert.equal(formatCIDR(parseCIDR('2001:db8::1/64')!), '2001:db8::/64');
  assert.equal(formatCIDR(parseCIDR('0.0.0.0/0')!), '0.0.0.0/0');
  assert.equal(parseCIDR('10.0.0.0/33'), undefined);
  assert.equal(parseCIDR('::/129'), undefined);
  assert.equal(parseCIDR('10.0.0.0'), undefined);
  assert.equal(parseCIDR('10.0.0.0/a'), undefined);
});

test('cidrContains respects family and prefix', () => {
  const c = parseCIDR('10.96.0.0/12')!;
  assert.ok(cidrContains(c, parseIP('10.96.0.10')!));
  assert.ok(cidrContains(c, parseIP('10.111.255.255')!));
  assert.ok(!cidrContains(c, parseIP('10.112.0.0')!));
  assert.ok(!cidrContains(c, parseIP('::ffff:10.1.1.1')! /* mapped = 10.1.1.1, outside */));
  assert.ok(!cidrContains(parseCIDR('::/0')!, parseIP('1.2.3.4')!));
  assert.ok(inAnyCIDR('fd00::5', [parseCIDR('10.0.0.0/8'), parseCIDR('fd00::/8')]));
  assert.ok(!inAnyCIDR('not-an-ip', [parseCIDR('0.0.0.0/0')]));
});

test('loopback, link-local, host:port, ordering', () => {
  assert.ok(isLoopback(parseIP('127.0.0.53')!));
  assert.ok(isLoopback(parseIP('::1')!));
  assert.ok(!isLoopback(parseIP('::2')!));
  assert.ok(isLinkLocalUnicast(parseIP('fe80::1')!));
  assert.ok(isLinkLocalUnicast(parseIP('169.254.1.1')!));
  assert.ok(!isLinkLocalUnicast(parseIP('fec0::1')!));
  assert.equal(joinHostPort('fd00::1', 80), '[fd00::1]:80');
  assert.equal(joinHostPort('10.0.0.1', 80), '10.0.0.1:80');
  const sorted = ['fd00::1', '10.0.0.10', '10.0.0.9', '9.255.255.255', '::1'].sort(compareIPs);
  assert.deepEqual(sorted, ['9.255.255.255', '10.0.0.9', '10.0.0.10', '::1', 'fd00::1']);
  assert.equal(formatIP(new Uint8Array(16).fill(0).map((_, i) => (i === 10 || i === 11 ? 0xff : i === 15 ? 7 : 0))), '0.0.0.7');
});
