// The device check's CPU dry run (bench/gpu-check.sh --cpu-only): every piece that the GPU
// machine will run — agreement checks, timings, the JSON and Markdown report — runs here on the
// CPU at small sizes, so the device minutes go to measuring.
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

interface Check {
  name: string;
  err: number;
  tol: number;
  ok: boolean;
}
interface Timing {
  section: string;
  device: string;
  ok: boolean;
  value?: number;
  unit?: string;
}

test('bench/gpu-check.sh --cpu-only writes a passing report with every section', async (t) => {
  const out = await fs.mkdtemp(path.join(os.tmpdir(), 'asdkit-gpu-check-test-'));
  try {
    const r = spawnSync('bash', [path.join(root, 'bench', 'gpu-check.sh'), '--cpu-only', out], {
      cwd: root,
      encoding: 'utf8',
      timeout: 240_000,
      env: { ...process.env, ASDKIT_THREADS: '2' },
    });
    t.is(r.status, 0, `exit ${r.status}\n${r.stderr.slice(-3000)}`);

    const report = JSON.parse(await fs.readFile(path.join(out, 'gpu-check.json'), 'utf8')) as {
      device: string;
      mode: string;
      steps: Array<{ name: string; status: string }>;
      agreement: { ok: boolean; checks: Check[] };
      timings: Timing[];
      tolerances: Record<string, number>;
    };
    t.is(report.mode, 'cpu-only');
    t.regex(report.device, /CPU only/);
    t.true(report.agreement.ok);
    const names = report.agreement.checks.map((c) => c.name).join('\n');
    for (const what of [/STFTPool/, /k-NN/, /MultiResNet forward fp32/, /training step fp32: loss/, /gradient norm/, /bf16/]) t.regex(names, what);
    for (const c of report.agreement.checks) t.true(c.ok && c.err <= c.tol, c.name);
    for (const section of ['knn', 'extract', 'train_fp32', 'embed_fp32']) {
      const row = report.timings.find((x) => x.section === section && x.device === 'cpu');
      t.truthy(row?.ok, section);
      t.true(Number.isFinite(row?.value) && (row?.value ?? 0) > 0, section);
    }
    t.deepEqual(
      report.steps.map((s) => s.name.split(' ')[0]),
      ['node', 'build', 'ctest', 'ava'],
    );

    const md = await fs.readFile(path.join(out, 'gpu-check.md'), 'utf8');
    t.regex(md, /^# asdkit GPU check — CPU only/m);
    t.regex(md, /## Agreement: cpu vs cpu — passed/);
    t.regex(md, /## Timings/);
    for (const label of ['kNN scoring', 'raw_spec extraction', 'dis_spec train step fp32', 'dis_spec trained extraction fp32']) t.regex(md, new RegExp(`\\| ${label}`));
  } finally {
    await fs.rm(out, { recursive: true, force: true });
  }
});

test('bench/gpu-check.sh without an output folder prints its usage and fails', (t) => {
  const r = spawnSync('bash', [path.join(root, 'bench', 'gpu-check.sh')], { cwd: root, encoding: 'utf8' });
  t.is(r.status, 2);
  t.regex(r.stderr, /--cpu-only/);
});
