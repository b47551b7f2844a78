/**
 * Python's `repr(float)` (what pandas writes into CSVs): shortest round-trip digits, positional
 * for decimal exponents -4..15 with at least one decimal (`1.0`), otherwise scientific with a
 * signed, at-least-two-digit exponent (`1e-05`, `1.5e+16`). NaN is written by callers as ''.
 */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  // JS exponential form gives exactly the shortest round-trip digits.
  const [mant, expStr] = x.toExponential().split('e');
  const exp = Number(expStr);
  const neg = mant.startsWith('-');
  const digits = mant.replace('-', '').replace('.', '');
  const sign = neg ? '-' : '';
  if (exp < -4 || exp >= 16) {
    const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
    const e = Math.abs(exp).toString().padStart(2, '0');
    return `${sign}${m}e${exp < 0 ? '-' : '+'}${e}`;
  }
  if (exp < 0) return `${sign}0.${'0'.repeat(-exp - 1)}${digits}`;
  if (digits.length <= exp + 1) return `${sign}${digits}${'0'.repeat(exp + 1 - digits.length)}.0`;
  return `${sign}${digits.slice(0, exp + 1)}.${digits.slice(exp + 1)}`;
}

/** Shortest round-trip text of a float32 value, Python/numpy style (`0.33333334`). */
export function pyFloat32(x: number): string {
  if (!Number.isFinite(x)) return pyFloat(x);
  const f = Math.fround(x);
  // Find the fewest significant digits that round-trip through float32.
  for (let p = 1; p <= 9; p++) {
    const s = f.toPrecision(p);
    if (Math.fround(Number(s)) === f) return pyFloat(Number(s));
  }
  return pyFloat(f);
}

/** CSV cell for a float: empty for NaN, Python repr otherwise. */
export function csvFloat(x: number): string {
  return Number.isNaN(x) ? '' : pyFloat(x);
}
