/** Helpers shared by the benchmark sections. */

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Left-aligned label column for the aligned per-section tables. */
export function row(label: string, text: string, width = 16): string {
  return `  ${label.padEnd(width)}${text}`;
}
