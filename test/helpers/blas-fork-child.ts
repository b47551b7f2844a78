/**
 * Child of test/blas-fork.test.ts: matrix products on a native worker thread while this process
 * forks every 30 ms (spawnSync), as a Node tool embedding asdkit may. Prints one JSON line when
 * the products are done; a hang (OpenBLAS's pthreads pool lost at fork) prints nothing.
 */
import { spawnSync } from 'node:child_process';
import { native } from '../../src/native/index.js';

const job = native().benchMatmul({ n: 512, iters: 800, threads: 2, op: 'mm' });
let forks = 0;
const timer = setInterval(() => {
  spawnSync('true');
  forks++;
}, 30);
const t0 = performance.now();
const r = await job.promise;
clearInterval(timer);
console.log(JSON.stringify({ forks, seconds: (performance.now() - t0) / 1000, gflops: r.gflops }));
