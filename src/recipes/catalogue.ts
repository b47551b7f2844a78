/** Every recipe, by name. The recipe files never import this. */
import type { RecipeDefinition } from '../run/index.js';
import { nearest } from '../util/nearest.js';
import { AE_RECIPE } from './ae.js';
import { DIS_RECIPES } from './dis.js';
import { PRETRAINED_RECIPES } from './pretrained.js';
import { RAW_SPEC_RECIPE } from './raw-spec.js';

export const RECIPES: Record<string, RecipeDefinition> = Object.fromEntries(
  [RAW_SPEC_RECIPE, AE_RECIPE, ...DIS_RECIPES, ...PRETRAINED_RECIPES].map((r) => [r.name, r]),
);

export function getRecipe(name: string): RecipeDefinition {
  const r = RECIPES[name];
  if (r) return r;
  const near = nearest(name, Object.keys(RECIPES));
  throw new Error(`unknown recipe "${name}"${near ? ` (did you mean ${near}?)` : ''}; available: ${Object.keys(RECIPES).join(', ')} (see \`asdkit recipes\`)`);
}
