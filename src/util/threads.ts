import os from 'node:os';

/** More LibTorch threads than this many per core only thrash (and thousands hang the process). */
export const MAX_THREADS_PER_CORE = 4;

/** A thread count from user text (`--threads`, ASDKIT_THREADS): 0 = all cores, else 1 … MAX_THREADS_PER_CORE × cores. */
export function parseThreads(value: string | number, what = '--threads'): number {
  const cores = os.availableParallelism();
  const max = MAX_THREADS_PER_CORE * cores;
  const text = String(value).trim();
  const n = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(n) || n > max) {
    throw new RangeError(`${what} ${JSON.stringify(String(value))}: expected a whole number from 1 to ${max} (${MAX_THREADS_PER_CORE} × ${cores} cores), or 0 for all cores`);
  }
  return n;
}
