import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DCASE_YEARS, machinesOf, type Dcase } from '../src/dcase/index.js';
import {
  FormatCheckError, checkCounts, expectedCounts, formatDataset, formattedName, mappingFile, undoFormat, type CountRow,
} from '../src/data/format.js';
import { loadGroundTruth, parseGroundTruth } from '../src/data/ground-truth/index.js';
import { synthesize } from '../src/data/synth/index.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-format-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * A small original tree like the download step leaves it: `synth --layout original` (one clip per
 * cell, 16 samples each) plus a zip and an attribute CSV beside the clips, which format ignores.
 */
async function makeOriginal(dataDir: string, dcase: Dcase): Promise<number> {
  const r = await synthesize({
    dataDir, dcase, layout: 'original', seconds: 0.001, trainPerSection: { source: 1, target: 1 }, testPerSection: 1,
  });
  for (const subset of ['dev', 'eval'] as const) {
    const raw = path.join(dataDir, 'original', dcase, `${subset}_data`, 'raw');
    for (const machine of machinesOf(dcase, subset)) {
      await fs.writeFile(path.join(raw, `${subset}_${machine}.zip`), '');
      await fs.writeFile(path.join(raw, machine, 'attributes_00.csv'), '');
    }
  }
  return r.files;
}

const formatted = (dataDir: string, dcase: string, rel: string) => path.join(dataDir, 'formatted', dcase, 'raw', rel);
const total = (rows: CountRow[]) => rows.reduce((s, r) => s + r.count, 0);

const EXAMPLES: [Dcase, string, string][] = [
  ['dcase2020', 'fan/train/section_00_source_train_normal_00000000.wav', 'dev_data/raw/fan/train/normal_id_00_00000000.wav'],
  ['dcase2020', 'fan/test/section_00_source_test_anomaly_00000000.wav', 'dev_data/raw/fan/test/anomaly_id_00_00000000.wav'],
  ['dcase2020', 'fan/train/section_01_source_train_normal_00000000.wav', 'eval_data/raw/fan/train/normal_id_01_00000000.wav'],
  ['dcase2020', 'fan/test/section_01_source_test_normal_00000098.wav', 'eval_data/raw/fan/test/id_01_00000000.wav'],
  ['dcase2021', 'fan/test/section_00_source_test_normal_0000.wav', 'dev_data/raw/fan/source_test/section_00_source_test_normal_0000.wav'],
  ['dcase2021', 'fan/test/section_03_source_test_anomaly_0000.wav', 'eval_data/raw/fan/source_test/section_03_source_test_0000.wav'],
  ['dcase2021', 'fan/train/section_00_source_train_normal_0000_m-n_8.wav', 'dev_data/raw/fan/train/section_00_source_train_normal_0000_m-n_8.wav'],
  ['dcase2022', 'bearing/test/section_03_source_test_normal_0000_vel_21.wav', 'eval_data/raw/bearing/test/section_03_0000.wav'],
  ['dcase2023', 'bandsaw/test/section_00_source_test_anomaly_0005_vel_15.wav', 'eval_data/raw/bandsaw/test/section_00_0005.wav'],
  ['dcase2024', '3DPrinter/test/section_00_target_test_anomaly_0001_mdl_B_spd_2.wav', 'eval_data/raw/3DPrinter/test/section_00_0001.wav'],
  ['dcase2024', 'AirCompressor/test/section_00_source_test_normal_0001_noAttribute.wav', 'eval_data/raw/AirCompressor/test/section_00_0001.wav'],
  ['dcase2024', 'RoboticArm/test/section_00_source_test_normal_0035_weight15_BckgF.wav', 'eval_data/raw/RoboticArm/test/section_00_0000.wav'],
  ['dcase2025', 'AutoTrash/test/section_00_target_test_anomaly_0012_id_C1_spd_2_mic_2.wav', 'eval_data/raw/AutoTrash/test/section_00_0000.wav'],
  ['dcase2025', 'AutoTrash/train/section_00_source_train_normal_0000_noAttribute.wav', 'eval_data/raw/AutoTrash/train/section_00_source_train_normal_0000_noAttribute.wav'],
  ['dcase2025', 'bearing/supplemental/section_00_machine_0001_.wav', 'dev_data/raw/bearing/supplemental/section_00_machine_0001_.wav'],
];

for (const dcase of DCASE_YEARS) {
  test(`${dcase}: symlink format renames per spec, links absolute, rerun is idempotent`, async (t) => {
    const dataDir = await tempDir(t);
    const clips = await makeOriginal(dataDir, dcase);
    const progress: number[] = [];
    // A relative data dir must still give absolute link targets.
    const rel = path.relative(process.cwd(), dataDir);
    const r = await formatDataset({ dataDir: rel, dcase, linkMode: 'symlink', onProgress: (d) => progress.push(d) });
    t.is(r.written, clips);
    t.is(r.skipped, 0);
    t.is(total(r.counts) + r.supplemental, clips);
    t.is(r.supplemental > 0, dcase === 'dcase2025');
    t.is(progress.at(-1), clips);
    for (const [year, out, orig] of EXAMPLES.filter((e) => e[0] === dcase)) {
      const link = formatted(dataDir, dcase, out);
      const target = await fs.readlink(link);
      t.is(target, path.join(dataDir, 'original', dcase, orig), out);
      t.true(path.isAbsolute(target));
      t.is((await fs.stat(link)).size, 76, `${year} ${out} resolves`); // 44-byte header + 16 samples
    }
    // Dev and eval share machine folders; 2021 test folders are merged.
    const firstMachine = machinesOf(dcase, 'dev')[0];
    const names = await fs.readdir(formatted(dataDir, dcase, `${firstMachine}/test`));
    t.true(names.every((n) => n.startsWith('section_') && n.includes('_test_')));
    const again = await formatDataset({ dataDir, dcase, linkMode: 'symlink' });
    t.is(again.written, 0);
    t.is(again.skipped, clips);
    t.deepEqual(again.counts, r.counts);
  });
}

test('copy mode: real files, idempotent; conflicts fail unless overwrite', async (t) => {
  const dataDir = await tempDir(t);
  const clips = await makeOriginal(dataDir, 'dcase2023');
  const r = await formatDataset({ dataDir, dcase: 'dcase2023', linkMode: 'copy' });
  t.is(r.written, clips);
  const out = formatted(dataDir, 'dcase2023', 'bandsaw/test/section_00_source_test_anomaly_0005_vel_15.wav');
  const st = await fs.lstat(out);
  t.true(st.isFile());
  t.is(st.size, 76);
  t.is((await formatDataset({ dataDir, dcase: 'dcase2023', linkMode: 'copy' })).skipped, clips);
  await fs.writeFile(out, 'different');
  const err = await t.throwsAsync(formatDataset({ dataDir, dcase: 'dcase2023', linkMode: 'copy' }), { instanceOf: FormatCheckError });
  t.deepEqual(err?.problems, ['formatted/dcase2023/raw/bandsaw/test/section_00_source_test_anomaly_0005_vel_15.wav: exists with different content']);
  // Symlinks over copies are conflicts too.
  await t.throwsAsync(formatDataset({ dataDir, dcase: 'dcase2023', linkMode: 'symlink' }), { instanceOf: FormatCheckError });
  const fixed = await formatDataset({ dataDir, dcase: 'dcase2023', linkMode: 'copy', overwrite: true });
  t.is(fixed.written, 1);
  t.is((await fs.stat(out)).size, 76);
});

test('mv mode moves files, records the mapping, reruns, and undo restores the original tree', async (t) => {
  const dataDir = await tempDir(t);
  const clips = await makeOriginal(dataDir, 'dcase2021');
  const orig = path.join(dataDir, 'original/dcase2021/eval_data/raw/fan/source_test/section_03_source_test_0000.wav');
  const out = formatted(dataDir, 'dcase2021', 'fan/test/section_03_source_test_anomaly_0000.wav');
  const r = await formatDataset({ dataDir, dcase: 'dcase2021', linkMode: 'mv' });
  t.is(r.written, clips);
  t.true((await fs.lstat(out)).isFile());
  await t.throwsAsync(fs.access(orig));
  const mapping = JSON.parse(await fs.readFile(mappingFile(dataDir, 'dcase2021'), 'utf8')) as { moves: unknown[] };
  t.is(mapping.moves.length, clips);
  const again = await formatDataset({ dataDir, dcase: 'dcase2021', linkMode: 'mv' });
  t.is(again.skipped, clips);
  t.deepEqual(again.counts, r.counts);
  await t.throwsAsync(formatDataset({ dataDir, dcase: 'dcase2021', linkMode: 'symlink' }), { message: /undo it/ });

  const u = await undoFormat({ dataDir, dcase: 'dcase2021' });
  t.is(u.restored, clips);
  t.true((await fs.lstat(orig)).isFile());
  await t.throwsAsync(fs.access(mappingFile(dataDir, 'dcase2021')));
  await t.throwsAsync(fs.access(path.join(dataDir, 'formatted/dcase2021/raw')), undefined, 'empty folders removed');
  await t.throwsAsync(undoFormat({ dataDir, dcase: 'dcase2021' }), { message: /nothing to undo/ });
  // The restored tree formats again.
  t.is((await formatDataset({ dataDir, dcase: 'dcase2021', linkMode: 'symlink' })).written, clips);
});

test('the pre-check reports every problem at once and writes nothing', async (t) => {
  const dataDir = await tempDir(t);
  await makeOriginal(dataDir, 'dcase2023');
  const raw = path.join(dataDir, 'original/dcase2023');
  await fs.mkdir(path.join(raw, 'eval_data/raw/__MACOSX'));
  await fs.rm(path.join(raw, 'dev_data/raw/fan'), { recursive: true });
  await fs.rm(path.join(raw, 'dev_data/raw/valve/test'), { recursive: true });
  await fs.writeFile(path.join(raw, 'eval_data/raw/bandsaw/test/section_00_9999.wav'), '');
  await fs.writeFile(path.join(raw, 'eval_data/raw/bandsaw/test/notes.txt'), '');
  await fs.writeFile(path.join(raw, 'dev_data/raw/gearbox/train/normal_id_00_00000000.wav'), '');
  const err = await t.throwsAsync(formatDataset({ dataDir, dcase: 'dcase2023' }), { instanceOf: FormatCheckError });
  t.deepEqual(err?.problems, [
    'original/dcase2023/dev_data/raw/fan: machine folder missing',
    'original/dcase2023/dev_data/raw/gearbox/train/normal_id_00_00000000.wav: cannot parse clip name "normal_id_00_00000000.wav": expected section_<SS>_<domain>_<split>_<label>_<id>[_<attr>].wav',
    'original/dcase2023/dev_data/raw/valve/test: sub-folder missing',
    'original/dcase2023/eval_data/raw/__MACOSX: unexpected folder (not a dcase2023 eval machine type)',
    'original/dcase2023/eval_data/raw/bandsaw/test/notes.txt: not a .wav file',
    'original/dcase2023/eval_data/raw/bandsaw/test/section_00_9999.wav: not in the ground-truth list of dcase2023 bandsaw',
  ]);
  t.regex(err!.message, /6 problems/);
  await t.throwsAsync(fs.access(path.join(dataDir, 'formatted')));
  await fs.rm(path.join(dataDir, 'original/dcase2023/eval_data'), { recursive: true });
  const err2 = await t.throwsAsync(formatDataset({ dataDir, dcase: 'dcase2023' }), { instanceOf: FormatCheckError });
  t.true(err2!.problems.includes('original/dcase2023/eval_data/raw: folder missing'));
});

test('formattedName: split and domain of the name must match the folder', async (t) => {
  const gt = await loadGroundTruth('dcase2021');
  t.is(formattedName('dcase2021', 'fan', 'dev', 'target_test', 'section_00_target_test_normal_0001.wav', gt), 'section_00_target_test_normal_0001.wav');
  t.throws(() => formattedName('dcase2021', 'fan', 'dev', 'source_test', 'section_00_target_test_normal_0001.wav', gt), { message: /target clip but lies in source_test/ });
  t.throws(() => formattedName('dcase2022', 'fan', 'dev', 'train', 'section_00_source_test_normal_0001_a.wav', new Map()), { message: /test name but lies in a train folder/ });
  t.throws(() => formattedName('dcase2020', 'fan', 'dev', 'train', 'normal_00_00000000.wav', new Map()), { message: /not a DCASE 2020 clip name/ });
});

test('ground-truth lists: counts per year and per machine, CRLF handled, clear errors', async (t) => {
  const sizes: Record<Dcase, number> = {
    dcase2020: 7103, dcase2021: 8635, dcase2022: 4200, dcase2023: 1400, dcase2024: 1800, dcase2025: 1600, dcase2026: 1000,
  };
  for (const [dcase, n] of Object.entries(sizes) as [Dcase, number][]) {
    const gt = await loadGroundTruth(dcase);
    t.is([...gt.values()].reduce((s, m) => s + m.size, 0), n, dcase);
    t.deepEqual([...gt.keys()].sort(), [...machinesOf(dcase, 'eval')].sort());
    for (const m of gt.values()) for (const [k, v] of m) t.false(/\s/.test(k + v), `${dcase}: whitespace in ${k},${v}`);
  }
  const g20 = await loadGroundTruth('dcase2020');
  t.deepEqual(
    Object.fromEntries([...g20].map(([m, e]) => [m, e.size])),
    { fan: 1342, pump: 777, slider: 834, valve: 940, ToyCar: 1545, ToyConveyor: 1665 },
  );
  const g21 = await loadGroundTruth('dcase2021');
  t.is(g21.get('gearbox')!.size, 1428);
  t.is(g21.get('slider')!.size, 1207);
  t.is(g21.get('fan')!.get('section_03_source_test_0000.wav'), 'section_03_source_test_anomaly_0000.wav');
  const g25 = await loadGroundTruth('dcase2025');
  t.true([...g25.values()].every((e) => e.size === 200));
  t.is(g25.get('AutoTrash')!.get('section_00_0095.wav'), 'section_00_source_test_anomaly_0001_id_A1_spd_1_mic_2.wav');

  t.deepEqual(parseGroundTruth('fan\r\na.wav,b.wav,0\r\n', 'x.csv'), new Map([['fan', new Map([['a.wav', 'b.wav']])]]));
  t.throws(() => parseGroundTruth('a.wav,b.wav\n', 'x.csv'), { message: 'x.csv:1: entry "a.wav,b.wav" comes before any machine header' });
  t.throws(() => parseGroundTruth('fan\na.wav,b.wav\na.wav,c.wav\n', 'x.csv'), { message: /x\.csv:3: "a\.wav" is listed twice/ });
  t.throws(() => parseGroundTruth('fan\na.wav\n', 'x.csv'), { message: /x\.csv:2: expected/ });
});

test('checkCounts: silent unless strict; strict compares with the real dataset', async (t) => {
  const dataDir = await tempDir(t);
  await makeOriginal(dataDir, 'dcase2023');
  const r = await formatDataset({ dataDir, dcase: 'dcase2023' });
  t.deepEqual(await checkCounts('dcase2023', r.counts), []);
  t.true((await checkCounts('dcase2023', r.counts, { strict: true })).length > 0);

  // The expected counts themselves reproduce the real dataset (spec §1.3) and pass strictly.
  const totals = { dcase2023: 16800, dcase2024: 19200, dcase2025: 18000 }; // 2025: 15 types × (1000 train + 200 test)
  for (const [dcase, n] of Object.entries(totals) as ['dcase2023' | 'dcase2024' | 'dcase2025', number][]) {
    const exp = expectedCounts(dcase, await loadGroundTruth(dcase));
    t.is(total(exp), n);
    t.deepEqual(await checkCounts(dcase, exp, { strict: true }), []);
  }
  const exp23 = expectedCounts('dcase2023', await loadGroundTruth('dcase2023'));
  const bandsaw = exp23.filter((e) => e.machine === 'bandsaw' && e.split === 'test').map((e) => `${e.domain} ${e.label} ${e.count}`);
  t.deepEqual(bandsaw.sort(), ['source anomaly 40', 'source normal 67', 'target anomaly 33', 'target normal 60']);
  const exp20 = expectedCounts('dcase2020', await loadGroundTruth('dcase2020'));
  t.is(total(exp20), 7103);

  const broken = exp23.map((e) => (e.machine === 'fan' && e.split === 'train' && e.domain === 'target' ? { ...e, count: 9 } : e));
  broken.push({ machine: 'fan', subset: 'dev', split: 'train', section: 1, domain: 'source', label: 'normal', count: 5 });
  t.deepEqual(await checkCounts('dcase2023', broken, { strict: true }), [
    'fan dev train section 00 target normal: 9 clips, expected 10',
    'fan dev train section 01 source normal: 5 clips, expected none',
  ]);
});

test('2025 supplemental clips: optional, kept under their own names, outside train and test', async (t) => {
  const dataDir = await tempDir(t);
  const clips = await makeOriginal(dataDir, 'dcase2025');
  const odd = path.join(dataDir, 'original/dcase2025/eval_data/raw/Polisher/supplemental/any name.wav');
  await fs.writeFile(odd, '');
  await fs.rm(path.join(dataDir, 'original/dcase2025/dev_data/raw/fan/supplemental'), { recursive: true });
  const r = await formatDataset({ dataDir, dcase: 'dcase2025' });
  t.is(r.written, clips - 2 + 1); // fan had two supplemental clips (one test clip per cell)
  t.true((await fs.lstat(formatted(dataDir, 'dcase2025', 'Polisher/supplemental/any name.wav'))).isSymbolicLink());
  await t.throwsAsync(fs.access(formatted(dataDir, 'dcase2025', 'fan/supplemental')));
  t.false(r.counts.some((c) => (c.split as string) === 'supplemental'));
});
