/**
 * The visualize step (spec backends-recipes-outputs §4): UMAP of a machine's train + test
 * embeddings (cosine: rows L2-normalised first), saved as `visualize/umap_<metric>_<embed_key>.npz`
 * (reused when present unless `overwrite`), and the PNGs `<stem>_sectionall.png` and
 * `<stem>_section<k>.png`, always redrawn. UMAP is umap-js, seeded (ASDKit: umap-learn,
 * random_state 0); coordinates differ between the implementations, neighbourhoods do not.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { UMAP } from 'umap-js';
import { Rng } from '../util/rng.js';
import { readNpz, writeNpz, type NpyArray } from '../io/npz.js';
import { abortError } from '../native/index.js';
import { scatterSvg, svgToPng, type Limits, type Series } from '../plot/scatter.js';
import { exists, writeAtomic } from '../util/files.js';
import { checkFingerprint, clearFingerprint, machineDir, stampFiles, writeFingerprint, type Fingerprint, type RunIds, type StepControl } from '../run/index.js';

export interface VisualizeOptions extends RunIds, StepControl {
  machine: string;
  /** `cosine` (default) or `euclid`. */
  metric?: string;
  embedKey?: string;
  /** UMAP seed (ASDKit: random_state 0). */
  umapSeed?: number;
  overwrite?: boolean;
}

export interface VisualizeResult {
  npz: string;
  pngs: string[];
  /** false when an existing npz was reused. */
  computed: boolean;
}

const ITEMS = ['path', 'section', 'is_normal', 'is_target'] as const;

export async function visualize(o: VisualizeOptions): Promise<VisualizeResult> {
  const metric = o.metric ?? 'cosine';
  if (metric !== 'cosine' && metric !== 'euclid') throw new Error(`visualize: unknown metric "${metric}" (cosine or euclid)`);
  const embedKey = o.embedKey ?? 'embed';
  const out = machineDir(o, o.machine);
  const dir = path.join(out, 'visualize');
  const stem = `umap_${metric}_${embedKey}`;
  const npzFile = path.join(dir, `${stem}.npz`);
  const present = await exists(npzFile);
  // The projection is a view of the extract files: redone (not refused) when they changed since.
  const step = `umap-${stem}`;
  const fingerprint = async (): Promise<Fingerprint> => ({
    settings: { metric, embedKey, umapSeed: o.umapSeed ?? 0 },
    files: await stampFiles(Object.fromEntries(['train', 'test'].map((s) => [`${s}_extract.npz`, path.join(out, `${s}_extract.npz`)]))),
  });
  const stale = present && !o.overwrite && (await checkFingerprint(dir, step, fingerprint).then(() => false, () => true));
  const computed = !present || (o.overwrite ?? false) || stale;
  let npz: Map<string, NpyArray>;
  if (computed) {
    const fp = await fingerprint();
    const arrays = await project(out, metric, embedKey, o);
    await clearFingerprint(dir, step);
    await writeNpz(npzFile, arrays);
    await writeFingerprint(dir, step, fp);
    npz = new Map(arrays);
  } else {
    npz = await readNpz(npzFile);
  }
  const pngs = await draw(npz, dir, stem);
  return { npz: npzFile, pngs, computed };
}

async function project(out: string, metric: string, embedKey: string, o: VisualizeOptions): Promise<Array<[string, NpyArray]>> {
  const files = ['train', 'test'].map((s) => path.join(out, `${s}_extract.npz`));
  const [train, test] = await Promise.all(files.map((f) => readNpz(f)));
  const keys = (m: Map<string, NpyArray>) => [...m.keys()].sort().join(',');
  if (keys(train) !== keys(test)) throw new Error(`${files[0]} and ${files[1]} hold different arrays`);
  for (const k of [embedKey, ...ITEMS]) if (!train.has(k)) throw new Error(`${files[0]}: no "${k}" array`);
  const rows: number[][] = [];
  for (const m of [train, test]) {
    const e = m.get(embedKey)!;
    const [n, d] = e.shape;
    for (let i = 0; i < n; i++) {
      const r = Array.from((e.data as Float32Array).subarray(i * d, (i + 1) * d));
      if (metric === 'cosine') {
        const norm = Math.max(Math.hypot(...r), 1e-12);
        for (let k = 0; k < d; k++) r[k] /= norm;
      }
      rows.push(r);
    }
  }
  const coords = await runUmap(rows, metric, o.umapSeed ?? 0, o);
  const nTrain = train.get(embedKey)!.shape[0];
  const arrays: Array<[string, NpyArray]> = ITEMS.map((k) => [k, concat(train.get(k)!, test.get(k)!)]);
  arrays.push(['is_test', { dtype: 'int64', shape: [rows.length], data: BigInt64Array.from(rows, (_, i) => (i < nTrain ? 0n : 1n)) }]);
  arrays.push(['umap_embed', { dtype: 'float32', shape: [rows.length, 2], data: Float32Array.from(coords.flat()) }]);
  return arrays;
}

/** umap-learn's defaults: 15 neighbours, min_dist 0.1, 500 epochs up to 10 000 rows, else 200. */
async function runUmap(rows: number[][], metric: string, seed: number, o: StepControl): Promise<number[][]> {
  const rng = new Rng(seed);
  const nEpochs = rows.length <= 10000 ? 500 : 200;
  const umap = new UMAP({
    nComponents: 2,
    nNeighbors: Math.min(15, rows.length - 1),
    minDist: 0.1,
    spread: 1.0,
    nEpochs,
    random: () => rng.next(),
    distanceFn: metric === 'cosine' ? cosineDistance : undefined,
  });
  let aborted = false;
  const coords = await umap.fitAsync(rows, (epoch) => {
    o.onProgress?.(epoch, nEpochs);
    aborted = o.signal?.aborted ?? false;
    return !aborted;
  });
  if (aborted && o.signal) throw abortError(o.signal);
  return coords;
}

function cosineDistance(a: number[], b: number[]): number {
  let dot = 0, na = 0, nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i] * b[i];
    na += a[i] * a[i];
    nb += b[i] * b[i];
  }
  return na === 0 || nb === 0 ? 1 : 1 - dot / Math.sqrt(na * nb);
}

function concat(a: NpyArray, b: NpyArray): NpyArray {
  if (a.dtype === 'unicode') return { dtype: 'unicode', shape: [a.shape[0] + b.shape[0]], data: [...(a.data as string[]), ...(b.data as string[])] };
  if (a.dtype !== 'int64' || b.dtype !== 'int64') throw new Error(`visualize: expected int64 metadata, got ${a.dtype}`);
  const data = new BigInt64Array(a.data.length + b.data.length);
  data.set(a.data);
  data.set(b.data as BigInt64Array, a.data.length);
  return { dtype: 'int64', shape: [data.length], data };
}

/** The reference's series, in drawing order; `section` = undefined for all sections. */
function seriesOf(npz: Map<string, NpyArray>, section?: bigint): { left: Series[]; right: Series[] } {
  const xy = npz.get('umap_embed')!.data as Float32Array;
  const col = (k: string) => npz.get(k)!.data as BigInt64Array;
  const [sec, normal, target, isTest] = [col('section'), col('is_normal'), col('is_target'), col('is_test')];
  const pick = (test: number, tgt: number, nrm: number) => {
    const x: number[] = [], y: number[] = [];
    for (let i = 0; i < sec.length; i++) {
      if ((section === undefined || sec[i] === section) && Number(isTest[i]) === test && Number(target[i]) === tgt && Number(normal[i]) === nrm) {
        x.push(xy[2 * i]);
        y.push(xy[2 * i + 1]);
      }
    }
    return { x, y };
  };
  const trainS = pick(0, 0, 1), trainT = pick(0, 1, 1);
  return {
    left: [
      { label: 'train_source_normal', marker: 'square', color: 'green', ...trainS },
      { label: 'train_target_normal', marker: 'square', color: 'mediumseagreen', ...trainT },
    ],
    right: [
      { label: 'train_source_normal', marker: 'square', color: 'green', alpha: 0.2, strokeWidth: 1, ...trainS },
      { label: 'train_target_normal', marker: 'square', color: 'mediumseagreen', alpha: 0.2, strokeWidth: 1, ...trainT },
      { label: 'test_source_normal', marker: 'circle', color: 'royalblue', ...pick(1, 0, 1) },
      { label: 'test_source_anomaly', marker: 'triangle', color: 'mediumvioletred', ...pick(1, 0, 0) },
      { label: 'test_target_normal', marker: 'circle', color: 'orange', ...pick(1, 1, 1) },
      { label: 'test_target_anomaly', marker: 'triangle', color: 'red', ...pick(1, 1, 0) },
    ],
  };
}

async function draw(npz: Map<string, NpyArray>, dir: string, stem: string): Promise<string[]> {
  const xy = npz.get('umap_embed')!.data as Float32Array;
  const xs = xy.filter((_, i) => i % 2 === 0), ys = xy.filter((_, i) => i % 2 === 1);
  const lim: Limits = { x: [Math.min(...xs) - 0.5, Math.max(...xs) + 0.5], y: [Math.min(...ys) - 0.5, Math.max(...ys) + 0.5] };
  const sections = [...new Set(npz.get('section')!.data as BigInt64Array)].sort((a, b) => (a < b ? -1 : 1));
  const files: string[] = [];
  for (const section of [undefined, ...sections]) {
    const { left, right } = seriesOf(npz, section);
    const file = path.join(dir, `${stem}_section${section === undefined ? 'all' : section}.png`);
    await writeAtomic(file, svgToPng(scatterSvg(left, right, lim)));
    files.push(file);
  }
  return files;
}
