/** The resolved configuration a run writes next to its outputs (`output/<infer_ver>/config.yaml`). */
import path from 'node:path';
import YAML from 'yaml';
import { exists, readText, writeAtomic } from '../util/files.js';
import { CONFIG_FILE, outputDir, type RunIds } from './ids.js';
import { runConfigSchema, type RunConfig } from './schema.js';

/** Where a run's config.yaml is. */
export const runConfigFile = (ids: RunIds): string => path.join(outputDir(ids), CONFIG_FILE);

/** Reads and validates a run's config.yaml; errors name the file and the field. */
export async function readRunConfig(file: string): Promise<RunConfig> {
  let raw: unknown;
  try {
    raw = YAML.parse(await readText(file, 'run configuration'));
  } catch (e) {
    throw new Error(`${file}: not a run configuration (${(e as Error).message})`);
  }
  const parsed = runConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${file}: invalid run configuration: ${issue.path.join('.') || '(root)'}: ${issue.message}`);
  }
  return parsed.data;
}

/** The run's config.yaml, or undefined when there is none. */
export async function findRunConfig(ids: RunIds): Promise<{ file: string; config: RunConfig } | undefined> {
  const file = runConfigFile(ids);
  if (!(await exists(file))) return undefined;
  return { file, config: await readRunConfig(file) };
}

export async function writeRunConfig(c: RunConfig, ids: RunIds): Promise<string> {
  const file = runConfigFile(ids);
  await writeAtomic(file, YAML.stringify(c));
  return file;
}
