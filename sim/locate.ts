// Finds the files the simulator needs at run time (the firmware bundle, the pty launcher) from sources, dist/ or an installed package.
import { existsSync } from 'node:fs';
import { dirname, join, parse } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Walk up from this module's directory and return the first existing candidate (relative to each ancestor). */
export function findUp(relatives: string[]): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  const root = parse(dir).root;
  for (;;) {
    for (const r of relatives) {
      const p = join(dir, r);
      if (existsSync(p)) return p;
    }
    if (dir === root) return undefined;
    dir = dirname(dir);
  }
}

/**
 * The built node firmware bundle. Order: an explicit path, $TINYHSM_BUNDLE, then dist/tinyhsm-node.js next to
 * (or above) this code, which covers sim/*.ts run from sources and dist/cli.js, dist/bench.js bundles.
 */
export function locateNodeBundle(explicit?: string): string {
  if (explicit) return explicit;
  const env = process.env.TINYHSM_BUNDLE;
  if (env) return env;
  const found = findUp(['tinyhsm-node.js', join('dist', 'tinyhsm-node.js')]);
  if (!found) throw new Error('the simulator needs the firmware bundle dist/tinyhsm-node.js: run `npm run build` first');
  return found;
}

/** sim/pty-launch.py, from sources or from the package that dist/cli.js belongs to. */
export function locatePtyLauncher(): string {
  const env = process.env.TINYHSM_PTY_LAUNCHER;
  if (env) return env;
  const found = findUp([join('sim', 'pty-launch.py'), 'pty-launch.py']);
  if (!found) throw new Error('sim/pty-launch.py is missing from this installation of tinyhsm');
  return found;
}
