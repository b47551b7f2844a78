/**
 * The official pretrained checkpoints ASDKit's BEATs/EAT recipes expect (spec pretrained §5.1):
 * where to download them and where they go. Nothing here downloads: the files sit behind
 * OneDrive / Google Drive pages that need a browser, so the user fetches them once.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

export interface PretrainedSource {
  /** The official file name. */
  file: string;
  kind: 'beats' | 'eat';
  description: string;
  /** Where ASDKit (and our recipe configs) look for it, relative to the working directory. */
  defaultPath: string;
  url: string;
  /** The project page that lists the link. */
  upstream?: string;
  /** Used by a recipe (false: optional alternative). */
  required: boolean;
}

export const PRETRAINED_SOURCES: readonly PretrainedSource[] = [
  {
    file: 'BEATs_iter3.pt',
    kind: 'beats',
    description: 'BEATs iter3 (raw_beats, dis_beats_scac_trainable)',
    defaultPath: 'pretrained_models/beats/BEATs_iter3.pt',
    url: 'https://onedrive.live.com/?authkey=%21ACVDQ8YOHlNK%5Frw&id=6B83B49411CA81A7%2125969&cid=6B83B49411CA81A7&parId=root&parQt=sharedby&o=OneUp',
    upstream: 'https://github.com/microsoft/unilm/tree/master/beats',
    required: true,
  },
  {
    file: 'EAT-base_epoch10_pt.pt',
    kind: 'eat',
    description: 'EAT-base, 10 pre-training epochs (raw_eat, dis_eat_scac_trainable)',
    defaultPath: 'pretrained_models/eat/EAT-base_epoch10_pt.pt',
    url: 'https://drive.google.com/file/d/10pklbY_fKraQUIBizSg1kv4lJXNWxpxl/view',
    required: true,
  },
  {
    file: 'EAT-large_epoch20_pt.pt',
    kind: 'eat',
    description: 'EAT-large, 20 pre-training epochs (optional; 1024-d features)',
    defaultPath: 'pretrained_models/eat/EAT-large_epoch20_pt.pt',
    url: 'https://drive.google.com/file/d/1PEgriRvHsqrtLzlA478VemX7Q0ZGl889/view',
    required: false,
  },
];

/** How to obtain one official file, as a few lines of text. */
export function downloadHint(s: PretrainedSource): string {
  const upstream = s.upstream ? `\n  (listed at ${s.upstream})` : '';
  return `${s.file}: ${s.description}\n  download: ${s.url}${upstream}\n  save as:  ${s.defaultPath}\n  then check it with: asdkit pretrained check ${s.defaultPath}`;
}

/**
 * The path of a configured checkpoint (`configured` may also be just an official file name,
 * which means its default location), relative paths taken from `cwd`. A missing file is an
 * error that says where to download it.
 */
export async function resolvePretrained(configured: string, cwd = process.cwd()): Promise<string> {
  const official = PRETRAINED_SOURCES.find((s) => s.file === configured);
  const file = path.resolve(cwd, official ? official.defaultPath : configured);
  if (await fs.stat(file).then((s) => s.isFile() || s.isDirectory(), () => false)) return file;
  const source = PRETRAINED_SOURCES.find((s) => s.file === path.basename(file));
  const how = source
    ? `\n${downloadHint(source)}`
    : `\nThe official files are:\n${PRETRAINED_SOURCES.map(downloadHint).join('\n')}\n(run \`asdkit pretrained\` for the list)`;
  throw new Error(`pretrained checkpoint not found: ${file}${how}`);
}
