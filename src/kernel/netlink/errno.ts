// errno numbers <-> names for every errno the platform knows, so a kernel answer such as -3 prints as ESRCH
// rather than "errno 3". Names from ../errors.ts win (they are the project's vocabulary); node's
// os.constants.errno fills in the rest (ETIMEDOUT, EMSGSIZE, ...).

import { constants } from 'node:os';
import { ERRNO as PROJECT_ERRNO } from '../errors.js';

const NAMES = new Map<number, string>();
for (const [name, n] of Object.entries(PROJECT_ERRNO)) if (!NAMES.has(n)) NAMES.set(n, name);
for (const [name, n] of Object.entries(constants.errno)) if (!NAMES.has(n)) NAMES.set(n, name);

export function errnoName(errno: number): string {
  return NAMES.get(errno) ?? `errno ${errno}`;
}

/** errno numbers by name (the platform's full table). */
export const ERRNO: Readonly<Record<string, number>> = constants.errno;
