/**
 * `asdkit detect` throughput: clips/s of an exported detector (decode + frontend + stored backend
 * state) against the run's own extract + score steps over the same clips, for a raw_spec and a
 * dis_spec_scac_trainable (1 epoch) detector, both with one kNN backend (cosine, k = 1).
 *
 * The extract step always processes a machine's train and test clips, so both sides time the
 * same list: all of the machine's clips (default 200 train + 800 test = 1 000 ten-second clips;
 * --quick 40 + 160). Each side includes what its CLI command does: extract resolves the model,
 * writes the npz files, score fits and writes the CSVs; detect loads and checks the detector
 * and writes its CSV rows. Each measurement runs in a fresh child process (this file with
 * `--child <json>`) with all cores (`setThreads(0)`), so its peak RSS is its own; sides alternate.
 */
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { listClips } from '../src/data/clips.js';
import { synthesize } from '../src/data/synth/index.js';
import { Detector } from '../src/detector/detector.js';
import { setThreads } from '../src/native/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { isSkipped, machineDir, runIdsOf, versionDir, withRunLock } from '../src/run/index.js';
import { detect } from '../src/steps/detect.js';
import { exportDetector } from '../src/steps/export.js';
import { extract } from '../src/steps/extract.js';
import { resolveExtractor } from '../src/steps/extractor.js';
import { score } from '../src/steps/score.js';
import { numericColumn, readCsvFile } from '../src/util/csv.js';
import { median, row } from './util.js';

const DCASE = 'dcase2023';
const MACHINE = 'fan'; // one section in dcase2023: test clips = 4 × testPerSection (2 domains × 2 labels)
const KNN = '{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}';
const BATCH = 64;

const RECIPES = [
  { recipe: 'raw_spec', set: (_root: string) => [] as string[] },
  { recipe: 'dis_spec_scac_trainable', set: (root: string) => ['trainer.max_epochs=1', `datamodule.label_dir=${path.join(root, 'labels')}`] },
];

interface Job {
  side: 'steps' | 'detect';
  recipe: string;
  dataDir: string;
  resultDir: string;
  overrides: string[];
  detector: string;
  out: string;
}

interface Measured {
  seconds: number;
  clips: number;
  threads: number;
  /** KiB (Linux). */
  maxRSS: number;
}

const configOf = (j: Job) => resolveRunConfig(j.recipe, { dcase: DCASE, data_dir: j.dataDir, result_dir: j.resultDir, machines: [MACHINE] }, j.overrides);

async function allClips(dataDir: string): Promise<string[]> {
  const lists = await Promise.all(['train', 'test'].map((s) => listClips(dataDir, DCASE, MACHINE, s)));
  return lists.flatMap((l) => l.paths);
}

/** One timed measurement (in a child process): as `asdkit extract` + `asdkit score`, or `asdkit detect`. */
async function child(j: Job): Promise<Measured> {
  const threads = setThreads(0);
  const c = configOf(j);
  const t0 = performance.now();
  let clips: number;
  if (j.side === 'steps') {
    const ids = runIdsOf(c);
    clips = await withRunLock(versionDir(ids), async () => {
      const extractor = await resolveExtractor(c, MACHINE);
      let n: number;
      try {
        const r = await extract({ ...ids, machine: MACHINE, dataDir: c.data_dir, ...extractor, sec: c.extract.sec, batchSize: c.extract.batch_size, precision: c.extract.precision, device: c.device, overwrite: true });
        if (isSkipped(r)) throw new Error('extract was skipped');
        n = r.rows.train + r.rows.test;
      } finally {
        extractor.model?.dispose();
      }
      const s = await score({ ...ids, machine: MACHINE, backends: c.score.backend, device: c.device, overwrite: true });
      if (isSkipped(s)) throw new Error('score was skipped');
      return n;
    });
  } else {
    const detector = await Detector.load(j.detector);
    try {
      const paths = await allClips(j.dataDir);
      const r = await detect({ detector, paths, out: j.out, overwrite: true, batchSize: BATCH });
      if (r.failed) throw new Error(`detect: ${r.failed} clip(s) could not be scored`);
      clips = r.scored;
    } finally {
      detector.dispose();
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return { seconds, clips, threads, maxRSS: process.resourceUsage().maxRSS };
}

const thisFile = fileURLToPath(import.meta.url);

function runChild(j: Job): Promise<Measured> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', thisFile, '--child', JSON.stringify(j)], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      if (code !== 0) return reject(new Error(`${j.side} child for ${j.recipe} exited with ${code}`));
      try {
        resolve(JSON.parse(last) as Measured);
      } catch {
        reject(new Error(`${j.side} child for ${j.recipe}: no result line (got ${JSON.stringify(last)})`));
      }
    });
  });
}

/** Largest |detect − score step| per split, by path (the same work gives the same scores). */
async function maxScoreDiff(stepsDir: string, detectOut: string, column: string): Promise<Record<'train' | 'test', number>> {
  const got = await readCsvFile(detectOut, 'detect output');
  const v = numericColumn(got, 'score', detectOut);
  const byPath = new Map(got.rows.map((r, i) => [r[0], v[i]]));
  const out = { train: 0, test: 0 };
  for (const split of ['train', 'test'] as const) {
    const file = path.join(stepsDir, `${split}_score.csv`);
    const t = await readCsvFile(file, 'scores');
    const want = numericColumn(t, column, file);
    t.rows.forEach((r, i) => {
      const g = byPath.get(r[0]);
      out[split] = Math.max(out[split], g === undefined ? Infinity : Math.abs(g - want[i]));
    });
  }
  return out;
}

export async function benchDetect({ quick }: { quick: boolean }): Promise<void> {
  const repeats = quick ? 1 : 5;
  const train = quick ? { source: 36, target: 4 } : { source: 180, target: 20 };
  const testPer = quick ? 40 : 200;
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-detect-'));
  try {
    const dataDir = path.join(root, 'data');
    const tPrep = performance.now();
    await synthesize({ dataDir, dcase: DCASE, size: 'tiny', seed: 0, seconds: 10, machines: [MACHINE], trainPerSection: train, testPerSection: testPer });
    const synth = (performance.now() - tPrep) / 1000;
    const nTrain = train.source + train.target;
    const nTest = 4 * testPer;
    console.log(
      `detect: ${DCASE} ${MACHINE}, ${nTrain + nTest} × 10 s clips (${nTrain} train + ${nTest} test, tiled to the run's 18 s)${quick ? ' (quick)' : ''}, ` +
        `one kNN backend (cosine, k=1), dis model trained 1 epoch, batch ${BATCH}; each side times all ${nTrain + nTest} clips because the extract step always does train + test;`,
    );
    console.log(`  each measurement a fresh child process (setThreads(0)), sides alternating; medians of ${repeats} per side; preparation (synthesis ${synth.toFixed(0)} s, each run + export) not timed`);
    for (const r of RECIPES) {
      const resultDir = path.join(root, `results-${r.recipe}`);
      const job: Omit<Job, 'side'> = {
        recipe: r.recipe,
        dataDir,
        resultDir,
        overrides: [...r.set(root), `score.backend=[${KNN}]`, 'visualize.enabled=false'],
        detector: path.join(root, `detector-${r.recipe}`),
        out: path.join(root, `detect-${r.recipe}.csv`),
      };
      const c = configOf({ ...job, side: 'steps' });
      const t0 = performance.now();
      const run = await runRecipe(c);
      if (run.failed.length) throw new Error(`${r.recipe}: ${run.failed.map((f) => `${f.step} ${f.machine ?? ''}: ${f.message}`).join('; ')}`);
      const { manifest } = await exportDetector({ config: c, machine: MACHINE, out: job.detector });
      const prep = (performance.now() - t0) / 1000;

      const steps: Measured[] = [];
      const det: Measured[] = [];
      for (let i = 0; i < repeats; i++) {
        // Alternate which side goes first, so neither always follows the other.
        if (i % 2 === 0) {
          steps.push(await runChild({ ...job, side: 'steps' }));
          det.push(await runChild({ ...job, side: 'detect' }));
        } else {
          det.push(await runChild({ ...job, side: 'detect' }));
          steps.push(await runChild({ ...job, side: 'steps' }));
        }
      }
      const diff = await maxScoreDiff(machineDir(runIdsOf(c), MACHINE), job.out, manifest.score.column);
      const line = (ms: Measured[]) => {
        const t = median(ms.map((m) => m.seconds));
        const n = ms[0].clips;
        const all = ms.map((m) => m.seconds.toFixed(2)).join(', ');
        return { t, text: `${n} clips  ${t.toFixed(2)} s  ${(n / t).toFixed(1)} clips/s  peak RSS ${(median(ms.map((m) => m.maxRSS)) / 1024).toFixed(0)} MiB  (runs: ${all} s)` };
      };
      const a = line(steps);
      const b = line(det);
      console.log(`${r.recipe} (${manifest.score.column}; ${steps[0].threads} LibTorch threads; untimed run + export ${prep.toFixed(0)} s):`);
      console.log(row('extract+score', a.text));
      console.log(row('detect', b.text));
      console.log(row('ratio', `detect / (extract+score) time ${(b.t / a.t).toFixed(2)} (detect ${(a.t / b.t).toFixed(2)}× the clips/s); max |score diff| test ${diff.test.toExponential(1)}, train ${diff.train.toExponential(1)}`));
      console.log(row('load average', `${os.loadavg().map((x) => x.toFixed(1)).join(' ')} (1/5/15 min, ${os.cpus().length} cores; other work on the machine shows here)`));
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

if (process.argv[1] && path.resolve(process.argv[1]) === thisFile && process.argv[2] === '--child') {
  const m = await child(JSON.parse(process.argv[3]) as Job);
  console.log(JSON.stringify(m));
}
