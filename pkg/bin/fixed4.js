// The CLI's ratios, printed digit for digit as the native tool prints them.

/**
 * `x` (finite, not negative) with four decimals as Rust's `{:.4}` prints it: the double's exact
 * value rounded, an exact tie to the even digit, where `toFixed` (exact otherwise) goes up.
 * A double is an exact tie only at an odd multiple of 1/32 (x · 10⁴ = k + ½ makes x = (2k + 1)
 * / 20000, a binary fraction only when 5⁴ divides 2k + 1): testing `x * 10000` for ½ instead
 * took doubles near a tie for ties (777/4000 is 0.19425000000000000599…, so 0.1943, not 0.1942).
 */
export function fixed4(x) {
  const t = x * 32; // exact: a power of two
  if (Number.isInteger(t) && t % 2 === 1) {
    const low = Math.floor(x * 10000); // exact too: x · 10⁴ = t · 312.5
    if (low % 2 === 0) return (low / 10000).toFixed(4);
  }
  return x.toFixed(4);
}
