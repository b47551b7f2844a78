/**
 * A benchmark grid: recipes × DCASE years × seeds × optional override axes, one `asdkit run` per
 * cell. Read from a YAML file (validated; errors name the file and the field) or built from flags.
 *
 *   name: paper                # results/<name>/… (the run name of every cell)
 *   result_dir: results
 *   data_dir: data
 *   recipes: [raw_spec, dis_spec_scac_trainable]
 *   years: [dcase2023, dcase2024]
 *   seeds: 0-3                 # or [0, 1, 2, 3]
 *   machines: [fan, ToyCar]    # optional: only these machine types
 *   set: [visualize.enabled=false]          # optional: --set for every cell
 *   recipe_set: { ae: [trainer.max_epochs=50] }   # optional: --set for one recipe's cells
 *   axes: { trainer.max_epochs: [8, 16] }   # optional: one cell per value (per combination)
 */
import path from 'node:path';
import YAML from 'yaml';
import { z } from 'zod';
import { DCASE_YEARS } from '../dcase/index.js';
import { getRecipe } from '../recipes/catalogue.js';
import { readText } from '../util/files.js';

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** `0-3`, `0,2,5`, `7` or a YAML list of integers. */
export function parseSeeds(v: unknown, where = 'seeds'): number[] {
  const fail = () => new Error(`${where}: expected a range like 0-3, a list like 0,1,2 or [0, 1, 2], got ${JSON.stringify(v)}`);
  let out: number[];
  if (Array.isArray(v)) out = v.map((x) => (Number.isInteger(x) ? (x as number) : NaN));
  else if (typeof v === 'number') out = [v];
  else if (typeof v === 'string') {
    const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(v);
    if (range) {
      const [a, b] = [Number(range[1]), Number(range[2])];
      if (b < a) throw fail();
      out = Array.from({ length: b - a + 1 }, (_, i) => a + i);
    } else out = v.split(',').map((s) => (/^\s*\d+\s*$/.test(s) ? Number(s) : NaN));
  } else throw fail();
  if (out.length === 0 || out.some((x) => !Number.isInteger(x) || x < 0)) throw fail();
  if (new Set(out).size !== out.length) throw new Error(`${where}: a seed is listed twice (${out.join(', ')})`);
  return out;
}

export const gridSchema = z
  .object({
    name: z.string().regex(/^[\w.-]+$/, 'one folder name: letters, digits, "_", "-", "."'),
    result_dir: z.string().default('results'),
    data_dir: z.string().default('data'),
    recipes: z.array(z.string()).min(1),
    years: z.array(z.enum(DCASE_YEARS)).min(1),
    seeds: z.union([z.string(), z.number(), z.array(z.number())]).transform((v, ctx) => {
      try {
        return parseSeeds(v);
      } catch (e) {
        ctx.addIssue({ code: z.ZodIssueCode.custom, message: (e as Error).message });
        return z.NEVER;
      }
    }),
    machines: z.array(z.string()).min(1).optional(),
    set: z.array(z.string()).default([]),
    /** Settings of one recipe's cells (a section another recipe lacks, e.g. `ae.*`, belongs here). */
    recipe_set: z.record(z.array(z.string())).default({}),
    axes: z.record(z.array(scalar).min(1)).default({}),
  })
  .strict();

export type GridSpec = z.output<typeof gridSchema>;
export type GridInput = z.input<typeof gridSchema>;

/** Validates a grid (recipes must exist: a typo gets the nearest name); `where` names the source in errors. */
export function parseGrid(raw: unknown, where: string): GridSpec {
  const r = gridSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new Error(`${where}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  for (const recipe of r.data.recipes) {
    try {
      getRecipe(recipe);
    } catch (e) {
      throw new Error(`${where}: recipes: ${(e as Error).message}`);
    }
  }
  for (const recipe of Object.keys(r.data.recipe_set)) {
    if (!r.data.recipes.includes(recipe)) throw new Error(`${where}: recipe_set: "${recipe}" is not one of the grid's recipes (${r.data.recipes.join(', ')})`);
  }
  for (const key of Object.keys(r.data.axes)) {
    if (!/^[\w.]+$/.test(key)) throw new Error(`${where}: axes: "${key}" is not a config key path`);
  }
  return r.data;
}

/** Reads a grid file; relative result_dir / data_dir are taken from the working directory, as the CLI's are. */
export async function readGridFile(file: string): Promise<GridSpec> {
  let raw: unknown;
  try {
    raw = YAML.parse(await readText(file, 'grid file'));
  } catch (e) {
    throw new Error(`${file}: not a grid file (${(e as Error).message})`);
  }
  return parseGrid(raw, path.basename(file) === file ? file : path.resolve(file));
}
