/**
 * Download step against a local HTTP server on 127.0.0.1 serving small zips shaped like the
 * Zenodo archives (no real network; back-off delays are injected as 0 ms).
 */
import test from 'ava';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { archiveUrl, archivesOf } from '../src/data/archives.js';
import { downloadDataset, type DownloadOptions, type DownloadProgress } from '../src/data/download.js';
import { makeZip, type ZipEntry } from './helpers/zip.js';

/** A 2023+-style machine archive: train and test clips, an attributes CSV. */
function machineZip(machine: string, extra: readonly ZipEntry[] = [], parts: readonly string[] = ['train', 'test']): { zip: Buffer; files: Map<string, Buffer> } {
  const files = new Map<string, Buffer>();
  if (parts.includes('train')) {
    files.set(`${machine}/train/section_00_source_train_normal_0000_a.wav`, randomBytes(60_000));
    files.set(`${machine}/train/section_00_target_train_normal_0000_a.wav`, randomBytes(50_000));
  }
  if (parts.includes('test')) files.set(`${machine}/test/section_00_source_test_anomaly_0000_a.wav`, randomBytes(40_000));
  files.set(`${machine}/attributes_00.csv`, Buffer.from('file_name,d1p,d1v\n'));
  const entries: ZipEntry[] = [{ name: `${machine}/` }, ...parts.map((p) => ({ name: `${machine}/${p}/` }))];
  for (const [name, data] of files) entries.push({ name, data });
  return { zip: makeZip([...entries, ...extra]), files };
}

// ---- a local server that can misbehave ------------------------------------------------------

type Behaviour = 'drop-first' | 'ignore-range' | 'fail-503-once' | 'always-503' | 'stall' | 'stall-first' | 'slow';

interface Route {
  body: Buffer;
  behaviours?: Behaviour[];
  headers?: Record<string, string>;
}

interface Server {
  baseUrl: string;
  requests: Array<{ path: string; range?: string }>;
  maxInFlight: number;
  close(): Promise<void>;
}

async function serve(routes: Record<string, Route>): Promise<Server> {
  const hits = new Map<string, number>();
  let inFlight = 0;
  const s: Server = { baseUrl: '', requests: [], maxInFlight: 0, close: async () => {} };
  const server = http.createServer((req, res) => {
    const p = req.url ?? '';
    s.requests.push({ path: p, range: req.headers.range });
    const n = (hits.get(p) ?? 0) + 1;
    hits.set(p, n);
    const route = routes[p];
    if (!route) {
      res.writeHead(404).end('not found');
      return;
    }
    const b = new Set(route.behaviours ?? []);
    if ((b.has('fail-503-once') && n === 1) || b.has('always-503')) {
      res.writeHead(503).end('busy');
      return;
    }
    const len = route.body.length;
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let start = m && !b.has('ignore-range') ? Number(m[1]) : 0;
    if (start >= len && m) {
      res.writeHead(416, { 'content-range': `bytes */${len}` }).end();
      return;
    }
    const headers: Record<string, string | number> = { 'content-length': len - start, ...route.headers };
    if (start > 0) headers['content-range'] = `bytes ${start}-${len - 1}/${len}`;
    inFlight++;
    s.maxInFlight = Math.max(s.maxInFlight, inFlight);
    res.on('close', () => inFlight--);
    res.writeHead(start > 0 ? 206 : 200, headers);
    const rest = route.body.subarray(start);
    if (b.has('drop-first') && n === 1) {
      res.write(rest.subarray(0, rest.length >> 1), () => res.socket?.destroy());
    } else if (b.has('stall') || (b.has('stall-first') && n === 1)) {
      res.write(rest.subarray(0, 1000)); // and never finish
    } else if (b.has('slow')) {
      // Hold the answer until a second request is in flight (or 500 ms), so overlap is observable.
      const t0 = Date.now();
      const poll = setInterval(() => {
        if (inFlight >= 2 || Date.now() - t0 > 500) {
          clearInterval(poll);
          res.end(rest);
        }
      }, 5);
    } else {
      res.end(rest);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  s.baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  s.close = () => {
    server.closeAllConnections();
    return new Promise((r) => server.close(() => r()));
  };
  return s;
}

async function tmpDir(): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-dl-'));
}

async function exists(p: string): Promise<boolean> {
  return fs.access(p).then(() => true, () => false);
}

const noWait: Pick<DownloadOptions, 'backoffMs'> = { backoffMs: () => 0 };
const DEV_FAN_2023 = '/record/7882613/files/dev_fan.zip';

/** Runs `fn` against a server serving `dev_fan.zip` of dcase2023 (one archive with machines ['fan']). */
async function withFan(
  t: { teardown(fn: () => Promise<void>): void },
  route: Partial<Route> & { body?: Buffer },
): Promise<{ srv: Server; dataDir: string; raw: string; body: Buffer; files: Map<string, Buffer> }> {
  const { zip, files } = machineZip('fan');
  const body = route.body ?? zip;
  const srv = await serve({ [DEV_FAN_2023]: { ...route, body } });
  const dataDir = await tmpDir();
  t.teardown(async () => {
    await srv.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  return { srv, dataDir, raw: path.join(dataDir, 'original', 'dcase2023', 'dev_data', 'raw'), body, files };
}

// ---- archive table --------------------------------------------------------------------------

test('archive table follows spec §1.1', (t) => {
  const counts = Object.fromEntries(
    (['dcase2020', 'dcase2021', 'dcase2022', 'dcase2023', 'dcase2024'] as const).map((d) => [d, archivesOf(d).length]),
  );
  t.deepEqual(counts, { dcase2020: 18, dcase2021: 21, dcase2022: 21, dcase2023: 21, dcase2024: 25 });
  const a20 = archivesOf('dcase2020');
  t.deepEqual(a20.slice(0, 6).map((a) => a.machine), ['ToyCar', 'ToyConveyor', 'fan', 'valve', 'slider', 'pump']);
  t.is(a20[0]!.url, 'https://zenodo.org/record/3678171/files/dev_data_ToyCar.zip');
  t.is(a20[6]!.url, 'https://zenodo.org/record/3727685/files/eval_data_train_ToyCar.zip');
  t.is(archivesOf('dcase2021', ['gearbox'])[2]!.url, 'https://zenodo.org/record/4884786/files/eval_data_gearbox_test.zip');
  const a24 = archivesOf('dcase2024', ['3DPrinter', 'AirCompressor', 'fan']);
  t.deepEqual(
    a24.map((a) => [a.subset, a.role, a.machine, a.url]),
    [
      ['dev', 'dev', 'fan', 'https://zenodo.org/record/10902294/files/dev_fan.zip'],
      ['eval', 'eval_train', '3DPrinter', 'https://zenodo.org/records/11259435/files/eval_data_3DPrinter_train_r2.zip'],
      ['eval', 'eval_train', 'AirCompressor', 'https://zenodo.org/records/11259435/files/eval_data_AirCompressor_train.zip'],
      ['eval', 'eval_test', '3DPrinter', 'https://zenodo.org/records/11363076/files/eval_data_3DPrinter_test.zip'],
      ['eval', 'eval_test', 'AirCompressor', 'https://zenodo.org/records/11363076/files/eval_data_AirCompressor_test.zip'],
    ],
  );
  t.deepEqual(archivesOf('dcase2024').filter((a) => a.file.endsWith('_r2.zip')).map((a) => a.machine), ['3DPrinter', 'RoboticArm']);
  t.deepEqual(archivesOf('dcase2023', ['bandsaw']).map((a) => a.file), ['eval_data_bandsaw_train.zip', 'eval_data_bandsaw_test.zip']);
  t.throws(() => archivesOf('dcase2023', ['fann']), { message: /unknown dcase2023 machine\(s\) fann/ });
  t.is(archiveUrl(a20[0]!, 'http://127.0.0.1:9/'), 'http://127.0.0.1:9/record/3678171/files/dev_data_ToyCar.zip');
});

test('2025 archives follow the organisers\' download script (README)', (t) => {
  const a25 = archivesOf('dcase2025');
  t.is(a25.length, 7 + 8 + 8);
  t.deepEqual(new Set(a25.map((a) => a.url.split('/')[4])), new Set(['15097779', '15392814', '15519362']));
  t.deepEqual(
    archivesOf('dcase2025', ['ToyCar', 'AutoTrash']).map((a) => [a.subset, a.role, a.url]),
    [
      ['dev', 'dev', 'https://zenodo.org/records/15097779/files/dev_ToyCar.zip'],
      ['eval', 'eval_train', 'https://zenodo.org/records/15392814/files/eval_data_AutoTrash_train.zip'],
      ['eval', 'eval_test', 'https://zenodo.org/records/15519362/files/eval_data_AutoTrash_test.zip'],
    ],
  );
});

// ---- download + unpack ----------------------------------------------------------------------

test('downloads and unpacks every archive into <subset>_data/raw, skipping macOS debris', async (t) => {
  const dev = machineZip('fan', [
    { name: '__MACOSX/fan/._x.wav', data: Buffer.from('junk') },
    { name: 'fan/.DS_Store', data: Buffer.from('junk') },
  ]);
  const tr = machineZip('3DPrinter', [], ['train']);
  const te = machineZip('3DPrinter', [], ['test']);
  const srv = await serve({
    '/record/10902294/files/dev_fan.zip': { body: dev.zip },
    '/records/11259435/files/eval_data_3DPrinter_train_r2.zip': { body: tr.zip },
    '/records/11363076/files/eval_data_3DPrinter_test.zip': { body: te.zip },
  });
  const dataDir = await tmpDir();
  t.teardown(async () => {
    await srv.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  const progress: DownloadProgress[] = [];
  const r = await downloadDataset({
    dataDir, dcase: 'dcase2024', machines: ['fan', '3DPrinter'], baseUrl: srv.baseUrl, ...noWait,
    onProgress: (e) => progress.push(e),
  });
  t.deepEqual(r.archives.map((a) => a.action), ['downloaded', 'downloaded', 'downloaded']);
  t.is(srv.requests.length, 3);
  const root = path.join(dataDir, 'original', 'dcase2024');
  t.is(r.root, root);
  const devRaw = path.join(root, 'dev_data', 'raw');
  const evalRaw = path.join(root, 'eval_data', 'raw');
  for (const [name, data] of dev.files) t.deepEqual(await fs.readFile(path.join(devRaw, name)), data);
  for (const [name, data] of tr.files) if (name.includes('/train/')) t.deepEqual(await fs.readFile(path.join(evalRaw, name)), data);
  for (const [name, data] of te.files) t.deepEqual(await fs.readFile(path.join(evalRaw, name)), data);
  t.deepEqual((await fs.readdir(devRaw)).sort(), ['dev_fan.zip', 'dev_fan.zip.done', 'fan']);
  t.deepEqual((await fs.readdir(path.join(devRaw, 'fan'))).sort(), ['attributes_00.csv', 'test', 'train']);
  t.deepEqual(await fs.readFile(path.join(evalRaw, 'eval_data_3DPrinter_train_r2.zip')), tr.zip);
  t.false(await exists(path.join(devRaw, '__MACOSX')));
  const last = progress.filter((p) => p.file === 'dev_fan.zip').at(-1)!;
  t.deepEqual([last.bytes, last.total], [dev.zip.length, dev.zip.length]);
});

test('a rerun skips unpacked archives without any request; a zip without marker is only unpacked', async (t) => {
  const { srv, dataDir, raw, files } = await withFan(t, {});
  const opts = { dataDir, dcase: 'dcase2023' as const, machines: ['fan'], baseUrl: srv.baseUrl, ...noWait };
  await downloadDataset(opts);
  t.is(srv.requests.length, 1);
  const again = await downloadDataset(opts);
  t.deepEqual(again.archives.map((a) => a.action), ['skipped']);
  t.is(srv.requests.length, 1);

  await fs.rm(path.join(raw, 'dev_fan.zip.done'));
  await fs.rm(path.join(raw, 'fan'), { recursive: true });
  const third = await downloadDataset(opts);
  t.deepEqual(third.archives.map((a) => a.action), ['unpacked']);
  t.is(srv.requests.length, 1);
  const [name, data] = [...files][0]!;
  t.deepEqual(await fs.readFile(path.join(raw, name)), data);
});

test('a dropped connection is resumed with Range and the zip is byte-identical', async (t) => {
  const { srv, dataDir, raw, body } = await withFan(t, { behaviours: ['drop-first'] });
  const r = await downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait });
  t.deepEqual(r.archives.map((a) => a.action), ['downloaded']);
  t.is(srv.requests.length, 2);
  t.is(srv.requests[0]!.range, undefined);
  const from = Number(/^bytes=(\d+)-$/.exec(srv.requests[1]!.range ?? '')?.[1]);
  t.true(from > 0 && from < body.length, `resumed from ${from}`);
  t.deepEqual(await fs.readFile(path.join(raw, 'dev_fan.zip')), body);
  t.false(await exists(path.join(raw, 'dev_fan.zip.part')));
});

test('a server that ignores Range makes the client start over', async (t) => {
  const { srv, dataDir, raw, body } = await withFan(t, { behaviours: ['drop-first', 'ignore-range'] });
  await downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait });
  t.is(srv.requests.length, 2);
  t.regex(srv.requests[1]!.range ?? '', /^bytes=\d+-$/);
  t.deepEqual(await fs.readFile(path.join(raw, 'dev_fan.zip')), body);
});

test('a complete .part answered with 416 is taken as finished', async (t) => {
  const { srv, dataDir, raw, body } = await withFan(t, {});
  await fs.mkdir(raw, { recursive: true });
  await fs.writeFile(path.join(raw, 'dev_fan.zip.part'), body);
  await downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait });
  t.deepEqual(srv.requests, [{ path: DEV_FAN_2023, range: `bytes=${body.length}-` }]);
  t.deepEqual(await fs.readFile(path.join(raw, 'dev_fan.zip')), body);
});

test('404 fails at once with the URL in the error', async (t) => {
  const srv = await serve({});
  const dataDir = await tmpDir();
  t.teardown(async () => {
    await srv.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  const e = await t.throwsAsync(downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait }));
  t.true(e!.message.includes(`${srv.baseUrl}${DEV_FAN_2023}`), e!.message);
  t.regex(e!.message, /HTTP 404/);
  t.is(srv.requests.length, 1);
});

test('503 is retried after a back-off; persistent 503 gives up after the retry budget', async (t) => {
  const waits: number[] = [];
  const { srv, dataDir, raw, body } = await withFan(t, { behaviours: ['fail-503-once'] });
  await downloadDataset({
    dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, backoffMs: (a) => (waits.push(a), 0),
  });
  t.deepEqual(waits, [0]);
  t.is(srv.requests.length, 2);
  t.deepEqual(await fs.readFile(path.join(raw, 'dev_fan.zip')), body);

  const bad = await withFan(t, { behaviours: ['always-503'] });
  const e = await t.throwsAsync(
    downloadDataset({ dataDir: bad.dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: bad.srv.baseUrl, retries: 2, ...noWait }),
  );
  t.regex(e!.message, /after 3 attempts: HTTP 503/);
  t.is(bad.srv.requests.length, 3);
});

test('a stalled response is dropped and resumed', async (t) => {
  const { srv, dataDir, raw, body } = await withFan(t, { behaviours: ['stall-first'] });
  // On a loaded 2-core machine (the rest of the suite trains networks meanwhile) even a healthy
  // response can pause for hundreds of ms: the timeout is generous, and a further stall-and-resume
  // of the healthy request is allowed as long as it resumes where it stopped.
  await downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, stallTimeoutMs: 2000, ...noWait });
  t.true(srv.requests.length >= 2, `${srv.requests.length} requests`);
  t.is(srv.requests[0]!.range, undefined);
  t.is(srv.requests[1]!.range, 'bytes=1000-');
  for (const r of srv.requests.slice(2)) t.true(Number(/^bytes=(\d+)-$/.exec(r.range ?? '')?.[1]) >= 1000, r.range);
  t.deepEqual(await fs.readFile(path.join(raw, 'dev_fan.zip')), body);
});

test('checksums: a given md5 is verified, a wrong Content-MD5 header is caught', async (t) => {
  const { srv, dataDir, raw, body } = await withFan(t, {});
  const md5 = createHash('md5').update(body).digest('hex');
  await downloadDataset({
    dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, checksums: { 'dev_fan.zip': `md5:${md5}` }, ...noWait,
  });
  t.true(await exists(path.join(raw, 'dev_fan.zip.done')));

  const wrong = createHash('md5').update('something else').digest('base64');
  const bad = await withFan(t, { headers: { 'content-md5': wrong } });
  const e = await t.throwsAsync(downloadDataset({ dataDir: bad.dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: bad.srv.baseUrl, ...noWait }));
  t.regex(e!.message, /checksum mismatch for dev_fan\.zip/);
  t.deepEqual(await fs.readdir(bad.raw), []);
  t.is(bad.srv.requests.length, 1);
});

const MALICIOUS: Array<[string, ZipEntry]> = [
  ['../evil.wav', { name: '../evil.wav', data: Buffer.from('evil') }],
  ['fan/../../evil.wav', { name: 'fan/../../evil.wav', data: Buffer.from('evil') }],
  ['/var/evil.wav', { name: '/var/evil.wav', data: Buffer.from('evil') }],
  ['C:/evil.wav', { name: 'C:/evil.wav', data: Buffer.from('evil') }],
  ['fan/train/link.wav', { name: 'fan/train/link.wav', data: Buffer.from('../../../../evil.wav'), mode: 0o120777 }],
];

for (const [entry, bad] of MALICIOUS) {
  test(`an archive with entry ${entry} is refused and nothing is unpacked`, async (t) => {
    const { zip } = machineZip('fan', [bad]);
    const { srv, dataDir, raw } = await withFan(t, { body: zip });
    const e = await t.throwsAsync(downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait }));
    t.true(e!.message.includes('dev_fan.zip') && e!.message.includes(entry), e!.message);
    // The zip itself stays (it downloaded fine); no entry of it was written, no marker.
    t.deepEqual(await fs.readdir(raw), ['dev_fan.zip']);
    t.deepEqual(await fs.readdir(dataDir), ['original']);
    t.false(await exists(path.join(path.dirname(raw), 'evil.wav')));
  });
}

test('an AbortSignal stops a download and leaves a resumable .part', async (t) => {
  const { srv, dataDir, raw } = await withFan(t, { behaviours: ['stall'] });
  const ac = new AbortController();
  const e = await t.throwsAsync(
    downloadDataset({
      dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait, signal: ac.signal,
      onProgress: () => ac.abort(),
    }),
  );
  t.is(e!.name, 'AbortError');
  t.is(srv.requests.length, 1);
  t.deepEqual(await fs.readdir(raw), ['dev_fan.zip.part']);
});

test.serial('concurrency bounds the number of parallel requests', async (t) => {
  const machines = ['bearing', 'fan', 'gearbox', 'slider'];
  const routes: Record<string, Route> = {};
  for (const m of machines) routes[`/record/7882613/files/dev_${m}.zip`] = { body: machineZip(m).zip, behaviours: ['slow'] };
  const srv = await serve(routes);
  const dataDir = await tmpDir();
  t.teardown(async () => {
    await srv.close();
    await fs.rm(dataDir, { recursive: true, force: true });
  });
  const r = await downloadDataset({ dataDir, dcase: 'dcase2023', machines, baseUrl: srv.baseUrl, concurrency: 2, ...noWait });
  t.deepEqual(r.archives.map((a) => a.action), ['downloaded', 'downloaded', 'downloaded', 'downloaded']);
  t.is(srv.maxInFlight, 2);
});

test('dry run lists URLs and destinations without requests or writes', async (t) => {
  const { srv, dataDir } = await withFan(t, {});
  const r = await downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan', 'bandsaw'], baseUrl: srv.baseUrl, dryRun: true });
  t.deepEqual(
    r.archives.map((a) => [a.action, a.url, path.relative(dataDir, a.zip)]),
    [
      ['planned', `${srv.baseUrl}/record/7882613/files/dev_fan.zip`, path.join('original', 'dcase2023', 'dev_data', 'raw', 'dev_fan.zip')],
      ['planned', `${srv.baseUrl}/record/7830345/files/eval_data_bandsaw_train.zip`, path.join('original', 'dcase2023', 'eval_data', 'raw', 'eval_data_bandsaw_train.zip')],
      ['planned', `${srv.baseUrl}/record/7860847/files/eval_data_bandsaw_test.zip`, path.join('original', 'dcase2023', 'eval_data', 'raw', 'eval_data_bandsaw_test.zip')],
    ],
  );
  t.is(srv.requests.length, 0);
  t.deepEqual(await fs.readdir(dataDir), []);
});

test('a corrupted entry fails its CRC-32 check and leaves no partial file', async (t) => {
  const data = randomBytes(10_000);
  const zip = makeZip([{ name: 'fan/train/section_00_source_train_normal_0000_a.wav', data }]);
  zip[30 + 'fan/train/section_00_source_train_normal_0000_a.wav'.length + 5] ^= 0xff; // inside the stored data
  const { srv, dataDir, raw } = await withFan(t, { body: zip });
  const e = await t.throwsAsync(downloadDataset({ dataDir, dcase: 'dcase2023', machines: ['fan'], baseUrl: srv.baseUrl, ...noWait }));
  t.regex(e!.message, /unpacking dev_fan\.zip entry "fan\/train\/section_00_source_train_normal_0000_a\.wav" failed: CRC-32 mismatch/);
  t.deepEqual(await fs.readdir(path.join(raw, 'fan', 'train')), []);
  t.false(await exists(path.join(raw, 'dev_fan.zip.done')));
});
