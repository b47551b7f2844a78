import { promises as fs } from 'node:fs';
import path from 'node:path';
import writeFileAtomic from 'write-file-atomic';

/** Writes a file through a temp file + rename so an interrupted run never leaves half a file. */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  await writeFileAtomic(file, typeof data === 'string' ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

/** Files in `dir` whose names match `re` (empty when the folder does not exist). */
export async function filesMatching(dir: string, re: RegExp): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter((f) => re.test(f)).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** Thrown when a step finds its outputs already present and overwrite is off (ASDKit exits 1). */
export class SkipError extends Error {
  constructor(readonly existing: string) {
    super(`[Skip this process] ${existing} already exists. Set overwrite=True to overwrite it.`);
    this.name = 'SkipError';
  }
}

/** Reads a file, naming it in the error when it is missing or unreadable. */
export async function readText(file: string, what = 'file'): Promise<string> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what} not found: ${file}`);
    throw new Error(`cannot read ${what} ${file}: ${(e as Error).message}`);
  }
}
