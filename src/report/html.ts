/**
 * One self-contained HTML page per run: no script, styles inline, every image a PNG data URI,
 * and a Content-Security-Policy that forbids loading anything else, so the page opens from a
 * file (or a mail attachment) with no server and no network. All inserted text is escaped.
 */
import path from 'node:path';
import YAML from 'yaml';
import type { Provenance, StepTiming, TimingsFile } from '../run/timings.js';
import { parseFloatCell, type CsvTable } from '../util/csv.js';
import type { Figure, MachineResults, ModelResults, OutputResults, RunResults } from './collect.js';
import { PUBLISHED_BACKENDS } from './scores.js';

const PUBLISHED = new Set(PUBLISHED_BACKENDS);

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
.summary { background: #f8fafc; border: 1px solid #dde3ea; border-radius: 6px; padding: 4px 20px 12px; margin-top: 16px; }
.thumbs { display: grid; grid-template-columns: repeat(auto-fill, minmax(330px, 1fr)); gap: 8px; }
.facts th { width: 11em; } .facts td { font-size: 13px; word-break: break-all; }
.scorefigs { display: flex; flex-wrap: wrap; gap: 8px; align-items: flex-start; }
.scorefigs figure:first-child { flex: 2 1 560px; } .scorefigs figure:last-child { flex: 1 1 300px; max-width: 460px; }
article { border-top: 1px solid #e4e4e4; margin-top: 18px; }
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

const seconds = (s: number) => (s < 60 ? `${s.toFixed(1)} s` : s < 3600 ? `${Math.floor(s / 60)} min ${Math.round(s % 60)} s` : `${Math.floor(s / 3600)} h ${Math.round((s % 3600) / 60)} min`);

/** Per step and machine the latest session that did the work (a rerun's skips do not hide it). */
function latestTimings(t: TimingsFile | undefined): StepTiming[] {
  const latest = new Map<string, StepTiming>();
  for (const x of (t?.sessions ?? []).flatMap((s) => s.steps)) {
    const key = `${x.step}\u0000${x.machine ?? ''}`;
    if (x.status !== 'skipped' || latest.get(key)?.status !== 'done') latest.set(key, x);
  }
  return [...latest.values()];
}

function timingsTable(o: OutputResults): string {
  const sessions = o.timings?.sessions ?? [];
  if (sessions.length === 0) return '<p class="note">No timings recorded (they are written by <code>asdkit run</code>).</p>';
  const latest = latestTimings(o.timings);
  const rows = latest.map(
    (t) => `<tr><td>${esc(t.step)}</td><td>${esc(t.machine ?? '')}</td><td>${esc(t.status)}</td><td class="num" title="${esc(String(t.seconds))}">${seconds(t.seconds)}</td><td>${esc(t.start)}</td></tr>`,
  );
  const total = latest.reduce((a, t) => a + t.seconds, 0);
  return (
    `<p class="note">${sessions.length} session(s) recorded; each step shows its latest session that was not a skip.</p>` +
    `<div class="scroll"><table><thead><tr><th>step</th><th>machine</th><th>status</th><th>wall time</th><th>started</th></tr></thead>` +
    `<tbody>${rows.join('')}<tr><td class="total" colspan="3">total</td><td class="num total">${seconds(total)}</td><td></td></tr></tbody></table></div>`
  );
}

const PROVENANCE_FIELDS: Array<[keyof Provenance, string]> = [
  ['asdkitVersion', 'asdkit version'],
  ['libtorchVersion', 'LibTorch version'],
  ['device', 'device'],
  ['cudaDevices', 'CUDA devices'],
  ['commandLine', 'command line'],
  ['cwd', 'working folder'],
  ['host', 'host'],
  ['user', 'user'],
  ['platform', 'platform'],
  ['node', 'Node.js'],
  ['dataDir', 'data folder'],
];

/** What the run's config.yaml says about where it ran (older runs record nothing else). */
function configFacts(config: string | undefined): Record<string, string> {
  if (!config) return {};
  try {
    const c = YAML.parse(config) as Record<string, unknown>;
    const pick = (k: string) => (typeof c?.[k] === 'string' || typeof c?.[k] === 'number' ? String(c[k]) : undefined);
    return Object.fromEntries(([['recipe', pick('recipe')], ['device', pick('device')], ['dataDir', pick('data_dir')]] as const).filter(([, v]) => v !== undefined)) as Record<string, string>;
  } catch {
    return {};
  }
}

/** The run's facts: run time, sessions, and the provenance of the latest session that recorded one. */
function runFacts(o: OutputResults): string {
  const sessions = o.timings?.sessions ?? [];
  const latest = latestTimings(o.timings);
  const total = latest.reduce((a, t) => a + t.seconds, 0);
  const recorded = [...sessions].reverse().find((s) => s.provenance);
  const rows: Array<[string, string]> = [];
  if (sessions.length) {
    rows.push(['run time', `${seconds(total)} <span class="note">(sum of each step's latest working session; <a href="#${slug('output', o.inferVer)}--timings">per step</a>)</span>`]);
    rows.push(['sessions', `${sessions.length}: first ${esc(sessions[0].started)}, last ${esc(sessions.at(-1)!.started)}`]);
  } else rows.push(['run time', 'not recorded (no timings.json: written by <code>asdkit run</code>)']);
  if (recorded?.provenance) {
    rows.push(['date', esc(recorded.started)]);
    for (const [k, label] of PROVENANCE_FIELDS) {
      const v = recorded.provenance[k];
      if (v !== undefined && v !== '') rows.push([label, k === 'commandLine' || k === 'dataDir' || k === 'cwd' ? `<code>${esc(String(v))}</code>` : esc(String(v))]);
    }
  } else {
    rows.push(['provenance', 'not recorded (this run was made by an asdkit that did not record versions, host or command line)']);
    const c = configFacts(o.config);
    if (c.device) rows.push(['device', `${esc(c.device)} <span class="note">(config.yaml)</span>`]);
    if (c.dataDir) rows.push(['data folder', `<code>${esc(c.dataDir)}</code> <span class="note">(config.yaml)</span>`]);
  }
  return `<div id="${slug('output', o.inferVer)}--provenance"><table class="facts"><tbody>${rows.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('')}</tbody></table></div>`;
}

/** Result tables grouped by metric: each metric's dev and eval tables side by side. */
function metricTables(ts: OutputResults['tables']): string {
  return [...new Set(ts.map((t) => t.metric))]
    .map((metric) => `<div class="row">${ts.filter((t) => t.metric === metric).map((t) => `<div><h4>${esc(t.split)} · ${esc(t.metric)} <span class="note">(${esc(t.file)})</span></h4>${resultTable(t.table)}</div>`).join('')}</div>`)
    .join('');
}

const isLoss = (f: Figure) => path.basename(f.file) === 'loss.png';

function summarySection(r: RunResults): string {
  const outputs = r.outputs.map((o) => {
    const id = slug('output', o.inferVer);
    const official = o.tables.filter((t) => t.metric.startsWith('official'));
    return (
      `<h3 id="${id}--official">Official scores${r.outputs.length > 1 ? ` — output/${esc(o.inferVer)}` : ''}</h3>` +
      `<p class="note">Values in %; hover a cell for the exact value. ★ = the backend of ASDKit's published results.</p>` +
      (official.length ? metricTables(official) : '<p class="note">No official-score table (run the table step).</p>') +
      `<h3>Run${r.outputs.length > 1 ? ` — output/${esc(o.inferVer)}` : ''}</h3>${runFacts(o)}`
    );
  });
  const losses = r.models.flatMap((m) => m.curves.filter(isLoss).map((f) => ({ ...f, title: `model/${m.modelVer}: ${f.title}` })));
  const training = r.models.length
    ? `<h3 id="summary--training">Training loss</h3>` +
      (losses.length ? `<div class="thumbs">${losses.map(img).join('')}</div>` : '<p class="note">No metrics.jsonl: no training curves.</p>') +
      `<p class="note">Learning rate, gradient norm and validation curves: <a href="#training">Training</a>.</p>`
    : '';
  return `<section id="summary" class="summary"><h2>Summary</h2>${outputs.join('')}${training}</section>`;
}

/** Per machine and section, the AUCs and pAUCs of the figures' backend (from test_evaluate.csv). */
function paucTable(o: OutputResults): string {
  const metrics = ['s_auc', 's_pauc', 't_auc', 't_pauc', 'mix_auc', 'mix_pauc'];
  const rows: string[] = [];
  let backend: string | undefined;
  for (const m of o.machines) {
    const b = m.scores?.backend;
    const row = m.evaluate?.rows.find((r) => r[0] === b) ?? m.evaluate?.rows.find((r) => PUBLISHED.has(r[0])) ?? m.evaluate?.rows[0];
    if (!m.evaluate || !row) continue;
    backend ??= row[0];
    const sections = [...new Set(m.evaluate.columns.map((c) => /^(\d+)_(?:s|t|mix)_p?auc$/.exec(c)?.[1]).filter((x): x is string => x !== undefined))];
    for (const sec of sections) {
      const cells = metrics.map((k) => {
        const j = m.evaluate!.columns.indexOf(`${sec}_${k}`);
        return j < 0 ? '<td></td>' : valueCell(row[j], k.includes('pauc') ? 'pauc' : '');
      });
      rows.push(`<tr><td><a href="#${slug('output', o.inferVer, m.machine)}">${esc(m.machine)}</a></td><td>${esc(sec)}</td><td>${esc(row[0])}</td>${cells.join('')}</tr>`);
    }
  }
  if (!rows.length) return '';
  return (
    `<h3 id="${slug('output', o.inferVer)}--pauc">AUC and pAUC per machine and section</h3>` +
    `<p class="note">From each machine's test_evaluate.csv, for the backend the figures show${backend ? ` (${esc(backend)} where present)` : ''}; pAUC is McClish-standardised over FPR ≤ 0.1.</p>` +
    `<div class="scroll"><table><thead><tr><th>machine</th><th>section</th><th>backend</th>${metrics.map((k) => `<th>${esc(k)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table></div>`
  );
}

const png = (title: string, data: Buffer): Figure => ({ title, file: '', png: data });

function machineArticle(o: OutputResults, m: MachineResults): string {
  const id = slug('output', o.inferVer, m.machine);
  const [all, ...sections] = m.umap;
  const s = m.scores;
  const scoreFigs = s
    ? `<div class="scorefigs">${img(png(`${m.machine}: test scores of normal vs anomalous clips per domain (${s.backend})`, s.histogram))}${img(png(`${m.machine}: ROC per domain, pAUC region shaded (${s.backend})`, s.roc))}</div>`
    : '<p class="note">No test_score.csv: no score histograms or ROC curves.</p>';
  return (
    `<article id="${id}"><h4>${esc(m.machine)}</h4><div class="row"><div>` +
    (m.evaluate ? evaluateTable(m.evaluate) : '<p class="note">No test_evaluate.csv.</p>') +
    `</div><div class="wide">${scoreFigs}</div></div>` +
    (all ? img({ ...all, title: `${m.machine}: UMAP of the embeddings, all sections (${all.title})` }) : '<p class="note">No UMAP figure.</p>') +
    (sections.length ? `<details><summary>UMAP per section (${sections.length})</summary>${sections.map((f) => img({ ...f, title: `${m.machine}: ${f.title}` })).join('')}</details>` : '') +
    '</article>'
  );
}

function outputSection(o: OutputResults): string {
  const id = slug('output', o.inferVer);
  const other = o.tables.filter((t) => !t.metric.startsWith('official'));
  return (
    `<section id="${id}"><h2 id="${id}--machines">Per machine — output/${esc(o.inferVer)}</h2>` +
    paucTable(o) +
    (o.machines.map((m) => machineArticle(o, m)).join('') || '<p class="note">No machine folders.</p>') +
    (other.length ? `<h3 id="${id}--metrics">Other metrics</h3><p class="note">Values in %.</p>${metricTables(other)}` : '') +
    '</section>'
  );
}

function detailsSection(o: OutputResults): string {
  const id = slug('output', o.inferVer);
  return (
    `<section><h2>Timings and configuration — output/${esc(o.inferVer)}</h2>` +
    `<h3 id="${id}--timings">Timings</h3>${timingsTable(o)}` +
    `<h3 id="${id}--config">Configuration</h3>` +
    (o.config ? `<details><summary>config.yaml (resolved)</summary><pre>${esc(o.config)}</pre></details>` : '<p class="note">No config.yaml.</p>') +
    '</section>'
  );
}

function modelSection(m: ModelResults): string {
  const rest = m.curves.filter((f) => !isLoss(f));
  return (
    `<article id="${slug('model', m.modelVer)}"><h3>model/${esc(m.modelVer)}</h3>` +
    (m.curves.length ? (rest.length ? `<div class="figures">${rest.map(img).join('')}</div>` : '') + '<p class="note">The loss curve is in the summary.</p>' : '<p class="note">No metrics.jsonl: no training curves.</p>') +
    `<p class="note">Checkpoints: ${m.checkpoints.map((c) => `<code>${esc(c)}</code>`).join(', ') || 'none'}</p></article>`
  );
}

/** The start of a self-contained page (no external resources; images as data: URIs), up to <body>. */
export function pageHead(title: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>${esc(title)}</title>
<style>${CSS}</style>
</head>
<body>`;
}

export function reportHtml(r: RunResults, generated = new Date()): string {
  const title = `${r.version} · ${r.dcase} · seed ${r.seed}`;
  const nav = [
    '<li><a href="#summary">Summary: official scores, run, training loss</a></li>',
    ...r.outputs.flatMap((o) => {
      const id = slug('output', o.inferVer);
      return [`<li><a href="#${id}--machines">output/${esc(o.inferVer)}: per machine</a></li>`, `<li><a href="#${id}--timings">output/${esc(o.inferVer)}: timings, config</a></li>`];
    }),
    ...(r.models.length ? ['<li><a href="#training">Training curves</a></li>'] : []),
  ];
  return `${pageHead(`asdkit report — ${title}`)}
<header><h1>${esc(title)}</h1>
<p class="meta">run name <b>${esc(r.name)}</b> · recipe version <b>${esc(r.version)}</b> · ${esc(r.dcase)} · seed ${esc(r.seed)} · folder <code>${esc(r.dir)}</code> · generated ${esc(generated.toISOString())} by asdkit</p></header>
${r.problems.length ? `<section class="problems"><h2>Problems</h2><ul>${r.problems.map((p) => `<li>${esc(p)}</li>`).join('')}</ul></section>` : ''}
<nav><ul>${nav.join('')}</ul></nav>
${summarySection(r)}
${r.outputs.map(outputSection).join('\n')}
${r.models.length ? `<section id="training"><h2>Training</h2>${r.models.map(modelSection).join('')}</section>` : ''}
${r.outputs.map(detailsSection).join('\n')}
</body>
</html>
`;
}

/** Where a run's page goes. */
export const reportFile = (runDir: string) => path.join(runDir, 'report.html');
