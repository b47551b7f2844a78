/** A resolved run config's model/trainer/datamodule sections → the train step's options. */
import type { ChannelMode, NativeChannelOptions } from '../native/index.js';
import { numericSeed, runIdsOf, type AeSection, type ModelSection, type RunConfig } from '../run/index.js';
import type { AeConfig } from '../train/model.js';
import type { AeTrainStepOptions, DisArchitecture, TrainStepOptions } from './train.js';

/** The run's channel settings (and its recipe, for error messages). */
type ChannelSettings = Pick<RunConfig, 'channel' | 'channel_alpha' | 'channel_floor'> & { recipe?: string };

/**
 * The architecture of a model section: a MultiResNet (dis_spec_*) or a pretrained encoder with
 * LoRA (dis_beats/eat_*). With the run's channel settings `c`, a two-channel mode (subtract, both)
 * becomes part of the architecture (and so of its checkpoints).
 */
export function modelConfigOf(m: ModelSection, c?: ChannelSettings): TrainStepOptions['model'] {
  const x = m.extractor;
  if (!('checkpoint' in x)) return multiresnetConfigOf(m, c);
  if (m.technique.type !== 'none') throw new Error(`model.technique ${m.technique.type} needs the multiresnet extractor`);
  return {
    ...pretrainedChannelOf(x.type, c, c?.recipe),
    encoder: x.type,
    checkpoint: x.checkpoint,
    loraRank: x.lora_r,
    loraAlpha: x.lora_alpha,
    projection: x.projection,
    embedSize: x.embed_size,
    keepBnStats: x.keep_bn_stats,
    ...predictionModeOf(x.type, x.prediction_mode),
    head: headOf(m),
    mixupProb: m.mixup_prob,
  };
}

/** A MultiResNet model section's DisModel architecture (errors for a pretrained extractor); `c` as for modelConfigOf. */
export function multiresnetConfigOf(m: ModelSection, c?: ChannelSettings): DisArchitecture {
  const x = m.extractor;
  if ('checkpoint' in x) throw new Error(`model.extractor.type ${x.type} is not a multiresnet`);
  const channel = c ? channelOf(c) : {};
  return {
    // subtract / both only (near, far and mean are the reader's business, not the model's).
    ...(channel.channel === 'subtract' || channel.channel === 'both' ? (channel as Pick<DisArchitecture, 'channel' | 'channelAlpha' | 'channelFloor'>) : {}),
    branches: x.branches.map((b) =>
      b.kind === 'fft' ? { kind: 'fft', kernel: b.kernel, stride: b.stride, dilation: b.dilation } : { kind: 'stft', nFft: b.n_fft, hopLength: b.hop_length },
    ),
    embedSizePerBranch: x.emb_base_size,
    useBias: x.use_bias,
    head: headOf(m),
    mixupProb: m.mixup_prob,
    technique: m.technique.type,
    featexProb: m.technique.prob,
    subspaceEmbedSize: m.technique.subspace_embed_size,
    auxWeight: m.technique.weight,
  };
}

/** EAT's prediction mode (BEATs has none: giving one for BEATs is an error). */
export function predictionModeOf(encoder: 'beats' | 'eat', mode: 'cls' | 'seq' | undefined): { predictionMode?: 'cls' | 'seq' } {
  if (mode === undefined) return {};
  if (encoder !== 'eat') throw new Error(`prediction_mode is an EAT setting; BEATs always uses its sequence tokens (got prediction_mode ${mode})`);
  return { predictionMode: mode };
}

function headOf(m: ModelSection) {
  const l = m.loss;
  return { type: l.type, nSubclusters: l.n_subclusters, subspaceDim: l.subspace_dim, margin: l.margin, scale: l.scale, trainable: l.trainable, dynamic: l.dynamic };
}

/**
 * The run's channel settings as the addon takes them: empty for `near` (the default, so configs,
 * fingerprints and checkpoints of runs that never set a channel stay as they were), α and floor
 * only for `subtract`.
 */
export function channelOf(c: Pick<RunConfig, 'channel' | 'channel_alpha' | 'channel_floor'>): NativeChannelOptions {
  if (c.channel === 'near') return {};
  if (c.channel !== 'subtract') return { channel: c.channel };
  return { channel: 'subtract', channelAlpha: c.channel_alpha, channelFloor: c.channel_floor };
}

/** What a run extracts with, as far as the channel setting is concerned. */
export type ChannelExtractor = 'raw' | 'ae' | 'multiresnet' | 'beats' | 'eat';

/** The extractor kind of a run config (raw features, the AE, a MultiResNet or a BEATs / EAT encoder). */
export function channelExtractorOf(c: RunConfig): ChannelExtractor {
  const f = c.extract.frontend;
  if (f.type === 'stft_pool') return 'raw';
  if (f.type === 'pretrained') return f.encoder;
  if (c.ae) return 'ae';
  const x = c.model?.extractor;
  return x && 'checkpoint' in x ? x.type : 'multiresnet';
}

/**
 * Refuses a channel mode the extractor cannot take. Subtraction acts on a linear magnitude
 * spectrum, which raw_spec, the AE and the MultiResNet branches have and BEATs / EAT (log-mel
 * fbank of the waveform) do not; both (each channel embedded, side by side) works everywhere.
 */
export function checkChannelFor(channel: ChannelMode | undefined, extractor: ChannelExtractor, recipe?: string): void {
  if (channel === 'subtract' && (extractor === 'beats' || extractor === 'eat')) {
    const name = extractor === 'beats' ? 'BEATs' : 'EAT';
    throw new Error(
      `channel subtract is not possible with the ${name} encoder${recipe ? ` (recipe ${recipe})` : ''}: its log-mel fbank has no ` +
        'linear-magnitude stage to subtract in (subtract works with raw_spec, the AE and the dis_spec/dis_multispec models); use near, far, mean or both',
    );
  }
}

/** A pretrained model's channel field: `both` (subtract is refused, see checkChannelFor). */
function pretrainedChannelOf(encoder: 'beats' | 'eat', c: ChannelSettings | undefined, recipe?: string): { channel?: 'both' } {
  if (!c) return {};
  checkChannelFor(c.channel, encoder, recipe);
  return c.channel === 'both' ? { channel: 'both' } : {};
}

export function aeConfigOf(a: AeSection, c?: Pick<RunConfig, 'channel' | 'channel_alpha' | 'channel_floor'>): AeConfig {
  // The AE's subtraction constants live in its config (and so in its checkpoints), like its STFT's;
  // so does `both`, which doubles its input width. (Subtract stays implied by channelAlpha, so
  // subtract configs and fingerprints are as before.)
  const { channel, channelAlpha, channelFloor } = c ? channelOf(c) : {};
  return {
    nFrames: a.n_frames, hDim: a.h_dim, zDim: a.z_dim, nFft: a.n_fft, hopLength: a.hop_length, nMels: a.n_mels, power: a.power, fMin: a.f_min, fMax: a.f_max,
    ...(channelAlpha === undefined ? {} : { channelAlpha, channelFloor }),
    ...(channel === 'both' ? { channel: 'both' as const } : {}),
  };
}

/** The trainer and datamodule sections, which every trained recipe has (the schema fills their defaults). */
function sectionsOf(c: RunConfig) {
  if (!c.trainer || !c.datamodule) throw new Error(`recipe ${c.recipe} has no trainer/datamodule section to train with`);
  return { t: c.trainer, d: c.datamodule };
}

function settingsOf(c: RunConfig): TrainStepOptions['settings'] {
  const { t, d } = sectionsOf(c);
  return {
    lr: t.lr,
    weightDecay: t.weight_decay,
    beta1: t.betas[0],
    beta2: t.betas[1],
    eps: t.eps,
    warmupSteps: t.warmup_steps,
    cosineSteps: t.cosine_steps,
    lrMin: t.lr_min,
    deterministic: t.deterministic,
    precision: t.precision,
    batchSize: d.batch_size,
    seed: numericSeed(c.seed),
    ioThreads: d.io_threads,
    prefetch: d.prefetch,
  };
}

/** The AE's train-step options for one machine. */
export function aeTrainOptionsOf(c: RunConfig, machine: string): AeTrainStepOptions {
  if (!c.ae) throw new Error(`recipe ${c.recipe} has no AE to train`);
  const { t } = sectionsOf(c);
  return {
    ...runIdsOf(c),
    machine,
    dataDir: c.data_dir,
    model: aeConfigOf(c.ae, c),
    channel: channelOf(c).channel,
    sec: c.extract.sec,
    maxEpochs: t.max_epochs,
    intervalEpochs: t.interval_epochs,
    settings: settingsOf(c),
    validate: c.ae.validate,
    overwrite: c.overwrite,
    device: c.device,
  };
}

export function trainOptionsOf(c: RunConfig, machines: string[]): TrainStepOptions {
  if (!c.model) throw new Error(`recipe ${c.recipe} has no model to train`);
  const { t, d } = sectionsOf(c);
  return {
    ...runIdsOf(c),
    modelVer: t.model_ver,
    dataDir: c.data_dir,
    machines,
    model: modelConfigOf(c.model, c),
    channel: channelOf(c).channel,
    sec: d.sec,
    labelDir: d.label_dir,
    labelSet: d.label_set,
    maxEpochs: t.max_epochs,
    intervalEpochs: t.interval_epochs,
    settings: settingsOf(c),
    overwrite: c.overwrite,
    device: c.device,
  };
}
