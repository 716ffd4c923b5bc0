// KUBE-* ipsets: create missing sets, add missing members, delete members that are no longer desired.
// Sets absent from the desired state (the other IP family on a single-stack node, legacy names) are not
// planned at all: removing them is --cleanup's job (cleanup.ts). Non-KUBE sets are never touched.

import type { Diagnostic, IpsetType } from '../model/state.js';
import type { IpsetAddOp, IpsetCreateOp, IpsetDelOp } from './ops.js';
import { ops } from './ops.js';
import type { NormalState } from './normalize.js';
import type { EntryScope } from './options.js';
import { compareStrings } from './normalize.js';
import { isKubeName } from './ownership.js';

export interface IpsetDiff {
  creates: IpsetCreateOp[];
  adds: IpsetAddOp[];
  dels: IpsetDelOp[];
}

export function diffIpsets(
  desired: NormalState,
  observed: NormalState,
  prune: boolean,
  entryScope: EntryScope,
  diagnostics: Diagnostic[],
): IpsetDiff {
  const out: IpsetDiff = { creates: [], adds: [], dels: [] };
  for (const name of [...desired.ipsets.keys()].sort(compareStrings)) {
    const d = desired.ipsets.get(name)!;
    if (!isKubeName(name)) {
      diagnostics.push({ object: name, message: 'desired: set is not KUBE-*: kube-ipvs does not manage it', kind: 'Plan' });
      continue;
    }
    const family = d.family === 'inet6' ? 'inet6' : 'inet';
    const o = observed.ipsets.get(name);
    // Members are diffed against the kernel's only when the kernel's set is the one we want.
    let current: ReadonlySet<string> | undefined = o?.entries;
    // Creation is never scoped: it deletes nothing and the iptables rules need every set to exist.
    if (!o) {
      out.creates.push(ops.ipsetCreate(name, d.type as IpsetType, family));
    } else if (o.type !== d.type || o.family !== family) {
      // `ipset create -exist` fails on a type clash, as kube-proxy's sync does: the driver reports the
      // kernel's error and everything that needs the set is skipped (its members, rules using it).
      diagnostics.push({ object: name, message: `observed: set is ${o.type} ${o.family}, desired ${d.type} ${family}`, kind: 'Plan' });
      out.creates.push(ops.ipsetCreate(name, d.type as IpsetType, family));
      current = undefined;
    }
    // A scoped plan looks only at the scope's members: its cost follows the change, not the set size.
    const scoped = entryScope(name, d.type);
    const wanted = scoped ? [...scoped].filter((e) => d.entries.has(e)) : [...d.entries];
    for (const e of wanted.sort(compareStrings)) if (!current?.has(e)) out.adds.push(ops.ipsetAdd(name, e));
    if (!prune || !current) continue;
    const present = scoped ? [...scoped].filter((e) => current.has(e)) : [...current];
    for (const e of present.sort(compareStrings)) if (!d.entries.has(e)) out.dels.push(ops.ipsetDel(name, e));
  }
  return out;
}
