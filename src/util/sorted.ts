// Binary search over a list of strings sorted by code unit order (plain `<`, as Array.prototype.sort and
// plan/normalize.ts compareStrings order them).

/** The first index whose element is not less than `key` (where `key` would be inserted). */
export function lowerBound(sorted: readonly string[], key: string): number {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (sorted[mid]! < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
