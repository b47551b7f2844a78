/**
 * The unified file-name grammar of the formatted dataset (spec data-and-evaluation §2.2, §3.3):
 * `section_<SS>_<source|target>_<train|test>_<normal|anomaly>_<clip id>[_<attr tokens>].wav`.
 */

export interface ClipInfo {
  machine: string;
  split: string;
  section: number;
  isTarget: 0 | 1;
  isNormal: 0 | 1;
  attr: string;
}

export interface ClipName {
  section: number;
  domain: 'source' | 'target';
  split: 'train' | 'test' | 'supplemental';
  label: 'normal' | 'anomaly';
  clipId: string;
  attr?: string;
}

/** Parses metadata from a path ending in `<machine>/<split>/<file>.wav` (split on `/` only). */
export function parseClipPath(path: string): ClipInfo {
  const parts = path.split('/');
  if (parts.length < 3) throw new Error(`cannot parse clip path "${path}": expected <machine>/<split>/<file>.wav`);
  const file = parts[parts.length - 1];
  const split = parts[parts.length - 2];
  const machine = parts[parts.length - 3];
  const p = file.split('_');
  if (p.length < 6 || p[0] !== 'section') {
    throw new Error(`cannot parse clip name "${file}": expected section_<SS>_<domain>_<split>_<label>_<id>[_<attr>].wav`);
  }
  const section = Number.parseInt(p[1], 10);
  if (!/^\d+$/.test(p[1])) throw new Error(`cannot parse clip name "${file}": section "${p[1]}" is not a number`);
  let isTarget: 0 | 1;
  if (p[2] === 'target') isTarget = 1;
  else if (p[2] === 'source') isTarget = 0;
  else throw new Error(`cannot parse clip name "${file}": domain "${p[2]}" is neither source nor target`);
  let isNormal: 0 | 1;
  if (p[4] === 'normal') isNormal = 1;
  else if (p[4] === 'anomaly') isNormal = 0;
  else throw new Error(`cannot parse clip name "${file}": label "${p[4]}" is neither normal nor anomaly`);
  const attr = p.slice(6).join('_').split('.wav').join('');
  return { machine, split, section, isTarget, isNormal, attr };
}

/** Builds a unified clip name; the section is zero-padded to two digits. */
export function buildClipName(c: ClipName): string {
  const ss = String(c.section).padStart(2, '0');
  const attr = c.attr ? `_${c.attr}` : '';
  return `section_${ss}_${c.domain}_${c.split}_${c.label}_${c.clipId}${attr}.wav`;
}

/** `<dcase>/raw/<machine>/<split>/<file>` — the key of label dictionaries. */
export function relativeDcasePath(path: string): string {
  const parts = path.split('/');
  if (parts.length < 5) throw new Error(`path "${path}" has fewer than five components`);
  const rel = parts.slice(-5);
  if (rel[1] !== 'raw' || !rel[0].startsWith('dcase202') || !['train', 'test', 'supplemental'].includes(rel[3])) {
    throw new Error(`path "${path}" is not inside <data_dir>/formatted/<dcase>/raw/<machine>/<split>/`);
  }
  return rel.join('/');
}
