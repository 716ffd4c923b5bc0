// The contract between desired/ and these drivers, checked on desired/'s own golden plan documents
// (test/desired/golden/*.json): every ipset entry is already in the canonical form and order observe()
// returns (so desired == observed after one apply, and an unchanged node runs no ipset restore), and every
// iptables table is restore text the normaliser reads without problems and declares all of our chains.

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { canonicalIpsetEntry, EntryCanonicaliser } from '../../src/kernel/ipset-format.js';
import { normaliseRestoreTable } from '../../src/kernel/iptables-normalise.js';
import { KUBE_CHAINS } from '../../src/model/ipsets.js';
import type { NodeState } from '../../src/model/state.js';

// dist/test/kernel-tools/ -> the checkout's test/desired/golden/
const GOLDEN = fileURLToPath(new URL('../../../test/desired/golden/', import.meta.url));
const files = existsSync(GOLDEN) ? readdirSync(GOLDEN).filter((f) => f.endsWith('.json')).sort() : [];

describe('desired/ golden states are what the drivers expect', () => {
  it('there are golden states to check', { skip: files.length ? false : `no ${GOLDEN}` }, () => assert.ok(files.length > 0));

  for (const file of files) {
    const state = JSON.parse(readFileSync(GOLDEN + file, 'utf8')) as NodeState;

    it(`${file}: ipset entries are canonical and in observe() order`, () => {
      const canon = new EntryCanonicaliser();
      for (const [name, set] of Object.entries(state.ipsets ?? {})) {
        for (const e of set.entries) assert.equal(canonicalIpsetEntry(set.type, set.family, e), e, `${name} ${e}`);
        assert.deepEqual(canon.sort(set.type, set.family, set.entries), set.entries, `${name} order`);
      }
    });

    it(`${file}: iptables tables normalise without problems and declare our chains`, () => {
      for (const [key, family] of [['ipv4', 4], ['ipv6', 6]] as const) {
        for (const table of ['nat', 'filter'] as const) {
          const text = state.iptables?.[key]?.[table] ?? '';
          if (!text) continue;
          const n = normaliseRestoreTable(text, family);
          assert.deepEqual(n.problems, [], `${key} ${table}`);
          assert.equal(n.table, table);
          assert.deepEqual(n.chains, [...KUBE_CHAINS[table]].sort(), `${key} ${table} chains`);
        }
      }
    });
  }
});
