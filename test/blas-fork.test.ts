/**
 * A Node process that forks (child_process) while asdkit multiplies matrices on a worker thread
 * must not hang. With OpenBLAS's pthreads build behind LibTorch at its default thread count it
 * did: the pool is shut down by a fork handler while a product waits for it (reproduced: every
 * run hung within seconds). The addon makes that build run products on the calling thread; the
 * OpenMP build has no such handler. Run in a child with a deadline, so a hang fails this test
 * instead of stalling the suite.
 */
import test from 'ava';
import { execFile } from 'node:child_process';
import path from 'node:path';

test('matrix products finish while the process forks every 30 ms', async (t) => {
  const child = path.join('test', 'helpers', 'blas-fork-child.ts');
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, ['--import', 'tsx', child], { cwd: process.cwd(), timeout: 90_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.killed ? 'hung (killed after 90 s)' : String(err)}\n${stderr}`));
      else resolve(stdout);
    });
  });
  const r = JSON.parse(out.trim().split('\n').at(-1)!) as { forks: number; seconds: number; gflops: number };
  t.log(`${r.forks} forks during ${r.seconds.toFixed(1)} s of products (${r.gflops.toFixed(0)} GFLOP/s)`);
  t.true(r.forks >= 10, 'the products overlapped the forks');
  t.true(r.gflops > 0);
});
