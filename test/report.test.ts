import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { lineChartSvg, mergeDuplicateSeries } from '../src/plot/lines.js';
import { histogram } from '../src/plot/scores.js';
import { readTimings } from '../src/run/timings.js';
import { findRuns } from '../src/report/collect.js';
import { writeReports } from '../src/report/index.js';
import { domainScores, figureBackend } from '../src/report/scores.js';
import { drawTrainingCurves, refreshTrainingCurves } from '../src/steps/curves.js';
import { readCsvFile } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';
import { pngStats } from './helpers/png.js';
import { tinyAeRun } from './helpers/tiny-run.js';

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-report-'));
const run = (async () => tinyAeRun(await tmp))();
const CURVES = ['grad_norm.png', 'loss.png', 'lr.png', 'valid_auc.png', 'valid_loss.png'];

const unescape = (s: string) => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&#39;/g, "'").replace(/&amp;/g, '&');

/** The first table after `marker` in the page: per row, each cell's text and title (the exact CSV value). */
function tableAfter(html: string, marker: string): Array<Array<{ text: string; title?: string }>> {
  const at = html.indexOf(marker);
  if (at < 0) throw new Error(`not in the page: ${marker}`);
  const start = html.indexOf('<table', at);
  const table = html.slice(start, html.indexOf('</table>', start));
  return [...table.matchAll(/<tr[^>]*>(.*?)<\/tr>/g)].map((row) =>
    [...row[1].matchAll(/<t[hd]([^>]*)>(.*?)<\/t[hd]>/g)].map(([, attrs, inner]) => {
      const title = /title="([^"]*)"/.exec(attrs)?.[1];
      return { text: unescape(inner), title: title === undefined ? undefined : unescape(title) };
    }),
  );
}

const pct = (v: string) => (v === '' ? '—' : (Number(v) * 100).toFixed(2));

test.serial('the train step leaves training-curve PNGs next to the checkpoints, and the run its step timings', async (t) => {
  const { runDir, result } = await run;
  t.deepEqual(result.failed, []);
  for (const m of result.machines) {
    const dir = path.join(runDir, 'model', m, 'curves');
    t.deepEqual((await fs.readdir(dir)).sort(), CURVES, m);
    for (const f of CURVES) {
      const s = pngStats(await fs.readFile(path.join(dir, f)));
      t.deepEqual([s.width, s.height], [900, 460], `${m}/${f}`);
      t.true(s.variance > 100 && s.ink > 0.01, `${m}/${f}: variance ${s.variance.toFixed(0)}, ink ${s.ink.toFixed(3)}`);
    }
  }
  const timings = await readTimings(path.join(runDir, 'output', 'last', 'timings.json'));
  const steps = timings!.sessions.at(-1)!.steps;
  t.deepEqual(
    steps.map((s) => `${s.step}:${s.machine ?? ''}:${s.status}`),
    [...result.machines.flatMap((m) => ['train', 'extract', 'score', 'evaluate', 'visualize'].map((s) => `${s}:${m}:done`)), 'table::done'],
  );
  t.true(steps.every((s) => s.seconds > 0 && !Number.isNaN(Date.parse(s.start))));
});

test.serial('report: the tables hold the CSV numbers, every figure is embedded, nothing is loaded from elsewhere', async (t) => {
  const { resultDir, runDir, result } = await run;
  const written = await writeReports(resultDir);
  t.deepEqual(written.map((w) => w.file), [path.join(runDir, 'report.html')]);
  t.deepEqual(written[0].problems, []);
  const html = await fs.readFile(written[0].file, 'utf8');
  t.regex(html, /<title>asdkit report — ae · dcase2023 · seed 0<\/title>/);

  const out = path.join(runDir, 'output', 'last');
  const tableFiles = (await fs.readdir(out)).filter((f) => /^(dev|eval)_.+\.csv$/.test(f));
  t.is(tableFiles.length, 8);
  for (const f of tableFiles) {
    const csv = await readCsvFile(path.join(out, f), 'table');
    const [head, ...rows] = tableAfter(html, `(${f})`);
    t.deepEqual(head.map((c) => c.text), csv.columns, f);
    t.deepEqual(rows.map((r) => [r[0].text.replace(/ ★$/, ''), ...r.slice(1).map((c) => c.text)]), csv.rows.map((r) => [r[0], ...r.slice(1).map(pct)]), f);
    t.deepEqual(rows.map((r) => r.slice(1).map((c) => c.title)), csv.rows.map((r) => r.slice(1)), `${f}: exact values`);
  }
  // Per machine: test_evaluate.csv turned on its side (metric rows, backend columns).
  for (const m of result.machines) {
    const csv = await readCsvFile(path.join(out, m, 'test_evaluate.csv'), 'evaluate');
    const [head, ...rows] = tableAfter(html, `id="output--last--${m}"`);
    t.deepEqual(head.map((c) => c.text), ['metric', ...csv.rows.map((r) => r[0])]);
    t.deepEqual(rows.map((r) => r.map((c) => c.title ?? c.text)), csv.columns.slice(1).map((c, j) => [c, ...csv.rows.map((r) => r[j + 1])]), m);
  }

  // Every UMAP and training-curve PNG, byte for byte, and nothing else.
  const files = [
    ...result.machines.flatMap((m) => ['sectionall', 'section0'].map((s) => path.join(out, m, 'visualize', `umap_cosine_embed_${s}.png`))),
    ...result.machines.flatMap((m) => CURVES.map((c) => path.join(runDir, 'model', m, 'curves', c))),
  ];
  const expected = await Promise.all(files.map(async (f) => (await fs.readFile(f)).toString('base64')));
  const embedded = [...html.matchAll(/<img src="data:image\/png;base64,([^"]+)"/g)].map((m) => m[1]);
  const drawn = embedded.filter((e) => !expected.includes(e));
  t.deepEqual(embedded.filter((e) => expected.includes(e)).sort(), [...expected].sort(), 'every file once');
  // Besides the files: per machine a score histogram and a ROC figure drawn from test_score.csv.
  t.is(drawn.length, 2 * result.machines.length);
  t.deepEqual(new Set(drawn.map((d) => { const p = pngStats(Buffer.from(d, 'base64')); return `${p.width}x${p.height}`; })), new Set(['900x340', '460x400']));
  for (const [k, m] of result.machines.entries()) {
    const at = html.indexOf(`<article id="output--last--${m}"`);
    const article = html.slice(at, k + 1 < result.machines.length ? html.indexOf(`<article id="output--last--${result.machines[k + 1]}"`) : html.indexOf('</section>', at));
    t.regex(article, new RegExp(`<img [^>]*alt="${m}: test scores of normal vs anomalous clips per domain \\(AS-recon\\)"`), m);
    t.regex(article, new RegExp(`<img [^>]*alt="${m}: ROC per domain, pAUC region shaded \\(AS-recon\\)"`), m);
    t.regex(article, new RegExp(`alt="${m}: UMAP of the embeddings, all sections`), m);
  }

  // A reader sees the summary first: official scores, the run (time, provenance), the training loss; then the machines.
  const pos = (s: string) => {
    const i = html.indexOf(s);
    t.true(i >= 0, `in the page: ${s}`);
    return i;
  };
  t.true(pos('id="summary"') < pos('(dev_official23.csv)'));
  t.true(pos('(eval_official23.csv)') < pos('<th>run time</th>'));
  t.true(pos('<th>run time</th>') < pos('id="summary--training"'));
  t.true(pos('alt="model/bandsaw: Training loss (per step)"') < pos('id="output--last--machines"'));
  t.true(pos('id="output--last--machines"') < pos(`<article id="output--last--${result.machines[0]}"`));
  t.true(pos(`<article id="output--last--${result.machines.at(-1)}"`) < pos('(dev_s_auc.csv)'), 'other metrics after the machines');
  t.true(pos('id="training"') < pos('id="output--last--timings"'));

  // pAUC table: per machine and section, the figures' backend, the CSV values.
  const pauc = tableAfter(html, 'id="output--last--pauc"');
  t.deepEqual(pauc[0].map((c) => c.text), ['machine', 'section', 'backend', 's_auc', 's_pauc', 't_auc', 't_pauc', 'mix_auc', 'mix_pauc']);
  for (const [k, m] of result.machines.entries()) {
    const csv = await readCsvFile(path.join(out, m, 'test_evaluate.csv'), 'evaluate');
    const row = csv.rows.find((r) => r[0] === 'AS-recon')!;
    const cell = (c: string) => row[csv.columns.indexOf(c)];
    t.deepEqual(pauc[k + 1].map((c) => c.title ?? c.text), [`<a href="#output--last--${m}">${m}</a>`, '0', 'AS-recon', ...['s_auc', 's_pauc', 't_auc', 't_pauc', 'mix_auc', 'mix_pauc'].map((x) => cell(`0_${x}`))]);
    // The ROC legend's AUCs are computed from test_score.csv: one section, so they equal the evaluate step's.
    const scores = await readCsvFile(path.join(out, m, 'test_score.csv'), 'score');
    t.is(figureBackend(scores.columns), 'AS-recon');
    const [source, target] = domainScores(scores, 'AS-recon', m);
    t.is(source.auc, Number(cell('0_s_auc')));
    t.is(target.pauc, Number(cell('0_t_pauc')));
    t.is(source.normal.length + source.anomalous.length + target.normal.length + target.anomalous.length, scores.rows.length);
  }

  // Provenance, recorded at run time in timings.json and shown in the summary.
  const session = (await readTimings(path.join(out, 'timings.json')))!.sessions.at(-1)!;
  const p = session.provenance!;
  t.is(p.asdkitVersion, (createRequire(import.meta.url)('../package.json') as { version: string }).version);
  t.regex(p.libtorchVersion!, /^\d+\.\d+/);
  t.is(p.device, 'cpu');
  t.is(p.host, os.hostname());
  t.is(p.dataDir, path.join(await tmp, 'data'));
  t.true(typeof p.commandLine === 'string' && p.commandLine.length > 0);
  const facts = Object.fromEntries(tableAfter(html, 'id="output--last--provenance"').map(([k, v]) => [k.text, v.text])) as Record<string, string>;
  t.is(facts['asdkit version'], p.asdkitVersion!);
  t.is(facts['LibTorch version'], p.libtorchVersion!);
  t.is(facts.device, 'cpu');
  t.is(facts.host, p.host!);
  t.is(facts.date, session.started);
  t.is(facts['command line'], `<code>${p.commandLine}</code>`);
  t.is(facts['data folder'], `<code>${p.dataDir}</code>`);
  t.regex(facts['run time'], /^[\d.]+ s /);

  t.notRegex(html, /<script|<iframe|<object|<embed|@import|url\(|https?:\/\//i);
  for (const [, url] of html.matchAll(/\b(?:src|href)="([^"]*)"/g)) t.regex(url, /^(data:|#)/);
  t.regex(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'">/);

  // The resolved config and the timings.
  t.true(html.includes((await fs.readFile(path.join(out, 'config.yaml'), 'utf8')).split('\n').slice(0, 3).join('\n')));
  t.regex(html, /<tr><td>train<\/td><td>fan<\/td><td>done<\/td><td class="num" title="[\d.]+">[\d.]+ s<\/td>/);
});

test('report: text is escaped, an unreadable file is listed as a problem, CLI and folder lookup', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-report-fake-'));
  const runDir = path.join(root, 'results', 'recipe', 'dcase2023', 'v<&>', '0');
  const out = path.join(runDir, 'output', 'last');
  await fs.mkdir(path.join(out, 'fan<1>'), { recursive: true });
  await fs.writeFile(path.join(out, 'config.yaml'), 'name: "<script>alert(1)</script>"\ndata_dir: /data/<d>\ndevice: cuda:1\n');
  await fs.writeFile(path.join(out, 'dev_official23.csv'), 'backend,fan<1>,total\nAS-<b>,0.5,0.5\n');
  await fs.writeFile(path.join(out, 'eval_official23.csv'), 'backend,x,total\nAS-a,0.5\n');
  await fs.writeFile(path.join(out, 'fan<1>', 'test_evaluate.csv'), 'backend,0_s_auc\nAS-<b>,0.25\n');
  // A run made before provenance was recorded: timings without it, config.yaml with the data folder.
  await fs.writeFile(path.join(out, 'timings.json'), JSON.stringify({ sessions: [{ started: '2025-01-02T03:04:05.000Z', steps: [{ step: 'extract', machine: 'fan<1>', status: 'done', start: '2025-01-02T03:04:05.000Z', seconds: 75 }] }] }));

  t.deepEqual(await findRuns(path.join(out, 'fan<1>')), [runDir], 'a folder inside a run');
  t.deepEqual(await findRuns(path.join(root, 'results')), [runDir], 'a folder above runs');
  await t.throwsAsync(findRuns(path.join(root, 'nowhere')), { message: /result folder not found/ });
  await fs.mkdir(path.join(root, 'empty'));
  await t.throwsAsync(findRuns(path.join(root, 'empty')), { message: /no runs in/ });

  const printed = await cli(['report', path.join(root, 'results')]);
  t.is(printed.code, 0, printed.stderr);
  t.is(printed.stdout.trim(), `wrote ${path.join(runDir, 'report.html')}`);
  t.regex(printed.stderr, /warning: .*eval_official23\.csv: line 2 has 2 field\(s\), the header has 3/);
  const html = await fs.readFile(path.join(runDir, 'report.html'), 'utf8');
  t.false(html.includes('<script'));
  t.true(html.includes('name: &quot;&lt;script&gt;alert(1)&lt;/script&gt;&quot;'));
  t.true(html.includes('<h1>v&lt;&amp;&gt; · dcase2023 · seed 0</h1>'));
  t.true(html.includes('<td>AS-&lt;b&gt;</td>'));
  t.true(html.includes('<h4>fan&lt;1&gt;</h4>'));
  t.regex(html, /<h2>Problems<\/h2><ul><li>[^<]*eval_official23\.csv: line 2 has 2 field\(s\)/);
  const facts = Object.fromEntries(tableAfter(html, 'id="output--last--provenance"').map(([k, v]) => [k.text, v.text])) as Record<string, string>;
  t.regex(facts['run time'], /^1 min 15 s /);
  t.regex(facts.sessions, /^1: first 2025-01-02T03:04:05.000Z/);
  t.regex(facts.provenance, /^not recorded/);
  t.is(facts.device, 'cuda:1 <span class="note">(config.yaml)</span>');
  t.is(facts['data folder'], '<code>/data/<d></code> <span class="note">(config.yaml)</span>');
  t.true(html.includes('<p class="note">No test_score.csv: no score histograms or ROC curves.</p>'));
});

test('curves that are the same line are drawn once (dis_main = main); histogram bins', (t) => {
  const x = [0, 1, 2, 3];
  const main = { label: 'main', x, y: [4, 3, NaN, 1] };
  const merged = mergeDuplicateSeries([main, { label: 'dis_main', x, y: [4, 3, NaN, 1] }, { label: 'featex', x, y: [2, 1, 1, 0.5] }, { label: 'main', x, y: [4, 3, NaN, 1] }]);
  t.deepEqual(merged.map((s) => s.label), ['main = dis_main', 'featex']);
  t.deepEqual(mergeDuplicateSeries([main, { label: 'near', x, y: [4, 3, NaN, 1.0000001] }]).map((s) => s.label), ['main', 'near']);
  const svg = lineChartSvg({ title: 'loss', xLabel: 'epoch', series: [main, { label: 'dis_main', x, y: [...main.y] }] });
  t.is(svg.match(/<path /g)?.length, 1, 'one line');
  t.true(svg.includes('>main = dis_main</text>'));
  t.is(main.label, 'main', 'the caller\'s series are left as they were');

  t.deepEqual(histogram([0, 0.1, 0.5, 0.99, 1, NaN], 0, 1, 4), [2, 0, 1, 2]);
  t.deepEqual(histogram([3, 3], 3, 3, 2), [2, 0]);
});

test('training curves: drawn from the logs, a non-finite loss and a line cut short tolerated', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-curves-'));
  t.deepEqual(await drawTrainingCurves(dir), [], 'no metrics.jsonl, no figures');
  const lines: string[] = [];
  for (let step = 0; step < 12; step++) {
    const main = step === 7 ? NaN : 5 * Math.exp(-step / 3);
    const losses = { main_main: main * 0.7, main_featex: main * 0.3, main };
    lines.push(JSON.stringify({ epoch: Math.floor(step / 4), globalStep: step + 1, batch: step % 4, numBatches: 4, batchSize: 8, losses, gradNorm: 2 + Math.sin(step), lr: 1e-3, waitMs: 1, computeMs: 9 }));
  }
  await fs.writeFile(path.join(dir, 'metrics.jsonl'), lines.join('\n') + '\n{"epoch":3,"glo');
  const figures = await drawTrainingCurves(dir);
  t.deepEqual(figures.map((f) => path.basename(f.file)), ['loss.png', 'lr.png', 'grad_norm.png']);
  const loss = pngStats(await fs.readFile(figures[0].file));
  t.deepEqual([loss.width, loss.height], [900, 460]);
  for (const c of ['#1f77b4', '#ff7f0e', '#2ca02c']) t.true(loss.colours.has(c), `series colour ${c}`);

  // After an epoch the train step redraws figures only once they are 30 s old, or at the end.
  const mtime = async () => (await fs.stat(figures[0].file)).mtimeMs;
  const drawn = await mtime();
  await refreshTrainingCurves(dir, false);
  t.is(await mtime(), drawn);
  await refreshTrainingCurves(dir, true);
  t.not(await mtime(), drawn);
});
