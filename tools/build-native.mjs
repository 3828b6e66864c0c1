// Compiles the native PKCS#11 module, native/pkcs11/tinyhsm-pkcs11.c, into build/tinyhsm-pkcs11.so (docs/pkcs11.md §8.1).
//
// Usage: node tools/build-native.mjs [--out FILE] [--sanitize]     (npm run build:module)
//
//   --out FILE    where the module goes (default build/tinyhsm-pkcs11.so)
//   --sanitize    add AddressSanitizer and UndefinedBehaviorSanitizer (-fsanitize=address,undefined); a program that
//                 loads such a module needs libasan first: LD_PRELOAD=$(cc -print-file-name=libasan.so)
//
// The compiler is $CC, else the first of cc, gcc, clang that runs. Without one the build fails (exit 1) and says so.
import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SOURCE = join(ROOT, 'native', 'pkcs11', 'tinyhsm-pkcs11.c');
const FLAGS = ['-shared', '-fPIC', '-O2', '-Wall', '-Wextra', '-Werror', '-std=gnu11', '-fvisibility=hidden', '-pthread'];
const SANITIZE = ['-fsanitize=address,undefined', '-fno-omit-frame-pointer', '-fno-sanitize-recover=all', '-g'];

function fail(message) {
  console.error(`build-native: ${message}`);
  process.exit(1);
}

const args = process.argv.slice(2);
let out = join(ROOT, 'build', 'tinyhsm-pkcs11.so');
let sanitize = false;
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--out' && i + 1 < args.length) out = resolve(args[++i]);
  else if (args[i] === '--sanitize') sanitize = true;
  else fail(`unknown argument ${args[i]} (usage: node tools/build-native.mjs [--out FILE] [--sanitize])`);
}

/** The compiler: $CC, else the first of cc, gcc, clang that answers --version. */
function findCompiler() {
  const candidates = process.env.CC ? [process.env.CC] : ['cc', 'gcc', 'clang'];
  for (const cc of candidates) {
    const r = spawnSync(cc, ['--version'], { stdio: 'ignore' });
    if (!r.error && r.status === 0) return cc;
  }
  fail(
    `no C compiler found (tried ${candidates.join(', ')}${process.env.CC ? ' from $CC' : ''}): install one (Debian: apt-get install gcc) or set CC to its path`,
  );
}

const cc = findCompiler();
mkdirSync(dirname(out), { recursive: true });
const cmd = [...FLAGS, ...(sanitize ? SANITIZE : []), '-o', out, SOURCE];
const r = spawnSync(cc, cmd, { stdio: 'inherit' });
if (r.error) fail(`${cc}: ${r.error.message}`);
if (r.status !== 0) fail(`${cc} ${cmd.join(' ')} failed (exit ${r.status ?? r.signal})`);
console.log(`build-native: ${out}${sanitize ? ' (AddressSanitizer, UndefinedBehaviorSanitizer)' : ''}`);
