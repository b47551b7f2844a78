/** A recipe's run configuration: its defaults, the caller's options, `--set` overrides, validated. */
import YAML from 'yaml';
import { runConfigSchema, type RunConfig, type RunConfigInput } from '../run/index.js';
import { getRecipe } from './catalogue.js';

/** Keys that reach an object's prototype: no config field has these names. */
const FORBIDDEN_KEYS = new Set(['__proto__', 'constructor', 'prototype']);

/** Refuses a forbidden key anywhere in a value read from user text. */
function checkKeys(value: unknown, assignment: string): void {
  if (value === null || typeof value !== 'object') return;
  for (const [k, v] of Object.entries(value)) {
    if (FORBIDDEN_KEYS.has(k)) throw new Error(`invalid override "${assignment}": "${k}" is not a configuration key`);
    checkKeys(v, assignment);
  }
}

/**
 * Applies one `key.path=value` override; the value is read as YAML (numbers, booleans, lists).
 * Only own fields are followed and `__proto__`, `constructor`, `prototype` are refused, so user
 * text can never reach Object.prototype.
 */
export function applyOverride(target: Record<string, unknown>, assignment: string): void {
  const eq = assignment.indexOf('=');
  if (eq <= 0) throw new Error(`invalid override "${assignment}": expected key.path=value`);
  const keys = assignment.slice(0, eq).trim().split('.');
  for (const k of keys) {
    if (k === '') throw new Error(`invalid override "${assignment}": empty key`);
    if (FORBIDDEN_KEYS.has(k)) throw new Error(`invalid override "${assignment}": "${k}" is not a configuration key`);
  }
  let value: unknown;
  try {
    value = YAML.parse(assignment.slice(eq + 1));
  } catch (e) {
    throw new Error(`invalid override "${assignment}": ${(e as Error).message}`);
  }
  checkKeys(value, assignment);
  let node: Record<string, unknown> = target;
  for (const k of keys.slice(0, -1)) {
    const next = Object.hasOwn(node, k) ? node[k] : undefined;
    if (next === undefined) node[k] = Object.create(null) as Record<string, unknown>;
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
