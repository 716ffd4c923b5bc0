// The in-memory kernel model follows the drivers' idempotency contract and the kernel's refusals.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyOps, ops } from '../../src/plan/index.js';
import { ipset, rs, state, vs } from './helpers.js';

const V = { protocol: 'TCP' as const, address: '10.96.0.10', port: 80 };

test('adds of existing objects and deletes of missing ones succeed without change', () => {
  const s = state({ ipvs: [vs('TCP', '10.96.0.10', 80, [rs('10.244.0.1', 80, 3)])], addresses: ['10.96.0.10'], ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip', ['10.96.0.10']) } });
  const r = applyOps(s, [
    ops.addService({ ...V, scheduler: 'wrr', flags: 0, timeout: 0 }),
    ops.addRealServer(V, { address: '10.244.0.1', port: 80, weight: 1 }),
    ops.addAddress('10.96.0.10'),
    ops.ipsetCreate('KUBE-IPVS-IPS', 'hash:ip', 'inet'),
    ops.ipsetAdd('KUBE-IPVS-IPS', '10.96.0.10'),
    ops.delService({ ...V, port: 81 }),
    ops.delRealServer(V, { address: '10.244.0.9', port: 80 }, 'removed'),
    ops.delAddress('10.96.0.11'),
    ops.ipsetDel('KUBE-IPVS-IPS', '10.96.0.11'),
    ops.ipsetDel('KUBE-NOPE', '1'),
  ]);
  assert.deepEqual(r.failed, []);
  assert.equal(r.state.ipvs[0]!.scheduler, 'rr');
  assert.equal(r.state.ipvs[0]!.realServers[0]!.weight, 3);
  assert.deepEqual(r.state.addresses['kube-ipvs0'], ['10.96.0.10']);
});

test('the kernel refuses what ordering must prevent', () => {
  const r = applyOps(state({ ipsets: { 'KUBE-IPVS-IPS': ipset('hash:ip', []) }, iptables: { ipv4: { nat: '', filter: '-A X -m set --match-set KUBE-IPVS-IPS dst -j REJECT\n' } } }), [
    ops.ipsetAdd('KUBE-CLUSTER-IP', '10.96.0.10,tcp:80'),
    ops.addRealServer(V, { address: '10.244.0.1', port: 80, weight: 1 }),
    ops.editService({ ...V, scheduler: 'rr', flags: 0, timeout: 0 }, { scheduler: 'wrr', flags: 0, timeout: 0 }),
    ops.editRealServer(V, { address: '10.244.0.1', port: 80, weight: 0 }, 1, 'drain'),
    ops.iptablesRestore('ipv4', 'nat', '-A KUBE-SERVICES -m set --match-set KUBE-CLUSTER-IP dst,dst -j ACCEPT\n'),
    ops.ipsetDestroy('KUBE-IPVS-IPS'),
    ops.ipsetCreate('KUBE-IPVS-IPS', 'hash:ip,port', 'inet'),
  ]);
  assert.equal(r.failed.length, 7);
  assert.deepEqual(r.applied, []);
  assert.match(r.errors.map((e) => e.message).join('\n'), /set KUBE-CLUSTER-IP does not exist[^]*in use by ipv4 filter rules[^]*exists with type hash:ip inet/);
});

test('the simulator does not mutate its input', () => {
  const s = state({ addresses: ['10.96.0.10'] });
  const before = structuredClone(s);
  applyOps(s, [ops.delAddress('10.96.0.10'), ops.addAddress('10.96.0.11')]);
  assert.deepEqual(s, before);
});
