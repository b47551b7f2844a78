/**
 * ASDKit's UMAP figure (spec backends-recipes-outputs §4) drawn as SVG and rasterised with resvg:
 * two panels (train only; train faded + test), hollow markers in the reference colours and order,
 * a two-column legend above each panel, shared axis limits (data range ± 0.5). Unlike the
 * reference, each panel has a title and axis labels, and a faded series keeps at least
 * `MIN_FADED_OPACITY` (at the reference's 0.2 the light `train_target_normal` squares vanish).
 */
import { escapeXml, FONT, svgToPng } from './render.js';

// The visualize step imports the rasteriser from here.
export { svgToPng };

export type Marker = 'square' | 'circle' | 'triangle';

export interface Series {
  label: string;
  marker: Marker;
  color: string;
  /** Stroke opacity (the faded train series: 0.2). */
  alpha?: number;
  strokeWidth?: number;
  x: number[];
  y: number[];
}

export interface Limits {
  x: [number, number];
  y: [number, number];
}

const WIDTH = 1600;
const HEIGHT = 920;
const PANEL = { top: 150, bottom: 40, left: 50, gap: 80 };
const MARKER = 8.4; // ≈ sqrt(70 pt²) at 100 dpi: the reference's s = 70
/** The least stroke opacity a faded series is drawn with (and 0.8 in the legend, so its entry reads). */
export const MIN_FADED_OPACITY = 0.45;

export interface PanelTitles {
  left: string;
  right: string;
  x: string;
  y: string;
}

export const DEFAULT_TITLES: PanelTitles = {
  left: 'Training clips',
  right: 'Test clips (training clips faded)',
  x: 'UMAP dimension 1',
  y: 'UMAP dimension 2',
};

const opacity = (s: Series, legend = false) => (s.alpha === undefined || s.alpha >= 1 ? 1 : Math.max(s.alpha, legend ? 0.8 : MIN_FADED_OPACITY));
const strokeWidth = (s: Series) => Math.max(s.strokeWidth ?? 2, s.alpha !== undefined && s.alpha < 1 ? 1.5 : 0);

function markerPath(m: Marker, cx: number, cy: number, r: number): string {
  switch (m) {
    case 'square':
      return `<rect x="${(cx - r).toFixed(2)}" y="${(cy - r).toFixed(2)}" width="${(2 * r).toFixed(2)}" height="${(2 * r).toFixed(2)}"/>`;
    case 'circle':
      return `<circle cx="${cx.toFixed(2)}" cy="${cy.toFixed(2)}" r="${r.toFixed(2)}"/>`;
    case 'triangle':
      return `<path d="M${cx.toFixed(2)},${(cy - r * 1.15).toFixed(2)} L${(cx + r).toFixed(2)},${(cy + r * 0.6).toFixed(2)} L${(cx - r).toFixed(2)},${(cy + r * 0.6).toFixed(2)} Z"/>`;
  }
}

function panel(series: Series[], lim: Limits, x0: number, width: number, title: string, axes: PanelTitles): string {
  const h = HEIGHT - PANEL.top - PANEL.bottom;
  const sx = (v: number) => x0 + ((v - lim.x[0]) / (lim.x[1] - lim.x[0])) * width;
  const sy = (v: number) => PANEL.top + h - ((v - lim.y[0]) / (lim.y[1] - lim.y[0])) * h;
  const parts = [`<rect x="${x0}" y="${PANEL.top}" width="${width}" height="${h}" fill="white" stroke="black" stroke-width="1"/>`];
  for (const s of series) {
    const style = `fill="none" stroke="${s.color}" stroke-opacity="${opacity(s)}" stroke-width="${strokeWidth(s)}"`;
    parts.push(`<g ${style}>${s.x.map((x, i) => markerPath(s.marker, sx(x), sy(s.y[i]), MARKER / 2)).join('')}</g>`);
  }
  // Legend: two columns above the panel, right-aligned to it (anchor (1.0, 1.15) in the reference).
  const colW = 290;
  const rowH = 26;
  const rows = Math.ceil(series.length / 2);
  const lx = x0 + width - 2 * colW;
  const ly = PANEL.top - 12 - rows * rowH;
  parts.push(`<rect x="${lx - 10}" y="${ly - 8}" width="${2 * colW + 10}" height="${rows * rowH + 12}" fill="white" stroke="#cccccc"/>`);
  series.forEach((s, i) => {
    const cx = lx + (i % 2) * colW + 12;
    const cy = ly + Math.floor(i / 2) * rowH + rowH / 2;
    parts.push(`<g fill="none" stroke="${s.color}" stroke-opacity="${opacity(s, true)}" stroke-width="${Math.max(strokeWidth(s), 2)}">${markerPath(s.marker, cx, cy, MARKER / 2)}</g>`);
    parts.push(`<text x="${cx + 16}" y="${cy + 5}" font-family="${FONT}" font-size="15">${escapeXml(s.label)}</text>`);
  });
  parts.push(`<text x="${x0}" y="32" font-family="${FONT}" font-size="21" font-weight="bold">${escapeXml(title)}</text>`);
  parts.push(`<text x="${x0 + width / 2}" y="${HEIGHT - 12}" font-family="${FONT}" font-size="16" text-anchor="middle">${escapeXml(axes.x)}</text>`);
  parts.push(`<text transform="translate(${x0 - 16} ${PANEL.top + h / 2}) rotate(-90)" font-family="${FONT}" font-size="16" text-anchor="middle">${escapeXml(axes.y)}</text>`);
  return parts.join('\n');
}

/** The figure as SVG: `left` and `right` series, drawn in order (later on top), with panel titles and axis labels. */
export function scatterSvg(left: Series[], right: Series[], lim: Limits, titles: Partial<PanelTitles> = {}): string {
  const width = (WIDTH - 2 * PANEL.left - PANEL.gap) / 2;
  const t = { ...DEFAULT_TITLES, ...titles };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}">`,
    `<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`,
    panel(left, lim, PANEL.left, width, t.left, t),
    panel(right, lim, PANEL.left + width + PANEL.gap, width, t.right, t),
    '</svg>',
  ].join('\n');
}

export const FIGURE_SIZE = { width: WIDTH, height: HEIGHT };
