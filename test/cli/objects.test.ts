import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadObjectFiles, ObjectsFileError, parseObjects } from '../../src/k8s/objects.js';

const SERVICE = `apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec: {clusterIP: 10.96.0.10, ports: [{port: 80}]}
`;
const SLICE = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: web-1, namespace: default, labels: {kubernetes.io/service-name: web}}
addressType: IPv4
endpoints: [{addresses: [10.244.0.5], conditions: {ready: true}}]
ports: [{port: 8080}]
`;
const NODE = `apiVersion: v1
kind: Node
metadata: {name: node-a, labels: {enabled: yes}}
spec: {podCIDR: 10.244.1.0/24}
`;

function fileError(fn: () => unknown): ObjectsFileError {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ObjectsFileError, `expected ObjectsFileError, got ${String(err)}`);
    return err;
  }
  assert.fail('expected an ObjectsFileError');
}

test('multi-document YAML is split by kind; other kinds are ignored with a note', () => {
  const text = `${SERVICE}---\n${SLICE}---\n${NODE}---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm, namespace: kube-system}\n---\n`;
  const r = parseObjects(text, 'objs.yaml');
  assert.equal(r.services.length, 1);
  assert.equal(r.services[0]!.metadata?.name, 'web');
  assert.equal(r.services[0]!.spec?.clusterIP, '10.96.0.10');
  assert.equal(r.endpointSlices.length, 1);
  assert.deepEqual(r.endpointSlices[0]!.endpoints?.[0]?.addresses, ['10.244.0.5']);
  assert.equal(r.nodes.length, 1);
  assert.equal(r.nodes[0]!.metadata?.labels?.enabled, 'yes', 'YAML 1.2: "yes" stays a string, as a label value must');
  assert.deepEqual(r.notes, ['objs.yaml: ignored 1 ConfigMap objects: kube-system/cm (kube-ipvs reads Service, EndpointSlice and Node)']);
});

test('JSON, kind: List and typed lists (whose items may omit their kind) are flattened', () => {
  const list = {
    apiVersion: 'v1',
    kind: 'List',
    items: [
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'a', namespace: 'ns' } },
      { apiVersion: 'v1', kind: 'ServiceList', items: [{ metadata: { name: 'b', namespace: 'ns' } }] },
      { apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSliceList', items: [{ metadata: { name: 'a-1', namespace: 'ns' } }] },
      { apiVersion: 'v1', kind: 'NodeList', items: [{ metadata: { name: 'n1' } }, { metadata: { name: 'n2' } }] },
      { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'ns' } },
    ],
  };
  const r = parseObjects(JSON.stringify(list, null, 2), 'all.json');
  assert.deepEqual(r.services.map((s) => s.metadata?.name), ['a', 'b']);
  assert.equal(r.services[1]!.kind, 'Service', 'the item kind is filled in from the list kind');
  assert.deepEqual(r.endpointSlices.map((s) => s.metadata?.name), ['a-1']);
  assert.deepEqual(r.nodes.map((n) => n.metadata?.name), ['n1', 'n2']);
  assert.equal(r.notes.length, 1);
  assert.match(r.notes[0]!, /ignored 1 Pod objects: ns\/p/);
  // A top-level JSON array works too.
  assert.equal(parseObjects(JSON.stringify([list.items[0]]), 'arr.json').services.length, 1);
});

test('objects of another apiVersion of a kept kind are ignored with a note', () => {
  const r = parseObjects('apiVersion: discovery.k8s.io/v1beta1\nkind: EndpointSlice\nmetadata: {name: old, namespace: x}\n', 'old.yaml');
  assert.equal(r.endpointSlices.length, 0);
  assert.match(r.notes[0]!, /ignored 1 EndpointSlice objects of apiVersion discovery\.k8s\.io\/v1beta1 \(kube-ipvs reads discovery\.k8s\.io\/v1\): x\/old/);
});

test('invalid YAML, invalid JSON and duplicate keys are errors naming the file and line', () => {
  const yamlErr = fileError(() => parseObjects(`${SERVICE}---\nkind: Service\nmetadata: {name: [unclosed\n`, 'bad.yaml'));
  assert.equal(yamlErr.file, 'bad.yaml');
  assert.ok(yamlErr.line >= 6, `line ${yamlErr.line}`);
  assert.match(yamlErr.message, /^bad\.yaml:\d+: invalid YAML: /);

  const jsonErr = fileError(() => parseObjects('{\n  "kind": "Service",\n  "metadata": {"name": "x",}\n  oops\n}\n', 'bad.json'));
  assert.equal(jsonErr.file, 'bad.json');
  assert.ok(jsonErr.line >= 3, `line ${jsonErr.line}`);

  const dup = fileError(() => parseObjects('apiVersion: v1\nkind: Service\nkind: Node\n', 'dup.yaml'));
  assert.equal(dup.line, 3);
  assert.equal(dup.message, 'dup.yaml:3: invalid YAML: Map keys must be unique');

  const scalar = fileError(() => parseObjects(`${SERVICE}---\njust text\n`, 'scalar.yaml'));
  assert.equal(scalar.line, 6);
  assert.match(scalar.message, /a document must be a Kubernetes object/);
});

test('loadObjectFiles concatenates files in order and names an unreadable file', () => {
  const files: Record<string, string> = { 'a.yaml': SERVICE, 'b.yaml': `${SLICE}---\n${NODE}` };
  const r = loadObjectFiles(['a.yaml', 'b.yaml'], (p) => files[p]!);
  assert.equal(r.services.length, 1);
  assert.equal(r.endpointSlices.length, 1);
  assert.equal(r.nodes.length, 1);
  const err = fileError(() => loadObjectFiles(['a.yaml', 'gone.yaml'], (p) => {
    if (!(p in files)) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
    return files[p]!;
  }));
  assert.equal(err.message, "gone.yaml: cannot read the file: ENOENT: no such file or directory, open 'gone.yaml'");
});
