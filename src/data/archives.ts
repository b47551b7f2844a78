/**
 * The original DCASE Task 2 archives on Zenodo (spec data-and-evaluation §1.1), as data.
 * One entry per zip, in ASDKit's download order: dev, eval train, eval test; machines as listed.
 */
import type { Dcase, SplitDE } from '../dcase/index.js';

export const ZENODO_URL = 'https://zenodo.org';

export type ArchiveRole = 'dev' | 'eval_train' | 'eval_test';

export interface Archive {
  /** Folder the zip lands in: `<dataDir>/original/<dcase>/<subset>_data/raw/`. */
  subset: SplitDE;
  role: ArchiveRole;
  machine: string;
  /** Full Zenodo URL of the zip. */
  url: string;
  /** File name of the zip. */
  file: string;
}

interface Group {
  role: ArchiveRole;
  record: string;
  /** `records` for the two 2024 evaluation records and for 2025/2026 (the URLs their sources give). */
  kind?: 'record' | 'records';
  machines: readonly string[];
  file: (m: string) => string;
}

const M2020 = ['ToyCar', 'ToyConveyor', 'fan', 'valve', 'slider', 'pump'];
const M2021 = ['fan', 'gearbox', 'pump', 'slider', 'ToyCar', 'ToyTrain', 'valve'];
const M2022_DEV = ['bearing', 'fan', 'gearbox', 'slider', 'ToyCar', 'ToyTrain', 'valve'];
const M2023_EVAL = ['bandsaw', 'grinder', 'shaker', 'ToyDrone', 'ToyNscale', 'ToyTank', 'Vacuum'];
const M2024_EVAL = [
  '3DPrinter', 'AirCompressor', 'Scanner', 'ToyCircuit', 'HoveringDrone', 'HairDryer', 'ToothBrush', 'RoboticArm',
  'BrushlessMotor',
];
/** 2024 eval training archives: two were revised (`_r2`). */
const REVISED_2024 = new Set(['3DPrinter', 'RoboticArm']);
/**
 * 2025 (beyond ASDKit), in the organisers' download order: records, file names and machines as
 * in nttcslab/dcase2023_task2_baseline_ae, datasets/download_path_2025.yaml and
 * tools/data_download_2025.sh (commit 9b64dc42276a64f65b7cbf2761d3c9ec525cff94). Per the task
 * paper, the development and additional-training sets also hold each section's supplemental clips.
 */
const M2025_DEV = ['ToyCar', 'ToyTrain', 'bearing', 'fan', 'gearbox', 'slider', 'valve'];
const M2025_EVAL = ['ToyRCCar', 'ToyPet', 'HomeCamera', 'AutoTrash', 'Polisher', 'ScrewFeeder', 'BandSealer', 'CoffeeGrinder'];

/**
 * 2026 (beyond ASDKit), as in the organisers' datasets/download_path_2026.yaml and
 * data_download_2026{dev,add}.sh (nttcslab/dcase2023_task2_baseline_ae @ 9b64dc42) and the
 * evaluation record 20437238. Dev ToyCar was re-released on 2026-04-09 as `dev_ToyCar_r2.zip`
 * (it still unpacks to `ToyCar/`); the first `dev_ToyCar.zip` is not used.
 */
const M2026_DEV = ['ToyCar', 'ToyCarEmu', 'bearingEmu', 'fan', 'gearboxEmu', 'sliderEmu', 'valveEmu'];
const M2026_EVAL = ['ToyDrone', 'ToothBrush', 'SewingMachine', 'BlowerDustCollector', 'Sander'];

const TABLE: Readonly<Record<Dcase, readonly Group[]>> = {
  dcase2020: [
    { role: 'dev', record: '3678171', machines: M2020, file: (m) => `dev_data_${m}.zip` },
    { role: 'eval_train', record: '3727685', machines: M2020, file: (m) => `eval_data_train_${m}.zip` },
    { role: 'eval_test', record: '3841772', machines: M2020, file: (m) => `eval_data_test_${m}.zip` },
  ],
  dcase2021: [
    { role: 'dev', record: '4562016', machines: M2021, file: (m) => `dev_data_${m}.zip` },
    { role: 'eval_train', record: '4660992', machines: M2021, file: (m) => `eval_data_${m}_train.zip` },
    { role: 'eval_test', record: '4884786', machines: M2021, file: (m) => `eval_data_${m}_test.zip` },
  ],
  dcase2022: [
    { role: 'dev', record: '6355122', machines: M2022_DEV, file: (m) => `dev_${m}.zip` },
    { role: 'eval_train', record: '6462969', machines: M2022_DEV, file: (m) => `eval_data_${m}_train.zip` },
    { role: 'eval_test', record: '6586456', machines: M2022_DEV, file: (m) => `eval_data_${m}_test.zip` },
  ],
  dcase2023: [
    { role: 'dev', record: '7882613', machines: M2022_DEV, file: (m) => `dev_${m}.zip` },
    { role: 'eval_train', record: '7830345', machines: M2023_EVAL, file: (m) => `eval_data_${m}_train.zip` },
    { role: 'eval_test', record: '7860847', machines: M2023_EVAL, file: (m) => `eval_data_${m}_test.zip` },
  ],
  dcase2024: [
    { role: 'dev', record: '10902294', machines: M2022_DEV, file: (m) => `dev_${m}.zip` },
    {
      role: 'eval_train', record: '11259435', kind: 'records', machines: M2024_EVAL,
      file: (m) => `eval_data_${m}_train${REVISED_2024.has(m) ? '_r2' : ''}.zip`,
    },
    { role: 'eval_test', record: '11363076', kind: 'records', machines: M2024_EVAL, file: (m) => `eval_data_${m}_test.zip` },
  ],
  dcase2025: [
    { role: 'dev', record: '15097779', kind: 'records', machines: M2025_DEV, file: (m) => `dev_${m}.zip` },
    { role: 'eval_train', record: '15392814', kind: 'records', machines: M2025_EVAL, file: (m) => `eval_data_${m}_train.zip` },
    { role: 'eval_test', record: '15519362', kind: 'records', machines: M2025_EVAL, file: (m) => `eval_data_${m}_test.zip` },
  ],
  dcase2026: [
    { role: 'dev', record: '19336329', kind: 'records', machines: M2026_DEV, file: (m) => `dev_${m}${m === 'ToyCar' ? '_r2' : ''}.zip` },
    { role: 'eval_train', record: '20151556', kind: 'records', machines: M2026_EVAL, file: (m) => `eval_data_${m}_train.zip` },
    { role: 'eval_test', record: '20437238', kind: 'records', machines: M2026_EVAL, file: (m) => `eval_data_${m}_test.zip` },
  ],
};

/**
 * Archives of one edition, optionally only those of the given machine types. An unknown
 * machine name is an error listing the edition's machines (a typo would otherwise download nothing).
 */
export function archivesOf(dcase: Dcase, machines?: readonly string[]): Archive[] {
  const groups = TABLE[dcase];
  if (!groups) throw new Error(`no archive table for "${dcase}"`);
  if (machines && machines.length > 0) {
    const known = new Set(groups.flatMap((g) => g.machines));
    const unknown = machines.filter((m) => !known.has(m));
    if (unknown.length > 0) {
      throw new Error(`unknown ${dcase} machine(s) ${unknown.join(', ')}: expected some of ${[...known].join(', ')}`);
    }
  }
  const wanted = machines && machines.length > 0 ? new Set(machines) : undefined;
  const out: Archive[] = [];
  for (const g of groups) {
    for (const machine of g.machines) {
      if (wanted && !wanted.has(machine)) continue;
      const file = g.file(machine);
      out.push({
        subset: g.role === 'dev' ? 'dev' : 'eval',
        role: g.role,
        machine,
        url: `${ZENODO_URL}/${g.kind ?? 'record'}/${g.record}/files/${file}`,
        file,
      });
    }
  }
  return out;
}

/** The archive URL with `https://zenodo.org` replaced by `baseUrl` (mirrors, tests). */
export function archiveUrl(a: Archive, baseUrl?: string): string {
  if (!baseUrl) return a.url;
  return baseUrl.replace(/\/+$/, '') + a.url.slice(ZENODO_URL.length);
}
