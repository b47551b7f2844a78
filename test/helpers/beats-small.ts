import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { readNpz } from '../../src/io/npz.js';
import { ordered, tensor, torchSave } from './torch-pickle-writer.js';

const fixtures = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fixtures');

/** A 2-layer, 64-wide BEATs with every official key (random weights from the beats_small vectors), saved like the official file into `dir`. */
export async function smallBeatsCheckpoint(dir: string): Promise<string> {
  const json = JSON.parse(await fs.readFile(path.join(fixtures, 'beats_small.json'), 'utf8')) as { preset: { beats_cfg: unknown } };
  const z = await readNpz(path.join(fixtures, 'beats_small.npz'));
  const model = [...z].filter(([k]) => k.startsWith('sd.')).map(([k, a]): [string, unknown] => [k.slice(3), tensor(a.data as Float32Array, a.shape)]);
  const file = path.join(dir, 'BEATs_small.pt');
  await fs.writeFile(file, torchSave({ cfg: json.preset.beats_cfg, model: ordered(model as Array<[string, never]>) }));
  return file;
}
