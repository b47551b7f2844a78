/**
 * The download step (spec data-and-evaluation §1.1): fetches the Zenodo zips of one edition into
 * `<dataDir>/original/<dcase>/<dev|eval>_data/raw/` and unpacks them there.
 *
 * Unlike ASDKit (`curl -L -O` + `unzip`, refusing to run when the folder exists) it is
 * restartable: downloads go to `<file>.part` and resume with HTTP Range, a `<file>.done` marker
 * records a complete unpack so reruns skip finished archives, transient failures are retried
 * with back-off, and zip entries that could write outside `raw/` are refused before anything of
 * that archive is extracted.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { crc32 } from 'node:zlib';
import yauzl from 'yauzl';
import type { Dcase } from '../dcase/index.js';
import { writeAtomic } from '../util/files.js';
import { archiveUrl, archivesOf, type Archive } from './archives.js';

export interface DownloadProgress {
  file: string;
  /** Bytes of the zip on disk so far (a resumed download starts at the `.part` size). */
  bytes: number;
  /** Full size of the zip when the server told it. */
  total: number | undefined;
  /** Bytes per second over the current request. */
  rate: number;
}

export type ArchiveAction = 'planned' | 'skipped' | 'downloaded' | 'unpacked';

export interface ArchiveStatus {
  file: string;
  url: string;
  /** `downloading` / `unpacking` while working, then the final action. */
  status: 'downloading' | 'unpacking' | ArchiveAction;
}

export interface DownloadOptions {
  dataDir: string;
  dcase: Dcase;
  /** Only these machine types (default: all of the edition). */
  machines?: readonly string[];
  /** Replaces `https://zenodo.org` in every URL (mirrors, tests). */
  baseUrl?: string;
  /** Archives fetched at the same time (default 3). */
  concurrency?: number;
  /** Extra attempts per archive after a network error, 5xx or 429 (default 5). */
  retries?: number;
  /** Wait before retry number `attempt` (0-based); default exponential from 1 s, capped at 60 s. */
  backoffMs?: (attempt: number) => number;
  /** A request that delivers no bytes for this long is dropped and retried (default 120 s). */
  stallTimeoutMs?: number;
  /** Expected checksums per zip file name, as Zenodo writes them (`md5:<hex>`). */
  checksums?: Readonly<Record<string, string>>;
  /** Only report what would be fetched and where; no network, nothing written. */
  dryRun?: boolean;
  onProgress?: (e: DownloadProgress) => void;
  onStatus?: (e: ArchiveStatus) => void;
  signal?: AbortSignal;
}

export interface ArchiveOutcome {
  archive: Archive;
  /** The URL actually used (after `baseUrl`). */
  url: string;
  /** Final path of the zip. */
  zip: string;
  rawDir: string;
  /** planned (dry run), skipped (already unpacked), downloaded (+ unpacked), unpacked (zip was there). */
  action: ArchiveAction;
}

export interface DownloadResult {
  /** `<dataDir>/original/<dcase>` (absolute). */
  root: string;
  archives: ArchiveOutcome[];
}

/** A failure with a decision on whether trying again can help. */
export class DownloadError extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
  ) {
    super(message);
    this.name = 'DownloadError';
  }
}

/** Thrown when a zip holds an entry that is unsafe to extract; nothing of that zip was written. */
export class UnsafeArchiveError extends Error {
  constructor(
    readonly archive: string,
    readonly entry: string,
    reason: string,
  ) {
    super(`refusing to unpack ${archive}: entry "${entry}" ${reason}`);
    this.name = 'UnsafeArchiveError';
  }
}

const defaultBackoff = (attempt: number): number => Math.min(60_000, 1000 * 2 ** attempt) * (0.75 + Math.random() * 0.5);

export async function downloadDataset(opts: DownloadOptions): Promise<DownloadResult> {
  const root = path.resolve(opts.dataDir, 'original', opts.dcase);
  const checksums = parseChecksums(opts.checksums ?? {});
  const plan: ArchiveOutcome[] = archivesOf(opts.dcase, opts.machines).map((archive) => {
    const rawDir = path.join(root, `${archive.subset}_data`, 'raw');
    return { archive, url: archiveUrl(archive, opts.baseUrl), zip: path.join(rawDir, archive.file), rawDir, action: 'planned' };
  });
  if (opts.dryRun) {
    for (const p of plan) if (await exists(`${p.zip}.done`)) p.action = 'skipped';
    return { root, archives: plan };
  }

  // One failure stops the others (they resume next run), but we wait for all to settle so
  // no write is still in flight when this function returns.
  const stop = new AbortController();
  const signal = opts.signal ? AbortSignal.any([opts.signal, stop.signal]) : stop.signal;
  const report = (p: ArchiveOutcome, status: ArchiveStatus['status']) => opts.onStatus?.({ file: p.archive.file, url: p.url, status });
  const one = async (p: ArchiveOutcome): Promise<void> => {
    if (await exists(`${p.zip}.done`)) {
      p.action = 'skipped';
      report(p, p.action);
      return;
    }
    await fs.mkdir(p.rawDir, { recursive: true });
    p.action = 'unpacked';
    if (!(await exists(p.zip))) {
      report(p, 'downloading');
      await fetchResumable(p.url, p.zip, {
        retries: opts.retries ?? 5,
        backoffMs: opts.backoffMs ?? defaultBackoff,
        stallTimeoutMs: opts.stallTimeoutMs ?? 120_000,
        md5: checksums.get(p.archive.file),
        onProgress: opts.onProgress,
        signal,
      });
      p.action = 'downloaded';
    }
    report(p, 'unpacking');
    const entries = await unpackZip(p.zip, p.rawDir, signal);
    await writeAtomic(`${p.zip}.done`, JSON.stringify({ url: p.url, entries, unpackedAt: new Date().toISOString() }) + '\n');
    report(p, p.action);
  };

  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < plan.length && !signal.aborted) {
      const p = plan[next++]!;
      try {
        await one(p);
      } catch (e) {
        stop.abort(e);
        throw e;
      }
    }
  };
  const n = Math.max(1, Math.min(opts.concurrency ?? 3, plan.length));
  const settled = await Promise.allSettled(Array.from({ length: n }, worker));
  if (opts.signal?.aborted) throw abortError(opts.signal);
  // The first real failure, not the aborts it caused in the other workers.
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected' && s.reason === stop.signal.reason);
  if (failed) throw failed.reason;
  if (stop.signal.aborted) throw stop.signal.reason;
  return { root, archives: plan };
}

// ---------------------------------------------------------------------------------------------
// Resumable HTTP download

interface FetchOptions {
  retries: number;
  backoffMs: (attempt: number) => number;
  stallTimeoutMs: number;
  /** Expected md5 (hex); filled from response headers when not given. */
  md5?: string;
  onProgress?: (e: DownloadProgress) => void;
  signal: AbortSignal;
}

/** Fetches `url` to `zip` through `zip.part`, retrying transient failures with back-off. */
async function fetchResumable(url: string, zip: string, o: FetchOptions): Promise<void> {
  const state = { md5: o.md5 };
  for (let attempt = 0; ; attempt++) {
    o.signal.throwIfAborted();
    try {
      return await fetchOnce(url, zip, state, o);
    } catch (e) {
      if (o.signal.aborted) throw abortError(o.signal);
      if (!isRetryable(e) || attempt >= o.retries) {
        const tries = attempt + 1;
        const msg = `download of ${url} failed${tries > 1 ? ` after ${tries} attempts` : ''}: ${describe(e)}`;
        throw new DownloadError(msg, false);
      }
      await sleep(o.backoffMs(attempt), undefined, { signal: o.signal }).catch(() => {
        throw abortError(o.signal);
      });
    }
  }
}

/** Drops a request that stops delivering bytes (a dead connection otherwise hangs forever). */
class StallError extends DownloadError {
  constructor(ms: number) {
    super(`no data received for ${ms} ms`, true);
  }
}

async function fetchOnce(url: string, zip: string, state: { md5?: string }, o: FetchOptions): Promise<void> {
  const part = `${zip}.part`;
  const have = Math.max(0, await sizeOf(part));
  const stall = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => stall.abort(new StallError(o.stallTimeoutMs)), o.stallTimeoutMs);
  };
  touch();
  const signal = AbortSignal.any([o.signal, stall.signal]);
  try {
    // identity: the byte counts must match the file on the server, not a compressed transfer.
    const headers: Record<string, string> = { 'accept-encoding': 'identity' };
    if (have > 0) headers.range = `bytes=${have}-`;
    const res = await fetch(url, { headers, signal, redirect: 'follow' });
    const digest = md5FromDigest(res.headers.get('digest'));
    if (digest) state.md5 ??= digest;

    if (res.status === 416 && have > 0) {
      // Nothing left after `have`: the .part is complete unless the server says otherwise.
      await res.body?.cancel();
      const total = parseContentRange(res.headers.get('content-range'))?.total;
      if (total !== undefined && total !== have) {
        await fs.rm(part, { force: true });
        throw new DownloadError(`server reports ${total} bytes but ${have} were downloaded; starting over`, true);
      }
      clearTimeout(timer); // hashing a large file must not count as a stall
      return await finish(part, zip, state.md5, url);
    }
    if (!res.ok) {
      await res.body?.cancel();
      const retry = res.status >= 500 || res.status === 429 || res.status === 408;
      throw new DownloadError(`HTTP ${res.status} ${res.statusText}`.trim(), retry);
    }

    let offset = 0;
    let total: number | undefined;
    if (res.status === 206) {
      const cr = parseContentRange(res.headers.get('content-range'));
      if (!cr || cr.start !== have) {
        await res.body?.cancel();
        await fs.rm(part, { force: true });
        throw new DownloadError(`unexpected Content-Range "${res.headers.get('content-range')}" for a request from byte ${have}`, true);
      }
      offset = have;
      total = cr.total;
    } else {
      // 200: the whole file (the server ignored Range, or none was sent), so start over.
      total = parseLength(res.headers.get('content-length'));
      const contentMd5 = base64ToHex(res.headers.get('content-md5'));
      if (contentMd5) state.md5 ??= contentMd5; // only a full body's Content-MD5 describes the file
    }

    let bytes = offset;
    const start = Date.now();
    let lastReport = 0;
    const progress = (force: boolean) => {
      const now = Date.now();
      if (!o.onProgress || (!force && now - lastReport < 100)) return;
      lastReport = now;
      const secs = (now - start) / 1000;
      o.onProgress({ file: path.basename(zip), bytes, total, rate: secs > 0 ? (bytes - offset) / secs : 0 });
    };
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        bytes += chunk.length;
        touch();
        progress(false);
        cb(null, chunk);
      },
    });
    const out = createWriteStream(part, { flags: offset > 0 ? 'a' : 'w' });
    const body = res.body ? Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) : Readable.from([]);
    await pipeline(body, counter, out);
    progress(true);
    if (total !== undefined && bytes !== total) {
      if (bytes > total) await fs.rm(part, { force: true });
      throw new DownloadError(`received ${bytes} bytes, expected ${total}`, true);
    }
    clearTimeout(timer);
    await finish(part, zip, state.md5, url);
  } catch (e) {
    // The stall timer's abort surfaces as whatever the fetch/stream layer wraps it in.
    if (stall.signal.aborted && !o.signal.aborted) throw stall.signal.reason;
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/** Verifies the md5 when one is known, then gives the .part its final name. */
async function finish(part: string, zip: string, md5: string | undefined, url: string): Promise<void> {
  if (md5) {
    const actual = await md5Of(part);
    if (actual !== md5) {
      await fs.rm(part, { force: true });
      throw new DownloadError(`checksum mismatch for ${path.basename(zip)} from ${url}: md5 ${actual}, expected ${md5}`, false);
    }
  }
  await fs.rename(part, zip);
}

const NETWORK_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH']);

/** Network failures and transient HTTP statuses are worth another try; file-system errors are not. */
function isRetryable(e: unknown): boolean {
  if (e instanceof DownloadError) return e.retryable;
  const err = e as { name?: string; code?: string; cause?: { code?: string } };
  if (err?.name === 'TypeError') return true; // fetch: "fetch failed", body: "terminated"
  const code = err?.code ?? err?.cause?.code;
  return code !== undefined && (NETWORK_CODES.has(code) || code.startsWith('UND_ERR'));
}

function describe(e: unknown): string {
  const err = e as Error & { cause?: Error };
  const cause = err?.cause?.message && err.cause.message !== err.message ? ` (${err.cause.message})` : '';
  return `${err?.message ?? String(e)}${cause}`;
}

function parseContentRange(v: string | null): { start: number; total: number | undefined } | undefined {
  if (!v) return undefined;
  const m = /^bytes\s+(?:(\d+)-\d+|\*)\/(\d+|\*)$/i.exec(v.trim());
  if (!m) return undefined;
  return { start: m[1] === undefined ? -1 : Number(m[1]), total: m[2] === '*' ? undefined : Number(m[2]) };
}

function parseLength(v: string | null): number | undefined {
  return v !== null && /^\d+$/.test(v.trim()) ? Number(v) : undefined;
}

/** `Digest: md5=<base64>` (RFC 3230; describes the whole file even on a 206). */
function md5FromDigest(v: string | null): string | undefined {
  const m = v ? /(?:^|,)\s*md5=([^,\s]+)/i.exec(v) : null;
  return m ? base64ToHex(m[1]!) : undefined;
}

function base64ToHex(v: string | null | undefined): string | undefined {
  if (!v) return undefined;
  const b = Buffer.from(v.trim(), 'base64');
  return b.length === 16 ? b.toString('hex') : undefined;
}

function parseChecksums(c: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const [file, sum] of Object.entries(c)) {
    const m = /^md5:([0-9a-f]{32})$/i.exec(sum.trim());
    if (!m) throw new Error(`checksum for ${file} must be "md5:<32 hex digits>", got "${sum}"`);
    out.set(file, m[1]!.toLowerCase());
  }
  return out;
}

async function md5Of(file: string): Promise<string> {
  const h = createHash('md5');
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest('hex');
}

// ---------------------------------------------------------------------------------------------
// Safe unzip

let tmpCounter = 0;

type Planned = { entry: yauzl.Entry; kind: 'file' | 'dir'; target: string };

const S_IFMT = 0o170000;
const S_IFREG = 0o100000;
const S_IFDIR = 0o040000;
const S_IFLNK = 0o120000;

/**
 * Extracts `zip` into `dir`. Every entry is checked first, so an unsafe archive writes
 * nothing; files are written through a temp name and checked against the entry's CRC-32.
 * Returns the number of files written.
 */
export async function unpackZip(zip: string, dir: string, signal?: AbortSignal): Promise<number> {
  const name = path.basename(zip);
  const zf = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(zip, { lazyEntries: true, autoClose: false }, (err, z) =>
      err ? reject(new Error(`cannot read ${zip} as a zip (delete it to download again): ${err.message}`)) : resolve(z),
    ),
  );
  try {
    const plan: Planned[] = [];
    for (;;) {
      let entry: yauzl.Entry | null;
      try {
        entry = await nextEntry(zf);
      } catch (e) {
        // yauzl itself rejects absolute and `..` names; say which archive it was.
        throw new Error(`refusing to unpack ${name}: ${(e as Error).message}`);
      }
      if (!entry) break;
      const p = planEntry(entry, dir, name);
      if (p) plan.push(p);
    }
    let files = 0;
    for (const p of plan) {
      signal?.throwIfAborted();
      if (p.kind === 'dir') {
        await fs.mkdir(p.target, { recursive: true });
        continue;
      }
      await fs.mkdir(path.dirname(p.target), { recursive: true });
      // Unique: archives of one subset unpack concurrently into the same tree.
      const tmp = `${p.target}.tmp-${process.pid}-${++tmpCounter}`;
      try {
        let crc = 0;
        const check = new Transform({
          transform(chunk: Buffer, _enc, cb) {
            crc = crc32(chunk, crc);
            cb(null, chunk);
          },
        });
        await pipeline(await openEntry(zf, p.entry), check, createWriteStream(tmp), { signal });
        if (crc >>> 0 !== p.entry.crc32 >>> 0) throw new Error('CRC-32 mismatch');
        await fs.rename(tmp, p.target);
      } catch (e) {
        await fs.rm(tmp, { force: true });
        if (signal?.aborted) throw e;
        throw new Error(`unpacking ${name} entry "${p.entry.fileName}" failed: ${(e as Error).message}`, { cause: e });
      }
      files++;
    }
    return files;
  } finally {
    zf.close();
  }
}

/** Where an entry goes, null for macOS debris, or an UnsafeArchiveError. */
function planEntry(entry: yauzl.Entry, dir: string, archive: string): Planned | null {
  const n = entry.fileName;
  const refuse = (why: string) => new UnsafeArchiveError(archive, n, why);
  if (n === '' || n.includes('\0')) throw refuse('has an invalid name');
  if (n.startsWith('/') || n.includes('\\') || /^[a-zA-Z]:/.test(n)) throw refuse('is an absolute path');
  const parts = n.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.includes('..')) throw refuse('contains ".."');
  const mode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (mode === S_IFLNK) throw refuse('is a symbolic link');
  const isDir = n.endsWith('/') || mode === S_IFDIR;
  if (mode !== 0 && mode !== S_IFREG && mode !== S_IFDIR) throw refuse('is not a regular file or folder');
  const root = path.resolve(dir);
  const target = path.resolve(root, ...parts);
  if (target !== root && !target.startsWith(root + path.sep)) throw refuse(`resolves outside ${root}`);
  if (parts[0] === '__MACOSX' || parts[parts.length - 1] === '.DS_Store') return null;
  if (target === root) return null;
  return { entry, kind: isDir ? 'dir' : 'file', target };
}

function nextEntry(zf: yauzl.ZipFile): Promise<yauzl.Entry | null> {
  return new Promise((resolve, reject) => {
    const done = () => {
      zf.off('entry', onEntry);
      zf.off('end', onEnd);
      zf.off('error', onError);
    };
    const onEntry = (e: yauzl.Entry) => (done(), resolve(e));
    const onEnd = () => (done(), resolve(null));
    const onError = (e: Error) => (done(), reject(e));
    zf.on('entry', onEntry);
    zf.on('end', onEnd);
    zf.on('error', onError);
    zf.readEntry();
  });
}

function openEntry(zf: yauzl.ZipFile, entry: yauzl.Entry): Promise<Readable> {
  return new Promise((resolve, reject) => zf.openReadStream(entry, (err, s) => (err ? reject(err) : resolve(s))));
}

// ---------------------------------------------------------------------------------------------

async function exists(p: string): Promise<boolean> {
  return (await sizeOf(p)) >= 0;
}

/** Size of a file, -1 when it does not exist. */
async function sizeOf(p: string): Promise<number> {
  try {
    return (await fs.stat(p)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return -1;
    throw e;
  }
}

function abortError(signal: AbortSignal): Error {
  const e = new Error('download aborted', { cause: signal.reason });
  e.name = 'AbortError';
  return e;
}
