/** The clip listing every step reads (macOS `._*` files passed over with one warning, a folder named like a clip an error), and the crop warning. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { listClips } from '../src/data/clips.js';
import { croppedClipsWarning, encodeWav16, wavFrames } from '../src/data/wav.js';

test('listClips skips hidden ._*.wav files with one warning per folder and refuses a directory named *.wav', async (t) => {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-clips-'));
  const dir = path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'train');
  await fs.mkdir(dir, { recursive: true });
  const clips = ['section_00_source_train_normal_0001_a.wav', 'section_00_source_train_normal_0000_b.wav'];
  for (const f of [...clips, ...clips.map((c) => `._${c}`), 'notes.txt']) await fs.writeFile(path.join(dir, f), 'RIFF');

  const r = await listClips(dataDir, 'dcase2023', 'fan', 'train');
  t.deepEqual(r.paths, [...clips].sort().map((c) => path.join(dir, c)));
  t.is(r.info.length, 2);
  t.is(r.warnings.length, 1, 'one warning for the folder');
  t.regex(r.warnings[0], new RegExp(`^${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: skipped 2 hidden file\\(s\\) \\(\\._section_00`));

  const odd = path.join(dir, 'section_00_source_train_normal_0002_c.wav');
  await fs.mkdir(odd);
  await t.throwsAsync(listClips(dataDir, 'dcase2023', 'fan', 'train'), { message: `${odd} is a directory, not a clip: move it out of ${dir}` });
});

test('clips longer than the crop length are reported once: count, the longest file and its length', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-crop-'));
  const lengths = { 'a.wav': 16000, 'b.wav': 48000, 'c.wav': 16000 * 600, 'd.wav': 8000 };
  for (const [f, n] of Object.entries(lengths)) await fs.writeFile(path.join(dir, f), encodeWav16(new Float32Array(n), 16000));
  const paths = Object.keys(lengths).map((f) => path.join(dir, f));
  for (const [f, n] of Object.entries(lengths)) t.is(await wavFrames(path.join(dir, f)), n, f);
  const w = await croppedClipsWarning(paths, 16000, 16000);
  t.is(w, `2 clip(s) longer than the clip length 1 s are cropped to it (longest: ${path.join(dir, 'c.wav')}, 600 s); set extract.sec to use more`);
  t.is(await croppedClipsWarning(paths, 16000 * 600, 16000), undefined, 'nothing is longer than 600 s');
  t.is(await croppedClipsWarning(paths, 0, 16000), undefined, 'whole clips (length 0) are never cropped');
});
