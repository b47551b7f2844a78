import YAML from 'yaml';
import { runConfigSchema, type RunConfig, type RunConfigInput } from './schema.js';
import { AE_RECIPE, DIS_RECIPES } from './dis.js';
import { PRETRAINED_RECIPES } from './pretrained.js';
import { rawSpec } from './raw_spec.js';

export interface RecipeDefinition {
  name: string;
  description: string;
  /** Everything but what the user must choose (dcase) and the paths. */
  defaults: Omit<RunConfigInput, 'recipe' | 'dcase'>;
}

export const RECIPES: Record<string, RecipeDefinition> = Object.fromEntries([rawSpec, AE_RECIPE, ...DIS_RECIPES, ...PRETRAINED_RECIPES].map((r) => [r.name, r]));

export function getRecipe(name: string): RecipeDefinition {
  const r = RECIPES[name];
  if (!r) throw new Error(`unknown recipe "${name}" (available: ${Object.keys(RECIPES).join(', ')}; see \`asdkit recipes\`)`);
  return r;
}

/** Applies one `key.path=value` override; the value is read as YAML (numbers, booleans, lists). */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new Error(`invalid override "${assignment}": expected key.path=value`);
  const keys = assignment.slice(0, eq).trim().split('.');
  let value: unknown;
  try {
    value = YAML.parse(assignment.slice(eq + 1));
  } catch (e) {
    throw new Error(`invalid override "${assignment}": ${(e as Error).message}`);
  }
  let node: Record<string, unknown> = target;
  for (const k of keys.slice(0, -1)) {
    const next = node[k];
    if (next === undefined) node[k] = {};
    else if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      throw new Error(`invalid override "${assignment}": "${k}" is not a section`);
    }
    node = node[k] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]] = value;
}

/** Recipe defaults + explicit options + `--set` overrides, validated. */
export function resolveRunConfig(
  recipe: string,
  options: Omit<Partial<RunConfigInput>, 'dcase'> & { dcase: string },
  overrides: string[] = [],
): RunConfig {
  const def = getRecipe(recipe);
  const merged = structuredClone({ ...def.defaults, recipe, ...stripUndefined(options) }) as Record<string, unknown>;
  for (const o of overrides) applyOverride(merged, o);
  const parsed = runConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`invalid configuration for recipe ${recipe}: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
