// A tiny stand-in firmware for testing the simulator's flash on its own: plain JavaScript on the `board` global that turns text lines into flash calls.
//
// It runs where the node bundle runs (the Simulator, `tinyhsm sim --bundle FILE`), so simulator tests do not
// depend on what the real device core does with its flash. At boot, a factory-new flash (page 0 word 0 still
// 0xFFFFFFFF) gets BOOT_WORDS words written to page 0 (as the core writes its identity at first boot), so a power
// cut can land during boot. Commands, one per line; answers, one line each:
//   g                  -> {"pageSize":…,"pageCount":…,"wordSize":…}  (or "noflash")
//   r PAGE OFF LEN     -> hex of the bytes
//   w PAGE OFF HEX     -> ok | err MESSAGE   (the flash's exception message)
//   e PAGE             -> ok | err MESSAGE
//   t MS               -> "tick" after MS milliseconds (a device timer)
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** Words the exerciser writes to page 0 at its first boot on a factory-new flash. */
export const BOOT_WORDS = 3;
/** What those words hold (page 0, offset 0). */
export const BOOT_PATTERN = '0123456789abcdef01234567';

export const FLASH_EXERCISER_JS = `
(function () {
  var board = globalThis.board;
  var flash = board.flash;
  var line = '';
  function send(s) {
    var b = new Uint8Array(s.length + 1);
    for (var i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
    b[s.length] = 10;
    board.serialWrite(b);
  }
  function hex(u) {
    var s = '';
    for (var i = 0; i < u.length; i++) s += (u[i] < 16 ? '0' : '') + u[i].toString(16);
    return s;
  }
  function unhex(s) {
    var u = new Uint8Array(s.length / 2);
    for (var i = 0; i < u.length; i++) u[i] = parseInt(s.substr(2 * i, 2), 16);
    return u;
  }
  if (flash) {
    var first = flash.read(0, 0, 4);
    if (first[0] === 255 && first[1] === 255 && first[2] === 255 && first[3] === 255) flash.write(0, 0, unhex('${BOOT_PATTERN}'));
  }
  function run(cmd) {
    var a = cmd.split(' ');
    if (a[0] === 'g') return flash ? JSON.stringify({ pageSize: flash.pageSize, pageCount: flash.pageCount, wordSize: flash.wordSize }) : 'noflash';
    if (a[0] === 't') {
      board.setTimer(Number(a[1]), function () { send('tick'); });
      return undefined;
    }
    try {
      if (a[0] === 'r') return hex(flash.read(Number(a[1]), Number(a[2]), Number(a[3])));
      if (a[0] === 'w') { flash.write(Number(a[1]), Number(a[2]), unhex(a[3] || '')); return 'ok'; }
      if (a[0] === 'e') { flash.erase(Number(a[1])); return 'ok'; }
    } catch (e) {
      if (String(e && e.name) === 'PowerCutError') throw e; // a real board would simply stop here
      return 'err ' + (e && e.message);
    }
    return 'err unknown command ' + a[0];
  }
  board.onSerialData(function (bytes) {
    for (var i = 0; i < bytes.length; i++) {
      if (bytes[i] !== 10) { line += String.fromCharCode(bytes[i]); continue; }
      var cmd = line;
      line = '';
      var out = run(cmd);
      if (out !== undefined) send(out);
    }
  });
})();
`;

/** Write the exerciser to DIR/flash-exerciser.js and return its path (for `bundlePath` / `--bundle`). */
export function writeFlashExerciser(dir: string): string {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, 'flash-exerciser.js');
  writeFileSync(path, FLASH_EXERCISER_JS);
  return path;
}
