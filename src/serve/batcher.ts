/**
 * Dynamic batching for one detector: clips that arrive within `maxWaitMs` of the first waiting
 * one are scored as one native batch (up to `maxBatch`), one batch at a time. The queue is
 * bounded (`maxQueue` waiting clips: beyond it `submit` fails with a QueueFullError at once), a
 * clip whose request is aborted while it waits leaves the queue, and `drain()` scores what is
 * queued and then refuses more (graceful shutdown).
 */
export class QueueFullError extends Error {
  constructor(readonly limit: number) {
    super(`the queue is full (${limit} clips waiting); retry later`);
    this.name = 'QueueFullError';
  }
}

export class ClosedError extends Error {
  constructor() {
    super('the service is shutting down');
    this.name = 'ClosedError';
  }
}

export interface BatcherOptions<I, O> {
  maxBatch: number;
  maxWaitMs: number;
  maxQueue: number;
  /** Scores one batch; returns one result per item, in order. */
  run: (items: I[]) => Promise<O[]>;
  /** After each batch (metrics). */
  onBatch?: (size: number, ms: number) => void;
}

interface Waiting<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

export class Batcher<I, O> {
  private queue: Array<Waiting<I, O>> = [];
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly o: BatcherOptions<I, O>) {
    if (!(o.maxBatch >= 1 && o.maxQueue >= 1 && o.maxWaitMs >= 0)) throw new RangeError('batcher: maxBatch and maxQueue must be >= 1, maxWaitMs >= 0');
  }

  /** Clips waiting (not yet in a running batch). */
  get depth(): number {
    return this.queue.length;
  }

  /** Room for `n` more clips? (A request of several clips is admitted whole or not at all.) */
  hasRoom(n: number): boolean {
    return this.queue.length + n <= this.o.maxQueue;
  }

  submit(item: I, signal?: AbortSignal): Promise<O> {
    if (this.closed) return Promise.reject(new ClosedError());
    if (!this.hasRoom(1)) return Promise.reject(new QueueFullError(this.o.maxQueue));
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<O>((resolve, reject) => {
      const w: Waiting<I, O> = { item, resolve, reject, signal };
      if (signal) {
        w.onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) {
            this.queue.splice(i, 1);
            reject(signal.reason);
          }
        };
        signal.addEventListener('abort', w.onAbort, { once: true });
      }
      this.queue.push(w);
      this.schedule();
    });
  }

  private schedule(): void {
    if (this.running || this.queue.length === 0) return;
    if (this.queue.length >= this.o.maxBatch || this.closed) {
      this.flush();
      return;
    }
    this.timer ??= setTimeout(() => this.flush(), this.o.maxWaitMs);
  }

  private flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    if (this.running || this.queue.length === 0) return;
    const batch = this.queue.splice(0, this.o.maxBatch);
    for (const w of batch) if (w.onAbort) w.signal!.removeEventListener('abort', w.onAbort);
    const started = performance.now();
    this.running = this.o
      .run(batch.map((w) => w.item))
      .then(
        (results) => batch.forEach((w, i) => w.resolve(results[i])),
        (e) => batch.forEach((w) => w.reject(e)),
      )
      .finally(() => {
        this.o.onBatch?.(batch.length, performance.now() - started);
        this.running = undefined;
        this.schedule();
      });
  }

  /** Stops taking clips, scores every queued one, resolves when the last batch is done. */
  async drain(): Promise<void> {
    this.closed = true;
    this.schedule();
    while (this.running || this.queue.length > 0) {
      await this.running;
      this.schedule();
    }
  }
}
