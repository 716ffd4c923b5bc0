// Polling for kernel state that settles asynchronously. Example: IPVS counters in Linux 6.1 are per-CPU sums
// folded into what ipvsadm/netlink report by the rate estimator timer every 2 s, so a connection shows up in
// the stats only after up to 2 s.

/** Calls check until it returns a value other than undefined/false, or throws the last failure after timeoutMs. */
export async function waitFor<T>(check: () => Promise<T | undefined | false> | T | undefined | false,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string } = {}): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 10_000);
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined && v !== false) return v;
      last = undefined;
    } catch (e) {
      last = e;
    }
    if (Date.now() >= deadline) {
      const why = last instanceof Error ? `: ${last.message}` : '';
      throw new Error(`${opts.what ?? 'condition'} not reached within ${opts.timeoutMs ?? 10_000} ms${why}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 250));
  }
}
