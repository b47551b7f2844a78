// Lists the native sources (one per line) so binding.gyp can rebuild when any of them changes.
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const out = [];
const walk = (dir) => {
  for (const e of readdirSync(path.join(root, dir), { withFileTypes: true })) {
    const rel = path.posix.join(dir, e.name);
    if (e.isDirectory()) walk(rel);
    else if (/\.(cc|h)$/.test(e.name)) out.push(rel);
  }
};
walk('cpp');
console.log(out.sort().join('\n'));
