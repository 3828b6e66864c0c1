// PIN rules, verifiers, role keys and the master key sealed to each role (firmware/core/auth/pin.ts), re-derived with node:crypto (OpenSSL) from the layout in docs/session.md §8.
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect, vi } from 'vitest';
import { createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, hkdfSync, pbkdf2Sync, randomBytes, randomFillSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import ts from 'typescript';
import { createNobleCrypto } from '../../firmware/hal/crypto_noble.ts';
import type { Crypto, Rng } from '../../firmware/hal/index.ts';
import * as bytes from '../../firmware/protocol/bytes.ts';
import { MAX_PIN, MIN_PIN } from '../../firmware/protocol/commands/limits.ts';
import {
  checkPin,
  createRole,
  generateMasterKey,
  publicKeyVouched,
  sealMaster,
  unlockWithPin,
  type AuthResult,
  type PinRecord,
  type RoleName,
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

/** Role records for both roles sealing `master`, as INIT makes them (one static-static X25519 for both envelopes). */
function roles(userPin: string, soPin: string, master: Uint8Array, link: Uint8Array, c: Crypto = crypto, id = deviceId): { user: PinRecord; so: PinRecord } {
  const u = value(createRole(c, rng, 'user', pinOf(userPin), link, id, IT));
  const s = value(createRole(c, rng, 'so', pinOf(soPin), link, id, IT));
  const [eu, es] = sealMaster(c, rng, master, link, id, u, s.parts);
  return { user: { ...u.parts, envelope: eu }, so: { ...s.parts, envelope: es } };
}

/** One role alone, its master key sealed with an ephemeral key (as a PIN change whose other record was not vouched for). */
function record(role: RoleName, pin: string, master: Uint8Array, link = generateMasterKey(rng), id = deviceId): PinRecord {
  const r = value(createRole(crypto, rng, role, pinOf(pin), link, id, IT));
  return { ...r.parts, envelope: sealMaster(crypto, rng, master, link, id, r)[0] };
}

const X25519_PKCS8 = Buffer.from('302e020100300506032b656e04220420', 'hex');
const X25519_SPKI = Buffer.from('302a300506032b656e032100', 'hex');
/** X25519 with node:crypto (OpenSSL), from raw keys. */
function x25519Node(secret: Uint8Array, peer: Uint8Array): Buffer {
  return diffieHellman({
    privateKey: createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' }),
    publicKey: createPublicKey({ key: Buffer.concat([X25519_SPKI, peer]), format: 'der', type: 'spki' }),
  });
}
function x25519PublicNode(secret: Uint8Array): Buffer {
  const der = createPublicKey(createPrivateKey({ key: Buffer.concat([X25519_PKCS8, secret]), format: 'der', type: 'pkcs8' })).export({
    format: 'der',
    type: 'spki',
  });
  return der.subarray(der.length - 32);
}
function chachaOpen(key: Uint8Array, nonce: Uint8Array, sealed: Uint8Array, aad: Uint8Array): Buffer {
  const d = createDecipheriv('chacha20-poly1305', key, nonce, { authTagLength: 16 });
  d.setAAD(aad, { plaintextLength: sealed.length - 16 });
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  return Buffer.concat([d.update(sealed.subarray(0, sealed.length - 16)), d.final()]);
}
const context = (label: string, role: string, id: Uint8Array) => Buffer.concat([Buffer.from(label + role), Buffer.from([0]), id]);

describe('PIN length rule (6–64 bytes)', () => {
  it('accepts 6 and 64 bytes, refuses 0, 5 and 65 with messages that do not contain the PIN', () => {
    expect([MIN_PIN, MAX_PIN]).toEqual([6, 64]);
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

  it('createRole refuses out-of-range PINs and bad iteration counts; UTF-8 PINs count bytes', () => {
    const l = generateMasterKey(rng);
    const refused = (r: AuthResult<unknown>) => (r.ok ? 'ok' : r.reason);
    expect(refused(createRole(crypto, rng, 'user', pinOf('12345'), l, deviceId, IT))).toBe('pin-too-short');
    expect(refused(createRole(crypto, rng, 'user', new Uint8Array(65), l, deviceId, IT))).toBe('pin-too-long');
    expect(refused(createRole(crypto, rng, 'user', pinOf('ééé'), l, deviceId, IT))).toBe('ok'); // 3 characters, 6 bytes
    for (const bad of [0, -1, 2.5, NaN, 2 ** 32]) expect(refused(createRole(crypto, rng, 'user', pinOf('123456'), l, deviceId, bad))).toBe('bad-iterations');
  });
});

describe('role record', () => {
  it('round trip: the right PIN opens the master and link keys; a wrong PIN opens nothing', () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const { user, so } = roles('correct horse', 'battery staple', m, l);
    for (const [r, pin] of [
      [user, 'correct horse'],
      [so, 'battery staple'],
    ] as const) {
      const u = value(unlockWithPin(crypto, r, pinOf(pin), deviceId));
      expect([hex(u.master), hex(u.link)]).toEqual([hex(m), hex(l)]);
    }
    for (const wrong of ['correct horsf', 'Correct horse', 'correct horse ', '123456', 'x'.repeat(64), '12345', 'battery staple']) {
      const u = unlockWithPin(crypto, user, pinOf(wrong), deviceId);
      expect(u.ok ? 'ok' : u.reason, wrong).toBe('wrong-pin');
    }
  });

  it('matches the documented derivation, recomputed with OpenSSL: PBKDF2 → HKDF verifier / kek, the wrap, the tag and the envelope', () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const other = value(createRole(crypto, rng, 'so', pinOf('the-other-role'), l, deviceId, 17));
    for (const [role, sealing] of [
      ['user', 'static'],
      ['so', 'ephemeral'],
    ] as const) {
      const pin = pinOf(role === 'user' ? '246810' : 'so-pin-with-more-bytes');
      const fresh = value(createRole(crypto, rng, role, pin, l, deviceId, 17));
      const r = fresh.parts;
      const envelope =
        sealing === 'static' ? sealMaster(crypto, rng, m, l, deviceId, fresh, other.parts)[0] : sealMaster(crypto, rng, m, l, deviceId, fresh)[0];
      // static-static: E is the other role's public key; ephemeral: a key made for this sealing
      if (sealing === 'static') expect(hex(envelope.subarray(0, 32))).toBe(hex(other.parts.rolePublic));
      expect([
        r.salt.length,
        r.verifier.length,
        r.wrapNonce.length,
        r.wrappedSecrets.length,
        r.rolePublic.length,
        r.publicTag.length,
        envelope.length,
        r.iterations,
      ]).toEqual([16, 32, 12, 80, 32, 32, 80, 17]);
      const base = pbkdf2Sync(pin, r.salt, 17, 32, 'sha256');
      expect(hex(r.verifier)).toBe(Buffer.from(hkdfSync('sha256', base, r.salt, 'tinyhsm/pin/v1 verifier', 32)).toString('hex'));
      const kek = Buffer.from(hkdfSync('sha256', base, r.salt, 'tinyhsm/pin/v1 wrap', 32));
      // the wrap: the role's X25519 secret ‖ the link key, AAD "tinyhsm/role/v2 " ‖ role ‖ 00 ‖ device id
      const both = chachaOpen(kek, r.wrapNonce, r.wrappedSecrets, context('tinyhsm/role/v2 ', role, deviceId));
      const secret = both.subarray(0, 32);
      expect(hex(both.subarray(32))).toBe(hex(l));
      expect(hex(x25519PublicNode(secret))).toBe(hex(r.rolePublic));
      // the tag: HMAC-SHA256(link, "tinyhsm/role/v2 " ‖ role ‖ 00 ‖ device id ‖ rolePublic)
      const tag = createHmac('sha256', l)
        .update(Buffer.concat([context('tinyhsm/role/v2 ', role, deviceId), r.rolePublic]))
        .digest();
      expect(hex(r.publicTag)).toBe(tag.toString('hex'));
      // the envelope: E ‖ ChaCha20-Poly1305(HKDF(X25519(secret, E), link, ctx ‖ E ‖ rolePublic), 0^12, master, ctx)
      const E = envelope.subarray(0, 32);
      const ctx = context('tinyhsm/master/v2 ', role, deviceId);
      const k = Buffer.from(hkdfSync('sha256', x25519Node(secret, E), l, Buffer.concat([ctx, E, r.rolePublic]), 32));
      expect(hex(chachaOpen(k, new Uint8Array(12), envelope.subarray(32), ctx))).toBe(hex(m));
      // neither the PBKDF2 block, the kek, the role secret, the link key nor the master key appears in the record
      const stored = hex(r.salt) + hex(r.verifier) + hex(r.wrapNonce) + hex(r.wrappedSecrets) + hex(r.rolePublic) + hex(r.publicTag) + hex(envelope);
      for (const secretBytes of [base, kek, secret, l, m]) expect(stored).not.toContain(hex(secretBytes).slice(0, 16));
      expect(stored).not.toContain(Buffer.from(pin).toString('hex'));
    }
  });

  it('fresh salt, nonce and role key every time: the same PIN and keys give unrelated records', () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const a = roles('123456', 'other-1', m, l).user;
    const b = roles('123456', 'other-1', m, l).user;
    for (const f of ['salt', 'verifier', 'wrappedSecrets', 'rolePublic', 'envelope'] as const) expect(hex(a[f]), f).not.toBe(hex(b[f]));
  });

  it('bound to its role and device: a user record relabelled "so", or read on another device, does not open', () => {
    const m = generateMasterKey(rng);
    const u = record('user', '123456', m);
    const asSo: PinRecord = { ...u, role: 'so' };
    const r = unlockWithPin(crypto, asSo, pinOf('123456'), deviceId); // the verifier alone does not know the role…
    expect(r.ok ? 'ok' : r.reason).toBe('corrupt-record'); // …the wrap does
    const r2 = unlockWithPin(crypto, u, pinOf('123456'), new Uint8Array(randomBytes(16)));
    expect(r2.ok ? 'ok' : r2.reason).toBe('corrupt-record');
  });

  it('every single-bit change of the wrap, nonce, public key or envelope is corrupt-record; of the salt, verifier or iterations wrong-pin', () => {
    const m = generateMasterKey(rng);
    const r = record('so', 'officer-pin', m);
    const pin = pinOf('officer-pin');
    const reason = (rec: PinRecord) => {
      const u = unlockWithPin(crypto, rec, pin, deviceId);
      return u.ok ? 'ok' : u.reason;
    };
    for (const field of ['wrappedSecrets', 'wrapNonce', 'rolePublic', 'envelope'] as const) {
      for (let bit = 0; bit < r[field].length * 8; bit += field === 'envelope' ? 1 : 3) {
        const t = r[field].slice();
        t[bit >> 3] ^= 1 << (bit & 7);
        expect(reason({ ...r, [field]: t }), field + ' bit ' + bit).toBe('corrupt-record');
      }
    }
    for (let bit = 0; bit < 128; bit += 9) {
      const salt = r.salt.slice();
      salt[bit >> 3] ^= 1 << (bit & 7);
      expect(reason({ ...r, salt })).toBe('wrong-pin');
    }
    for (let bit = 0; bit < 256; bit += 13) {
      const verifier = r.verifier.slice();
      verifier[bit >> 3] ^= 1 << (bit & 7);
      expect(reason({ ...r, verifier })).toBe('wrong-pin');
    }
    expect(reason({ ...r, iterations: IT + 1 })).toBe('wrong-pin');
  });

  it('someone who can write the flash but knows no PIN cannot plant a master key: an envelope sealed without the link key does not open', () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const { user, so } = roles('user-pin-42', 'so-pin-42', m, l);
    // the attacker sees both public keys in flash and seals a master key of their own to the user's, with a key pair
    // of theirs as E and any link key: without the link key (and without either role's secret) nothing they make opens
    const mine0 = value(createRole(crypto, rng, 'so', pinOf('attacker-pin'), generateMasterKey(rng), deviceId, IT));
    const planted = sealMaster(crypto, rng, generateMasterKey(rng), generateMasterKey(rng), deviceId, mine0, user)[1];
    expect(hex(planted.subarray(0, 32))).not.toBe(hex(so.rolePublic));
    const u = unlockWithPin(crypto, { ...user, envelope: planted }, pinOf('user-pin-42'), deviceId);
    expect(u.ok ? 'ok' : u.reason).toBe('corrupt-record');
    // nor a public key of their own for the device to seal the next master key to: the link key does not vouch for it
    const mine = mine0.parts;
    expect(publicKeyVouched(crypto, l, deviceId, user)).toBe(true);
    expect(publicKeyVouched(crypto, l, deviceId, { ...user, rolePublic: mine.rolePublic })).toBe(false);
    expect(publicKeyVouched(crypto, l, deviceId, mine)).toBe(false);
    expect(publicKeyVouched(crypto, l, new Uint8Array(16), user)).toBe(false);
  });

  it("one role can give both a new master key: sealed to the other role's public key, its old PIN opens the new key", () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const { user, so } = roles('user-pin-1', 'so-pin-1', m, l);
    // the user changes PIN: a new user role, a new master key sealed to it and to the SO's unchanged public key
    const m2 = generateMasterKey(rng);
    const u2 = value(createRole(crypto, rng, 'user', pinOf('user-pin-2'), l, deviceId, IT));
    const [eu, es] = sealMaster(crypto, rng, m2, l, deviceId, u2, so);
    const user2 = { ...u2.parts, envelope: eu };
    const so2 = { ...so, envelope: es };
    expect(hex(value(unlockWithPin(crypto, user2, pinOf('user-pin-2'), deviceId)).master)).toBe(hex(m2));
    expect(hex(value(unlockWithPin(crypto, so2, pinOf('so-pin-1'), deviceId)).master)).toBe(hex(m2));
    // the old user record (an old flash image) with the old PIN opens only the old master key
    expect(hex(value(unlockWithPin(crypto, user, pinOf('user-pin-1'), deviceId)).master)).toBe(hex(m));
    // and the old user PIN against the new record is simply wrong
    const w = unlockWithPin(crypto, user2, pinOf('user-pin-1'), deviceId);
    expect(w.ok ? 'ok' : w.reason).toBe('wrong-pin');
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
      x25519: (...a) => {
        const o = crypto.x25519(...a);
        outputs.push(o);
        return o;
      },
    };
    return { c, outputs };
  }

  it('the PBKDF2 block, the verifier copy, the kek, the role secret, the shared secrets and the envelope keys are zero after create, seal and unlock', () => {
    const m = generateMasterKey(rng);
    const l = generateMasterKey(rng);
    const { c, outputs } = spying();
    const { user } = roles('123456', 'abcdef', m, l, c);
    const opened = value(unlockWithPin(c, user, pinOf('123456'), deviceId));
    unlockWithPin(c, user, pinOf('000000'), deviceId);
    // create ×2 (PBKDF2 + 2 HKDF), seal (one X25519, an HKDF per envelope), unlock (PBKDF2 + 2 HKDF, X25519 + HKDF), wrong (PBKDF2 + 2 HKDF)
    expect(outputs.length).toBe(2 * 3 + 3 + 5 + 3);
    for (const o of outputs) expect(hex(o)).toBe('00'.repeat(o.length));
    expect(hex(user.verifier)).not.toBe('00'.repeat(32)); // the stored verifier is a copy, not a wiped buffer
    expect([hex(m), hex(l)]).toEqual([hex(opened.master), hex(opened.link)]); // the caller's keys are the caller's, and the opened ones new buffers
  });

  it('unlockWithPin compares the verifier with equalBytes (spied) and nothing else', () => {
    const spy = vi.mocked(bytes.equalBytes);
    const m = generateMasterKey(rng);
    const r = record('user', '123456', m);
    spy.mockClear();
    unlockWithPin(crypto, r, pinOf('654321'), deviceId);
    expect(spy).toHaveBeenCalledTimes(1);
    for (const call of spy.mock.calls) expect(call[1]).toBe(r.verifier);
    // and in the source: no ===, !== or == with a verifier operand, and no early-exit loop over it
    const src = readFileSync(new URL('../../firmware/core/auth/pin.ts', import.meta.url), 'utf8');
    const sf = ts.createSourceFile('pin.ts', src, ts.ScriptTarget.ES2020, true);
    const bad: string[] = [];
    const visit = (n: ts.Node): void => {
      if (
        ts.isBinaryExpression(n) &&
        /=/.test(n.operatorToken.getText(sf)) &&
        /verifier/.test(n.left.getText(sf) + n.right.getText(sf)) &&
        n.operatorToken.kind !== ts.SyntaxKind.EqualsToken
      )
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
