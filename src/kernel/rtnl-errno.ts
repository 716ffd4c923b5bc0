// The `netlink` package reports a kernel NLMSG_ERROR as a plain Error('Request rejected: EEXIST') (the errno
// survives only as text; unknown numbers are printed as digits), and socket failures as ErrnoException with
// `code`. These helpers recover the errno so drivers can decide ("already exists" is success) and keep it in
// KernelError.

import { constants } from 'node:os';
import { KernelError, errnoName } from './errors.js';

const ERRNO_BY_NAME: Readonly<Record<string, number>> = constants.errno;

export interface NetlinkErrno {
  /** errno name (EEXIST), when known. */
  code?: string;
  errno?: number;
}

/** The errno carried by an error thrown by the `netlink` package, or undefined when it carries none. */
export function netlinkErrno(e: unknown): NetlinkErrno | undefined {
  if (!(e instanceof Error)) return undefined;
  const m = /^Request rejected: (\w+)$/.exec(e.message);
  if (m) {
    const word = m[1]!;
    if (/^-?\d+$/.test(word)) {
      const errno = Math.abs(Number(word));
      const name = errnoName(errno);
      return name.startsWith('errno ') ? { errno } : { code: name, errno };
    }
    return { code: word, errno: ERRNO_BY_NAME[word] };
  }
  const code = (e as { code?: unknown }).code;
  if (typeof code === 'string' && /^E[A-Z0-9]+$/.test(code)) return { code, errno: ERRNO_BY_NAME[code] };
  return undefined;
}

/** True when the error carries one of the given errno names (ENOTSUP and EOPNOTSUPP count as one). */
export function hasErrno(e: unknown, ...codes: string[]): boolean {
  const n = netlinkErrno(e);
  if (!n) return false;
  return codes.some((c) => c === n.code || (n.errno !== undefined && ERRNO_BY_NAME[c] === n.errno));
}

/** Wraps a `netlink` package error as a KernelError for `op`, keeping errno and code. */
export function kernelErrorFrom(op: string, e: unknown): KernelError {
  if (e instanceof KernelError) return e;
  const n = netlinkErrno(e);
  const message = e instanceof Error ? e.message : String(e);
  const text = n?.code ?? (n?.errno !== undefined ? `errno ${n.errno}` : message);
  return new KernelError(op, text, { errno: n?.errno, code: n?.code });
}
