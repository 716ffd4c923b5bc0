// Pod address numbering of the sandbox's pod network (src/sandbox/pods.ts PodAddressPool): each family counts on
// its own, so dual-stack pods get the same host number in both (the bug was one counter shared by both families).

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PodAddressPool } from '../../src/sandbox/pods.js';

const V4 = '10.244.0.0/24';
const V6 = 'fd00:10:244::/64';

describe('PodAddressPool', () => {
  it('dual-stack pods get the same host number in both families: .2/::2, .3/::3, ...', () => {
    const pool = new PodAddressPool(['10.244.0.1', 'fd00:10:244::1']);
    const pods = [1, 2, 3].map(() => [pool.take(V4), pool.take(V6)]);
    assert.deepEqual(pods, [
      ['10.244.0.2', 'fd00:10:244::2'],
      ['10.244.0.3', 'fd00:10:244::3'],
      ['10.244.0.4', 'fd00:10:244::4'],
    ]);
  });

  it('an IPv4-only pod does not use up an IPv6 number (and the other way round)', () => {
    const pool = new PodAddressPool();
    assert.equal(pool.take(V4), '10.244.0.2');
    assert.equal(pool.take(V4), '10.244.0.3');
    assert.equal(pool.take(V6), 'fd00:10:244::2');
    assert.equal(pool.take(V4), '10.244.0.4');
    assert.equal(pool.take(V6), 'fd00:10:244::3');
  });

  it('skips reserved addresses (gateways, explicit pod addresses), whatever their spelling', () => {
    const pool = new PodAddressPool(['10.244.0.2']);
    pool.reserve('fd00:10:244:0:0:0:0:2');
    pool.reserve('10.244.0.4');
    assert.deepEqual([pool.take(V4), pool.take(V4), pool.take(V4)], ['10.244.0.3', '10.244.0.5', '10.244.0.6']);
    assert.equal(pool.take(V6), 'fd00:10:244::3');
  });

  it('never hands out the same address twice', () => {
    const pool = new PodAddressPool();
    const seen = new Set<string>();
    for (let i = 0; i < 300; i++) seen.add(pool.take(V4));
    assert.equal(seen.size, 300);
    assert.ok(seen.has('10.244.1.45'), 'counting carries into the next byte (10.244.0.2 + 299)');
  });
});
