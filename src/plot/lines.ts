/**
 * A line chart (several series over one x axis) as SVG and PNG: title, axis labels, grid, ticks,
 * a legend right of the plot (named series only), optional log-scale y. Non-finite points (and non-positive
 * ones on a log axis) break a line instead of bending it; short series get point markers so a
 * single epoch still shows up.
 */
import { escapeXml, FONT, linearTicks, logTicks, PALETTE, svgToPng } from './render.js';

export interface LineSeries {
  label: string;
  x: number[];
  y: number[];
  /** Default: the palette colour of the series' position. */
  color?: string;
}

export interface LineChart {
  title: string;
  xLabel: string;
  yLabel?: string;
  series: LineSeries[];
  logY?: boolean;
  /** Start of the x axis (default: the smallest x). */
  xMin?: number;
  width?: number;
  height?: number;
}

const M = { left: 90, right: 24, top: 48, bottom: 58 };
const MARKERS_UP_TO = 60;

/** [lo, hi] of the values, padded by 5 % (in log space for a log axis); a flat line sits mid-height (±50 %, ×÷2 on a log axis). */
function range(values: number[], log: boolean, pad: boolean): [number, number] {
  if (values.length === 0) return log ? [0.1, 10] : [0, 1];
  const t = log ? values.map(Math.log10) : values;
  // A loop, not Math.min(...t): a long training log would overflow the argument list.
  let lo = Infinity, hi = -Infinity;
  for (const v of t) [lo, hi] = [Math.min(lo, v), Math.max(hi, v)];
  if (hi === lo) [lo, hi] = log ? [lo - 0.3, hi + 0.3] : [lo - (Math.abs(lo) || 1) / 2, hi + (Math.abs(hi) || 1) / 2];
  else if (pad) [lo, hi] = [lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo)];
  return log ? [10 ** lo, 10 ** hi] : [lo, hi];
}

const sameValues = (a: number[], b: number[]) => a.length === b.length && a.every((v, i) => Object.is(v, b[i]) || v === b[i]);

/**
 * Series that draw the same line (equal x and y, point for point) as one, labelled `a = b`: the
 * dis_* logs hold `main` and `dis_main` with the same values, and two identical curves would only
 * hide each other.
 */
export function mergeDuplicateSeries(series: LineSeries[]): LineSeries[] {
  const out: LineSeries[] = [];
  for (const s of series) {
    const k = out.findIndex((o) => sameValues(o.x, s.x) && sameValues(o.y, s.y));
    if (k < 0) out.push({ ...s });
    else if (s.label && !out[k].label.split(' = ').includes(s.label)) out[k].label = out[k].label ? `${out[k].label} = ${s.label}` : s.label;
  }
  return out;
}

export function lineChartSvg(chart: LineChart): string {
  const c = { ...chart, series: mergeDuplicateSeries(chart.series) };
  const W = c.width ?? 900, H = c.height ?? 460;
  const named = c.series.some((s) => s.label);
  const legendW = named ? 44 + 8 * Math.max(...c.series.map((s) => s.label.length)) : 0;
  const pw = W - M.left - M.right - legendW, ph = H - M.top - M.bottom;
  const log = c.logY ?? false;
  const usable = (x: number, y: number) => Number.isFinite(x) && Number.isFinite(y) && (!log || y > 0);
  const xs: number[] = [], ys: number[] = [];
  for (const s of c.series) s.x.forEach((x, i) => usable(x, s.y[i]) && (xs.push(x), ys.push(s.y[i])));
  const [x0, x1] = range(c.xMin === undefined ? xs : [c.xMin, ...xs], false, false);
  const [y0, y1] = range(ys, log, true);
  const sx = (x: number) => M.left + ((x - x0) / (x1 - x0)) * pw;
  const fy = log ? Math.log10 : (v: number) => v;
  const sy = (y: number) => M.top + ph - ((fy(y) - fy(y0)) / (fy(y1) - fy(y0))) * ph;
  const f = (v: number) => v.toFixed(2);

  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="${FONT}">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="30" font-size="18" text-anchor="middle">${escapeXml(c.title)}</text>`,
  ];
  for (const t of linearTicks(x0, x1)) {
    parts.push(`<line x1="${f(sx(t.value))}" x2="${f(sx(t.value))}" y1="${M.top}" y2="${M.top + ph}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${f(sx(t.value))}" y="${M.top + ph + 20}" font-size="13" text-anchor="middle">${t.label}</text>`);
  }
  for (const t of log ? logTicks(y0, y1) : linearTicks(y0, y1)) {
    parts.push(`<line x1="${M.left}" x2="${M.left + pw}" y1="${f(sy(t.value))}" y2="${f(sy(t.value))}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${M.left - 8}" y="${f(sy(t.value) + 4.5)}" font-size="13" text-anchor="end">${t.label}</text>`);
  }
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="black"/>`);
  parts.push(`<text x="${M.left + pw / 2}" y="${H - 14}" font-size="14" text-anchor="middle">${escapeXml(c.xLabel)}</text>`);
  if (c.yLabel) {
    parts.push(`<text transform="translate(20 ${M.top + ph / 2}) rotate(-90)" font-size="14" text-anchor="middle">${escapeXml(c.yLabel)}</text>`);
  }
  if (xs.length === 0) parts.push(`<text x="${M.left + pw / 2}" y="${M.top + ph / 2}" font-size="15" text-anchor="middle" fill="#888">no finite values</text>`);

  const colorOf = (s: LineSeries, k: number) => s.color ?? PALETTE[k % PALETTE.length];
  c.series.forEach((s, k) => {
    const color = colorOf(s, k);
    const pts = s.x.map((x, i): [number, number] | undefined => (usable(x, s.y[i]) ? [sx(x), sy(s.y[i])] : undefined));
    const d = runs(pts).map((run) => 'M' + run.map(([px, py]) => `${f(px)},${f(py)}`).join('L')).join('');
    if (d) parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="1.6" stroke-linejoin="round"/>`);
    if (s.x.length <= MARKERS_UP_TO) {
      const dots = pts.flatMap((p) => (p ? [`<circle cx="${f(p[0])}" cy="${f(p[1])}" r="3"/>`] : []));
      parts.push(`<g fill="${color}">${dots.join('')}</g>`);
    }
  });

  // Legend outside the plot, so it never hides a curve.
  if (named) {
    const rowH = 20;
    const bx = M.left + pw + 12, by = M.top;
    c.series.forEach((s, k) => {
      const y = by + 4 + k * rowH + rowH / 2;
      parts.push(`<line x1="${bx + 8}" x2="${bx + 28}" y1="${y}" y2="${y}" stroke="${colorOf(s, k)}" stroke-width="2.5"/>`);
      parts.push(`<text x="${bx + 34}" y="${y + 4.5}" font-size="13">${escapeXml(s.label)}</text>`);
    });
  }
  parts.push('</svg>');
  return parts.join('\n');
}

/**
 * The unbroken runs of a line, keeping per pixel column only its lowest and highest point (in
 * order): a log of thousands of steps then rasterises about as fast as a short one and looks the
 * same, peaks included.
 */
function runs(pts: Array<[number, number] | undefined>): Array<Array<[number, number]>> {
  const out: Array<Array<[number, number]>> = [];
  let run: Array<[number, number]> = [];
  let column: Array<[number, number]> = [];
  const flushColumn = () => {
    if (column.length <= 2) run.push(...column);
    else {
      const lo = column.reduce((a, p) => (p[1] < a[1] ? p : a));
      const hi = column.reduce((a, p) => (p[1] > a[1] ? p : a));
      run.push(...(column.indexOf(lo) < column.indexOf(hi) ? [lo, hi] : [hi, lo]));
    }
    column = [];
  };
  for (const p of [...pts, undefined]) {
    if (p && column.length && Math.round(p[0]) === Math.round(column[0][0])) column.push(p);
    else {
      flushColumn();
      if (p) column.push(p);
      else if (run.length) out.push(run), (run = []);
    }
  }
  return out;
}

export const lineChartPng = (c: LineChart): Uint8Array => svgToPng(lineChartSvg(c));
