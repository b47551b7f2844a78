/** A progress bar on stderr for long steps (hidden when stderr is not a terminal). */
import cliProgress from 'cli-progress';

export interface Bar {
  update(done: number, total: number, label?: string): void;
  stop(): void;
}

export function progressBar(title: string): Bar {
  if (!process.stderr.isTTY) return { update() {}, stop() {} };
  const bar = new cliProgress.SingleBar(
    { format: `${title} {label} [{bar}] {value}/{total} {percentage}% ETA {eta_formatted}`, stream: process.stderr, hideCursor: true },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  return {
    update(done, total, label = '') {
      if (!started) {
        bar.start(total, done, { label });
        started = true;
      }
      bar.setTotal(total);
      bar.update(done, { label });
    },
    stop() {
      if (started) bar.stop();
    },
  };
}

/** An AbortSignal that fires on Ctrl-C, so native work stops cleanly. */
export function interruptSignal(): AbortSignal {
  const ac = new AbortController();
  process.once('SIGINT', () => {
    process.stderr.write('\nasdkit: interrupted, stopping…\n');
    ac.abort();
  });
  return ac.signal;
}
