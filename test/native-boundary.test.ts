import test from 'ava';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { encodeWav16 } from '../src/data/wav.js';
import { native, type NativeEmbedSet, type TensorLike } from '../src/native/index.js';
import { AeModel } from '../src/train/model.js';

// The native boundary (cpp/addon): one error mapping, job stacks, dispose, bounded jobs, and the
// ordering of progress and step events against their promise.

const tmp = fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-boundary-'));

function noise(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 0.5;
  });
}

/** `n` distinct 1 s clips; written once per name. */
async function clips(name: string, n: number): Promise<string[]> {
  const dir = path.join(await tmp, name);
  await fs.mkdir(dir, { recursive: true });
  return Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const file = path.join(dir, `${i}.wav`);
      await fs.writeFile(file, encodeWav16(noise(16000, i + 1), 16000));
      return file;
    }),
  );
}

const waves = (rows: number, samples: number): TensorLike => ({ data: noise(rows * samples, 99), shape: [rows, samples] });
const pool = { frontend: { type: 'stft_pool' as const, pool: 'time_mean' }, length: 0, batchSize: 4 };
const embedSet = (rows: number): NativeEmbedSet => ({
  embed: { data: noise(rows * 4, rows), shape: [rows, 4] },
  section: new Int32Array(rows),
  isTarget: new Int32Array(rows),
});

test('errors: wrong types are TypeErrors, bad values RangeErrors, core failures coded Errors', async (t) => {
  const addon = native();
  const type = t.throws(() => addon.createDisModel(3 as never), { instanceOf: TypeError });
  t.is((type as Error & { code: string }).code, 'ASDKIT_ARG_TYPE');
  // An unknown backend and an unknown metric are the same kind of mistake: a bad value.
  const backend = t.throws(() => addon.backendScore({ kind: 'Nope', params: {} }, embedSet(3), [embedSet(2)]), { instanceOf: RangeError });
  t.is((backend as Error & { code: string }).code, 'ASDKIT_ARG_VALUE');
  t.throws(() => addon.backendScore({ kind: 'Knn', params: { metric: 'manhattan' } }, embedSet(3), [embedSet(2)]), { instanceOf: RangeError, message: /metric/ });
  t.throws(() => addon.createDisModel({ secSamples: 16000, branches: [{ kind: 'wavelet' } as never], numClasses: 2, head: { type: 'scadacos' } }), {
    instanceOf: RangeError,
    message: /branches\[0\]\.kind/,
  });
  // The device goes in the options object; the old positional string is refused.
  t.throws(() => addon.backendScore({ kind: 'Knn', params: {} }, embedSet(3), [embedSet(2)], 'cpu' as never), { instanceOf: TypeError });
  // nInit is read: 0 restarts is a bad value the core refuses.
  await t.throwsAsync(addon.backendScore({ kind: 'Kmeans', params: { n_clusters: 2 }, nInit: 0 }, embedSet(6), [embedSet(2)], { device: 'cpu' }).promise, {
    instanceOf: RangeError,
    message: /n_init/,
  });
  const core = await t.throwsAsync(addon.readWav(path.join(await tmp, 'absent.wav'), 0).promise);
  t.is((core as Error & { code: string }).code, 'ASDKIT_CORE');
  t.regex(core!.message, /absent\.wav/);
});

async function decodeAMissingFile(file: string) {
  return native().readWav(file, 0).promise;
}

test('a rejected job carries the JavaScript stack of the call that started it', async (t) => {
  const err = await t.throwsAsync(decodeAMissingFile(path.join(await tmp, 'nowhere.wav')));
  t.regex(err!.stack!, /^Error: .*nowhere\.wav/);
  t.regex(err!.stack!, /decodeAMissingFile/);
  t.regex(err!.stack!, /native-boundary\.test/);
});

test.serial('dispose frees the model at once (V8 external memory), later calls throw, twice is a no-op', async (t) => {
  const addon = native();
  const before = addon.info().models;
  const handle = addon.createAeModel({ hDim: 512 });
  const bytes = Object.values(handle.stateDict()).reduce((n, t) => n + t.data.byteLength, 0);
  t.deepEqual(addon.info().models, { live: before.live + 1, bytes: before.bytes + bytes });
  handle.dispose();
  t.deepEqual(addon.info().models, before);
  t.notThrows(() => handle.dispose());
  t.deepEqual(addon.info().models, before);

  // The training table and the AdamW moments are counted when they appear, and freed with the rest.
  const ae = addon.createAeModel({ seed: 3 });
  const base = addon.info().models.bytes;
  const v = await ae.prepareVectors(await clips('memory', 4), {}).promise;
  t.is(addon.info().models.bytes, base + 4 * v.rows * v.dim);
  await ae.trainEpoch({}, { epoch: 0, batchSize: 64 }).promise;
  t.is(addon.info().models.bytes, base + 4 * v.rows * v.dim + 2 * 4 * ae.counts().trainable);
  ae.dispose();
  t.deepEqual(addon.info().models, before);
  const err = t.throws(() => handle.counts(), { message: /this AeModel has been disposed/ });
  t.is((err as Error & { code: string }).code, 'ASDKIT_DISPOSED');
  t.throws(() => handle.embed(waves(1, 16000), {}), { message: /has been disposed/ });

  // The TypeScript class, with `using`'s hook.
  const model = AeModel.create({}, 0);
  t.false(model.disposed);
  model[Symbol.dispose]();
  t.true(model.disposed);
  await t.throwsAsync(model.embed(waves(1, 16000)), { message: /has been disposed/ });
  t.notThrows(() => model.dispose());
});

test.serial('dispose during a job neither waits nor cancels: the job settles, then the model is gone', async (t) => {
  const paths = await clips('dispose', 6);
  const model = AeModel.create({}, 0);
  const job = model.prepareVectors(paths);
  model.dispose();
  const r = await job;
  t.is(r.dim, 640);
  t.true(r.rows > 0);
  await t.throwsAsync(model.trainEpoch(0, {}), { message: /has been disposed/ });
});

test.serial('native jobs are bounded per device; a queued job cancels without running', async (t) => {
  const addon = native();
  try {
    // Enough work that the running job outlasts the cancellation's trip through the event loop
    // (24 × 10 s took ~5 ms with the AVX-512 STFT, and job 0 could settle first).
    const clipsN = 96;
    const w = waves(clipsN, 480000);
    addon.setMaxJobs(1);
    const progress: number[][] = [[], [], []];
    const jobs = [0, 1, 2].map((k) => addon.frontendForward(w, pool, (done) => progress[k].push(done)));
    jobs[2].cancel();
    const settled: number[] = [];
    const results = await Promise.allSettled(jobs.map((j, k) => j.promise.finally(() => settled.push(k))));
    t.deepEqual(results.map((r) => r.status), ['fulfilled', 'fulfilled', 'rejected']);
    t.is(((results[2] as PromiseRejectedResult).reason as Error).name, 'AbortError');
    t.deepEqual(progress[2], [], 'the cancelled job never ran');
    t.is(settled[0], 2, 'the queued job was cancelled at once, not when its turn came');
    t.is(addon.info().jobs.peakRunning, 1, 'never two jobs at once');
    t.is(progress[0].at(-1), clipsN);
    t.is(progress[1].at(-1), clipsN);

    // The counter does see overlap when it is allowed.
    addon.setMaxJobs(3);
    await Promise.all([0, 1, 2].map(() => addon.frontendForward(w, pool).promise));
    t.true(addon.info().jobs.peakRunning >= 2, `peak ${addon.info().jobs.peakRunning} with 3 allowed`);
    t.throws(() => addon.setMaxJobs(0), { instanceOf: RangeError });
  } finally {
    addon.setMaxJobs(1);
  }
});

test('prepareVectors reports progress from several decoder threads in order, ending at (n, n)', async (t) => {
  const paths = await clips('vectors', 40);
  const model = AeModel.create({}, 0);
  const seen: Array<[number, number]> = [];
  await model.prepareVectors(paths, { ioThreads: 4, onProgress: (done, total) => seen.push([done, total]) });
  t.true(seen.length > 0);
  t.true(seen.every(([d, n], i) => n === 40 && (i === 0 || d > seen[i - 1][0])), JSON.stringify(seen));
  t.deepEqual(seen.at(-1), [40, 40]);
  model.dispose();
});

test('a running epoch holds the model: optimizerState is refused as busy, not raced', async (t) => {
  const paths = await clips('busy', 8);
  const handle = native().createAeModel({ seed: 1 });
  await handle.prepareVectors(paths, {}).promise;
  const job = handle.trainEpoch({}, { epoch: 0, batchSize: 8 });
  const err = t.throws(() => handle.optimizerState(), { message: /busy/ });
  t.is((err as Error & { code: string }).code, 'ASDKIT_BUSY');
  const r = await job.promise;
  t.true(r.steps > 0);
  t.true(Object.keys(handle.optimizerState().tensors).length > 0);
  handle.dispose();
});

test('every onStep call of an epoch happens before its promise settles', async (t) => {
  const paths = await clips('steps', 8);
  const handle = native().createAeModel({ seed: 2 });
  await handle.prepareVectors(paths, {}).promise;
  for (let epoch = 0; epoch < 3; epoch++) {
    let steps = 0;
    let atSettle = -1;
    const job = handle.trainEpoch({}, { epoch, batchSize: 4 }, () => steps++);
    const r = await job.promise.then((res) => {
      atSettle = steps;
      return res;
    });
    t.true(r.steps > 10);
    t.is(atSettle, r.steps, `epoch ${epoch}: ${atSettle} of ${r.steps} step events before the promise settled`);
  }
  handle.dispose();
});

test('readWav reports its one file as (1, 1) before it resolves', async (t) => {
  const [file] = await clips('readwav', 1);
  const seen: Array<[number, number]> = [];
  const w = await native().readWav(file, 0, (done, total) => seen.push([done, total])).promise;
  t.is(w.data.length, 16000);
  t.deepEqual(seen, [[1, 1]]);
});
