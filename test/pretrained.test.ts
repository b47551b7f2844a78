import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { synthesize } from '../src/data/synth/index.js';
import { readNpz, type NpyArray } from '../src/io/npz.js';
import { readSafetensors } from '../src/io/safetensors.js';
import { native, type TensorDict } from '../src/native/index.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { loadModel, PretrainedModel } from '../src/train/model.js';
import { resolveExtractor } from '../src/steps/extractor.js';
import { modelConfigOf } from '../src/steps/from-config.js';
import { smallBeatsCheckpoint } from './helpers/beats-small.js';
import { fairseqEatRoot, ordered, tensor, torchSave } from './helpers/torch-pickle-writer.js';

// Parity with ASDKit's BEATs / EAT code (spec pretrained §9): the vectors were computed by the
// original in float32 on the CPU; tolerance 1e-4 absolute (an op-for-op port reaches ~2e-6).
const TOL = 1e-4;
const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-pretrained-'));

async function vectors(name: string): Promise<{ json: { preset: Record<string, unknown> }; z: Map<string, NpyArray> }> {
  const json = JSON.parse(await fs.readFile(path.join(fixtures, `${name}.json`), 'utf8'));
  return { json, z: await readNpz(path.join(fixtures, `${name}.npz`)) };
}

const f32 = (a: NpyArray) => ({ data: a.data as Float32Array, shape: a.shape });

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity;
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** The arrays under `prefix`, renamed by `rename` (undefined drops one). */
function stateFrom(z: Map<string, NpyArray>, prefix: string, rename: (k: string) => string | undefined = (k) => k): TensorDict {
  const out: TensorDict = {};
  for (const [k, a] of z) {
    if (!k.startsWith(prefix)) continue;
    const name = rename(k.slice(prefix.length));
    if (name !== undefined) out[name] = f32(a);
  }
  return out;
}

/** peft's names → ours: `model.base_model.model.<path>.lora_A.default.weight` → `extractor.model.<path>.lora_A`. */
const loraName = (k: string) =>
  k.startsWith('model.base_model.model.')
    ? `extractor.model.${k.slice('model.base_model.model.'.length).replace(/\.(lora_[AB])\.default\.weight$/, '.$1')}`
    : k.startsWith('projection_net.')
      ? `extractor.${k}`
      : undefined;

async function writeFile(name: string, bytes: Uint8Array): Promise<string> {
  const file = path.join(await tmp, name);
  await fs.writeFile(file, bytes);
  return file;
}

test('BEATs through the official-layout checkpoint reader reproduces ASDKit (frozen embedding, LoRA + attn_stat_pool)', async (t) => {
  const { json, z } = await vectors('beats_small');
  const wave = f32(z.get('in.wave')!);
  const frozen = await PretrainedModel.create({ encoder: 'beats', checkpoint: path.join(fixtures, 'beats_small_ckpt.pt'), secSamples: 16000 });
  const raw = await frozen.embed(wave);
  const dRaw = maxAbsDiff(raw.data, z.get('out.embed_mean')!.data as Float32Array);
  t.log(`raw embedding (token mean) max |Δ| = ${dRaw.toExponential(2)}`);
  t.true(dRaw <= TOL);
  t.is(frozen.counts().trainable, 0);
  if (native().info().cpuBf16) {
    // bf16 autocast on this CPU: the embedding stays float32 and close to the fp32 one (8-bit mantissa).
    const bf = await frozen.embed(wave, { precision: 'bf16' });
    t.true(maxAbsDiff(bf.data, raw.data) <= 0.05 * Math.max(...Array.from(raw.data, Math.abs)));
  } else {
    await t.throwsAsync(frozen.embed(wave, { precision: 'bf16' }), { message: /bf16 on the CPU needs/ });
  }
  t.is(frozen.counts().embedSize, 64);

  // LoRA r 4 (scaling 8/4 = 2, the vectors' setting), attentive statistics pooling → 16.
  t.is(json.preset.embed_size, 16);
  const handle = native().createPretrainedModel({
    encoder: 'beats',
    encoderConfig: json.preset.beats_cfg as Record<string, number | boolean | string>,
    secSamples: 16000,
    loraRank: 4,
    loraAlpha: 8,
    projection: 'attn_stat_pool',
    embedSize: 16,
    numClasses: 3,
    head: { type: 'scadacos', trainable: true },
  });
  handle.loadEncoder(stateFrom(z, 'sd.'));
  handle.loadState(stateFrom(z, 'lora.', loraName), null, { partial: true });
  const out = await handle.embed(wave, {}).promise;
  const dLora = maxAbsDiff(out.embed.data, z.get('lora.out.embed')!.data as Float32Array);
  t.log(`LoRA + attn_stat_pool embedding max |Δ| = ${dLora.toExponential(2)}`);
  t.true(dLora <= TOL);
  // Only adapters, projection and centres train (peft's rule, §4.2).
  const trainable = Object.keys(handle.stateDict({ trainableOnly: true }));
  t.true(trainable.length > 0);
  t.deepEqual(trainable.filter((k) => !/lora_[AB]$|^extractor\.projection_net\.|^head_dict\.main\.W$/.test(k)), []);
});

test('EAT from a fairseq-layout file reproduces ASDKit (CLS embedding, LoRA on qkv + linear projection)', async (t) => {
  const { json, z } = await vectors('eat_small');
  const sd = [...z].filter(([k]) => k.startsWith('sd.')).map(([k, a]): [string, ReturnType<typeof tensor>] => [k.slice(3), tensor(a.data as Float32Array, a.shape)]);
  const file = await writeFile('eat_small.pt', torchSave(fairseqEatRoot(sd)));
  const wave = f32(z.get('in.wave')!);
  const frozen = await PretrainedModel.create({ encoder: 'eat', checkpoint: file, secSamples: 16000 });
  const dCls = maxAbsDiff((await frozen.embed(wave)).data, z.get('out.cls')!.data as Float32Array);
  t.log(`raw embedding (CLS) max |Δ| = ${dCls.toExponential(2)}`);
  t.true(dCls <= TOL);

  const lora = await PretrainedModel.create({
    encoder: 'eat',
    checkpoint: file,
    secSamples: 16000,
    loraRank: 4,
    loraAlpha: 8,
    projection: 'linear',
    embedSize: json.preset.embed_size as number,
    numClasses: 3,
    head: { type: 'scadacos', trainable: true },
  });
  lora.loadState(
    Object.fromEntries(Object.entries(stateFrom(z, 'lora.', loraName)).map(([k, v]) => [k, { dtype: 'F32' as const, ...v }])),
    { epoch: 0, globalStep: 0, loss: 0, train: {} },
    false,
  );
  const dLora = maxAbsDiff((await lora.embed(wave)).data, z.get('lora.out.embed')!.data as Float32Array);
  t.log(`LoRA + linear embedding max |Δ| = ${dLora.toExponential(2)}`);
  t.true(dLora <= TOL);
  for (const m of [frozen, lora]) m.dispose();
  await t.throwsAsync(frozen.embed(wave), { message: /has been disposed/ });
});

/** y = x Wᵀ + b for x (B, D), W (O, D) row-major. */
function linear(x: Float32Array, B: number, W: Float32Array, b: Float32Array): Float32Array {
  const O = b.length, D = W.length / O;
  const y = new Float32Array(B * O);
  for (let i = 0; i < B; i++) for (let o = 0; o < O; o++) {
    let acc = b[o];
    for (let k = 0; k < D; k++) acc += x[i * D + k] * W[o * D + k];
    y[i * O + o] = acc;
  }
  return y;
}

test('EAT predictionMode seq: the raw embedding is the sequence mean, and the LoRA projection takes the sequence tokens', async (t) => {
  const { z } = await vectors('eat_small');
  const sd = [...z].filter(([k]) => k.startsWith('sd.')).map(([k, a]): [string, ReturnType<typeof tensor>] => [k.slice(3), tensor(a.data as Float32Array, a.shape)]);
  const file = await writeFile('eat_small_seq.pt', torchSave(fairseqEatRoot(sd)));
  const wave = f32(z.get('in.wave')!);
  const seqMean = z.get('out.seq_mean')!.data as Float32Array;

  const frozen = await PretrainedModel.create({ encoder: 'eat', checkpoint: file, secSamples: 16000, predictionMode: 'seq' });
  const raw = (await frozen.embed(wave)).data;
  const dSeq = maxAbsDiff(raw, seqMean);
  t.log(`raw embedding (seq mean) max |Δ| = ${dSeq.toExponential(2)}`);
  t.true(dSeq <= TOL);
  t.true(maxAbsDiff(raw, z.get('out.cls')!.data as Float32Array) > 1e-2, 'not the CLS token');

  // No LoRA+seq vectors exist: with fresh adapters (B = 0) the encoder is unchanged, so the linear
  // projection must map exactly the vectors' seq mean.
  const W = z.get('lora.projection_net.weight')!.data as Float32Array;
  const b = z.get('lora.projection_net.bias')!.data as Float32Array;
  const common = { encoder: 'eat' as const, checkpoint: file, secSamples: 16000, loraRank: 4, loraAlpha: 8, embedSize: 16, numClasses: 3, head: { type: 'scadacos' as const, trainable: true } };
  const lora = await PretrainedModel.create({ ...common, projection: 'linear', predictionMode: 'seq' });
  lora.loadState(
    { 'extractor.projection_net.weight': { dtype: 'F32', data: W, shape: [16, 64] }, 'extractor.projection_net.bias': { dtype: 'F32', data: b, shape: [16] } },
    { epoch: 0, globalStep: 0, loss: 0, train: {} },
    false,
  );
  const embed = await lora.embed(wave);
  t.deepEqual(embed.shape, [2, 16]);
  const dProj = maxAbsDiff(embed.data, linear(seqMean, 2, W, b));
  t.log(`LoRA + seq + linear vs linear(out.seq_mean) max |Δ| = ${dProj.toExponential(2)}`);
  t.true(dProj <= TOL);

  // attn_stat_pool pools the sequence tokens; on the CLS token (the default mode) it is refused.
  const pooled = await PretrainedModel.create({ ...common, projection: 'attn_stat_pool', predictionMode: 'seq' });
  t.deepEqual((await pooled.embed(wave)).shape, [2, 16]);
  for (const predictionMode of ['cls', undefined] as const) {
    await t.throwsAsync(PretrainedModel.create({ ...common, projection: 'attn_stat_pool', predictionMode }), {
      instanceOf: RangeError,
      message: /attn_stat_pool.*predictionMode "seq"/,
    });
  }
  await t.throwsAsync(PretrainedModel.create({ ...common, predictionMode: 'mean' as never }), { instanceOf: RangeError, message: /predictionMode/ });
  await t.throwsAsync(PretrainedModel.create({ encoder: 'beats', checkpoint: path.join(fixtures, 'beats_small_ckpt.pt'), secSamples: 16000, predictionMode: 'seq' }), {
    instanceOf: RangeError,
    message: /EAT setting/,
  });
  for (const m of [frozen, lora, pooled]) m.dispose();
});

test('prediction_mode from a run config reaches the encoder: raw_eat seq embeds the sequence mean; BEATs refuses it', async (t) => {
  const { z } = await vectors('eat_small');
  const sd = [...z].filter(([k]) => k.startsWith('sd.')).map(([k, a]): [string, ReturnType<typeof tensor>] => [k.slice(3), tensor(a.data as Float32Array, a.shape)]);
  const file = await writeFile('eat_small_cfg.pt', torchSave(fairseqEatRoot(sd)));
  const c = resolveRunConfig('raw_eat', { dcase: 'dcase2023' }, [`extract.frontend.checkpoint=${file}`, 'extract.sec=1', 'extract.frontend.prediction_mode=seq']);
  const ex = await resolveExtractor(c);
  const d = maxAbsDiff((await ex.model!.embed(f32(z.get('in.wave')!))).data, z.get('out.seq_mean')!.data as Float32Array);
  t.log(`raw_eat prediction_mode=seq vs out.seq_mean max |Δ| = ${d.toExponential(2)}`);
  t.true(d <= TOL);
  ex.model!.dispose();
  const lora = resolveRunConfig('dis_eat_scac_trainable', { dcase: 'dcase2023' }, ['model.extractor.prediction_mode=seq', 'model.extractor.projection=attn_stat_pool']);
  t.like(modelConfigOf(lora.model!), { predictionMode: 'seq', projection: 'attn_stat_pool' });
  const beats = resolveRunConfig('raw_beats', { dcase: 'dcase2023' }, [`extract.frontend.checkpoint=${path.join(fixtures, 'beats_small_ckpt.pt')}`, 'extract.frontend.prediction_mode=seq']);
  await t.throwsAsync(resolveExtractor(beats), { message: /prediction_mode is an EAT setting/ });
});

test('a missing official checkpoint names the file and where to download it', async (t) => {
  const err = await t.throwsAsync(PretrainedModel.create({ encoder: 'beats', checkpoint: 'no/such/BEATs_iter3.pt', secSamples: 16000 }));
  t.regex(err!.message, /pretrained checkpoint not found: .*BEATs_iter3\.pt/);
  t.regex(err!.message, /onedrive|pretrained_models\/beats/i);
});

// --- End to end on a tiny synthetic set, with a small random BEATs in the official layout.

const dataset = (async () => {
  const dataDir = path.join(await tmp, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 0, seconds: 2, machines: ['fan', 'ToyCar'] });
  return dataDir;
})();

test.serial('raw_beats and a 1-epoch dis_beats_scac_trainable run end to end; checkpoints hold trainable tensors only', async (t) => {
  const dataDir = await dataset;
  const ckpt = await smallBeatsCheckpoint(await tmp);
  const resultDir = path.join(await tmp, 'results');
  const common = { dcase: 'dcase2023', data_dir: dataDir, result_dir: resultDir, machines: ['fan', 'ToyCar'] };

  const raw = await runRecipe(resolveRunConfig('raw_beats', common, [`extract.frontend.checkpoint=${ckpt}`, 'extract.sec=1', 'visualize.enabled=false']));
  t.deepEqual(raw.failed, []);
  const rawNpz = await readNpz(path.join(raw.outputDir, 'fan', 'test_extract.npz'));
  t.is(rawNpz.get('embed')!.shape[1], 64);

  const overrides = [
    `model.extractor.checkpoint=${ckpt}`,
    'model.extractor.lora_r=4',
    'model.extractor.embed_size=16',
    'trainer.max_epochs=1',
    'trainer.warmup_steps=2',
    'trainer.cosine_steps=3',
    'datamodule.batch_size=8',
    'datamodule.sec=1',
    `datamodule.label_dir=${path.join(await tmp, 'labels')}`,
    'visualize.enabled=false',
  ];
  const dis = await runRecipe(resolveRunConfig('dis_beats_scac_trainable', common, overrides));
  t.deepEqual(dis.failed, []);
  const npz = await readNpz(path.join(dis.outputDir, 'ToyCar', 'test_extract.npz'));
  t.is(npz.get('embed')!.shape[1], 16);
  const last = path.join(resultDir, 'recipe', 'dcase2023', 'dis_beats_scac_trainable', '0', 'model', 'all', 'checkpoints', 'last.ckpt');
  const { tensors } = await readSafetensors(last);
  const weights = Object.keys(tensors).filter((k) => !k.startsWith('optimizer.'));
  // 2 layers × (q, v) × (A, B) + the projection's parameters + the SCAdaCos centres; no encoder weights, no BN statistics (ASDKit's save_only_trainable).
  t.is(weights.filter((k) => /lora_[AB]$/.test(k)).length, 8);
  t.deepEqual(weights.filter((k) => !/lora_[AB]$|^extractor\.projection_net\.|^head_dict\.main\.W$/.test(k)), []);
  t.false(weights.some((k) => /running_(mean|var)$/.test(k)));
  // Restoring rebuilds the encoder from the official file and embeds as the run did.
  const { model } = await loadModel(last);
  t.is(model.kind, 'pretrained');
  t.is(model.counts().embedSize, 16);
});

test('an ASDKit Lightning checkpoint of dis_beats_scac_trainable (peft names) imports and embeds as ASDKit did', async (t) => {
  const { z } = await vectors('beats_small');
  // ASDKit's state_dict: trainable tensors under `extractor.` with peft's names, plus (here) the BN statistics.
  const lightning: Array<[string, unknown]> = [...z]
    .filter(([k]) => k.startsWith('lora.model.') || k.startsWith('lora.projection_net.'))
    .map(([k, a]) => [
      `extractor.${k.slice('lora.'.length)}`,
      a.dtype === 'int64' ? tensor(a.data as BigInt64Array, a.shape, { dtype: 'int64' }) : tensor(a.data as Float32Array, a.shape),
    ]);
  const W = new Float32Array(16 * 3 * 16).map((_, i) => Math.sin(i));
  lightning.push(['head_dict.main.W', tensor(W, [16, 48])]);
  const file = await writeFile('asdkit_last.ckpt', torchSave({ epoch: 24, global_step: 100, state_dict: ordered(lightning as Array<[string, never]>) }));
  const out = path.join(await tmp, 'imported_beats.ckpt');
  const { importAsdkitCheckpoint } = await import('../src/cli/commands/pretrained.js');
  const set = [`model.extractor.checkpoint=${path.join(fixtures, 'beats_small_ckpt.pt')}`, 'model.extractor.lora_r=4', 'model.extractor.embed_size=16', 'datamodule.sec=1'];
  const r = await importAsdkitCheckpoint({ file, out, recipe: 'dis_beats_scac_trainable', dcase: 'dcase2023', set });
  t.is(r.numClasses, 3);
  const { model } = await loadModel(out);
  const d = maxAbsDiff((await model.embed(f32(z.get('in.wave')!))).data, z.get('lora.out.embed')!.data as Float32Array);
  t.log(`imported LoRA model embedding max |Δ| = ${d.toExponential(2)}`);
  t.true(d <= TOL);
});

test.serial('BatchNorm statistics of the projection: lost at restore as in ASDKit (spec §4.4) unless keepBnStats', async (t) => {
  const dataDir = await dataset;
  const ckpt = await smallBeatsCheckpoint(await tmp);
  const trainDir = path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'train');
  const paths = (await fs.readdir(trainDir)).sort().slice(0, 8).map((f) => path.join(trainDir, f));
  const config = { encoder: 'beats' as const, checkpoint: ckpt, secSamples: 16000, loraRank: 4, loraAlpha: 8, projection: 'attn_stat_pool' as const, embedSize: 16, numClasses: 2 };
  const info = { epoch: 0, globalStep: 1, loss: 0, train: {} };
  const runningMeans = (sd: TensorDict) => Object.entries(sd).filter(([k]) => k.endsWith('running_mean'));
  for (const keepBnStats of [false, true]) {
    const model = await PretrainedModel.create({ ...config, keepBnStats }, 3);
    await model.trainEpoch({ paths, labels: paths.map((_, i) => i % 2), numClasses: 2 }, 0, { batchSize: 4, seed: 1 });
    const trained = runningMeans(model.stateDict());
    t.is(trained.length, 3);
    t.true(trained.every(([, v]) => (v.data as Float32Array).some((x) => x !== 0)), 'training moved the statistics');
    const file = path.join(await tmp, `bn_${keepBnStats}.ckpt`);
    await model.save(file, info);
    const restored = runningMeans((await loadModel(file)).model.stateDict());
    if (keepBnStats) for (const [k, v] of restored) t.deepEqual([...(v.data as Float32Array)], [...(trained.find(([n]) => n === k)![1].data as Float32Array)], k);
    else t.true(restored.every(([, v]) => (v.data as Float32Array).every((x) => x === 0)), 'ASDKit parity: running_mean 0 after restore');
  }
});
