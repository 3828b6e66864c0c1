// Where the Espruino bundle's JsVars go: builds it with a memory mark at each module's first line and runs it in a twin.
//
// Usage: node tools/engines/espruino/profile.mjs [TWIN]     (default build/engines/espruino/espruino-12000)
// The bundle is built as tools/build.mjs builds dist/tinyhsm-espruino.js (ES5 pass, minify, top-level body), with
// `__m("path")` before each module's code (esbuild's `// path` markers in the unminified bundle). Each mark prints
// process.memory().usage, which collects garbage first, so a module's cost is what it holds once its top level ran;
// "start" is the ~240 functions the bundle declares, created before any module code runs, and the entry's line is
// what startDevice holds at boot. A twin too small for the bundle shows where the load stops. Figures in
// docs/boards.md "Espruino 2v29" come from a 60,000-JsVar build of the twin (make VARIABLES=60000, as build.sh does).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { FIRMWARE_TARGETS, ROOT, downlevelToEs5, firmwareBuildOptions, renameEspruinoKeywords, unwrapEspruinoBody } from '../../build.mjs';

const twin = process.argv[2] || join(ROOT, 'build', 'engines', 'espruino', 'espruino-12000');
const spec = FIRMWARE_TARGETS.find((t) => t.name === 'espruino');
const r = await esbuild.build(firmwareBuildOptions(spec, join(ROOT, spec.entry)));
let code = r.outputFiles[0].text
  .split('\n')
  .map((l) => {
    const m = /^(\s*)\/\/ (\S+\.[cm]?[jt]sx?)$/.exec(l);
    return m ? `${l}\n${m[1]}__m(${JSON.stringify(m[2])});` : l;
  })
  .join('\n')
  .replace(/\}\)\(\);\s*$/, '__m("(end of load)");\n})();\n');
if (!code.includes('(end of load)')) throw new Error('profile: the bundle does not end with the IIFE esbuild writes');
code = (await esbuild.transform(await downlevelToEs5(code, 'espruino'), { loader: 'js', minify: true, target: 'es5', logLevel: 'silent' })).code;
code = (await renameEspruinoKeywords((await unwrapEspruinoBody(code, 'espruino')).code, 'espruino')).code;
const mark = 'var __mp=0,__mn="start";function __m(n){var u=process.memory().usage;console.log("@@"+(u-__mp)+" "+__mn+" > "+n);__mp=u;__mn=n}__m("start");\n';
const dir = mkdtempSync(join(tmpdir(), 'tinyhsm-espruino-profile-'));
try {
  writeFileSync(join(dir, 'profile.js'), mark + code);
  const direct = spawnSync(twin, ['--help'], { encoding: 'latin1' });
  const [cmd, pre] = /Usage/.test(direct.stderr || '') ? [twin, []] : ['qemu-i386-static', [twin]];
  const run = spawnSync(cmd, [...pre, join(dir, 'profile.js')], {
    input: '',
    encoding: 'latin1',
    env: { ...process.env, TINYHSM_FLASH: join(dir, 'flash.img'), TINYHSM_ENGINE_STATS: join(dir, 'stats.json') },
    timeout: 300_000,
  });
  const text = (run.stdout || '') + (run.stderr || '');
  const marks = [...text.matchAll(/@@(-?\d+) (\S+) > (\S+)/g)];
  const rows = marks.map((m) => [Number(m[1]), m[2]]);
  for (const [n, name] of rows.slice(1).sort((a, b) => b[0] - a[0])) console.log(String(n).padStart(6), name);
  const stop = /OUT OF MEMORY[^\n]*|tinyhsm-twin: [^\n]*/g;
  for (const m of text.match(stop) || []) console.log(m);
  if (!/tinyhsm-twin: loaded/.test(text) && marks.length) console.log(`the load stopped in ${marks[marks.length - 1][3]}`);
} finally {
  rmSync(dir, { recursive: true, force: true });
}
