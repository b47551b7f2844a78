/**
 * DCASE Task 2 editions: machine lists, sections, clip durations (spec data-and-evaluation §3).
 * Everything here is data; functions only look it up and fail clearly on unknown input.
 */

/**
 * Editions every step supports: ASDKit's 2020–2024, and 2025 and 2026 (beyond ASDKit; their data
 * and official scores are described in README "DCASE 2025" / "DCASE 2026").
 */
export const DCASE_YEARS = ['dcase2020', 'dcase2021', 'dcase2022', 'dcase2023', 'dcase2024', 'dcase2025', 'dcase2026'] as const;
export type Dcase = (typeof DCASE_YEARS)[number];
export type SplitDE = 'dev' | 'eval';
export type SplitTT = 'train' | 'test';

/**
 * Longest clip of each edition in seconds (the `sec` a `dcase202x` string stands for): ASDKit
 * tiles/crops every clip to it. 2026 mixes 6, 10, 11–12 and 16 s clips and which evaluation
 * machine is the 16 s one is unknown (README "DCASE 2026"), so `dcase2026` is the longest, 16 s.
 */
export const CLIP_SECONDS: Readonly<Record<string, number>> = {
  dcase2020: 11.0,
  dcase2021: 10.0,
  dcase2022: 10.0,
  dcase2023: 18.0,
  dcase2024: 12.0,
  dcase2025: 12.0,
  dcase2026: 16.0,
};

/**
 * Clip length per machine type where the year mixes lengths (2026 only), from WAV-header counts in
 * third-party sources (README "DCASE 2026"). Dev ToyCar is 11 s in one source and 12 s in another:
 * 12 so that nothing is cropped. Evaluation machines other than ToothBrush are 10 or 16 s, not
 * known which: absent. Informational (synthetic data, checks): a configured `extract.sec` /
 * `datamodule.sec` always wins, and `sec: dcase2026` means the year's longest (CLIP_SECONDS).
 */
const MACHINE_SECONDS: Readonly<Partial<Record<string, Readonly<Record<string, number>>>>> = {
  dcase2026: {
    ToyCar: 12, ToyCarEmu: 12, bearingEmu: 10, fan: 10, gearboxEmu: 10, sliderEmu: 10, valveEmu: 10,
    ToothBrush: 6,
  },
};

/**
 * Known clip length (seconds) of one machine type of a year whose lengths differ per machine, or
 * undefined (lengths not per machine, or unknown: then the year's longest, CLIP_SECONDS, applies).
 */
export function machineSeconds(dcase: string, machine: string): number | undefined {
  const table = MACHINE_SECONDS[dcase];
  return table && Object.hasOwn(table, machine) ? table[machine] : undefined;
}

export const SAMPLE_RATE = 16000;

/**
 * The clip length (seconds; null = every clip whole) extraction uses for one machine: a
 * configured `sec` wins, else the machine's known length (DCASE 2026 mixes 6–16 s clips), else
 * the year's longest (ASDKit's rule; every year before 2026 has one length).
 */
export function machineSec(dcase: string, machine: string, sec?: number | string): number | null {
  if (sec !== undefined) return resolveSec(sec);
  return machineSeconds(dcase, machine) ?? resolveSec(dcase);
}

/** ASDKit's machine table (format, table step), in its order; 2025 from the organisers' baseline (README). */
const MACHINES: Readonly<Record<Dcase, Readonly<Record<SplitDE, readonly string[]>>>> = {
  dcase2020: {
    dev: ['fan', 'pump', 'slider', 'ToyCar', 'ToyConveyor', 'valve'],
    eval: ['fan', 'pump', 'slider', 'ToyCar', 'ToyConveyor', 'valve'],
  },
  dcase2021: {
    dev: ['fan', 'gearbox', 'pump', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
    eval: ['fan', 'gearbox', 'pump', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
  },
  dcase2022: {
    dev: ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
    eval: ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
  },
  dcase2023: {
    dev: ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
    eval: ['bandsaw', 'grinder', 'shaker', 'ToyDrone', 'ToyNscale', 'ToyTank', 'Vacuum'],
  },
  dcase2024: {
    dev: ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
    eval: [
      '3DPrinter', 'AirCompressor', 'BrushlessMotor', 'HairDryer', 'HoveringDrone',
      'RoboticArm', 'Scanner', 'ToothBrush', 'ToyCircuit',
    ],
  },
  dcase2025: {
    dev: ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'],
    eval: ['AutoTrash', 'BandSealer', 'CoffeeGrinder', 'HomeCamera', 'Polisher', 'ScrewFeeder', 'ToyPet', 'ToyRCCar'],
  },
  // The organisers' machine_type_2026_{dev,eval}.yaml; "Emu" is part of the type name (README).
  dcase2026: {
    dev: ['ToyCar', 'ToyCarEmu', 'bearingEmu', 'fan', 'gearboxEmu', 'sliderEmu', 'valveEmu'],
    eval: ['BlowerDustCollector', 'Sander', 'SewingMachine', 'ToothBrush', 'ToyDrone'],
  },
};

/** 2020 machine IDs (they play the role of sections), per machine and split. */
const IDS_2020: Readonly<Record<string, Readonly<Record<SplitDE, readonly number[]>>>> = {
  fan: { dev: [0, 2, 4, 6], eval: [1, 3, 5] },
  pump: { dev: [0, 2, 4, 6], eval: [1, 3, 5] },
  slider: { dev: [0, 2, 4, 6], eval: [1, 3, 5] },
  valve: { dev: [0, 2, 4, 6], eval: [1, 3, 5] },
  ToyCar: { dev: [1, 2, 3, 4], eval: [5, 6, 7] },
  ToyConveyor: { dev: [1, 2, 3], eval: [4, 5, 6] },
};

export function isDcase(x: string): x is Dcase {
  return (DCASE_YEARS as readonly string[]).includes(x);
}

/** Validates a dcase string; the error lists the supported years. */
export function assertDcase(x: string): Dcase {
  if (!isDcase(x)) {
    throw new Error(`unknown dcase "${x}": expected one of ${DCASE_YEARS.join(', ')}`);
  }
  return x;
}

/** Two-digit year suffix used in official-score names (`official23`). */
export function yearSuffix(dcase: Dcase): string {
  return dcase.slice(-2);
}

/** Machine list of one official subset, in ASDKit's order (table columns, format checks). */
export function machinesOf(dcase: Dcase, split: SplitDE): readonly string[] {
  return MACHINES[dcase][split];
}

/** Recipe loop order: union of dev and eval machines, alphabetical ignoring case. */
export function recipeMachines(dcase: Dcase): string[] {
  const all = new Set([...MACHINES[dcase].dev, ...MACHINES[dcase].eval]);
  return [...all].sort((a, b) => {
    const la = a.toLowerCase();
    const lb = b.toLowerCase();
    return la < lb ? -1 : la > lb ? 1 : 0;
  });
}

/** The subset a machine belongs to in 2023–2026 (decided by machine type). */
export function subsetOfMachine(dcase: Dcase, machine: string): SplitDE | undefined {
  if (MACHINES[dcase].dev.includes(machine)) return 'dev';
  if (MACHINES[dcase].eval.includes(machine)) return 'eval';
  return undefined;
}

/**
 * Whether each machine type has a single section (00) whose subset the type decides: 2023
 * onwards. Evaluation files then hold section 0 only and the official score is per section.
 */
export function oneSectionPerMachine(dcase: Dcase): boolean {
  return dcase !== 'dcase2020' && dcase !== 'dcase2021' && dcase !== 'dcase2022';
}

/**
 * Official sections of a split for one machine (spec §3.2): 2020 machine IDs; 2021/2022
 * sections 0–2 / 3–5; 2023–2026 section 0 for machines of that subset.
 */
export function officialSections(dcase: Dcase, machine: string, split: SplitDE): readonly number[] {
  switch (dcase) {
    case 'dcase2020': {
      const ids = IDS_2020[machine];
      if (!ids) throw new Error(`unknown dcase2020 machine "${machine}"`);
      return ids[split];
    }
    case 'dcase2021':
    case 'dcase2022':
      return split === 'dev' ? [0, 1, 2] : [3, 4, 5];
    default:
      return subsetOfMachine(dcase, machine) === split ? [0] : [];
  }
}

/** Whether the edition has source/target domains (2020 has not). */
export function hasDomains(dcase: Dcase): boolean {
  return dcase !== 'dcase2020';
}

/** Crop length in samples for a `sec` value (number, `dcase202x` string, or "all" → null). */
export function resolveSec(sec: number | string): number | null {
  if (typeof sec === 'number') {
    if (!(sec > 0) || !Number.isFinite(sec)) throw new Error(`invalid sec ${sec}: must be a positive number`);
    return sec;
  }
  if (sec === 'all') return null;
  if (sec.startsWith('dcase202')) {
    const s = CLIP_SECONDS[sec];
    if (s === undefined) throw new Error(`invalid sec "${sec}": no clip length is known for that edition`);
    return s;
  }
  const n = Number(sec);
  if (sec.trim() !== '' && Number.isFinite(n) && n > 0) return n;
  throw new Error(`invalid sec "${sec}": expected seconds, a dcase name (dcase2023) or "all"`);
}

/** `int(16000 * sec)` as ASDKit computes it. */
export function cropSamples(sec: number, sr = SAMPLE_RATE): number {
  return Math.trunc(sr * sec);
}
