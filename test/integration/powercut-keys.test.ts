// Power cut at every word write of KEY_GENERATE (each algorithm), KEY_IMPORT and KEY_DELETE: the device boots with the old or the new key set, never a mix (docs/storage.md §1).
//
// CI runs every word for ed25519 KEY_GENERATE and KEY_DELETE and every 7th word (plus the first and last) for
// the others; `npm run test:powercut` (POWERCUT_FULL=1) cuts at every word of every command.
import { describe, it, expect } from 'vitest';
import { createECDH } from 'node:crypto';
import { Alg, Command } from '../../firmware/protocol/codes.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { startTestDevice, sweepCommand, sweepStride, type SweepReport } from '../helpers/loopback.ts';

const PAGE = 4096;
const SEED = 'powercut keys';
/** Imported keys, so the test knows the private bytes it later looks for in flash. */
const IMPORTED_ED = new Uint8Array(32).map((_, i) => 0xa0 ^ i);
const IMPORTED_X = new Uint8Array(32).map((_, i) => 0x30 + i);
const P256 = (() => {
  const e = createECDH('prime256v1');
  e.generateKeys();
  return new Uint8Array(Buffer.concat([Buffer.alloc(32 - e.getPrivateKey().length), e.getPrivateKey()]));
})();

/** A device with a few keys of every kind, one deleted key behind them (garbage on flash), as the sweeps' starting point. */
function startingImage(): Uint8Array {
  const flash = new NorFlash({ pageSize: PAGE, pageCount: 8 });
  const t = startTestDevice({ flash, seed: SEED + ' setup' });
  const ok = (r: ReturnType<typeof t.call>) => {
    if (r.status !== 0) throw new Error(r.statusName + ' ' + r.message);
    return r;
  };
  ok(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 2: 'ed' }));
  ok(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 2: 'p256' }));
  const gone = ok(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_SECP256K1, 2: 'deleted' })).map.get(1);
  ok(t.call(Command.KEY_DELETE, { 1: gone }));
  ok(t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_SECP256K1, 2: 'k1' }));
  ok(t.call(Command.KEY_GENERATE, { 1: Alg.X25519, 2: 'x' }));
  ok(t.call(Command.KEY_IMPORT, { 1: Alg.ED25519, 2: 'imported', 3: IMPORTED_ED }));
  return flash.snapshot();
}

const image = startingImage();

function expectClean(r: SweepReport, stride: number) {
  expect(r.problems).toEqual([]);
  expect(r.words).toBeGreaterThan(5);
  expect(r.cuts).toBeGreaterThanOrEqual(Math.floor(r.words / stride));
  // early cuts lose the change (a KEY_GENERATE's last word is its commit record's CRC, so every cut within it
  // does; a KEY_DELETE keeps writing after its commit: it wipes the old record)
  expect(r.before).toBeGreaterThan(0);
  expect(r.before + r.after).toBe(r.cuts);
}

describe('power cut at every word write of a key command', () => {
  for (const [alg, name, stride] of [
    [Alg.ED25519, 'ed25519', sweepStride(1)],
    [Alg.ECDSA_P256, 'ecdsa-p256', sweepStride(7)],
    [Alg.ECDSA_SECP256K1, 'ecdsa-secp256k1', sweepStride(7)],
    [Alg.X25519, 'x25519', sweepStride(7)],
  ] as const) {
    it(`KEY_GENERATE ${name} (cut every ${stride === 1 ? '' : stride + 'th '}word)`, () => {
      const r = sweepCommand({ image, pageSize: PAGE, seed: SEED, command: Command.KEY_GENERATE, params: { 1: alg, 2: 'new ' + name }, stride });
      expectClean(r, stride);
      expect(r.keysAfter.length).toBe(r.keysBefore.length + 1);
    });
  }

  it('KEY_IMPORT ecdsa-p256 and x25519: an uncommitted import leaves no trace of the private key in flash', () => {
    const stride = sweepStride(7);
    for (const [alg, sk] of [
      [Alg.ECDSA_P256, P256],
      [Alg.X25519, IMPORTED_X],
    ] as const) {
      const r = sweepCommand({
        image,
        pageSize: PAGE,
        seed: SEED,
        command: Command.KEY_IMPORT,
        params: { 1: alg, 2: 'imported now', 3: sk },
        stride,
        goneIn: { before: [sk] },
      });
      expectClean(r, stride);
    }
  });

  it('KEY_DELETE (cut every word): the deleted private key is wiped from flash whenever the deletion stands', () => {
    const stride = sweepStride(1);
    const t = startTestDevice({ flash: NorFlash.fromBytes(image, { pageSize: PAGE }), seed: 'find id' });
    const keys = (t.call(Command.KEY_LIST).map.get(1) as Map<number, unknown>[]).map((e) => [e.get(1), e.get(3)]);
    const id = keys.find((k) => k[1] === 'imported')![0];
    const r = sweepCommand({ image, pageSize: PAGE, seed: SEED, command: Command.KEY_DELETE, params: { 1: id }, stride, goneIn: { after: [IMPORTED_ED] } });
    expectClean(r, stride);
    expect(r.after).toBeGreaterThan(0);
    expect(r.keysAfter.map((k) => k.keyId)).not.toContain(id);
  });
});
