import path from 'node:path';
import type { Dcase } from '../dcase/index.js';

/** The identifiers that place a run in ASDKit's result tree (spec backends-recipes-outputs §6.3). */
export interface RunIds {
  resultDir: string;
  name: string;
  dcase: Dcase;
  version: string;
  seed: number | string;
  inferVer: string;
}

/** `<result_dir>/<name>/<dcase>/<version>/<seed>` */
export function versionDir(ids: Omit<RunIds, 'inferVer'>): string {
  return path.join(ids.resultDir, ids.name, ids.dcase, ids.version, String(ids.seed));
}

/** `<version dir>/output/<infer_ver>` — where the table step writes. */
export function outputDir(ids: RunIds): string {
  return path.join(versionDir(ids), 'output', ids.inferVer);
}

/** `<output dir>/<machine>` — extract, score, evaluate and visualize files of one machine. */
export function machineDir(ids: RunIds, machine: string): string {
  return path.join(outputDir(ids), machine);
}

/** `<data_dir>/formatted/<dcase>/raw/<machine>/<split>` */
export function clipDir(dataDir: string, dcase: string, machine: string, split: string): string {
  return path.join(dataDir, 'formatted', dcase, 'raw', machine, split);
}
