/**
 * The same-run PyTorch baselines: bench/reference/bench.py for the training section (our own
 * plain-PyTorch MultiResNet + SCAdaCos + Mixup, our own code after the spec's description) and
 * bench/reference/raw_spec.py for the extract section (STFT + mel + mean pooling), run with
 * Debian's python3-torch, once with the allocator as installed (glibc malloc) and once with
 * jemalloc preloaded.
 *
 * Python: $ASDKIT_BENCH_PYTHON, else /usr/bin/python3 (Debian's, where python3-torch installs;
 * a pyenv python3 earlier on PATH would not have it), else python3.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REFERENCE_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'reference');
/** bench.py: the training baseline (also bench/interleaved.ts's, with --serve). */
export const SCRIPT = path.join(REFERENCE_DIR, 'bench.py');
const RAW_SPEC_SCRIPT = path.join(REFERENCE_DIR, 'raw_spec.py');
const RECIPE_SCRIPT = path.join(REFERENCE_DIR, 'recipe.py');
export const INSTALL_HINT = 'apt-get install -y python3-torch libjemalloc2';
export const JEMALLOC_CONF = 'retain:true,dirty_decay_ms:-1,muzzy_decay_ms:-1';
const JEMALLOC_PATHS = ['/usr/lib/x86_64-linux-gnu/libjemalloc.so.2', '/usr/lib/aarch64-linux-gnu/libjemalloc.so.2', '/usr/lib64/libjemalloc.so.2'];

export interface Counts {
  trainable: number;
  frozen: number;
  buffers: number;
  embedSize: number;
}

export interface Timing {
  median: number;
  min: number;
  max: number;
  times: number[];
}

export interface RefNetwork {
  key: 'dual' | 'multi';
  counts: Counts;
  /** Multiply-accumulates of one clip's forward through Conv1d/Conv2d/Linear, counted with forward hooks. */
  macs: { total: number; conv1d: number; conv2d: number; linear: number };
  train: Timing & { forward: number; backward: number; adamw: number };
  infer: Timing;
  peakRssMiB: number;
}

export interface RefResult {
  torch: string;
  threads: number;
  ldPreload: string;
  mallocConf: string;
  precision: 'fp32' | 'bf16';
  networks: RefNetwork[];
}

export interface RefOptions {
  threads: number;
  batch: number;
  samples: number;
  classes: number;
  steps: number;
  inferSteps: number;
  nets: string[];
  /** Forward and loss under torch.autocast('cpu', dtype=torch.bfloat16). */
  bf16?: boolean;
}

export function referencePython(): string {
  if (process.env.ASDKIT_BENCH_PYTHON) return process.env.ASDKIT_BENCH_PYTHON;
  return existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
}

/** Why the reference cannot run (no python / no torch), or null when it can. */
export function referenceUnavailable(python: string): string | null {
  const r = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
  if (r.error) return `${python} not runnable (${r.error.message})`;
  if (r.status !== 0) return `\`${python} -c 'import torch'\` failed`;
  return null;
}

export function jemallocPath(): string | null {
  if (process.env.ASDKIT_BENCH_JEMALLOC) return process.env.ASDKIT_BENCH_JEMALLOC;
  return JEMALLOC_PATHS.find((p) => existsSync(p)) ?? null;
}

/** Runs the reference once (progress lines on our stderr); `jemalloc`: the library to preload. */
export function runReference(python: string, opts: RefOptions, jemalloc?: string): RefResult {
  const args = [
    `--threads=${opts.threads}`,
    `--batch=${opts.batch}`,
    `--samples=${opts.samples}`,
    `--classes=${opts.classes}`,
    `--steps=${opts.steps}`,
    `--infer-steps=${opts.inferSteps}`,
    `--nets=${opts.nets.join(',')}`,
    ...(opts.bf16 ? ['--bf16'] : []),
  ];
  return runScript(python, SCRIPT, args, jemalloc) as RefResult;
}

/** Our environment for a reference script: the allocator as installed, or `jemalloc` preloaded. */
export function referenceEnv(jemalloc?: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env.LD_PRELOAD;
  delete env.MALLOC_CONF;
  if (jemalloc) {
    env.LD_PRELOAD = jemalloc;
    env.MALLOC_CONF = JEMALLOC_CONF;
  }
  return env;
}

/** Runs a reference script with the allocator as installed or with `jemalloc` preloaded; its last stdout line is JSON. */
function runScript(python: string, script: string, args: string[], jemalloc?: string): unknown {
  const r = spawnSync(python, [script, ...args], { env: referenceEnv(jemalloc), encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 16 << 20 });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${python} ${path.relative(process.cwd(), script)} exited with ${r.status ?? r.signal}`);
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '');
}

export interface RawSpecRefOptions {
  /** Raw float32 file of `clips` × `samples` waveforms (row-major). */
  waves: string;
  clips: number;
  samples: number;
  /** Where the script writes its (clips × 128) float32 embeddings. */
  out: string;
  batch: number;
  threads: number;
  repeats: number;
}

export interface RawSpecRef extends Timing {
  torch: string;
  threads: number;
  clipsPerS: number;
}

/** bench/reference/raw_spec.py: plain-PyTorch STFT + mel + time-mean pooling of in-memory clips. */
export function runRawSpecReference(python: string, opts: RawSpecRefOptions, jemalloc?: string): RawSpecRef {
  const args = [
    `--waves=${opts.waves}`,
    `--clips=${opts.clips}`,
    `--samples=${opts.samples}`,
    `--out=${opts.out}`,
    `--batch=${opts.batch}`,
    `--threads=${opts.threads}`,
    `--repeats=${opts.repeats}`,
  ];
  return runScript(python, RAW_SPEC_SCRIPT, args, jemalloc) as RawSpecRef;
}

export interface RecipeRefOptions {
  /** The formatted folder: <data-dir>/formatted/<dcase>/raw. */
  root: string;
  epochs: number;
  sec: number;
  batch: number;
  threads: number;
}

export interface RecipeRef {
  torch: string;
  threads: number;
  train: number;
  test: number;
  classes: number;
  seconds: { decode: number; train: number; extract: number; score: number; total: number };
  auc: Record<string, number>;
}

/** bench/reference/recipe.py: a whole dual-branch recipe (decode, train, embed, k-NN score) in plain PyTorch. */
export function runRecipeReference(python: string, opts: RecipeRefOptions, jemalloc?: string): RecipeRef {
  const args = [`--root=${opts.root}`, `--epochs=${opts.epochs}`, `--sec=${opts.sec}`, `--batch=${opts.batch}`, `--threads=${opts.threads}`];
  return runScript(python, RECIPE_SCRIPT, args, jemalloc) as RecipeRef;
}

/** The count fields that differ between ours and the reference (empty: all equal). */
export function compareCounts(ours: Counts, ref: Counts): string[] {
  return (['trainable', 'frozen', 'buffers', 'embedSize'] as const).filter((k) => ours[k] !== ref[k]).map((k) => `${k} ours ${ours[k]} vs PyTorch ${ref[k]}`);
}
