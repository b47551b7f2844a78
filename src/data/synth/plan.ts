/**
 * Which clips a synthetic machine folder holds, per DCASE edition (spec data-and-evaluation
 * §1.2, §2.2, §3): sections, domains, clip-id widths and attribute strings in the unified names.
 * Everything here is seed-independent; only the audio content depends on the seed.
 */
import { CLIP_SECONDS, buildClipName, machineSeconds, officialSections, oneSectionPerMachine, recipeMachines } from '../../dcase/index.js';
import type { Dcase, SplitTT } from '../../dcase/index.js';
import type { FormattedSplit } from '../format.js';
import { Rng, hash32 } from '../../util/rng.js';

export type SynthSize = 'tiny' | 'small' | 'dcase';
export type Domain = 'source' | 'target';
export type Label = 'normal' | 'anomaly';

export interface ClipCounts {
  /** Training clips per section and domain (2020 has no target domain: `target` is ignored). */
  train: { source: number; target: number };
  /** Test clips per section × domain × label. */
  test: number;
}

export interface PlannedClip {
  /** 2025 also has supplemental clips (clean source-domain machine sound, no label). */
  split: FormattedSplit;
  section: number;
  domain: Domain;
  label: Label;
  name: string; // unified file name
  /** Hidden operating condition behind the sound (even when the name shows no attribute). */
  speed: number; // attribute level (integer, e.g. `vel_8`)
  mic: number; // 0 = machine has no mic attribute, else 1 or 2
}

/**
 * Default counts. `dcase` mirrors the real data (§1.2–§1.3); `tiny` keeps a demo to a few
 * hundred 2-s clips but still several per test cell, and gives the single-section years more
 * clips per section so their AUCs are not decided by a handful of pairs.
 */
export function defaultCounts(dcase: Dcase, size: SynthSize): ClipCounts {
  const oneSection = oneSectionPerMachine(dcase);
  switch (size) {
    case 'tiny':
      return oneSection ? { train: { source: 40, target: 4 }, test: 10 } : { train: { source: 12, target: 2 }, test: 8 };
    case 'small':
      return { train: { source: 100, target: dcase === 'dcase2021' ? 3 : 10 }, test: 20 };
    case 'dcase':
      if (dcase === 'dcase2020') return { train: { source: 1000, target: 0 }, test: 100 };
      if (dcase === 'dcase2021') return { train: { source: 1000, target: 3 }, test: 100 };
      return { train: { source: 990, target: 10 }, test: 50 };
  }
}

/** Clip length: tiny clips are short (the pipeline tiles them up to the year's `sec`). */
export function defaultSeconds(dcase: Dcase, size: SynthSize): number {
  return size === 'tiny' ? 2 : CLIP_SECONDS[dcase];
}

/**
 * Clip length of one machine: tiny 2 s; else the machine's known length (2026: machineSeconds),
 * 10 s for a 2026 machine whose length is unknown (three of the four unknown ones are 10 s), else
 * the year's length.
 */
export function machineDefaultSeconds(dcase: Dcase, machine: string, size: SynthSize): number {
  if (size === 'tiny') return 2;
  return machineSeconds(dcase, machine) ?? (dcase === 'dcase2026' ? 10 : CLIP_SECONDS[dcase]);
}

/** Channels of a year's clips: 2026 records near (channel 0) and far (channel 1) microphones. */
export function channelsOf(dcase: Dcase): number {
  return dcase === 'dcase2026' ? 2 : 1;
}

/**
 * 2026 dev ToyCar and ToyCarEmu number their test clips with one running index (0000–0199) over
 * the four domain × label cells; the other machines restart at 0000 per cell (README "DCASE 2026").
 */
function runningTestIds(dcase: Dcase, machine: string): boolean {
  return dcase === 'dcase2026' && (machine === 'ToyCar' || machine === 'ToyCarEmu');
}

/** Three machines for tiny (dev and eval types from 2023, a `noAttribute` one from 2024); else all. */
export function defaultMachines(dcase: Dcase, size: SynthSize): string[] {
  if (size !== 'tiny') return recipeMachines(dcase);
  const tiny: Record<Dcase, string[]> = {
    dcase2020: ['fan', 'ToyCar', 'valve'],
    dcase2021: ['fan', 'gearbox', 'ToyCar'],
    dcase2022: ['bearing', 'fan', 'ToyCar'],
    dcase2023: ['bandsaw', 'fan', 'ToyCar'],
    dcase2024: ['3DPrinter', 'fan', 'gearbox'],
    dcase2025: ['AutoTrash', 'bearing', 'fan'],
    dcase2026: ['ToothBrush', 'ToyCar', 'fan'],
  };
  return tiny[dcase];
}

/** Sections of a formatted machine folder: dev and eval sections side by side (§2.1). */
export function sectionsOf(dcase: Dcase, machine: string): number[] {
  const all = [...officialSections(dcase, machine, 'dev'), ...officialSections(dcase, machine, 'eval')];
  return [...new Set(all)].sort((a, b) => a - b);
}

/** Attribute names look like the real ones (`vel_8`, `spd_31_mic_1`); keys per machine type. */
const ATTR_KEY: Readonly<Record<string, string>> = {
  bearing: 'vel', slider: 'vel', bandsaw: 'vel', gearbox: 'volt', valve: 'pat', fan: 'm-n',
  pump: 'spd', grinder: 'grs', shaker: 'speed', Vacuum: 'spd', RoboticArm: 'weight', '3DPrinter': 'spd',
};

/**
 * Machines whose released names hide the attribute (`noAttribute`). 2024 (§1.2): BrushlessMotor
 * only in train. 2025 (the organisers' attribute correspondence files, README): dev bearing,
 * slider, ToyTrain; eval AutoTrash, Polisher, ScrewFeeder, ToyPet in train only — their test
 * names come from the ground-truth list, which shows the attributes.
 */
function hidesAttribute(dcase: Dcase, machine: string, split: SplitTT): boolean {
  if (dcase === 'dcase2024') {
    if (machine === 'BrushlessMotor') return split === 'train';
    return ['gearbox', 'slider', 'ToyTrain', 'AirCompressor', 'HoveringDrone', 'ToothBrush'].includes(machine);
  }
  if (dcase === 'dcase2025') {
    if (['AutoTrash', 'Polisher', 'ScrewFeeder', 'ToyPet'].includes(machine)) return split === 'train';
    return ['bearing', 'slider', 'ToyTrain'].includes(machine);
  }
  if (dcase === 'dcase2026') {
    // Train attribute strings as observed in the released file lists (README "DCASE 2026").
    if (['SewingMachine', 'ToothBrush'].includes(machine)) return split === 'train';
    return ['ToyCar', 'bearingEmu', 'sliderEmu', 'valveEmu'].includes(machine);
  }
  return false;
}

/**
 * Operating conditions of one section: three source speed levels and one target level outside
 * their range (the domain shift); Toy* machines also have two microphone positions.
 */
export function sectionLevels(machine: string, section: number): { source: number[]; target: number[]; mics: number[] } {
  const r = new Rng(hash32('levels', machine, section));
  const base = 4 + r.int(9);
  const target = r.next() < 0.5 ? base + 5 : base - 3;
  return {
    source: [base, base + 1, base + 2],
    target: [target],
    mics: machine.startsWith('Toy') ? [1, 2] : [0],
  };
}

/** Operating condition of the i-th clip of a section and domain: cycles so small sets cover every level and mic. */
export function conditionOf(machine: string, section: number, domain: Domain, i: number): { speed: number; mic: number } {
  const lv = sectionLevels(machine, section);
  const levels = domain === 'source' ? lv.source : lv.target;
  return { speed: levels[i % levels.length], mic: lv.mics[Math.floor(i / levels.length) % lv.mics.length] };
}

/**
 * Name of a 2025 supplemental clip: the form the organisers' README shows
 * (`section_00_machine_0001_.wav` …); the real names are unconfirmed, and format keeps any name.
 */
export function supplementalName(section: number, i: number): string {
  return `section_${String(section).padStart(2, '0')}_machine_${String(i + 1).padStart(4, '0')}_.wav`;
}

/** Speed factor of a level relative to the section's middle source level (5 % per level). */
export function speedFactor(machine: string, section: number, level: number): number {
  return 1 + 0.05 * (level - sectionLevels(machine, section).source[1]);
}

function attrString(machine: string, speed: number, mic: number): string {
  return `${ATTR_KEY[machine] ?? 'spd'}_${speed}${mic ? `_mic_${mic}` : ''}`;
}

/**
 * All clips of one machine folder, train before test (before 2025's supplemental clips, two per
 * test clip of a cell as in the real data's 100 to 50), sections ascending.
 */
export function planMachine(dcase: Dcase, machine: string, counts: ClipCounts): PlannedClip[] {
  if (!recipeMachines(dcase).includes(machine)) {
    throw new Error(`unknown ${dcase} machine "${machine}": expected one of ${recipeMachines(dcase).join(', ')}`);
  }
  const domains: Domain[] = dcase === 'dcase2020' ? ['source'] : ['source', 'target'];
  const idWidth = dcase === 'dcase2020' ? 8 : 4;
  const out: PlannedClip[] = [];
  let cell = 0; // test cells added so far (running test ids)
  const add = (split: SplitTT, section: number, domain: Domain, label: Label, n: number) => {
    const offset = split === 'test' && runningTestIds(dcase, machine) ? n * cell++ : 0;
    for (let i = 0; i < n; i++) {
      const { speed, mic } = conditionOf(machine, section, domain, i);
      // 2020 names and 2021 test names carry no attribute; some 2024/2025 names hide it.
      const attr =
        dcase === 'dcase2020' || (dcase === 'dcase2021' && split === 'test')
          ? ''
          : hidesAttribute(dcase, machine, split)
            ? 'noAttribute'
            : attrString(machine, speed, mic);
      const clipId = String(offset + i).padStart(idWidth, '0');
      const name = buildClipName({ section, domain, split, label, clipId, attr });
      out.push({ split, section, domain, label, name, speed, mic });
    }
  };
  const sections = sectionsOf(dcase, machine);
  for (const s of sections) {
    for (const d of domains) add('train', s, d, 'normal', d === 'source' ? counts.train.source : counts.train.target);
  }
  for (const s of sections) {
    for (const d of domains) for (const l of ['normal', 'anomaly'] as const) add('test', s, d, l, counts.test);
  }
  if (dcase === 'dcase2025') {
    for (const section of sections) {
      for (let i = 0; i < 2 * counts.test; i++) {
        const c = conditionOf(machine, section, 'source', i);
        out.push({ split: 'supplemental', section, domain: 'source', label: 'normal', name: supplementalName(section, i), ...c });
      }
    }
  }
  return out;
}
