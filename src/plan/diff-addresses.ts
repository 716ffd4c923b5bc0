// kube-ipvs0 addresses: bind what is desired, unbind what is ours and no longer desired (reference §4.5).

import type { AddAddressOp, DelAddressOp } from './ops.js';
import { ops } from './ops.js';
import type { NormalState } from './normalize.js';
import { sortAddresses } from './normalize.js';
import type { Ownership } from './ownership.js';

export interface AddressDiff {
  adds: AddAddressOp[];
  dels: DelAddressOp[];
}

/** `scope`: the only addresses to look at (a partial plan: cost follows the change); undefined = all. */
export function diffAddresses(
  desired: NormalState,
  observed: NormalState,
  ownership: Ownership,
  prune: boolean,
  scope: ReadonlySet<string> | undefined,
): AddressDiff {
  const wanted = scope ? [...scope].filter((a) => desired.addresses.has(a)) : desired.addresses;
  const present = scope ? [...scope].filter((a) => observed.addresses.has(a)) : observed.addresses;
  const adds = sortAddresses([...wanted].filter((a) => !observed.addresses.has(a)));
  const dels = prune ? sortAddresses([...present].filter((a) => !desired.addresses.has(a) && !ownership.isProtectedAddress(a))) : [];
  return { adds: adds.map((a) => ops.addAddress(a)), dels: dels.map((a) => ops.delAddress(a)) };
}
