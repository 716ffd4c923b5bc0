// Which ops an executor must skip after some failed, whatever executor it is (the syncer, `plan apply`,
// the simulator): every op that depends on a failed op, directly or through other skipped ops. A failed
// op skips only its dependants; unrelated ops still run (principle 5: one bad object never stops the node).

import type { Op } from './ops.js';

/** The ops (in plan order, failed ones excluded) to skip because something they depend on failed. */
export function opsToSkip(ops: readonly Op[], failedIds: Iterable<string>): Op[] {
  const dependants = new Map<string, string[]>();
  const list = Array.isArray(ops) ? ops.filter((op): op is Op => typeof op?.id === 'string') : [];
  for (const op of list) {
    for (const dep of Array.isArray(op.dependsOn) ? op.dependsOn : []) {
      const known = dependants.get(dep);
      if (known) known.push(op.id);
      else dependants.set(dep, [op.id]);
    }
  }
  const failed = new Set<string>();
  try {
    for (const id of failedIds) if (typeof id === 'string') failed.add(id);
  } catch {
    // not iterable: nothing failed
  }
  const skipped = new Set<string>();
  const queue = [...failed];
  while (queue.length > 0) {
    const id = queue.pop()!;
    for (const next of dependants.get(id) ?? []) {
      if (skipped.has(next) || failed.has(next)) continue;
      skipped.add(next);
      queue.push(next);
    }
  }
  return list.filter((op) => skipped.has(op.id));
}
