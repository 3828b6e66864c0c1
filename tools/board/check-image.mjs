// Checks a built board image: UF2 structure and family ID, boot header, the firmware snapshot in it, and that the link code has no REPL, no 0x03 stop and no USB reset to BOOTSEL.
//
// Usage: node tools/board/check-image.mjs --board=pico|pico2 --uf2=FILE [--bin=FILE --elf=FILE --heap=KB
//          --snapshot=FILE --wrapped=FILE --bundle=FILE [--static=1 [--literals=FILE]] --expect-string=TEXT]
// Run by tools/board/build.sh after every build; with only --board and --uf2 it checks a UF2 file alone.
// --static=1: the snapshot is js2c.mjs --static's (tools/engines/kaluma/static_literals.mjs rewrote the bundle before
// it was wrapped); --literals: the bundle's literal strings as jerry-snapshot litdump listed them (js2c.mjs writes
// <tmp>/tinyhsm.literals), each of which must be in the image as a magic string.
//
// Formats checked (cited where each check is made):
//   * UF2: github.com/microsoft/uf2 README "File format" (512-byte blocks, family ID present when flags has 0x2000);
//     family IDs from pico-sdk src/common/boot_uf2_headers/include/boot/uf2.h: RP2040_FAMILY_ID 0xe48bff56,
//     RP2350_ARM_S_FAMILY_ID 0xe48bff59.
//   * RP2040 boot: the first 256 bytes of flash are boot stage 2 with a CRC-32 in its last word
//     (pico-sdk src/rp2040/boot_stage2/pad_checksum; the RP2040 bootrom enters boot stage 2 only if it matches).
//   * RP2350 boot: an IMAGE_DEF block (PICOBIN_BLOCK_MARKER_START … END) in the first 4 KB of flash whose
//     IMAGE_TYPE item says EXE, ARM, secure, RP2350 (pico-sdk src/common/boot_picobin_headers/include/boot/picobin.h,
//     src/rp2_common/pico_crt0/embedded_start_block.inc.S; RP2350 datasheet §5.9.5 "Minimum viable image metadata").
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { parseLiteralList, rewriteForStaticSnapshot } from '../engines/kaluma/static_literals.mjs';

const args = Object.fromEntries(
  process.argv.slice(2).map((a) => {
    const m = /^--([^=]+)=(.*)$/s.exec(a);
    if (!m) throw new Error(`check-image.mjs: bad argument ${a}`);
    return [m[1], m[2]];
  }),
);
const BOARDS = {
  pico: { family: 0xe48bff56, chip: 'RP2040' },
  pico2: { family: 0xe48bff59, chip: 'RP2350 (ARM, secure)' },
};
const board = BOARDS[args.board];
if (!board || !args.uf2) {
  console.error(
    'usage: node tools/board/check-image.mjs --board=pico|pico2 --uf2=FILE [--bin= --elf= --heap= --snapshot= --wrapped= --bundle= --expect-string=]',
  );
  process.exit(2);
}
const FLASH = 0x10000000;
let failed = 0;
const ok = (msg) => console.log(`check-image: ok   ${msg}`);
const fail = (msg) => {
  console.log(`check-image: FAIL ${msg}`);
  failed++;
};
const hex = (n) => '0x' + (n >>> 0).toString(16).padStart(8, '0');

// --- UF2 blocks -------------------------------------------------------------------------------------------------
const uf2 = readFileSync(args.uf2);
const blocks = [];
if (uf2.length === 0 || uf2.length % 512 !== 0) fail(`${args.uf2}: ${uf2.length} bytes is not a whole number of 512-byte UF2 blocks`);
for (let off = 0; off + 512 <= uf2.length; off += 512) {
  const w = (i) => uf2.readUInt32LE(off + i);
  blocks.push({
    magic: [w(0), w(4), w(508)],
    flags: w(8),
    addr: w(12),
    size: w(16),
    no: w(20),
    count: w(24),
    family: w(28),
    data: uf2.subarray(off + 32, off + 32 + Math.min(w(16), 476)),
  });
}
const badMagic = blocks.filter((b) => b.magic[0] !== 0x0a324655 || b.magic[1] !== 0x9e5d5157 || b.magic[2] !== 0x0ab16f30);
if (badMagic.length) fail(`${badMagic.length} of ${blocks.length} blocks have wrong UF2 magic numbers`);
// RP2350-E9 (RP2350 datasheet errata): pico-sdk passes picotool `--abs-block` for RP2350 (tools/CMakeLists.txt,
// PICO_RP2350_A2_SUPPORTED), and picotool puts one block first for the absolute family 0xe48bff57 at 0x10ffff00,
// block 0 of 2, 256 bytes of 0xef (picotool elf2uf2/elf2uf2.cpp gen_abs_block, "RP2350-E9: add absolute block to
// start"). It carries none of the program and lies outside it, so it is checked for that exact form and set aside.
const isAbsBlock = (b) =>
  b.flags === 0x2000 && b.family === 0xe48bff57 && b.addr === 0x10ffff00 && b.no === 0 && b.count === 2 && b.size === 256 && b.data.every((x) => x === 0xef);
let image = blocks;
if (args.board === 'pico2' && blocks.length > 0 && isAbsBlock(blocks[0])) {
  image = blocks.slice(1);
  ok('first block is the RP2350-E9 absolute-family block of picotool --abs-block (0xef filler at 0x10ffff00)');
}
const families = [...new Set(image.map((b) => ((b.flags & 0x2000) !== 0 ? hex(b.family) : 'none')))];
const seqOk = image.every((b, i) => b.no === i && b.count === image.length && b.size === 256);
if (!seqOk) fail('image blocks are not numbered 0..n-1 of n with 256-byte payloads');
else if (!badMagic.length) ok(`${image.length} image blocks of 256 bytes, magic numbers and numbering consistent`);
if (families.length === 1 && families[0] === hex(board.family)) ok(`family ID ${families[0]} (${board.chip}) in every image block`);
else fail(`family IDs ${families.join(', ')}; expected ${hex(board.family)} (${board.chip}) in every image block`);
if (image.some((b) => (b.flags & 0x1) !== 0)) fail('some blocks are flagged "not main flash"');

// --- the flash contents the UF2 writes ----------------------------------------------------------------------------
const sorted = [...image].sort((a, b) => a.addr - b.addr);
const start = sorted[0]?.addr ?? 0;
const end = sorted.length ? sorted[sorted.length - 1].addr + sorted[sorted.length - 1].size : 0;
const flash = Buffer.alloc(Math.max(0, end - start), 0xff);
let gaps = 0;
for (let i = 0; i < sorted.length; i++) {
  if (i > 0 && sorted[i].addr !== sorted[i - 1].addr + sorted[i - 1].size) gaps++;
  sorted[i].data.copy(flash, sorted[i].addr - start);
}
if (start !== FLASH) fail(`image starts at ${hex(start)}, not at the start of flash ${hex(FLASH)}`);
else ok(`writes ${hex(start)}..${hex(end)} (${flash.length} bytes)${gaps ? `, ${gaps} gaps` : ', contiguous'}`);

if (args.bin) {
  const bin = readFileSync(args.bin);
  if (flash.length >= bin.length && flash.subarray(0, bin.length).equals(bin)) ok(`UF2 contents equal ${args.bin} (${bin.length} bytes)`);
  else fail(`UF2 contents differ from ${args.bin}`);
}

// --- boot header ------------------------------------------------------------------------------------------------
if (args.board === 'pico') {
  // pad_checksum run with -s 0xffffffff (src/rp2040/boot_stage2/CMakeLists.txt): its bit-reversed binascii.crc32 is
  // CRC-32 with poly 0x04c11db7, init 0xffffffff, MSB first, no final xor
  let crc = 0xffffffff;
  for (const b of flash.subarray(0, 252)) {
    crc = (crc ^ (b << 24)) >>> 0;
    for (let k = 0; k < 8; k++) crc = (crc & 0x80000000 ? (crc << 1) ^ 0x04c11db7 : crc << 1) >>> 0;
  }
  const stored = flash.readUInt32LE(252);
  if (crc === stored) ok(`boot stage 2 CRC-32 ${hex(crc)} matches (the RP2040 bootrom will enter it)`);
  else fail(`boot stage 2 CRC-32 is ${hex(crc)}, stored ${hex(stored)}: the RP2040 bootrom would not boot this`);
} else {
  let found = null;
  for (let i = 0; i + 8 <= Math.min(4096, flash.length); i += 4) {
    if (flash.readUInt32LE(i) !== 0xffffded3) continue;
    const item = flash.readUInt32LE(i + 4);
    if ((item & 0xff) === 0x42) {
      found = { at: i, flags: item >>> 16 };
      break;
    }
  }
  if (!found) fail('no IMAGE_DEF block (marker 0xffffded3 with an IMAGE_TYPE item) in the first 4 KB: the RP2350 bootrom would not boot this');
  else {
    const f = found.flags;
    const exe = (f & 0xf) === 1;
    const secure = ((f >> 4) & 3) === 2;
    const arm = ((f >> 8) & 7) === 0;
    const rp2350 = ((f >> 12) & 7) === 1;
    if (exe && secure && arm && rp2350) ok(`IMAGE_DEF at flash+${found.at}: EXE, ARM, secure, RP2350 (image type ${hex(f)})`);
    else fail(`IMAGE_DEF at flash+${found.at} has image type ${hex(f)}: expected EXE, ARM, secure, RP2350`);
  }
}

// --- symbols: the firmware snapshot, the heap, and what must not be on the link ----------------------------------
if (args.elf) {
  const nm = spawnSync('arm-none-eabi-nm', ['-S', args.elf], { encoding: 'utf8' });
  if (nm.status !== 0) throw new Error(`arm-none-eabi-nm ${args.elf}: ${nm.stderr}`);
  const syms = new Map();
  for (const line of nm.stdout.split('\n')) {
    const m = /^([0-9a-f]+) (?:([0-9a-f]+) )?(\S) (\S+)$/.exec(line);
    if (m) syms.set(m[4], { addr: parseInt(m[1], 16), size: m[2] ? parseInt(m[2], 16) : 0, type: m[3] });
  }
  if (args.heap) {
    const heap = syms.get('jerry_global_heap');
    const want = Number(args.heap) * 1024;
    if (heap && heap.size === want) ok(`JerryScript heap jerry_global_heap is ${heap.size} bytes (${args.heap} KB)`);
    else fail(`jerry_global_heap is ${heap ? heap.size : 'absent'}; expected ${want} bytes`);
  }
  // Absent from the image (each is linked when something calls it; --gc-sections drops what nothing calls):
  const forbidden = {
    km_repl_init: "Kaluma's REPL (src/repl.c), which upstream targets/rp2/src/main.c starts on the USB link",
    km_running_script_check: 'the uploaded-program path of upstream main.c (targets/rp2/src/system.c)',
    tud_cdc_rx_wanted_cb: 'the 0x03 stop of upstream targets/rp2/src/tty.c (TinyUSB calls it for the wanted char)',
    tud_cdc_n_set_wanted_char: "arming TinyUSB's wanted char (tud_cdc_set_wanted_char(ETX) in upstream tty.c)",
    tud_cdc_line_coding_cb: 'reboot to BOOTSEL when the host sets 1200 baud (pico_stdio_usb reset_interface.c)',
    resetd_init: 'the vendor reset interface that picotool uses to reboot to BOOTSEL (pico_stdio_usb reset_interface.c)',
    rom_reset_usb_boot: 'any call of the bootrom reboot to BOOTSEL',
  };
  for (const [name, why] of Object.entries(forbidden)) {
    if (syms.has(name)) fail(`${name} is in the image: ${why}`);
    else ok(`no ${name}: ${why}`);
  }
  const code = syms.get('module_tinyhsm_code');
  if (!code) fail('no module_tinyhsm_code: the firmware is not built in');
  else if (args.snapshot) {
    const snap = readFileSync(args.snapshot);
    const at = code.addr - start;
    if (at >= 0 && at + snap.length <= flash.length && flash.subarray(at, at + snap.length).equals(snap)) {
      ok(`the tinyhsm snapshot (${snap.length} bytes, ${args.snapshot}) is in the UF2 at ${hex(code.addr)}, byte for byte`);
    } else fail(`the UF2 does not hold ${args.snapshot} at module_tinyhsm_code ${hex(code.addr)}`);
  }
}
if (args.wrapped && args.bundle) {
  // js2c.mjs wraps the bundle as Kaluma's tools/js2c.js wraps a module, then jerry-snapshot compiles the wrapped file
  const wrapped = readFileSync(args.wrapped, 'utf8');
  const bundle = readFileSync(args.bundle, 'utf8');
  if (args.static) {
    // js2c.mjs --static wraps the bundle after static_literals.mjs hoisted its numbers outside the direct range
    const code = rewriteForStaticSnapshot(bundle, args.bundle).code;
    if (wrapped === '(function(exports, require, module) {\n' + code + '\n});\n')
      ok(`the static snapshot was compiled from ${args.bundle} (wrapped, numbers outside the direct range hoisted, nothing else changed)`);
    else fail(`${args.wrapped} is not ${args.bundle} rewritten for a static snapshot and wrapped as a module`);
  } else if (wrapped === '(function(exports, require, module) {\n' + bundle + '\n});\n')
    ok(`the snapshot was compiled from ${args.bundle} (wrapped, unchanged)`);
  else fail(`${args.wrapped} is not ${args.bundle} wrapped as a module`);
}
if (args.literals) {
  // a static snapshot holds no strings: the engine finds each literal among the registered (external) magic strings,
  // which kaluma_magic_strings.c puts into flash as C strings
  const literals = parseLiteralList(readFileSync(args.literals));
  const missing = literals.filter((l) => !flash.includes(Buffer.from(l, 'latin1')));
  if (literals.length && !missing.length) ok(`the image holds all ${literals.length} literal strings of the static snapshot (its magic strings)`);
  else
    fail(
      `${missing.length} of ${literals.length} literal strings of the static snapshot are not in the image: ${missing
        .slice(0, 5)
        .map((l) => JSON.stringify(l))
        .join(', ')}`,
    );
}
if (args['expect-string']) {
  const s = Buffer.from(args['expect-string'], 'utf8');
  if (args.bundle && !readFileSync(args.bundle).includes(s)) fail(`the bundle has no "${args['expect-string']}"`);
  else if (flash.includes(s)) ok(`the image holds the bundle's string "${args['expect-string']}"`);
  else fail(`the image has no "${args['expect-string']}"`);
}

if (failed) {
  console.log(`check-image: ${failed} check(s) failed for ${args.uf2}`);
  process.exit(1);
}
console.log(`check-image: ${args.uf2} passed`);
