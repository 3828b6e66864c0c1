// Compiles the driver (host/) and the in-process simulator (sim/) to ESM JavaScript with .d.ts types in dist/lib, the package's `tinyhsm` and `tinyhsm/sim` entry points (README "Using the driver from Node").
//
// Usage: node tools/build-lib.mjs   (npm run build:lib; `npm pack` runs it through prepack)
//
// tsc rewrites the relative `.ts` imports of the JavaScript it writes to `.js` (rewriteRelativeImportExtensions) but
// leaves them as they are in the declarations, so this rewrites those too: a consumer's TypeScript then finds each
// `.d.ts` beside its `.js` under every moduleResolution (node16, nodenext, bundler).
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(ROOT, 'dist', 'lib');

rmSync(OUT, { recursive: true, force: true });
execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'tsconfig.lib.json')], { stdio: 'inherit' });

let files = 0;
function walk(dir) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.d.ts')) {
      const text = readFileSync(p, 'utf8');
      // from './x.ts' / import('../y.ts'): relative specifiers only; a package name never ends in .ts here
      const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]*?)\.ts(['"])/g, '$1$2.js$3');
      if (fixed !== text) writeFileSync(p, fixed);
      files++;
    }
  }
}
walk(OUT);
console.log(`dist/lib: driver and simulator compiled, ${files} declaration files`);
