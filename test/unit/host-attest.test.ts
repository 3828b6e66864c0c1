// host/attest.ts: a KEY_ATTEST statement verifies only under the pinned identity key, over "tinyhsm/attest/v1" 0x00 statement, for this nonce, device and key (docs/security.md §8).
import { describe, expect, it } from 'vitest';
import { createPrivateKey, generateKeyPairSync, sign as nodeSign, type KeyObject } from 'node:crypto';
import {
  ATTEST_FORMAT,
  AttestationStatementSchema,
  Capability,
  Origin,
  cborEncode,
  encodeMessage,
  type AttestationStatement,
} from '../../firmware/protocol/index.ts';
import { HsmError, attestationSignedBytes, decodeAttestation, verifyAttestation } from '../../host/index.ts';

/** An identity key pair: node:crypto signs, verifyAttestation must accept exactly this public key. */
function identity(): { priv: KeyObject; pub: Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  return { priv: privateKey, pub: new Uint8Array(Buffer.from(publicKey.export({ format: 'jwk' }).x as string, 'base64url')) };
}

const deviceId = new Uint8Array(16).fill(0x42);
const nonce = new Uint8Array(32).map((_, i) => i);
const publicKey = new Uint8Array(32).fill(7);

function statement(over: Partial<AttestationStatement> = {}): AttestationStatement {
  return {
    format: ATTEST_FORMAT,
    deviceId,
    keyId: 5,
    alg: 1,
    publicKey,
    origin: Origin.GENERATED,
    capabilities: Capability.SIGN,
    sensitive: true,
    touch: false,
    neverExtractable: true,
    local: true,
    nonce,
    ...over,
  };
}

/** The device's side, written from docs/security.md §8: deterministic CBOR, Ed25519 over context ‖ 0x00 ‖ statement. */
function attest(priv: KeyObject, s: AttestationStatement | Uint8Array): { statement: Uint8Array; signature: Uint8Array } {
  const bytes = s instanceof Uint8Array ? s : cborEncode(encodeMessage(AttestationStatementSchema, s));
  const signed = Buffer.concat([Buffer.from('tinyhsm/attest/v1', 'utf8'), Buffer.of(0), bytes]);
  return { statement: bytes, signature: new Uint8Array(nodeSign(null, signed, priv)) };
}

function refusal(f: () => unknown): HsmError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(HsmError);
    expect((e as HsmError).code).toBe('ATTESTATION_INVALID');
    return e as HsmError;
  }
  throw new Error('the statement was accepted');
}

describe('verifyAttestation', () => {
  it('accepts a statement signed by the pinned key for this nonce, device and key, and returns what it says', () => {
    const id = identity();
    const a = attest(id.priv, statement());
    const v = verifyAttestation(a, { identityKey: id.pub, nonce, deviceId, keyId: 5, publicKey });
    expect(v).toMatchObject({
      format: ATTEST_FORMAT,
      keyId: 5,
      alg: 1,
      origin: 1,
      capabilities: 1,
      sensitive: true,
      touch: false,
      neverExtractable: true,
      local: true,
    });
    expect(Buffer.from(v.deviceId).equals(Buffer.from(deviceId))).toBe(true);
    expect(Buffer.from(v.statementBytes).equals(Buffer.from(a.statement))).toBe(true);
    expect(Buffer.from(v.signature).equals(Buffer.from(a.signature))).toBe(true);
    // the signed bytes are the context, a zero byte, the statement
    expect(Buffer.from(attestationSignedBytes(a.statement)).subarray(0, 18).toString('latin1')).toBe('tinyhsm/attest/v1\0');
    // an imported key's statement says so, and verifies as well
    const imported = verifyAttestation(attest(id.priv, statement({ origin: Origin.IMPORTED, local: false })), { identityKey: id.pub });
    expect([imported.origin, imported.local]).toEqual([2, false]);
  });

  it('refuses a statement signed by another key: the signature is checked first, against the pinned key only', () => {
    const id = identity();
    const other = identity();
    const e = refusal(() => verifyAttestation(attest(other.priv, statement()), { identityKey: id.pub, nonce }));
    expect(e.message).toContain('not signed by the pinned identity key');
    expect(e.message).toContain(Buffer.from(id.pub).toString('hex'));
  });

  it('refuses any altered byte of the statement or the signature', () => {
    const id = identity();
    const a = attest(id.priv, statement());
    for (let i = 0; i < a.statement.length; i++) {
      const bad = a.statement.slice();
      bad[i] ^= 0x01;
      refusal(() => verifyAttestation({ statement: bad, signature: a.signature }, { identityKey: id.pub }));
    }
    const sig = a.signature.slice();
    sig[40] ^= 0x80;
    refusal(() => verifyAttestation({ statement: a.statement, signature: sig }, { identityKey: id.pub }));
    expect(refusal(() => verifyAttestation({ statement: a.statement, signature: a.signature.subarray(0, 63) }, { identityKey: id.pub })).message).toContain(
      '64',
    );
  });

  it('refuses a signature made without the context (domain separation from session transcripts)', () => {
    const id = identity();
    const bytes = cborEncode(encodeMessage(AttestationStatementSchema, statement()));
    const bare = new Uint8Array(nodeSign(null, bytes, id.priv));
    refusal(() => verifyAttestation({ statement: bytes, signature: bare }, { identityKey: id.pub }));
  });

  it('refuses a statement about another nonce (replay), device, key or public key', () => {
    const id = identity();
    const a = attest(id.priv, statement());
    expect(refusal(() => verifyAttestation(a, { identityKey: id.pub, nonce: new Uint8Array(32) })).message).toContain('replayed');
    expect(refusal(() => verifyAttestation(a, { identityKey: id.pub, deviceId: new Uint8Array(16) })).message).toContain('not device');
    expect(refusal(() => verifyAttestation(a, { identityKey: id.pub, keyId: 6 })).message).toContain('not key 6');
    expect(refusal(() => verifyAttestation(a, { identityKey: id.pub, publicKey: new Uint8Array(32).fill(8) })).message).toContain('public key');
  });

  it('refuses a signed statement that is not deterministic CBOR, misses a field, has another format or contradicts itself', () => {
    const id = identity();
    // keys 2 and 1 swapped: valid CBOR, but not the deterministic encoding the device makes
    const good = cborEncode(encodeMessage(AttestationStatementSchema, statement()));
    const swapped = Buffer.from(good);
    const formatField = Buffer.concat([Buffer.of(0x01), Buffer.from(cborEncode(ATTEST_FORMAT))]);
    const idField = Buffer.concat([Buffer.of(0x02), Buffer.from(cborEncode(deviceId))]);
    const reordered = Buffer.concat([swapped.subarray(0, 1), idField, formatField, swapped.subarray(1 + formatField.length + idField.length)]);
    expect(reordered.length).toBe(good.length);
    expect(refusal(() => verifyAttestation(attest(id.priv, new Uint8Array(reordered)), { identityKey: id.pub })).message).toContain('deterministic CBOR');
    const missing = cborEncode(new Map([[1, ATTEST_FORMAT]]));
    expect(refusal(() => verifyAttestation(attest(id.priv, missing), { identityKey: id.pub })).message).toContain('schema');
    expect(refusal(() => verifyAttestation(attest(id.priv, statement({ format: 'other-v9' })), { identityKey: id.pub })).message).toContain('format');
    expect(refusal(() => verifyAttestation(attest(id.priv, statement({ origin: Origin.IMPORTED })), { identityKey: id.pub })).message).toContain('contradicts');
    const exportable = statement({ capabilities: Capability.SIGN | Capability.EXPORT_WRAPPED });
    expect(refusal(() => verifyAttestation(attest(id.priv, exportable), { identityKey: id.pub })).message).toContain('never-extractable');
    // decodeAttestation reads a statement without trusting it, and refuses the same malformed bytes
    expect(decodeAttestation(good).keyId).toBe(5);
    refusal(() => decodeAttestation(new Uint8Array(reordered)));
  });

  it('checks against a fixed key too (RFC 8032 §7.1 TEST 1 as the identity)', () => {
    // RFC 8032 §7.1 TEST 1: secret 9d61…7f60, public d75a…511a; a statement signed with it verifies under that public key
    const seed = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex');
    const priv = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed]), format: 'der', type: 'pkcs8' });
    const pub = new Uint8Array(Buffer.from('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a', 'hex'));
    expect(verifyAttestation(attest(priv, statement()), { identityKey: pub, nonce }).keyId).toBe(5);
  });
});
