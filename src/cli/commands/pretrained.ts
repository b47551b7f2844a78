/**
 * `asdkit pretrained` (the official BEATs/EAT files and where they go), `asdkit pretrained check
 * <file>` (reads one and compares it with the key table of its config) and `asdkit
 * import-checkpoint` (an ASDKit Lightning `.ckpt` of a dis_* recipe → our checkpoint).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { Argv, CommandModule } from 'yargs';
import { cropSamples, resolveSec } from '../../dcase/index.js';
import { safeDtypeOf, type SafeTensor } from '../../io/safetensors.js';
import { readLightningCheckpoint, SAFE_OF_TORCH } from '../../io/torch-checkpoint.js';
import { checkPretrained, type PretrainedKind, type PretrainedReport } from '../../pretrained/check.js';
import { PRETRAINED_SOURCES, downloadHint, resolvePretrained } from '../../pretrained/sources.js';
import { resolveRunConfig } from '../../recipes/resolve.js';
import { numericSeed } from '../../run/index.js';
import { exists } from '../../util/files.js';
import { modelConfigOf } from '../../steps/from-config.js';
import type { TensorDict } from '../../native/index.js';
import { DisModel, PretrainedModel, type CheckpointInfo } from '../../train/model.js';

const num = (n: number) => n.toLocaleString('en-US');

/** At most `max` names, then a count of the rest. */
function list(names: string[], max = 20): string {
  if (!names.length) return 'none';
  const more = names.length > max ? `\n    … and ${names.length - max} more` : '';
  return names.slice(0, max).map((n) => `\n    ${n}`).join('') + more;
}

export function formatReport(r: PretrainedReport): string {
  const cfg = Object.entries(r.cfg).map(([k, v]) => `${k}=${String(v)}`).join(' ');
  const lines = [
    `file:        ${r.file} (${num(r.fileSize)} bytes, ${r.format === 'torch' ? 'torch.save zip' : 'safetensors'})`,
    `kind:        ${r.kind}`,
    `config:      ${cfg}${r.defaulted.length ? ` (from the file-name defaults: ${r.defaulted.join(', ')})` : ''}`,
    `keys:        ${r.keys} (expected ${r.expectedKeys})`,
    `parameters:  ${num(r.parameters)} (${num(r.storedNumbers)} numbers stored)`,
    `missing:     ${list(r.missing)}`,
    `unexpected:  ${list(r.unexpected)}`,
    `wrong shape: ${list(r.wrongShape.map((w) => `${w.key}: [${w.shape.join(', ')}], expected [${w.expected.join(', ')}]`))}`,
    ...(r.wrongDtype.length ? [`wrong dtype: ${list(r.wrongDtype.map((w) => `${w.key}: ${w.dtype}, expected float32`))}`] : []),
    ...(r.nonFinite ? [`non-finite:  ${num(r.nonFinite)} values`] : []),
    ...(r.dropped.length ? [`skipped:     ${r.dropped.length} keys (${[...new Set(r.dropped.map((d) => d.split('.').slice(0, 3).join('.')))].slice(0, 5).join(', ')})`] : []),
    ...r.notes.map((n) => `note:        ${n}`),
    `result:      ${r.ok ? 'OK' : 'FAILED'}`,
  ];
  return lines.join('\n');
}

const checkCommand: CommandModule<object, { file: string; kind?: PretrainedKind }> = {
  command: 'check <file>',
  describe: 'read a BEATs/EAT checkpoint (.pt, or the EAT safetensors folder) and compare its keys and shapes with its config; exit 1 on a mismatch',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: 'the checkpoint, or an official file name for its default location' })
      .option('kind', { choices: ['beats', 'eat'] as const, describe: 'default: recognised from the content' }) as unknown as Argv<{ file: string; kind?: PretrainedKind }>,
  handler: async (a) => {
    const report = await checkPretrained(await resolvePretrained(a.file), a.kind);
    console.log(formatReport(report));
    if (!report.ok) process.exitCode = 1;
  },
};

export const pretrainedCommand: CommandModule = {
  command: 'pretrained',
  describe: 'the official BEATs/EAT checkpoints: where to download them and where to put them (`pretrained check <file>` validates one)',
  builder: (y) => y.command(checkCommand),
  handler: async () => {
    console.log('Official pretrained checkpoints (nothing downloads them automatically; paths are relative to the working directory):\n');
    for (const s of PRETRAINED_SOURCES) {
      const present = await fs.stat(s.defaultPath).then((st) => st.isFile(), () => false);
      console.log(`${downloadHint(s)}\n  status:   ${present ? 'present' : s.required ? 'missing' : 'missing (optional)'}\n`);
    }
    console.log('The Hugging Face EAT release (a folder with model.safetensors and config.json) is read as well.');
  },
};

interface ImportArgs {
  file: string;
  out: string;
  recipe: string;
  dcase: string;
  set: string[];
  /** Replace an existing `out` (a trained last.ckpt holds the optimizer state too). */
  overwrite?: boolean;
}


/**
 * Converts an ASDKit Lightning checkpoint of a dis_* model: the recipe and edition give the
 * architecture and clip length (Lightning's hyper-parameters are omegaconf objects we do not
 * interpret), the class count comes from `head_dict.main.W`, and every tensor must match the
 * model's state dict by name, shape and dtype. BEATs / EAT (LoRA) checkpoints hold the trainable
 * tensors under peft's names, which are mapped to ours; the encoder comes from the official file.
 * An existing `out` is refused unless `overwrite`.
 */
export async function importAsdkitCheckpoint(o: Omit<ImportArgs, 'set'> & { set?: string[] }): Promise<{ numClasses: number; tensors: number; epoch: number }> {
  if (!o.overwrite && (await exists(o.out))) {
    throw new Error(`${o.out} already exists (it may be a trained checkpoint with its optimizer state); choose another --out or add --overwrite`);
  }
  const c = resolveRunConfig(o.recipe, { dcase: o.dcase }, o.set ?? []);
  if (!c.model) throw new Error(`recipe ${o.recipe} has no trained model; name the dis_* recipe the checkpoint was trained with`);
  const arch = modelConfigOf(c.model);
  const sec = resolveSec(c.datamodule?.sec ?? c.dcase);
  if (sec === null) throw new Error('the model needs a fixed clip length (datamodule.sec "all" is not possible)');
  const secSamples = cropSamples(sec);
  const seed = numericSeed(c.seed);

  const ckpt = await readLightningCheckpoint(o.file);
  const state = 'encoder' in arch ? new Map([...ckpt.state].map(([k, t]) => [ourLoraName(k), t])) : ckpt.state;
  const W = state.get('head_dict.main.W');
  if (!W || W.shape.length !== 2) throw new Error(`${o.file}: no 2-d head_dict.main.W in state_dict (is it a dis_* checkpoint?)`);
  let model: DisModel | PretrainedModel;
  let numClasses: number;
  let want: TensorDict;
  if ('encoder' in arch) {
    // SCAdaCos keeps n_subclusters centres per class; the other heads one.
    const perClass = c.model.loss.type === 'scadacos' ? c.model.loss.n_subclusters : 1;
    numClasses = W.shape[1] / perClass;
    checkClasses(o, W.shape[1], perClass, numClasses);
    const keepBnStats = [...state.keys()].some((k) => /^extractor\.projection_net\..*running_mean$/.test(k));
    model = await PretrainedModel.create({ ...arch, keepBnStats, secSamples, numClasses }, seed);
    want = model.stateDict({ trainableOnly: true, buffers: keepBnStats });
    // Frozen encoder weights saved alongside (save_only_trainable off) equal the official file's: not kept.
    for (const k of [...state.keys()]) if (k.startsWith('extractor.model.') && !want[k]) state.delete(k);
  } else {
    // A two-class model tells how many columns of W one class takes (sub-clusters).
    const perClass = DisModel.create({ ...arch, secSamples, numClasses: 2 }, seed).stateDict()['head_dict.main.W'].shape[1] / 2;
    numClasses = W.shape[1] / perClass;
    checkClasses(o, W.shape[1], perClass, numClasses);
    model = DisModel.create({ ...arch, secSamples, numClasses }, seed);
    want = model.stateDict();
  }

  const problems: string[] = [];
  const tensors: Record<string, SafeTensor> = {};
  for (const [name, t] of state) {
    const w = want[name];
    const dtype = SAFE_OF_TORCH[t.dtype];
    if (!w) problems.push(`unexpected ${name}`);
    else if (w.shape.join() !== t.shape.join()) problems.push(`${name}: shape [${t.shape.join(', ')}], the model has [${w.shape.join(', ')}]`);
    else if (dtype !== safeDtypeOf(w.data)) problems.push(`${name}: dtype ${t.dtype}, the model has ${safeDtypeOf(w.data)}`);
    else tensors[name] = { dtype, shape: t.shape, data: t.data as SafeTensor['data'] };
  }
  for (const name of Object.keys(want)) if (!state.has(name)) problems.push(`missing ${name}`);
  if (problems.length) {
    throw new Error(`${o.file} does not match recipe ${o.recipe} (${o.dcase}, ${numClasses} classes):${list(problems)}`);
  }
  const info: CheckpointInfo = {
    epoch: ckpt.epoch ?? 0,
    globalStep: ckpt.globalStep ?? 0,
    loss: NaN,
    train: {},
    extra: { importedFrom: path.resolve(o.file), recipe: o.recipe, dcase: o.dcase, lightningHyperParameters: ckpt.hyperParameterNames },
  };
  model.loadState(tensors, info, false);
  await model.save(o.out, info);
  return { numClasses, tensors: Object.keys(tensors).length, epoch: info.epoch };
}

/** peft's wrapping → our names: `extractor.model.base_model.model.<p>.lora_A.default.weight` → `extractor.model.<p>.lora_A`, `<p>.base_layer.weight` → `<p>.weight`. */
export function ourLoraName(k: string): string {
  return k
    .replace(/^extractor\.model\.base_model\.model\./, 'extractor.model.')
    .replace(/\.(lora_[AB])\.default\.weight$/, '.$1')
    .replace(/\.base_layer\.(weight|bias)$/, '.$1');
}

function checkClasses(o: { file: string; recipe: string }, columns: number, perClass: number, numClasses: number): void {
  if (!Number.isInteger(numClasses)) throw new Error(`${o.file}: head_dict.main.W has ${columns} columns, not a multiple of ${perClass} (recipe ${o.recipe})`);
}

export const importCheckpointCommand: CommandModule<object, ImportArgs> = {
  command: 'import-checkpoint <file>',
  describe: 'convert an ASDKit Lightning .ckpt of a dis_* model (MultiResNet, or BEATs/EAT with LoRA) into an asdkit checkpoint',
  builder: (y) =>
    y
      .positional('file', { type: 'string', demandOption: true, describe: "ASDKit's checkpoint (e.g. …/checkpoints/last.ckpt)" })
      .option('out', { type: 'string', demandOption: true, describe: 'the asdkit checkpoint to write' })
      .option('recipe', { type: 'string', demandOption: true, describe: 'the dis_* recipe the model was trained with, e.g. dis_spec_scac_trainable' })
      .option('dcase', { type: 'string', demandOption: true, describe: 'the DCASE edition it was trained on, e.g. dcase2023 (gives the clip length)' })
      .option('set', { type: 'string', array: true, default: [] as string[], describe: 'config overrides the training used, e.g. datamodule.sec=10' })
      .option('overwrite', { type: 'boolean', describe: 'replace an existing --out file' })
      .epilog(
        "Lightning's stored hyper-parameters (omegaconf objects) are not interpreted, so --recipe and --dcase must name the " +
          'configuration the model was trained with; the class count is read from head_dict.main.W and every tensor is checked ' +
          'against that model. To extract or score with it, write it as results/<name>/<dcase>/<version>/<seed>/model/all/checkpoints/last.ckpt.',
      )
      .version(false) as unknown as Argv<ImportArgs>,
  handler: async (a) => {
    const r = await importAsdkitCheckpoint(a);
    console.log(`wrote ${a.out}: ${r.tensors} tensors, ${r.numClasses} classes, epoch ${r.epoch} (recipe ${a.recipe}, ${a.dcase})`);
  },
};
