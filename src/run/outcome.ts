/**
 * "Already done" is a result, not an exception: a step whose outputs exist (and overwrite is off)
 * returns `Skipped`; callers branch on `isSkipped`.
 */
export interface Skipped {
  skipped: true;
  /** What was found (a file, a glob or a folder). */
  existing: string;
  /** ASDKit's opening (`[Skip this process] … already exists`), then our flag. */
  message: string;
}

export function skipped(existing: string): Skipped {
  return { skipped: true, existing, message: `[Skip this process] ${existing} already exists (already done; --overwrite recomputes it)` };
}

export function isSkipped(r: unknown): r is Skipped {
  return typeof r === 'object' && r !== null && (r as Skipped).skipped === true;
}
