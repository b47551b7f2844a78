import { hash32 } from '../util/rng.js';

/** A `--seed` argument: digits are a number, anything else a folder name ("trial-a"). */
export function parseSeed(s: string): number | string {
  return /^\d+$/.test(s) ? Number(s) : s;
}

/** The numeric seed of a run: folder-name seeds are hashed. */
export function numericSeed(seed: number | string): number {
  return typeof seed === 'number' ? seed : /^\d+$/.test(seed) ? Number(seed) : hash32(seed);
}
