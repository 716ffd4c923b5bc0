// The iptables normaliser against what iptables-save 1.8.9 really printed (legacy and nf_tables backends,
// captured on the host kernel and in the user-mode Linux guest; see golden.ts for the full payload).

import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  canonicalTableText,
  normaliseAddress,
  normaliseRestoreTable,
  normaliseRule,
  parseIptablesSave,
  iptablesTextEqual,
  restoreErrorLine,
  saveString,
  tableUpToDate,
  tokenizeRule,
} from '../../src/kernel/iptables-normalise.js';
import { kubeProxyPayload } from './fixtures.js';
import { SAVED_PAYLOAD } from './golden.js';

/** [restore-form input, family, what iptables-save printed] — every row was observed on a real kernel. */
const RULES: [string, 4 | 6, string][] = [
  // kube-proxy's marks and targets
  ['-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000', 4, '-A KUBE-MARK-MASQ -j MARK --set-xmark 0x4000/0x4000'],
  ['-A KUBE-POSTROUTING -j MARK --xor-mark 0x00004000', 4, '-A KUBE-POSTROUTING -j MARK --set-xmark 0x4000/0x0'],
  ['-A KUBE-POSTROUTING -m mark ! --mark 0x00004000/0x00004000 -j RETURN', 4, '-A KUBE-POSTROUTING -m mark ! --mark 0x4000/0x4000 -j RETURN'],
  ['-A T -m mark --mark 16384 -j ACCEPT', 4, '-A T -m mark --mark 0x4000 -j ACCEPT'],
  ['-A T -m mark --mark 0x4000/0xffffffff -j ACCEPT', 4, '-A T -m mark --mark 0x4000 -j ACCEPT'],
  ['-A T -j MARK --set-mark 0x4000', 4, '-A T -j MARK --set-xmark 0x4000/0xffffffff'],
  ['-A T -j MARK --set-mark 0x4000/0x4000', 4, '-A T -j MARK --set-xmark 0x4000/0x4000'],
  ['-A T -j MARK --and-mark 0x4000', 4, '-A T -j MARK --set-xmark 0x0/0xffffbfff'],
  ['-A T -j MARK --set-xmark 0x4000', 4, '-A T -j MARK --set-xmark 0x4000/0xffffffff'],
  ['-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully', 4,
    '-A KUBE-POSTROUTING -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully'],
  ['-A T -p tcp -j MASQUERADE --random-fully --random --to-ports 1000-2000', 4, '-A T -p tcp -j MASQUERADE --to-ports 1000-2000 --random --random-fully'],
  // REJECT defaults and aliases per family
  ['-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT', 4,
    '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable'],
  ['-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-6-IPVS-IPS dst -j REJECT', 6,
    '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-6-IPVS-IPS dst -j REJECT --reject-with icmp6-port-unreachable'],
  ['-A T -p tcp -j REJECT --reject-with tcp-rst', 4, '-A T -p tcp -j REJECT --reject-with tcp-reset'],
  ['-A T -j REJECT --reject-with host-prohib', 4, '-A T -j REJECT --reject-with icmp-host-prohibited'],
  // addresses: prefix added, host bits cleared, "! -s" moved in front of the matches
  ['-A KUBE-SERVICES -m comment --comment "c" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.0/14 -j KUBE-MARK-MASQ', 4,
    '-A KUBE-SERVICES ! -s 10.0.0.0/14 -m comment --comment c -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ'],
  ['-A KUBE-IPVS-OUT-FILTER ! -s fd00::5/48 -j DROP', 6, '-A KUBE-IPVS-OUT-FILTER ! -s fd00::/48 -j DROP'],
  // the other local-traffic detectors (NodeCIDR with host bits, BridgeInterface / InterfaceNamePrefix)
  ['-A KUBE-SERVICES -m comment --comment "x" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -s 10.0.0.5/14 -j RETURN', 4,
    '-A KUBE-SERVICES ! -s 10.0.0.0/14 -m comment --comment x -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN'],
  ['-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst ! -i veth+ -j RETURN', 4,
    '-A KUBE-SERVICES ! -i veth+ -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j RETURN'],
  ['-A T -p SCTP -i eth0 ! -o eth+ -d 10.0.0.1 -s 10.0.0.0/255.255.0.0 -j ACCEPT', 4, '-A T -s 10.0.0.0/16 -d 10.0.0.1/32 -i eth0 ! -o eth+ -p sctp -j ACCEPT'],
  ['-A KUBE-SERVICES -s ::1/128 -j RETURN', 6, '-A KUBE-SERVICES -s ::1/128 -j RETURN'],
  ['-A T -s ::ffff:1.2.3.4 -j DROP', 6, '-A T -s ::ffff:1.2.3.4/128 -j DROP'],
  ['-A T -s ::1.2.3.4 -j DROP', 6, '-A T -s ::1.2.3.4/128 -j DROP'],
  // -m ipvs (guest, xt_ipvs): proto as a number, full-length vaddr mask dropped, module order
  ['-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4 -m ipvs --vaddr 1.2.3.4 --vproto tcp --vport 80 -j DROP', 4,
    '-A KUBE-IPVS-OUT-FILTER -s 1.2.3.4/32 -m ipvs --vproto 6 --vaddr 1.2.3.4 --vport 80 -j DROP'],
  ['-A T -s 1.2.3.4/32 -m ipvs --vaddr 1.2.3.4/32 --vproto sctp --vport 80 -j DROP', 4, '-A T -s 1.2.3.4/32 -m ipvs --vproto 132 --vaddr 1.2.3.4 --vport 80 -j DROP'],
  ['-A T -m ipvs ! --vaddr 1.2.3.0/24 --vproto 17 --vport 80 -j DROP', 4, '-A T -m ipvs --vproto 17 ! --vaddr 1.2.3.0/24 --vport 80 -j DROP'],
  ['-A T -m ipvs --ipvs --vdir ORIGINAL --vmethod MASQ --vportctl 80 -j DROP', 4, '-A T -m ipvs --vdir ORIGINAL --vmethod MASQ --vportctl 80 -j DROP'],
  ['-A T -s 2001:DB8:0:0::1/128 -m ipvs --vaddr 2001:db8::/64 --vproto tcp --vport 80 -j DROP', 6,
    '-A T -s 2001:db8::1/128 -m ipvs --vproto 6 --vaddr 2001:db8::/64 --vport 80 -j DROP'],
  // module option order and value order
  ['-A T -m physdev --physdev-is-bridged --physdev-out eth1 ! --physdev-is-in --physdev-in eth0 --physdev-is-out -j ACCEPT', 4,
    '-A T -m physdev ! --physdev-is-in --physdev-in eth0 --physdev-is-out --physdev-out eth1 --physdev-is-bridged -j ACCEPT'],
  ['-A T -m addrtype --dst-type LOCAL,UNICAST --src-type local -j ACCEPT', 4, '-A T -m addrtype --src-type LOCAL --dst-type UNICAST,LOCAL -j ACCEPT'],
  ['-A T -m addrtype --limit-iface-in --dst-type LOCAL -j ACCEPT', 4, '-A T -m addrtype --dst-type LOCAL --limit-iface-in -j ACCEPT'],
  ['-A T -m conntrack --ctstate ESTABLISHED,RELATED,NEW,INVALID -j ACCEPT', 4, '-A T -m conntrack --ctstate INVALID,NEW,RELATED,ESTABLISHED -j ACCEPT'],
  ['-A T -m conntrack ! --ctstate NEW -j ACCEPT', 4, '-A T -m conntrack ! --ctstate NEW -j ACCEPT'],
  ['-A T -m set ! --match-set KUBE-IPVS-IPS dst --return-nomatch ! --update-counters -j ACCEPT', 4,
    '-A T -m set ! --match-set KUBE-IPVS-IPS dst --return-nomatch ! --update-counters -j ACCEPT'],
  // protocols, implicit matches, goto, no target
  ['-A T -p 6 -j ACCEPT', 4, '-A T -p tcp -j ACCEPT'],
  ['-A T -p tcp --dport 80 -j ACCEPT', 4, '-A T -p tcp -m tcp --dport 80 -j ACCEPT'],
  ['-A T -p udp -m udp --sport 53 -j ACCEPT', 4, '-A T -p udp -m udp --sport 53 -j ACCEPT'],
  ['-A T ! -p tcp -j ACCEPT', 4, '-A T ! -p tcp -j ACCEPT'],
  ['-A T -m comment --comment x', 4, '-A T -m comment --comment x'],
  ['-A T -g KUBE-TEST2', 4, '-A T -g KUBE-TEST2'],
  // string quoting (xtables_save_string)
  ['-A T -m comment --comment simple -m comment --comment "" -m comment --comment "a\\"b\\\\c" -j ACCEPT', 4,
    '-A T -m comment --comment simple -m comment --comment "" -m comment --comment "a\\"b\\\\c" -j ACCEPT'],
  ["-A KUBE-NODE-PORT -p sctp -m comment --comment \"with type 'hash ip:port'\" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ", 4,
    "-A KUBE-NODE-PORT -p sctp -m comment --comment \"with type \\'hash ip:port\\'\" -m set --match-set KUBE-NODE-PORT-SCTP-HASH dst,dst -j KUBE-MARK-MASQ"],
];

describe('normaliseRule', () => {
  for (const [input, family, saved] of RULES) {
    it(`IPv${family}: ${input}`, () => {
      const r = normaliseRule(input, family);
      assert.ok('rule' in r, JSON.stringify(r));
      assert.equal(r.rule, saved);
    });
  }

  it('is idempotent: what iptables-save prints normalises to itself', () => {
    for (const [, family, saved] of RULES) {
      const r = normaliseRule(saved, family);
      assert.ok('rule' in r);
      assert.equal(r.rule, saved);
    }
  });

  it('reports rules it cannot read instead of throwing', () => {
    for (const bad of ['-I INPUT -j ACCEPT', '-A', '-A T -s', '-A T -s not-an-ip -j ACCEPT', '-A T --dport 80 -j ACCEPT',
      '-A T -j MARK --or-mark 0x4000/0x4000', '-A T -j REJECT --reject-with nonsense', '-A T -m conntrack --ctstate BOGUS', '-A T !']) {
      assert.ok('error' in normaliseRule(bad, 4), bad);
    }
  });
});

describe('normaliseRestoreTable: the complete kube-proxy payload', () => {
  for (const family of [4, 6] as const) {
    for (const table of ['nat', 'filter'] as const) {
      it(`IPv${family} ${table} equals what iptables-save printed`, () => {
        const n = normaliseRestoreTable(kubeProxyPayload(family)[table], family);
        assert.deepEqual(n.problems, []);
        assert.equal(n.table, table);
        assert.equal(n.text, SAVED_PAYLOAD[family === 4 ? 'ipv4' : 'ipv6'][table]);
      });
    }
  }

  it('lists the declared chains', () => {
    const n = normaliseRestoreTable(kubeProxyPayload(4).filter, 4);
    assert.deepEqual(n.chains, ['KUBE-FORWARD', 'KUBE-IPVS-FILTER', 'KUBE-IPVS-OUT-FILTER', 'KUBE-NODE-PORT', 'KUBE-PROXY-FIREWALL', 'KUBE-SOURCE-RANGES-FIREWALL']);
  });

  it('a mark bit other than 14 and no --random-fully change the text', () => {
    const n = normaliseRestoreTable(kubeProxyPayload(4, { masqueradeBit: 3, randomFully: false }).nat, 4);
    assert.match(n.text, /-A KUBE-MARK-MASQ -j MARK --set-xmark 0x8\/0x8\n/);
    assert.match(n.text, /-j MASQUERADE\n/);
  });

  it('flags rules for undeclared chains, which --noflush would append again on every restore', () => {
    const n = normaliseRestoreTable('*nat\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -j RETURN\n-A PREROUTING -j KUBE-SERVICES\nCOMMIT\n', 4);
    assert.deepEqual(n.problems, ['line 4: rule for undeclared chain PREROUTING']);
  });

  it('flags a second table and unreadable rules with their line numbers', () => {
    const n = normaliseRestoreTable('*nat\n:A - [0:0]\n-A A -j MARK\nCOMMIT\n*filter\nCOMMIT\n', 4);
    assert.equal(n.problems.length, 2);
    assert.match(n.problems[0]!, /^line 3: MARK needs/);
    assert.match(n.problems[1]!, /^line 5: second table/);
  });

  it('an empty text declares nothing', () => {
    const n = normaliseRestoreTable('', 4);
    assert.equal(n.text, '');
    assert.deepEqual(n.chains, []);
  });
});

describe('parseIptablesSave / canonicalTableText', () => {
  const saved = [
    '# Warning: iptables-legacy tables present, use iptables-legacy-save to see them',
    '# Generated by iptables-nft-save v1.8.9 (nf_tables) on Sat Nov 21 06:04:22 2026',
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':KUBE-SERVICES - [0:0]',
    ':FOREIGN - [0:0]',
    ':KUBE-MARK-MASQ - [0:0]',
    '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    '-A FOREIGN -j ACCEPT',
    '-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN',
    'COMMIT',
    '# Completed on Sat Nov 21 06:04:22 2026',
  ].join('\n');

  it('keeps policies and rules per chain', () => {
    const t = parseIptablesSave(saved).get('nat')!;
    assert.equal(t.chains.get('PREROUTING')?.policy, 'ACCEPT');
    assert.deepEqual(t.chains.get('KUBE-MARK-MASQ'), { policy: '-', rules: [] });
    assert.deepEqual(t.chains.get('FOREIGN')?.rules, ['-A FOREIGN -j ACCEPT']);
  });

  it('canonical text lists only the chosen chains, sorted, empty ones included', () => {
    const t = parseIptablesSave(saved).get('nat')!;
    assert.equal(
      canonicalTableText(t, (c) => c.startsWith('KUBE-')),
      '*nat\n:KUBE-MARK-MASQ - [0:0]\n:KUBE-SERVICES - [0:0]\n-A KUBE-SERVICES -s 127.0.0.0/8 -j RETURN\nCOMMIT\n',
    );
    assert.equal(canonicalTableText(t, () => false), '');
  });
});

describe('tableUpToDate', () => {
  const desired = normaliseRestoreTable(kubeProxyPayload(4).nat, 4);
  const observed = SAVED_PAYLOAD.ipv4.nat;

  it('is true when the kernel holds exactly the desired chains', () => {
    assert.equal(tableUpToDate(desired, observed), true);
  });

  it('is false when a rule is missing, added, changed or reordered', () => {
    const lines = observed.split('\n');
    const i = lines.indexOf('-A KUBE-SERVICES -m addrtype --dst-type LOCAL -j KUBE-NODE-PORT');
    assert.ok(i > 0);
    const without = [...lines.slice(0, i), ...lines.slice(i + 1)].join('\n');
    assert.equal(tableUpToDate(desired, without), false);
    const extra = [...lines.slice(0, i), '-A KUBE-SERVICES -j ACCEPT', ...lines.slice(i)].join('\n');
    assert.equal(tableUpToDate(desired, extra), false);
    const swapped = [...lines];
    [swapped[i], swapped[i + 1]] = [swapped[i + 1]!, swapped[i]!];
    assert.equal(tableUpToDate(desired, swapped.join('\n')), false);
    assert.equal(tableUpToDate(desired, observed.replace('0x4000/0x4000', '0x8000/0x8000')), false);
  });

  it('is false when a declared chain does not exist', () => {
    assert.equal(tableUpToDate(desired, observed.replace(':KUBE-MARK-MASQ - [0:0]\n', '').replace(/-A KUBE-MARK-MASQ [^\n]*\n/, '')), false);
    assert.equal(tableUpToDate(desired, ''), false);
  });

  it('ignores observed chains the desired text does not declare', () => {
    const small = normaliseRestoreTable('*nat\n:KUBE-MARK-MASQ - [0:0]\n-A KUBE-MARK-MASQ -j MARK --or-mark 0x00004000\nCOMMIT\n', 4);
    assert.equal(tableUpToDate(small, observed), true);
  });
});

describe('iptablesTextEqual (the plan\'s iptablesEqual)', () => {
  it('compares desired restore text with observed canonical text', () => {
    assert.equal(iptablesTextEqual(kubeProxyPayload(6).filter, SAVED_PAYLOAD.ipv6.filter, 6), true);
    assert.equal(iptablesTextEqual(kubeProxyPayload(6).filter, SAVED_PAYLOAD.ipv6.filter.replace('--vport 81', '--vport 82'), 6), false);
    assert.equal(iptablesTextEqual(kubeProxyPayload(4, { randomFully: false }).nat, SAVED_PAYLOAD.ipv4.nat, 4), false);
    assert.equal(iptablesTextEqual('*nat\n-A PREROUTING -j ACCEPT\nCOMMIT\n', '', 4), false, 'unreadable desired text differs');
  });
});

describe('helpers', () => {
  it('tokenizes like iptables-restore: only double quotes group, \\ escapes inside them', () => {
    assert.deepEqual(tokenizeRule(`-A X  -m comment --comment "a 'b' \\"c\\"" -j 'Y'`).map((t) => [t.text, t.quoted]), [
      ['-A', false], ['X', false], ['-m', false], ['comment', false], ['--comment', false], [`a 'b' "c"`, true], ['-j', false], [`'Y'`, false],
    ]);
  });

  it('saveString quotes only when needed', () => {
    assert.equal(saveString('kube_proxy-1'), 'kube_proxy-1');
    assert.equal(saveString('a b'), '"a b"');
    assert.equal(saveString(''), '""');
    assert.equal(saveString(`it's "x" \\`), `"it\\'s \\"x\\" \\\\"`);
  });

  it('normaliseAddress', () => {
    assert.equal(normaliseAddress('10.1.2.3/8', 4), '10.0.0.0/8');
    assert.equal(normaliseAddress('10.1.2.3', 4), '10.1.2.3/32');
    assert.equal(normaliseAddress('10.1.2.3', 4, true), '10.1.2.3');
    assert.equal(normaliseAddress('10.1.2.3', 6), undefined);
    assert.equal(normaliseAddress('FD00:0::1', 6), 'fd00::1/128');
    assert.equal(normaliseAddress('10.0.0.0/255.0.255.0', 4), undefined);
  });

  it('restoreErrorLine reads legacy and nf_tables wordings', () => {
    assert.equal(restoreErrorLine('iptables-restore v1.8.9 (legacy): Set KUBE-X doesn\'t exist.\n\nError occurred at line: 8\nTry ...'), 8);
    assert.equal(restoreErrorLine('iptables-restore: line 26 failed\n'), 26);
    assert.equal(restoreErrorLine('iptables-nft-restore v1.8.9 (nf_tables): \nline 15: RULE_APPEND failed (Invalid argument): rule in chain KUBE-TEST\n'), 15);
    assert.equal(restoreErrorLine('something else'), undefined);
  });
});
