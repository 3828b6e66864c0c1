// Writes a measurement copy of a Kaluma debug bundle that reports the JS heap after each module's top level and at the boot's stages, for the image twin's TINYHSM_PROBE mode.
//
// Usage: node tools/engines/kaluma/probe_bundle.mjs dist/tinyhsm-kaluma.debug.js OUT.js
//        tools/engines/kaluma/build.sh DIR OUT.js [OUT_PICO.js]
//        TINYHSM_PROBE=1 TINYHSM_FLASH=f.img DIR/kaluma-256-image < /dev/zero   (stderr: one JSON line per stage)
// The debug bundle (tools/build.mjs writes it next to each bundle) starts every module with a `// path` line; a call
// `__twinProbe("path")` goes before each, so the heap reported at a module's line is what the modules above it hold
// after a full collection, with the time and the highest heap use since the probe before. The image twin defines
// __twinProbe only with TINYHSM_PROBE set (image/main.c). The boot's stages, the self-tests and the answers are found
// by their source text and a missing one is an error, so the probes follow the code or fail loudly.
// Names are unminified here: in a static snapshot they are magic strings in flash, so objects, properties and the
// numbers they hold weigh the same as in the minified bundle (the total is checked against it in docs/boards.md).
import { readFileSync, writeFileSync } from 'node:fs';

const [input, output] = process.argv.slice(2);
if (!input || !output) {
  console.error('usage: node probe_bundle.mjs IN.debug.js OUT.js');
  process.exit(2);
}
const probe = (label) => `__twinProbe(${JSON.stringify(label)});`;
let code = readFileSync(input, 'utf8');
let modules = 0;
code = code.replace(/^(\s*)\/\/ (\S+\.[cm]?[jt]sx?)$/gm, (line, indent, path) => {
  modules++;
  return `${indent}${probe('before ' + path)}\n${line}`;
});
/**
 * [source text, where the probe goes, label]: the stages of firmware/platform/kaluma/boot.ts and core/device.ts
 * startDevice, each known-answer test of core/selftest.ts ('start': first statement of the function) and every answer
 * the device sends (labelled with its sequence number, so a driver can tell the requests apart).
 */
const STAGES = [
  ['useEdwardsDeviceProfile();', 'after', 'boot: Ed25519 device profile'],
  ['const flash = openKalumaFlash(', 'before', 'boot: curves device profiles'],
  ['function katSha256(c) {', 'start', 'selftest: SHA-256 start'],
  ['function katEd25519(c) {', 'start', 'selftest: Ed25519 start'],
  ['function katEcdsa(c, k) {', 'start', 'selftest: ECDSA start'],
  ['function katX25519(c) {', 'start', 'selftest: X25519 start'],
  ['const selftest = runSelftests(env.crypto);', 'after', 'boot: self-tests done'],
  ['const store = Store.open(flash);', 'after', 'boot: store open'],
  ['const keystore = KeyStore.load(', 'before', 'boot: device id and identity'],
  ['const auth = AuthState.load(', 'before', 'boot: keys loaded'],
  ['link.run();', 'before', 'boot: device started'],
  ['function answer(seq, digest, body) {', 'start', ['"answer seq " + seq']],
];
for (const [text, where, label] of STAGES) {
  const at = code.indexOf(text);
  if (at < 0 || code.indexOf(text, at + 1) >= 0) {
    // ECDSA is only in bundles that carry a Weierstrass curve
    if (at < 0 && label === 'selftest: ECDSA start') continue;
    throw new Error(`probe_bundle: "${text}" is not in ${input} exactly once; update STAGES`);
  }
  const call = Array.isArray(label) ? `__twinProbe(${label[0]});` : probe(label);
  if (where === 'before') code = code.slice(0, at) + call + code.slice(at);
  else if (where === 'start') code = code.slice(0, at + text.length) + call + code.slice(at + text.length);
  else {
    const end = code.indexOf(';', at + text.length - 1) + 1;
    code = code.slice(0, end) + call + code.slice(end);
  }
}
// the module's end: after the last module's top level, before the boot timer fires
const last = code.lastIndexOf('})();');
if (last < 0) throw new Error('probe_bundle: the bundle does not end with the IIFE esbuild writes');
code = code.slice(0, last) + probe('top level done') + '\n' + code.slice(last);
writeFileSync(output, code);
console.log(`probe_bundle: ${modules} modules and ${STAGES.length} boot stages marked in ${output}`);
