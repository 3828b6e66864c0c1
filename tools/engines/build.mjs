// Builds the boards' real JavaScript engines from their pinned upstream sources (docs/boards.md "Kaluma 1.2 / JerryScript 2.4", "Espruino 2v29"), for the engine suite in test/engines/.
//
// Usage: node tools/engines/build.mjs [kaluma] [espruino]      (npm run engines; no names: all)
//
// Sources: $TINYHSM_ENGINE_SOURCES, else ../shared/engines beside the checkout: the exact upstream archives with
// their SHA256SUMS (each engine's build.sh checks them). Outputs go to build/engines/<engine>/ and are rebuilt only
// when an input is newer. Where the sources are absent the engines are not built, this says so once, and the
// engine suite skips them; in CI (CI=true) that is an error, because CI must prove the boards.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ENGINE_OUT = join(ROOT, 'build', 'engines');

/** Each engine: its build script, the arguments after the output directory, and what it needs from `npm run build`. */
const ENGINES = {
  kaluma: { script: 'tools/engines/kaluma/build.sh', args: [join(ROOT, 'dist', 'tinyhsm-kaluma.js'), join(ROOT, 'dist', 'tinyhsm-kaluma-pico.js')] },
  espruino: { script: 'tools/engines/espruino/build.sh', args: [] },
};

/** $TINYHSM_ENGINE_SOURCES, else the first of ../shared/engines beside the checkout and the workplace's /work/shared/engines that exists. */
export function engineSources() {
  if (process.env.TINYHSM_ENGINE_SOURCES) return process.env.TINYHSM_ENGINE_SOURCES;
  const candidates = [resolve(ROOT, '..', 'shared', 'engines'), '/work/shared/engines'];
  return candidates.find((d) => existsSync(join(d, 'SHA256SUMS'))) || candidates[0];
}

/** Why a 32-bit C build cannot run here, or undefined when `gcc -m32` links and runs a program. */
function check32bit() {
  const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-m32-'));
  try {
    writeFileSync(join(dir, 't.c'), 'int main(void){return sizeof(void*)==4?0:1;}\n');
    const cc = spawnSync('gcc', ['-m32', '-o', join(dir, 't'), join(dir, 't.c')], { encoding: 'utf8' });
    if (cc.error) return 'gcc is not installed';
    if (cc.status !== 0) return 'gcc -m32 cannot link (install Debian gcc-multilib g++-multilib)';
    // some kernels are built without IA-32 emulation: then qemu-user runs the 32-bit twins (Debian qemu-user-static)
    const run = spawnSync(join(dir, 't'));
    if (run.status === 0) return undefined;
    const emulated = spawnSync('qemu-i386-static', ['-L', '/', join(dir, 't')]);
    return emulated.status === 0 ? undefined : 'this kernel runs no 32-bit program and qemu-i386-static is missing (Debian qemu-user-static)';
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main() {
  const inCi = process.env.CI === 'true' || process.env.CI === '1';
  const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(ENGINES);
  for (const n of names) if (!ENGINES[n]) throw new Error(`unknown engine '${n}'; known: ${Object.keys(ENGINES).join(', ')}`);
  const src = engineSources();
  const missing = !existsSync(join(src, 'SHA256SUMS')) ? `no engine sources at ${src} (set TINYHSM_ENGINE_SOURCES; README "Engines")` : check32bit();
  if (missing) {
    if (inCi) {
      console.error(`engines: ${missing}; CI must build and run the real engines`);
      process.exit(1);
    }
    console.log(`engines: not built: ${missing}. The engine suite will skip them.`);
    return;
  }
  mkdirSync(ENGINE_OUT, { recursive: true });
  for (const n of names) {
    const e = ENGINES[n];
    if (!existsSync(join(ROOT, e.script))) {
      console.log(`engines: ${n}: ${e.script} is not written yet (tools/engines/README.md)`);
      continue;
    }
    const t0 = Date.now();
    const r = spawnSync('bash', [join(ROOT, e.script), join(ENGINE_OUT, n), ...e.args], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, TINYHSM_ENGINE_SOURCES: src },
    });
    if (r.status !== 0) {
      console.error(`engines: building ${n} failed (exit ${r.status}); see the output above`);
      process.exit(1);
    }
    console.log(`engines: ${n} ready in build/engines/${n} (${((Date.now() - t0) / 1000).toFixed(1)} s)`);
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main();
