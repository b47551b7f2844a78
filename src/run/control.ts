/** Options every long step accepts: device, progress and cancellation. */
export interface StepControl {
  /** `cpu`, `cuda` or `cuda:N` (default `cpu`). */
  device?: string;
  /** Called with (done, total) as work advances, in the step's own unit. */
  onProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}
