/**
 * One way to build what a run extracts with, used by `runRecipe`, the step commands and every
 * later consumer: a raw-feature frontend (raw_spec), a frozen pretrained encoder (raw_beats,
 * raw_eat), or a trained model restored from its checkpoint (dis_*: `model/<model_ver>`; the AE:
 * `model/<machine>`).
 */
import { cropSamples, resolveSec } from '../dcase/index.js';
import type { NativeChannelOptions, NativeFrontendConfig } from '../native/index.js';
import { checkpointDir, runIdsOf, type RunConfig } from '../run/index.js';
import { selectCheckpoint } from '../train/checkpoint.js';
import { loadModel, PretrainedModel, type AnyModel, type PretrainedConfig } from '../train/model.js';
import { channelExtractorOf, channelOf, checkChannelFor, predictionModeOf } from './from-config.js';

/**
 * A frontend config (no native memory) or a model (dispose it when done) and the file it came
 * from (part of the extract step's fingerprint: a retrained or replaced checkpoint makes extracts stale).
 */
export type Extractor = ({ frontend: NativeFrontendConfig; model?: undefined; source?: undefined } | { model: AnyModel; frontend?: undefined; source: string }) & {
  /** The run's channel settings (empty: near). */
  channel?: NativeChannelOptions;
};

/** The raw-feature frontend of a run config (undefined for the model-based recipes). */
export function frontendOf(c: RunConfig): NativeFrontendConfig | undefined {
  const f = c.extract.frontend;
  if (f.type !== 'stft_pool') return undefined;
  return {
    type: 'stft_pool',
    pool: f.pool ?? c.infer_ver,
    nFft: f.n_fft,
    hopLength: f.hop_length,
    nMels: f.n_mels,
    power: f.power,
    fMin: f.f_min,
    fMax: f.f_max,
    useLog: f.use_log,
    temporalNorm: f.temporal_norm,
  };
}

/** Whether the run's extractor differs per machine (the AE: one model each). */
export const extractorPerMachine = (c: RunConfig): boolean => c.ae !== undefined;

/** The frozen encoder of raw_beats / raw_eat (undefined for the other recipes). */
export function frozenEncoderOf(c: RunConfig): PretrainedConfig | undefined {
  const f = c.extract.frontend;
  if (f.type !== 'pretrained') return undefined;
  const sec = resolveSec(c.extract.sec ?? c.dcase);
  if (sec === null) throw new Error(`${c.recipe}: the pretrained encoders need a fixed clip length (extract.sec)`);
  checkChannelFor(c.channel, f.encoder, c.recipe);
  // channel both: the encoder embeds each channel and the two embeddings are concatenated (2E).
  const both = c.channel === 'both' ? { channel: 'both' as const } : {};
  return { encoder: f.encoder, checkpoint: f.checkpoint, secSamples: cropSamples(sec), ...predictionModeOf(f.encoder, f.prediction_mode), ...both };
}

/**
 * The extractor of a run (for the AE, of `machine`'s model). Trained models come from the
 * checkpoint `infer_ver` names (`last`, `best`, …); a missing one is an error that says so.
 */
export async function resolveExtractor(c: RunConfig, machine?: string): Promise<Extractor> {
  const f = c.extract.frontend;
  const channel = channelOf(c);
  checkChannelFor(channel.channel, channelExtractorOf(c), c.recipe);
  if (f.type === 'stft_pool') return { frontend: frontendOf(c)!, channel };
  const frozen = frozenEncoderOf(c);
  if (frozen) return { model: await PretrainedModel.create(frozen), source: frozen.checkpoint, channel };
  const file = await checkpointFileOf(c, machine);
  return { model: (await loadModel(file)).model, source: file, channel };
}

/**
 * The checkpoint a trained run extracts with: `model/<model_ver>` (the AE: `model/<machine>`),
 * the file `infer_ver` names (`last`, `best`, …); a missing one is an error that says so.
 */
export async function checkpointFileOf(c: RunConfig, machine?: string): Promise<string> {
  let modelVer: string;
  if (c.ae) {
    if (!machine) throw new Error(`${c.recipe}: each machine has its own model; name the machine`);
    modelVer = machine;
  } else if (c.model) {
    modelVer = c.trainer?.model_ver ?? 'all';
  } else {
    throw new Error(`${c.recipe}: extract.frontend "restore" needs a model or ae section`);
  }
  return selectCheckpoint(checkpointDir(runIdsOf(c), modelVer), c.infer_ver);
}
