// MemberIndex (desired/member-index.ts): the builder's set members with their canonical forms kept up to date,
// so each new list it hands out comes with its members already known to the planner.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MemberIndex } from '../../src/desired/member-index.js';
import { normalizeIpsetEntry } from '../../src/model/canonical.js';

function index() {
  const registered: { list: readonly string[]; members: string[] }[] = [];
  const m = new MemberIndex((t) => normalizeIpsetEntry('hash:ip,port', t), (list, members) => registered.push({ list, members: [...members].sort() }));
  return { m, registered };
}

test('each new list is registered once with its canonical members; an unchanged list is not registered again', () => {
  const { m, registered } = index();
  m.add('a', '10.96.0.1,tcp:80');
  m.add('b', '10.96.0.2,80');
  const l1 = m.list();
  assert.ok(Object.isFrozen(l1));
  assert.deepEqual(registered, [{ list: l1, members: ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80'] }]);
  assert.equal(m.list(), l1);
  assert.equal(registered.length, 1);
  m.remove('a');
  const l2 = m.list();
  assert.notEqual(l2, l1);
  assert.deepEqual(registered[1], { list: l2, members: ['10.96.0.2,tcp:80'] });
  assert.deepEqual(registered[0]!.members, ['10.96.0.1,tcp:80', '10.96.0.2,tcp:80'], 'what was registered for the old list does not change');
});

test('shared members (several owners) stay until the last owner removes them', () => {
  const { m, registered } = index();
  m.add('a', '10.96.0.1,tcp:80');
  assert.equal(m.add('a', '10.96.0.1,tcp:80'), false);
  assert.equal(m.remove('a'), false);
  m.list();
  assert.deepEqual(registered.at(-1)!.members, ['10.96.0.1,tcp:80']);
  assert.equal(m.remove('a'), true);
  m.list();
  assert.deepEqual(registered.at(-1)!.members, []);
});

test('while a member has no canonical form, nothing is registered (the planner parses and diagnoses it itself)', () => {
  const { m, registered } = index();
  m.add('a', '10.96.0.1,tcp:80');
  m.add('z', 'garbage');
  m.list();
  assert.equal(registered.length, 0);
  m.remove('z');
  m.list();
  assert.deepEqual(registered.map((r) => r.members), [['10.96.0.1,tcp:80']]);
});
