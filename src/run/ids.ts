/**
 * Where a run lives: ASDKit's result tree (spec backends-recipes-outputs §6.3) and the formatted
 * data folders. Every path of a run is built here and nowhere else.
 */
import path from 'node:path';
import type { Dcase } from '../dcase/index.js';
import type { RunConfig } from './schema.js';

/** The identifiers that place a model in the result tree. */
export interface ModelIds {
  resultDir: string;
  name: string;
  dcase: Dcase;
  version: string;
  seed: number | string;
}

/** … and, with the inference version, its outputs. */
export interface RunIds extends ModelIds {
  inferVer: string;
}

/** The ids of a resolved run configuration. */
export function runIdsOf(c: RunConfig): RunIds {
  return { resultDir: c.result_dir, name: c.name, dcase: c.dcase as Dcase, version: c.version, seed: c.seed, inferVer: c.infer_ver };
}

/**
 * An id that names a folder must be exactly one path component, so that no run writes outside its
 * place in `--result-dir` (`--name ../../x`). Errors name the field.
 */
export function pathComponent(field: string, value: string | number): string {
  const s = String(value);
  if (s === '' || s === '.' || s === '..' || /[/\\\0]/.test(s)) {
    throw new Error(`invalid ${field} ${JSON.stringify(s)}: it names a folder, so it must be one path component (not empty, "." or "..", no "/", "\\" or NUL)`);
  }
  return s;
}

/** `<result_dir>/<name>/<dcase>/<version>/<seed>` */
export function versionDir(ids: ModelIds): string {
  const parts = [pathComponent('name', ids.name), pathComponent('dcase', ids.dcase), pathComponent('version', ids.version), pathComponent('seed', ids.seed)];
  return path.join(ids.resultDir, ...parts);
}

/** `<version dir>/output/<infer_ver>`: the tables, `config.yaml`, `timings.json`. */
export function outputDir(ids: RunIds): string {
  return path.join(versionDir(ids), 'output', pathComponent('infer_ver', ids.inferVer));
}

/** `<output dir>/<machine>`: extract, score, evaluate and visualize files of one machine. */
export function machineDir(ids: RunIds, machine: string): string {
  return path.join(outputDir(ids), pathComponent('machine', machine));
}

/** `<version dir>/model/<model_ver>`: a trained model's logs and curves (`all`: one model for every machine). */
export function modelDir(ids: ModelIds, modelVer = 'all'): string {
  return path.join(versionDir(ids), 'model', pathComponent('model_ver', modelVer));
}

/** `<model dir>/checkpoints` */
export function checkpointDir(ids: ModelIds, modelVer = 'all'): string {
  return path.join(modelDir(ids, modelVer), 'checkpoints');
}

/** The resolved configuration a run writes next to its outputs. */
export const CONFIG_FILE = 'config.yaml';

/** `<data_dir>/formatted/<dcase>/raw` */
export function formattedDir(dataDir: string, dcase: string): string {
  return path.join(dataDir, 'formatted', dcase, 'raw');
}

/** `<data_dir>/formatted/<dcase>/raw/<machine>/<split>` */
export function clipDir(dataDir: string, dcase: string, machine: string, split: string): string {
  return path.join(formattedDir(dataDir, dcase), pathComponent('machine', machine), pathComponent('split', split));
}
