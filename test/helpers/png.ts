/** Pixel statistics of a PNG, to tell a drawn figure or page from a blank one. */
import { PNG } from 'pngjs';

export function pngStats(bytes: Buffer): { width: number; height: number; variance: number; ink: number; colours: Set<string> } {
  const png = PNG.sync.read(bytes);
  let sum = 0, sum2 = 0, ink = 0;
  const colours = new Set<string>();
  const n = png.width * png.height;
  for (let i = 0; i < png.data.length; i += 4) {
    const [r, g, b] = [png.data[i], png.data[i + 1], png.data[i + 2]];
    const y = 0.299 * r + 0.587 * g + 0.114 * b;
    sum += y;
    sum2 += y * y;
    if (y < 245) ink++;
    colours.add(`#${[r, g, b].map((v) => v.toString(16).padStart(2, '0')).join('')}`);
  }
  return { width: png.width, height: png.height, variance: sum2 / n - (sum / n) ** 2, ink: ink / n, colours };
}
