// The permissions kube-ipvs needs, as flat "group/resource:verb" grants, shared by the deploy/ and chart tests.

import assert from 'node:assert/strict';
import { isObject, type Json } from './repo.js';

/** Reads Services, EndpointSlices and Nodes (informers: list+watch, get for single lookups); records Events. */
export const EXPECTED_GRANTS: readonly string[] = [
  'core/events:create',
  'core/events:patch',
  'core/nodes:get',
  'core/nodes:list',
  'core/nodes:watch',
  'core/services:get',
  'core/services:list',
  'core/services:watch',
  'discovery.k8s.io/endpointslices:get',
  'discovery.k8s.io/endpointslices:list',
  'discovery.k8s.io/endpointslices:watch',
  'events.k8s.io/events:create',
  'events.k8s.io/events:patch',
];

/** The rules of a Role/ClusterRole as a sorted list of grants; fails on resourceNames / nonResourceURLs. */
export function grants(rules: Json | undefined): string[] {
  assert.ok(Array.isArray(rules), 'rules is a list');
  const out = new Set<string>();
  for (const rule of rules) {
    assert.ok(isObject(rule), 'a rule is a mapping');
    assert.equal(rule['resourceNames'], undefined, 'no resourceNames');
    assert.equal(rule['nonResourceURLs'], undefined, 'no nonResourceURLs');
    const groups = rule['apiGroups'] as string[];
    const resources = rule['resources'] as string[];
    const verbs = rule['verbs'] as string[];
    for (const g of groups) for (const r of resources) for (const v of verbs) out.add(`${g === '' ? 'core' : g}/${r}:${v}`);
  }
  return [...out].sort();
}
