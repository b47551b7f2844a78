import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';
import { codePointCompare, makeLabels, pyJsonDumps, writeLabels, type LabelPreset } from '../src/data/label.js';
import { done, skippedOf } from './helpers/outcome.js';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'labels');

async function golden(dcase: string, preset: LabelPreset): Promise<string> {
  return gunzipSync(await fs.readFile(path.join(FIXTURES, dcase, `${preset}.json.gz`))).toString('utf8');
}

async function tempDir(t: { teardown(fn: () => Promise<void>): void }): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-label-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

/** Empty files under `<dataDir>/formatted/`, one per relative dcase path. */
async function touchAll(dataDir: string, rels: string[]): Promise<void> {
  const dirs = new Set(rels.map((r) => path.dirname(path.join(dataDir, 'formatted', r))));
  for (const d of dirs) await fs.mkdir(d, { recursive: true });
  for (const r of rels) await fs.writeFile(path.join(dataDir, 'formatted', r), '');
}

for (const dcase of ['dcase2023', 'dcase2024'] as const) {
  test(`${dcase}: regenerated label files are byte-identical to ASDKit's`, async (t) => {
    const main = await golden(dcase, 'main');
    const keys = Object.keys((JSON.parse(main) as { path2idx_dict: Record<string, number> }).path2idx_dict);
    const dataDir = await tempDir(t);
    await touchAll(dataDir, keys);
    const outDir = path.join(dataDir, 'labels');
    for (const preset of ['main', 'machine_section'] as const) {
      const { file } = done(await writeLabels({ dataDir, dcase, preset, outDir }));
      t.is(file, path.join(outDir, dcase, `${preset}.json`));
      const got = await fs.readFile(file, 'utf8');
      const want = preset === 'main' ? main : await golden(dcase, preset);
      t.is(got.length, want.length, preset);
      t.true(got === want, `${preset}: content differs`);
    }
  });
}

test('2020 main labels are machine---section; 2021 test clips have an empty attribute', async (t) => {
  const dataDir = await tempDir(t);
  await touchAll(dataDir, [
    'dcase2020/raw/fan/train/section_00_source_train_normal_00000000.wav',
    'dcase2020/raw/fan/test/section_01_source_test_anomaly_00000001.wav',
    'dcase2020/raw/ToyCar/train/section_05_source_train_normal_00000000.wav',
  ]);
  const l20 = await makeLabels({ dataDir, dcase: 'dcase2020' });
  // Upper case sorts first: ToyCar---5 is class 0.
  t.deepEqual(l20, {
    num_class: 3, num_class_train: 2, num_class_test: 1,
    path2idx_dict: {
      'dcase2020/raw/ToyCar/train/section_05_source_train_normal_00000000.wav': 0,
      'dcase2020/raw/fan/test/section_01_source_test_anomaly_00000001.wav': 2,
      'dcase2020/raw/fan/train/section_00_source_train_normal_00000000.wav': 1,
    },
  });
  await touchAll(dataDir, [
    'dcase2021/raw/fan/train/section_03_target_train_normal_0000_strength_1_ambient.wav',
    'dcase2021/raw/fan/test/section_03_source_test_anomaly_0000.wav',
    'dcase2021/raw/fan/test/section_03_source_test_normal_0001.wav',
  ]);
  const l21 = await makeLabels({ dataDir, dcase: 'dcase2021' });
  t.deepEqual(Object.values(l21.path2idx_dict), [0, 0, 1]);
  t.is(l21.num_class, 2);
  const ms = await makeLabels({ dataDir, dcase: 'dcase2021', preset: 'machine_section' });
  t.is(ms.num_class, 1);
});

test('writeLabels refuses to overwrite unless asked; labels never open the audio', async (t) => {
  const dataDir = await tempDir(t);
  await touchAll(dataDir, ['dcase2023/raw/fan/train/section_00_source_train_normal_0000_a_1.wav']);
  // A dangling symlink stands for a clip that cannot be read: only its name matters.
  await fs.symlink('/nonexistent/x.wav', path.join(dataDir, 'formatted/dcase2023/raw/fan/train/section_00_target_train_normal_0001_a_2.wav'));
  const outDir = path.join(dataDir, 'labels');
  const first = done(await writeLabels({ dataDir, dcase: 'dcase2023', outDir }));
  t.is(first.labels.num_class, 2);
  t.is(skippedOf(await writeLabels({ dataDir, dcase: 'dcase2023', outDir })).existing, path.join(outDir, 'dcase2023', 'main.json'));
  done(await writeLabels({ dataDir, dcase: 'dcase2023', outDir, overwrite: true }));
  await t.throwsAsync(makeLabels({ dataDir, dcase: 'dcase2022' }), { message: /no formatted dataset/ });
});

test('pyJsonDumps matches Python json.dumps(indent=4) escaping', (t) => {
  t.is(pyJsonDumps({}), '{}');
  t.is(pyJsonDumps({ a: 1, b: { c: 2 } }), '{\n    "a": 1,\n    "b": {\n        "c": 2\n    }\n}');
  // json.dumps('é"\\\x7f\n😀') == '"\\u00e9\\"\\\\\\u007f\\n\\ud83d\\ude00"'
  t.is(pyJsonDumps('é"\\\x7f\n😀'), '"\\u00e9\\"\\\\\\u007f\\n\\ud83d\\ude00"');
  t.true(codePointCompare('\uffff', '😀') < 0); // UTF-16 order would say the opposite
  t.true(codePointCompare('Vacuum', 'bandsaw') < 0);
});
