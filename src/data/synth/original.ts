/**
 * Where each synthetic clip lies in a year's ORIGINAL layout, the tree `asdkit download` unpacks
 * (spec data-and-evaluation §1.2): `<dcase>/<dev|eval>_data/raw/<machine>/<folder>/<name>.wav`.
 * Train and dev test clips take the original form of their planned names. Evaluation test clips
 * are real entries of the year's ground-truth list — the hidden-label original name on disk,
 * the labelled name from the list — so that `asdkit format` labels them from the real list.
 */
import { officialSections, parseClipPath, type Dcase, type SplitDE } from '../../dcase/index.js';
import { formattedName } from '../format.js';
import { loadGroundTruth, type GroundTruth } from '../ground-truth/index.js';
import { conditionOf, planMachine, type ClipCounts, type PlannedClip } from './plan.js';

export interface OriginalClip extends PlannedClip {
  subset: SplitDE;
  /** Folder under `<machine>/`: train, test (2021: source_test, target_test) or supplemental. */
  folder: string;
  /** File name in the original layout (`name` stays the formatted name). */
  file: string;
}

/** 2021 keeps source and target test clips in separate folders. */
function testFolder(dcase: Dcase, domain: string): string {
  return dcase === 'dcase2021' ? `${domain}_test` : 'test';
}

/** Original name of a planned train or dev test clip: 2020's `<label>_id_<ID>_<number>.wav`, else unchanged. */
function originalName(dcase: Dcase, clip: PlannedClip): string {
  if (dcase !== 'dcase2020') return clip.name;
  const p = clip.name.split('_'); // section_<ID>_source_<split>_<label>_<number>.wav
  return `${p[4]}_id_${p[1]}_${p[5]}`;
}

/**
 * The first `perCell` ground-truth entries of each eval section × domain × label of a machine,
 * in list order, with conditions cycled as in the formatted plan.
 */
function evalTestClips(dcase: Dcase, machine: string, perCell: number, gt: GroundTruth): OriginalClip[] {
  const entries = gt.get(machine);
  if (!entries) throw new Error(`the ${dcase} ground-truth list has no entries for ${machine}`);
  const taken = new Map<string, number>();
  const out: OriginalClip[] = [];
  for (const [file, labelled] of entries) {
    // 2021 list names keep the domain; it decides the folder, as on the real disk.
    const folder = testFolder(dcase, labelled.split('_')[2]);
    const name = formattedName(dcase, machine, 'eval', folder, file, gt);
    const info = parseClipPath(`${machine}/test/${name}`);
    const domain = info.isTarget ? 'target' : 'source';
    const label = info.isNormal ? 'normal' : 'anomaly';
    const cell = `${info.section} ${domain} ${label}`;
    const i = taken.get(cell) ?? 0;
    if (i >= perCell) continue;
    taken.set(cell, i + 1);
    const condition = conditionOf(machine, info.section, domain, i);
    out.push({ split: 'test', section: info.section, domain, label, name, ...condition, subset: 'eval', folder, file });
  }
  return out;
}

/** Every clip of one machine type in the original layout, dev and eval subsets together. */
export async function planOriginal(dcase: Dcase, machine: string, counts: ClipCounts): Promise<OriginalClip[]> {
  const planned = planMachine(dcase, machine, counts); // validates the machine name first
  const evalSections = officialSections(dcase, machine, 'eval');
  const out: OriginalClip[] = [];
  for (const clip of planned) {
    const subset: SplitDE = evalSections.includes(clip.section) ? 'eval' : 'dev';
    if (subset === 'eval' && clip.split === 'test') continue; // replaced by real list entries below
    const folder = clip.split === 'test' ? testFolder(dcase, clip.domain) : clip.split;
    out.push({ ...clip, subset, folder, file: originalName(dcase, clip) });
  }
  if (evalSections.length > 0) out.push(...evalTestClips(dcase, machine, counts.test, await loadGroundTruth(dcase)));
  return out;
}
