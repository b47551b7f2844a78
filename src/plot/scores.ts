/**
 * Figures of a machine's test scores, as SVG (rasterised by the caller with `svgToPng`):
 * histograms of normal vs anomalous clips, one panel per domain, and ROC curves with the pAUC
 * region (FPR ≤ max FPR) shaded.
 */
import { escapeXml, FONT, linearTicks, PALETTE } from './render.js';

export interface ScoreGroup {
  /** Panel title, e.g. "source". */
  label: string;
  normal: number[];
  anomalous: number[];
}

export const NORMAL_COLOR = '#1f77b4';
export const ANOMALOUS_COLOR = '#d62728';

const f = (v: number) => v.toFixed(2);

/** `bins` equal bins over [lo, hi]; the last bin includes hi. */
export function histogram(values: number[], lo: number, hi: number, bins: number): number[] {
  const counts = new Array<number>(bins).fill(0);
  const w = (hi - lo) / bins;
  for (const v of values) {
    if (!Number.isFinite(v)) continue;
    const k = w > 0 ? Math.min(bins - 1, Math.max(0, Math.floor((v - lo) / w))) : 0;
    counts[k]++;
  }
  return counts;
}

function axes(parts: string[], x0: number, y0: number, w: number, h: number, xr: [number, number], yr: [number, number], xLabel: string, yLabel: string, xTicks = 5, yTicks = 5): void {
  const sx = (v: number) => x0 + ((v - xr[0]) / (xr[1] - xr[0])) * w;
  const sy = (v: number) => y0 + h - ((v - yr[0]) / (yr[1] - yr[0])) * h;
  for (const t of linearTicks(xr[0], xr[1], xTicks)) {
    parts.push(`<line x1="${f(sx(t.value))}" x2="${f(sx(t.value))}" y1="${y0}" y2="${y0 + h}" stroke="#ececec"/>`);
    parts.push(`<text x="${f(sx(t.value))}" y="${y0 + h + 17}" font-size="12" text-anchor="middle">${t.label}</text>`);
  }
  for (const t of linearTicks(yr[0], yr[1], yTicks)) {
    parts.push(`<line x1="${x0}" x2="${x0 + w}" y1="${f(sy(t.value))}" y2="${f(sy(t.value))}" stroke="#ececec"/>`);
    parts.push(`<text x="${x0 - 6}" y="${f(sy(t.value) + 4)}" font-size="12" text-anchor="end">${t.label}</text>`);
  }
  parts.push(`<text x="${f(x0 + w / 2)}" y="${y0 + h + 36}" font-size="13" text-anchor="middle">${escapeXml(xLabel)}</text>`);
  parts.push(`<text transform="translate(${x0 - 42} ${f(y0 + h / 2)}) rotate(-90)" font-size="13" text-anchor="middle">${escapeXml(yLabel)}</text>`);
}

/**
 * Score histograms: one panel per group (domain), normal and anomalous clips as overlaid
 * translucent bars on shared bins (the same x range in every panel, so domains compare).
 */
export function scoreHistogramSvg(title: string, groups: ScoreGroup[], o: { bins?: number; width?: number; height?: number } = {}): string {
  const W = o.width ?? 900, H = o.height ?? 340, bins = o.bins ?? 24;
  const M = { left: 62, right: 16, top: 64, bottom: 52, gap: 56 };
  const n = Math.max(1, groups.length);
  const pw = (W - M.left - M.right - (n - 1) * M.gap) / n, ph = H - M.top - M.bottom;
  let lo = Infinity, hi = -Infinity;
  for (const g of groups) for (const v of [...g.normal, ...g.anomalous]) if (Number.isFinite(v)) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (!Number.isFinite(lo)) [lo, hi] = [0, 1];
  if (hi === lo) [lo, hi] = [lo - 0.5, hi + 0.5];
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" font-size="16" text-anchor="middle">${escapeXml(title)}</text>`,
    // legend
    `<rect x="${W / 2 - 150}" y="32" width="14" height="12" fill="${NORMAL_COLOR}" fill-opacity="0.55" stroke="${NORMAL_COLOR}"/>`,
    `<text x="${W / 2 - 130}" y="43" font-size="13">normal</text>`,
    `<rect x="${W / 2 - 40}" y="32" width="14" height="12" fill="${ANOMALOUS_COLOR}" fill-opacity="0.55" stroke="${ANOMALOUS_COLOR}"/>`,
    `<text x="${W / 2 - 20}" y="43" font-size="13">anomalous</text>`,
  ];
  groups.forEach((g, k) => {
    const x0 = M.left + k * (pw + M.gap);
    const counts = [histogram(g.normal, lo, hi, bins), histogram(g.anomalous, lo, hi, bins)];
    const top = Math.max(1, ...counts.flat());
    const yr: [number, number] = [0, top * 1.08];
    axes(parts, x0, M.top, pw, ph, [lo, hi], yr, 'anomaly score', 'clips', 5, Math.min(5, Math.ceil(top)));
    const bw = pw / bins;
    const sy = (v: number) => M.top + ph - (v / yr[1]) * ph;
    counts.forEach((c, j) => {
      const color = j === 0 ? NORMAL_COLOR : ANOMALOUS_COLOR;
      const rects = c.map((v, i) => (v > 0 ? `<rect x="${f(x0 + i * bw)}" y="${f(sy(v))}" width="${f(bw)}" height="${f(M.top + ph - sy(v))}"/>` : '')).join('');
      parts.push(`<g fill="${color}" fill-opacity="0.5" stroke="${color}" stroke-width="1">${rects}</g>`);
    });
    parts.push(`<rect x="${f(x0)}" y="${M.top}" width="${f(pw)}" height="${ph}" fill="none" stroke="black"/>`);
    parts.push(`<text x="${f(x0 + pw / 2)}" y="${M.top - 6}" font-size="14" text-anchor="middle" font-weight="bold">${escapeXml(`${g.label} (${g.normal.length} normal, ${g.anomalous.length} anomalous)`)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

export interface RocSeries {
  label: string;
  fpr: ArrayLike<number>;
  tpr: ArrayLike<number>;
  color?: string;
}

/** The ROC curve's TPR at `x` (linear between points, as np.interp). */
function tprAt(fpr: ArrayLike<number>, tpr: ArrayLike<number>, x: number): number {
  for (let i = 1; i < fpr.length; i++) {
    if (fpr[i] >= x) return fpr[i] === fpr[i - 1] ? tpr[i] : tpr[i - 1] + ((tpr[i] - tpr[i - 1]) * (x - fpr[i - 1])) / (fpr[i] - fpr[i - 1]);
  }
  return tpr[tpr.length - 1];
}

/** ROC curves on the unit square, the chance diagonal, and the pAUC region FPR ≤ maxFpr shaded under each curve. */
export function rocSvg(title: string, series: RocSeries[], o: { maxFpr?: number; width?: number; height?: number } = {}): string {
  const maxFpr = o.maxFpr ?? 0.1;
  const W = o.width ?? 460, H = o.height ?? 400;
  const M = { left: 62, right: 16, top: 40, bottom: 52 };
  const legendH = 20 * series.length + 8;
  const ph = H - M.top - M.bottom, pw = Math.min(W - M.left - M.right, ph + 40);
  const x0 = M.left, y0 = M.top;
  const sx = (v: number) => x0 + v * pw;
  const sy = (v: number) => y0 + ph - v * ph;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" font-size="16" text-anchor="middle">${escapeXml(title)}</text>`,
    // the pAUC band
    `<rect x="${f(sx(0))}" y="${y0}" width="${f(sx(maxFpr) - sx(0))}" height="${ph}" fill="#f2f2f2"/>`,
  ];
  axes(parts, x0, y0, pw, ph, [0, 1], [0, 1], 'false positive rate', 'true positive rate');
  parts.push(`<line x1="${f(sx(0))}" y1="${f(sy(0))}" x2="${f(sx(1))}" y2="${f(sy(1))}" stroke="#999" stroke-dasharray="5 4"/>`);
  parts.push(`<line x1="${f(sx(maxFpr))}" y1="${y0}" x2="${f(sx(maxFpr))}" y2="${y0 + ph}" stroke="#777" stroke-dasharray="2 3"/>`);
  parts.push(`<text x="${f(sx(maxFpr) + 4)}" y="${y0 + ph - 6}" font-size="11" fill="#555">FPR ${maxFpr}</text>`);
  series.forEach((s, k) => {
    const color = s.color ?? PALETTE[k % PALETTE.length];
    // The area under the curve up to maxFpr: what pAUC measures.
    const band: string[] = [`${f(sx(0))},${f(sy(0))}`];
    for (let i = 0; i < s.fpr.length && s.fpr[i] <= maxFpr; i++) band.push(`${f(sx(s.fpr[i]))},${f(sy(s.tpr[i]))}`);
    band.push(`${f(sx(maxFpr))},${f(sy(tprAt(s.fpr, s.tpr, maxFpr)))}`, `${f(sx(maxFpr))},${f(sy(0))}`);
    parts.push(`<polygon points="${band.join(' ')}" fill="${color}" fill-opacity="0.22" stroke="none"/>`);
    const pts = Array.from({ length: s.fpr.length }, (_, i) => `${f(sx(s.fpr[i]))},${f(sy(s.tpr[i]))}`);
    parts.push(`<polyline points="${pts.join(' ')}" fill="none" stroke="${color}" stroke-width="2" stroke-linejoin="round"/>`);
  });
  parts.push(`<rect x="${x0}" y="${y0}" width="${f(pw)}" height="${ph}" fill="none" stroke="black"/>`);
  // Legend inside the lower right of the plot, where ROC curves rarely go.
  const lw = 40 + 7 * Math.max(0, ...series.map((s) => s.label.length)), lx = x0 + pw - lw - 6, ly = y0 + ph - legendH - 20;
  parts.push(`<rect x="${f(lx)}" y="${f(ly)}" width="${lw}" height="${legendH}" fill="white" fill-opacity="0.9" stroke="#ccc"/>`);
  series.forEach((s, k) => {
    const y = ly + 14 + k * 20;
    parts.push(`<line x1="${f(lx + 8)}" x2="${f(lx + 28)}" y1="${f(y)}" y2="${f(y)}" stroke="${s.color ?? PALETTE[k % PALETTE.length]}" stroke-width="2.5"/>`);
    parts.push(`<text x="${f(lx + 34)}" y="${f(y + 4)}" font-size="12">${escapeXml(s.label)}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
