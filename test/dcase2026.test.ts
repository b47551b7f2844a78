/**
 * DCASE 2026 in the data layer: year table and clip lengths, the 17 archives (local HTTP server,
 * no network), the evaluation ground truth and the numbering traps, two-channel synthetic clips,
 * and synth --layout original → format → label (→ raw_spec, once two-channel decoding exists)
 * → the official score recomputed here.
 */
import test, { type ExecutionContext } from 'ava';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  CLIP_SECONDS, DCASE_YEARS, cropSamples, machineSeconds, machinesOf, officialSections, parseClipPath, resolveSec,
} from '../src/dcase/index.js';
import { archivesOf } from '../src/data/archives.js';
import { downloadDataset } from '../src/data/download.js';
import { checkCounts, expectedCounts, formatDataset, formattedName } from '../src/data/format.js';
import { loadGroundTruth } from '../src/data/ground-truth/index.js';
import { writeLabels } from '../src/data/label.js';
import { FAR_AMBIENT_DB, FAR_MACHINE_DB, planMachine, synthClip, synthesize } from '../src/data/synth/index.js';
import { decodeWavHeader } from '../src/data/wav.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { evaluateMachine } from '../src/metrics/evaluate.js';
import { tableJobs } from '../src/metrics/table.js';
import { submission, submissionStem } from '../src/steps/submission.js';
import { readCsvFile } from '../src/util/csv.js';
import { done } from './helpers/outcome.js';
import { makeZip } from './helpers/zip.js';
import { fingerprintFile } from '../src/run/fingerprint.js';

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-2026-'));
  t.teardown(() => fs.rm(dir, { recursive: true, force: true }));
  return dir;
}

// ---- year table ------------------------------------------------------------------------------

test('dcase2026: machine types, section 00, clip lengths', (t) => {
  t.true((DCASE_YEARS as readonly string[]).includes('dcase2026'));
  t.deepEqual(machinesOf('dcase2026', 'dev'), ['ToyCar', 'ToyCarEmu', 'bearingEmu', 'fan', 'gearboxEmu', 'sliderEmu', 'valveEmu']);
  t.deepEqual(machinesOf('dcase2026', 'eval'), ['BlowerDustCollector', 'Sander', 'SewingMachine', 'ToothBrush', 'ToyDrone']);
  t.deepEqual(officialSections('dcase2026', 'gearboxEmu', 'dev'), [0]);
  t.deepEqual(officialSections('dcase2026', 'gearboxEmu', 'eval'), []);
  t.deepEqual(officialSections('dcase2026', 'Sander', 'eval'), [0]);
  // `sec: dcase2026` is the year's longest clip (one eval machine is 16 s, which one is unknown).
  t.is(CLIP_SECONDS.dcase2026, 16);
  t.is(resolveSec('dcase2026'), 16);
  t.is(cropSamples(resolveSec('dcase2026')!), 256000);
  t.is(machineSeconds('dcase2026', 'ToyCar'), 12);
  t.is(machineSeconds('dcase2026', 'ToyCarEmu'), 12);
  t.is(machineSeconds('dcase2026', 'fan'), 10);
  t.is(machineSeconds('dcase2026', 'ToothBrush'), 6);
  for (const m of ['BlowerDustCollector', 'Sander', 'SewingMachine', 'ToyDrone']) t.is(machineSeconds('dcase2026', m), undefined, m);
  // Other years: no per-machine table, unchanged `sec`.
  t.is(machineSeconds('dcase2025', 'ToyCar'), undefined);
  t.is(resolveSec('dcase2025'), 12);
  t.is(submissionStem('dcase2026', 'ToothBrush', 0), 'ToothBrush_section_00_test');
});

// ---- archives and download -------------------------------------------------------------------

test('dcase2026: 17 archives in three Zenodo records; dev ToyCar from dev_ToyCar_r2.zip', (t) => {
  const a = archivesOf('dcase2026');
  t.is(a.length, 17);
  t.deepEqual(a.map((x) => x.url.split('/')[4]), [...Array(7).fill('19336329'), ...Array(5).fill('20151556'), ...Array(5).fill('20437238')]);
  t.true(a.every((x) => x.url.startsWith('https://zenodo.org/records/')));
  t.deepEqual(
    a.filter((x) => x.role === 'dev').map((x) => x.file),
    ['dev_ToyCar_r2.zip', 'dev_ToyCarEmu.zip', 'dev_bearingEmu.zip', 'dev_fan.zip', 'dev_gearboxEmu.zip', 'dev_sliderEmu.zip', 'dev_valveEmu.zip'],
  );
  t.deepEqual([...new Set(a.filter((x) => x.subset === 'eval').map((x) => x.machine))].sort(), [...machinesOf('dcase2026', 'eval')].sort());
  t.true(a.filter((x) => x.role === 'eval_train').every((x) => x.file === `eval_data_${x.machine}_train.zip`));
  t.true(a.filter((x) => x.role === 'eval_test').every((x) => x.file === `eval_data_${x.machine}_test.zip`));
  t.false(a.some((x) => x.file === 'dev_ToyCar.zip'), 'the replaced first ToyCar release is not used');
});


test('dcase2026: download fetches ToyCar r2 and the eval archives into <subset>_data/raw/<machine>', async (t) => {
  const wav = Buffer.from('RIFF-not-really');
  const zips: Record<string, Buffer> = {
    // dev_ToyCar_r2.zip unpacks to ToyCar/, as the organisers' loader reads raw/ToyCar.
    '/records/19336329/files/dev_ToyCar_r2.zip': makeZip([
      { name: 'ToyCar/' }, { name: 'ToyCar/train/' }, { name: 'ToyCar/test/' },
      { name: 'ToyCar/train/section_00_source_train_normal_0000_noAttribute.wav', data: wav },
      { name: 'ToyCar/test/section_00_target_test_anomaly_0199_noAttribute.wav', data: wav },
    ]),
    '/records/20151556/files/eval_data_ToothBrush_train.zip': makeZip([
      { name: 'ToothBrush/' }, { name: 'ToothBrush/train/' },
      { name: 'ToothBrush/train/section_00_source_train_normal_0000_noAttribute.wav', data: wav },
    ]),
    '/records/20437238/files/eval_data_ToothBrush_test.zip': makeZip([
      { name: 'ToothBrush/' }, { name: 'ToothBrush/test/' }, { name: 'ToothBrush/test/section_00_0000.wav', data: wav },
    ]),
  };
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const body = zips[req.url ?? ''];
    if (!body) res.writeHead(404).end();
    else res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  t.teardown(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));
  const dataDir = await tempDir(t);
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const plan = await downloadDataset({ dataDir, dcase: 'dcase2026', machines: ['ToyCar', 'ToothBrush'], baseUrl, dryRun: true });
  t.deepEqual(plan.archives.map((a) => a.url.slice(baseUrl.length)), Object.keys(zips));
  t.is(requests.length, 0);
  const r = await downloadDataset({ dataDir, dcase: 'dcase2026', machines: ['ToyCar', 'ToothBrush'], baseUrl, backoffMs: () => 0 });
  t.deepEqual(r.archives.map((a) => a.action), ['downloaded', 'downloaded', 'downloaded']);
  const root = path.join(dataDir, 'original', 'dcase2026');
  t.deepEqual(await fs.readFile(path.join(root, 'dev_data/raw/ToyCar/test/section_00_target_test_anomaly_0199_noAttribute.wav')), wav);
  t.deepEqual(await fs.readdir(path.join(root, 'eval_data/raw/ToothBrush/test')), ['section_00_0000.wav']);
  t.deepEqual((await fs.readdir(path.join(root, 'eval_data/raw/ToothBrush'))).sort(), ['test', 'train']);
});

// ---- ground truth and numbering traps --------------------------------------------------------

test('dcase2026 ground truth: 200 clips per eval machine, 50 per domain × label, unified names', async (t) => {
  const gt = await loadGroundTruth('dcase2026');
  t.deepEqual([...gt.keys()].sort(), [...machinesOf('dcase2026', 'eval')].sort());
  for (const [machine, list] of gt) {
    t.is(list.size, 200, machine);
    t.deepEqual([...list.keys()], Array.from({ length: 200 }, (_, i) => `section_00_${String(i).padStart(4, '0')}.wav`), machine);
    const cells = new Map<string, number>();
    for (const anon of list.keys()) {
      const name = formattedName('dcase2026', machine, 'eval', 'test', anon, gt);
      t.regex(name, /^section_00_(source|target)_test_(normal|anomaly)_\d{4}(_[A-Za-z0-9_]+)?\.wav$/);
      const info = parseClipPath(`${machine}/test/${name}`);
      const cell = `${info.isTarget ? 'target' : 'source'} ${info.isNormal ? 'normal' : 'anomaly'}`;
      cells.set(cell, (cells.get(cell) ?? 0) + 1);
    }
    t.deepEqual([...cells.values()], [50, 50, 50, 50], machine);
  }
  // ToothBrush's attribute file is missing upstream: its names carry no attribute (README).
  t.true([...gt.get('ToothBrush')!.values()].every((n) => /^section_00_(source|target)_test_(normal|anomaly)_\d{4}\.wav$/.test(n)));
  // SewingMachine's hidden attributes come with the ground truth: towel = source, cloth = target.
  t.is(gt.get('SewingMachine')!.get('section_00_0004.wav'), 'section_00_target_test_normal_0004_mat_cloth_lay_1_mode_A_spd_3.wav');
  t.is(gt.get('ToyDrone')!.get('section_00_0000.wav'), 'section_00_source_test_anomaly_0003_car_A2_spd_1_mic_2_mic_1.wav');
  // Counts the strict check expects: 2026 eval test cells from the list, train 990/10, dev test 50.
  const exp = expectedCounts('dcase2026', gt);
  t.is(exp.filter((r) => r.subset === 'eval' && r.split === 'test').reduce((s, r) => s + r.count, 0), 1000);
  t.is(exp.filter((r) => r.split === 'train').reduce((s, r) => s + r.count, 0), 12 * 1000);
});

test('dcase2026 numbering traps: never infer the cell from the index', async (t) => {
  const gt = await loadGroundTruth('dcase2026');
  const ids = (machine: string) => {
    const cells = new Map<string, number[]>();
    for (const name of gt.get(machine)!.values()) {
      const p = name.split('_');
      const key = `${p[2]} ${p[4]}`;
      cells.set(key, [...(cells.get(key) ?? []), Number(p[5])]);
    }
    return cells;
  };
  // ToyDrone numbers each cell 0001–0050 …
  for (const [cell, v] of ids('ToyDrone')) t.deepEqual(v.sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i + 1), cell);
  // … BlowerDustCollector, Sander, SewingMachine reuse the anonymous index (0000–0199 over all cells).
  for (const m of ['BlowerDustCollector', 'Sander', 'SewingMachine']) {
    for (const [anon, name] of gt.get(m)!) t.is(name.split('_')[5], anon.split('_')[2].slice(0, 4), `${m} ${anon}`);
  }
  // Dev ToyCar/ToyCarEmu run one index 0000–0199 over the four cells; others restart per cell.
  const counts = { train: { source: 2, target: 1 }, test: 3 };
  const toyCar = planMachine('dcase2026', 'ToyCar', counts).filter((c) => c.split === 'test').map((c) => c.name);
  t.deepEqual(toyCar.map((n) => n.split('_')[5]), ['0000', '0001', '0002', '0003', '0004', '0005', '0006', '0007', '0008', '0009', '0010', '0011']);
  t.true(toyCar.every((n) => n.endsWith('_noAttribute.wav')));
  const fan = planMachine('dcase2026', 'fan', counts).filter((c) => c.split === 'test').map((c) => c.name.split('_')[5]);
  t.deepEqual(fan, ['0000', '0001', '0002', '0000', '0001', '0002', '0000', '0001', '0002', '0000', '0001', '0002']);
});

// ---- two-channel synthetic clips -------------------------------------------------------------

/** Log energies in `bands` bands (Goertzel at band centres, 512-sample frames) of one channel. */
function bandFeature(x: Float32Array, channels: number, ch: number, bands = 24): number[] {
  const n = Math.floor(x.length / channels);
  const frame = 512;
  const out = new Array<number>(bands).fill(0);
  for (let b = 0; b < bands; b++) {
    const k = Math.round(((b + 0.5) / bands) * (frame / 2) * 0.9);
    const w = (2 * Math.PI * k) / frame;
    const cw = 2 * Math.cos(w);
    let e = 0;
    for (let s = 0; s + frame <= n; s += frame) {
      let s1 = 0;
      let s2 = 0;
      for (let i = 0; i < frame; i++) {
        const s0 = x[(s + i) * channels + ch] + cw * s1 - s2;
        s2 = s1;
        s1 = s0;
      }
      e += s1 * s1 + s2 * s2 - cw * s1 * s2;
    }
    out[b] = Math.log(e + 1e-12);
  }
  return out;
}

function aucOf(normal: number[], anomalous: number[]): number {
  let s = 0;
  for (const a of anomalous) for (const b of normal) s += a > b ? 1 : a === b ? 0.5 : 0;
  return s / (normal.length * anomalous.length);
}

test('dcase2026 synth: two-channel clips, channel 0 near, the far channel is worth less', (t) => {
  // Far: the machine −12 dB under +6 dB (own) ambient noise; near as the mono clips of other years.
  t.deepEqual([FAR_MACHINE_DB, FAR_AMBIENT_DB], [-12, 6]);
  const o = { seed: 1, seconds: 0.5, anomalyStrength: 0.5 };
  const aucs: Record<'near' | 'far', number[]> = { near: [], far: [] };
  for (const machine of ['fan', 'ToyCar', 'valveEmu']) {
    const clips = planMachine('dcase2026', machine, { train: { source: 20, target: 0 }, test: 20 });
    const render = clips.map((c) => ({ c, ...synthClip('dcase2026', machine, c, o) }));
    t.true(render.every((r) => r.channels === 2 && r.samples.length === 2 * 8000));
    // A simple detector: z-scored distance of band log-energies from the normal training clips.
    for (const [ch, key] of [[0, 'near'], [1, 'far']] as const) {
      const train = render.filter((r) => r.c.split === 'train').map((r) => bandFeature(r.samples, 2, ch));
      const mean = train[0].map((_, j) => train.reduce((s, f) => s + f[j], 0) / train.length);
      const sd = train[0].map((_, j) => Math.sqrt(train.reduce((s, f) => s + (f[j] - mean[j]) ** 2, 0) / train.length) + 1e-6);
      const score = (f: number[]) => Math.hypot(...f.map((v, j) => (v - mean[j]) / sd[j]));
      for (const domain of ['source', 'target']) {
        const test = render.filter((r) => r.c.split === 'test' && r.c.domain === domain);
        const sc = (label: string) => test.filter((r) => r.c.label === label).map((r) => score(bandFeature(r.samples, 2, ch)));
        aucs[key].push(aucOf(sc('normal'), sc('anomaly')));
      }
    }
  }
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  t.log(`mean AUC over 3 machines × 2 domains: near ${mean(aucs.near).toFixed(3)}, far ${mean(aucs.far).toFixed(3)}`);
  t.true(mean(aucs.near) > mean(aucs.far) + 0.05);
});

test('dcase2026 synth: per-machine clip lengths, 16-bit stereo WAVs; other years stay mono', async (t) => {
  const dataDir = await tempDir(t);
  const one = { source: 1, target: 1 };
  await synthesize({ dataDir, dcase: 'dcase2026', size: 'small', machines: ['ToothBrush', 'ToyCar', 'Sander'], trainPerSection: one, testPerSection: 1 });
  const want: Record<string, number> = { ToothBrush: 6, ToyCar: 12, Sander: 10 }; // Sander: length unknown → 10 s
  for (const [machine, sec] of Object.entries(want)) {
    const dir = path.join(dataDir, 'formatted/dcase2026/raw', machine, 'train');
    const file = (await fs.readdir(dir))[0];
    const h = decodeWavHeader(await fs.readFile(path.join(dir, file)));
    t.deepEqual([h.channels, h.sampleRate, h.bitsPerSample, h.frames], [2, 16000, 16, sec * 16000], machine);
  }
  const mono = await tempDir(t);
  await synthesize({ dataDir: mono, dcase: 'dcase2025', machines: ['fan'], trainPerSection: one, testPerSection: 1 });
  const dir = path.join(mono, 'formatted/dcase2025/raw/fan/train');
  const h = decodeWavHeader(await fs.readFile(path.join(dir, (await fs.readdir(dir))[0])));
  t.deepEqual([h.channels, h.frames], [1, 32000]);
});

// ---- synth --layout original → format → label (→ raw_spec) -----------------------------------

/** Synthesizes the 2026 original tree, formats and labels it; checks the real evaluation names. */
async function prepare2026(t: ExecutionContext, machines: string[]): Promise<{ root: string; dataDir: string }> {
  const root = await tempDir(t);
  const dataDir = path.join(root, 'data');
  const common = { dataDir, dcase: 'dcase2026' as const, layout: 'original' as const, seed: 1 };
  await synthesize({ ...common, machines, seconds: 0.25, trainPerSection: { source: 6, target: 2 }, testPerSection: 3 });
  await synthesize({ ...common, seconds: 0.01, trainPerSection: { source: 1, target: 1 }, testPerSection: 1 });
  const formatted = await formatDataset({ dataDir, dcase: 'dcase2026' });
  t.deepEqual(await checkCounts('dcase2026', formatted.counts), []);
  const gt = await loadGroundTruth('dcase2026');
  for (const machine of machinesOf('dcase2026', 'eval')) {
    const dir = path.join(dataDir, 'formatted/dcase2026/raw', machine, 'test');
    const names = await fs.readdir(dir);
    t.true(names.length > 0, machine);
    for (const name of names) {
      const orig = path.basename(await fs.readlink(path.join(dir, name)));
      t.regex(orig, /^section_00_\d{4}\.wav$/, `${machine}: anonymous original name`);
      t.is(gt.get(machine)!.get(orig), name, `${machine}: formatted name from the 2026 list`);
    }
  }
  // Dev ToyCar's running test index formats like any other name.
  const toyCarTest = await fs.readdir(path.join(dataDir, 'formatted/dcase2026/raw/ToyCar/test'));
  t.true(toyCarTest.includes('section_00_target_test_anomaly_0011_noAttribute.wav') || !machines.includes('ToyCar'));
  const { labels } = done(await writeLabels({ dataDir, dcase: 'dcase2026', outDir: path.join(root, 'labels') }));
  t.is(Object.keys(labels.path2idx_dict).length, formatted.counts.reduce((s, r) => s + r.count, 0));
  return { root, dataDir };
}

test('dcase2026: synth --layout original → format → label with the real evaluation names', async (t) => {
  await prepare2026(t, ['ToothBrush', 'ToyCar']);
});

/**
 * True when a run failed only because the native extraction path still reads mono WAVs only
 * ("<file>: 2 channels, expected mono", and the table step missing what extract did not write).
 * Two-channel decoding is a separate change; until it lands the raw_spec test stops there.
 */
/** The one row (one backend ran) of a CSV file, as column → cell. */
async function onlyRow(file: string): Promise<Map<string, string>> {
  const tb = await readCsvFile(file, 'test');
  if (tb.rows.length !== 1) throw new Error(`${file}: ${tb.rows.length} rows, expected 1`);
  return new Map(tb.columns.map((c, i) => [c, tb.rows[0][i]]));
}

// The 2026 evaluator scores as 2024's: per machine the source- and target-mixed AUCs and the pAUC
// over all clips; the official score is the harmonic mean of all of them.
test('dcase2026: raw_spec on two-channel clips → table with the evaluation names → official26; submission wants 200 names', async (t) => {
  const machines = ['ToothBrush', 'ToyCar'];
  const { root, dataDir } = await prepare2026(t, machines);
  const config = resolveRunConfig('raw_spec', {
    dcase: 'dcase2026', data_dir: dataDir, result_dir: path.join(root, 'results'), machines, visualize: { enabled: false },
    score: { backend: [KNN_PLAIN] },
  });
  const r = await runRecipe(config);
  t.deepEqual(r.failed, []);
  // Extraction tiles/crops each machine to its own clip length (ToothBrush 6 s, ToyCar 12 s), not the year's 16 s.
  for (const [m, sec] of [['ToothBrush', 6], ['ToyCar', 12]] as const) {
    const fp = JSON.parse(await fs.readFile(fingerprintFile(path.join(r.outputDir, m), 'extract'), 'utf8')) as { settings: { length: number } };
    t.is(fp.settings.length, sec * 16000, `${m} clip length`);
  }
  const gt = await loadGroundTruth('dcase2026');
  // The score table of an eval machine lists the formatted real evaluation names.
  const scores = await readCsvFile(path.join(r.outputDir, 'ToothBrush', 'test_score.csv'), 'test');
  const names = scores.rows.map((row) => path.basename(row[scores.columns.indexOf('path')]));
  const listed = new Set(gt.get('ToothBrush')!.values());
  t.true(names.length === 12 && names.every((n) => listed.has(n)), names.join(' '));
  for (const split of ['dev', 'eval'] as const) {
    const table = await onlyRow(path.join(r.outputDir, `${split}_official26.csv`));
    const ms = machinesOf('dcase2026', split).filter((m) => machines.includes(m));
    t.deepEqual([...table.keys()], ['backend', ...ms, 'total'], `${split}_official26 columns`);
    const reciprocals: number[] = [];
    for (const m of ms) {
      const ev = await onlyRow(path.join(r.outputDir, m, 'test_evaluate.csv'));
      const subs = ['0_smix_auc', '0_tmix_auc', '0_mix_pauc'].map((c) => Number(ev.get(c)));
      t.true(subs.every((v) => v > 0 && v <= 1), `${m}: ${subs.join(', ')}`);
      const own = subs.length / subs.reduce((s, v) => s + 1 / v, 0);
      t.true(Math.abs(Number(ev.get('0_official26')) - own) < 1e-12, `${m} 0_official26`);
      t.true(Math.abs(Number(table.get(m)) - own) < 1e-12, `${split}_official26 ${m}`);
      reciprocals.push(...subs.map((v) => 1 / v));
    }
    const score = reciprocals.length / reciprocals.reduce((s, v) => s + v, 0);
    t.true(Math.abs(Number(table.get('total')) - score) < 1e-12, `${split} official26 ${table.get('total')} vs ${score}`);
  }
  // A real submission needs all 200 evaluation names of a machine; the synthetic set has 12.
  await t.throwsAsync(submission({ config, out: path.join(root, 'sub'), machines: ['ToothBrush'] }), { message: /12 of the 200 evaluation clips of ToothBrush section 00/ });
  const sub = await submission({ config, out: path.join(root, 'sub'), machines: ['ToothBrush'], partial: true });
  t.is(path.basename(sub[0].scores), 'anomaly_score_ToothBrush_section_00_test.csv');
  const rows = (await fs.readFile(sub[0].scores, 'utf8')).trim().split('\n');
  t.true(rows.every((l) => /^section_00_\d{4}\.wav,/.test(l)), 'anonymous evaluation names');
});

// ---- official26, recomputed independently ----------------------------------------------------

/** ROC-AUC over distinct scores (anomalous = positive). */
function rocAuc(neg: number[], pos: number[]): number {
  return aucOf(neg, pos);
}

/** sklearn's roc_auc_score(max_fpr=0.1) for distinct scores: McClish-standardised partial AUC. */
function mcClishPauc(neg: number[], pos: number[], maxFpr = 0.1): number {
  const pts = [...neg.map((s) => ({ s, y: 0 })), ...pos.map((s) => ({ s, y: 1 }))].sort((a, b) => b.s - a.s);
  let tp = 0;
  let fp = 0;
  let area = 0;
  let prev = { fpr: 0, tpr: 0 };
  for (const p of pts) {
    if (p.y) tp++;
    else fp++;
    const cur = { fpr: fp / neg.length, tpr: tp / pos.length };
    if (cur.fpr > maxFpr) {
      const tprAt = prev.tpr + ((cur.tpr - prev.tpr) * (maxFpr - prev.fpr)) / (cur.fpr - prev.fpr);
      area += ((maxFpr - prev.fpr) * (prev.tpr + tprAt)) / 2;
      prev = { fpr: maxFpr, tpr: tprAt };
      break;
    }
    area += ((cur.fpr - prev.fpr) * (prev.tpr + cur.tpr)) / 2;
    prev = cur;
  }
  const minArea = (maxFpr * maxFpr) / 2;
  return 0.5 * (1 + (area - minArea) / (maxFpr - minArea));
}

test('official26: hmean of source-mixed AUC, target-mixed AUC and pAUC over all 200 clips', (t) => {
  const reciprocals: number[] = [];
  for (const [k, machine] of ['ToothBrush', 'Sander'].entries()) {
    // 200 clips, 50 per domain × label, distinct scores with some separation.
    const isTarget: number[] = [];
    const isNormal: number[] = [];
    const values: number[] = [];
    for (let i = 0; i < 200; i++) {
      const target = i % 2;
      const normal = Math.floor(i / 2) % 2 ? 0 : 1;
      isTarget.push(target);
      isNormal.push(normal);
      values.push(Math.sin(i * 12.9898 + k) * 0.5 + (normal ? 0 : 0.4 - 0.2 * target) + i * 1e-6);
    }
    const r = evaluateMachine({ dcase: 'dcase2026', machine, section: new Array(200).fill(0), isNormal, isTarget, scores: [{ backend: 'AS-x', values }] });
    const col = (name: string) => r.rows[0].values[r.columns.indexOf(name) - 1]; // columns start with 'backend'
    const sel = (f: (i: number) => boolean) => values.filter((_, i) => f(i));
    const anomalies = sel((i) => !isNormal[i]);
    const sAuc = rocAuc(sel((i) => isNormal[i] === 1 && !isTarget[i]), anomalies);
    const tAuc = rocAuc(sel((i) => isNormal[i] === 1 && isTarget[i] === 1), anomalies);
    const pauc = mcClishPauc(sel((i) => isNormal[i] === 1), anomalies);
    t.true(Math.abs(col('0_smix_auc') - sAuc) < 1e-12, `${machine} smix ${col('0_smix_auc')} vs ${sAuc}`);
    t.true(Math.abs(col('0_tmix_auc') - tAuc) < 1e-12, `${machine} tmix`);
    t.true(Math.abs(col('0_mix_pauc') - pauc) < 1e-9, `${machine} pauc ${col('0_mix_pauc')} vs ${pauc}`);
    const own = 3 / (1 / sAuc + 1 / tAuc + 1 / pauc);
    t.true(Math.abs(col('0_official26') - own) < 1e-9, `${machine} 0_official26`);
    t.false(r.columns.includes('eval_official26'), 'one section per machine: no split totals (as 2023–2025)');
    reciprocals.push(1 / sAuc, 1 / tAuc, 1 / pauc);
  }
  // Over machine types: the harmonic mean of all 3·M values (= of the per-machine harmonic means).
  t.true(reciprocals.length === 6 && Number.isFinite(6 / reciprocals.reduce((a, b) => a + b, 0)));
  const columns = (dcase: 'dcase2025' | 'dcase2026') => tableJobs(dcase, ['official', 's_auc']).jobs.map((j) => j.column);
  t.deepEqual(columns('dcase2026'), columns('dcase2025').map((c) => c.replace('official25', 'official26')));
});
