/**
 * The two aggregates of the evaluate and table steps (spec data-and-evaluation §5.9). The caller
 * picks the summation order ASDKit's numpy/pandas call uses, so that results are bit-identical
 * to ASDKit's CSVs, not merely close.
 */

/**
 * `np.sum` of a float64 vector: numpy's pairwise summation (plain loop below 8 values, eight
 * interleaved accumulators up to 128, recursive halving above). The order matters for the last
 * bit of a mean, which shows in the written CSV text.
 */
export function numpySum(a: ArrayLike<number>, start = 0, n = a.length - start): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[start + i];
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[start + j];
    let i = 8;
    for (; i < n - (n % 8); i += 8) {
      for (let j = 0; j < 8; j++) r[j] += a[start + i + j];
    }
    // prettier-ignore
    let res = ((r[0] + r[1]) + (r[2] + r[3])) + ((r[4] + r[5]) + (r[6] + r[7]));
    for (; i < n; i++) res += a[start + i];
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return numpySum(a, start, n2) + numpySum(a, start + n2, n - n2);
}

/** Left-to-right sum, the order of a numpy reduction along a non-contiguous axis. */
export function sequentialSum(a: ArrayLike<number>): number {
  let res = 0;
  for (let i = 0; i < a.length; i++) res += a[i];
  return res;
}

/** How a mean adds up its values; the last bit of the result depends on it. */
export type SumOrder = (a: ArrayLike<number>) => number;

/**
 * scipy.stats.hmean: n / Σ 1/xᵢ computed as 1 / mean(1/x). NaN propagates; a 0 gives 1/0 = ∞,
 * so the result is exactly 0. NaN for an empty input (mean of nothing).
 */
export function hmean(values: ArrayLike<number>, sum: SumOrder = numpySum): number {
  const inv = Float64Array.from(values, (x) => 1 / x);
  return 1 / (sum(inv) / inv.length);
}

/**
 * pandas `mean(skipna=True)`: NaN cells count as 0 in the sum and are left out of the count;
 * NaN when every value is NaN or there are none.
 */
export function nanmean(values: ArrayLike<number>, sum: SumOrder = numpySum): number {
  let count = 0;
  const filled = Float64Array.from(values, (x) => {
    if (Number.isNaN(x)) return 0;
    count++;
    return x;
  });
  return count === 0 ? NaN : sum(filled) / count;
}
