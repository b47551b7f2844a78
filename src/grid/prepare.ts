/**
 * Inputs that cells of one year share are made once, before any cell runs, so that parallel
 * cells never write the same file: the checks of each recipe × year (formatted data present,
 * device, checkpoints) and the label file of the dis_* recipes (written here when missing).
 */
import { preflight } from '../recipes/preflight.js';
import { selectMachines } from '../recipes/run.js';
import type { GridCell } from './cells.js';

export async function prepareShared(cells: readonly GridCell[], onNote?: (line: string) => void): Promise<void> {
  const seen = new Set<string>();
  for (const c of cells) {
    const key = `${c.recipe}\0${c.dcase}\0${JSON.stringify(c.config.datamodule ?? null)}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const r = await preflight(c.config, { machines: await selectMachines(c.config) });
    for (const n of r.notes) onNote?.(`${c.recipe} ${c.dcase}: ${n}`);
    for (const w of r.warnings) onNote?.(`warning: ${c.recipe} ${c.dcase}: ${w}`);
  }
}
