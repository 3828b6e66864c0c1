// `npm run build:board <pico|pico2>`: builds the firmware bundles, then the board's UF2 image dist/tinyhsm-<board>.uf2 (tools/board/build.sh).
//
// Usage: npm run build:board <pico|pico2>        npm run build:board -- <pico|pico2> --bundle=FILE
// The bundle built into the image: pico2 (RP2350, 256 KB JS heap) takes dist/tinyhsm-kaluma.js; pico (RP2040,
// 180 KB) takes dist/tinyhsm-kaluma-pico.js when tools/build.mjs makes one, else dist/tinyhsm-kaluma.js, and says
// so. --bundle=FILE overrides both. TINYHSM_SKIP_BUNDLE=1 skips `npm run build` and uses the bundles already in dist/.
// Prerequisites (Debian packages) and what the image is: tools/board/build.sh, docs/boards.md "Building the board image".
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const argv = process.argv.slice(2);
const board = argv.find((a) => !a.startsWith('--'));
const bundleArg = argv.find((a) => a.startsWith('--bundle='))?.slice('--bundle='.length);
if ((board !== 'pico' && board !== 'pico2') || argv.some((a) => a.startsWith('--') && !a.startsWith('--bundle='))) {
  console.error('usage: npm run build:board -- <pico|pico2> [--bundle=FILE]   (pico: RP2040, 180 KB JS heap; pico2: RP2350, 256 KB)');
  process.exit(2);
}
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
if (!process.env.TINYHSM_SKIP_BUNDLE) run('node', ['tools/build.mjs']);

const common = join('dist', 'tinyhsm-kaluma.js');
const picoOwn = join('dist', 'tinyhsm-kaluma-pico.js');
let bundle;
// npm runs scripts in the package root; INIT_CWD is where it was called from
if (bundleArg) bundle = relative(root, resolve(process.env.INIT_CWD ?? process.cwd(), bundleArg));
else if (board === 'pico2') bundle = common;
else if (existsSync(join(root, picoOwn))) bundle = picoOwn;
else {
  bundle = common;
  console.log(`build:board pico: there is no ${picoOwn} (the RP2040 bundle), so the image carries ${common}, which is made for the 256 KB heap of the Pico 2`);
}
if (!existsSync(join(root, bundle))) {
  console.error(`build:board: no ${bundle} (npm run build)`);
  process.exit(2);
}
console.log(`build:board ${board}: bundle ${bundle}`);
const t0 = Date.now();
run('bash', ['tools/board/build.sh', board, join('dist', `tinyhsm-${board}.uf2`), bundle]);
console.log(`build:board ${board}: dist/tinyhsm-${board}.uf2 in ${((Date.now() - t0) / 1000).toFixed(0)} s (after the bundle build)`);
