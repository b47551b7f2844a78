/**
 * The scoring service under load (autocannon, 127.0.0.1 only, bounded in time): requests/s and
 * p50/p99 latency of POST /v1/detectors/<name>/score with one 10 s WAV per request, for a raw_spec
 * and a dis_spec_scac_trainable detector at 1, 8 and 64 connections; against, in the same run,
 * `detector.score` called directly on the same clip in batches of the server's --max-batch (the
 * ratio is the service's overhead: HTTP, queueing, decoding from memory, JSON).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import autocannon from 'autocannon';
import { synthesize } from '../src/data/synth/index.js';
import { Detector } from '../src/detector/detector.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { createServer } from '../src/serve/server.js';
import { exportDetector } from '../src/steps/export.js';
import { median, row } from './util.js';

const KNN = '{tgt_class: asdkit.backends.Knn, n_neighbors_so: 1, n_neighbors_ta: 1}';
const MAX_BATCH = 16;

export async function benchServe({ quick }: { quick: boolean }): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-bench-serve-'));
  const seconds = quick ? 3 : 8;
  try {
    const dataDir = path.join(root, 'data');
    await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 2, seconds: 10, machines: ['fan'], trainPerSection: { source: 40, target: 4 }, testPerSection: 5 });
    const testDir = path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'test');
    const clip = await fs.readFile(path.join(testDir, (await fs.readdir(testDir)).sort()[0]));
    console.log(`serve: POST one 10 s WAV (${(clip.length / 1024).toFixed(0)} KiB, tiled to 18 s) per request, autocannon on 127.0.0.1, ${seconds} s per point, --max-batch ${MAX_BATCH} --max-wait-ms 20; direct = detector.score on batches of ${MAX_BATCH} in memory (decodeBuffers + frontend + backend), median of 3`);
    const recipes = [
      { recipe: 'raw_spec', set: [] as string[] },
      { recipe: 'dis_spec_scac_trainable', set: ['trainer.max_epochs=1', `datamodule.label_dir=${path.join(root, 'labels')}`] },
    ];
    for (const r of recipes) {
      const config = resolveRunConfig(r.recipe, { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, 'results'), machines: ['fan'] }, [...r.set, `score.backend=[${KNN}]`, 'visualize.enabled=false']);
      await runRecipe(config);
      const dir = path.join(root, `detector-${r.recipe}`);
      await exportDetector({ config, machine: 'fan', out: dir });
      const detector = await Detector.load(dir);
      const batch = Array.from({ length: MAX_BATCH }, () => new Uint8Array(clip));
      await detector.scoreBuffers(batch); // warm-up
      const direct: number[] = [];
      for (let i = 0; i < 3; i++) {
        const t0 = performance.now();
        await detector.scoreBuffers(batch, { batchSize: MAX_BATCH });
        direct.push(MAX_BATCH / ((performance.now() - t0) / 1000));
      }
      const directRate = median(direct);
      console.log(`${r.recipe}:`);
      console.log(row('direct', `${directRate.toFixed(1)} clips/s`, 14));
      const app = createServer({ detectors: { fan: detector }, maxBatch: MAX_BATCH, maxWaitMs: 20, maxQueue: 1024 });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const address = app.server.address() as { port: number };
      try {
        for (const connections of [1, 8, 64]) {
          const res = await autocannon({
            url: `http://127.0.0.1:${address.port}/v1/detectors/fan/score`,
            method: 'POST', headers: { 'content-type': 'audio/wav' }, body: clip,
            connections, duration: seconds, timeout: 120,
          });
          const ok = res['2xx'];
          const rps = ok / res.duration;
          console.log(
            row(`${connections} conn.`, `${rps.toFixed(1)} req/s (${ok} answered, ${res.non2xx} not 2xx, ${res.errors} errors); latency p50 ${res.latency.p50} ms, p99 ${res.latency.p99} ms; ` +
              `service / direct ${(rps / directRate).toFixed(2)}`, 14),
          );
        }
        const metrics = await (await fetch(`http://127.0.0.1:${address.port}/metrics`)).text();
        const sum = Number(/asdkit_batch_size_sum\{detector="fan"\} (\S+)/.exec(metrics)?.[1]);
        const count = Number(/asdkit_batch_size_count\{detector="fan"\} (\S+)/.exec(metrics)?.[1]);
        console.log(row('batches', `mean batch size ${(sum / count).toFixed(1)} over ${count} batches`, 14));
      } finally {
        await app.close();
        detector.dispose();
      }
    }
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}
