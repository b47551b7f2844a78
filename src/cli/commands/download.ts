/** `asdkit download`: fetch and unpack the original Zenodo archives (spec data-and-evaluation §1.1). */
import cliProgress from 'cli-progress';
import type { Argv, CommandModule } from 'yargs';
import { assertDcase } from '../../dcase/index.js';
import { downloadDataset, type ArchiveStatus, type DownloadProgress } from '../../data/download.js';
import { interruptSignal } from '../progress.js';

interface DownloadArgs {
  dcase: string;
  dataDir: string;
  machine?: string[];
  concurrency: number;
  retries: number;
  dryRun?: boolean;
  baseUrl?: string;
}

/** `1.5 GiB`-style sizes for progress output. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n : n.toFixed(1)} ${units[i]}`;
}

interface Reporter {
  progress(e: DownloadProgress): void;
  status(e: ArchiveStatus): void;
  stop(): void;
}

/** One bar per archive on a terminal (bytes, rate, ETA). */
function barReporter(): Reporter {
  const multi = new cliProgress.MultiBar(
    {
      format: '{file} [{bar}] {percentage}% {done}/{size} {speed} ETA {eta_formatted}',
      stream: process.stderr,
      hideCursor: true,
      clearOnComplete: false,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  const bars = new Map<string, cliProgress.SingleBar>();
  let stopped = false;
  const payload = (e: DownloadProgress) => ({
    file: e.file,
    done: formatBytes(e.bytes),
    size: e.total === undefined ? '?' : formatBytes(e.total),
    speed: `${formatBytes(e.rate)}/s`,
  });
  return {
    progress(e) {
      const total = e.total ?? Math.max(e.bytes, 1);
      const bar = bars.get(e.file);
      if (!bar) {
        bars.set(e.file, multi.create(total, e.bytes, payload(e)));
        return;
      }
      bar.setTotal(total);
      bar.update(e.bytes, payload(e));
    },
    status(e) {
      const msg =
        e.status === 'skipped' ? 'already unpacked, skipped' : e.status === 'downloaded' || e.status === 'unpacked' ? 'unpacked' : undefined;
      if (!msg || stopped) return;
      if (bars.size === 0) {
        console.error(`${e.file}: ${msg}`);
      } else {
        // Through the multibar (and redrawn now) so the message does not tear the bars.
        multi.log(`${e.file}: ${msg}\n`);
        multi.update();
      }
    },
    stop() {
      if (!stopped) multi.stop();
      stopped = true;
    },
  };
}

/** Plain lines for logs: status changes and every quarter of each download. */
function lineReporter(): Reporter {
  const shown = new Map<string, number>();
  return {
    progress(e) {
      if (e.total === undefined || e.total === 0) return;
      const quarter = Math.floor((4 * e.bytes) / e.total);
      if (quarter <= (shown.get(e.file) ?? 0)) return;
      shown.set(e.file, quarter);
      console.error(`${e.file}: ${25 * quarter}% of ${formatBytes(e.total)} (${formatBytes(e.rate)}/s)`);
    },
    status(e) {
      const what: Record<ArchiveStatus['status'], string> = {
        downloading: `downloading ${e.url}`,
        unpacking: 'unpacking',
        downloaded: 'downloaded and unpacked',
        unpacked: 'unpacked (zip was already here)',
        skipped: 'already unpacked, skipped',
        planned: 'planned',
      };
      console.error(e.status === 'downloading' ? what.downloading : `${e.file}: ${what[e.status]}`);
    },
    stop() {},
  };
}

export const downloadCommand: CommandModule<object, DownloadArgs> = {
  command: 'download',
  describe: 'download and unpack the original DCASE archives into <data-dir>/original/<dcase> (resumable)',
  builder: (y) =>
    y
      .option('dcase', { type: 'string', demandOption: true, describe: 'edition, dcase2020 … dcase2026' })
      .option('data-dir', { type: 'string', default: 'data', describe: 'writes <data-dir>/original/<dcase>/{dev,eval}_data/raw' })
      .option('machine', { type: 'string', array: true, describe: 'only these machine types (default: all)' })
      .option('concurrency', { type: 'number', default: 3, describe: 'archives fetched at the same time' })
      .option('retries', { type: 'number', default: 5, describe: 'extra attempts per archive on network errors, 5xx, 429' })
      .option('dry-run', { type: 'boolean', describe: 'list URLs and destinations, download nothing' })
      .option('base-url', { type: 'string', describe: 'replaces https://zenodo.org (a mirror)' })
      .check((a) => {
        if (!Number.isInteger(a.concurrency) || a.concurrency < 1) throw new Error('--concurrency must be a positive integer');
        if (!Number.isInteger(a.retries) || a.retries < 0) throw new Error('--retries must be a non-negative integer');
        return true;
      })
      .version(false) as unknown as Argv<DownloadArgs>,
  handler: async (a) => {
    const dcase = assertDcase(a.dcase);
    const common = { dataDir: a.dataDir, dcase, machines: a.machine, baseUrl: a.baseUrl };
    if (a.dryRun) {
      const r = await downloadDataset({ ...common, dryRun: true });
      for (const p of r.archives) console.log(`${p.action === 'skipped' ? 'done   ' : 'get    '} ${p.url} -> ${p.zip}`);
      console.log(`${r.archives.filter((p) => p.action === 'planned').length} of ${r.archives.length} archives to fetch into ${r.root}`);
      return;
    }
    const rep = process.stderr.isTTY ? barReporter() : lineReporter();
    try {
      const r = await downloadDataset({
        ...common, concurrency: a.concurrency, retries: a.retries,
        onProgress: (e) => rep.progress(e), onStatus: (e) => rep.status(e), signal: interruptSignal(),
      });
      rep.stop();
      const count = (k: string) => r.archives.filter((p) => p.action === k).length;
      console.log(`${r.root}: ${count('downloaded')} downloaded, ${count('unpacked')} unpacked from an existing zip, ${count('skipped')} already complete`);
    } finally {
      rep.stop();
    }
  },
};
