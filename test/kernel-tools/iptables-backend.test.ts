// Backend choice (kubernetes-sigs/iptables-wrappers), wait flags and --random-fully support by version
// (kube-proxy pkg/util/iptables, with --wait-interval dropped from 1.8.8 on).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  decideBackend,
  hasKubeletHint,
  hasRandomFully,
  iptablesWaitFlags,
  parseIptablesVersion,
  programNames,
  restoreWaitFlags,
  versionBackend,
} from '../../src/kernel/iptables-backend.js';

const CANARY = '*mangle\n:PREROUTING ACCEPT [0:0]\n:KUBE-KUBELET-CANARY - [0:0]\nCOMMIT\n';
const HINT = '*mangle\n:KUBE-IPTABLES-HINT - [0:0]\nCOMMIT\n';
const RULES = '*filter\n:INPUT ACCEPT [0:0]\n-A INPUT -j ACCEPT\n-A INPUT -j DROP\nCOMMIT\n';

describe('decideBackend (iptables-wrappers DetectMode)', () => {
  const none = { nftMangle4: '', nftMangle6: '', legacyAll4: '', legacyAll6: '' };
  const table: [string, Partial<typeof none>, 'legacy' | 'nft'][] = [
    ['kubelet canary in nft mangle', { nftMangle4: CANARY }, 'nft'],
    ['hint chain in ip6tables-nft mangle', { nftMangle6: HINT }, 'nft'],
    ['kubelet canary in legacy', { legacyAll4: CANARY }, 'legacy'],
    ['hint only in ip6tables-legacy', { legacyAll6: HINT }, 'legacy'],
    ['hints in both: nft is checked first', { nftMangle4: HINT, legacyAll4: CANARY }, 'nft'],
    ['no hint anywhere: nft, even with more legacy rules', { legacyAll4: RULES }, 'nft'],
    ['nothing at all', {}, 'nft'],
  ];
  for (const [name, probe, want] of table) {
    it(name, () => assert.equal(decideBackend({ ...none, ...probe }).backend, want));
  }

  it('matches only chain declarations, not rules that mention the names', () => {
    assert.equal(hasKubeletHint('-A INPUT -m comment --comment ":KUBE-IPTABLES-HINT" -j ACCEPT\n'), false);
    assert.equal(hasKubeletHint(':KUBE-IPTABLES-HINTS - [0:0]\n'), false);
    assert.equal(hasKubeletHint(HINT), true);
  });
});

describe('versions and flags', () => {
  it('parses `iptables --version` and its backend', () => {
    assert.deepEqual(parseIptablesVersion('iptables v1.8.9 (nf_tables)\n'), [1, 8, 9]);
    assert.deepEqual(parseIptablesVersion('iptables v1.4.21\n'), [1, 4, 21]);
    assert.equal(parseIptablesVersion('iptables version unknown'), undefined);
    assert.equal(versionBackend('iptables v1.8.9 (nf_tables)'), 'nft');
    assert.equal(versionBackend('iptables v1.8.9 (legacy)'), 'legacy');
    assert.equal(versionBackend('iptables v1.6.1'), 'legacy');
  });

  const table: [string, string[], string[], boolean][] = [
    // version, iptables flags, iptables-restore flags, --random-fully
    ['1.4.19', [], [], false],
    ['1.4.20', ['-w'], [], false],
    ['1.4.21', ['-w'], [], false],
    ['1.4.22', ['-w', '5'], [], false],
    ['1.6.1', ['-w', '5', '-W', '100000'], [], false],
    ['1.6.2', ['-w', '5', '-W', '100000'], ['-w', '5', '-W', '100000'], true],
    ['1.8.7', ['-w', '5', '-W', '100000'], ['-w', '5', '-W', '100000'], true],
    // 1.8.8 removed --wait-interval ("Ignoring deprecated --wait-interval option.")
    ['1.8.8', ['-w', '5'], ['-w', '5'], true],
    ['1.8.9', ['-w', '5'], ['-w', '5'], true],
    ['1.8.11', ['-w', '5'], ['-w', '5'], true],
  ];
  for (const [v, ipt, restore, rf] of table) {
    it(`iptables ${v}`, () => {
      const ver = v.split('.').map(Number);
      assert.deepEqual(iptablesWaitFlags(ver), ipt);
      assert.deepEqual(restoreWaitFlags(ver), restore);
      assert.equal(hasRandomFully(ver), rf);
    });
  }

  it('program names per backend and family', () => {
    assert.deepEqual(programNames('legacy', 6), { iptables: 'ip6tables-legacy', save: 'ip6tables-legacy-save', restore: 'ip6tables-legacy-restore' });
    assert.deepEqual(programNames('nft', 4, false), { iptables: 'iptables', save: 'iptables-save', restore: 'iptables-restore' });
  });
});
