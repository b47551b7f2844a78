/**
 * What every figure shares: the font, the colour cycle, text escaping, axis ticks and the
 * SVG → PNG rasteriser (resvg: no browser; text needs fonts-dejavu-core or another system font).
 */
import { Resvg } from '@resvg/resvg-js';

export const FONT = 'DejaVu Sans, sans-serif';

/** matplotlib's default colour cycle (tab10), so curves look like the reference's plots. */
export const PALETTE = ['#1f77b4', '#ff7f0e', '#2ca02c', '#d62728', '#9467bd', '#8c564b', '#e377c2', '#7f7f7f', '#bcbd22', '#17becf'];

export const escapeXml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** About `count` round tick values (1, 2 or 5 × 10^k apart) inside [lo, hi], with their labels. */
export function linearTicks(lo: number, hi: number, count = 6): Array<{ value: number; label: string }> {
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const decimals = Math.max(0, -Math.floor(Math.log10(step) + 1e-9));
  const top = Math.max(Math.abs(lo), Math.abs(hi));
  const exponent = top >= 1e5 || top < 1e-2;
  const ticks: Array<{ value: number; label: string }> = [];
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) {
    const value = k * step;
    ticks.push({ value, label: tickLabel(value, decimals, exponent) });
  }
  return ticks;
}

/** Powers of ten inside [lo, hi] (lo > 0); 2× and 5× as well when that gives fewer than 3 ticks. */
export function logTicks(lo: number, hi: number): Array<{ value: number; label: string }> {
  const decades: number[] = [];
  for (let k = Math.floor(Math.log10(lo)); k <= Math.ceil(Math.log10(hi)); k++) decades.push(k);
  const pick = (mults: number[]) =>
    decades
      .flatMap((k) => mults.map((m) => ({ value: m * 10 ** k, label: tickLabel(m * 10 ** k, Math.max(0, -k), k >= 5 || k < -2) })))
      .filter((t) => t.value >= lo && t.value <= hi);
  const ticks = pick([1]);
  return ticks.length >= 3 ? ticks : pick([1, 2, 5]);
}

/** Fixed decimals in the usual range, else `8e-4` / `2.5e6` (float noise such as 6.000000001e-4 rounded off). */
function tickLabel(v: number, decimals: number, exponent: boolean): string {
  if (v === 0) return '0';
  if (exponent) return Number(v.toPrecision(12)).toExponential().replace('e+', 'e');
  return v.toFixed(decimals);
}

/** Rasterises an SVG to PNG bytes. */
export function svgToPng(svg: string): Uint8Array {
  return new Resvg(svg, { background: 'white', font: { loadSystemFonts: true, defaultFontFamily: 'DejaVu Sans' } }).render().asPng();
}
