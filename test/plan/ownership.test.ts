import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, ownershipOf } from '../../src/plan/index.js';
import type { PlanOptions } from '../../src/plan/index.js';
import { ids, ipset, rs, state, vs } from './helpers.js';

const options: PlanOptions = { excludeCIDRs: ['172.16.0.0/16', 'fd99::/64'], nodeAddresses: ['192.168.1.10', '2001:db8::10'] };

interface OwnCase {
  name: string;
  observed: ReturnType<typeof state>;
  want: string[];
}
const cases: OwnCase[] = [
  {
    name: 'a foreign virtual server (address neither on kube-ipvs0 nor a node address) survives',
    observed: state({ ipvs: [vs('TCP', '203.0.113.5', 443, [rs('10.1.1.1', 443, 3)], { scheduler: 'wlc' })] }),
    want: [],
  },
  {
    name: 'a virtual server in an exclude CIDR survives with its real servers, even on kube-ipvs0',
    observed: state({ ipvs: [vs('UDP', '172.16.0.1', 53, [rs('10.1.1.2', 53), rs('10.1.1.3', 53, 0)])], addresses: ['172.16.0.1'] }),
    want: [],
  },
  {
    name: 'an IPv6 virtual server in an exclude CIDR survives',
    observed: state({ ipvs: [vs('TCP', 'fd99::5', 80, [rs('fd01::1', 80)])], addresses: [], ipsets: { 'KUBE-6-IPVS-IPS': ipset('hash:ip', ['fd99::5'], 'inet6') } }),
    want: [],
  },
  {
    name: 'a virtual server on a kube-ipvs0 address is ours: deleted, then the address',
    observed: state({ ipvs: [vs('TCP', '10.96.0.10', 80, [rs('10.244.1.1', 80)])], addresses: ['10.96.0.10'] }),
    want: ['del-service TCP/10.96.0.10:80', 'del-address kube-ipvs0 10.96.0.10'],
  },
  {
    name: 'a KUBE-IPVS-IPS member marks a virtual server as ours even when the address is gone from kube-ipvs0',
    observed: state({ ipvs: [vs('TCP', '10.96.0.11', 80)], ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.11']) } }),
    want: ['del-service TCP/10.96.0.11:80'],
  },
  {
    name: 'a NodePort virtual server on a node address is ours',
    observed: state({ ipvs: [vs('TCP', '192.168.1.10', 30080, [rs('10.244.1.1', 80)]), vs('SCTP', '2001:db8::10', 30081)] }),
    want: ['del-service TCP/192.168.1.10:30080', 'del-service SCTP/[2001:db8::10]:30081'],
  },
  {
    name: 'a link-local IPv6 address on kube-ipvs0 survives; a stale service address goes',
    observed: state({ addresses: ['fe80::1c2d:3eff:fe4f:5a6b', '10.96.0.12'] }),
    want: ['del-address kube-ipvs0 10.96.0.12'],
  },
  {
    name: 'an address in an exclude CIDR on kube-ipvs0 survives',
    observed: state({ addresses: ['172.16.3.4', 'fd99::1'] }),
    want: [],
  },
  {
    name: 'a non-KUBE set is never touched, its members neither',
    observed: state({ ipsets: { 'my-set': ipset('hash:ip', ['1.2.3.4']), 'cali40all-ipam-pools': ipset('hash:ip', ['10.0.0.1']) } }),
    want: [],
  },
  {
    name: 'a KUBE set that is not desired at all (other family, legacy) is left to --cleanup',
    observed: state({ ipsets: { 'KUBE-NODE-PORT-SCTP': ipset('bitmap:port', ['30000']), 'KUBE-6-CLUSTER-IP': ipset('hash:ip,port', ['fd00::1,tcp:80'], 'inet6') } }),
    want: [],
  },
];
for (const c of cases) {
  test(`ownership: ${c.name}`, () => {
    const desired = state({ ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip', []) } });
    // Same KUBE-IPVS-IPS on both sides unless the case sets its own: only the case's objects differ.
    const observed = structuredClone(c.observed);
    observed.ipsets['KUBE-IPVS-IPS'] ??= ipset('hash:ip', []);
    const plan = computePlan(desired, observed, options);
    const planned = ids(plan.ops).filter((id) => !id.startsWith('ipset-del KUBE-IPVS-IPS'));
    assert.deepEqual(planned, c.want);
  });
}

test('ownership: a desired non-KUBE set is refused with a diagnostic', () => {
  const plan = computePlan(state({ ipsets: { 'my-set': ipset('hash:ip', ['1.2.3.4']) } }), state(), options);
  assert.deepEqual(plan.ops, []);
  assert.match(plan.diagnostics.map((d) => `${d.object}: ${d.message}`).join('\n'), /my-set: desired: set is not KUBE-\*/);
});

test('ownership: a desired virtual server in an exclude CIDR is still managed (only deletion is guarded)', () => {
  const observed = state({ ipvs: [vs('TCP', '172.16.0.1', 80, [rs('10.1.1.1', 80)])] });
  const desired = state({ ipvs: [vs('TCP', '172.16.0.1', 80, [rs('10.1.1.2', 80)])] });
  const { ops } = computePlan(desired, observed, { ...options, gracefulTermination: false });
  assert.deepEqual(ids(ops), ['add-real-server TCP/172.16.0.1:80/10.1.1.2:80', 'del-real-server TCP/172.16.0.1:80/10.1.1.1:80']);
});

test('ownership: exclusion wins over a node address and over kube-ipvs0', () => {
  const own = ownershipOf(state({ addresses: ['172.16.0.9'] }), { excludeCIDRs: ['172.16.0.0/16'], nodeAddresses: ['172.16.0.8'] });
  assert.equal(own.ownsVirtualServerAddress('172.16.0.9'), false);
  assert.equal(own.ownsVirtualServerAddress('172.16.0.8'), false);
  assert.equal(own.isProtectedAddress('172.16.0.9'), true);
});

test('ownership: bad exclude CIDRs and node addresses are ignored, not thrown on', () => {
  const observed = state({ ipvs: [vs('TCP', '10.96.0.10', 80)], addresses: ['10.96.0.10'] });
  const odd = { excludeCIDRs: ['not-a-cidr', '10.0.0.0/99', 42], nodeAddresses: [null, 'x'] } as unknown as PlanOptions;
  assert.deepEqual(ids(computePlan(state(), observed, odd).ops), ['del-service TCP/10.96.0.10:80', 'del-address kube-ipvs0 10.96.0.10']);
});

test('ownership: a virtual server on an address this plan binds becomes ours, its delete waits for the bind', () => {
  const observed = state({ ipvs: [vs('TCP', '10.96.0.30', 443, [rs('10.1.1.1', 443)])] });
  const desired = state({ ipvs: [vs('TCP', '10.96.0.30', 80)], addresses: ['10.96.0.30'] });
  const { ops } = computePlan(desired, observed, options);
  assert.deepEqual(ids(ops), ['ensure-link kube-ipvs0', 'add-address kube-ipvs0 10.96.0.30', 'add-service TCP/10.96.0.30:80', 'del-service TCP/10.96.0.30:443']);
  assert.deepEqual(ops[3]!.dependsOn, ['add-address kube-ipvs0 10.96.0.30']);
  // Without the bind (address not desired) the same virtual server is foreign.
  assert.deepEqual(computePlan(state({ ipvs: [vs('TCP', '10.96.0.30', 80)] }), observed, options).ops.map((o) => o.kind), ['add-service']);
});
