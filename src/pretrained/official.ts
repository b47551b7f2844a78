/**
 * The official BEATs and EAT checkpoint layouts (spec pretrained §5.2–§5.5): BEATs `{cfg, model}`
 * and EAT's fairseq trainer file (or the Hugging Face safetensors release) read through the
 * restricted torch.save reader, with the config each implies and the key/shape table that config
 * expects (§5.3, §8).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { typeName } from '../io/pickle.js';
import { readSafetensors } from '../io/safetensors.js';
import {
  CheckpointError,
  toFloat32,
  TORCH_OF_SAFE,
  withCheckpoint,
  type CheckpointSource,
  type ReadOptions,
  type StateDict,
  type Tensor,
  type TorchCheckpoint,
} from '../io/torch-checkpoint.js';

// BEATs

export type BeatsConfig = Record<string, number | boolean | string>;
export interface BeatsCheckpoint {
  file: string;
  /** The checkpoint's `cfg` as stored (None values left out); see beatsConfig for the defaults. */
  cfg: BeatsConfig;
  state: StateDict;
  /** Keys left out: `predictor.*` of files named `*finetuned*`, which ASDKit deletes (spec §2.5). */
  dropped: string[];
  /** Keys stored as float16/bfloat16/float64, returned as float32. */
  converted: string[];
}

/** BEATsConfig's class defaults (spec §2.1), which the checkpoint's cfg overwrites. */
export const BEATS_DEFAULTS: Readonly<BeatsConfig> = {
  input_patch_size: -1,
  embed_dim: 512,
  conv_bias: false,
  encoder_layers: 12,
  encoder_embed_dim: 768,
  encoder_ffn_embed_dim: 3072,
  encoder_attention_heads: 12,
  activation_fn: 'gelu',
  layer_norm_first: false,
  deep_norm: false,
  layer_wise_gradient_decay_ratio: 1.0,
  dropout: 0.1,
  attention_dropout: 0.1,
  activation_dropout: 0.0,
  dropout_input: 0.0,
  encoder_layerdrop: 0.0,
  conv_pos: 128,
  conv_pos_groups: 16,
  relative_position_embedding: false,
  num_buckets: 320,
  max_distance: 1280,
  gru_rel_pos: false,
  finetuned_model: false,
  predictor_dropout: 0.1,
  predictor_class: 527,
};

export async function beatsFrom(ck: TorchCheckpoint): Promise<BeatsCheckpoint> {
  const root = ck.dict(ck.root, 'the checkpoint');
  const cfgDict = ck.dict(ck.field(root, 'cfg', 'the checkpoint'), "'cfg'");
  const cfg: BeatsConfig = {};
  for (const [k, v] of cfgDict) {
    if (typeof k !== 'string') ck.fail(`'cfg' has a non-string key (${typeName(k)})`);
    if (v === null) continue;
    if (typeof v !== 'number' && typeof v !== 'boolean' && typeof v !== 'string') ck.fail(`cfg['${k}'] is ${typeName(v)}, not a number, boolean or string`);
    Object.defineProperty(cfg, k, { value: v, enumerable: true, writable: true, configurable: true });
  }
  const dropped: string[] = [];
  const finetuned = path.basename(ck.file).includes('finetuned');
  const state = await ck.stateDict(ck.field(root, 'model', 'the checkpoint'), "'model'", (k) => {
    const drop = finetuned && k.startsWith('predictor.');
    if (drop) dropped.push(k);
    return drop;
  });
  const converted: string[] = [];
  return { file: ck.file, cfg, state: toFloat32(state, converted), dropped, converted };
}

/** The official BEATs layout: `{cfg: dict, model: OrderedDict}`. */
export async function readBeatsCheckpoint(source: CheckpointSource, opts?: ReadOptions): Promise<BeatsCheckpoint> {
  return withCheckpoint(source, beatsFrom, opts);
}

/** cfg with BEATsConfig's defaults for the missing fields. */
export function beatsConfig(cfg: BeatsConfig): BeatsConfig {
  return { ...BEATS_DEFAULTS, ...cfg };
}

export interface ExpectedKey {
  name: string;
  shape: number[];
  /** Set on keys that hold the same tensor as another key (BEATs' shared relative bias): counted once. */
  sharedWith?: string;
}

function positiveInt(cfg: Record<string, unknown>, k: string, what: string): number {
  const v = cfg[k];
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v <= 0) throw new Error(`${what} config: ${k} must be a positive integer, got ${JSON.stringify(v)}`);
  return v;
}

function divide(a: number, b: number, what: string): number {
  if (a % b) throw new Error(`${what}: ${a} is not divisible by ${b}`);
  return a / b;
}

/** The encoder's state-dict keys and shapes for a BEATs config (spec §5.3; predictor excluded). */
export function expectedBeatsKeys(cfgIn: BeatsConfig): ExpectedKey[] {
  const cfg = beatsConfig(cfgIn);
  const int = (k: string) => positiveInt(cfg, k, 'BEATs');
  const [p, E, D, F, H, L] = ['input_patch_size', 'embed_dim', 'encoder_embed_dim', 'encoder_ffn_embed_dim', 'encoder_attention_heads', 'encoder_layers'].map(int);
  const [K, G] = [int('conv_pos'), int('conv_pos_groups')];
  const keys: ExpectedKey[] = [];
  const add = (name: string, ...shape: number[]) => keys.push({ name, shape });
  const linear = (name: string, out: number, inp: number) => (add(`${name}.weight`, out, inp), add(`${name}.bias`, out));
  const norm = (name: string, n: number) => (add(`${name}.weight`, n), add(`${name}.bias`, n));
  add('patch_embedding.weight', E, 1, p, p);
  if (cfg.conv_bias) add('patch_embedding.bias', E);
  norm('layer_norm', E);
  if (E !== D) linear('post_extract_proj', D, E);
  add('encoder.pos_conv.0.weight_g', 1, 1, K);
  add('encoder.pos_conv.0.weight_v', D, divide(D, G, 'BEATs config: encoder_embed_dim / conv_pos_groups'), K);
  add('encoder.pos_conv.0.bias', D);
  norm('encoder.layer_norm', D);
  const bias0 = 'encoder.layers.0.self_attn.relative_attention_bias.weight';
  for (let i = 0; i < L; i++) {
    const a = `encoder.layers.${i}.self_attn`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${a}.${proj}`, D, D);
    if (cfg.gru_rel_pos) {
      linear(`${a}.grep_linear`, 8, divide(D, H, 'BEATs config: encoder_embed_dim / encoder_attention_heads'));
      add(`${a}.grep_a`, 1, H, 1, 1);
    }
    if (cfg.relative_position_embedding) {
      keys.push({ name: `${a}.relative_attention_bias.weight`, shape: [int('num_buckets'), H], ...(i > 0 ? { sharedWith: bias0 } : {}) });
    }
    norm(`encoder.layers.${i}.self_attn_layer_norm`, D);
    linear(`encoder.layers.${i}.fc1`, F, D);
    linear(`encoder.layers.${i}.fc2`, D, F);
    norm(`encoder.layers.${i}.final_layer_norm`, D);
  }
  return keys;
}

/** Parameters of a key table, shared tensors counted once. */
export function countParameters(keys: ExpectedKey[]): number {
  return keys.reduce((n, k) => (k.sharedWith ? n : n + k.shape.reduce((a, b) => a * b, 1)), 0);
}

// ---------------------------------------------------------------------------------------------
// EAT

export interface EatConfig {
  depth: number;
  embed_dim: number;
  num_heads: number;
  mlp_ratio: number;
  norm_eps: number;
  /** Time patches of the positions table (rows = max_length · 128/patch_size). */
  max_length: number;
  patch_size: number;
  in_chans: number;
  num_extra_tokens: number;
  layer_norm_first: boolean;
}
export interface EatCheckpoint {
  file: string;
  format: 'fairseq' | 'huggingface';
  cfg: EatConfig;
  /** Config fields the file did not set, taken from the defaults its name selects. */
  defaulted: string[];
  /** Fairseq key names. */
  state: StateDict;
  /** Keys left out: `_ema`, the pre-training decoder, the HF classification head. */
  dropped: string[];
  /** Keys stored as float16/bfloat16/float64, returned as float32. */
  converted: string[];
}

const EAT_COMMON = { mlp_ratio: 4, norm_eps: 1e-6, max_length: 768, patch_size: 16, in_chans: 1, num_extra_tokens: 1, layer_norm_first: false };
/** The released configs (spec §3.1), chosen by the file-name prefix as ASDKit does (§3.4). */
export const EAT_PRESETS: Record<string, EatConfig> = {
  'EAT-base_': { depth: 12, embed_dim: 768, num_heads: 12, ...EAT_COMMON },
  'EAT-large_': { depth: 24, embed_dim: 1024, num_heads: 16, ...EAT_COMMON },
};
const EAT_FIELDS = Object.keys(EAT_PRESETS['EAT-base_']) as Array<keyof EatConfig>;
const EAT_DECODER = 'modality_encoders.IMAGE.decoder.';

/** Fills an EAT config from `found` (field → value or undefined), the rest from the name's preset. */
function eatConfig(found: Partial<Record<keyof EatConfig, unknown>>, names: string[], fail: (msg: string) => never): { cfg: EatConfig; defaulted: string[] } {
  const preset = Object.entries(EAT_PRESETS).find(([prefix]) => names.some((n) => n.startsWith(prefix)))?.[1];
  const cfg = {} as Record<string, unknown>;
  const defaulted: string[] = [];
  for (const k of EAT_FIELDS) {
    const v = found[k];
    if (v === undefined || v === null) {
      if (!preset) fail(`the config does not set ${k}, and the file name starts with neither ${Object.keys(EAT_PRESETS).join(' nor ')} (which would select its defaults)`);
      cfg[k] = preset![k];
      defaulted.push(k);
    } else if (typeof v !== typeof EAT_PRESETS['EAT-base_'][k]) {
      fail(`config field ${k} is ${typeName(v)}, expected a ${typeof EAT_PRESETS['EAT-base_'][k]}`);
    } else cfg[k] = v;
  }
  return { cfg: cfg as unknown as EatConfig, defaulted };
}

export async function eatFrom(ck: TorchCheckpoint): Promise<EatCheckpoint> {
  const root = ck.dict(ck.root, 'the checkpoint');
  // fairseq keeps the model config at cfg.model, image-modality fields at cfg.model.modalities.image.
  const sub = (v: unknown, k: string) => (v instanceof Map ? v.get(k) : undefined);
  const model = sub(root.get('cfg'), 'model');
  const image = sub(sub(model, 'modalities'), 'image');
  const found: Partial<Record<keyof EatConfig, unknown>> = {};
  for (const k of ['depth', 'embed_dim', 'num_heads', 'mlp_ratio', 'norm_eps', 'layer_norm_first'] as const) found[k] = sub(model, k);
  for (const k of ['max_length', 'patch_size', 'in_chans', 'num_extra_tokens'] as const) found[k] = sub(image, k);
  const { cfg, defaulted } = eatConfig(found, [path.basename(ck.file)], (m) => ck.fail(m));
  const dropped: string[] = [];
  const state = await ck.stateDict(ck.field(root, 'model', 'the checkpoint'), "'model'", (k) => {
    const drop = k === '_ema' || k.startsWith(EAT_DECODER);
    if (drop) dropped.push(k);
    return drop;
  });
  const converted: string[] = [];
  return { file: ck.file, format: 'fairseq', cfg, defaulted, state: toFloat32(state, converted), dropped, converted };
}

/** Hugging Face names (spec §5.5) → fairseq names; undefined for the classification head. */
function fairseqName(hf: string): string | undefined {
  const rules: Array<[string, string | undefined]> = [
    ['model.local_encoder.', 'modality_encoders.IMAGE.local_encoder.'],
    ['model.extra_tokens', 'modality_encoders.IMAGE.extra_tokens'],
    ['model.fixed_positional_encoder.', 'modality_encoders.IMAGE.fixed_positional_encoder.'],
    ['model.pre_norm.', 'modality_encoders.IMAGE.context_encoder.norm.'],
    ['model.blocks.', 'blocks.'],
    ['model.fc_norm.', undefined],
    ['model.head.', undefined],
  ];
  for (const [from, to] of rules) if (hf.startsWith(from)) return to === undefined ? undefined : to + hf.slice(from.length);
  return hf; // unknown names stay as they are, so a check reports them
}


/** The HF release: `model.safetensors` with `config.json` beside it (`file` may be the folder). */
export async function readEatSafetensors(file: string): Promise<EatCheckpoint> {
  const isDir = await fs.stat(file).then((s) => s.isDirectory(), () => false);
  const weights = isDir ? path.join(file, 'model.safetensors') : file;
  const dir = path.dirname(weights);
  const fail = (msg: string): never => {
    throw new CheckpointError(weights, msg);
  };
  const unprefixed = (e: unknown) => (e as Error).message.replace(`${weights}: `, '');
  const contents = await readSafetensors(weights).catch((e) => fail(unprefixed(e)));
  const configFile = path.join(dir, 'config.json');
  const config = await fs
    .readFile(configFile, 'utf8')
    .then((t) => JSON.parse(t) as unknown)
    .catch((e) => fail(`cannot read the config.json that must sit beside it (${(e as Error).message})`));
  if (typeof config !== 'object' || config === null || Array.isArray(config)) return fail('config.json is not a JSON object');
  const c = config as Record<string, unknown>;
  const found = Object.fromEntries(EAT_FIELDS.map((k) => [k, Object.hasOwn(c, k) ? c[k] : undefined]));
  const { cfg, defaulted } = eatConfig(found, [path.basename(dir), path.basename(weights)], fail);
  const state: StateDict = new Map();
  const dropped: string[] = [];
  for (const [name, t] of Object.entries(contents.tensors)) {
    const to = fairseqName(name);
    if (to === undefined) dropped.push(name);
    else state.set(to, { dtype: TORCH_OF_SAFE[t.dtype], shape: t.shape, data: t.data, storage: name });
  }
  const converted: string[] = [];
  return { file: weights, format: 'huggingface', cfg, defaulted, state: toFloat32(state, converted), dropped, converted };
}

export const isSafetensorsPath = async (source: CheckpointSource) =>
  typeof source === 'string' && (source.endsWith('.safetensors') || (await fs.stat(source).then((s) => s.isDirectory(), () => false)));

/** An EAT checkpoint: the fairseq `.pt` (spec §5.2) or the HF safetensors release (§5.5). */
export async function readEatCheckpoint(source: CheckpointSource, opts?: ReadOptions): Promise<EatCheckpoint> {
  if (await isSafetensorsPath(source)) return readEatSafetensors(source as string);
  return withCheckpoint(source, eatFrom, opts);
}

/** The encoder's keys and shapes for an EAT config (spec §5.3; after ASDKit's removal of the pre-training modules). */
export function expectedEatKeys(cfg: EatConfig): ExpectedKey[] {
  const c = cfg as unknown as Record<string, unknown>;
  const [D, depth, p, C, X, T] = ['embed_dim', 'depth', 'patch_size', 'in_chans', 'num_extra_tokens', 'max_length'].map((k) => positiveInt(c, k, 'EAT'));
  const hidden = Math.trunc(D * cfg.mlp_ratio);
  const keys: ExpectedKey[] = [];
  const add = (name: string, ...shape: number[]) => keys.push({ name, shape });
  const linear = (name: string, out: number, inp: number) => (add(`${name}.weight`, out, inp), add(`${name}.bias`, out));
  const norm = (name: string) => (add(`${name}.weight`, D), add(`${name}.bias`, D));
  const m = 'modality_encoders.IMAGE';
  add(`${m}.local_encoder.proj.weight`, D, C, p, p);
  add(`${m}.local_encoder.proj.bias`, D);
  add(`${m}.extra_tokens`, 1, X, D);
  add(`${m}.fixed_positional_encoder.positions`, 1, T * Math.trunc(128 / p), D);
  norm(`${m}.context_encoder.norm`);
  for (let i = 0; i < depth; i++) {
    norm(`blocks.${i}.norm1`);
    linear(`blocks.${i}.attn.qkv`, 3 * D, D);
    linear(`blocks.${i}.attn.proj`, D, D);
    norm(`blocks.${i}.norm2`);
    linear(`blocks.${i}.mlp.fc1`, hidden, D);
    linear(`blocks.${i}.mlp.fc2`, D, hidden);
  }
  return keys;
}
