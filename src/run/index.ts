/** The ground layer of a run: ids and paths, step control, outcomes, defaults, seeds, the config schema. */
export * from './control.js';
export * from './defaults.js';
export * from './ids.js';
export * from './outcome.js';
export type { RecipeDefinition } from './recipe.js';
export * from './schema.js';
export * from './seed.js';
export * from './config-file.js';
export * from './fingerprint.js';
export * from './lock.js';
