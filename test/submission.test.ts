/**
 * DCASE submission files, read the way the official evaluators read them: no header (every value
 * parses as a number), bare anonymised names, one row per evaluation clip; the evaluator sorts
 * the rows and pairs them with its ground truth by position — which must give every clip its
 * own label — and decisions come from the exported thresholds.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { formatDataset } from '../src/data/format.js';
import { loadGroundTruth } from '../src/data/ground-truth/index.js';
import { synthesize } from '../src/data/synth/index.js';
import { parseClipPath, type Dcase } from '../src/dcase/index.js';
import { auc } from '../src/metrics/auc.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { fitScorer } from '../src/steps/export.js';
import { submission } from '../src/steps/submission.js';
import { numericColumn, readCsvFile } from '../src/util/csv.js';
import { cli } from './helpers/cli.js';

/** The evaluator's reading of one file: `name,value` rows, every value a number (a header row would fail here, as float() fails there). */
async function evaluatorRows(file: string): Promise<Array<[string, number]>> {
  const text = await fs.readFile(file, 'utf8');
  return text.trimEnd().split('\n').map((line) => {
    const [name, value, ...rest] = line.split(',');
    if (rest.length || !/^[^/\\]+\.wav$/.test(name)) throw new Error(`${file}: row "${line}" is not "name.wav,value"`);
    const v = Number(value);
    if (value.trim() === '' || !Number.isFinite(v)) throw new Error(`${file}: "${value}" is not a number (a header row?)`);
    return [name, v];
  });
}

async function check(t: ExecutionContext, dcase: Dcase, machine: string, stem: (section: string) => string) {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), `asdkit-submission-${dcase}-`));
  const dataDir = path.join(root, 'data');
  const common = { dataDir, dcase, layout: 'original' as const, seed: 4 };
  await synthesize({ ...common, machines: [machine], seconds: 0.25, trainPerSection: { source: 8, target: 2 }, testPerSection: 3 });
  await synthesize({ ...common, seconds: 0.01, trainPerSection: { source: 1, target: 1 }, testPerSection: 1 });
  await formatDataset({ dataDir, dcase });
  const config = resolveRunConfig('raw_spec', { dcase, data_dir: dataDir, result_dir: path.join(root, 'results'), machines: [machine], score: { backend: [KNN_PLAIN] } }, ['visualize.enabled=false']);
  const run = await runRecipe(config);
  t.deepEqual(run.failed, []);

  const out = path.join(root, 'submission');
  // The synthetic set has a few of the official clips: a complete submission is refused…
  await t.throwsAsync(submission({ config, out }), { message: /evaluation clips of .* section .*; the evaluator pairs rows with its list by position/ });
  await t.throwsAsync(fs.access(out), undefined, 'nothing written when refused');
  // …and written when partial ones are allowed (the CLI, as a user runs it).
  const r = await cli(['submission', '--dcase', dcase, '--data-dir', dataDir, '--result-dir', path.join(root, 'results'), '--out', out, '--partial']);
  t.is(r.code, 0, r.stderr);

  const gt = (await loadGroundTruth(dcase)).get(machine)!;
  const scores = await readCsvFile(path.join(run.outputDir, machine, 'test_score.csv'), 'scores');
  const column = scores.columns.find((c) => c.startsWith('AS-'))!;
  const byName = new Map(scores.rows.map((row, i) => [path.basename(row[0]), { row, score: numericColumn(scores, column, 'x')[i] }]));
  const scorer = await fitScorer(config, machine, undefined);
  const files = (await fs.readdir(out)).sort();
  t.true(files.length >= 2 && files.length % 2 === 0, files.join(', '));
  for (const f of files.filter((x) => x.startsWith('anomaly_score_'))) {
    const m = new RegExp(`^anomaly_score_${stem('(\\d\\d)')}\\.csv$`).exec(f);
    t.truthy(m, `${f} is named as the ${dcase} evaluator expects`);
    const section = m![1];
    const rows = await evaluatorRows(path.join(out, f));
    const decisions = await evaluatorRows(path.join(out, f.replace('anomaly_score_', 'decision_result_')));
    // The evaluator: our rows sorted by name, its list (the clips of this section we formatted) sorted, zipped by position.
    const listed = [...gt.keys()].filter((n) => n.startsWith(`${dcase === 'dcase2020' ? 'id' : 'section'}_${section}_`) && byName.has(path.basename(formattedOf(gt, n, dcase))));
    const ours = [...rows].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    t.deepEqual(ours.map((x) => x[0]), listed.sort(), 'exactly one row per evaluation clip');
    const labels = listed.map((n) => 1 - parseClipPath(`${machine}/test/${formattedOf(gt, n, dcase)}`).isNormal);
    const fromRun = listed.map((n) => byName.get(path.basename(formattedOf(gt, n, dcase)))!);
    t.deepEqual(ours.map((x) => x[1]), fromRun.map((x) => x.score), 'scores are the run\'s');
    t.is(auc(ours.map((x) => x[1]), labels), auc(fromRun.map((x) => x.score), fromRun.map((x) => 1 - Number(x.row[scores.columns.indexOf('is_normal')]))));
    const threshold = scorer.sections.find((s) => s.section === Number(section))!.threshold;
    t.deepEqual(decisions.map((x) => x[0]), rows.map((x) => x[0]));
    t.deepEqual(decisions.map((x) => x[1]), rows.map((x) => (x[1] > threshold ? 1 : 0)));
  }
}

/** The formatted name of an anonymised evaluation name (2020's are rewritten to sections). */
function formattedOf(gt: Map<string, string>, anon: string, dcase: Dcase): string {
  const n = gt.get(anon)!;
  if (dcase !== 'dcase2020') return n;
  const m = /^(normal|anomaly)_id_(\d+)_(\d+)\.wav$/.exec(n)!;
  return `section_${m[2]}_source_test_${m[1]}_${m[3]}.wav`;
}

test('dcase2023: anomaly_score_<machine>_section_<XX>_test.csv and decision_result_…', async (t) => {
  await check(t, 'dcase2023', 'bandsaw', (s) => `bandsaw_section_${s}_test`);
});

test('dcase2020: the 2020 evaluator\'s anomaly_score_<machine>_id_<XX>.csv', async (t) => {
  await check(t, 'dcase2020', 'fan', (s) => `fan_id_${s}`);
});
