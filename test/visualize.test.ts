import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PNG } from 'pngjs';
import { readNpz, writeNpz, type NpyArray } from '../src/io/npz.js';
import { machineDir } from '../src/run/index.js';
import { visualize } from '../src/steps/visualize.js';
import { Rng } from '../src/util/rng.js';

const ids = { name: 'recipe', dcase: 'dcase2023' as const, version: 'v', seed: 0, inferVer: 'x' };

// Extract files with 4 well-separated 16-d clusters (one per section × domain) plus anomalies.
async function makeRun(root: string): Promise<string> {
  const rng = new Rng(7);
  const centres = [0, 1, 2, 3].map(() => Array.from({ length: 16 }, () => rng.uniform(-1, 1) * 5));
  const split = (n: number, test: boolean) => {
    const embed: number[] = [], section: bigint[] = [], isNormal: bigint[] = [], isTarget: bigint[] = [], paths: string[] = [], cluster: number[] = [];
    for (let i = 0; i < n; i++) {
      const c = i % 4;
      const anomaly = test && i % 3 === 0;
      for (const v of centres[c]) embed.push(v + rng.uniform(-0.3, 0.3) + (anomaly ? 0.8 : 0));
      section.push(BigInt(c >> 1));
      isTarget.push(BigInt(c & 1));
      isNormal.push(anomaly ? 0n : 1n);
      paths.push(`${test ? 'test' : 'train'}/clip_${i}.wav`);
      cluster.push(c);
    }
    const arrays: Array<[string, NpyArray]> = [
      ['embed', { dtype: 'float32', shape: [n, 16], data: Float32Array.from(embed) }],
      ['path', { dtype: 'unicode', shape: [n], data: paths }],
      ['section', { dtype: 'int64', shape: [n], data: BigInt64Array.from(section) }],
      ['is_normal', { dtype: 'int64', shape: [n], data: BigInt64Array.from(isNormal) }],
      ['is_target', { dtype: 'int64', shape: [n], data: BigInt64Array.from(isTarget) }],
    ];
    return { arrays, cluster };
  };
  const dir = machineDir({ ...ids, resultDir: root }, 'fan');
  await writeNpz(path.join(dir, 'train_extract.npz'), split(120, false).arrays);
  await writeNpz(path.join(dir, 'test_extract.npz'), split(60, true).arrays);
  return dir;
}

test('visualize: npz keys and shapes, deterministic UMAP that keeps clusters apart, decodable non-blank PNGs', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-vis-'));
  const dir = await makeRun(root);
  const r = await visualize({ ...ids, resultDir: root, machine: 'fan' });
  t.true(r.computed);
  t.deepEqual(r.pngs.map((p) => path.basename(p)), ['umap_cosine_embed_sectionall.png', 'umap_cosine_embed_section0.png', 'umap_cosine_embed_section1.png']);
  const npz = await readNpz(path.join(dir, 'visualize', 'umap_cosine_embed.npz'));
  t.deepEqual([...npz.keys()], ['path', 'section', 'is_normal', 'is_target', 'is_test', 'umap_embed']);
  t.deepEqual(npz.get('umap_embed')!.shape, [180, 2]);
  t.is(npz.get('umap_embed')!.dtype, 'float32');
  t.deepEqual(Array.from(npz.get('is_test')!.data as BigInt64Array, Number).slice(118, 122), [0, 0, 1, 1]);

  // Neighbourhoods: each point's nearest 2-D neighbour comes from its own cluster.
  const xy = npz.get('umap_embed')!.data as Float32Array;
  const cluster = (i: number) => (i < 120 ? i : i - 120) % 4;
  let same = 0;
  for (let i = 0; i < 180; i++) {
    let best = -1, bestD = Infinity;
    for (let j = 0; j < 180; j++) {
      const d = j === i ? Infinity : (xy[2 * i] - xy[2 * j]) ** 2 + (xy[2 * i + 1] - xy[2 * j + 1]) ** 2;
      if (d < bestD) [best, bestD] = [j, d];
    }
    if (cluster(best) === cluster(i)) same++;
  }
  t.true(same / 180 > 0.95, `nearest neighbour in the same cluster: ${same}/180`);

  // PNGs: the figure size, white background, and the reference colours present.
  for (const file of r.pngs) {
    const png = PNG.sync.read(await fs.readFile(file));
    t.deepEqual([png.width, png.height], [1600, 920]);
    const colours = new Set<string>();
    let ink = 0;
    for (let i = 0; i < png.data.length; i += 4) {
      const [R, G, B] = [png.data[i], png.data[i + 1], png.data[i + 2]];
      if (R < 250 || G < 250 || B < 250) ink++;
      colours.add(`${R >> 4},${G >> 4},${B >> 4}`);
    }
    t.true(ink > 5000, `${path.basename(file)}: ${ink} non-white pixels`);
    t.true(colours.has('0,8,0'), 'green (train_source_normal) is drawn'); // #008000
    t.true(colours.has('4,6,14'), 'royalblue (test_source_normal) is drawn'); // #4169E1
  }

  // Same seed → same coordinates; an existing npz is reused (PNGs still redrawn).
  const again = await visualize({ ...ids, resultDir: root, machine: 'fan', overwrite: true });
  t.true(again.computed);
  t.deepEqual((await readNpz(again.npz)).get('umap_embed')!.data, xy);
  const reused = await visualize({ ...ids, resultDir: root, machine: 'fan' });
  t.false(reused.computed);
  t.is(reused.pngs.length, 3);
  await t.throwsAsync(visualize({ ...ids, resultDir: root, machine: 'fan', metric: 'manhattan' }), { message: /unknown metric/ });
  await t.throwsAsync(visualize({ ...ids, resultDir: root, machine: 'nosuch' }), { message: /nosuch/ });
});

test('visualize: a projection made from older extract files is redone, not reused', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-vis-stale-'));
  await makeRun(root);
  t.true((await visualize({ ...ids, resultDir: root, machine: 'fan' })).computed);
  t.false((await visualize({ ...ids, resultDir: root, machine: 'fan' })).computed, 'unchanged inputs: reused');
  await new Promise((r) => setTimeout(r, 20));
  await makeRun(root); // a re-extraction rewrites both npz files
  t.true((await visualize({ ...ids, resultDir: root, machine: 'fan' })).computed, 'changed inputs: recomputed');
  t.false((await visualize({ ...ids, resultDir: root, machine: 'fan' })).computed);
});
