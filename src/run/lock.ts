/**
 * One process per run folder: two runs writing the same folder mix their outputs. The lock is a
 * file created with O_EXCL holding the holder's PID and host; a lock whose process is gone (same
 * host, PID not running) is taken over. Holding it, a run also sweeps the temp files that killed
 * processes left in the folder.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileError, pidAlive, sweepStaleTemps, tempPath } from '../util/files.js';

export const LOCK_FILE = '.asdkit.lock';
/** A lock file that never got its content (its writer died at once) is stale after this long. */
const UNREADABLE_STALE_MS = 60_000;

interface Holder {
  pid: number;
  host: string;
  started: string;
  token: string;
}

export interface RunLock {
  file: string;
  release(): Promise<void>;
}

async function readHolder(file: string): Promise<{ text: string; holder?: Holder; mtime: number } | undefined> {
  try {
    const [text, st] = await Promise.all([fs.readFile(file, 'utf8'), fs.stat(file)]);
    let holder: Holder | undefined;
    try {
      holder = JSON.parse(text) as Holder;
    } catch {
      holder = undefined;
    }
    return { text, holder, mtime: st.mtimeMs };
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw fileError(file, e, 'read');
  }
}

/** Moves a stale lock aside; a lock that changed meanwhile (another process took it) is put back. */
async function takeOver(file: string, seen: string): Promise<void> {
  const aside = tempPath(file);
  try {
    await fs.rename(file, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw fileError(file, e, 'take over');
  }
  const moved = await fs.readFile(aside, 'utf8').catch(() => seen);
  if (moved !== seen) await fs.link(aside, file).catch(() => undefined);
  await fs.rm(aside, { force: true });
}

/**
 * Takes the lock of `dir` (created when missing), or refuses with the holder's PID and host.
 * Release it when done; a process killed without releasing leaves a lock the next run takes over.
 */
export async function lockRunDir(dir: string): Promise<RunLock> {
  const file = path.join(dir, LOCK_FILE);
  const mine: Holder = { pid: process.pid, host: os.hostname(), started: new Date().toISOString(), token: randomBytes(8).toString('hex') };
  await fs.mkdir(dir, { recursive: true }).catch((e) => {
    throw fileError(dir, e, 'create');
  });
  for (let attempt = 0; attempt < 5; attempt++) {
    let fh: fs.FileHandle | undefined;
    try {
      fh = await fs.open(file, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw fileError(file, e, 'create');
    }
    if (fh) {
      try {
        await fh.writeFile(JSON.stringify(mine) + '\n');
        await fh.close();
      } catch (e) {
        await fh.close().catch(() => undefined);
        await fs.rm(file, { force: true });
        throw fileError(file, e);
      }
      return { file, release: () => release(file, mine.token) };
    }
    const found = await readHolder(file);
    if (!found) continue; // released meanwhile
    const h = found.holder;
    if (h && typeof h.pid === 'number') {
      if (h.host !== mine.host) {
        throw new Error(
          `${dir} is in use by asdkit PID ${h.pid} on host ${h.host} (since ${h.started}); ` +
            `its process cannot be checked from ${mine.host}: wait for it, or remove ${file} if it is gone`,
        );
      }
      if (pidAlive(h.pid)) {
        throw new Error(`${dir} is in use by asdkit PID ${h.pid} on host ${h.host} (since ${h.started}); wait for it to finish, or stop it`);
      }
    } else if (Date.now() - found.mtime < UNREADABLE_STALE_MS) {
      throw new Error(`${dir} is being locked by another asdkit process (${file} is not complete yet); retry in a minute`);
    }
    await takeOver(file, found.text);
  }
  throw new Error(`cannot lock ${dir}: ${file} keeps changing hands; is another asdkit starting there?`);
}

async function release(file: string, token: string): Promise<void> {
  const found = await readHolder(file).catch(() => undefined);
  if (found?.holder?.token === token) await fs.rm(file, { force: true });
}

/** Runs `fn` holding the lock of `dir`, after sweeping the stale temp files in it. */
export async function withRunLock<T>(dir: string, fn: () => Promise<T>): Promise<T> {
  const lock = await lockRunDir(dir);
  try {
    await sweepStaleTemps(dir, { recursive: true });
    return await fn();
  } finally {
    await lock.release();
  }
}
