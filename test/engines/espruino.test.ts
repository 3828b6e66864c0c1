// Espruino 2v29 in the Linux twin of a 12,000-JsVar board: the Espruino polyfills against the engine itself, then the shared engine suite (INFO, ECHO and RANDOM in the clear: no BigInt, so no session) with its JsVar figures.
//
// The 8,190- and 5,100-JsVar twins (Espruino WiFi, Espruino Pico) are measured by hand, not here: the bundle does not
// fit them, and docs/boards.md "Espruino 2v29" says how far it gets.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInNewContext } from 'node:vm';
import { Alg } from '../../firmware/protocol/index.ts';
// @ts-expect-error tools/build.mjs is plain JavaScript without declarations
import { FIRMWARE_TARGETS, buildFirmware } from '../../tools/build.mjs';
import { engineSuite } from './suite.ts';
import { espruino12000 } from './espruino.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/**
 * What the Espruino bundle relies on the polyfills for (firmware/platform/espruino/polyfills.ts), as one program built
 * by the same ES5 pipeline as the bundle. Node runs it too: its answers are the ECMAScript ones Espruino must match.
 */
const PROBE = `import '${join(ROOT, 'firmware', 'platform', 'espruino', 'polyfills.ts').replace(/\\/g, '/')}';
const r: { [k: string]: unknown } = {};
const u = new Uint8Array([1, 2, 3, 4]);
const s = u.slice(1, 3);
r.slice = [s instanceof Uint8Array, Array.from(s)];
s[0] = 9;
r.sliceIsACopy = u[1];
r.sliceAll = [u.slice() instanceof Uint8Array, Array.from(u.slice()), Array.from(u.slice(2))];
const w = new Uint32Array([1, 0xffffffff]).slice(1);
r.slice32 = [w instanceof Uint32Array, w[0]];
r.from = [Uint8Array.from([5, 6], (x: number) => x * 2) instanceof Uint8Array, Array.from(Uint8Array.from([5, 6], (x: number) => x * 2))];
r.of = [Uint16Array.of(7, 8) instanceof Uint16Array, Array.from(Uint16Array.of(7, 8))];
r.protoSlice = (function (..._a: number[]) {
  return Array.prototype.slice.call(arguments, 1);
})(1, 2, 3);
r.spread = [...[1, 2], ...Array.from(new Uint8Array([3]))];
const m = new Map<number, string>([[1, 'a']]);
m.set(2, 'b');
m.set(1, 'c');
const seen: string[] = [];
for (const [k, v] of m) seen.push(k + v);
r.map = [seen, m.size, m.has(2), m.get(3) === undefined];
const f = Object.assign(function () {}, { x: 1 }) as unknown as { x: number };
r.assignOntoFunction = f.x;
r.isSafeInteger = [Number.isSafeInteger(9007199254740991), Number.isSafeInteger(9007199254740992), Number.isSafeInteger(1.5)];
// ** becomes Math.pow in ES5, which Espruino computes inexactly without the polyfill
const two = [2][0];
r.pow = [two ** 16, two ** 32, two ** 53 - 1 === 9007199254740991, two ** -2, Math.pow(10, 3), Math.pow(3, 4), Math.pow(4, 0.5)];
console.log('PROBE ' + JSON.stringify(r));
`;

describe(`Espruino polyfills in the engine itself (${espruino12000.name})`, () => {
  const why = espruino12000.unavailable();
  const inCi = process.env.CI === 'true' || process.env.CI === '1';
  const dir = join(ROOT, 'build', 'tmp');
  let work = '';
  let code = '';
  beforeAll(async () => {
    mkdirSync(dir, { recursive: true });
    work = mkdtempSync(join(dir, 'espruino-probe-'));
    writeFileSync(join(work, 'probe.ts'), PROBE);
    const spec = {
      ...FIRMWARE_TARGETS.find((t: { name: string }) => t.name === 'espruino'),
      name: 'espruino-probe',
      entry: join(work, 'probe.ts'),
      device: false,
    };
    const built = await buildFirmware(spec);
    if (!built.ok) throw new Error(built.problems.join('\n'));
    code = built.code as string;
    writeFileSync(join(work, 'probe.js'), code);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it.skipIf(why !== undefined && !inCi)(`answers as ECMAScript does (Node runs the same program)${why ? ` (${why})` : ''}`, async () => {
    if (why !== undefined) throw new Error(why);
    let expected = '';
    runInNewContext(code, { console: { log: (line: string) => (expected = line) } });
    expect(expected).toMatch(/^PROBE \{/);
    const r = await espruino12000.runScript(join(work, 'probe.js'));
    const line = r.stdout.split(/\r?\n/).find((l) => l.startsWith('PROBE '));
    expect(line, `the twin printed:\n${r.stdout}\n${r.stderr}`).toBeDefined();
    expect(JSON.parse((line as string).slice(6))).toEqual(JSON.parse(expected.slice(6)));
  });
});

engineSuite(espruino12000, {
  flow: 'clear',
  randomInClear: true,
  offers: [],
  withholds: [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519],
  withheldBecause: /no BigInt on Espruino, so no curves: this board holds no asymmetric keys/,
  // in JsVars, the unit Espruino counts memory in (14 bytes each at this count: sizeof(JsVar) in the twin). The
  // twin's heap is the board's 12,000, so a peak at 12,000 would only show that Espruino had to collect garbage to
  // go on; the budget keeps 1,000 of them (14 KB) free for the board's own use
  peakBudget: 11000,
  budgetWhy: 'a 12,000-JsVar board (Bangle.js 2, Jolt.js) with 1,000 JsVars left free',
  timeoutMs: 60_000,
});
