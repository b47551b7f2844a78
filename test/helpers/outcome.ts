import { isSkipped, type Skipped } from '../../src/run/index.js';

/** The result of a step that must have done its work (a skip fails the test). */
export function done<T>(r: T | Skipped): T {
  if (isSkipped(r)) throw new Error(`expected the step to run, but it skipped: ${r.message}`);
  return r;
}

/** The `Skipped` result of a step that must have skipped. */
export function skippedOf<T>(r: T | Skipped): Skipped {
  if (!isSkipped(r)) throw new Error('expected the step to skip, but it ran');
  return r;
}
