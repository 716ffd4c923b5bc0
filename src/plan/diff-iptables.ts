// iptables: one full-table restore per family and table whose KUBE-* text differs (the driver runs
// `iptables-restore --noflush`, which rewrites only the chains the text declares), and the jump rules
// from the built-in chains into them. A table whose desired text is empty is not planned (the family
// is not served); removing KUBE chains is --cleanup's job.

import type { Diagnostic } from '../model/state.js';
import { KUBE_JUMP_RULES } from '../model/ipsets.js';
import type { EnsureJumpRulesOp, FamilyName, IptablesRestoreOp, JumpRule, TableName } from './ops.js';
import { FAMILY_NAMES, ops, TABLE_NAMES } from './ops.js';
import type { NormalState } from './normalize.js';
import type { IptablesTableRef } from './options.js';

export interface IptablesDiff {
  restores: IptablesRestoreOp[];
  jumps: EnsureJumpRulesOp[];
}

export type IptablesEqual = (desired: string, observed: string, where: IptablesTableRef) => boolean;

export function jumpRulesFor(table: TableName): JumpRule[] {
  return KUBE_JUMP_RULES.filter((r) => r.table === table).map((r) => ({ from: r.from, to: r.to, comment: r.comment }));
}

/** Set names a restore text matches with `-m set --match-set NAME`: the sets it needs to exist. */
export function referencedSets(text: string): string[] {
  const out = new Set<string>();
  for (const m of text.matchAll(/--match-set\s+(\S+)/g)) out.add(m[1]!);
  return [...out].sort();
}

export function diffIptables(
  desired: NormalState,
  observed: NormalState,
  equal: IptablesEqual | undefined,
  compareTables: boolean,
  ensureJumps: boolean,
  diagnostics: Diagnostic[],
): IptablesDiff {
  const out: IptablesDiff = { restores: [], jumps: [] };
  for (const family of FAMILY_NAMES) {
    for (const table of TABLE_NAMES) {
      const want = desired.iptables[family][table];
      if (want === '') continue;
      let rewrite = false;
      if (compareTables) rewrite = !tablesEqual(want, observed.iptables[family][table], { family, table }, equal, diagnostics);
      if (rewrite) out.restores.push(ops.iptablesRestore(family, table, want));
      if (rewrite || ensureJumps) out.jumps.push(ops.ensureJumpRules(family, table, jumpRulesFor(table)));
    }
  }
  return out;
}

function tablesEqual(want: string, have: string, where: { family: FamilyName; table: TableName }, equal: IptablesEqual | undefined, diagnostics: Diagnostic[]): boolean {
  if (typeof equal !== 'function') return want === have;
  try {
    return equal(want, have, where) === true;
  } catch (err) {
    // Rewriting is the safe answer: the restore is idempotent.
    diagnostics.push({ object: `iptables ${where.family} ${where.table}`, message: `comparator failed: ${String(err)}`, kind: 'Plan' });
    return false;
  }
}
