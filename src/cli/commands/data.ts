/** `asdkit format`, `asdkit label`: the data preparation steps (spec data-and-evaluation §2, §4). */
import type { Argv, CommandModule } from 'yargs';
import { assertDcase } from '../../dcase/index.js';
import { LINK_MODES, checkCounts, formatDataset, undoFormat, type CountRow, type LinkMode } from '../../data/format.js';
import { LABEL_PRESETS, writeLabels, type LabelPreset } from '../../data/label.js';
import { warnIfSkipped } from '../print.js';
import { interruptSignal, progressBar } from '../progress.js';

interface FormatArgs {
  dcase: string;
  dataDir: string;
  linkMode: LinkMode;
  undo?: boolean;
  overwrite?: boolean;
  strictCounts?: boolean;
}

/** One line per machine and subset: train source/target, test normal/anomaly per domain. */
export function countsTable(rows: readonly CountRow[]): string[] {
  const groups = new Map<string, Map<string, number>>();
  for (const r of rows) {
    const g = `${r.machine} ${r.subset}`;
    const col = r.split === 'train' ? `train ${r.domain}` : `test ${r.domain} ${r.label}`;
    const m = groups.get(g) ?? groups.set(g, new Map()).get(g)!;
    m.set(col, (m.get(col) ?? 0) + r.count);
  }
  const cols = ['train source', 'train target', 'test source normal', 'test source anomaly', 'test target normal', 'test target anomaly'];
  const width = Math.max(16, ...[...groups.keys()].map((g) => g.length));
  const lines = [['machine subset'.padEnd(width), ...cols.map((c) => c.padStart(c.length))].join('  ')];
  for (const [g, m] of groups) lines.push([g.padEnd(width), ...cols.map((c) => String(m.get(c) ?? 0).padStart(c.length))].join('  '));
  return lines;
}

export const formatCommand: CommandModule<object, FormatArgs> = {
  command: 'format',
  describe: 'build <data-dir>/formatted/<dcase> from the downloaded <data-dir>/original/<dcase>',
  builder: (y) =>
    y
      .option('dcase', { type: 'string', demandOption: true, describe: 'edition, dcase2020 … dcase2026' })
      .option('data-dir', { type: 'string', default: 'data', describe: 'holds original/ and formatted/' })
      .option('link-mode', { choices: LINK_MODES, default: 'symlink' as LinkMode, describe: 'how formatted files refer to the originals' })
      .option('undo', { type: 'boolean', describe: 'move the files of an earlier --link-mode mv run back' })
      .option('overwrite', { type: 'boolean', describe: 'replace conflicting formatted files' })
      .option('strict-counts', { type: 'boolean', describe: 'warn where clip counts differ from the real dataset' })
      .version(false) as unknown as Argv<FormatArgs>,
  handler: async (a) => {
    const dcase = assertDcase(a.dcase);
    if (a.undo) {
      const u = await undoFormat({ dataDir: a.dataDir, dcase });
      console.log(`moved ${u.restored} files back to ${a.dataDir}/original/${dcase}`);
      return;
    }
    const bar = progressBar('format');
    try {
      const r = await formatDataset({
        dataDir: a.dataDir, dcase, linkMode: a.linkMode, overwrite: a.overwrite,
        onProgress: (d, t) => bar.update(d, t), signal: interruptSignal(),
      });
      bar.stop();
      for (const line of countsTable(r.counts)) console.log(line);
      if (r.supplemental > 0) console.log(`supplemental clips (in <machine>/supplemental/, not in train or test): ${r.supplemental}`);
      console.log(`${r.root}: ${r.written} written, ${r.skipped} already in place (${r.linkMode})`);
      for (const w of await checkCounts(dcase, r.counts, { strict: a.strictCounts })) console.error(`warning: ${w}`);
    } finally {
      bar.stop();
    }
  },
};

interface LabelArgs {
  dcase: string;
  dataDir: string;
  outDir: string;
  preset: LabelPreset;
  overwrite?: boolean;
}

export const labelCommand: CommandModule<object, LabelArgs> = {
  command: 'label',
  describe: 'write the class-label dictionary <out-dir>/<dcase>/<preset>.json of a formatted dataset',
  builder: (y) =>
    y
      .option('dcase', { type: 'string', demandOption: true, describe: 'edition, dcase2020 … dcase2026' })
      .option('data-dir', { type: 'string', default: 'data', describe: 'reads <data-dir>/formatted/<dcase>/raw' })
      .option('out-dir', { type: 'string', default: 'labels', describe: 'writes <out-dir>/<dcase>/<preset>.json (where the dis_* recipes look: datamodule.label_dir, default labels)' })
      .option('preset', { choices: LABEL_PRESETS, default: 'main' as LabelPreset, describe: 'main: machine/section/attribute/domain (2020: machine/section)' })
      .option('overwrite', { type: 'boolean', describe: 'replace an existing label set (e.g. one made from other data)' })
      .version(false) as unknown as Argv<LabelArgs>,
  handler: async (a) => {
    const r = await writeLabels({ dataDir: a.dataDir, dcase: assertDcase(a.dcase), preset: a.preset, outDir: a.outDir, overwrite: a.overwrite });
    if (warnIfSkipped(r)) return;
    const { file, labels } = r;
    console.log(
      `wrote ${file}: ${Object.keys(labels.path2idx_dict).length} paths, ${labels.num_class} classes ` +
        `(${labels.num_class_train} in train, ${labels.num_class_test} in test)`,
    );
  },
};
