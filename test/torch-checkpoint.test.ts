import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { zipSync } from 'fflate';
import { readNpz, type NpyArray } from '../src/io/npz.js';
import { WHITELIST } from '../src/io/pickle.js';
import { writeSafetensors, type SafeTensor } from '../src/io/safetensors.js';
import { CheckpointError, readLightningCheckpoint, readTorchCheckpoint, type CheckpointBytes, type Tensor } from '../src/io/torch-checkpoint.js';
import { checkPretrained } from '../src/pretrained/check.js';
import { EAT_PRESETS, countParameters, expectedBeatsKeys, expectedEatKeys, readBeatsCheckpoint, readEatCheckpoint } from '../src/pretrained/official.js';
import { resolvePretrained } from '../src/pretrained/sources.js';
import { formatReport, importAsdkitCheckpoint } from '../src/cli/commands/pretrained.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { modelConfigOf } from '../src/steps/from-config.js';
import { DisModel, loadModel } from '../src/train/model.js';
import {
  Global,
  Storage,
  call,
  fairseqEatRoot,
  ordered,
  pickle,
  pyBytes,
  raw,
  tensor,
  torchSave,
  torchZip,
  tuple,
  view,
  zipStored,
} from './helpers/torch-pickle-writer.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const BEATS_PT = path.join(fixtures, 'beats_small_ckpt.pt');
const tmp = () => fs.mkdtemp(path.join(os.tmpdir(), 'torch-ckpt-'));
const bytesOf = (d: ArrayBufferView) => Buffer.from(d.buffer, d.byteOffset, d.byteLength);
const asFile = (name: string, bytes: Uint8Array): CheckpointBytes => ({ name, bytes });

/** The `sd.*` arrays of a parity-vector npz, in file order, without the prefix. */
async function stateOf(npz: string): Promise<Array<[string, NpyArray & { dtype: 'float32' }]>> {
  const arrays = await readNpz(path.join(fixtures, npz));
  return [...arrays].filter(([k]) => k.startsWith('sd.')).map(([k, a]) => [k.slice(3), a as NpyArray & { dtype: 'float32' }]);
}
const asTensor = (a: { data: Float32Array; shape: number[] }) => tensor(a.data, a.shape);

/** Asserts a CheckpointError naming `file` whose message matches `re`. */
async function refused(t: import('ava').ExecutionContext, p: Promise<unknown>, file: string, re: RegExp) {
  const e = await t.throwsAsync(p);
  t.true(e instanceof CheckpointError, `${e?.name}: ${e?.message}`);
  t.true(e!.message.startsWith(`${file}: `), e!.message);
  t.regex(e!.message, re);
}

// ---------------------------------------------------------------------------------------------
// The real torch.save file

test('beats_small_ckpt.pt: cfg equals the preset, every tensor bit-identical to sd.*, relative bias shared', async (t) => {
  const json = JSON.parse(await fs.readFile(path.join(fixtures, 'beats_small.json'), 'utf8'));
  const ck = await readBeatsCheckpoint(BEATS_PT);
  t.deepEqual(ck.cfg, json.preset.beats_cfg);
  const sd = await stateOf('beats_small.npz');
  t.deepEqual([...ck.state.keys()].sort(), sd.map(([k]) => k).sort());
  for (const [k, a] of sd) {
    const got = ck.state.get(k)!;
    t.is(got.dtype, 'float32', k);
    t.deepEqual(got.shape, a.shape, k);
    t.true(bytesOf(got.data).equals(bytesOf(a.data)), k);
  }
  const b0 = ck.state.get('encoder.layers.0.self_attn.relative_attention_bias.weight')!;
  const b1 = ck.state.get('encoder.layers.1.self_attn.relative_attention_bias.weight')!;
  t.is(b0, b1);
  t.is(b0.storage, b1.storage);
  t.deepEqual(ck.dropped, []);
});

test('checkPretrained passes the real file and counts its parameters once per shared tensor', async (t) => {
  const r = await checkPretrained(BEATS_PT);
  t.true(r.ok, formatReport(r));
  t.is(r.kind, 'beats');
  t.is(r.keys, 50);
  const expected = expectedBeatsKeys(r.cfg as never);
  t.is(r.parameters, countParameters(expected));
  t.is(r.storedNumbers - r.parameters, 32 * 4); // the second copy of the (32 × 4) relative bias
  t.regex(r.notes.join('\n'), /share one storage/);
  t.regex(formatReport(r), /result: +OK/);
});

test('the key tables give the spec parameter counts for the released configs', (t) => {
  const iter3 = {
    input_patch_size: 16, embed_dim: 512, conv_bias: false, encoder_layers: 12, encoder_embed_dim: 768, encoder_ffn_embed_dim: 3072,
    encoder_attention_heads: 12, activation_fn: 'gelu', layer_norm_first: false, deep_norm: true, conv_pos: 128, conv_pos_groups: 16,
    relative_position_embedding: true, num_buckets: 320, max_distance: 800, gru_rel_pos: true, finetuned_model: false,
  };
  const beats = expectedBeatsKeys(iter3);
  t.is(beats.length, 250);
  t.is(countParameters(beats), 90_311_792);
  t.is(beats.reduce((n, k) => n + k.shape.reduce((a, b) => a * b, 1), 0), 90_354_032);
  t.false(beats.some((k) => k.name === 'encoder.pos_conv.0.weight'));
  const base = expectedEatKeys(EAT_PRESETS['EAT-base_']);
  t.is(base.length, 150);
  t.is(countParameters(base), 89_972_736);
  t.deepEqual(base.find((k) => k.name.endsWith('positions'))!.shape, [1, 6144, 768]);
  t.is(countParameters(expectedEatKeys(EAT_PRESETS['EAT-large_'])), 308_867_072);
  t.throws(() => expectedBeatsKeys({}), { message: /input_patch_size must be a positive integer/ });
});

// ---------------------------------------------------------------------------------------------
// Synthetic checkpoints in the official layouts

async function beatsLayout(opts: { separateBias?: boolean; parameters?: boolean } = {}) {
  const json = JSON.parse(await fs.readFile(path.join(fixtures, 'beats_small.json'), 'utf8'));
  const sd = await stateOf('beats_small.npz');
  const bias = sd.find(([k]) => k.endsWith('relative_attention_bias.weight'))![1];
  const shared = asTensor(bias);
  const model = sd.map(([k, a]): [string, unknown] => [
    k,
    k.endsWith('relative_attention_bias.weight') && !opts.separateBias ? shared : tensor(a.data, a.shape, { parameter: opts.parameters }),
  ]);
  return { cfg: json.preset.beats_cfg as Record<string, unknown>, sd, model };
}

test('synthetic BEATs files: shared or separate bias, parameters, and the finetuned predictor rule', async (t) => {
  const { cfg, sd, model } = await beatsLayout({ separateBias: true, parameters: true });
  const ck = await readBeatsCheckpoint(asFile('BEATs_copies.pt', torchSave({ cfg, model: ordered(model) })));
  t.deepEqual(ck.cfg, cfg);
  for (const [k, a] of sd) t.true(bytesOf(ck.state.get(k)!.data).equals(bytesOf(a.data)), k);
  const r = await checkPretrained(asFile('BEATs_copies.pt', torchSave({ cfg, model: ordered(model) })));
  t.true(r.ok);
  t.regex(r.notes.join(), /separate, equal copies/);

  const predictor: Array<[string, unknown]> = [['predictor.weight', tensor(new Float32Array(3 * 64), [3, 64])], ['predictor.bias', tensor(new Float32Array(3))]];
  const withHead = torchSave({ cfg: { ...cfg, finetuned_model: true, predictor_class: 3 }, model: ordered([...model, ...predictor]), label_dict: { a: 0 } });
  const ft = await readBeatsCheckpoint(asFile('BEATs_iter3_finetuned_on_AS2M.pt', withHead));
  t.deepEqual(ft.dropped, ['predictor.weight', 'predictor.bias']);
  t.false(ft.state.has('predictor.weight'));
  const kept = await checkPretrained(asFile('BEATs_iter3_plus.pt', withHead));
  t.false(kept.ok);
  t.deepEqual(kept.unexpected, ['predictor.weight', 'predictor.bias']);
  t.regex(kept.notes.join(), /lacks 'finetuned'/);
});

test('float16, bfloat16 and float64 weights are read as float32', async (t) => {
  const { cfg, model } = await beatsLayout();
  const half = tensor(Uint16Array.from([0x3c00, 0xc000, 0x3800, 0x7bff, 0x0001, 0x8000, 0x7c00, 0x7e00]), [8]);
  const bf16 = tensor(Uint16Array.from([0x3f80, 0xc040, 0xff80]), [3], { dtype: 'bfloat16' });
  const f64 = tensor(Float64Array.from([0.1, -1e300]), [2]);
  const ck = await readBeatsCheckpoint(asFile('mixed.pt', torchSave({ cfg, model: ordered([['h', half], ['h2', half], ['b', bf16], ['d', f64]]) })));
  t.deepEqual([...(ck.state.get('h')!.data as Float32Array)], [1, -2, 0.5, 65504, 2 ** -24, -0, Infinity, NaN]);
  t.is(ck.state.get('h'), ck.state.get('h2'));
  t.deepEqual([...(ck.state.get('b')!.data as Float32Array)], [1, -3, -Infinity]);
  t.deepEqual([...(ck.state.get('d')!.data as Float32Array)], [Math.fround(0.1), -Infinity]);
  t.true([...ck.state.values()].every((x) => x.dtype === 'float32'));
  t.deepEqual(ck.converted, ['h', 'h2', 'b', 'd']);

  const halfModel = model.map(([k, v]): [string, unknown] => [k, k === 'layer_norm.bias' ? tensor(new Uint16Array(32), [32]) : v]);
  const r = await checkPretrained(asFile('half_beats.pt', torchSave({ cfg, model: ordered(halfModel) })));
  t.true(r.ok, formatReport(r));
  t.regex(r.notes.join(), /1 tensor\(s\) stored as float16\/bfloat16\/float64 read as float32/);
});

test('checkPretrained reports missing, unexpected and wrong-shape keys', async (t) => {
  const { cfg, model } = await beatsLayout();
  const edited = model
    .filter(([k]) => k !== 'encoder.layers.1.fc2.bias')
    .map(([k, v]): [string, unknown] => (k === 'layer_norm.weight' ? [k, tensor(new Float32Array(31))] : [k, v]));
  edited.push(['encoder.extra.weight', tensor(new Float32Array(2))]);
  const r = await checkPretrained(asFile('broken_beats.pt', torchSave({ cfg, model: ordered(edited) })), 'beats');
  t.false(r.ok);
  t.deepEqual(r.missing, ['encoder.layers.1.fc2.bias']);
  t.deepEqual(r.unexpected, ['encoder.extra.weight']);
  t.deepEqual(r.wrongShape, [{ key: 'layer_norm.weight', shape: [31], expected: [32] }]);
  t.regex(formatReport(r), /result: +FAILED/);
});

const EAT_CFG = { depth: 2, embed_dim: 64, num_heads: 4, mlp_ratio: 4, norm_eps: 1e-6, max_length: 16, patch_size: 16, in_chans: 1, num_extra_tokens: 1, layer_norm_first: false };

/** A fairseq trainer checkpoint around eat_small's state dict (spec §5.2). */
async function eatLayout(opts: { cfgModel?: unknown } = {}) {
  const sd = await stateOf('eat_small.npz');
  return { sd, root: fairseqEatRoot(sd.map(([k, a]) => [k, asTensor(a)]), opts.cfgModel) };
}

test('synthetic EAT fairseq file: config from cfg.model, _ema and decoder skipped, opaque extra_state', async (t) => {
  const { sd, root } = await eatLayout();
  const bytes = torchSave(root);
  const calls: string[] = [];
  const ck = await readEatCheckpoint(asFile('eat_small.pt', bytes), { onCall: (n) => calls.push(n) });
  t.is(ck.format, 'fairseq');
  t.deepEqual(ck.cfg, EAT_CFG);
  t.deepEqual(ck.defaulted, []);
  t.deepEqual([...ck.state.keys()], sd.map(([k]) => k));
  for (const [k, a] of sd) t.true(bytesOf(ck.state.get(k)!.data).equals(bytesOf(a.data)), k);
  t.deepEqual(ck.dropped, ['_ema', 'modality_encoders.IMAGE.decoder.blocks.0.0.weight', 'modality_encoders.IMAGE.decoder.blocks.0.0.bias', 'modality_encoders.IMAGE.decoder.proj.weight']);
  t.true(calls.length > 0);
  t.deepEqual(calls.filter((n) => !WHITELIST.includes(n)), []);

  const r = await checkPretrained(asFile('eat_small.pt', bytes));
  t.true(r.ok, formatReport(r));
  t.is(r.kind, 'eat');
  t.is(r.parameters, countParameters(expectedEatKeys(EAT_CFG)));

  // Fields missing from cfg.model come from the file-name preset, or are an error without one.
  const bare = torchSave((await eatLayout({ cfgModel: { _name: 'data2vec_multi', depth: 2 } })).root);
  const named = await readEatCheckpoint(asFile('EAT-base_epoch10_pt.pt', bare));
  t.is(named.cfg.depth, 2);
  t.is(named.cfg.embed_dim, 768);
  t.deepEqual(named.defaulted, ['embed_dim', 'num_heads', 'mlp_ratio', 'norm_eps', 'max_length', 'patch_size', 'in_chans', 'num_extra_tokens', 'layer_norm_first']);
  const wrong = await checkPretrained(asFile('EAT-base_epoch10_pt.pt', bare));
  t.false(wrong.ok);
  t.true(wrong.wrongShape.length > 0);
  await refused(t, readEatCheckpoint(asFile('my_eat.pt', bare)), 'my_eat.pt', /does not set embed_dim.*EAT-base_/);
});

test('EAT Hugging Face release: safetensors names map to fairseq names, the head is dropped', async (t) => {
  const { sd } = await eatLayout();
  const dir = path.join(await tmp(), 'EAT-base_epoch30_finetune_AS2M');
  await fs.mkdir(dir);
  const hf = (k: string) =>
    k.startsWith('blocks.')
      ? `model.${k}`
      : `model.${k.replace('modality_encoders.IMAGE.', '').replace('context_encoder.norm.', 'pre_norm.')}`;
  const tensors: Record<string, SafeTensor> = Object.fromEntries(sd.map(([k, a]) => [hf(k), { dtype: 'F32', shape: a.shape, data: a.data }]));
  tensors['model.head.weight'] = { dtype: 'F32', shape: [3, 64], data: new Float32Array(192) };
  tensors['model.fc_norm.weight'] = { dtype: 'F32', shape: [64], data: new Float32Array(64) };
  await writeSafetensors(path.join(dir, 'model.safetensors'), tensors);
  await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify({ model_type: 'eat', depth: 2, embed_dim: 64, num_heads: 4, mlp_ratio: 4.0, max_length: 16, num_classes: 3 }));
  const ck = await readEatCheckpoint(dir);
  t.is(ck.format, 'huggingface');
  t.deepEqual(ck.cfg, EAT_CFG);
  t.deepEqual(ck.defaulted, ['norm_eps', 'patch_size', 'in_chans', 'num_extra_tokens', 'layer_norm_first']);
  t.deepEqual([...ck.state.keys()].sort(), sd.map(([k]) => k).sort());
  t.deepEqual(ck.dropped.sort(), ['model.fc_norm.weight', 'model.head.weight']);
  const r = await checkPretrained(path.join(dir, 'model.safetensors'));
  t.true(r.ok, formatReport(r));
  t.is(r.format, 'safetensors');
});

test('ASDKit Lightning checkpoint: state_dict read, omegaconf hyper-parameters opaque, imported into our format', async (t) => {
  const c = resolveRunConfig('dis_spec_scac_trainable', { dcase: 'dcase2023' });
  const arch = modelConfigOf(c.model!);
  if (!('branches' in arch)) throw new Error('dis_spec_scac_trainable is a MultiResNet recipe');
  const source = DisModel.create({ ...arch, secSamples: 18 * 16000, numClasses: 3 }, 7);
  const sd = source.stateDict();
  const stateDict = ordered(Object.entries(sd).map(([k, v]) => [k, tensor(v.data as Float32Array, v.shape)]));
  const omega = call('omegaconf.dictconfig.DictConfig', [], { newobj: true, state: { _content: { sec: 18 }, _metadata: call('omegaconf.base.ContainerMetadata', [], { newobj: true }) } });
  const root = {
    epoch: 15,
    global_step: 4000,
    'pytorch-lightning_version': '1.9.5',
    state_dict: stateDict,
    hyper_parameters: { cfg: omega },
    optimizer_states: [{ state: { 0: { step: tensor(new Float32Array([4000])), exp_avg: tensor(new Float32Array(8)) } }, param_groups: [] }],
    callbacks: { "ModelCheckpoint{'monitor': 'train/main'}": { best_model_score: tensor(new Float32Array([0.25])) } },
  };
  const dir = await tmp();
  const file = path.join(dir, 'last.ckpt');
  await fs.writeFile(file, torchSave(root));
  const lc = await readLightningCheckpoint(file);
  t.is(lc.epoch, 15);
  t.is(lc.globalStep, 4000);
  t.deepEqual(lc.hyperParameterNames, ['cfg']);
  t.is(lc.state.size, Object.keys(sd).length);

  const out = path.join(dir, 'imported.ckpt');
  const r = await importAsdkitCheckpoint({ file, out, recipe: 'dis_spec_scac_trainable', dcase: 'dcase2023' });
  t.deepEqual(r, { numClasses: 3, tensors: Object.keys(sd).length, epoch: 15 });
  const { model, info } = await loadModel(out);
  t.is(info.epoch, 15);
  for (const [k, v] of Object.entries(model.stateDict())) t.true(bytesOf(v.data).equals(bytesOf(sd[k].data)), k);

  // An existing target (it may be a trained last.ckpt with its optimizer state) is kept unless --overwrite.
  const before = await fs.readFile(out);
  const kept = await t.throwsAsync(importAsdkitCheckpoint({ file, out, recipe: 'dis_spec_scac_trainable', dcase: 'dcase2023' }));
  t.regex(kept!.message, /imported\.ckpt already exists.*--overwrite/);
  t.true(before.equals(await fs.readFile(out)), 'the existing file is untouched');
  const e = await t.throwsAsync(importAsdkitCheckpoint({ file, out, recipe: 'dis_multispec_scac_trainable', dcase: 'dcase2023', overwrite: true }));
  t.regex(e!.message, /does not match recipe dis_multispec_scac_trainable[\s\S]*(missing|unexpected|shape)/);
});

// ---------------------------------------------------------------------------------------------
// Hostile and broken files

/** A tiny valid BEATs-layout pickle with `extra` spliced into the root dict. */
const hostile = (model: unknown, extra: Record<string, unknown> = {}) => torchSave({ cfg: { encoder_layers: 1 }, model, ...extra });
const pklZip = (...ops: Array<number[] | Uint8Array>) => torchZip(Uint8Array.from(ops.flatMap((o) => [...o])), []);

test('an os.system GLOBAL with REDUCE is never called: it stays opaque and fails where a dict or tensor is needed', async (t) => {
  const evil = call('os.system', ['touch asdkit-pwned']);
  const calls: string[] = [];
  const ck = await readTorchCheckpoint(asFile('evil.pt', hostile(ordered([]), { payload: evil, nested: [call('builtins.eval', ['1+1'])] })), { onCall: (n) => calls.push(n) });
  const payload = (ck.root as Map<string, unknown>).get('payload') as { global: string; args: unknown[] };
  t.is(payload.global, 'os.system');
  t.deepEqual([...payload.args], ['touch asdkit-pwned']);
  t.deepEqual(calls.filter((n) => !WHITELIST.includes(n)), []);
  await ck.close();
  await refused(t, readBeatsCheckpoint(asFile('evil.pt', hostile(evil))), 'evil.pt', /'model' is an opaque os\.system object, not a dict/);
  await refused(t, readBeatsCheckpoint(asFile('evil.pt', hostile(ordered([['w', evil]])))), 'evil.pt', /'model'\['w'\] is an opaque os\.system object, not a tensor/);
  // Whitelisted names cannot be reached through the object prototype either.
  await refused(t, readBeatsCheckpoint(asFile('proto.pt', hostile(call('collections.__proto__')))), 'proto.pt', /'model' is an opaque collections.__proto__ object/);
});

test('tensor views outside their storage are refused', async (t) => {
  const s = new Storage('float32', new Float32Array(9));
  const cases: Array<[unknown, RegExp]> = [
    [view(s, 8, [4]), /reaches past its storage '0' of 9 elements/],
    [view(s, 0, [3, 3], [3, 4]), /reaches past its storage/],
    [view(s, 0, [-1]), /size is not a tuple of non-negative integers/],
    [view(s, 0, [2 ** 40]), /reaches past its storage/],
    [view(s, 0, [3, 3], [3]), /stride is not a tuple/],
    [view(s, 0, [5, 5], [0, 0]), /more elements than its storage/],
    [view(s, 0, [2n ** 60n as unknown as number]), /size is not a tuple of non-negative integers/],
    [view(new Storage('float32', new Float32Array(9), 10), 0, [9]), /entry holds 36 bytes, 10 × float32 needs 40/],
  ];
  for (const [v, re] of cases) await refused(t, readBeatsCheckpoint(asFile('views.pt', hostile(ordered([['w', v]])))), 'views.pt', re);
});

test('broken containers are refused with a clear message', async (t) => {
  const good = hostile(ordered([['w', tensor(new Float32Array([1, 2, 3]))]]));
  await refused(t, readBeatsCheckpoint(asFile('cut.pt', good.slice(0, good.length - 30))), 'cut.pt', /truncated or corrupt zip/);
  await refused(t, readBeatsCheckpoint(asFile('half.pt', good.slice(0, 200))), 'half.pt', /truncated or corrupt zip/);
  const legacy = Buffer.concat([Buffer.from('80028a0a6cfc9c46f9206aa85019', 'hex'), Buffer.alloc(100)]);
  await refused(t, readBeatsCheckpoint(asFile('old.pt', legacy)), 'old.pt', /legacy \(pre-1\.6, non-zip\) torch\.save format/);
  await refused(t, readBeatsCheckpoint(asFile('text.pt', Buffer.from('hello world'))), 'text.pt', /not a torch\.save zip/);
  await refused(t, readBeatsCheckpoint(asFile('empty.pt', new Uint8Array(0))), 'empty.pt', /empty file/);
  await refused(t, readBeatsCheckpoint(path.join(fixtures, 'no-such-file.pt')), path.join(fixtures, 'no-such-file.pt'), /file not found/);

  const { pkl, storages } = pickle({ cfg: {}, model: ordered([['w', tensor(new Float32Array([1, 2, 3]))]]) });
  const deflated = zipSync({ 'a/data.pkl': [pkl, { level: 6 }] });
  await refused(t, readTorchCheckpoint(asFile('zipped.pt', deflated)), 'zipped.pt', /entry 'a\/data\.pkl' is compressed \(method 8\)/);
  const data = Buffer.from(storages[0].data.buffer);
  const dup = Buffer.from(zipStored([['a/data.pkl', pkl], ['a/data/0', data], ['a/data/9', data]]));
  for (let i = dup.indexOf('a/data/9'); i >= 0; i = dup.indexOf('a/data/9', i + 1)) dup.write('a/data/0', i);
  await refused(t, readTorchCheckpoint(asFile('dup.pt', dup)), 'dup.pt', /duplicate entry 'a\/data\/0'/);
  const far = Buffer.from(zipStored([['a/data.pkl', pkl], ['a/data/0', data]]));
  const cd = far.lastIndexOf(Buffer.from([0x50, 0x4b, 0x01, 0x02]));
  far.writeUInt32LE(far.length + 1000, cd + 42);
  await refused(t, readTorchCheckpoint(asFile('far.pt', far)), 'far.pt', /entry 'a\/data\/0' lies beyond the data area/);
  const flipped = Buffer.from(zipStored([['a/data.pkl', pkl], ['a/data/0', data]]));
  flipped[flipped.indexOf(data) + 5] ^= 0xff;
  await refused(t, readBeatsCheckpoint(asFile('flip.pt', flipped)), 'flip.pt', /entry 'a\/data\/0': CRC mismatch/);
  await refused(t, readTorchCheckpoint(asFile('nopkl.pt', zipStored([['a/version', Buffer.from('3\n')]]))), 'nopkl.pt', /no data\.pkl entry/);
  await refused(t, readBeatsCheckpoint(asFile('nodata.pt', zipStored([['a/data.pkl', pkl]]))), 'nodata.pt', /storage '0' has no entry a\/data\/0/);
  await refused(t, readTorchCheckpoint(asFile('big.pt', zipStored([['a/data.pkl', pkl], ['a/byteorder', Buffer.from('big')]]))), 'big.pt', /big-endian/);
  const little = await readBeatsCheckpoint(asFile('little.pt', zipStored([['a/data.pkl', pkl], ['a/data/0', data], ['a/byteorder', Buffer.from('little')]])));
  t.deepEqual([...(little.state.get('w')!.data as Float32Array)], [1, 2, 3]);
});

test('hostile pickle streams are refused: opcodes, memo, stack, nesting, huge lengths', async (t) => {
  const cases: Array<[Uint8Array, RegExp]> = [
    [pklZip([0x80, 2, 0x93, 0x2e]), /unsupported opcode.*opcode 0x93 at offset 2/],
    [pklZip([0x80, 2, 0x69]), /unsupported opcode.*opcode 0x69 at offset 2/],
    [pklZip([0x80, 4, 0x4e, 0x2e]), /pickle protocol 4 is not supported/],
    [pklZip([0x80, 2, 0x68, 99, 0x2e]), /memo index 99 was never stored.*0x68 at offset 2/],
    [pklZip([0x80, 2, 0x6a, 0xff, 0xff, 0xff, 0x7f, 0x2e]), /memo index 2147483647 was never stored/],
    [pklZip([0x80, 2, 0x52, 0x2e]), /stack underflow.*0x52/],
    [pklZip([0x80, 2, 0x4e, 0x28, 0x73]), /stack underflow.*0x73/],
    [pklZip([0x80, 2, 0x2e]), /stack underflow.*0x2e/],
    [pklZip([0x80, 2, 0x65]), /no MARK to pop to/],
    [pklZip([0x80, 2], new Array(5000).fill(0x28), [0x2e]), /nesting deeper than 1000 levels/],
    [pklZip([0x80, 2, 0x8b, 0xff, 0xff, 0xff, 0x7f]), /integer of 2147483647 bytes exceeds the 64-byte limit/],
    [pklZip([0x80, 2, 0x8b, 0x00, 0x00, 0x00, 0x80]), /negative LONG4 length/],
    [pklZip([0x80, 2, 0x58, 0xff, 0xff, 0xff, 0x7f, 0x61]), /truncated: needs 2147483647 more bytes/],
    [pklZip([0x80, 2, 0x58, 2, 0, 0, 0, 0xc3, 0x28, 0x2e]), /invalid UTF-8/],
    [pklZip([0x80, 2, 0x4e]), /truncated: no STOP/],
    [pklZip([0x80, 2, 0x63], Buffer.from('os\nsystem'), [0x2e]), /GLOBAL name is unterminated/],
    [pklZip([0x80, 2, 0x63], Buffer.from('os;rm\nx\n'), [0x2e]), /bad GLOBAL name/],
    [pklZip([0x80, 2, 0x29, 0x4e, 0x61, 0x2e]), /APPEND on a tuple/],
    [hostile(ordered([['w', raw(0x93)]])), /unsupported opcode.*opcode 0x93 at offset \d+/],
    [pklZip([0x80, 2, 0x4b, 1, 0x4e, 0x62, 0x2e]), /BUILD on a number/],
    [pklZip([0x80, 2, 0x4b, 1, 0x29, 0x52, 0x2e]), /REDUCE on a number/],
    [pklZip([0x80, 2, 0x4e, 0x51, 0x2e]), /persistent id is not/],
  ];
  for (const [bytes, re] of cases) await refused(t, readTorchCheckpoint(asFile('bad.pkl.pt', bytes)), 'bad.pkl.pt', re);

  // A forged persistent id and a storage type called as a function are refused too.
  const forged = pickle(call('torch._utils._rebuild_tensor_v2', [tuple('storage', new Global('torch.FloatStorage'), '0', 'cpu', 3), 0, tuple(3), tuple(1), false, null]));
  await refused(t, readTorchCheckpoint(asFile('forged.pt', torchZip(forged.pkl, []))), 'forged.pt', /first argument is not a storage/);
  const typeCall = pickle(call('torch.FloatStorage', [3]));
  await refused(t, readTorchCheckpoint(asFile('type.pt', torchZip(typeCall.pkl, []))), 'type.pt', /REDUCE on the type torch\.FloatStorage/);
  await refused(t, readTorchCheckpoint(asFile('memo.pt', hostile(ordered([]))), { limits: { memo: 3 } }), 'memo.pt', /memo exceeds 3 entries/);
  await refused(t, readTorchCheckpoint(asFile('stack.pt', pklZip([0x80, 2], new Array(50).fill(0x4e), [0x2e])), { limits: { stack: 10 } }), 'stack.pt', /stack exceeds 10 items/);
});

test('resolvePretrained explains where to download a missing official file', async (t) => {
  const dir = await tmp();
  const e = await t.throwsAsync(resolvePretrained('BEATs_iter3.pt', dir));
  t.regex(e!.message, /pretrained checkpoint not found: .*pretrained_models\/beats\/BEATs_iter3\.pt/);
  t.regex(e!.message, /download: https:\/\/onedrive\.live\.com\//);
  t.regex(e!.message, /asdkit pretrained check/);
  const other = await t.throwsAsync(resolvePretrained('models/mine.pt', dir));
  t.regex(other!.message, /EAT-base_epoch10_pt\.pt[\s\S]*drive\.google\.com/);
  await fs.mkdir(path.join(dir, 'pretrained_models', 'eat'), { recursive: true });
  await fs.copyFile(BEATS_PT, path.join(dir, 'pretrained_models', 'eat', 'EAT-base_epoch10_pt.pt'));
  t.is(await resolvePretrained('EAT-base_epoch10_pt.pt', dir), path.join(dir, 'pretrained_models', 'eat', 'EAT-base_epoch10_pt.pt'));
});

test('tensors are contiguous copies of strided views; storages shared between views; devices and bytes decoded', async (t) => {
  const s = new Storage('float32', Float32Array.from({ length: 12 }, (_, i) => i));
  const bytes = torchSave({
    t: view(s, 1, [2, 3], [1, 4]),
    u: view(s, 0, [12]),
    v: view(s, 0, [12]),
    i: tensor(BigInt64Array.from([1n, -2n]), [2, 1]),
    dev: call('torch.device', ['cuda', 0]),
    blob: pyBytes(Uint8Array.from([0, 200, 255])),
  });
  const ck = await readTorchCheckpoint(asFile('views.pt', bytes));
  const root = ck.root as Map<string, unknown>;
  t.is(root.get('dev'), 'cuda:0');
  t.deepEqual([...(root.get('blob') as Uint8Array)], [0, 200, 255]);
  const state = await ck.stateDict(root, 'root', (k) => k === 'dev' || k === 'blob');
  t.deepEqual(state.get('i'), { dtype: 'int64', shape: [2, 1], data: BigInt64Array.from([1n, -2n]), storage: '1' });
  const tt = state.get('t') as Tensor;
  t.deepEqual([...(tt.data as Float32Array)], [1, 5, 9, 2, 6, 10]);
  t.is(state.get('u'), state.get('v'));
  t.is(state.get('u')!.storage, tt.storage);
  await ck.close();
});
