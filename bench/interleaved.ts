/**
 * Ours against PyTorch + jemalloc, interleaved: this VM's speed drifts by 10–30 % within minutes,
 * so timing one side after the other can move a ratio by that much. Here the PyTorch baseline
 * (bench/reference/bench.py --serve, one network in memory) and our model alternate in rounds —
 * ours 2 train steps, PyTorch 2, ours 2 inference batches, PyTorch 2 — and each round gives a
 * ratio of the two sides' medians; the figure is the median over rounds, with its range. Train
 * steps: our compute time (Mixup + forward + loss + backward + AdamW; the loader's decoding runs
 * alongside) against PyTorch's whole step on a batch in memory.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import { createInterface } from 'node:readline';
import { native, type TensorLike } from '../src/native/index.js';
import { DisModel } from '../src/train/model.js';
import { SCRIPT, compareCounts, referenceEnv, type Counts } from './reference.js';
import { median, row } from './util.js';

const f = (x: number, digits = 3) => x.toFixed(digits);

/** bench.py --serve: one JSON reply per command line. */
class Reference {
  private readonly child: ChildProcessByStdio<Writable, Readable, null>;
  private readonly replies: AsyncIterator<string>;

  constructor(python: string, jemalloc: string, args: string[]) {
    this.child = spawn(python, [SCRIPT, '--serve', ...args], { env: referenceEnv(jemalloc), stdio: ['pipe', 'pipe', 'inherit'] });
    this.replies = createInterface({ input: this.child.stdout })[Symbol.asyncIterator]();
  }

  async send<T>(command: string): Promise<T> {
    this.child.stdin.write(`${command}\n`);
    const next = await this.replies.next();
    if (next.done) throw new Error(`bench.py --serve ended before answering "${command}"`);
    const reply = JSON.parse(next.value) as T & { error?: string };
    if (reply.error) throw new Error(`bench.py --serve: ${reply.error}`);
    return reply;
  }

  async close(): Promise<void> {
    this.child.stdin.end('quit\n');
    await new Promise((resolve) => this.child.once('exit', resolve));
  }
}

export interface InterleavedOptions {
  python: string;
  jemalloc: string;
  threads: number;
  batch: number;
  samples: number;
  classes: number;
  rounds: number;
  nets: { key: 'dual' | 'multi'; name: string; create: () => DisModel; trainOpts: Parameters<DisModel['trainEpoch']>[2] }[];
  /** The training files (at least 2 batches) and their labels. */
  paths: string[];
  labels: Int32Array;
  /** One batch already in memory, for inference. */
  batchWaves: TensorLike;
}

/** Medians of each side's per-round times, and of the per-round ratios with their range. */
interface Paired {
  ours: number;
  ref: number;
  ratio: number;
  min: number;
  max: number;
}

export interface InterleavedResult {
  key: 'dual' | 'multi';
  train: Paired;
  infer: Paired;
}

const STEPS = 2;

export async function benchInterleaved(o: InterleavedOptions): Promise<InterleavedResult[]> {
  const ref = new Reference(o.python, o.jemalloc, [`--threads=${o.threads}`, `--batch=${o.batch}`, `--samples=${o.samples}`, `--classes=${o.classes}`]);
  const out: InterleavedResult[] = [];
  console.log(
    `interleaved, ours vs PyTorch + jemalloc (${o.rounds} rounds of ${STEPS} train steps and ${STEPS} inference batches per side, ` +
      `alternating; ratio = median over rounds of ours / PyTorch per round, fp32):`,
  );
  try {
    for (const net of o.nets) {
      const ready = await ref.send<{ counts: Counts }>(`net ${net.key}`);
      const model = net.create();
      try {
        const diffs = compareCounts(model.counts(), ready.counts);
        if (diffs.length) throw new Error(`${net.key}: parameter counts differ from the PyTorch baseline: ${diffs.join('; ')}`);
        const train = { paths: o.paths.slice(0, STEPS * o.batch), labels: o.labels.slice(0, STEPS * o.batch), numClasses: o.classes };
        // Warm-ups: one step and one batch on each side.
        await model.trainEpoch({ ...train, paths: train.paths.slice(0, o.batch), labels: train.labels.slice(0, o.batch) }, 0, net.trainOpts);
        await model.embed(o.batchWaves, { batchSize: o.batch });
        await ref.send('train 1');
        await ref.send('infer 1');
        const rounds: { ot: number; rt: number; oi: number; ri: number }[] = [];
        for (let r = 0; r < o.rounds; r++) {
          const res = await model.trainEpoch(train, r + 1, net.trainOpts);
          // Compute only: PyTorch's batch is already in memory (our loader's wait for the first
          // batch of each short epoch would otherwise count against us).
          const ot = median(res.metrics.map((m) => m.computeMs / 1000));
          const rt = median((await ref.send<{ times: number[] }>(`train ${STEPS}`)).times);
          const inf: number[] = [];
          for (let i = 0; i < STEPS; i++) {
            const t0 = performance.now();
            await model.embed(o.batchWaves, { batchSize: o.batch });
            inf.push((performance.now() - t0) / 1000);
          }
          const ri = median((await ref.send<{ times: number[] }>(`infer ${STEPS}`)).times);
          rounds.push({ ot, rt, oi: median(inf), ri });
          console.error(`    · ${net.key} round ${r + 1}/${o.rounds}: train ${f(ot)} / ${f(rt)} s, inference ${f(median(inf))} / ${f(ri)} s (ours / PyTorch)`);
        }
        const summary = (ours: number[], refs: number[]): Paired => {
          const ratios = ours.map((x, i) => x / refs[i]);
          return { ours: median(ours), ref: median(refs), ratio: median(ratios), min: Math.min(...ratios), max: Math.max(...ratios) };
        };
        const res: InterleavedResult = {
          key: net.key,
          train: summary(rounds.map((x) => x.ot), rounds.map((x) => x.rt)),
          infer: summary(rounds.map((x) => x.oi), rounds.map((x) => x.ri)),
        };
        out.push(res);
        const line = (s: Paired) => `ours ${f(s.ours)} s, PyTorch + jemalloc ${f(s.ref)} s → ${f(s.ratio, 2)}× (rounds ${f(s.min, 2)}–${f(s.max, 2)}×)`;
        console.log(row(`  ${net.key} train`, line(res.train)));
        console.log(row(`  ${net.key} infer`, line(res.infer)));
      } finally {
        model.dispose();
        native().releaseCpuCache();
      }
    }
  } finally {
    await ref.close();
  }
  return out;
}
