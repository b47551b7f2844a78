import type { RunConfigInput } from './schema.js';

/** A recipe is data: its name, a line for `asdkit recipes`, and the defaults of its run config. */
export interface RecipeDefinition {
  name: string;
  description: string;
  /** Everything but what the user must choose (dcase) and the paths. */
  defaults: Omit<RunConfigInput, 'recipe' | 'dcase'>;
}
