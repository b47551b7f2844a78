/**
 * Two-channel detectors (issue 21): runs with channel subtract/both on tiny synthetic DCASE 2026
 * clips (channel 0 near, channel 1 far) export detectors that decode both channels of users'
 * files with the lenient decoder and reproduce the run's `test_score.csv` (1e-6), from files,
 * from bytes in memory and from [B, 2, L] waveforms; a mono file is an error row naming it.
 */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { synthesize } from '../src/data/synth/index.js';
import { encodeWav16 } from '../src/data/wav.js';
import { Detector } from '../src/detector/detector.js';
import { native, runJob, type TensorLike } from '../src/native/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { exportDetector } from '../src/steps/export.js';
import { readCsvFile } from '../src/util/csv.js';

const MACHINE = 'fan';
const DCASE = 'dcase2026';
const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-detector-channels-'));

const setup = (async () => {
  const root = await tmp;
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: DCASE, size: 'tiny', seed: 3, seconds: 2, machines: [MACHINE], trainPerSection: { source: 20, target: 3 }, testPerSection: 3 });
  // A one-channel clip with a DCASE name, for the two-channel detectors to refuse.
  const mono = path.join(root, 'section_00_source_test_normal_9999_noAttribute.wav');
  const x = new Float32Array(2 * 16000).map((_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 16000));
  await fs.writeFile(mono, encodeWav16(x, 16000, 1));
  return { root, dataDir, mono };
})();

interface Case {
  name: string;
  recipe: string;
  channel: 'subtract' | 'both';
  set: (root: string) => string[];
}

const CASES: Case[] = [
  { name: 'raw_spec subtract', recipe: 'raw_spec', channel: 'subtract', set: () => ['channel_alpha=0.8', 'channel_floor=0.1'] },
  { name: 'raw_spec both', recipe: 'raw_spec', channel: 'both', set: () => [] },
  { name: 'ae both', recipe: 'ae', channel: 'both', set: () => ['trainer.max_epochs=1', 'ae.validate=false'] },
  { name: 'ae subtract', recipe: 'ae', channel: 'subtract', set: () => ['trainer.max_epochs=1', 'ae.validate=false', 'channel_alpha=0.8', 'channel_floor=0.1'] },
  {
    name: 'dis_spec_scac_trainable both',
    recipe: 'dis_spec_scac_trainable',
    channel: 'both',
    set: (root) => ['trainer.max_epochs=1', 'datamodule.sec=5', 'datamodule.batch_size=11', `datamodule.label_dir=${path.join(root, 'labels')}`, 'score.backend=[{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}]'],
  },
];

/** The largest |a − b| / max(1, |b|). */
function worst(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0;
  for (let i = 0; i < b.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]) / Math.max(1, Math.abs(b[i])));
  return w;
}

for (const c of CASES) {
  test.serial(`${c.name}: the exported detector reads both channels and scores the test clips as test_score.csv does`, async (t) => {
    const { root, dataDir, mono } = await setup;
    const resultDir = path.join(root, `results-${c.name.replace(' ', '-')}`);
    const config = resolveRunConfig(c.recipe, { dcase: DCASE, data_dir: dataDir, result_dir: resultDir, machines: [MACHINE] }, [
      `channel=${c.channel}`, 'extract.sec=2', 'visualize.enabled=false', ...c.set(root),
    ]);
    const r = await runRecipe(config);
    t.deepEqual(r.failed, []);
    const dir = path.join(r.outputDir, MACHINE);
    const table = await readCsvFile(path.join(dir, 'test_score.csv'), 'scores');
    const paths = table.rows.map((row) => row[0]);
    const out = path.join(root, 'detectors', c.name.replace(' ', '-'));
    const { manifest } = await exportDetector({ config, machine: MACHINE, out });
    t.is(manifest.audio.channel, c.channel);
    t.is(manifest.audio.length, (c.recipe.startsWith('dis_') ? 5 : 2) * 16000);
    if (c.channel === 'subtract') t.deepEqual([manifest.audio.channel_alpha, manifest.audio.channel_floor], [0.8, 0.1]);
    else t.is(manifest.audio.channel_alpha, undefined);
    const want = table.rows.map((row) => Number(row[table.columns.indexOf(manifest.score.column)]));
    const detector = await Detector.load(out);
    try {
      t.is(detector.channels, 2);
      const got = await detector.score(paths, { batchSize: 4 });
      t.deepEqual(got.errors.filter(Boolean), []);
      t.true(worst(got.score, want) <= 1e-6, `${manifest.score.column}: largest relative difference ${worst(got.score, want)}`);
      t.true(got.files!.every((f) => f.channels === 2));

      // A mono file is an error row naming it; the clips beside it score as before.
      const mixed = await detector.score([paths[0], mono, paths[1]]);
      t.regex(mixed.errors[1] ?? '', new RegExp(`^${mono.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: mono audio has no far channel`));
      t.true(Number.isNaN(mixed.score[1]));
      t.deepEqual([mixed.errors[0], mixed.errors[2]], [undefined, undefined]);
      t.true(worst([mixed.score[0], mixed.score[2]], [want[0], want[1]]) <= 1e-6);

      // Bytes in memory (asdkit serve's path) and [B, 2, L] waveforms give the same scores.
      const bytes = await Promise.all(paths.map((p) => fs.readFile(p)));
      const fromBytes = await detector.scoreBuffers(bytes, { names: paths, batchSize: 4 }); // batches as above: bit for bit
      t.deepEqual(Array.from(fromBytes.score), Array.from(got.score));
      const decoded = await runJob(() => native().decodeClips(paths, { sampleRate: 16000, length: detector.length, channel: c.channel }));
      t.deepEqual(decoded.wave.shape, [paths.length, 2, detector.length]);
      const waves = await detector.score(decoded.wave as TensorLike, { batchSize: 4 });
      t.true(worst(waves.score, want) <= 1e-6);
      const perClip = 2 * detector.length; // Float32Arrays: channel 0's samples, then channel 1's
      const arrays = [0, 1].map((i) => (decoded.wave.data as Float32Array).slice(i * perClip, (i + 1) * perClip));
      t.true(worst((await detector.score(arrays)).score, want.slice(0, 2)) <= 1e-6);
      // A one-channel waveform batch does not fit a two-channel detector.
      await t.throwsAsync(detector.score([new Float32Array(detector.length)]), { message: new RegExp(`\\[batch, 2, ${detector.length}\\]`) });
    } finally {
      detector.dispose();
    }
  });
}
