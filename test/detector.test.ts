/**
 * Detectors (issue 17): a detector exported from a tiny run of each kind of recipe scores the
 * run's own test clips as its `test_score.csv` says (1e-6; the same arrays and kernels, so in
 * practice bit for bit), decides by its section threshold, and refuses a damaged folder.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { Detector } from '../src/detector/detector.js';
import { fitThreshold } from '../src/detector/threshold.js';
import { readNpz } from '../src/io/npz.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { exportDetector, fitScorer } from '../src/steps/export.js';
import { readCsvFile } from '../src/util/csv.js';
import { resolveBackend } from '../src/backends/config.js';
import { smallBeatsCheckpoint } from './helpers/beats-small.js';

const MACHINE = 'fan';
const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-detector-'));

const setup = (async () => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 2, machines: [MACHINE], trainPerSection: { source: 30, target: 3 }, testPerSection: 4 });
  return { root, dataDir, beats: await smallBeatsCheckpoint(root) };
})();

interface Case {
  recipe: string;
  set: (root: string, beats: string) => string[];
  /** Every score column is exported and checked (else only the default one). */
  allColumns?: boolean;
}

const CASES: Case[] = [
  { recipe: 'raw_spec', set: () => [], allColumns: true },
  {
    recipe: 'dis_spec_scac_trainable',
    set: (root) => ['trainer.max_epochs=1', 'datamodule.batch_size=11', `datamodule.label_dir=${path.join(root, 'labels')}`, 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]'],
  },
  { recipe: 'ae', set: () => ['trainer.max_epochs=1', 'ae.validate=false'] },
  { recipe: 'raw_beats', set: (_root, beats) => [`extract.frontend.checkpoint=${beats}`, 'extract.sec=1'] },
];

for (const c of CASES) {
  test.serial(`${c.recipe}: an exported detector scores the run's test clips as test_score.csv does`, async (t) => {
    const { root, dataDir, beats } = await setup;
    const resultDir = path.join(root, `results-${c.recipe}`);
    const config = resolveRunConfig(c.recipe, { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir, machines: [MACHINE] }, [...c.set(root, beats), 'visualize.enabled=false']);
    await runRecipe(config);
    const dir = path.join(resultDir, 'recipe', 'dcase2023', c.recipe, String(config.seed), 'output', config.infer_ver, MACHINE);
    const table = await readCsvFile(path.join(dir, 'test_score.csv'), 'scores');
    const paths = table.rows.map((r) => r[0]);
    const columns = table.columns.filter((n) => n.startsWith('AS'));
    for (const column of c.allColumns ? columns : [undefined]) {
      const out = path.join(root, 'detectors', `${c.recipe}-${column ?? 'default'}`);
      const { manifest } = await exportDetector({ config, machine: MACHINE, out, backend: column });
      // Default: the run's first backend (its config order), else the frontend's own score (AE).
      t.is(manifest.score.column, column ?? (config.score.backend.length ? resolveBackend(config.score.backend[0]).column : 'AS-recon'));
      const j = table.columns.indexOf(manifest.score.column);
      const want = table.rows.map((r) => Number(r[j])); // the written repr, read exactly
      const detector = await Detector.load(out, { encoder: c.recipe === 'raw_beats' ? beats : undefined });
      try {
        // Batches unlike the extract step's (64) change the last bits of the frontend's sums only.
        const r = await detector.score(paths, { batchSize: 5 });
        t.deepEqual(r.errors.filter(Boolean), []);
        let worst = 0;
        want.forEach((v, i) => (worst = Math.max(worst, Math.abs(r.score[i] - v) / Math.max(1, Math.abs(v)))));
        t.true(worst <= 1e-6, `${manifest.score.column}: largest relative difference ${worst}`);
        // Batched as extraction batches, raw_spec is bit for bit: the backend state is the run's.
        if (c.recipe === 'raw_spec') t.deepEqual(Array.from((await detector.score(paths)).score), want, `${manifest.score.column}: not bit-identical`);
        const threshold = detector.threshold.get(0)!;
        t.deepEqual(Array.from(r.decision), Array.from(r.score, (s) => (s > threshold ? 1 : 0)));
        t.true(r.norm.every((v) => v > 0));
      } finally {
        detector.dispose();
      }
    }
  });
}

test.serial('thresholds: a gamma fit of the leave-one-out training scores, per section; percentile on request', async (t) => {
  const { root, dataDir } = await setup;
  const resultDir = path.join(root, 'results-raw_spec');
  const config = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir, machines: [MACHINE] }, ['visualize.enabled=false']);
  const train = await readNpz(path.join(resultDir, 'recipe', 'dcase2023', 'raw_spec', String(config.seed), 'output', 'time_mean', MACHINE, 'train_extract.npz'));
  const rows = train.get('section')!.shape[0];
  const gamma = await fitScorer(config, MACHINE, undefined);
  t.true(gamma.leaveOneOut);
  t.is(gamma.sections.length, 1);
  t.is(gamma.sections[0].clips, rows);
  t.truthy(gamma.sections[0].gamma);
  // Leave-one-out: a training clip scored against itself would be 0 with this Knn (k = 1).
  const pct = await fitScorer(config, MACHINE, undefined, { thresholdMethod: 'percentile', thresholdQuantile: 0.5 });
  t.true(pct.sections[0].threshold > 0);
  t.is(pct.sections[0].gamma, undefined);
  t.not(fitThreshold([1, 2, 3, 5, 8], 'percentile', 0.5).threshold, gamma.sections[0].threshold);
});

test.serial('a damaged detector folder is refused, naming the file', async (t) => {
  const { root } = await setup;
  const made = (await fs.readdir(path.join(root, 'detectors')).catch(() => [])).filter((n) => n.startsWith('raw_spec-AS-Knn'));
  if (made.length === 0) return t.fail('the raw_spec case did not export');
  const src = path.join(root, 'detectors', made[0]);
  const copy = async (name: string) => {
    const d = path.join(root, 'damaged', name);
    await fs.cp(src, d, { recursive: true });
    return d;
  };
  const tampered = await copy('tampered');
  const f = path.join(tampered, 'backend.safetensors');
  const bytes = await fs.readFile(f);
  bytes[bytes.length - 3] ^= 0x40;
  await fs.writeFile(f, bytes);
  await t.throwsAsync(Detector.load(tampered), { message: /backend\.safetensors: content does not match its hash in .*detector\.json/ });

  const missing = await copy('missing');
  await fs.rm(path.join(missing, 'backend.safetensors'));
  await t.throwsAsync(Detector.load(missing), { message: /backend\.safetensors: missing \(listed in .*detector\.json\)/ });

  const newer = await copy('newer');
  const m = JSON.parse(await fs.readFile(path.join(newer, 'detector.json'), 'utf8')) as { format_version: string };
  m.format_version = '2.0';
  await fs.writeFile(path.join(newer, 'detector.json'), JSON.stringify(m));
  await t.throwsAsync(Detector.load(newer), { message: /detector format 2\.0 is newer than this asdkit reads \(1\.0\); upgrade asdkit/ });

  await t.throwsAsync(Detector.load(path.join(root, 'nowhere')), { message: /not a detector folder/ });

  const d = await Detector.load(src);
  d.dispose();
  await t.throwsAsync(d.score([]), { message: /was disposed/ });
});
