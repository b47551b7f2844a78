/**
 * Progress on stderr for long steps, and Ctrl-C.
 *
 * On a terminal: cli-progress bars whose text is formatted here (our own ETA: never "NFs"), and for
 * `asdkit run` an overall line (machine k/N, total ETA) above the step bar. Without a terminal
 * (nohup, CI, Slurm logs): plain lines, at most one every few seconds, plus one when a step ends.
 */
import cliProgress from 'cli-progress';

/** What a training step adds to a progress line. */
export interface ProgressInfo {
  epoch?: number;
  epochs?: number;
  loss?: number;
  lr?: number;
}

export interface Bar {
  update(done: number, total: number, label?: string, info?: ProgressInfo): void;
  stop(): void;
}

/** Where progress goes and how time is read (tests pass their own). */
export interface ProgressOptions {
  write?: (text: string) => void;
  tty?: boolean;
  now?: () => number;
  /** Non-TTY: the longest gap between two lines of a running step (ms). Default 5 s. */
  intervalMs?: number;
  /** Non-TTY: the shortest gap; a 25/50/75 % mark inside it is not printed (ms). Default 1 s. */
  minGapMs?: number;
}

/** `ASDKIT_PROGRESS_SECONDS`: the gap between plain progress lines (default 5; 0 = every update). */
function envIntervalMs(): number | undefined {
  const v = process.env.ASDKIT_PROGRESS_SECONDS;
  if (v === undefined || v.trim() === '') return undefined;
  const s = Number(v);
  if (!Number.isFinite(s) || s < 0) throw new Error(`ASDKIT_PROGRESS_SECONDS must be a number of seconds >= 0, got "${v}"`);
  return s * 1000;
}

const defaults = (o: ProgressOptions) => {
  const intervalMs = o.intervalMs ?? envIntervalMs() ?? 5000;
  return {
    write: o.write ?? ((s: string) => void process.stderr.write(s)),
    tty: o.tty ?? Boolean(process.stderr.isTTY),
    now: o.now ?? (() => performance.now()),
    intervalMs,
    minGapMs: o.minGapMs ?? Math.min(1000, intervalMs),
  };
};

// ---------------------------------------------------------------- formatting (pure, tested)

/** A duration for people: `42s`, `3m05s`, `2h07m`; `--` when unknown (NaN, ∞, negative). */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  if (h < 100) return `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.round(s / 86400)}d`;
}

/** Items per second with 3 significant digits; `--` when unknown. */
export function formatRate(perSecond: number, unit = 'it'): string {
  if (!Number.isFinite(perSecond) || perSecond <= 0) return `-- ${unit}/s`;
  const digits = perSecond >= 100 ? 0 : perSecond >= 10 ? 1 : 2;
  return `${perSecond.toFixed(digits)} ${unit}/s`;
}

/** `epoch 2/16 loss 1.2345 lr 1.00e-3` (the parts that are known). */
export function trainText(i: ProgressInfo | undefined): string {
  if (!i) return '';
  const parts: string[] = [];
  if (i.epoch !== undefined) parts.push(`epoch ${i.epoch}${i.epochs !== undefined ? `/${i.epochs}` : ''}`);
  if (i.loss !== undefined) parts.push(`loss ${Number.isFinite(i.loss) ? i.loss.toPrecision(5) : String(i.loss)}`);
  if (i.lr !== undefined) parts.push(`lr ${i.lr.toExponential(2).replace('e+', 'e')}`);
  return parts.join(' ');
}

/** A bar of `width` cells. */
export function renderBar(done: number, total: number, width = 30): string {
  const f = total > 0 ? Math.min(1, Math.max(0, done / total)) : 0;
  const full = Math.round(f * width);
  return '█'.repeat(full) + '░'.repeat(width - full);
}

const percent = (done: number, total: number) => (total > 0 ? Math.floor((100 * Math.min(done, total)) / total) : 0);

/**
 * Rate and ETA of one segment of work (a step of a machine): measured from the segment's first
 * update, so a resumed or skipped start does not inflate the rate. While running, the rate is
 * unknown (NaN) for the first 50 ms and the ETA for the first half second; once the segment has
 * finished, its rate is exact however short it was (a fast step still says how fast).
 */
export class Meter {
  private t0 = NaN;
  private v0 = 0;
  private last = 0;
  private total = 0;
  private key = '';
  constructor(private readonly now: () => number) {}
  /** Records `done` of `total`; returns true when a new segment started (another key, fewer done, other total). */
  update(key: string, done: number, total: number): boolean {
    const k = `${key}\u0000${total}`;
    if (k !== this.key || done < this.last) {
      this.key = k;
      this.t0 = this.now();
      this.v0 = done;
      this.last = done;
      this.total = total;
      return true;
    }
    this.last = done;
    return false;
  }
  elapsed(): number {
    return (this.now() - this.t0) / 1000;
  }
  rate(): number {
    const dt = this.elapsed();
    const minDt = this.last >= this.total ? 0 : 0.05;
    return dt > minDt && this.last > this.v0 ? (this.last - this.v0) / dt : NaN;
  }
  /** Seconds left; unknown during the first half second (a rate from two updates says little). */
  eta(): number {
    return this.elapsed() >= 0.5 ? (this.total - this.last) / this.rate() : NaN;
  }
}

/** One progress line: `extract fan 120/200 60% 45.2 clip/s ETA 2s epoch 2/16 loss …`. */
export function progressLine(p: { title: string; label?: string; done: number; total: number; rate: number; eta: number; elapsed?: number; unit?: string; info?: ProgressInfo }): string {
  const head = [p.title, p.label].filter(Boolean).join(' ');
  const finished = p.done >= p.total;
  const time = finished ? (p.elapsed === undefined ? '' : `in ${formatDuration(p.elapsed)}`) : `ETA ${formatDuration(p.eta)}`;
  return [head, `${p.done}/${p.total}`, `${percent(p.done, p.total)}%`, formatRate(p.rate, p.unit), time, trainText(p.info)]
    .filter(Boolean)
    .join(' ');
}

// ---------------------------------------------------------------- non-TTY lines

/**
 * Decides when a plain line is due: a step's first 100 %, else at most every `intervalMs`, and at
 * 25/50/75 % when at least `minGapMs` passed since the last line.
 */
export class LineThrottle {
  private lastLine = -Infinity;
  private lastQuarter = 0;
  private finished = false;
  constructor(private readonly o: { now: () => number; intervalMs: number; minGapMs: number }) {}
  reset(): void {
    this.lastQuarter = 0;
    this.finished = false;
    this.lastLine = this.o.now(); // a new step's first line comes after an interval, or at its end
  }
  due(done: number, total: number): boolean {
    const t = this.o.now();
    if (done >= total) {
      if (this.finished) return false;
      this.finished = true;
      this.lastLine = t;
      return true;
    }
    const quarter = total > 0 ? Math.floor((4 * done) / total) : 0;
    const gap = t - this.lastLine;
    if (gap >= this.o.intervalMs || (quarter > this.lastQuarter && gap >= this.o.minGapMs)) {
      this.lastQuarter = quarter;
      this.lastLine = t;
      return true;
    }
    return false;
  }
}

// ---------------------------------------------------------------- bars

const textBar = (options: { stream?: NodeJS.WriteStream }) =>
  ({ format: (_o: unknown, _p: unknown, payload: { text?: string }) => payload.text ?? '', stream: options.stream ?? process.stderr, hideCursor: true, clearOnComplete: false }) as cliProgress.Options;

const live = new Set<{ stop(): void }>();

/** A progress bar for one kind of work (a step command): a bar on a terminal, plain lines otherwise. */
export function progressBar(title: string, options: ProgressOptions & { unit?: string } = {}): Bar {
  const o = defaults(options);
  const meter = new Meter(o.now);
  const text = (done: number, total: number, label: string, info?: ProgressInfo) =>
    progressLine({ title, label, done, total, rate: meter.rate(), eta: meter.eta(), elapsed: meter.elapsed(), unit: options.unit, info });
  if (!o.tty) {
    const throttle = new LineThrottle(o);
    return {
      update(done, total, label = '', info) {
        if (meter.update(label, done, total)) throttle.reset();
        if (throttle.due(done, total)) o.write(text(done, total, label, info) + '\n');
      },
      stop() {},
    };
  }
  const bar = new cliProgress.SingleBar(textBar({}));
  let started = false;
  const handle = {
    update(done: number, total: number, label = '', info?: ProgressInfo) {
      meter.update(label, done, total);
      const payload = { text: `${renderBar(done, total)} ${text(done, total, label, info)}` };
      if (!started) {
        bar.start(total, done, payload);
        started = true;
        live.add(handle);
      }
      bar.setTotal(total);
      bar.update(done, payload);
    },
    stop() {
      if (started) bar.stop();
      started = false;
      live.delete(handle);
    },
  };
  return handle;
}

/** The steps of one machine in a recipe run, in order (for the overall fraction). */
const MACHINE_STEPS = ['train', 'extract', 'score', 'evaluate', 'visualize'];

/**
 * `asdkit run`'s progress: an overall line (machine k/N, total ETA) above the step bar on a
 * terminal; plain lines naming the machine (k/N) and the total ETA otherwise. `message` prints a
 * line (skip, failure) without breaking the bars.
 */
export class RunProgress {
  private readonly o: ReturnType<typeof defaults>;
  private readonly meter: Meter;
  private readonly throttle: LineThrottle;
  private multi?: cliProgress.MultiBar;
  private overall?: cliProgress.SingleBar;
  private bar?: cliProgress.SingleBar;
  private machinesStarted = NaN;

  constructor(private readonly title: string, private readonly machines: string[], options: ProgressOptions = {}) {
    this.o = defaults(options);
    this.meter = new Meter(this.o.now);
    this.throttle = new LineThrottle(this.o);
  }

  /** Overall fraction and ETA over the machines (a dis_* model's training counts apart). */
  overallText(step: string, machine: string, done: number, total: number): { text: string; fraction: number } {
    const k = this.machines.indexOf(machine);
    if (k < 0) return { text: `${this.title}: ${step} (${machine}) before ${this.machines.length} machine(s)`, fraction: 0 };
    if (Number.isNaN(this.machinesStarted)) this.machinesStarted = this.o.now();
    const s = Math.max(0, MACHINE_STEPS.indexOf(step));
    const within = (s + (total > 0 ? Math.min(1, done / total) : 0)) / MACHINE_STEPS.length;
    const fraction = (k + within) / this.machines.length;
    const elapsed = (this.o.now() - this.machinesStarted) / 1000;
    const eta = fraction > 0.01 && elapsed >= 2 ? (elapsed * (1 - fraction)) / fraction : NaN;
    return { text: `${this.title}: machine ${k + 1}/${this.machines.length} (${machine}), total ETA ${formatDuration(eta)}`, fraction };
  }

  update(step: string, machine: string, done: number, total: number, info?: ProgressInfo): void {
    const fresh = this.meter.update(`${step} ${machine}`, done, total);
    const k = this.machines.indexOf(machine);
    const label = k < 0 ? `${step} ${machine}` : `${step} ${machine} (machine ${k + 1}/${this.machines.length})`;
    const overall = this.overallText(step, machine, done, total);
    const unit = step === 'train' ? 'step' : step === 'score' ? 'row' : step === 'extract' ? 'clip' : 'it';
    const line = progressLine({ title: this.title, label, done, total, rate: this.meter.rate(), eta: this.meter.eta(), elapsed: this.meter.elapsed(), unit, info });
    if (!this.o.tty) {
      if (fresh) this.throttle.reset();
      if (this.throttle.due(done, total)) {
        const totalEta = k < 0 || done >= total ? '' : `, ${overall.text.split(', ').at(-1)}`;
        this.o.write(line + totalEta + '\n');
      }
      return;
    }
    if (!this.multi) {
      this.multi = new cliProgress.MultiBar(textBar({}));
      this.overall = this.multi.create(1000, 0, { text: '' });
      this.bar = this.multi.create(total, done, { text: '' });
      live.add(this);
    }
    this.overall!.update(Math.round(overall.fraction * 1000), { text: overall.text });
    this.bar!.setTotal(total);
    this.bar!.update(done, { text: `${renderBar(done, total)} ${line}` });
  }

  message(text: string): void {
    if (this.multi) this.multi.log(text + '\n');
    else this.o.write(text + '\n');
  }

  stop(): void {
    this.multi?.stop();
    this.multi = undefined;
    live.delete(this);
  }
}

// ---------------------------------------------------------------- Ctrl-C

let controller: AbortController | undefined;
let interrupted = false;

function onSigint(): void {
  if (interrupted) process.exit(130); // a second Ctrl-C: leave at once
  interrupted = true;
  for (const b of [...live]) b.stop();
  process.stderr.write('\nasdkit: interrupted, stopping at the next batch… (Ctrl-C again to quit at once)\n');
  // Whatever ends the process from here on, its status says "interrupted".
  process.on('exit', () => {
    process.exitCode = 130;
  });
  controller!.abort();
}

/** An AbortSignal that fires on Ctrl-C, so native work stops cleanly (one per process; one message). */
export function interruptSignal(): AbortSignal {
  if (!controller) {
    controller = new AbortController();
    process.on('SIGINT', onSigint);
  }
  return controller.signal;
}

export const wasInterrupted = () => interrupted;

/**
 * Runs a command's work; when Ctrl-C stopped it, the process ends with status 130 and no error
 * line (the "interrupted" line said it), after the work's own clean-up ran.
 */
export async function exitOnInterrupt<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (e) {
    if (interrupted) process.exit(130);
    throw e;
  }
}
