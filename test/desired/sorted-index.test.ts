// The keyed sorted lists behind the builder, against a naive model, and the sort keys of model/order.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RefCountedIndex, SortedIndex } from '../../src/desired/sorted-index.js';
import { toAddr } from '../../src/desired/address.js';
import { compareVirtualServers, ipsetEntrySortKey, ipSortKey, sortByKey, virtualServerSortKey } from '../../src/model/order.js';
import { compute, ep, rng, slice, svc } from './helpers.js';

test('SortedIndex: list() in key order after any mix of set/delete (small and large batches), changes net of cancellations', () => {
  const rand = rng(5);
  const idx = new SortedIndex<number>();
  const model = new Map<string, number>();
  let last = new Map<string, number>();
  for (let round = 0; round < 60; round++) {
    const batch = round % 7 === 0 ? 400 : 1 + Math.floor(rand() * 6); // large batches take the re-sort path
    for (let i = 0; i < batch; i++) {
      const k = `k${Math.floor(rand() * 300).toString().padStart(3, '0')}`;
      if (rand() < 0.6) {
        const v = Math.floor(rand() * 3);
        idx.set(k, v);
        model.set(k, v);
      } else {
        idx.delete(k);
        model.delete(k);
      }
    }
    const keys = [...model.keys()].sort();
    assert.deepEqual(idx.list(), keys.map((k) => model.get(k)));
    assert.equal(idx.list(), idx.list(), 'unchanged: the same array is handed out again');
    const ch = idx.takeChanges((a, b) => a === b);
    const added = keys.filter((k) => !last.has(k)).map((k) => model.get(k));
    const removed = [...last.keys()].filter((k) => !model.has(k)).sort().map((k) => last.get(k));
    const updated = keys.filter((k) => last.has(k) && last.get(k) !== model.get(k)).map((k) => model.get(k));
    assert.deepEqual(ch, { added, removed, updated }, `round ${round}`);
    last = new Map(model);
  }
});

test('RefCountedIndex: a value stays while any owner holds it', () => {
  const r = new RefCountedIndex<string>();
  assert.equal(r.add('a', 'A'), true);
  assert.equal(r.add('a', 'A'), false);
  assert.equal(r.add('a', 'A'), false);
  assert.equal(r.add('b', 'B'), true);
  assert.equal(r.remove('a'), false);
  assert.equal(r.remove('a'), false);
  assert.deepEqual(r.index.list(), ['A', 'B']);
  assert.equal(r.remove('a'), true);
  assert.equal(r.remove('a'), false, 'removing what is not there is a no-op');
  assert.deepEqual(r.index.list(), ['B']);
  const rand = rng(11);
  const counts = new Map<string, number>();
  for (let i = 0; i < 2000; i++) {
    const k = String(Math.floor(rand() * 20));
    if (rand() < 0.55) {
      r.add(k, k);
      counts.set(k, (counts.get(k) ?? 0) + 1);
    } else if ((counts.get(k) ?? 0) > 0) {
      r.remove(k);
      counts.set(k, counts.get(k)! - 1);
    }
    if (i % 50 === 0) assert.deepEqual(r.index.list(), ['B', ...[...counts].filter(([, c]) => c > 0).map(([k]) => k)].sort());
  }
});

test('sort keys: IPv4 before IPv6, numeric address order, protocols TCP, UDP, SCTP; fast and generic keys agree', () => {
  const ips = ['10.0.0.10', '10.0.0.9', '9.255.255.255', 'fd00::1', '2001:db8::1', '::1', '0.0.0.0', '255.255.255.255'];
  assert.deepEqual(sortByKey(ips, ipSortKey), ['0.0.0.0', '9.255.255.255', '10.0.0.9', '10.0.0.10', '255.255.255.255', '::1', '2001:db8::1', 'fd00::1']);
  for (const ip of ips) assert.equal(toAddr(ip)!.key, ipSortKey(ip), ip);
  assert.equal(toAddr('010.1.2.3')!.text, '10.1.2.3', 'sloppy IPv4 is made canonical');
  assert.equal(toAddr('2001:DB8:0::1')!.text, '2001:db8::1');
  const vss = [
    { protocol: 'SCTP', address: '10.0.0.1', port: 1 },
    { protocol: 'UDP', address: '10.0.0.1', port: 1 },
    { protocol: 'TCP', address: '10.0.0.1', port: 100 },
    { protocol: 'TCP', address: '10.0.0.1', port: 20 },
    { protocol: 'TCP', address: 'fd00::1', port: 1 },
  ];
  assert.deepEqual([...vss].sort(compareVirtualServers).map((v) => `${v.protocol}/${v.port}`), ['TCP/20', 'TCP/100', 'UDP/1', 'SCTP/1', 'TCP/1']);
  // The builder's lists are in the order of the generic keys (kernel/ and plan/ can sort observed state alike).
  const st = compute(
    [
      svc('a', { type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/8', '9.0.0.0/8', '192.168.0.0/16'], ports: [{ name: 'u', protocol: 'UDP', port: 53, nodePort: 30053 }, { name: 't', protocol: 'TCP', port: 8080, nodePort: 30001 }, { name: 's', protocol: 'SCTP', port: 99, nodePort: 30099 }], ingress: [{ ip: '203.0.113.10' }, { ip: '203.0.113.9' }] }),
    ],
    [slice('a', [ep('10.244.0.10', { node: 'node-1' }), ep('10.244.0.9', { node: 'node-1' })], { ports: [{ name: 'u', protocol: 'UDP', port: 53 }, { name: 't', protocol: 'TCP', port: 80 }] })],
    { node: { nodeAddresses: ['192.168.1.10', '10.0.0.5', '9.1.1.1'] } },
  );
  const keysOf = st.ipvs.map((v) => virtualServerSortKey(v));
  assert.deepEqual(keysOf, [...keysOf].sort());
  for (const [name, set] of Object.entries(st.ipsets)) {
    const keys = set.entries.map((e) => ipsetEntrySortKey(set.type, e));
    assert.ok(keys.every((k) => !k.startsWith('~')), `${name} entries parse`);
    assert.deepEqual(keys, [...keys].sort(), name);
  }
  assert.ok(st.ipsets['KUBE-NODE-PORT-TCP']!.entries.length === 1 && st.ipsets['KUBE-LOAD-BALANCER-SOURCE-CIDR']!.entries.length === 18);
  assert.deepEqual(st.ipsets['KUBE-NODE-PORT-UDP']!.entries, ['30053']);
  assert.deepEqual(st.ipsets['KUBE-LOAD-BALANCER']!.entries, ['203.0.113.9,tcp:8080', '203.0.113.9,udp:53', '203.0.113.9,sctp:99', '203.0.113.10,tcp:8080', '203.0.113.10,udp:53', '203.0.113.10,sctp:99']);
});
