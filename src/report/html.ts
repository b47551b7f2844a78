/**
 * One self-contained HTML page per run: no script, styles inline, every image a PNG data URI,
 * and a Content-Security-Policy that forbids loading anything else, so the page opens from a
 * file (or a mail attachment) with no server and no network. All inserted text is escaped.
 */
import path from 'node:path';
import type { StepTiming } from '../run/timings.js';
import { parseFloatCell, type CsvTable } from '../util/csv.js';
import type { Figure, ModelResults, OutputResults, RunResults } from './collect.js';

/** The backends behind ASDKit's published numbers (spec backends-recipes-outputs §5.2, §7.1). */
const PUBLISHED = new Set(['AS-Knn-1-1-0.2-2-cosine-main', 'AS-recon']);

export const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');

const slug = (...parts: string[]) => parts.map((p) => p.replace(/[^A-Za-z0-9_-]/g, '_')).join('--');

const CSS = `
body { font-family: system-ui, "DejaVu Sans", sans-serif; margin: 0 auto; max-width: 1400px; padding: 0 24px 48px; color: #1d1d1f; background: #fff; }
h1 { margin: 24px 0 4px; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 4px; margin-top: 40px; } h4 { margin: 20px 0 6px; }
.meta, .note { color: #555; font-size: 14px; }
nav ul { columns: 2; font-size: 14px; }
.scroll { overflow-x: auto; margin: 8px 0 16px; }
table { border-collapse: collapse; font-size: 13px; }
th, td { border: 1px solid #d4d4d4; padding: 3px 8px; }
th { background: #f3f3f3; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
td.total, th.total { font-weight: bold; }
tr.published td:first-child::after { content: " ★"; color: #c47900; }
.row { display: flex; flex-wrap: wrap; gap: 0 32px; align-items: flex-start; }
.row > .wide { flex: 1 1 700px; min-width: 0; }
.figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 12px; }
figure { margin: 0; } figcaption { font-size: 13px; color: #555; }
img { max-width: 100%; height: auto; border: 1px solid #eee; }
pre { background: #f7f7f7; padding: 12px; overflow-x: auto; font-size: 12px; }
.problems { background: #fff4e5; border: 1px solid #f0c36d; padding: 8px 16px; }
`;

const img = (f: Figure) =>
  `<figure><img src="data:image/png;base64,${f.png.toString('base64')}" alt="${esc(f.title)}"><figcaption>${esc(f.title)}</figcaption></figure>`;

/** A CSV value cell: AUCs (in [0, 1]) shown as percentages, the exact text in the tooltip. */
function valueCell(text: string, cls = ''): string {
  const v = parseFloatCell(text);
  if (v === undefined) return `<td class="${cls}">${esc(text)}</td>`;
  return `<td class="num ${cls}" title="${esc(text)}">${Number.isNaN(v) ? '—' : (v * 100).toFixed(2)}</td>`;
}

/** A result table as written (backend rows; `total` in bold; the published backend starred). */
function resultTable(t: CsvTable): string {
  const head = t.columns.map((c) => `<th class="${c === 'total' ? 'total' : ''}">${esc(c)}</th>`).join('');
  const rows = t.rows.map(
    (r) => `<tr class="${PUBLISHED.has(r[0]) ? 'published' : ''}"><td>${esc(r[0])}</td>${r.slice(1).map((c, j) => valueCell(c, t.columns[j + 1] === 'total' ? 'total' : '')).join('')}</tr>`,
  );
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

/** A machine's test_evaluate table turned on its side: one row per metric, one column per backend. */
function evaluateTable(t: CsvTable): string {
  const head = ['metric', ...t.rows.map((r) => r[0])].map((c) => `<th>${esc(c)}</th>`).join('');
  const rows = t.columns.slice(1).map((c, j) => `<tr><td>${esc(c)}</td>${t.rows.map((r) => valueCell(r[j + 1])).join('')}</tr>`);
  return `<div class="scroll"><table><thead><tr>${head}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`;
}

const seconds = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

/** Per step and machine the latest session that did the work (a rerun's skips do not hide it). */
function timingsTable(o: OutputResults): string {
  const sessions = o.timings?.sessions ?? [];
  if (sessions.length === 0) return '<p class="note">No timings recorded (they are written by <code>asdkit run</code>).</p>';
  const latest = new Map<string, StepTiming>();
  for (const t of sessions.flatMap((s) => s.steps)) {
    const key = `${t.step}\u0000${t.machine ?? ''}`;
    if (t.status !== 'skipped' || latest.get(key)?.status !== 'done') latest.set(key, t);
  }
  const rows = [...latest.values()].map(
    (t) => `<tr><td>${esc(t.step)}</td><td>${esc(t.machine ?? '')}</td><td>${esc(t.status)}</td><td class="num" title="${esc(String(t.seconds))}">${seconds(t.seconds)}</td><td>${esc(t.start)}</td></tr>`,
  );
  const total = [...latest.values()].reduce((a, t) => a + t.seconds, 0);
  return (
    `<p class="note">${sessions.length} session(s) recorded; each step shows its latest session that was not a skip.</p>` +
    `<div class="scroll"><table><thead><tr><th>step</th><th>machine</th><th>status</th><th>wall time</th><th>started</th></tr></thead>` +
    `<tbody>${rows.join('')}<tr><td class="total" colspan="3">total</td><td class="num total">${seconds(total)}</td><td></td></tr></tbody></table></div>`
  );
}

function outputSection(o: OutputResults): string {
  const id = slug('output', o.inferVer);
  const official = o.tables.filter((t) => t.metric.startsWith('official'));
  const other = o.tables.filter((t) => !t.metric.startsWith('official'));
  // One row per metric: its dev and eval tables side by side.
  const tables = (ts: typeof o.tables) =>
    [...new Set(ts.map((t) => t.metric))]
      .map((metric) => `<div class="row">${ts.filter((t) => t.metric === metric).map((t) => `<div><h4>${esc(t.split)} · ${esc(t.metric)} <span class="note">(${esc(t.file)})</span></h4>${resultTable(t.table)}</div>`).join('')}</div>`)
      .join('');
  const machines = o.machines.map((m) => {
    const [all, ...sections] = m.umap;
    return (
      `<article id="${slug(id, m.machine)}"><h4>${esc(m.machine)}</h4><div class="row"><div>` +
      (m.evaluate ? evaluateTable(m.evaluate) : '<p class="note">No test_evaluate.csv.</p>') +
      '</div><div class="wide">' +
      (all ? img(all) : '<p class="note">No UMAP figure.</p>') +
      (sections.length ? `<details><summary>UMAP per section (${sections.length})</summary>${sections.map(img).join('')}</details>` : '') +
      '</div></div></article>'
    );
  });
  return (
    `<section id="${id}"><h2>Results — output/${esc(o.inferVer)}</h2>` +
    `<h3 id="${id}--official">Official scores</h3><p class="note">Values in %; hover a cell for the exact value. ★ = the backend of ASDKit's published results.</p>` +
    (official.length ? tables(official) : '<p class="note">No official-score table (run the table step).</p>') +
    (other.length ? `<h3 id="${id}--metrics">Other metrics</h3>${tables(other)}` : '') +
    `<h3 id="${id}--machines">Per machine</h3>${machines.join('') || '<p class="note">No machine folders.</p>'}` +
    `<h3 id="${id}--timings">Timings</h3>${timingsTable(o)}` +
    `<h3 id="${id}--config">Configuration</h3>` +
    (o.config ? `<details><summary>config.yaml (resolved)</summary><pre>${esc(o.config)}</pre></details>` : '<p class="note">No config.yaml.</p>') +
    '</section>'
  );
}

function modelSection(m: ModelResults): string {
  return (
    `<article id="${slug('model', m.modelVer)}"><h3>model/${esc(m.modelVer)}</h3>` +
    (m.curves.length ? `<div class="figures">${m.curves.map(img).join('')}</div>` : '<p class="note">No metrics.jsonl: no training curves.</p>') +
    `<p class="note">Checkpoints: ${m.checkpoints.map((c) => `<code>${esc(c)}</code>`).join(', ') || 'none'}</p></article>`
  );
}

export function reportHtml(r: RunResults, generated = new Date()): string {
  const title = `${r.version} · ${r.dcase} · seed ${r.seed}`;
  const nav = [
    ...r.outputs.flatMap((o) => {
      const id = slug('output', o.inferVer);
      return [`<li><a href="#${id}--official">output/${esc(o.inferVer)}: scores</a></li>`, `<li><a href="#${id}--machines">output/${esc(o.inferVer)}: machines</a></li>`];
    }),
    ...(r.models.length ? ['<li><a href="#training">Training curves</a></li>'] : []),
  ];
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>asdkit report — ${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>
<header><h1>${esc(title)}</h1>
<p class="meta">run name <b>${esc(r.name)}</b> · recipe version <b>${esc(r.version)}</b> · ${esc(r.dcase)} · seed ${esc(r.seed)} · folder <code>${esc(r.dir)}</code> · generated ${esc(generated.toISOString())} by asdkit</p></header>
${r.problems.length ? `<section class="problems"><h2>Problems</h2><ul>${r.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></section>` : ''}
<nav><ul>${nav.join('')}</ul></nav>
${r.outputs.map(outputSection).join('\n')}
${r.models.length ? `<section id="training"><h2>Training</h2>${r.models.map(modelSection).join('')}</section>` : ''}
</body>
</html>
`;
}

/** Where a run's page goes. */
export const reportFile = (runDir: string) => path.join(runDir, 'report.html');
