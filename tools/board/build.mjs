// `npm run build:board <pico|pico2>`: builds the firmware bundle, then the board's UF2 image dist/tinyhsm-<board>.uf2 (tools/board/build.sh).
//
// TINYHSM_SKIP_BUNDLE=1 reuses the existing dist/tinyhsm-kaluma.js instead of running `npm run build` first.
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const board = process.argv[2];
if (board !== 'pico' && board !== 'pico2') {
  console.error('usage: npm run build:board <pico|pico2>   (pico: RP2040, 180 KB JS heap; pico2: RP2350, 256 KB)');
  process.exit(2);
}
const run = (cmd, args) => {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};
if (!process.env.TINYHSM_SKIP_BUNDLE) run('node', ['tools/build.mjs']);
const t0 = Date.now();
run('bash', ['tools/board/build.sh', board, join('dist', `tinyhsm-${board}.uf2`), join('dist', 'tinyhsm-kaluma.js')]);
console.log(`build:board ${board}: ${((Date.now() - t0) / 1000).toFixed(0)} s`);
