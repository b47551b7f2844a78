/**
 * Backend configurations as ASDKit writes them (spec backends-recipes-outputs §1.6): a class path
 * followed by constructor arguments in the order written; the column name is the class name and
 * every written value in Python text form, joined with '-'.
 */
import { backendConfigSchema } from '../run/schema.js';
import { pyFloat } from '../util/pyfloat.js';

type ParamType = 'int' | 'float' | 'bool' | 'metric' | 'string';

interface BackendSpec {
  params: Record<string, ParamType>;
  required: string[];
}

/** Backends this build can run, with their constructor parameters (Python types). */
export const BACKENDS: Record<string, BackendSpec> = {
  Knn: {
    params: {
      n_neighbors_so: 'int',
      n_neighbors_ta: 'int',
      metric: 'metric',
      smote_ratio: 'float',
      smote_neighbors: 'int',
      sep_section: 'bool',
      embed_key: 'string',
    },
    required: ['n_neighbors_so', 'n_neighbors_ta'],
  },
  Kmeans: {
    params: { n_clusters: 'int', metric: 'metric', sep_section: 'bool', embed_key: 'string' },
    required: ['n_clusters'],
  },
  KnnRescale: {
    params: { n_neighbors: 'int', k_ref_normalize: 'int', metric: 'metric', sep_section: 'bool', embed_key: 'string' },
    required: ['n_neighbors'],
  },
};

export type BackendParams = Record<string, number | string | boolean>;

export { backendConfigSchema, type BackendConfig } from '../run/schema.js';

export interface ResolvedBackend {
  kind: string;
  params: BackendParams;
  embedKey: string;
  /** Column in the score CSVs: `AS-<name>-main`. */
  column: string;
}

function render(value: number | string | boolean, type: ParamType): string {
  if (type === 'bool') return value ? 'True' : 'False';
  if (type === 'float') return pyFloat(Number(value));
  return String(value);
}

/** Validates a backend config against the known classes and derives its column name. */
export function resolveBackend(raw: unknown, where = 'backend config'): ResolvedBackend {
  const parsed = backendConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new Error(`${where}: expected a mapping with tgt_class and scalar options (${parsed.error.issues[0]?.message})`);
  }
  const { tgt_class, ...rest } = parsed.data;
  const kind = tgt_class.split('.').pop()!;
  const spec = BACKENDS[kind];
  if (!spec) {
    throw new Error(`${where}: unknown backend class "${tgt_class}" (available: ${Object.keys(BACKENDS).join(', ')})`);
  }
  const parts = [kind];
  const params: BackendParams = {};
  for (const [key, value] of Object.entries(rest)) {
    const type = spec.params[key];
    if (!type) throw new Error(`${where}: ${kind} has no option "${key}" (options: ${Object.keys(spec.params).join(', ')})`);
    if ((type === 'int' && !Number.isInteger(value)) || (type === 'float' && typeof value !== 'number')) {
      throw new Error(`${where}: ${kind}.${key} must be ${type === 'int' ? 'an integer' : 'a number'}, got ${JSON.stringify(value)}`);
    }
    if (type === 'bool' && typeof value !== 'boolean') throw new Error(`${where}: ${kind}.${key} must be true or false`);
    if (type === 'metric' && value !== 'cosine' && value !== 'euclid') {
      throw new Error(`${where}: Unexpected metric "${String(value)}" for ${kind} (use cosine or euclid)`);
    }
    params[key] = value;
    parts.push(render(value, type));
  }
  for (const key of spec.required) {
    if (!(key in params)) throw new Error(`${where}: ${kind} needs option "${key}"`);
  }
  const embedKey = typeof params.embed_key === 'string' ? params.embed_key : 'embed';
  return { kind, params, embedKey, column: `AS-${parts.join('-')}-main` };
}
