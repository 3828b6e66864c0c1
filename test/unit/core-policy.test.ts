// Key policy (firmware/core/policy.ts, docs/security.md §6): defaults and allowed capabilities per algorithm, tighten-only KEY_SET_POLICY (down to no capability), non-sensitive keys, and SIGN / ECDH refused outside a key's capabilities or without the button, in the documented order of checks.
import { capabilitiesText, renderReason } from '../../host/render.ts';
import { Reason } from '../../firmware/protocol/reasons.ts';
import { msgOf } from '../helpers/message.ts';
import { describe, it, expect } from 'vitest';
import { createECDH, createPublicKey, diffieHellman, generateKeyPairSync, verify as nodeVerify } from 'node:crypto';
import { Alg, ALL_CAPABILITIES, Capability, Command, Origin, Status, nameOf } from '../../firmware/protocol/codes.ts';
import { cborDecode } from '../../firmware/protocol/cbor.ts';
import { field, startTestDevice, type Reply } from '../helpers/loopback.ts';
import { ALLOWED_CAPABILITIES, DEFAULT_CAPABILITIES } from '../../firmware/protocol/algorithms.ts';
import { DEFAULT_CAPABILITIES as HOST_DEFAULT_CAPABILITIES } from '../../host/policy.ts';
import { checkUse, policyAtCreation, tightenPolicy, wirePolicy, type StoredPolicy } from '../../firmware/core/policy.ts';
import { keyGenerate } from '../../firmware/core/commands/key_generate.ts';
import { keyImport } from '../../firmware/core/commands/key_import.ts';
import { keyList } from '../../firmware/core/commands/key_list.ts';
import { keyPublic } from '../../firmware/core/commands/key_public.ts';
import { keySetPolicy } from '../../firmware/core/commands/key_set_policy.ts';
import { sign } from '../../firmware/core/commands/sign.ts';
import { ecdh } from '../../firmware/core/commands/ecdh.ts';
import { NorFlash } from '../helpers/nor-flash.ts';
import { done, handlerContext, okOf, type HandlerContext } from '../helpers/devices.ts';
import type { Result } from '../../firmware/protocol/result.ts';
import { type NeedPresence, type Outcome, waitsForPress } from '../../firmware/core/presence.ts';

const { SIGN, DERIVE, ENCRYPT, DECRYPT, EXPORT_WRAPPED } = Capability;
const ALGS = [Alg.ED25519, Alg.ECDSA_P256, Alg.ECDSA_SECP256K1, Alg.X25519] as const;
const base: StoredPolicy = { capabilities: SIGN | EXPORT_WRAPPED, sensitive: false, touch: false, neverExtractable: false };

function refused<T>(o: Outcome<T>, status: number, re?: RegExp): string {
  const r = done(o);
  expect(r.ok).toBe(false);
  if (r.ok) return '';
  expect(r.status, msgOf(r)).toBe(status);
  if (re) expect(msgOf(r)).toMatch(re);
  return msgOf(r);
}

const edKey = (pub: Uint8Array) => createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]), format: 'der', type: 'spki' });
const ecKey = (crv: 'P-256' | 'secp256k1', pub: Uint8Array) => {
  const b = Buffer.from(pub);
  return createPublicKey({ key: { kty: 'EC', crv, x: b.subarray(1, 33).toString('base64url'), y: b.subarray(33).toString('base64url') }, format: 'jwk' });
};

describe('neverExtractable of an imported key', () => {
  it('is false at creation and on the wire, also for a record stored with true before the rule (PKCS#11 CKA_NEVER_EXTRACTABLE)', () => {
    expect(okOf(policyAtCreation(Alg.ED25519, {}, Origin.IMPORTED)).neverExtractable).toBe(false);
    expect(okOf(policyAtCreation(Alg.ED25519, {}, Origin.GENERATED)).neverExtractable).toBe(true);
    const stored = { capabilities: Capability.SIGN, sensitive: true, touch: false, neverExtractable: true };
    expect(wirePolicy(stored, Origin.IMPORTED)).toMatchObject({ neverExtractable: false, local: false });
    expect(wirePolicy(stored, Origin.GENERATED)).toMatchObject({ neverExtractable: true, local: true });
  });
});

describe('policy at creation (docs/security.md §6)', () => {
  it("defaults: the algorithm's main use, sensitive, no touch, never extractable", () => {
    expect(ALGS.map((a) => okOf(policyAtCreation(a, {}, Origin.GENERATED)))).toEqual([
      { capabilities: SIGN, sensitive: true, touch: false, neverExtractable: true },
      { capabilities: SIGN, sensitive: true, touch: false, neverExtractable: true },
      { capabilities: SIGN, sensitive: true, touch: false, neverExtractable: true },
      { capabilities: DERIVE, sensitive: true, touch: false, neverExtractable: true },
    ]);
    expect(ALGS.map((a) => DEFAULT_CAPABILITIES[a] & ~ALLOWED_CAPABILITIES[a])).toEqual([0, 0, 0, 0]);
  });

  it("the host's defaults (`--exportable` adds a bit to them) are the device's own table, not a copy", () => {
    expect(HOST_DEFAULT_CAPABILITIES).toBe(DEFAULT_CAPABILITIES);
    for (const a of ALGS) expect(okOf(policyAtCreation(a, {}, Origin.GENERATED)).capabilities).toBe(HOST_DEFAULT_CAPABILITIES[a]);
  });

  it('what each algorithm may have: every subset of its allowed set is accepted, every other non-empty set refused with INVALID_PARAMETER', () => {
    const allowed: Record<number, number> = {
      [Alg.ED25519]: SIGN | EXPORT_WRAPPED,
      [Alg.ECDSA_P256]: SIGN | DERIVE | EXPORT_WRAPPED,
      [Alg.ECDSA_SECP256K1]: SIGN | EXPORT_WRAPPED,
      [Alg.X25519]: DERIVE | EXPORT_WRAPPED,
    };
    for (const a of ALGS) {
      for (let caps = 1; caps <= ALL_CAPABILITIES; caps++) {
        const r = policyAtCreation(a, { capabilities: caps, sensitive: false, touch: true }, Origin.GENERATED);
        if ((caps & ~allowed[a]) === 0) {
          expect(okOf(r)).toEqual({ capabilities: caps, sensitive: false, touch: true, neverExtractable: (caps & EXPORT_WRAPPED) === 0 });
        } else refused(r, Status.INVALID_PARAMETER, /capabilities: /);
      }
      refused(policyAtCreation(a, { capabilities: 0 }, Origin.GENERATED), Status.INVALID_PARAMETER, /at least one/);
    }
    refused(
      policyAtCreation(Alg.ED25519, { capabilities: SIGN | ENCRYPT }, Origin.GENERATED),
      Status.INVALID_PARAMETER,
      /no algorithm offers encrypt or decrypt/,
    );
    refused(policyAtCreation(Alg.X25519, { capabilities: DECRYPT }, Origin.GENERATED), Status.INVALID_PARAMETER, /no algorithm offers encrypt or decrypt/);
    refused(
      policyAtCreation(Alg.ED25519, { capabilities: SIGN | DERIVE }, Origin.GENERATED),
      Status.INVALID_PARAMETER,
      /ed25519 \(1\) cannot derive; it can have sign, export-under-wrap/,
    );
    expect(capabilitiesText(0)).toBe('none');
    expect(capabilitiesText(ALL_CAPABILITIES)).toBe('sign, derive, encrypt, decrypt, export-under-wrap');
  });

  it('wire form: local is origin === generated', () => {
    expect(wirePolicy(base, Origin.GENERATED).local).toBe(true);
    expect(wirePolicy(base, Origin.IMPORTED)).toEqual({ ...base, local: false });
  });
});

describe('tighten only (KEY_SET_POLICY rule)', () => {
  it('dropping capabilities and setting sensitive or touch is allowed; absent fields stay; neverExtractable is history', () => {
    expect(okOf(tightenPolicy(1, base, {}))).toEqual(base);
    expect(okOf(tightenPolicy(1, base, { capabilities: SIGN, sensitive: true, touch: true }))).toEqual({
      capabilities: SIGN,
      sensitive: true,
      touch: true,
      neverExtractable: false,
    });
    expect(okOf(tightenPolicy(1, base, { capabilities: 0 })).capabilities).toBe(0);
    const strict = okOf(tightenPolicy(1, base, { sensitive: true, touch: true }));
    expect(okOf(tightenPolicy(1, strict, { sensitive: true, touch: true }))).toEqual(strict);
  });

  it('any loosening is POLICY_LOOSENING naming each field', () => {
    const strict: StoredPolicy = { capabilities: SIGN, sensitive: true, touch: true, neverExtractable: true };
    refused(tightenPolicy(4, strict, { capabilities: SIGN | EXPORT_WRAPPED }), Status.POLICY_LOOSENING, /key 4: .*adds export-under-wrap; nothing was changed/);
    refused(tightenPolicy(4, strict, { capabilities: DERIVE }), Status.POLICY_LOOSENING, /adds derive/);
    refused(tightenPolicy(4, strict, { sensitive: false }), Status.POLICY_LOOSENING, /clears sensitive/);
    refused(tightenPolicy(4, strict, { touch: false }), Status.POLICY_LOOSENING, /clears touch/);
    refused(
      tightenPolicy(4, strict, { capabilities: ALL_CAPABILITIES, sensitive: false, touch: false }),
      Status.POLICY_LOOSENING,
      /adds derive, encrypt, decrypt, export-under-wrap and clears sensitive and clears touch/,
    );
  });

  it('checkUse: POLICY_DENIED names what is needed and what the key has', () => {
    expect(checkUse(3, base, SIGN)).toBeUndefined();
    const d = checkUse(3, base, DERIVE);
    expect(d && d.status).toBe(Status.POLICY_DENIED);
    expect(d && d.reason).toBe(Reason.CAPABILITY_MISSING);
    expect(d && d.args).toEqual([3, DERIVE, base.capabilities]);
    expect(d && renderReason(d.reason, d.args, { command: 'ECDH' })).toMatch(/ECDH needs the derive capability and key 3 has sign, export-under-wrap/);
  });
});

describe('handlers: KEY_GENERATE / KEY_IMPORT policy, KEY_LIST / KEY_PUBLIC show it, KEY_SET_POLICY tightens', () => {
  it('a requested policy is stored, listed and survives a reboot; an invalid one stores nothing', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 8 });
    const kx = handlerContext({ login: true, flash });
    const a = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, label: 'both', capabilities: SIGN | DERIVE | EXPORT_WRAPPED, touch: true, sensitive: false }));
    const b = okOf(keyImport(kx.ctx, { alg: Alg.X25519, privateKey: new Uint8Array(32).fill(9) }));
    const image = flash.snapshot();
    refused(keyGenerate(kx.ctx, { alg: Alg.X25519, capabilities: SIGN }), Status.INVALID_PARAMETER, /x25519 \(4\) cannot sign/);
    const sk = new Uint8Array(32).fill(7);
    refused(keyImport(kx.ctx, { alg: Alg.ED25519, privateKey: sk, capabilities: DERIVE }), Status.INVALID_PARAMETER);
    expect(sk.every((x) => x === 0)).toBe(true); // a refused import wipes the key it was given
    expect(Buffer.from(flash.snapshot()).equals(Buffer.from(image))).toBe(true);
    const want = [
      {
        keyId: a.keyId,
        origin: Origin.GENERATED,
        capabilities: SIGN | DERIVE | EXPORT_WRAPPED,
        sensitive: false,
        touch: true,
        neverExtractable: false,
        local: true,
      },
      { keyId: b.keyId, origin: Origin.IMPORTED, capabilities: DERIVE, sensitive: true, touch: false, neverExtractable: false, local: false },
    ];
    const shown = (k: HandlerContext) =>
      okOf(keyList(k.ctx, {})).keys.map((e) => ({
        keyId: e.keyId,
        origin: e.origin,
        capabilities: e.capabilities,
        sensitive: e.sensitive,
        touch: e.touch,
        neverExtractable: e.neverExtractable,
        local: e.local,
      }));
    expect(shown(kx)).toEqual(want);
    const reboot = handlerContext({ login: true, flash });
    expect(shown(reboot)).toEqual(want);
    // listing needs no private key: nothing was opened
    expect(reboot.ctx.keystore.list().map((r) => r.privateKey)).toEqual([undefined, undefined]);
    const p = okOf(keyPublic(reboot.ctx, { keyId: b.keyId }));
    expect(p).toMatchObject({ alg: Alg.X25519, label: '', origin: Origin.IMPORTED, capabilities: DERIVE, local: false });
    expect(Buffer.from(p.publicKey).toString('hex')).toBe(Buffer.from(b.publicKey).toString('hex'));
  });

  it('KEY_SET_POLICY tightens, answers the stored policy, persists; a loosening changes nothing, in RAM or flash', () => {
    const flash = new NorFlash({ pageSize: 1024, pageCount: 8 });
    const kx = handlerContext({ login: true, flash });
    const a = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: SIGN | DERIVE | EXPORT_WRAPPED, sensitive: false }));
    const after = okOf(keySetPolicy(kx.ctx, { keyId: a.keyId, capabilities: SIGN | DERIVE, sensitive: true }));
    expect(after).toEqual({ capabilities: SIGN | DERIVE, sensitive: true, touch: false, neverExtractable: false, local: true });
    const image = flash.snapshot();
    for (const loosen of [{ capabilities: SIGN | DERIVE | EXPORT_WRAPPED }, { sensitive: false }, { capabilities: SIGN, touch: true, sensitive: false }]) {
      refused(keySetPolicy(kx.ctx, { keyId: a.keyId, ...loosen }), Status.POLICY_LOOSENING, /nothing was changed/);
      expect(okOf(keyPublic(kx.ctx, { keyId: a.keyId }))).toMatchObject(after);
    }
    expect(Buffer.from(flash.snapshot()).equals(Buffer.from(image))).toBe(true);
    refused(keySetPolicy(kx.ctx, { keyId: 99, touch: true }), Status.KEY_NOT_FOUND);
    // after a reboot (master key not yet used): the new policy is there and the key still opens and signs
    const reboot = handlerContext({ login: true, flash });
    expect(okOf(keyPublic(reboot.ctx, { keyId: a.keyId }))).toMatchObject(after);
    const msg = new Uint8Array(Buffer.from('after a policy change'));
    const s = okOf(sign(reboot.ctx, { keyId: a.keyId, message: msg }));
    expect(nodeVerify('sha256', msg, { key: ecKey('P-256', a.publicKey), dsaEncoding: 'ieee-p1363' }, s.signature)).toBe(true);
  });
});

describe('SIGN and ECDH check the key policy (POLICY_DENIED) before any private-key use', () => {
  it('SIGN needs sign: a P-256 key with derive only is refused, and signs after it is made with sign', () => {
    const kx = handlerContext({ login: true });
    const d = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: DERIVE }));
    const msg = new Uint8Array([1, 2, 3]);
    refused(sign(kx.ctx, { keyId: d.keyId, message: msg }), Status.POLICY_DENIED, /this use needs the sign capability and key \d+ has derive/);
    refused(sign(kx.ctx, { keyId: d.keyId, digest: new Uint8Array(32) }), Status.POLICY_DENIED);
    const s = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: SIGN }));
    const sig = okOf(sign(kx.ctx, { keyId: s.keyId, message: msg })).signature;
    expect(nodeVerify('sha256', msg, { key: ecKey('P-256', s.publicKey), dsaEncoding: 'ieee-p1363' }, sig)).toBe(true);
  });

  it('ECDH needs derive: a P-256 key with sign only (the default) is refused; with derive the secret matches OpenSSL', () => {
    const kx = handlerContext({ login: true });
    const peer = createECDH('prime256v1');
    peer.generateKeys();
    const peerPub = new Uint8Array(peer.getPublicKey());
    const s = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256 }));
    refused(ecdh(kx.ctx, { keyId: s.keyId, publicKey: peerPub }), Status.POLICY_DENIED, /this use needs the derive capability and key \d+ has sign/);
    const d = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: DERIVE }));
    const shared = okOf(ecdh(kx.ctx, { keyId: d.keyId, publicKey: peerPub })).sharedSecret;
    expect(Buffer.from(shared).toString('hex')).toBe(peer.computeSecret(Buffer.from(d.publicKey)).toString('hex'));
  });

  it('a capability cleared by KEY_SET_POLICY is refused from then on: ed25519 sign, x25519 derive', () => {
    const kx = handlerContext({ login: true });
    const e = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    const x = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    const msg = new Uint8Array([9]);
    const sig = okOf(sign(kx.ctx, { keyId: e.keyId, message: msg })).signature;
    expect(nodeVerify(null, msg, edKey(e.publicKey), sig)).toBe(true);
    const peer = generateKeyPairSync('x25519');
    const peerPub = new Uint8Array(peer.publicKey.export({ format: 'der', type: 'spki' }).subarray(12));
    const mine = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b656e032100', 'hex'), x.publicKey]), format: 'der', type: 'spki' });
    expect(Buffer.from(okOf(ecdh(kx.ctx, { keyId: x.keyId, publicKey: peerPub })).sharedSecret).toString('hex')).toBe(
      diffieHellman({ privateKey: peer.privateKey, publicKey: mine }).toString('hex'),
    );
    okOf(keySetPolicy(kx.ctx, { keyId: e.keyId, capabilities: 0 }));
    okOf(keySetPolicy(kx.ctx, { keyId: x.keyId, capabilities: 0 }));
    refused(sign(kx.ctx, { keyId: e.keyId, message: msg }), Status.POLICY_DENIED, /has none/);
    refused(ecdh(kx.ctx, { keyId: x.keyId, publicKey: peerPub }), Status.POLICY_DENIED, /has none/);
  });

  it('what an algorithm cannot do at all stays OPERATION_NOT_PERMITTED, ahead of the policy', () => {
    const kx = handlerContext({ login: true });
    const x = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    const e = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    refused(sign(kx.ctx, { keyId: x.keyId, message: new Uint8Array(1) }), Status.OPERATION_NOT_PERMITTED, /can do ECDH, not sign/);
    refused(ecdh(kx.ctx, { keyId: e.keyId, publicKey: new Uint8Array(32).fill(9) }), Status.OPERATION_NOT_PERMITTED, /ECDH needs an x25519 or ecdsa-p256 key/);
  });

  it('a refused use opens nothing: after a lock, a denied SIGN leaves the private key sealed', () => {
    const kx = handlerContext({ login: true });
    const d = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: DERIVE }));
    kx.auth.lock();
    kx.auth.unlock(kx.masterKey);
    refused(sign(kx.ctx, { keyId: d.keyId, message: new Uint8Array(1) }), Status.POLICY_DENIED);
    expect(kx.ctx.keystore.get(d.keyId)!.privateKey).toBeUndefined();
  });
});

describe('touch: SIGN and ECDH ask for the button after the policy check, before the private key', () => {
  it('no button on the board: POLICY_DENIED with a message that says so', () => {
    const kx = handlerContext({ login: true });
    const k = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519, touch: true }));
    kx.auth.lock();
    kx.auth.unlock(kx.masterKey);
    refused(sign(kx.ctx, { keyId: k.keyId, message: new Uint8Array(1) }), Status.POLICY_DENIED, /this use with key \d+ needs a button press .* no button/);
    expect(kx.ctx.keystore.get(k.keyId)!.privateKey).toBeUndefined();
  });

  it('with a button: the request waits and opens nothing; granted signs; timeout and cancel refuse', () => {
    const kx = handlerContext({ login: true, presence: { isPressed: () => false } });
    const k = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519, touch: true }));
    const x = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519, touch: true }));
    kx.auth.lock();
    kx.auth.unlock(kx.masterKey);
    const msg = new Uint8Array(Buffer.from('pressed'));
    const waiting = <T>(o: Outcome<T>): NeedPresence<Result<T>> => {
      expect(waitsForPress(o)).toBe(true);
      if (!waitsForPress(o)) throw new Error('does not wait');
      return o;
    };
    const first = waiting(sign(kx.ctx, { keyId: k.keyId, message: msg }));
    expect(first.presenceFor).toBe(k.keyId);
    expect(kx.ctx.keystore.get(k.keyId)!.privateKey).toBeUndefined();
    const sig = okOf(first.resume('granted')).signature;
    expect(nodeVerify(null, msg, edKey(k.publicKey), sig)).toBe(true);
    refused(waiting(sign(kx.ctx, { keyId: k.keyId, message: msg })).resume('timeout'), Status.PRESENCE_TIMEOUT);
    refused(waiting(ecdh(kx.ctx, { keyId: x.keyId, publicKey: new Uint8Array(32).fill(9) })).resume('cancelled'), Status.CANCELLED, /this use with key/);
    // a key without touch never asks
    const plain = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    okOf(sign(kx.ctx, { keyId: plain.keyId, message: msg }));
  });
});

/** A handler result as [status, reason], or 'OK'. */
const why = <T>(o: Outcome<T>): unknown => {
  const r = done(o);
  return r.ok ? 'OK' : [nameOf(Status, r.status), r.reason];
};

describe('the order of the checks inside SIGN and ECDH (docs/protocol.md §7 "Order of checks")', () => {
  it('SIGN: message or digest, the key, its algorithm offered, what the algorithm can do, the capability, the button, the master key', () => {
    const kx = handlerContext({ login: true });
    const offered = kx.ctx.offered as boolean[];
    const ed = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    const x = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    const p = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: DERIVE }));
    const touchNone = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519, touch: true }));
    const touch = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519, touch: true }));
    const plain = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    for (const k of [ed, x, touchNone]) okOf(keySetPolicy(kx.ctx, { keyId: k.keyId, capabilities: 0 }));
    const msg = new Uint8Array([1]);
    const digest = new Uint8Array(32);
    expect(why(sign(kx.ctx, { keyId: 99, message: msg, digest }))).toEqual(['INVALID_PARAMETER', Reason.MESSAGE_AND_DIGEST]);
    expect(why(sign(kx.ctx, { keyId: 99 }))).toEqual(['INVALID_PARAMETER', Reason.NO_MESSAGE_OR_DIGEST]);
    expect(why(sign(kx.ctx, { keyId: 99, digest }))).toEqual(['KEY_NOT_FOUND', Reason.KEY_NOT_FOUND]);
    offered[Alg.X25519] = false; // its self-test failed this boot
    expect(why(sign(kx.ctx, { keyId: x.keyId, digest }))).toEqual(['UNSUPPORTED_ALGORITHM', Reason.ALG_SELFTEST_FAILED]);
    offered[Alg.X25519] = true;
    // what the algorithm cannot do at all, before what this key may do (both keys have no capability left)
    expect(why(sign(kx.ctx, { keyId: x.keyId, digest }))).toEqual(['OPERATION_NOT_PERMITTED', Reason.CANNOT_SIGN]);
    expect(why(sign(kx.ctx, { keyId: ed.keyId, digest }))).toEqual(['OPERATION_NOT_PERMITTED', Reason.ED25519_NEEDS_MESSAGE]);
    expect(why(sign(kx.ctx, { keyId: ed.keyId, message: msg }))).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING]);
    // the capability before the button, the button before the master key (locked here: no session logged in)
    kx.auth.lock();
    expect(why(sign(kx.ctx, { keyId: touchNone.keyId, message: msg }))).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING]);
    expect(why(sign(kx.ctx, { keyId: touch.keyId, message: msg }))).toEqual(['POLICY_DENIED', Reason.NO_BUTTON]);
    expect(why(sign(kx.ctx, { keyId: p.keyId, digest }))).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING]);
    expect(why(sign(kx.ctx, { keyId: plain.keyId, message: msg }))).toEqual(['LOGIN_REQUIRED', Reason.MASTER_KEY_LOCKED]);
    kx.auth.unlock(kx.masterKey);
    expect(why(sign(kx.ctx, { keyId: plain.keyId, message: msg }))).toBe('OK');
  });

  it('ECDH: the key, its algorithm offered, what the algorithm can do, the peer key length, the capability, the button, the master key, then the peer point', () => {
    const kx = handlerContext({ login: true });
    const offered = kx.ctx.offered as boolean[];
    const ed = okOf(keyGenerate(kx.ctx, { alg: Alg.ED25519 }));
    const none = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    okOf(keySetPolicy(kx.ctx, { keyId: none.keyId, capabilities: 0 }));
    const touch = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519, touch: true }));
    const x = okOf(keyGenerate(kx.ctx, { alg: Alg.X25519 }));
    const p = okOf(keyGenerate(kx.ctx, { alg: Alg.ECDSA_P256, capabilities: DERIVE }));
    const lowOrder = new Uint8Array(32); // u = 0: an all-zero shared secret (RFC 7748 §6.1)
    const notOnCurve = Uint8Array.from([4, ...new Uint8Array(64).fill(1)]);
    expect(why(ecdh(kx.ctx, { keyId: 99, publicKey: new Uint8Array(40) }))).toEqual(['KEY_NOT_FOUND', Reason.KEY_NOT_FOUND]);
    offered[Alg.ED25519] = false;
    expect(why(ecdh(kx.ctx, { keyId: ed.keyId, publicKey: new Uint8Array(40) }))).toEqual(['UNSUPPORTED_ALGORITHM', Reason.ALG_SELFTEST_FAILED]);
    offered[Alg.ED25519] = true;
    expect(why(ecdh(kx.ctx, { keyId: ed.keyId, publicKey: new Uint8Array(40) }))).toEqual(['OPERATION_NOT_PERMITTED', Reason.CANNOT_ECDH]);
    expect(why(ecdh(kx.ctx, { keyId: none.keyId, publicKey: new Uint8Array(33) }))).toEqual(['INVALID_KEY', Reason.PEER_KEY_LENGTH]);
    expect(why(ecdh(kx.ctx, { keyId: p.keyId, publicKey: new Uint8Array(40) }))).toEqual(['INVALID_KEY', Reason.PEER_KEY_LENGTH]);
    // a low-order peer is found only with the private key: after the policy, the button and the master key
    expect(why(ecdh(kx.ctx, { keyId: none.keyId, publicKey: lowOrder }))).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING]);
    expect(why(ecdh(kx.ctx, { keyId: touch.keyId, publicKey: lowOrder }))).toEqual(['POLICY_DENIED', Reason.NO_BUTTON]);
    kx.auth.lock();
    expect(why(ecdh(kx.ctx, { keyId: x.keyId, publicKey: lowOrder }))).toEqual(['LOGIN_REQUIRED', Reason.MASTER_KEY_LOCKED]);
    expect(why(ecdh(kx.ctx, { keyId: p.keyId, publicKey: notOnCurve }))).toEqual(['LOGIN_REQUIRED', Reason.MASTER_KEY_LOCKED]);
    kx.auth.unlock(kx.masterKey);
    expect(why(ecdh(kx.ctx, { keyId: x.keyId, publicKey: lowOrder }))).toEqual(['INVALID_KEY', Reason.PEER_KEY_LOW_ORDER]);
    expect(why(ecdh(kx.ctx, { keyId: p.keyId, publicKey: notOnCurve }))).toEqual(['INVALID_KEY', Reason.PEER_KEY_NOT_ON_CURVE]);
  });
});

describe('over the wire: capabilities 0 and sensitive false (docs/protocol.md §7, README "Key policy")', () => {
  const policyOf = (r: Reply, first: number) => [1, 2, 3, 4].map((i) => r.map.get(first + i - 1));

  it('KEY_SET_POLICY with capabilities 0 is accepted: the key stays listed, public, attestable and deletable, every use is POLICY_DENIED, and nothing gives a capability back', () => {
    const t = startTestDevice();
    const g = t.call(Command.KEY_GENERATE, { 1: Alg.ECDSA_P256, 3: SIGN | DERIVE });
    const id = field<number>(g, 1);
    const pub = field<Uint8Array>(g, 2);
    const set = t.call(Command.KEY_SET_POLICY, { 1: id, 2: 0 });
    expect([set.statusName, ...policyOf(set, 1), set.map.get(5)]).toEqual(['OK', 0, true, false, true, true]);
    expect(field<Map<number, unknown>[]>(t.call(Command.KEY_LIST), 1).map((e) => [e.get(1), e.get(6)])).toEqual([[id, 0]]);
    expect(field(t.call(Command.KEY_PUBLIC, { 1: id }), 5)).toBe(0);
    const att = t.call(Command.KEY_ATTEST, { 1: id, 2: new Uint8Array(16).fill(3) });
    expect(att.statusName).toBe('OK');
    const st = cborDecode(field<Uint8Array>(att, 1));
    expect(st.ok && (st.value as Map<number, unknown>).get(7)).toBe(0);
    const s = t.call(Command.SIGN, { 1: id, 2: new Uint8Array([1]) });
    expect([s.statusName, s.reason, s.args]).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING, [id, SIGN, 0]]);
    const e = t.call(Command.ECDH, { 1: id, 2: pub });
    expect([e.statusName, e.reason, e.args]).toEqual(['POLICY_DENIED', Reason.CAPABILITY_MISSING, [id, DERIVE, 0]]);
    const back = t.call(Command.KEY_SET_POLICY, { 1: id, 2: SIGN });
    expect([back.statusName, back.args]).toEqual(['POLICY_LOOSENING', [id, SIGN, 0]]);
    expect(t.call(Command.KEY_SET_POLICY, { 1: id, 2: 0 }).statusName).toBe('OK');
    expect(t.call(Command.KEY_SET_POLICY, { 1: id }).statusName).toBe('OK');
    // at creation an empty set is refused instead
    const g0 = t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 3: 0 });
    expect([g0.statusName, g0.reason]).toEqual(['INVALID_PARAMETER', Reason.NO_CAPABILITIES]);
    expect(t.call(Command.KEY_DELETE, { 1: id }).statusName).toBe('OK');
    expect(field<unknown[]>(t.call(Command.KEY_LIST), 1)).toEqual([]);
  });

  it('KEY_GENERATE {4: false} and KEY_IMPORT {5: false} make keys that are not sensitive; KEY_SET_POLICY {3: true} makes one sensitive for good', () => {
    const t = startTestDevice();
    const dflt = field<number>(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519 }), 1);
    const gen = field<number>(t.call(Command.KEY_GENERATE, { 1: Alg.ED25519, 4: false }), 1);
    const imp = t.call(Command.KEY_IMPORT, { 1: Alg.X25519, 3: new Uint8Array(32).fill(0x5c), 5: false });
    expect(imp.statusName).toBe('OK');
    const sensitive = () => new Map(field<Map<number, unknown>[]>(t.call(Command.KEY_LIST), 1).map((e) => [e.get(1), e.get(7)]));
    expect([...sensitive()]).toEqual([
      [dflt, true],
      [gen, false],
      [field<number>(imp, 1), false],
    ]);
    const att = t.call(Command.KEY_ATTEST, { 1: gen, 2: new Uint8Array(16).fill(4) });
    const st = cborDecode(field<Uint8Array>(att, 1));
    expect(st.ok && (st.value as Map<number, unknown>).get(8)).toBe(false);
    expect(t.call(Command.KEY_SET_POLICY, { 1: gen, 3: true }).map.get(2)).toBe(true);
    const back = t.call(Command.KEY_SET_POLICY, { 1: gen, 3: false });
    expect([back.statusName, back.args]).toEqual(['POLICY_LOOSENING', [gen, 0, 1]]);
    expect(sensitive().get(gen)).toBe(true);
  });
});
