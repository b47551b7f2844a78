/** Builders shared by the recipe files (which import only this and src/run, never each other). */
import type { RecipeDefinition, RunConfigInput } from '../run/index.js';

type ModelInput = NonNullable<RunConfigInput['model']>;

type Defaults = RecipeDefinition['defaults'];

/** A recipe whose run version is its name and whose seed folder is 0 (ASDKit's recipe scripts). */
export function defineRecipe(name: string, description: string, defaults: Omit<Defaults, 'version' | 'seed'>): RecipeDefinition {
  return { name, description, defaults: { version: name, seed: 0, ...defaults } };
}

/** What every trained clip-model recipe shares: one model for all machines, extraction from `last.ckpt`. */
export function trainedRecipe(
  name: string,
  description: string,
  model: ModelInput,
  sections: Pick<RunConfigInput, 'trainer' | 'datamodule'> = {},
): RecipeDefinition {
  return defineRecipe(name, description, {
    infer_ver: 'last',
    model,
    trainer: sections.trainer ?? {},
    datamodule: sections.datamodule ?? {},
    extract: { frontend: { type: 'restore' } },
  });
}
