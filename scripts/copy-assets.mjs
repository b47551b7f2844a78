// Copies the data files TypeScript does not emit (ground-truth lists) from src/ into dist/.
import { cpSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
for (const dir of ['data/ground-truth']) {
  // Only the data: the folder also holds its loader module, which tsc compiles.
  cpSync(path.join(root, 'src', dir), path.join(root, 'dist', dir), { recursive: true, filter: (f) => !f.endsWith('.ts') });
}
