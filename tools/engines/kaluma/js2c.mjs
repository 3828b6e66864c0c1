// Generates Kaluma's src/gen/kaluma_modules.{c,h} and kaluma_magic_strings.{c,h} as Kaluma 1.2's tools/js2c.js does, without its npm dependencies, plus an optional boot module (the image twin's firmware).
//
// Why a rewrite: tools/js2c.js needs fs-extra, mustache and minimist, which the engine archive does not carry. This
// file produces the same C layout from the same inputs (tools/kaluma_modules.{c,h}.mustache, tools/magic_strings.js):
//   * every module with `"js": true` in its module.json is wrapped as `(function(exports, require, module) {…});`
//     and turned into a JerryScript snapshot by jerry-snapshot (not --static: Kaluma executes these snapshots in
//     place with jerry_exec_snapshot(…, JERRY_SNAPSHOT_EXEC_ALLOW_STATIC), src/global.c);
//   * modules with `"require": true` go into builtin_modules[] (name, snapshot, size, native init function);
//   * the board's board.js becomes module "board" (targets/<target>/boards/<board>/board.js);
//   * the magic strings are every `#define MSTR_x "…"` of include/magic_strings.h and of the modules'
//     <name>_magic_strings.h, sorted by length and then by bytes, as jerry_register_magic_strings requires.
// One deliberate difference: the snapshot arrays are declared 4-byte aligned. jerry_exec_snapshot reads the
// snapshot as uint32_t words; Kaluma's uint8_t arrays get that alignment from the ARM toolchain by luck.
//
// --boot=NAME=FILE adds FILE as one more snapshot module NAME that is not require()-able (like "startup"): the image
// twin's main runs it at boot (tools/engines/kaluma/image/main.c).
// --static makes that boot module a static snapshot (jerry-snapshot --static): its byte code and literals stay in
// flash and nothing of it is copied into the JS heap at load, unlike Kaluma's own modules, whose function headers,
// literal tables and literal strings each load into the heap. It needs every literal to be a direct value
// (static_literals.mjs): numbers outside the direct range are rewritten, and every string literal of the bundle
// becomes an external magic string, registered identically when the snapshot is made (jerry-snapshot
// --load-literals-list-format) and by the image (kaluma_magic_strings.c, which Kaluma's km_runtime_init registers).
//
// Usage: node js2c.mjs --kaluma=DIR --target=rp2 --board=pico --modules="events gpio …" --snapshot-tool=PATH
//                      --out=DIR [--boot=tinyhsm=dist/tinyhsm-kaluma.js [--static --static-snapshot-tool=PATH]] [--tmp=DIR]
// (--static-snapshot-tool: a jerry-snapshot built with the engine's pointer size, see build.sh)
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { cString, formatLiteralList, parseLiteralList, rewriteForStaticSnapshot, sortMagicStrings } from './static_literals.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    if (a === '--static') return ['static', true];
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    if (!m) throw new Error(`js2c.mjs: bad argument ${a}`);
    return [m[1], m[2]];
  }),
);
for (const k of ['kaluma', 'target', 'board', 'modules', 'snapshot-tool', 'out']) {
  if (!args[k]) throw new Error(`js2c.mjs: --${k}= is required`);
}
const kaluma = args.kaluma;
const modulesPath = join(kaluma, 'src', 'modules');
const tmp = args.tmp || join(args.out, 'snapshots');
mkdirSync(args.out, { recursive: true });
mkdirSync(tmp, { recursive: true });

const modules = [];
for (const name of args.modules.trim().split(/\s+/)) {
  const path = join(modulesPath, name);
  const config = JSON.parse(readFileSync(join(path, 'module.json'), 'utf8'));
  modules.push({ name, path, src: join(path, `${name}.js`), js: !!config.js, native: !!config.native, require: !!config.require });
}
const boardPath = join(kaluma, 'targets', args.target, 'boards', args.board);
if (existsSync(join(boardPath, 'board.js'))) {
  modules.push({ name: 'board', path: boardPath, src: join(boardPath, 'board.js'), js: true, native: false, require: false });
}
if (args.boot) {
  const eq = args.boot.indexOf('=');
  modules.push({ name: args.boot.slice(0, eq), src: args.boot.slice(eq + 1), js: true, native: false, require: false, boot: true });
}

// magic strings (tools/magic_strings.js): every `#define MSTR_x "…"` of Kaluma's headers
const headers = [join(kaluma, 'include', 'magic_strings.h')];
for (const m of modules) {
  const p = join(modulesPath, m.name, `${m.name}_magic_strings.h`);
  if (existsSync(p)) headers.push(p);
}
const kalumaStrings = [];
for (const file of headers) {
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const s = line.trim();
    if (!s.startsWith('#define MSTR_')) continue;
    const tokens = line.split(' ');
    if (tokens[1].startsWith('MSTR_') && tokens[2] && tokens[2].startsWith('"')) {
      const item = tokens[2].substring(1, tokens[2].length - 1);
      if (!kalumaStrings.includes(item)) kalumaStrings.push(item);
    }
  }
}
let strings = sortMagicStrings(kalumaStrings);

/** jerry-snapshot with `argv`, run in tmp (the wrapped file's name there is the snapshot's resource name). */
function snapshotTool(name, argv, tool = args['snapshot-tool']) {
  const r = spawnSync(tool, argv, { encoding: 'utf8', cwd: tmp });
  if (r.status !== 0) throw new Error(`js2c.mjs: jerry-snapshot ${argv[0]} failed for ${name} (${r.status}): ${r.stdout}${r.stderr}`);
}

for (const mod of modules) {
  if (!mod.js) {
    mod.bytes = Buffer.alloc(0);
    continue;
  }
  const wrappedName = `${mod.name}.wrapped`;
  const snapshot = join(tmp, `${mod.name}.snapshot`);
  let source = readFileSync(mod.src, 'utf8');
  const makeStatic = mod.boot && args.static;
  if (makeStatic) {
    const r = rewriteForStaticSnapshot(source, mod.src);
    source = r.code;
    console.log(`js2c: ${mod.name}: ${r.constants.length} numbers outside the direct range moved into variables`);
  }
  writeFileSync(join(tmp, wrappedName), '(function(exports, require, module) {\n' + source + '\n});\n', 'utf8');
  rmSync(snapshot, { force: true });
  const tool = makeStatic ? args['static-snapshot-tool'] || args['snapshot-tool'] : args['snapshot-tool'];
  snapshotTool(mod.name, ['generate', wrappedName, '-o', snapshot], tool);
  if (makeStatic) {
    // the literals of the ordinary snapshot are exactly the strings the static one must find as magic strings
    const listFile = join(tmp, `${mod.name}.literals`);
    snapshotTool(mod.name, ['litdump', '--format', 'list', '-o', listFile, snapshot], tool);
    const literals = parseLiteralList(readFileSync(listFile));
    strings = sortMagicStrings([...strings, ...literals, wrappedName]);
    const magicFile = join(tmp, 'magic-strings.list');
    writeFileSync(magicFile, formatLiteralList(strings));
    rmSync(snapshot, { force: true });
    snapshotTool(mod.name, ['generate', '--static', '--load-literals-list-format', magicFile, wrappedName, '-o', snapshot], tool);
    console.log(
      `js2c: ${mod.name}: static, ${literals.length} literal strings (${literals.reduce((n, l) => n + l.length, 0)} bytes) registered as magic strings`,
    );
  }
  if (!existsSync(snapshot)) throw new Error(`js2c.mjs: jerry-snapshot wrote no ${snapshot}`);
  mod.bytes = readFileSync(snapshot);
}

const LICENSE_NOTE = '/* Generated by tinyhsm tools/engines/kaluma/js2c.mjs after Kaluma 1.2 tools/js2c.js (Apache-2.0). */\n';
const hex = (b) => {
  const lines = [];
  for (let i = 0; i < b.length; i += 16) {
    lines.push('  ' + Array.from(b.subarray(i, i + 16), (x) => '0x' + x.toString(16).padStart(2, '0')).join(', '));
  }
  return lines.join(',\n');
};
const id = (n) => n.replace(/[^A-Za-z0-9_]/g, '_');

let h = LICENSE_NOTE + '#ifndef KALUMA_MODULES_H\n#define KALUMA_MODULES_H\n\n#include <stddef.h>\n#include <stdint.h>\n#include "jerryscript.h"\n\n';
h += 'typedef jerry_value_t (* initialize_fn)();\n\n';
for (const m of modules) {
  h += `extern const char module_${id(m.name)}_name[];\nextern const uint8_t module_${id(m.name)}_code[];\nextern const size_t module_${id(m.name)}_size;\n\n`;
}
h += 'typedef struct {\n  const char* name;\n  const void* code;\n  const size_t size;\n  initialize_fn fn;\n} kaluma_builtin_module;\n\n';
h += 'extern const size_t builtin_modules_length;\nextern const kaluma_builtin_module builtin_modules[];\n\n#endif\n';

let c = LICENSE_NOTE + '#include <stdio.h>\n#include <stdint.h>\n#include "kaluma_modules.h"\n';
for (const m of modules) if (m.native) c += `#include "module_${m.name}.h"\n`;
c += '\n';
for (const m of modules) {
  const n = id(m.name);
  c += `#define MODULE_${n.toUpperCase()}_SIZE ${m.bytes.length}\n`;
  c += `const char module_${n}_name[] = "${m.name}";\n`;
  c += `const size_t module_${n}_size = MODULE_${n.toUpperCase()}_SIZE;\n`;
  c += `const uint8_t module_${n}_code[] __attribute__((aligned(4))) = {\n${m.bytes.length ? hex(m.bytes) : '  0'}\n};\n\n`;
}
const builtin = modules.filter((m) => m.require);
c += `/* builtin modules */\n#define BUILTIN_MODULES_SIZE ${builtin.length}\nconst size_t builtin_modules_length = BUILTIN_MODULES_SIZE;\n`;
c += 'const kaluma_builtin_module builtin_modules[] = {\n';
c += builtin
  .map(
    (m) =>
      `  { module_${id(m.name)}_name, module_${id(m.name)}_code, MODULE_${id(m.name).toUpperCase()}_SIZE, ${m.native ? `module_${m.name}_init` : 'NULL'} }`,
  )
  .join(',\n');
c += '\n};\n';
writeFileSync(join(args.out, 'kaluma_modules.h'), h);
writeFileSync(join(args.out, 'kaluma_modules.c'), c);

// the magic strings, sorted (above): Kaluma's, and with --static the boot module's literals
let mh = LICENSE_NOTE + '#ifndef KALUMA_MAGIC_STRINGS_H\n#define KALUMA_MAGIC_STRINGS_H\n\n#include <stdint.h>\n#include "jerryscript.h"\n\n';
mh +=
  'extern const uint32_t num_magic_string_items;\nextern const jerry_char_t *magic_string_items[];\nextern const jerry_length_t magic_string_lengths[];\n\n#endif\n';
let mc = LICENSE_NOTE + '#include <stdint.h>\n#include "jerryscript.h"\n#include "kaluma_magic_strings.h"\n\n';
mc += `const uint32_t num_magic_string_items = ${strings.length};\n\nconst jerry_char_t *magic_string_items[] = {\n`;
mc += strings.map((s) => `  (const jerry_char_t *) ${cString(s)}`).join(',\n') + '\n};\n\n';
mc += 'const jerry_length_t magic_string_lengths[] = {\n' + strings.map((s) => `  ${s.length}`).join(',\n') + '\n};\n';
writeFileSync(join(args.out, 'kaluma_magic_strings.h'), mh);
writeFileSync(join(args.out, 'kaluma_magic_strings.c'), mc);

for (const m of modules) if (m.js) console.log(`js2c: ${m.name} snapshot ${m.bytes.length} bytes`);
