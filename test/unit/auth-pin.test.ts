// PIN rules, verifiers and the master-key wrap (firmware/core/auth/pin.ts), re-derived with node:crypto (OpenSSL) from the layout in docs/session.md §8.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect, vi } from 'vitest';
import { createDecipheriv, hkdfSync, pbkdf2Sync, randomBytes, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import type { Crypto, Rng } from '../../firmware/hal/index.ts';
import * as bytes from '../../firmware/protocol/bytes.ts';
import {
  PIN_MAX_LENGTH,
  PIN_MIN_LENGTH,
  changePin,
  checkPin,
  createPinRecord,
  generateMasterKey,
  unlockWithPin,
  unwrapMasterKey,
  verifyPin,
  type AuthResult,
  type PinRecord,
} from '../../firmware/core/auth/index.ts';

// Count equalBytes calls (and their arguments) while keeping its behaviour: the verifier check must go through it.
vi.mock('../../firmware/protocol/bytes.ts', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../firmware/protocol/bytes.ts')>();
  return { ...real, equalBytes: vi.fn(real.equalBytes) };
});

const crypto = createNobleCrypto();
const rng: Rng = { fill: (b) => void randomFillSync(b) };
const IT = 3; // tests use a small iteration count; the device stores a per-target count
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const pinOf = (s: string) => new Uint8Array(Buffer.from(s, 'utf8'));
const deviceId = new Uint8Array(randomBytes(16));

function value<T>(r: AuthResult<T>): T {
  if (!r.ok) throw new Error(`refused: ${r.reason}: ${msgOf(r)}`);
  return r.value;
}

function record(role: 'user' | 'so', pin: string, master: Uint8Array, id = deviceId): PinRecord {
  return value(createPinRecord(crypto, rng, role, pinOf(pin), master, id, IT));
}

describe('PIN length rule (6–64 bytes)', () => {
  it('accepts 6 and 64 bytes, refuses 0, 5 and 65 with messages that do not contain the PIN', () => {
    expect([PIN_MIN_LENGTH, PIN_MAX_LENGTH]).toEqual([6, 64]);
    expect(checkPin(new Uint8Array(6)).ok).toBe(true);
    expect(checkPin(new Uint8Array(64)).ok).toBe(true);
    const reasons = [0, 5, 65, 200].map((n) => {
      const pin = new Uint8Array(n).fill(0x37);
      const r = checkPin(pin);
      if (r.ok) throw new Error('accepted');
      expect(msgOf(r)).not.toContain('7777');
      return r.reason;
    });
    expect(reasons).toEqual(['pin-too-short', 'pin-too-short', 'pin-too-long', 'pin-too-long']);
  });

  it('createPinRecord and changePin refuse out-of-range PINs and bad iteration counts; UTF-8 PINs count bytes', () => {
    const m = generateMasterKey(rng);
    const refused = (r: AuthResult<unknown>) => (r.ok ? 'ok' : r.reason);
    expect(refused(createPinRecord(crypto, rng, 'user', pinOf('12345'), m, deviceId, IT))).toBe('pin-too-short');
    expect(refused(createPinRecord(crypto, rng, 'user', new Uint8Array(65), m, deviceId, IT))).toBe('pin-too-long');
    expect(refused(createPinRecord(crypto, rng, 'user', pinOf('ééé'), m, deviceId, IT))).toBe('ok'); // 3 characters, 6 bytes
    for (const bad of [0, -1, 2.5, NaN, 2 ** 32]) expect(refused(createPinRecord(crypto, rng, 'user', pinOf('123456'), m, deviceId, bad))).toBe('bad-iterations');
    const r = record('user', '123456', m);
    expect(refused(changePin(crypto, rng, r, pinOf('123456'), pinOf('123'), deviceId))).toBe('pin-too-short');
  });
});

describe('PIN record', () => {
  it('round trip: the right PIN verifies and unwraps the master key; a wrong PIN does neither', () => {
    const m = generateMasterKey(rng);
    const r = record('user', 'correct horse', m);
    expect(verifyPin(crypto, r, pinOf('correct horse'))).toBe(true);
    expect(hex(unwrapMasterKey(crypto, r, pinOf('correct horse'), deviceId)!)).toBe(hex(m));
    expect(hex(value(unlockWithPin(crypto, r, pinOf('correct horse'), deviceId)))).toBe(hex(m));
    for (const wrong of ['correct horsf', 'Correct horse', 'correct horse ', '123456', 'x'.repeat(64), '12345']) {
      expect(verifyPin(crypto, r, pinOf(wrong)), wrong).toBe(false);
      expect(unwrapMasterKey(crypto, r, pinOf(wrong), deviceId), wrong).toBeUndefined();
      const u = unlockWithPin(crypto, r, pinOf(wrong), deviceId);
      expect(u.ok ? 'ok' : u.reason, wrong).toBe('wrong-pin');
    }
  });

  it('matches the documented derivation, recomputed with OpenSSL: PBKDF2 → HKDF verifier / kek, AAD = label ‖ role ‖ 00 ‖ device id', () => {
    const m = generateMasterKey(rng);
    for (const role of ['user', 'so'] as const) {
      const pin = pinOf(role === 'user' ? '246810' : 'so-pin-with-more-bytes');
      const r = value(createPinRecord(crypto, rng, role, pin, m, deviceId, 17));
      expect([r.salt.length, r.verifier.length, r.wrapNonce.length, r.wrappedMaster.length, r.iterations]).toEqual([16, 32, 12, 48, 17]);
      const base = pbkdf2Sync(pin, r.salt, 17, 32, 'sha256');
      expect(hex(r.verifier)).toBe(Buffer.from(hkdfSync('sha256', base, r.salt, 'tinyhsm/pin/v1 verifier', 32)).toString('hex'));
      const kek = Buffer.from(hkdfSync('sha256', base, r.salt, 'tinyhsm/pin/v1 wrap', 32));
      const d = createDecipheriv('chacha20-poly1305', kek, r.wrapNonce, { authTagLength: 16 });
      d.setAAD(Buffer.concat([Buffer.from('tinyhsm/master/v1 ' + role), Buffer.from([0]), deviceId]), { plaintextLength: 32 });
      d.setAuthTag(r.wrappedMaster.subarray(32));
      const opened = Buffer.concat([d.update(r.wrappedMaster.subarray(0, 32)), d.final()]);
      expect(opened.toString('hex')).toBe(hex(m));
      // the PBKDF2 block itself is not stored: neither it nor the kek appears in the record
      const stored = hex(r.salt) + hex(r.verifier) + hex(r.wrapNonce) + hex(r.wrappedMaster);
      expect(stored).not.toContain(base.toString('hex').slice(0, 16));
      expect(stored).not.toContain(kek.toString('hex').slice(0, 16));
      expect(stored).not.toContain(hex(m).slice(0, 16));
      expect(stored).not.toContain(Buffer.from(pin).toString('hex'));
    }
  });

  it('fresh salt and nonce every time: the same PIN and master key give unrelated records', () => {
    const m = generateMasterKey(rng);
    const a = record('user', '123456', m);
    const b = record('user', '123456', m);
    expect(hex(a.salt)).not.toBe(hex(b.salt));
    expect(hex(a.verifier)).not.toBe(hex(b.verifier));
    expect(hex(a.wrappedMaster)).not.toBe(hex(b.wrappedMaster));
  });

  it('the wrap is bound to its role and device: a user record relabelled "so", or read on another device, does not open', () => {
    const m = generateMasterKey(rng);
    const u = record('user', '123456', m);
    const asSo: PinRecord = { ...u, role: 'so' };
    expect(verifyPin(crypto, asSo, pinOf('123456'))).toBe(true); // the verifier alone does not know the role…
    expect(unwrapMasterKey(crypto, asSo, pinOf('123456'), deviceId)).toBeUndefined(); // …the wrap does
    const r = unlockWithPin(crypto, asSo, pinOf('123456'), deviceId);
    expect(r.ok ? 'ok' : r.reason).toBe('corrupt-record');
    const other = new Uint8Array(randomBytes(16));
    expect(unwrapMasterKey(crypto, u, pinOf('123456'), other)).toBeUndefined();
    const r2 = unlockWithPin(crypto, u, pinOf('123456'), other);
    expect(r2.ok ? 'ok' : r2.reason).toBe('corrupt-record');
  });

  it('every single-bit change of the stored wrap, nonce, salt, verifier or iteration count is refused', () => {
    const m = generateMasterKey(rng);
    const r = record('so', 'officer-pin', m);
    const pin = pinOf('officer-pin');
    for (const field of ['wrappedMaster', 'wrapNonce'] as const) {
      for (let bit = 0; bit < r[field].length * 8; bit++) {
        const t = r[field].slice();
        t[bit >> 3] ^= 1 << (bit & 7);
        const rec = { ...r, [field]: t };
        expect(unwrapMasterKey(crypto, rec, pin, deviceId), field + ' bit ' + bit).toBeUndefined();
        const u = unlockWithPin(crypto, rec, pin, deviceId);
        expect(u.ok ? 'ok' : u.reason).toBe('corrupt-record');
      }
    }
    for (let bit = 0; bit < 128; bit += 9) {
      const salt = r.salt.slice();
      salt[bit >> 3] ^= 1 << (bit & 7);
      expect(verifyPin(crypto, { ...r, salt }, pin)).toBe(false);
      expect(unwrapMasterKey(crypto, { ...r, salt }, pin, deviceId)).toBeUndefined();
    }
    for (let bit = 0; bit < 256; bit += 13) {
      const verifier = r.verifier.slice();
      verifier[bit >> 3] ^= 1 << (bit & 7);
      expect(verifyPin(crypto, { ...r, verifier }, pin)).toBe(false);
    }
    expect(verifyPin(crypto, { ...r, iterations: IT + 1 }, pin)).toBe(false);
    expect(unwrapMasterKey(crypto, { ...r, iterations: IT + 1 }, pin, deviceId)).toBeUndefined();
  });

  it('changePin rewraps the same master key under the new PIN; the old PIN does not open the new record', () => {
    const m = generateMasterKey(rng);
    const old = record('user', 'first-pin', m);
    const wrong = changePin(crypto, rng, old, pinOf('not-the-pin'), pinOf('second-pin'), deviceId);
    expect(wrong.ok ? 'ok' : wrong.reason).toBe('wrong-pin');
    const next = value(changePin(crypto, rng, old, pinOf('first-pin'), pinOf('second-pin'), deviceId));
    expect(hex(unwrapMasterKey(crypto, next, pinOf('second-pin'), deviceId)!)).toBe(hex(m));
    expect(unwrapMasterKey(crypto, next, pinOf('first-pin'), deviceId)).toBeUndefined();
    expect(hex(next.salt)).not.toBe(hex(old.salt));
    // UNBLOCK: the SO's record unlocks the master key, which then gets a new user record
    const so = record('so', 'so-secret', m);
    const mk = value(unlockWithPin(crypto, so, pinOf('so-secret'), deviceId));
    const user2 = value(createPinRecord(crypto, rng, 'user', pinOf('fresh-user'), mk, deviceId, IT));
    expect(hex(unwrapMasterKey(crypto, user2, pinOf('fresh-user'), deviceId)!)).toBe(hex(m));
  });
});

describe('secrets are wiped and the verifier comparison is constant-time', () => {
  /** A Crypto that remembers every PBKDF2 and HKDF output it hands out. */
  function spying(): { c: Crypto; outputs: Uint8Array[] } {
    const outputs: Uint8Array[] = [];
    const c: Crypto = {
      ...crypto,
      pbkdf2Sha256: (...a) => {
        const o = crypto.pbkdf2Sha256(...a);
        outputs.push(o);
        return o;
      },
      hkdfSha256: (...a) => {
        const o = crypto.hkdfSha256(...a);
        outputs.push(o);
        return o;
      },
    };
    return { c, outputs };
  }

  it('the PBKDF2 block, the verifier copy and the kek are zero after create, verify, unwrap, unlock and changePin', () => {
    const m = generateMasterKey(rng);
    const { c, outputs } = spying();
    const r = value(createPinRecord(c, rng, 'user', pinOf('123456'), m, deviceId, IT));
    expect(verifyPin(c, r, pinOf('123456'))).toBe(true);
    expect(verifyPin(c, r, pinOf('654321'))).toBe(false);
    unwrapMasterKey(c, r, pinOf('123456'), deviceId);
    unlockWithPin(c, r, pinOf('123456'), deviceId);
    unlockWithPin(c, r, pinOf('000000'), deviceId);
    value(changePin(c, rng, r, pinOf('123456'), pinOf('abcdef'), deviceId));
    expect(outputs.length).toBe(7 * 3 + 3); // changePin: unlock (3) + create (3)
    for (const o of outputs) expect(hex(o)).toBe('00'.repeat(o.length));
    expect(hex(r.verifier)).not.toBe('00'.repeat(32)); // the stored verifier is a copy, not a wiped buffer
    expect(hex(m)).not.toBe('00'.repeat(32)); // the caller's master key is the caller's
  });

  it('verifyPin and unlockWithPin compare the verifier with equalBytes (spied) and nothing else', () => {
    const spy = vi.mocked(bytes.equalBytes);
    const m = generateMasterKey(rng);
    const r = record('user', '123456', m);
    spy.mockClear();
    verifyPin(crypto, r, pinOf('654321'));
    unlockWithPin(crypto, r, pinOf('654321'), deviceId);
    expect(spy).toHaveBeenCalledTimes(2);
    for (const call of spy.mock.calls) expect(call[1]).toBe(r.verifier);
    // and in the source: no ===, !== or == with a verifier operand, and no early-exit loop over it
    const src = readFileSync(new URL('../../firmware/core/auth/pin.ts', import.meta.url), 'utf8');
    const sf = ts.createSourceFile('pin.ts', src, ts.ScriptTarget.ES2020, true);
    const bad: string[] = [];
    const visit = (n: ts.Node): void => {
      if (ts.isBinaryExpression(n) && /=/.test(n.operatorToken.getText(sf)) && /verifier/.test(n.left.getText(sf) + n.right.getText(sf)) && n.operatorToken.kind !== ts.SyntaxKind.EqualsToken)
        bad.push(n.getText(sf));
      ts.forEachChild(n, visit);
    };
    visit(sf);
    expect(bad).toEqual([]);
    expect(src).toMatch(/equalBytes\(s\.verifier, record\.verifier\)/);
  });

  it('equalBytes itself touches every byte: its result does not depend on where the first difference is', () => {
    // structural: the real function is a single OR-accumulating loop with no early return (firmware/protocol/bytes.ts)
    const real = readFileSync(new URL('../../firmware/protocol/bytes.ts', import.meta.url), 'utf8');
    const body = /export function equalBytes[\s\S]*?\n}\n/.exec(real)![0];
    expect(body).toMatch(/for \(let i = 0; i < a\.length; i\+\+\) d \|= a\[i\] \^ b\[i\];/);
    expect(body.match(/return/g)!.length).toBe(2); // the length check and the final result, nothing inside the loop
    const x = new Uint8Array(32);
    for (let i = 0; i < 32; i++) {
      const y = x.slice();
      y[i] = 1;
      expect(bytes.equalBytes(x, y)).toBe(false);
    }
    expect(bytes.equalBytes(x, x.slice())).toBe(true);
  });
});
