/**
 * BEATs-base (iter3 configuration) and EAT-base extraction on the CPU: clips/s of the frozen
 * encoders (fbank + transformer + pooling) on 10 s clips in batches of 8, with random weights
 * (speed does not depend on their values, so no official file is needed). In-run baseline: the
 * same clips one at a time (what a per-clip Python loop around the model does).
 */
import { performance } from 'node:perf_hooks';
import { native, type NativeModel } from '../src/native/index.js';
import { median, row } from './util.js';

/** BEATs_iter3's published cfg (spec pretrained §2.1) and EAT-base (§3.1). */
const ENCODERS = {
  'BEATs-base': {
    encoder: 'beats' as const,
    cfg: { input_patch_size: 16, embed_dim: 512, conv_bias: false, encoder_layers: 12, encoder_embed_dim: 768, encoder_ffn_embed_dim: 3072, encoder_attention_heads: 12, deep_norm: true, layer_wise_gradient_decay_ratio: 0.6, dropout: 0, attention_dropout: 0, encoder_layerdrop: 0.05, conv_pos: 128, conv_pos_groups: 16, relative_position_embedding: true, num_buckets: 320, max_distance: 800, gru_rel_pos: true },
  },
  'EAT-base': { encoder: 'eat' as const, cfg: { depth: 12, embed_dim: 768, num_heads: 12, mlp_ratio: 4, max_length: 768 } },
};

const SAMPLES = 160000; // 10 s

function waves(n: number, seed: number): { data: Float32Array; shape: number[] } {
  let s = seed >>> 0;
  const data = new Float32Array(n * SAMPLES);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 4294967296 - 0.5) * 0.2;
  }
  return { data, shape: [n, SAMPLES] };
}

async function embedTime(m: NativeModel, w: { data: Float32Array; shape: number[] }, batchSize: number, repeats: number): Promise<number> {
  await m.embed(w, { batchSize }).promise; // warm-up
  const times: number[] = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    await m.embed(w, { batchSize }).promise;
    times.push((performance.now() - t0) / 1000);
  }
  return median(times);
}

export async function benchPretrained({ quick }: { quick: boolean }): Promise<void> {
  const n = quick ? 4 : 8;
  const repeats = quick ? 1 : 3;
  console.log(`pretrained encoders, frozen extraction of ${n} × 10 s clips (random weights):`);
  for (const [name, e] of Object.entries(ENCODERS)) {
    const model = native().createPretrainedModel({ encoder: e.encoder, encoderConfig: e.cfg, secSamples: SAMPLES });
    const w = waves(n, 7);
    const batched = await embedTime(model, w, n, repeats);
    const single = await embedTime(model, w, 1, repeats);
    console.log(
      row(name, `${(n / batched).toFixed(2)} clips/s batched (${((batched / n) * 1000).toFixed(0)} ms/clip); ` +
        `one at a time ${(n / single).toFixed(2)} clips/s → batching ${(single / batched).toFixed(2)}×; peak RSS ${(process.resourceUsage().maxRSS / 2 ** 20).toFixed(1)} GiB`),
    );
  }
}
