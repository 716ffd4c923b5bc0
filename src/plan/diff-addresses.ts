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

export function diffAddresses(
  desired: NormalState,
  observed: NormalState,
  ownership: Ownership,
  prune: boolean,
  inScope: (address: string) => boolean,
): AddressDiff {
  const adds = sortAddresses([...desired.addresses].filter((a) => inScope(a) && !observed.addresses.has(a)));
  const dels = prune ? sortAddresses([...observed.addresses].filter((a) => inScope(a) && !desired.addresses.has(a) && !ownership.isProtectedAddress(a))) : [];
  return { adds: adds.map((a) => ops.addAddress(a)), dels: dels.map((a) => ops.delAddress(a)) };
}
