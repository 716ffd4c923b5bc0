// Partial (event-driven) plans.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { computePlan, mergeScopes, scopeOf } from '../../src/plan/index.js';
import { ids, ipset, rs, state, vs } from './helpers.js';

// Kernel: services A (10.96.0.1) and B (10.96.0.2). Event: A changed its port 80 -> 8080 and got a new
// endpoint. Meanwhile B drifted in the kernel (an extra real server) — a scoped sync must not touch it.
const A_before = state({ ipvs: [vs('TCP', '10.96.0.1', 80, [rs('10.244.0.1', 80)])], addresses: ['10.96.0.1'], ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.1,tcp:80']) } });
const A_after = state({ ipvs: [vs('TCP', '10.96.0.1', 8080, [rs('10.244.0.1', 80), rs('10.244.0.2', 80)])], addresses: ['10.96.0.1'], ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.1,tcp:8080']) } });
const observed = state({
  ipvs: [vs('TCP', '10.96.0.1', 80, [rs('10.244.0.1', 80)]), vs('TCP', '10.96.0.2', 80, [rs('10.244.0.5', 80), rs('10.244.0.6', 80)])],
  addresses: ['10.96.0.1', '10.96.0.2', '10.96.0.77'],
  ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80', '10.96.0.77,tcp:1']) },
});
const desired = state({
  ipvs: [vs('TCP', '10.96.0.1', 8080, [rs('10.244.0.1', 80), rs('10.244.0.2', 80)]), vs('TCP', '10.96.0.2', 80, [rs('10.244.0.5', 80)])],
  addresses: ['10.96.0.1', '10.96.0.2'],
  ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.1,tcp:8080', '10.96.0.2,tcp:80']) },
});

test('scopeOf covers what a changed Service added, changed and dropped', () => {
  const scope = scopeOf(A_before, A_after);
  assert.deepEqual(scope, {
    virtualServers: ['TCP/10.96.0.1:80', 'TCP/10.96.0.1:8080'],
    addresses: ['10.96.0.1'],
    ipsetEntries: ['KUBE-CLUSTER-IP 10.96.0.1,tcp:80', 'KUBE-CLUSTER-IP 10.96.0.1,tcp:8080'],
  });
});

test('a scoped plan reconciles only the changed Service; drift elsewhere waits for the full sync', () => {
  const scoped = computePlan(desired, observed, { scope: scopeOf(A_before, A_after), gracefulTermination: false });
  assert.deepEqual(ids(scoped.ops), [
    'ipset-add KUBE-CLUSTER-IP 10.96.0.1,tcp:8080',
    'add-service TCP/10.96.0.1:8080',
    'add-real-server TCP/10.96.0.1:8080/10.244.0.1:80',
    'add-real-server TCP/10.96.0.1:8080/10.244.0.2:80',
    'del-service TCP/10.96.0.1:80',
    'ipset-del KUBE-CLUSTER-IP 10.96.0.1,tcp:80',
  ]);
  const full = computePlan(desired, observed, { gracefulTermination: false });
  assert.ok(ids(full.ops).includes('del-real-server TCP/10.96.0.2:80/10.244.0.6:80'));
  assert.ok(ids(full.ops).includes('del-address kube-ipvs0 10.96.0.77'));
  assert.ok(ids(full.ops).includes('ipset-del KUBE-CLUSTER-IP 10.96.0.77,tcp:1'));
});

test('a shared address stays when one of the Services using it goes (the scope holds it, desired still wants it)', () => {
  const B_gone = state({ ipvs: [vs('UDP', '10.96.0.1', 53)], addresses: ['10.96.0.1'] });
  const obs = state({ ipvs: [vs('TCP', '10.96.0.1', 8080), vs('UDP', '10.96.0.1', 53)], addresses: ['10.96.0.1'] });
  const want = state({ ipvs: [vs('TCP', '10.96.0.1', 8080)], addresses: ['10.96.0.1'] });
  assert.deepEqual(ids(computePlan(want, obs, { scope: scopeOf(B_gone) }).ops), ['del-service UDP/10.96.0.1:53']);
});

test('scope keys are canonicalised (IPv6 spelling, protocol case, entry spelling)', () => {
  const obs = state({ ipvs: [vs('TCP', 'fd00::a', 80)], addresses: ['fd00::a'], ipsets: { 'KUBE-6-CLUSTER-IP': ipset('hash:ip,port', ['fd00::a,tcp:80'], 'inet6') } });
  const want = state({ ipsets: { 'KUBE-6-CLUSTER-IP': ipset('hash:ip,port', [], 'inet6') } });
  const plan = computePlan(want, obs, { scope: { virtualServers: ['tcp/[FD00:0::A]:80'], addresses: ['FD00::A'], ipsetEntries: ['KUBE-6-CLUSTER-IP FD00::A,80'] } });
  assert.deepEqual(ids(plan.ops), ['del-service TCP/[fd00::a]:80', 'del-address kube-ipvs0 fd00::a', 'ipset-del KUBE-6-CLUSTER-IP fd00::a,tcp:80']);
});

test('an empty scope plans nothing but missing sets and iptables; iptables: false leaves tables out too', () => {
  const NAT = '*nat\n:KUBE-SERVICES - [0:0]\nCOMMIT\n';
  const want = state({ ipvs: [vs('TCP', '10.96.0.1', 80)], addresses: ['10.96.0.1'], ipsets: { 'KUBE-CLUSTER-IP': ipset('hash:ip,port', ['10.96.0.1,tcp:80']) }, iptables: { ipv4: { nat: NAT, filter: '' } } });
  assert.deepEqual(ids(computePlan(want, state(), { scope: {} }).ops), ['ipset-create KUBE-CLUSTER-IP', 'iptables-restore ipv4 nat', 'ensure-jump-rules ipv4 nat']);
  assert.deepEqual(ids(computePlan(want, state(), { scope: { iptables: false } }).ops), ['ipset-create KUBE-CLUSTER-IP']);
});

test('mergeScopes unions several Services; garbage in a scope is ignored', () => {
  const s = mergeScopes(scopeOf(A_before), scopeOf(A_after), { virtualServers: ['TCP/10.96.0.1:80'] });
  assert.deepEqual(s.virtualServers, ['TCP/10.96.0.1:80', 'TCP/10.96.0.1:8080']);
  const odd = { virtualServers: 42, addresses: 'x', ipsetEntries: [null, 'nospace'] } as never;
  assert.deepEqual(computePlan(desired, observed, { scope: odd }).ops, []);
});
