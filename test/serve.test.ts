/**
 * The scoring service: answers equal `detector.score` (what `asdkit detect` writes) on the same
 * clips; concurrent requests share batches and each gets its own clip's answer; 413 / 400 / 503
 * / 401 / 404; graceful close answers every accepted request; a client that disconnects
 * mid-upload leaves nothing behind. Servers bind 127.0.0.1 only; loads are small and bounded.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { synthesize } from '../src/data/synth/index.js';
import { Detector } from '../src/detector/detector.js';
import { resolveRunConfig } from '../src/recipes/resolve.js';
import { runRecipe } from '../src/recipes/run.js';
import { KNN_PLAIN } from '../src/run/index.js';
import { createServer, type ClipAnswer } from '../src/serve/server.js';
import { exportDetector } from '../src/steps/export.js';
import { cli } from './helpers/cli.js';

const setup = (async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-serve-'));
  const dataDir = path.join(root, 'data');
  await synthesize({ dataDir, dcase: 'dcase2023', size: 'tiny', seed: 5, seconds: 1, machines: ['fan'], trainPerSection: { source: 12, target: 3 }, testPerSection: 4 });
  const config = resolveRunConfig('raw_spec', { dcase: 'dcase2023', data_dir: dataDir, result_dir: path.join(root, 'results'), machines: ['fan'], score: { backend: [KNN_PLAIN] } }, ['visualize.enabled=false']);
  const run = await runRecipe(config);
  const dir = path.join(root, 'detector');
  await exportDetector({ config, machine: 'fan', out: dir });
  const detector = await Detector.load(dir);
  const testDir = path.join(dataDir, 'formatted', 'dcase2023', 'raw', 'fan', 'test');
  const files = (await fs.readdir(testDir)).sort().map((f) => path.join(testDir, f));
  const expected = await detector.score(files);
  const bytes = await Promise.all(files.map((f) => fs.readFile(f)));
  void run;
  return { root, detector, files, bytes, expected };
})();

const wav = (data: Uint8Array) => ({ headers: { 'content-type': 'audio/wav' }, payload: Buffer.from(data) });

function multipartBody(parts: Array<{ name: string; data: Uint8Array }>): { boundary: string; body: Buffer } {
  const boundary = `----asdkit${Date.now()}`;
  const chunks: Buffer[] = [];
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="clip"; filename="${p.name}"\r\nContent-Type: audio/wav\r\n\r\n`));
    chunks.push(Buffer.from(p.data), Buffer.from('\r\n'));
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { boundary, body: Buffer.concat(chunks) };
}

/**
 * Scores agree to 1e-6 relative: the service batches clips as they arrive, and a batch of another
 * size changes the last bits of the frontend's sums (asdkit detect batches 64 at a time).
 */
function near(a: ArrayLike<number | undefined>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (!(Math.abs(a[i]! - b[i]) <= 1e-6 * Math.max(1, Math.abs(b[i])))) return false;
  return true;
}

/** A metric's value from the Prometheus text (first sample whose line starts with `prefix`). */
function metric(text: string, prefix: string): number {
  const line = text.split('\n').find((l) => l.startsWith(prefix));
  return line ? Number(line.split(' ').pop()) : NaN;
}

test('scores equal detector.score, one body or several parts; detectors listed; health and readiness', async (t) => {
  const { detector, files, bytes, expected } = await setup;
  const app = createServer({ detectors: { fan: detector } });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await app.inject({ method: 'POST', url: `/v1/detectors/fan/score?file=${path.basename(files[i])}`, ...wav(bytes[i]) });
      t.is(r.statusCode, 200, r.body);
      const a = r.json<ClipAnswer>();
      t.true(near([a.score], [expected.score[i]]), `${a.score} vs ${expected.score[i]}`);
      t.is(a.decision, expected.decision[i] as 0 | 1);
      t.is(a.threshold, detector.threshold.get(0));
      t.is(a.file, path.basename(files[i]));
      t.true(a.latency_ms >= 0);
    }
    const { boundary, body } = multipartBody(files.slice(0, 4).map((f, i) => ({ name: path.basename(f), data: bytes[i] })));
    const m = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score', headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }, payload: body });
    t.is(m.statusCode, 200, m.body);
    t.true(near(m.json<{ results: ClipAnswer[] }>().results.map((x) => x.score), expected.score.subarray(0, 4)));

    const list = (await app.inject('/v1/detectors')).json<{ detectors: Array<{ name: string; recipe: string; machine: string; sections: unknown[] }> }>();
    t.like(list.detectors[0], { name: 'fan', recipe: 'raw_spec', machine: 'fan' });
    t.is((await app.inject('/healthz')).statusCode, 200);
    t.is((await app.inject('/readyz')).statusCode, 200);
    t.is((await app.inject({ method: 'POST', url: '/v1/detectors/pump/score', ...wav(bytes[0]) })).statusCode, 404);
  } finally {
    await app.close();
  }
});

test('concurrent requests are batched, and each gets its own clip\'s answer', async (t) => {
  const { detector, files, bytes, expected } = await setup;
  const app = createServer({ detectors: { fan: detector }, maxBatch: 8, maxWaitMs: 100 });
  try {
    const n = Math.min(files.length, 16);
    const answers = await Promise.all(
      Array.from({ length: n }, (_, i) => app.inject({ method: 'POST', url: '/v1/detectors/fan/score', ...wav(bytes[i]) }).then((r) => r.json<ClipAnswer>())),
    );
    t.true(near(answers.map((a) => a.score), expected.score.subarray(0, n)), 'each request its own clip\'s score');
    const text = (await app.inject('/metrics')).body;
    const count = metric(text, 'asdkit_batch_size_count{detector="fan"}');
    const sum = metric(text, 'asdkit_batch_size_sum{detector="fan"}');
    t.is(sum, n);
    t.true(sum / count > 1, `mean batch size ${sum / count} (${count} batches)`);
    t.is(metric(text, 'asdkit_clips_scored_total{detector="fan"}'), n);
    t.true(metric(text, 'asdkit_http_requests_total{route="/v1/detectors/:name/score",status="200"}') >= n);
  } finally {
    await app.close();
  }
});

test('413 over the body limit, 400 for what is not audio, 415 for JSON, 503 with Retry-After beyond the queue', async (t) => {
  const { detector, bytes } = await setup;
  const app = createServer({ detectors: { fan: detector }, maxBodyMb: 0.05, maxQueue: 2, maxBatch: 2, maxWaitMs: 300 });
  try {
    const big = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score', ...wav(new Uint8Array(100 * 1024)) });
    t.is(big.statusCode, 413);
    const bad = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score?file=noise.wav', ...wav(Uint8Array.from({ length: 2000 }, (_, i) => (i * 31) % 256)) });
    t.is(bad.statusCode, 400);
    t.regex(bad.json<ClipAnswer>().error!, /noise\.wav: /);
    const json = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score', payload: { a: 1 } });
    t.is(json.statusCode, 415);
    const section = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score?section=x', ...wav(bytes[0].subarray(0, 100)) });
    t.is(section.statusCode, 400);

    const small = bytes.filter((b) => b.length < 0.05 * 2 ** 20);
    t.true(small.length >= 1, 'a clip under the body limit');
    const many = await Promise.all(Array.from({ length: 6 }, () => app.inject({ method: 'POST', url: '/v1/detectors/fan/score', ...wav(small[0]) })));
    const codes = many.map((r) => r.statusCode).sort();
    t.true(codes.includes(503), codes.join(','));
    t.true(codes.includes(200), codes.join(','));
    t.is(many.find((r) => r.statusCode === 503)!.headers['retry-after'], '1');
  } finally {
    await app.close();
  }
});

test('a bearer token guards every route but /healthz', async (t) => {
  const { detector, bytes } = await setup;
  const token = 'a-long-enough-secret-token';
  const app = createServer({ detectors: { fan: detector }, token });
  try {
    t.is((await app.inject('/healthz')).statusCode, 200);
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: token }]) {
      const r = await app.inject({ url: '/v1/detectors', headers });
      t.is(r.statusCode, 401);
      t.is(r.headers['www-authenticate'], 'Bearer');
    }
    t.is((await app.inject({ url: '/metrics', headers: { authorization: `Bearer ${token}` } })).statusCode, 200);
    const r = await app.inject({ method: 'POST', url: '/v1/detectors/fan/score', headers: { 'content-type': 'audio/wav', authorization: `Bearer ${token}` }, payload: Buffer.from(bytes[0]) });
    t.is(r.statusCode, 200);
  } finally {
    await app.close();
  }
});

test('over a real socket: a client gone mid-upload leaves nothing queued; close answers every accepted request', async (t) => {
  const { detector, bytes, expected } = await setup;
  const app = createServer({ detectors: { fan: detector }, maxBatch: 8, maxWaitMs: 1000 });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}/v1/detectors/fan/score`;

  // Half a body, then the connection drops.
  await new Promise<void>((resolve) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'audio/wav', 'content-length': String(bytes[0].length) } });
    req.on('error', () => resolve());
    req.write(Buffer.from(bytes[0].subarray(0, bytes[0].length >> 1)));
    setTimeout(() => {
      req.destroy();
      resolve();
    }, 100);
  });
  // A request whose client leaves while its clip waits for the batch.
  const ac = new AbortController();
  const leaving = fetch(url, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.from(bytes[1]), signal: ac.signal }).catch((e: Error) => e);
  setTimeout(() => ac.abort(), 50);
  t.true((await leaving) instanceof Error);

  const ok = await fetch(url, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.from(bytes[2]) });
  t.is(ok.status, 200);
  t.true(near([((await ok.json()) as ClipAnswer).score], [expected.score[2]]));
  const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  t.is(metric(metrics, 'asdkit_queue_depth{detector="fan"}'), 0);

  // Requests in flight when close begins are all answered.
  const inFlight = Array.from({ length: 6 }, (_, i) => fetch(url, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.from(bytes[i]) }));
  // Close once all six are accepted (waiting for their batch), whatever the machine's load.
  for (let i = 0; i < 100; i++) {
    if (metric((await app.inject('/metrics')).body, 'asdkit_queue_depth{detector="fan"}') === 6) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  await app.close();
  const answers = await Promise.all(inFlight);
  t.deepEqual(answers.map((r) => r.status), [200, 200, 200, 200, 200, 200]);
  t.true(near(await Promise.all(answers.map(async (r) => ((await r.json()) as ClipAnswer).score)), expected.score.subarray(0, 6)));
});

test('asdkit serve: listens on 127.0.0.1, SIGTERM exits 0 after answering; a detector that fails to load stops the start', async (t) => {
  const { root, detector } = await setup;
  const bad = await cli(['serve', detector.dir, path.join(root, 'no-such-detector'), '--port', '0']);
  t.is(bad.code, 1);
  t.regex(bad.stderr, /cannot serve .*no-such-detector: .*not a detector folder/);

  const child = spawn(process.execPath, ['--import', 'tsx', path.join('src', 'cli', 'main.ts'), 'serve', `pump=${detector.dir}`, '--port', '0', '--max-wait-ms', '1000'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const address = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /"address":"(http:\/\/127\.0\.0\.1:\d+)"/.exec(out);
      if (m) resolve(m[1]);
    });
    child.on('exit', () => reject(new Error(`serve exited: ${out}`)));
  });
  const list = (await (await fetch(`${address}/v1/detectors`)).json()) as { detectors: Array<{ name: string }> };
  t.deepEqual(list.detectors.map((d) => d.name), ['pump']);
  const answer = fetch(`${address}/v1/detectors/pump/score`, { method: 'POST', headers: { 'content-type': 'audio/wav' }, body: Buffer.from((await setup).bytes[0]) });
  // The clip waits up to 1 s for company: SIGTERM arrives while it is queued.
  await new Promise((r) => setTimeout(r, 300));
  child.kill('SIGTERM');
  t.is((await answer).status, 200);
  t.is(await exited, 0);
  t.regex(out, /SIGTERM: finishing queued clips/);
});
