/** Damaged checkpoints are refused at load, naming the file: a flipped bit (checksum) or impossible metadata. */
import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readSafetensors, writeSafetensors } from '../src/io/safetensors.js';
import { DIGEST_KEY } from '../src/train/checkpoint.js';
import { AeModel, loadModel } from '../src/train/model.js';

const info = { epoch: 3, globalStep: 40, loss: 0.5, train: {} };

async function saved(name: string): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-ckpt-'));
  const file = path.join(dir, name);
  const model = AeModel.create({ hDim: 16, zDim: 4, nMels: 16 }, 1);
  await model.save(file, info);
  model.dispose();
  return file;
}

test('a saved checkpoint carries a digest of its tensors and loads back', async (t) => {
  const file = await saved('ok.ckpt');
  const { metadata } = await readSafetensors(file);
  t.regex(metadata[DIGEST_KEY], /^[0-9a-f]{64}$/);
  const { model, info: back } = await loadModel(file);
  t.deepEqual(back, info);
  model.dispose();
});

test('one flipped bit in the tensor data is refused with the file name', async (t) => {
  const file = await saved('flipped.ckpt');
  const bytes = await fs.readFile(file);
  bytes[bytes.length - 3] ^= 0x10; // inside the last tensor's data
  await fs.writeFile(file, bytes);
  await t.throwsAsync(loadModel(file), { message: `${file}: the tensor data does not match the checkpoint's checksum (the file is damaged); retrain or restore it` });
});

test('impossible metadata is refused: a negative epoch, a missing step count', async (t) => {
  const file = await saved('meta.ckpt');
  const { tensors, metadata } = await readSafetensors(file);
  await writeSafetensors(file, tensors, { ...metadata, info: JSON.stringify({ ...info, epoch: -5 }) });
  await t.throwsAsync(loadModel(file), { message: new RegExp(`^${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: malformed checkpoint metadata \\(epoch -5 is not a count\\)`) });
  const { globalStep: _g, ...noStep } = info;
  await writeSafetensors(file, tensors, { ...metadata, info: JSON.stringify(noStep) });
  await t.throwsAsync(loadModel(file), { message: /globalStep undefined is not a count/ });
});
