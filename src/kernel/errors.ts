// Typed errors from the only code that touches the kernel. They carry what an operator needs to act:
// the operation that failed (in its printable form), the errno name/number or the tool's exit code and stderr.

export class KernelError extends Error {
  override readonly name = 'KernelError';
  constructor(
    /** The failing operation in printable form, e.g. "add-virtual-server TCP/10.96.0.10:80". */
    readonly op: string,
    message: string,
    readonly details: { errno?: number; code?: string; exitCode?: number; stderr?: string } = {},
  ) {
    super(`${op}: ${message}`);
  }
  /** errno name such as "EEXIST", when the kernel returned one. */
  get code(): string | undefined {
    return this.details.code;
  }
}

/** Linux errno numbers that matter for idempotent reconciliation, and their names. */
export const ERRNO: Record<string, number> = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  EIO: 5,
  ENXIO: 6,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  ENOSPC: 28,
  ERANGE: 34,
  ENOSYS: 38,
  ENOBUFS: 105,
  EOPNOTSUPP: 95,
  EAFNOSUPPORT: 97,
  EADDRINUSE: 98,
  EADDRNOTAVAIL: 99,
  ENOTSUP: 95,
  EPROTONOSUPPORT: 93,
};

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(ERRNO)) if (!(v in NAMES)) NAMES[v] = k;

export function errnoName(errno: number): string {
  return NAMES[errno] ?? `errno ${errno}`;
}
