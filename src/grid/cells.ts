/**
 * The cells of a grid, in a stable order (recipe, year, seed, then the axis values as listed):
 * cell `index` is what a local worker or a Slurm array task runs. Each cell is exactly one
 * `asdkit run <recipe> --dcase … --seed … --set …` with the ordinary result tree; a cell with
 * axis values gets its own version, `<recipe>-<key>=<value>…`, so its results sit beside the
 * plain recipe's.
 */
import path from 'node:path';
import type { Dcase } from '../dcase/index.js';
import { resolveRunConfig } from '../recipes/resolve.js';
import { outputDir, pathComponent, runIdsOf, type RunConfig } from '../run/index.js';
import type { GridSpec } from './spec.js';

export interface GridCell {
  index: number;
  /** File-safe and unique within the grid: `<dcase>.<version>.<seed>`. */
  id: string;
  recipe: string;
  dcase: Dcase;
  seed: number;
  version: string;
  /** Axis values of this cell (empty without axes). */
  axes: Record<string, string | number | boolean>;
  /** The cell's `--set` values: the grid's, its recipe's, then its axis values. */
  overrides: string[];
  config: RunConfig;
  /** The equivalent command line (`asdkit` + these). */
  args: string[];
}

/** Every combination of the axis values, in the order listed. */
function combinations(axes: GridSpec['axes']): Array<Record<string, string | number | boolean>> {
  let out: Array<Record<string, string | number | boolean>> = [{}];
  for (const [key, values] of Object.entries(axes)) out = out.flatMap((c) => values.map((v) => ({ ...c, [key]: v })));
  return out;
}

const axisText = (axes: GridCell['axes']) => Object.entries(axes).map(([k, v]) => `${k.split('.').pop()}=${String(v)}`).join('-');

export function gridCells(g: GridSpec): GridCell[] {
  const cells: GridCell[] = [];
  for (const recipe of g.recipes) {
    for (const dcase of g.years) {
      for (const seed of g.seeds) {
        for (const axes of combinations(g.axes)) {
          const suffix = axisText(axes);
          const version = pathComponent('version', suffix ? `${recipe}-${suffix}`.replace(/[^\w.=+-]/g, '_') : recipe);
          const overrides = [...g.set, ...(g.recipe_set[recipe] ?? []), ...Object.entries(axes).map(([k, v]) => `${k}=${String(v)}`)];
          const config = resolveRunConfig(recipe, { dcase, data_dir: g.data_dir, result_dir: g.result_dir, name: g.name, version, seed, machines: g.machines }, overrides);
          const args = [
            'run', recipe, '--dcase', dcase, '--seed', String(seed), '--name', g.name, '--version', version,
            '--data-dir', g.data_dir, '--result-dir', g.result_dir,
            ...(g.machines ? ['--machine', ...g.machines] : []),
            ...overrides.flatMap((s) => ['--set', s]),
          ];
          cells.push({ index: cells.length, id: `${dcase}.${version}.${seed}`, recipe, dcase, seed, version, axes, overrides, config, args });
        }
      }
    }
  }
  const ids = new Set(cells.map((c) => c.id));
  if (ids.size !== cells.length) throw new Error(`grid ${g.name}: two cells share a result folder (axis values that differ only in characters a folder name cannot hold?)`);
  return cells;
}

/** `<result_dir>/<name>/grid`: the grid's own files (logs, cell records, sbatch script, tables). */
export function gridDir(g: GridSpec): string {
  return path.join(g.result_dir, g.name, 'grid');
}

/** The output folder of a cell (its tables, config.yaml, per-machine files). */
export const cellOutputDir = (c: GridCell): string => outputDir(runIdsOf(c.config));
