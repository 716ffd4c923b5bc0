// Label/field selector grammar and matching, and the PATCH document formats of the embedded API server.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { jsonPatch, mergePatch } from '../../src/k8s/apiserver/patch.js';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../../src/k8s/apiserver/selectors.js';
import { PROXY_LABEL_SELECTOR } from '../../src/model/api.js';

function sel(text: string) {
  const r = parseLabelSelector(text);
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe('label selectors', () => {
  it("parses kube-proxy's selector into two does-not-exist requirements", () => {
    assert.deepEqual(sel(PROXY_LABEL_SELECTOR), [
      { key: 'service.kubernetes.io/headless', op: '!' },
      { key: 'service.kubernetes.io/service-proxy-name', op: '!' },
    ]);
  });

  it('matches like the real server', () => {
    const cases: [string, Record<string, string> | undefined, boolean][] = [
      [PROXY_LABEL_SELECTOR, undefined, true],
      [PROXY_LABEL_SELECTOR, { 'service.kubernetes.io/headless': '' }, false],
      [PROXY_LABEL_SELECTOR, { 'service.kubernetes.io/service-proxy-name': 'x' }, false],
      ['app=web', { app: 'web' }, true],
      ['app==web', { app: 'web' }, true],
      ['app=web', { app: 'db' }, false],
      ['app!=web', {}, true], // != selects objects without the key too
      ['app!=web', { app: 'web' }, false],
      ['app in (web, db)', { app: 'db' }, true],
      ['app in (web,db)', {}, false],
      ['app notin (web)', {}, true],
      ['app notin (web)', { app: 'web' }, false],
      ['app', { app: '' }, true],
      ['app', {}, false],
      ['tier=front, app', { tier: 'front', app: 'x' }, true],
      ['tier=front,app', { tier: 'back', app: 'x' }, false],
      ['replicas>2', { replicas: '3' }, true],
      ['replicas<2', { replicas: '3' }, false],
      ['', { anything: 'x' }, true],
    ];
    for (const [text, labels, want] of cases) assert.equal(matchesLabels(sel(text), labels), want, `${text} on ${JSON.stringify(labels)}`);
  });

  it('rejects malformed selectors with a message', () => {
    for (const bad of ['app in (a', 'app=', '=x', 'app=web,', 'a b', '!app=web', 'app in a', 'app=-bad-']) {
      const r = parseLabelSelector(bad);
      if (bad === 'app=') {
        // An empty value is valid: it matches the empty label value.
        assert.equal(r.ok, true);
        continue;
      }
      assert.equal(r.ok, false, bad);
    }
  });
});

describe('field selectors', () => {
  it('parses =, ==, != with escapes and matches dotted paths', () => {
    const r = parseFieldSelector('metadata.name=node-a,metadata.namespace!=kube-system,spec.x==a\\,b');
    assert.ok(r.ok);
    assert.deepEqual(r.value, [
      { field: 'metadata.name', op: '=', value: 'node-a' },
      { field: 'metadata.namespace', op: '!=', value: 'kube-system' },
      { field: 'spec.x', op: '=', value: 'a,b' },
    ]);
    const obj = { metadata: { name: 'node-a', namespace: 'default' }, spec: { x: 'a,b' } };
    assert.equal(matchesFields(r.value, obj), true);
    assert.equal(matchesFields(r.value, { ...obj, metadata: { name: 'node-b' } }), false);
    assert.equal(parseFieldSelector('novalue').ok, false);
  });
});

describe('patch documents', () => {
  it('merge patch: null deletes, objects merge, arrays replace', () => {
    const doc = { a: { b: 1, c: 2 }, l: [1, 2], k: 'v' };
    assert.deepEqual(mergePatch(doc, { a: { b: null, d: 3 }, l: [3], k: null }), { a: { c: 2, d: 3 }, l: [3] });
    assert.deepEqual(doc, { a: { b: 1, c: 2 }, l: [1, 2], k: 'v' }, 'the target is not modified');
  });

  it('JSON patch: add/remove/replace/move/copy/test, failing test and bad path throw', () => {
    const doc = { a: [1, 2], o: { x: 1 } };
    assert.deepEqual(
      jsonPatch(doc, [
        { op: 'add', path: '/a/-', value: 3 },
        { op: 'add', path: '/a/0', value: 0 },
        { op: 'remove', path: '/a/1' },
        { op: 'replace', path: '/o/x', value: 2 },
        { op: 'copy', from: '/o/x', path: '/o/y' },
        { op: 'move', from: '/o/x', path: '/z' },
        { op: 'test', path: '/z', value: 2 },
      ]),
      { a: [0, 2, 3], o: { y: 2 }, z: 2 },
    );
    assert.throws(() => jsonPatch(doc, [{ op: 'test', path: '/o/x', value: 9 }]), /testing value/);
    assert.throws(() => jsonPatch(doc, [{ op: 'replace', path: '/nope/x', value: 1 }]), /not found/);
    assert.throws(() => jsonPatch(doc, { op: 'add' }), /array/);
  });
});
