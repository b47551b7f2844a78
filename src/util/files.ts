import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Our temp files: `.<name>.<pid>.<random>.asdkit-tmp`, next to the file they become. */
const TEMP_SUFFIX = '.asdkit-tmp';
const TEMP_RE = /^\.(.+)\.(\d+)\.[0-9a-f]+\.asdkit-tmp$/;
/** A temp file this old is stale even if its PID is alive again (PIDs are reused). */
const TEMP_MAX_AGE_MS = 6 * 3600 * 1000;
/** Bytes per write call: Node refuses single writes above 2 GiB. */
const CHUNK = 64 << 20;

/** A temp path of our naming next to `file` (sweepStaleTemps removes it once its process is gone). */
export const tempPath = (file: string) =>
  path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}${TEMP_SUFFIX}`);

/** A file-system error as one line naming the file; a full disk says so. */
export function fileError(file: string, e: unknown, verb = 'write'): Error {
  const code = (e as NodeJS.ErrnoException).code;
  const full = code === 'ENOSPC' || code === 'EDQUOT';
  const err = new Error(full ? `cannot ${verb} ${file}: the disk is full (${code}); free space and rerun` : `cannot ${verb} ${file}: ${(e as Error).message}`, { cause: e });
  if (code) (err as NodeJS.ErrnoException).code = code;
  return err;
}

/** Writes every byte of `data` at the handle's position, looping on short writes. */
async function writeAll(fh: fs.FileHandle, data: Uint8Array): Promise<void> {
  let off = 0;
  while (off < data.length) {
    const { bytesWritten } = await fh.write(data, off, Math.min(CHUNK, data.length - off));
    if (bytesWritten <= 0) throw Object.assign(new Error('short write'), { code: 'EIO' });
    off += bytesWritten;
  }
}

/** fsync of a folder so a rename survives a crash; not every platform or file system allows it. */
async function syncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r').catch(() => undefined);
  await fh?.sync().catch(() => undefined);
  await fh?.close().catch(() => undefined);
}

const bytesOf = (data: string | Uint8Array) => (typeof data === 'string' ? Buffer.from(data) : data);

/**
 * Writes a file completely or not at all: a temp file in the same folder, every byte checked,
 * fsync, rename over the target, fsync the folder. On any failure the temp file is removed and the
 * previous version (if any) stays as it was; the error names `file` (and says when the disk is full).
 */
export async function writeAtomic(file: string, data: string | Uint8Array): Promise<void> {
  const bytes = bytesOf(data);
  const tmp = tempPath(file);
  let fh: fs.FileHandle | undefined;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    fh = await fs.open(tmp, 'wx');
    await writeAll(fh, bytes);
    await fh.sync();
    await fh.close();
    fh = undefined;
    await fs.rename(tmp, file);
  } catch (e) {
    await fh?.close().catch(() => undefined);
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw fileError(file, e);
  }
  await syncDir(path.dirname(file));
}

/**
 * Appends `text` completely or not at all: a failed append (a full disk) is cut back to the
 * previous length, and the error names the file.
 */
export async function appendText(file: string, text: string | Uint8Array): Promise<void> {
  let fh: fs.FileHandle | undefined;
  let size = -1;
  try {
    fh = await fs.open(file, 'a');
    size = (await fh.stat()).size;
    await writeAll(fh, typeof text === 'string' ? Buffer.from(text) : text);
    await fh.close();
  } catch (e) {
    if (fh && size >= 0) await fh.truncate(size).catch(() => undefined);
    await fh?.close().catch(() => undefined);
    throw fileError(file, e, 'append to');
  }
}

/** Whether a process of this host is running (EPERM: it is, under another user). */
export function pidAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false; // kill(0) would signal our own group
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temp files of our naming that an interrupted process (kill -9, power loss) left in
 * `dir`: those whose process is gone, or older than a few hours. `recursive` also sweeps sub-folders.
 * Returns the removed paths. A missing folder has nothing to sweep.
 */
export async function sweepStaleTemps(dir: string, opts: { recursive?: boolean } = {}): Promise<string[]> {
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
  const removed: string[] = [];
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (opts.recursive) removed.push(...(await sweepStaleTemps(p, opts)));
      continue;
    }
    const m = TEMP_RE.exec(e.name);
    if (!m) continue;
    const pid = Number(m[2]);
    const mtime = (await fs.stat(p).catch(() => undefined))?.mtimeMs;
    if (mtime === undefined) continue;
    const stale = !pidAlive(pid) || Date.now() - mtime > TEMP_MAX_AGE_MS;
    if (stale && (await fs.rm(p, { force: true }).then(() => true, () => false))) removed.push(p);
  }
  return removed;
}

/** Whether a path exists. */
export async function exists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
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
