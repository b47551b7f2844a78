/**
 * `asdkit grid table`: one number per recipe (version) × year × split × metric, the mean ± sample
 * std over the grid's seeds of the `total` of each cell's own table CSV (`<split>_<metric>.csv`,
 * as the table step wrote it), for one back-end row. Written to `<grid dir>/table/` as CSV and as
 * Markdown laid out like ASDKit's paper (Fig. 2: a row per method, a column per year × split).
 */
import path from 'node:path';
import { resolveBackend } from '../backends/config.js';
import { yearSuffix, type Dcase } from '../dcase/index.js';
import { parseFloatCell, readCsvFile, toCsv, type Cell } from '../util/csv.js';
import { exists, writeAtomic } from '../util/files.js';
import { gridHtml, type GridHtmlRow, type GridHtmlSection } from '../report/grid.js';
import { runIdsOf, versionDir } from '../run/index.js';
import { cellOutputDir, gridDir, type GridCell } from './cells.js';
import { ensembleRuns } from './ensemble.js';
import type { GridSpec } from './spec.js';
import { cellDone } from './state.js';

export interface GridTableOptions {
  /** Back-end row (score column) of every cell; default each cell's first back-end (no back-ends: the table's first row). */
  backend?: string;
  /** Metrics (default `official`, i.e. `official<yy>` of each year). */
  metrics?: string[];
  /** Add a row per recipe (version) × year: the ensemble (mean of scores) of its done seeds. */
  ensemble?: boolean;
}

export const GRID_TABLE_COLUMNS = ['recipe', 'version', 'dcase', 'split', 'metric', 'backend', 'mean', 'std', 'n', 'seeds'];
const SPLITS = ['dev', 'eval'] as const;

/** One aggregated entry: a version × year × split × metric. */
export interface GridTableRow {
  recipe: string;
  version: string;
  dcase: Dcase;
  split: (typeof SPLITS)[number];
  metric: string;
  backend: string;
  mean: number;
  /** Sample std (ddof 1); NaN for a single value. */
  std: number;
  n: number;
  seeds: Array<number | string>;
  /** Set on ensemble rows. */
  ensembleOf?: Array<number | string>;
}

/** Mean and sample standard deviation (ddof 1; NaN below two values). */
export function meanStd(values: readonly number[]): { mean: number; std: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  const std = n < 2 ? NaN : Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  return { mean, std };
}

const resolveMetric = (metric: string, dcase: Dcase) => (metric === 'official' ? `official${yearSuffix(dcase)}` : metric);

/** The back-end row a cell contributes: the option, else its config's first back-end, else the table's first row. */
function cellBackend(c: GridCell, given: string | undefined): string | undefined {
  if (given) return given;
  if (c.config.score.backend.length > 0) return resolveBackend(c.config.score.backend[0]).column;
  return undefined; // readTotal takes the first row
}

/** `total` of one back-end row of a table CSV (undefined with a warning when absent or not a number). */
async function readTotal(file: string, backend: string | undefined, warn: (w: string) => void): Promise<{ value: number; backend: string } | undefined> {
  const t = await readCsvFile(file, 'table');
  const rows = t.rows.map((r) => r[0]);
  const b = backend ?? rows[0];
  const i = rows.indexOf(b);
  const j = t.columns.indexOf('total');
  if (i < 0 || j < 0) {
    warn(`${file}: ${j < 0 ? 'no total column' : `no row ${b} (rows: ${rows.join(', ') || 'none'})`}; left out`);
    return undefined;
  }
  const v = parseFloatCell(t.rows[i][j]);
  if (v === undefined || Number.isNaN(v)) {
    warn(`${file}: total of ${b} is not a number ("${t.rows[i][j]}"); left out`);
    return undefined;
  }
  return { value: v, backend: b };
}

/** The version groups of a grid in cell order, each with its cells per year. */
function groups(cells: GridCell[]): Array<{ recipe: string; version: string; byYear: Map<Dcase, GridCell[]> }> {
  const out = new Map<string, { recipe: string; version: string; byYear: Map<Dcase, GridCell[]> }>();
  for (const c of cells) {
    let g = out.get(c.version);
    if (!g) out.set(c.version, (g = { recipe: c.recipe, version: c.version, byYear: new Map() }));
    g.byYear.set(c.dcase, [...(g.byYear.get(c.dcase) ?? []), c]);
  }
  return [...out.values()];
}

const pct = (v: number) => (100 * v).toFixed(1);

/** `mean ± std` in percent; `–` for a missing std; `(n=k)` when fewer than all seeds are in. */
function cellText(r: GridTableRow | undefined, seeds: number): string {
  if (!r) return '–';
  if (r.ensembleOf) return `${pct(r.mean)}¹`;
  return `${pct(r.mean)} ± ${Number.isNaN(r.std) ? '–' : pct(r.std)}${r.n < seeds ? ` (n=${r.n})` : ''}`;
}

/** One metric's table as laid out for Markdown and HTML: a column per year × split with a value, a row per version (its ensemble below it). */
function sectionOf(g: GridSpec, metric: string, rows: GridTableRow[], versions: Array<{ recipe: string; version: string }>, links: Map<string, GridHtmlRow['links']>): GridHtmlSection & { ensembleNote: boolean } {
  const columns = g.years.flatMap((y) => SPLITS.filter((s) => rows.some((r) => r.dcase === y && r.split === s)).map((s) => ({ dcase: y, split: s })));
  const name = metric === 'official' ? 'official score (official<yy> of each year)' : metric;
  const caption =
    `${name}, \`total\` over machines, in %: mean ± sample std (ddof 1) over seeds ${g.seeds.join(', ')}; ` +
    `(n=k) where only k of ${g.seeds.length} seeds are done; – where there is no value.`;
  const labels = versions.flatMap((v) => [v.version, ...(rows.some((r) => r.version === `${v.version}-ensemble`) ? [`${v.version}-ensemble`] : [])]);
  const out: GridHtmlRow[] = labels.map((label) => {
    const mine = rows.filter((r) => r.version === label);
    const cells = columns.map((c) => {
      const r = mine.find((x) => x.dcase === c.dcase && x.split === c.split);
      const title = r && `${r.metric} ${r.backend}: mean ${r.mean}, std ${Number.isNaN(r.std) ? '–' : r.std}, n ${r.n}, seeds ${r.seeds.join(' ')}`;
      return { text: cellText(r, g.seeds.length), title };
    });
    return { label, ensemble: mine.some((r) => r.ensembleOf), cells, links: links.get(label) };
  });
  return { metric, caption, columns: columns.map((c) => `${c.dcase} ${c.split}`), rows: out, ensembleNote: rows.some((r) => r.ensembleOf) };
}

const ENSEMBLE_NOTE = '¹ ensemble of the done seeds (mean of their scores), one value.';

function markdownOf(g: GridSpec, s: ReturnType<typeof sectionOf>): string {
  const header = ['recipe', ...s.columns];
  return [
    `### ${g.name}: ${s.metric}`, '', s.caption, ...(s.ensembleNote ? [ENSEMBLE_NOTE] : []), '',
    `| ${header.join(' | ')} |`, `| ${header.map((_, i) => (i === 0 ? '---' : '---:')).join(' | ')} |`,
    ...s.rows.map((r) => `| ${[r.label, ...r.cells.map((c) => c.text)].join(' | ')} |`),
  ].join('\n');
}

/** Links from the grid page to the report.html of each done run that has one (`<dcase> s<seed>`). */
async function reportLinks(cells: GridCell[], done: Map<string, boolean>, pageDir: string): Promise<Map<string, GridHtmlRow['links']>> {
  const out = new Map<string, NonNullable<GridHtmlRow['links']>>();
  for (const c of cells) {
    if (!done.get(c.id)) continue;
    const file = path.join(versionDir(runIdsOf(c.config)), 'report.html');
    if (!(await exists(file))) continue;
    const list = out.get(c.version) ?? [];
    list.push({ text: `${c.dcase.replace('dcase', '')} s${c.seed}`, href: path.relative(pageDir, file).split(path.sep).join('/') });
    out.set(c.version, list);
  }
  return out;
}

export async function gridTable(g: GridSpec, cells: GridCell[], o: GridTableOptions = {}): Promise<{ csv: string; markdown: string; files: string[]; warnings: string[]; rows: GridTableRow[] }> {
  const metrics = o.metrics?.length ? o.metrics : ['official'];
  const warnings: string[] = [];
  const warn = (w: string) => warnings.push(w);
  const done = new Map<string, boolean>(await Promise.all(cells.map(async (c) => [c.id, await cellDone(c)] as [string, boolean])));
  const missing = cells.filter((c) => !done.get(c.id)).map((c) => c.id);
  if (missing.length) warn(`${missing.length} of ${cells.length} cell(s) not done, left out: ${missing.join(', ')}`);
  const versions = groups(cells);

  const all: GridTableRow[] = [];
  for (const metric of metrics) {
    for (const v of versions) {
      for (const [dcase, yearCells] of v.byYear) {
        const m = resolveMetric(metric, dcase);
        for (const split of SPLITS) {
          const file = `${split}_${m}.csv`;
          const values: number[] = [];
          const seeds: Array<number | string> = [];
          const backends = new Set<string>();
          const lacking: string[] = [];
          let anyFile = false;
          for (const c of yearCells.filter((x) => done.get(x.id))) {
            const f = path.join(cellOutputDir(c), file);
            if (!(await exists(f))) {
              lacking.push(c.id);
              continue;
            }
            anyFile = true;
            const r = await readTotal(f, cellBackend(c, o.backend), warn);
            if (!r) continue;
            values.push(r.value);
            seeds.push(c.seed);
            backends.add(r.backend);
          }
          // A split no cell has (e.g. no eval machines) is no column; one only some lack is a warning.
          if (!anyFile) continue;
          if (lacking.length) warn(`${file} missing in done cell(s) ${lacking.join(', ')}; left out`);
          if (values.length === 0) continue;
          if (backends.size > 1) warn(`${v.version} ${dcase} ${file}: seeds use different back-ends (${[...backends].join(', ')})`);
          const { mean, std } = meanStd(values);
          all.push({ recipe: v.recipe, version: v.version, dcase, split, metric: m, backend: [...backends].join(' '), mean, std, n: values.length, seeds });
        }
      }
    }
  }

  if (o.ensemble) all.push(...(await ensembleRows(g, versions, done, metrics, o, warn)));

  const outDir = path.join(gridDir(g), 'table');
  const files: string[] = [];
  const csvs: string[] = [];
  const mds: string[] = [];
  const links = await reportLinks(cells, done, outDir);
  const sections: GridHtmlSection[] = [];
  for (const metric of metrics) {
    const mine = all.filter((r) => r.metric === resolveMetric(metric, r.dcase));
    const rowsCsv: Cell[][] = mine.map((r) => [r.recipe, r.version, r.dcase, r.split, r.metric, r.backend, r.mean, r.std, String(r.n), r.seeds.join(' ')]);
    const csv = toCsv(GRID_TABLE_COLUMNS, rowsCsv);
    const section = sectionOf(g, metric, mine, versions, links);
    sections.push(section);
    const md = markdownOf(g, section);
    const safe = metric.replace(/[^\w.-]/g, '_');
    for (const [ext, text] of [['csv', csv], ['md', `${md}\n`]] as const) {
      const f = path.join(outDir, `grid_${safe}.${ext}`);
      await writeAtomic(f, text);
      files.push(f);
    }
    csvs.push(csv);
    mds.push(md);
  }
  // The same tables as an HTML page like the run reports, linking each run's report.html that exists.
  const page = path.join(outDir, 'grid.html');
  await writeAtomic(page, gridHtml({ name: g.name, sections, warnings }));
  files.push(page);
  return { csv: csvs.join('\n'), markdown: mds.join('\n\n'), files, warnings, rows: all };
}

/** Per version × year: ensemble the done seeds (mean of scores) into `<version>-ensemble` and read its totals. */
async function ensembleRows(
  g: GridSpec,
  versions: ReturnType<typeof groups>,
  done: Map<string, boolean>,
  metrics: string[],
  o: GridTableOptions,
  warn: (w: string) => void,
): Promise<GridTableRow[]> {
  const out: GridTableRow[] = [];
  for (const v of versions) {
    for (const [dcase, yearCells] of v.byYear) {
      const members = yearCells.filter((c) => done.get(c.id));
      if (members.length < 2) {
        warn(`${v.version} ${dcase}: ${members.length} done seed(s); no ensemble`);
        continue;
      }
      let r;
      try {
        r = await ensembleRuns({ runs: members.map(cellOutputDir), outVersion: `${v.version}-ensemble`, combine: 'mean', backend: o.backend, metrics });
      } catch (e) {
        warn(`${v.version} ${dcase}: ensemble failed: ${(e as Error).message}`);
        continue;
      }
      // A split without machines is no column here, as for the cells: not worth a warning.
      for (const w of r.warnings) if (!/none of the selected machines belongs/.test(w)) warn(`${v.version}-ensemble ${dcase}: ${w}`);
      for (const metric of metrics) {
        const m = resolveMetric(metric, dcase);
        for (const split of SPLITS) {
          const f = path.join(r.outputDir, `${split}_${m}.csv`);
          if (!(await exists(f))) continue;
          const t = await readTotal(f, r.column, warn);
          if (!t) continue;
          const seeds = members.map((c) => c.seed);
          out.push({ recipe: v.recipe, version: `${v.version}-ensemble`, dcase, split, metric: m, backend: r.column, mean: t.value, std: NaN, n: 1, seeds, ensembleOf: seeds });
        }
      }
    }
  }
  return out;
}
