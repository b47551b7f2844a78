/**
 * The discriminative recipes (spec frontends-and-training §7.8): one MultiResNet trained on all
 * machines' training clips to classify the `main` labels, extracted from `last.ckpt`, scored by
 * ASDKit's default back-ends.
 */
import type { RecipeDefinition, RunConfigInput } from '../run/index.js';
import { trainedRecipe } from './define.js';

type ModelInput = NonNullable<RunConfigInput['model']>;

/** FFT + STFT(1024/512): E = 256. */
const DUAL = [{ kind: 'fft' as const }, { kind: 'stft' as const, n_fft: 1024, hop_length: 512 }];
/** FFT + STFT(256/128, 1024/512, 4096/2048): E = 512. */
const MULTI = [
  { kind: 'fft' as const },
  { kind: 'stft' as const, n_fft: 256, hop_length: 128 },
  { kind: 'stft' as const, n_fft: 1024, hop_length: 512 },
  { kind: 'stft' as const, n_fft: 4096, hop_length: 2048 },
];

const SCAC_FIXED = { type: 'scadacos' as const, n_subclusters: 16, trainable: false, dynamic: false };
const SCAC_TRAINABLE = { ...SCAC_FIXED, trainable: true };
const ADACOS_FIXED = { type: 'adacos' as const, trainable: false, dynamic: false };

function dis(name: string, description: string, model: Omit<ModelInput, 'extractor'> & { branches?: typeof DUAL }): RecipeDefinition {
  const { branches = DUAL, ...rest } = model;
  return trainedRecipe(name, description, { extractor: { type: 'multiresnet', branches, emb_base_size: 128, use_bias: false }, ...rest });
}

export const DIS_RECIPES: RecipeDefinition[] = [
  dis('dis_spec_adacos_fixed', 'dual-branch MultiResNet, AdaCos with fixed centres, Mixup', { loss: ADACOS_FIXED, mixup_prob: 0.5 }),
  dis('dis_spec_adacos_fixed_wo_mixup', 'dual-branch MultiResNet, AdaCos with fixed centres, no Mixup', { loss: ADACOS_FIXED, mixup_prob: 0 }),
  dis('dis_spec_scac_fixed', 'dual-branch MultiResNet, sub-cluster AdaCos (K 16) with fixed centres, Mixup', { loss: SCAC_FIXED, mixup_prob: 0.5 }),
  dis('dis_spec_scac_trainable', 'dual-branch MultiResNet, sub-cluster AdaCos (K 16) with trainable centres, Mixup', {
    loss: SCAC_TRAINABLE,
    mixup_prob: 0.5,
  }),
  dis('dis_spec_featex', 'dual-branch MultiResNet, SCAdaCos fixed + FeatEx head (3C classes), Mixup', {
    loss: SCAC_FIXED,
    mixup_prob: 0.5,
    technique: { type: 'featex', prob: 0.5, subspace_embed_size: 128, weight: 1.0 },
  }),
  dis('dis_spec_subspaceloss', 'dual-branch MultiResNet, SCAdaCos fixed + two subspace heads, Mixup', {
    loss: SCAC_FIXED,
    mixup_prob: 0.5,
    technique: { type: 'subspace', subspace_embed_size: 128, weight: 1.0 },
  }),
  dis('dis_multispec_scac_trainable', 'multi-branch MultiResNet (FFT + STFT 256/1024/4096), SCAdaCos trainable, Mixup', {
    loss: SCAC_TRAINABLE,
    mixup_prob: 0.5,
    branches: MULTI,
  }),
];
