// explainService agrees with computeDesiredState: for every Service of every golden scenario (and of random
// scenarios) its virtual servers are exactly the plan's virtual servers of that Service, every real server is an
// endpoint row marked included for that port, family and traffic kind (and the other way round), and the
// Services' entries, addresses and rules together are exactly the plan's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import type { ApiEndpoint, ApiEndpointSlice, ApiService } from '../../src/model/api.js';
import { defaultProxyConfig, type ProxyConfig } from '../../src/model/config.js';
import { joinHostPort } from '../../src/model/ip.js';
import type { NodeState } from '../../src/model/state.js';
import { computeDesiredState, type DesiredInput, type NodeContext } from '../../src/desired/index.js';
import { explainService, type Explanation } from '../../src/desired/explain.js';
import { rng } from './helpers.js';

const dir = fileURLToPath(new URL('../../../test/desired/golden/', import.meta.url));

interface Scenario {
  node: NodeContext;
  config?: Partial<ProxyConfig> & { ipvs?: Partial<ProxyConfig['ipvs']> };
  services?: unknown[];
  endpointSlices?: unknown[];
}

function configOf(overrides: Scenario['config'] = {}): ProxyConfig {
  const def = defaultProxyConfig();
  return { ...def, ...overrides, ipvs: { ...def.ipvs, ...(overrides.ipvs ?? {}) } };
}

function keysOf(services: readonly unknown[]): string[] {
  const out = new Set<string>();
  for (const s of services) {
    const m = (s as ApiService | null)?.metadata;
    if (m && typeof m.namespace === 'string' && typeof m.name === 'string') out.add(`${m.namespace}/${m.name}`);
  }
  return [...out].sort();
}

/** Checks one Service's explanation against the plan; returns its entries/addresses/rules for the totals. */
function checkOne(state: NodeState, x: Explanation, key: string, where: string): void {
  const own = state.ipvs.filter((vs) => vs.service === key || vs.service?.startsWith(`${key}:`));
  assert.deepEqual(x.virtualServers, own, `${where}: virtual servers of ${key}`);
  for (const entry of x.ipsetEntries) assert.ok(state.ipsets[entry.set]?.entries.includes(entry.entry), `${where}: ${entry.set} ${entry.entry} in the plan`);
  for (const a of x.addresses) assert.ok(state.addresses['kube-ipvs0'].includes(a), `${where}: address ${a}`);
  for (const r of x.iptables) assert.ok(state.iptables[r.family][r.table].split('\n').includes(r.rule), `${where}: rule ${r.rule}`);
  if (x.status !== 'proxied') {
    assert.deepEqual(own, [], `${where}: ${key} is ${x.status} and has no virtual servers`);
    assert.ok(x.endpoints.every((e) => !e.included));
    return;
  }
  const byKey = new Map(state.ipvs.map((vs) => [`${vs.protocol}/${joinHostPort(vs.address, vs.port)}`, vs]));
  for (const p of x.ports) {
    for (const kind of ['internal', 'external'] as const) {
      const sel = p.selection[kind];
      const rows = x.endpoints.filter((e) => e.servicePort === p.servicePort && e.family === p.family && e[kind]?.included);
      if (!sel) {
        assert.ok(rows.length === 0, `${where}: no ${kind} selection, no ${kind} rows`);
        continue;
      }
      const held = p.virtualServers.some((c) => c.traffic === kind && c.programmed);
      // Every virtual server of the kind went to another Service: its selected endpoints say vs-conflict.
      const expected = held ? [...sel.realServers].sort() : [];
      assert.deepEqual(rows.map((e) => joinHostPort(e.address, e.port!)).sort(), expected, `${where}: ${p.servicePort} ${kind} rows == real servers`);
      if (!held) {
        const conflicted = x.endpoints.filter((e) => e.servicePort === p.servicePort && e.family === p.family && e[kind]?.reason === 'vs-conflict');
        assert.deepEqual(conflicted.map((e) => joinHostPort(e.address, e.port!)).sort(), [...sel.realServers].sort(), `${where}: ${p.servicePort} ${kind} vs-conflict rows`);
      }
      for (const v of p.virtualServers.filter((c) => c.traffic === kind && c.programmed)) {
        const vs = byKey.get(v.key);
        assert.ok(vs, `${where}: ${v.key} in the plan`);
        assert.equal(vs.service, p.servicePort);
        assert.deepEqual(vs.realServers.map((r) => joinHostPort(r.address, r.port)), sel.realServers, `${where}: ${v.key} real servers`);
      }
    }
    for (const v of p.virtualServers.filter((c) => !c.programmed)) assert.equal(byKey.get(v.key)?.service, v.heldBy, `${where}: ${v.key} held by`);
  }
  // Every included row is a real server of a virtual server of its port (the converse of the above).
  for (const e of x.endpoints.filter((r) => r.included)) {
    const rs = joinHostPort(e.address, e.port!);
    assert.ok(own.some((vs) => vs.service === e.servicePort && vs.realServers.some((r) => joinHostPort(r.address, r.port) === rs)), `${where}: included ${rs} is a real server`);
  }
  // Excluded rows have a reason other than the included ones.
  for (const e of x.endpoints.filter((r) => !r.included)) assert.ok(e.reason !== 'ready' && e.reason !== 'serving-terminating', `${where}: ${e.address} excluded with reason ${e.reason}`);
}

/** All Services explained: their entries and addresses together are exactly the plan's (no more, no fewer). */
function checkAll(input: DesiredInput, where: string): number {
  const state = computeDesiredState(input);
  const entries = new Set<string>();
  const addresses = new Set<string>();
  let count = 0;
  for (const key of keysOf(input.services)) {
    const x = explainService(input, key);
    checkOne(state, x, key, where);
    for (const e of x.ipsetEntries) entries.add(`${e.set} ${e.entry}`);
    for (const a of x.addresses) addresses.add(a);
    count++;
  }
  const planEntries = Object.entries(state.ipsets).flatMap(([set, s]) => s.entries.map((e) => `${set} ${e}`));
  assert.deepEqual([...entries].sort(), planEntries.sort(), `${where}: all Services' entries == the plan's`);
  assert.deepEqual([...addresses].sort(), [...state.addresses['kube-ipvs0']].sort(), `${where}: all Services' addresses == the plan's`);
  const planVs = state.ipvs.length;
  const explained = keysOf(input.services).reduce((n, key) => n + explainService(input, key).virtualServers.length, 0);
  assert.equal(explained, planVs, `${where}: every plan virtual server belongs to exactly one explained Service`);
  return count;
}

const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();

for (const file of files) {
  test(`explain agrees with the plan: golden ${file}`, () => {
    const sc = parse(readFileSync(join(dir, file), 'utf8')) as Scenario;
    const input: DesiredInput = {
      services: (sc.services ?? []) as ApiService[],
      endpointSlices: (sc.endpointSlices ?? []) as ApiEndpointSlice[],
      node: sc.node,
      config: configOf(sc.config),
    };
    assert.ok(checkAll(input, file) > 0, `${file} has Services`);
  });
}

// ---- random scenarios ------------------------------------------------------------------------------------------

function pick<T>(rand: () => number, list: readonly T[]): T {
  return list[Math.floor(rand() * list.length)]!;
}

function randomScenario(seed: number): DesiredInput {
  const rand = rng(seed);
  const services: ApiService[] = [];
  const slices: ApiEndpointSlice[] = [];
  const nServices = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < nServices; i++) {
    const name = `s${i}`;
    const type = pick(rand, ['ClusterIP', 'ClusterIP', 'NodePort', 'LoadBalancer']);
    const dual = rand() < 0.3;
    const ports = [{ name: 'http', protocol: 'TCP', port: 80, ...(type !== 'ClusterIP' ? { nodePort: 30000 + i * 10 } : {}) }];
    if (rand() < 0.4) ports.push({ name: 'dns', protocol: 'UDP', port: 53, ...(type !== 'ClusterIP' ? { nodePort: 30001 + i * 10 } : {}) });
    const svc: ApiService = {
      metadata: { namespace: 'ns', name },
      spec: {
        type,
        clusterIP: `10.96.0.${i + 1}`,
        clusterIPs: dual ? [`10.96.0.${i + 1}`, `fd00::${i + 1}`] : [`10.96.0.${i + 1}`],
        ipFamilies: dual ? ['IPv4', 'IPv6'] : ['IPv4'],
        ports,
        internalTrafficPolicy: pick(rand, ['Cluster', 'Local']),
        externalTrafficPolicy: pick(rand, ['Cluster', 'Local']),
        ...(rand() < 0.3 ? { externalIPs: [pick(rand, ['203.0.113.7', '203.0.113.8'])] } : {}),
        ...(type === 'LoadBalancer' ? { healthCheckNodePort: 32000 + i } : {}),
      },
      ...(type === 'LoadBalancer' ? { status: { loadBalancer: { ingress: [{ ip: `198.51.100.${i + 1}` }] } } } : {}),
    };
    if (rand() < 0.1) svc.spec!.clusterIP = 'None';
    services.push(svc);
    const nSlices = Math.floor(rand() * 4);
    for (let j = 0; j < nSlices; j++) {
      const v6 = rand() < 0.25;
      const endpoints: ApiEndpoint[] = [];
      const nEps = Math.floor(rand() * 5);
      for (let k = 0; k < nEps; k++) {
        const host = 1 + Math.floor(rand() * 4); // small pool: duplicates happen
        const e: ApiEndpoint = { addresses: [v6 ? `fd00:244::${host}` : `10.244.0.${host}`] };
        const node = pick(rand, ['node-1', 'node-2', 'node-3', undefined]);
        if (node) e.nodeName = node;
        e.conditions = {
          ready: pick(rand, [true, true, false, null]),
          serving: pick(rand, [true, false, null]),
          terminating: pick(rand, [false, true, null]),
        };
        if (rand() < 0.3) e.hints = { forZones: [{ name: pick(rand, ['zone-a', 'zone-b']) }] };
        if (rand() < 0.15) e.hints = { ...(e.hints ?? {}), forNodes: [{ name: pick(rand, ['node-1', 'node-2']) }] };
        endpoints.push(e);
      }
      const slicePorts = [{ name: pick(rand, ['http', 'http', 'web']), protocol: 'TCP', port: 8080 }];
      if (rand() < 0.4) slicePorts.push({ name: 'dns', protocol: 'UDP', port: 5353 });
      slices.push({
        metadata: { namespace: 'ns', name: `${name}-${j}`, labels: { 'kubernetes.io/service-name': name } },
        addressType: rand() < 0.05 ? 'FQDN' : v6 ? 'IPv6' : 'IPv4',
        ports: slicePorts,
        endpoints,
      });
    }
  }
  return {
    services,
    endpointSlices: slices,
    node: {
      nodeName: 'node-1',
      nodeAddresses: rand() < 0.8 ? ['192.168.1.10', 'fd00:1::10'] : [],
      node: { metadata: { name: 'node-1', labels: { 'topology.kubernetes.io/zone': 'zone-b' } } },
    },
    config: defaultProxyConfig(),
  };
}

test('explain agrees with the plan: 150 random scenarios (conditions, policies, hints, duplicates, dual-stack)', () => {
  const seen = new Set<string>();
  for (let seed = 1; seed <= 150; seed++) {
    const input = randomScenario(seed);
    checkAll(input, `seed ${seed}`);
    for (const key of keysOf(input.services)) {
      for (const e of explainService(input, key).endpoints) {
        seen.add(e.reason);
        if (e.external) seen.add(e.external.reason);
      }
    }
  }
  // The generator reaches the interesting reasons (otherwise this test proves little).
  for (const r of ['ready', 'serving-terminating', 'not-ready', 'terminating', 'terminating-not-serving', 'other-node', 'topology-zone', 'duplicate', 'port-mismatch', 'other-ip-family', 'service-not-proxied', 'vs-conflict', 'fqdn-slice']) {
    assert.ok(seen.has(r), `random scenarios reach reason ${r}`);
  }
});
