#!/usr/bin/env node
// The `tinyhsm` command: runs the CLI bundle that `npm run build` writes to dist/cli.js.
import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const cli = fileURLToPath(new URL('../dist/cli.js', import.meta.url));
if (!existsSync(cli)) {
  // not a usage mistake but an installation that is not finished: exit 1 (README "Using the CLI", exit codes)
  process.stderr.write('tinyhsm: dist/cli.js is missing; run `npm run build` in ' + fileURLToPath(new URL('..', import.meta.url)) + '\n');
  process.exit(1);
}
const { main } = await import(pathToFileURL(cli).href);
process.exitCode = await main(process.argv.slice(2));
